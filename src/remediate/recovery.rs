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
