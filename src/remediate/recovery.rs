//! Recovery after a crash: a run that died may have left a room out of the
//! Archive or a change journaled but never confirmed. At the start of the
//! next run every such room is put back into the Archive and every open
//! journal entry is settled by reading the portal — never by repeating the
//! write — and all of it is reported in that run's `actions.csv`.

use super::{Remediator, Share};
use crate::api::RoomId;
use crate::check::CheckId;
use crate::finding::{ActionOutcome, ActionRecord};

impl Remediator<'_> {
    /// Settles what earlier runs left open. Returns the actions to report.
    pub async fn recover(&self) -> Vec<ActionRecord> {
        let mut actions = Vec::new();
        match self.state.open_transactions() {
            Ok(txns) => {
                for t in txns {
                    let Some(id) = RoomId::parse(&t.room_id) else {
                        let _ = self.state.transaction_close(&t.room_id);
                        continue;
                    };
                    tracing::warn!(room_id = %id, run_id = %t.run_id, step = %t.step, "room left outside the Archive by an earlier run; re-archiving");
                    match self.client.room(&id).await {
                        Ok(r) if r.is_archived() => {
                            let _ = self.state.transaction_close(&t.room_id);
                            self.record(
                                &mut actions,
                                CheckId::RoomAudit,
                                Some(&id),
                                &format!("room:{id}"),
                                "recover-verify-archived",
                                ActionOutcome::Done,
                                true,
                                Some(format!("transaction of run {} was left open at step {}; the room is archived", t.run_id, t.step)),
                            );
                        }
                        Ok(_) => {
                            self.rearchive(&id, CheckId::RoomAudit, &mut actions).await;
                            if let Some(a) = actions.last_mut() {
                                a.action = "recover-re-archive".into();
                                let note = format!(
                                    "left unarchived by run {} at step {}",
                                    t.run_id, t.step
                                );
                                a.error = Some(match a.error.take() {
                                    Some(e) => format!("{note}; {e}"),
                                    None => note,
                                });
                            }
                        }
                        Err(e) => {
                            self.record(
                                &mut actions,
                                CheckId::RoomAudit,
                                Some(&id),
                                &format!("room:{id}"),
                                "recover-re-archive",
                                ActionOutcome::Failed,
                                false,
                                Some(format!(
                                    "cannot read the room left open by run {}: {e}",
                                    t.run_id
                                )),
                            );
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read open archive transactions"),
        }

        let entries = match self.state.journal_open() {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the journal");
                return actions;
            }
        };
        for entry in entries {
            let check = CheckId::parse(&entry.check).unwrap_or(CheckId::RoomAudit);
            let room = entry.room_id.as_deref().and_then(RoomId::parse);
            let settled = match (entry.action.as_str(), &room) {
                ("remove-member" | "revoke-link" | "add-member", Some(id)) => {
                    match self.read_share(id).await {
                        Ok(share) => Some(settle(&entry.action, &entry.detail, &share)),
                        Err(e) => {
                            tracing::warn!(room_id = %id, error = %e, "cannot settle a journaled change yet");
                            None
                        }
                    }
                }
                // Room moves are settled through the transaction table above.
                ("unarchive" | "re-archive", _) => Some((
                    true,
                    true,
                    "room move settled by the transaction check".to_string(),
                )),
                (action @ ("reassign-start" | "delete-guest" | "disable-guest"), _) => {
                    self.settle_user_change(action, &entry.detail).await
                }
                _ => Some((
                    false,
                    false,
                    "outcome unknown after a crash; the next scan re-checks it".to_string(),
                )),
            };
            let Some((applied, verified, note)) = settled else {
                continue;
            };
            let outcome = if applied {
                ActionOutcome::Done
            } else {
                ActionOutcome::Failed
            };
            let _ = self.state.journal_complete(
                entry.id,
                outcome,
                verified,
                Some(&note),
                self.clock.now(),
            );
            self.record(
                &mut actions,
                check,
                room.as_ref(),
                &entry.subject,
                &format!("recover-{}", entry.action),
                outcome,
                verified,
                Some(format!(
                    "intended by run {} at {}: {note}",
                    entry.run_id, entry.intended_at
                )),
            );
        }
        actions
    }
}

impl Remediator<'_> {
    /// Settles a journaled user-level change by reading the user back:
    /// (applied, verified, note), or `None` when the portal cannot tell yet.
    async fn settle_user_change(&self, action: &str, user: &str) -> Option<(bool, bool, String)> {
        let id = crate::api::Guid::new(user);
        if !id.is_well_formed() {
            return Some((false, false, "the journaled user id is not a GUID".into()));
        }
        match action {
            "reassign-start" => match self.client.reassign_progress(&id).await {
                Ok(Some(p))
                    if p.is_completed
                        && p.status == Some(crate::api::wire::TaskStatus::Completed) =>
                {
                    Some((true, true, "the reassignment completed".into()))
                }
                Ok(Some(p)) if !p.is_completed => Some((
                    true,
                    true,
                    format!(
                        "the reassignment is running ({}%); the next scan follows it",
                        p.percentage.unwrap_or(0)
                    ),
                )),
                Ok(Some(p)) => Some((
                    false,
                    true,
                    format!(
                        "the reassignment ended without completing{}",
                        p.error
                            .map(|e| format!(": {}", crate::api::clip(&e, 200)))
                            .unwrap_or_default()
                    ),
                )),
                Ok(None) => Some((
                    false,
                    false,
                    "no reassignment task is known; the next scan re-checks the user".into(),
                )),
                Err(e) => {
                    tracing::warn!(user_id = %id, error = %e, "cannot settle a journaled reassignment yet");
                    None
                }
            },
            _ => match self.client.user(&id).await {
                Err(e) if e.status() == Some(404) => {
                    Some((true, true, "the account is gone".into()))
                }
                Ok(u) if action == "disable-guest" && u.is_terminated() => {
                    Some((true, true, "the account is disabled".into()))
                }
                Ok(_) => Some((
                    false,
                    true,
                    "the account still exists; the next scan reports it again".into(),
                )),
                Err(e) => {
                    tracing::warn!(user_id = %id, error = %e, "cannot settle a journaled user change yet");
                    None
                }
            },
        }
    }
}

/// Whether a journaled change is in effect now: (applied, verified, note).
fn settle(action: &str, target: &str, share: &Share) -> (bool, bool, String) {
    match action {
        "remove-member" => match share.member(target) {
            None => (true, true, "the member is gone".into()),
            Some(_) => (
                false,
                true,
                "the member is still there; the next scan reports it again".into(),
            ),
        },
        "revoke-link" => match share.link(target) {
            None => (true, true, "the link is gone".into()),
            Some(_) => (
                false,
                true,
                "the link is still there; the next scan reports it again".into(),
            ),
        },
        _ => match share.member(target) {
            Some(_) => (true, true, "the member is present".into()),
            None => (
                false,
                true,
                "the member is absent; the next scan reports it again".into(),
            ),
        },
    }
}

/// The changes earlier runs made and never reported, because they died or
/// their report could not be written, as `recover-<action>` rows for this
/// run's `actions.csv`; and the journal ids to mark as reported once that
/// file is written. Reads only the state store, so a dry run does it too.
pub fn unreported_changes(
    state: &crate::state::StateStore,
    run_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<ActionRecord>, Vec<i64>) {
    let entries = match state.journal_unreported(run_id) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the journal of earlier runs");
            return (Vec::new(), Vec::new());
        }
    };
    let mut ids = Vec::new();
    let mut actions = Vec::new();
    for u in entries {
        let e = &u.entry;
        ids.push(e.id);
        let outcome = match u.outcome.as_str() {
            "done" => ActionOutcome::Done,
            "skipped" => ActionOutcome::Skipped,
            "in-progress" => ActionOutcome::InProgress,
            _ => ActionOutcome::Failed,
        };
        let time = chrono::DateTime::parse_from_rfc3339(&u.completed_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        actions.push(ActionRecord {
            time,
            check: CheckId::parse(&e.check).unwrap_or(CheckId::RoomAudit),
            room_id: e.room_id.as_deref().and_then(RoomId::parse),
            subject: e.subject.clone(),
            action: format!("recover-{}", e.action),
            dry_run: false,
            outcome,
            verified: u.verified,
            error: Some(format!(
                "made by run {} at {}, which ended before writing its report{}",
                e.run_id,
                u.completed_at,
                u.error
                    .as_deref()
                    .map(|m| format!("; {m}"))
                    .unwrap_or_default()
            )),
        });
    }
    (actions, ids)
}
