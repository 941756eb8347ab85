//! Remediation acts: it turns approved fixes into API writes, journals each
//! one before the call, reads the portal back after it, and records whether
//! the change held. Rooms in the Archive cannot be changed (every write is
//! 403), so they are fixed in a transaction: unarchive, fix, read back,
//! re-archive — and re-archived whatever happened in between.

pub mod recovery;

use std::collections::HashMap;

use crate::api::wire::{
    FileShare, LinkRevocation, RoomInvitation, RoomInvitationRequest, ShareRow,
};
use crate::api::{ApiError, DocSpaceClient, RoomId, ShareFilter};
use crate::check::classify::{RowClass, classify};
use crate::check::{CheckId, Fix};
use crate::clock::Clock;
use crate::finding::{ActionOutcome, ActionRecord, RoomInfo, RoomState};
use crate::state::StateStore;

/// One approved fix of a room, tied to the finding it resolves.
#[derive(Debug, Clone)]
pub struct PlannedFix {
    /// Index of the finding in the run's list.
    pub finding: usize,
    pub check: CheckId,
    pub fix: Fix,
    /// `kind:id (name)` for the actions report.
    pub subject: String,
}

/// What became of a fix.
#[derive(Debug, Clone, PartialEq)]
pub enum FixOutcome {
    /// Applied and confirmed by reading back.
    Fixed(String),
    Failed(String),
}

/// Acts on one run's approved fixes.
pub struct Remediator<'a> {
    pub client: &'a DocSpaceClient,
    pub state: &'a StateStore,
    pub run_id: &'a str,
    pub clock: &'a dyn Clock,
}

/// The current share of a room, read fresh.
struct Share {
    members: Vec<ShareRow>,
    links: Vec<ShareRow>,
}

impl Share {
    fn member(&self, id: &str) -> Option<&ShareRow> {
        self.members.iter().find(|r| {
            r.shared_to_user
                .as_ref()
                .is_some_and(|u| u.id.as_str().eq_ignore_ascii_case(id))
                || r.shared_to_group
                    .as_ref()
                    .is_some_and(|g| g.id.as_str().eq_ignore_ascii_case(id))
        })
    }

    fn link(&self, id: &str) -> Option<&ShareRow> {
        self.links.iter().chain(&self.members).find(
            |r| matches!(classify(r), RowClass::ExternalLink(l) if l.id.eq_ignore_ascii_case(id)),
        )
    }
}

impl Remediator<'_> {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        actions: &mut Vec<ActionRecord>,
        check: CheckId,
        room: Option<&RoomId>,
        subject: &str,
        action: &str,
        outcome: ActionOutcome,
        verified: bool,
        error: Option<String>,
    ) {
        actions.push(ActionRecord {
            time: self.clock.now(),
            check,
            room_id: room.cloned(),
            subject: subject.to_string(),
            action: action.to_string(),
            dry_run: false,
            outcome,
            verified,
            error,
        });
    }

    async fn read_share(&self, room: &RoomId) -> Result<Share, ApiError> {
        let (members, links) = tokio::join!(
            self.client.room_shares(room, ShareFilter::UsersAndGroups),
            self.client.room_shares(room, ShareFilter::ExternalLinks)
        );
        Ok(Share {
            members: members?,
            links: links?,
        })
    }

    /// Applies a room's fixes; for a room in the Archive, inside the
    /// unarchive / re-archive transaction.
    pub async fn remediate_room(
        &self,
        room: &RoomInfo,
        fixes: Vec<PlannedFix>,
        actions: &mut Vec<ActionRecord>,
    ) -> Vec<(usize, FixOutcome)> {
        if room.state == RoomState::Archived {
            self.archived_room_transaction(room, fixes, actions).await
        } else {
            self.apply(&room.id, fixes, actions).await
        }
    }

    async fn archived_room_transaction(
        &self,
        room: &RoomInfo,
        fixes: Vec<PlannedFix>,
        actions: &mut Vec<ActionRecord>,
    ) -> Vec<(usize, FixOutcome)> {
        let id = &room.id;
        let room_key = id.to_string();
        let check = fixes.first().map(|f| f.check).unwrap_or(CheckId::RoomAudit);
        let fail_all = |fixes: &[PlannedFix], why: String| {
            fixes
                .iter()
                .map(|f| (f.finding, FixOutcome::Failed(why.clone())))
                .collect::<Vec<_>>()
        };
        let subject = format!("room:{id}");
        let now = self.clock.now();
        // Journal first: if the process dies from here on, the next run
        // finds this transaction open and puts the room back.
        let journal_id = match self
            .state
            .journal_intent(
                self.run_id,
                check.name(),
                Some(&room_key),
                &subject,
                "unarchive",
                &room_key,
                now,
            )
            .and_then(|jid| {
                self.state
                    .transaction_step(&room_key, self.run_id, "unarchiving", now)
                    .map(|_| jid)
            }) {
            Ok(j) => j,
            Err(e) => return fail_all(&fixes, format!("cannot journal the transaction: {e}")),
        };
        let unarchived = match self.client.unarchive_room(id).await {
            Ok(op) => self.client.wait_for_operation(id, "unarchive", op).await,
            Err(e) => Err(e),
        };
        if let Err(e) = unarchived {
            // Settle by reading back: the move may have happened anyway.
            match self.client.room(id).await {
                Ok(r) if !r.is_archived() => {
                    tracing::warn!(room_id = %id, error = %e, "unarchive reported an error but the room is out of the Archive; continuing");
                }
                other => {
                    let why = format!("unarchive failed: {e}");
                    self.record(
                        actions,
                        check,
                        Some(id),
                        &subject,
                        "unarchive",
                        ActionOutcome::Failed,
                        false,
                        Some(why.clone()),
                    );
                    let _ = self.state.journal_complete(
                        journal_id,
                        ActionOutcome::Failed,
                        other.is_ok(),
                        Some(&why),
                        self.clock.now(),
                    );
                    // Only a refusal (4xx) proves the move will not happen;
                    // after a timeout or a 5xx it may still land, so the
                    // transaction stays open for the next run to check.
                    let refused = matches!(e.status(), Some(400..=499));
                    if refused && other.as_ref().is_ok_and(|r| r.is_archived()) {
                        let _ = self.state.transaction_close(&room_key);
                    }
                    return fail_all(&fixes, why);
                }
            }
        }
        let _ = self.state.journal_complete(
            journal_id,
            ActionOutcome::Done,
            true,
            None,
            self.clock.now(),
        );
        let _ = self
            .state
            .transaction_step(&room_key, self.run_id, "unarchived", self.clock.now());
        self.record(
            actions,
            check,
            Some(id),
            &subject,
            "unarchive",
            ActionOutcome::Done,
            true,
            None,
        );

        // The share read while archived says canEditAccess=false for every
        // row; read it again now that access can be changed.
        let results = match self.read_share(id).await {
            Ok(share) => {
                let (ready, mut settled) = refresh_fixes(fixes, &share);
                let mut applied = self.apply(id, ready, actions).await;
                settled.append(&mut applied);
                settled
            }
            Err(e) => fail_all(
                &fixes,
                format!("cannot read the share after unarchiving: {e}"),
            ),
        };

        self.rearchive(id, check, actions).await;
        results
    }

    /// Puts a room back into the Archive, retrying once, and closes its
    /// transaction when the read-back confirms it.
    pub(crate) async fn rearchive(
        &self,
        id: &RoomId,
        check: CheckId,
        actions: &mut Vec<ActionRecord>,
    ) -> bool {
        let room_key = id.to_string();
        let subject = format!("room:{id}");
        let _ =
            self.state
                .transaction_step(&room_key, self.run_id, "re-archiving", self.clock.now());
        let journal_id = self
            .state
            .journal_intent(
                self.run_id,
                check.name(),
                Some(&room_key),
                &subject,
                "re-archive",
                &room_key,
                self.clock.now(),
            )
            .ok();
        let mut last_error = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(self.client.settings().operation_poll).await;
            }
            let moved = match self.client.archive_room(id).await {
                Ok(op) => self.client.wait_for_operation(id, "archive", op).await,
                Err(e) => Err(e),
            };
            match self.client.room(id).await {
                Ok(r) if r.is_archived() => {
                    let _ = self.state.transaction_close(&room_key);
                    if let Some(j) = journal_id {
                        let _ = self.state.journal_complete(
                            j,
                            ActionOutcome::Done,
                            true,
                            None,
                            self.clock.now(),
                        );
                    }
                    self.record(
                        actions,
                        check,
                        Some(id),
                        &subject,
                        "re-archive",
                        ActionOutcome::Done,
                        true,
                        None,
                    );
                    return true;
                }
                Ok(_) => {
                    last_error = match moved {
                        Err(e) => e.to_string(),
                        Ok(()) => "the room is still outside the Archive".into(),
                    }
                }
                Err(e) => last_error = format!("cannot read the room back: {e}"),
            }
        }
        tracing::error!(room_id = %id, error = %last_error, "room could not be re-archived; the next run will retry");
        if let Some(j) = journal_id {
            let _ = self.state.journal_complete(
                j,
                ActionOutcome::Failed,
                false,
                Some(&last_error),
                self.clock.now(),
            );
        }
        self.record(
            actions,
            check,
            Some(id),
            &subject,
            "re-archive",
            ActionOutcome::Failed,
            false,
            Some(format!(
                "{last_error}; the room is left unarchived and the next run re-archives it"
            )),
        );
        false
    }

    /// Applies fixes to a room whose access can be changed now, then reads
    /// the share back to verify each one.
    async fn apply(
        &self,
        room: &RoomId,
        fixes: Vec<PlannedFix>,
        actions: &mut Vec<ActionRecord>,
    ) -> Vec<(usize, FixOutcome)> {
        let room_key = room.to_string();
        // What the write said, per fix, before the read-back decides.
        let mut notes: HashMap<usize, (String, Option<i64>)> = HashMap::new();
        // Links first: while a room is out of the Archive they work again.
        for f in &fixes {
            let Fix::RevokeLink { revocation, .. } = &f.fix else {
                continue;
            };
            let jid = self
                .state
                .journal_intent(
                    self.run_id,
                    f.check.name(),
                    Some(&room_key),
                    &f.subject,
                    "revoke-link",
                    &revocation.link_id,
                    self.clock.now(),
                )
                .ok();
            let note = match self.client.revoke_link(room, revocation).await {
                Ok(None) => "deleted".to_string(),
                Ok(Some(row)) => match classify(&row) {
                    RowClass::ExternalLink(l) if l.id != revocation.link_id => {
                        "the server rotated the link into a new one instead of deleting it".into()
                    }
                    _ => "the server skipped the revocation (settings mismatch or missing permission)".into(),
                },
                Err(e @ ApiError::OutcomeUnknown { .. }) => format!("outcome unknown: {e}"),
                Err(e) => format!("revocation failed: {e}"),
            };
            notes.insert(f.finding, (note, jid));
        }

        let removals: Vec<&PlannedFix> = fixes
            .iter()
            .filter(|f| matches!(f.fix, Fix::RemoveMember { .. }))
            .collect();
        let additions: Vec<&PlannedFix> = fixes
            .iter()
            .filter(|f| matches!(f.fix, Fix::AddMember { .. }))
            .collect();
        for batch in [removals, additions] {
            if batch.is_empty() {
                continue;
            }
            let invitations: Vec<RoomInvitation> = batch
                .iter()
                .filter_map(|f| match &f.fix {
                    Fix::RemoveMember { subject, .. } => Some(RoomInvitation {
                        id: subject.clone(),
                        access: FileShare::None,
                    }),
                    Fix::AddMember {
                        subject, access, ..
                    } => Some(RoomInvitation {
                        id: subject.clone(),
                        access: *access,
                    }),
                    _ => None,
                })
                .collect();
            let mut jids = HashMap::new();
            for f in &batch {
                let (action, target) = match &f.fix {
                    Fix::RemoveMember { subject, .. } => ("remove-member", subject.as_str()),
                    Fix::AddMember { subject, .. } => ("add-member", subject.as_str()),
                    _ => continue,
                };
                if let Ok(j) = self.state.journal_intent(
                    self.run_id,
                    f.check.name(),
                    Some(&room_key),
                    &f.subject,
                    action,
                    target,
                    self.clock.now(),
                ) {
                    jids.insert(f.finding, j);
                }
            }
            let request = RoomInvitationRequest {
                invitations,
                notify: false,
                force: false,
            };
            let note = match self.client.set_room_share(room, &request).await {
                Ok(sec) if sec.error == Some(1) => {
                    "the server refused: the user holds form-filling roles (FormRoleBlockingDeletion)".to_string()
                }
                Ok(sec) => match sec.warning {
                    Some(w) => format!("applied; server warning: {}", crate::report::safe::one_line(&w, 200)),
                    None => "applied".to_string(),
                },
                Err(e @ ApiError::OutcomeUnknown { .. }) => format!("outcome unknown: {e}"),
                Err(e) => format!("share change failed: {e}"),
            };
            for f in &batch {
                notes.insert(f.finding, (note.clone(), jids.get(&f.finding).copied()));
            }
        }

        // Read back: the only proof that a change held.
        let share = self.read_share(room).await;
        // Record in the order the writes were made (links, removals,
        // additions) so actions.csv tells the steps as they happened.
        let mut in_order: Vec<&PlannedFix> = fixes.iter().collect();
        in_order.sort_by_key(|f| match f.fix {
            Fix::RevokeLink { .. } => 0,
            Fix::RemoveMember { .. } => 1,
            Fix::AddMember { .. } => 2,
            _ => 3,
        });
        let mut out = Vec::new();
        for f in in_order {
            let (note, jid) = notes
                .remove(&f.finding)
                .unwrap_or_else(|| ("not attempted".into(), None));
            let (outcome, verified, error) = match (&share, &f.fix) {
                (Err(e), _) => (
                    FixOutcome::Failed(format!("{note}; could not verify: {e}")),
                    false,
                    Some(format!("could not verify: {e}")),
                ),
                (Ok(s), Fix::RemoveMember { subject, .. }) => match s.member(subject) {
                    None => (
                        FixOutcome::Fixed("removed from the room; verified".into()),
                        true,
                        None,
                    ),
                    Some(_) => (
                        FixOutcome::Failed(format!("still a member after removal ({note})")),
                        true,
                        Some(note.clone()),
                    ),
                },
                (Ok(s), Fix::RevokeLink { revocation, .. }) => match s.link(&revocation.link_id) {
                    None => (
                        FixOutcome::Fixed("external link revoked; verified".into()),
                        true,
                        None,
                    ),
                    Some(_) => (
                        FixOutcome::Failed(format!("link still present ({note})")),
                        true,
                        Some(note.clone()),
                    ),
                },
                (
                    Ok(s),
                    Fix::AddMember {
                        subject, access, ..
                    },
                ) => match s.member(subject) {
                    Some(r) if r.access == Some(*access) => (
                        FixOutcome::Fixed(format!("granted {}; verified", access.label())),
                        true,
                        None,
                    ),
                    _ => (
                        FixOutcome::Failed(format!("access not present after the change ({note})")),
                        true,
                        Some(note.clone()),
                    ),
                },
                (Ok(_), other) => (
                    FixOutcome::Failed(format!("{} is not a room change", other.action_name())),
                    false,
                    None,
                ),
            };
            let action_outcome = match outcome {
                FixOutcome::Fixed(_) => ActionOutcome::Done,
                FixOutcome::Failed(_) => ActionOutcome::Failed,
            };
            if let Some(j) = jid {
                let _ = self.state.journal_complete(
                    j,
                    action_outcome,
                    verified,
                    error.as_deref(),
                    self.clock.now(),
                );
            }
            self.record(
                actions,
                f.check,
                Some(room),
                &f.subject,
                f.fix.action_name(),
                action_outcome,
                verified,
                error,
            );
            out.push((f.finding, outcome));
        }
        out
    }
}

/// Matches planned fixes against the share as it is now: a subject already
/// gone is fixed; a row the portal marks as not editable is left alone; a
/// link is revoked with its current settings echoed.
fn refresh_fixes(
    fixes: Vec<PlannedFix>,
    share: &Share,
) -> (Vec<PlannedFix>, Vec<(usize, FixOutcome)>) {
    let mut ready = Vec::new();
    let mut settled = Vec::new();
    for mut f in fixes {
        match &mut f.fix {
            Fix::RemoveMember { subject, .. } => match share.member(subject) {
                None => settled.push((
                    f.finding,
                    FixOutcome::Fixed("no longer a member; verified".into()),
                )),
                Some(row) if !row.can_edit_access || row.is_owner || row.is_locked => {
                    settled.push((
                        f.finding,
                        FixOutcome::Failed(
                            "the portal marks this row as not editable (canEditAccess=false)"
                                .into(),
                        ),
                    ))
                }
                Some(_) => ready.push(f),
            },
            Fix::RevokeLink { revocation, .. } => match share.link(&revocation.link_id) {
                None => settled.push((
                    f.finding,
                    FixOutcome::Fixed("link no longer present; verified".into()),
                )),
                Some(row) => {
                    if let RowClass::ExternalLink(l) = classify(row) {
                        *revocation = LinkRevocation::for_link(l);
                    }
                    ready.push(f);
                }
            },
            _ => ready.push(f),
        }
    }
    (ready, settled)
}
