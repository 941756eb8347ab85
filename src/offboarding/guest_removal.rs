//! Removal of orphaned guests (`orphaned-guests` remediation).
//!
//! - `delete`: `PUT people/status/2` (disable), then `PUT people/delete`,
//!   both with `{"userIds":[…]}`; verified by the account being gone (404).
//!   This is the portal-wide removal; it also clears the guest's rows in
//!   archived rooms.
//! - `detach`: `DELETE people/guests`: removes the guest from the API key
//!   user's guest list and the shares that user granted; the account stays.
//!   The portal has no read-back of guest lists, so a detach is reported as
//!   done but not verified.
//!
//! Each batch call fails whole (403) on one id that does not qualify
//! (API-NOTES §8, §10). So every id is validated first on fresh reads (a
//! well-formed GUID, still a guest, not disabled for a detach, still in no
//! active room), the valid ones go in one batch, and on a 403 each is sent
//! alone so one bad id cannot block the rest.

use std::future::Future;

use futures_util::StreamExt;

use super::actions::{DELETE_GUEST, DETACH_GUEST, DISABLE_GUEST};
use super::record;
use crate::api::wire::{EmployeeType, User};
use crate::api::{ApiError, RoomQuery, SearchArea, UserId};
use crate::check::Fix;
use crate::finding::{ActionOutcome, ActionRecord};
use crate::remediate::{FixOutcome, PlannedFix, Remediator};

/// What a fresh look at a guest says.
enum Eligibility {
    Ready(User),
    /// The account no longer exists.
    Gone,
    Refused(String),
}

/// The result of one id in a batch write.
#[derive(Debug, Clone, PartialEq)]
enum Write {
    Done,
    /// The write may or may not have happened: settle by reading back.
    Unknown(String),
    Failed {
        refused: bool,
        why: String,
    },
}

impl Write {
    fn from_error(e: &ApiError) -> Write {
        match e {
            ApiError::OutcomeUnknown { .. } => Write::Unknown(e.to_string()),
            _ => Write::Failed {
                refused: e.status() == Some(403),
                why: e.to_string(),
            },
        }
    }
}

pub(super) async fn run(
    r: &Remediator<'_>,
    fixes: Vec<PlannedFix>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(usize, FixOutcome)> {
    let mut out = Vec::new();
    let mut delete = Vec::new();
    let mut detach = Vec::new();
    for f in fixes {
        match &f.fix {
            Fix::DeleteGuest { user } => {
                let u = user.clone();
                delete.push((f, u));
            }
            Fix::DetachGuest { user } => {
                let u = user.clone();
                detach.push((f, u));
            }
            other => out.push((
                f.finding,
                FixOutcome::Failed(format!("{} is not a guest fix", other.action_name())),
            )),
        }
    }
    if !delete.is_empty() {
        out.extend(delete_guests(r, delete, actions).await);
    }
    if !detach.is_empty() {
        out.extend(detach_guests(r, detach, actions).await);
    }
    out
}

async fn eligibility(r: &Remediator<'_>, id: &UserId, for_delete: bool) -> Eligibility {
    if !id.is_well_formed() {
        return Eligibility::Refused(format!("{id:?} is not a well-formed GUID"));
    }
    let user = match r.client.user(id).await {
        Ok(u) => u,
        Err(e) if e.status() == Some(404) => return Eligibility::Gone,
        Err(e) => return Eligibility::Refused(format!("cannot read the guest: {e}")),
    };
    match user.employee_type() {
        Some(EmployeeType::Guest) => {}
        other => {
            return Eligibility::Refused(format!(
                "no longer a guest ({})",
                other.map(|t| t.name()).unwrap_or("unknown type")
            ));
        }
    }
    if !for_delete && user.is_terminated() {
        return Eligibility::Refused(
            "the guest is disabled; the guests endpoint refuses disabled accounts".into(),
        );
    }
    // A guest added to a room since the scan is kept.
    match r
        .client
        .room_count(&RoomQuery {
            area: SearchArea::Active,
            subject_id: Some(id.clone()),
            owner_id: None,
        })
        .await
    {
        Ok(0) => Eligibility::Ready(user),
        Ok(n) => Eligibility::Refused(format!(
            "kept: the guest is now a direct member of {n} active rooms"
        )),
        Err(e) => Eligibility::Refused(format!("cannot re-check the guest's rooms: {e}")),
    }
}

async fn check_all(
    r: &Remediator<'_>,
    items: &[(PlannedFix, UserId)],
    for_delete: bool,
) -> Vec<Eligibility> {
    let n = r.client.settings().max_concurrency.max(1);
    // Owned ids: a stream over borrowed items trips the `Send` check of the
    // spawned run future (higher-ranked lifetime inference).
    let ids: Vec<UserId> = items.iter().map(|(_, id)| id.clone()).collect();
    futures_util::stream::iter(ids)
        .map(move |id| async move { eligibility(r, &id, for_delete).await })
        .buffered(n)
        .collect()
        .await
}

/// One batch call for all ids; on a 403, each id alone. The result is in
/// the order of `ids`.
async fn batch<F, Fut>(ids: &[UserId], call: F) -> Vec<Write>
where
    F: Fn(Vec<UserId>) -> Fut,
    Fut: Future<Output = Result<(), ApiError>>,
{
    if ids.is_empty() {
        return Vec::new();
    }
    match call(ids.to_vec()).await {
        Ok(()) => vec![Write::Done; ids.len()],
        Err(e) if e.status() == Some(403) && ids.len() > 1 => {
            tracing::warn!(error = %e, count = ids.len(), "batch refused as a whole; sending one by one");
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(match call(vec![id.clone()]).await {
                    Ok(()) => Write::Done,
                    Err(e) => Write::from_error(&e),
                });
            }
            out
        }
        Err(e) => vec![Write::from_error(&e); ids.len()],
    }
}

/// Journals one intent per guest; a guest that cannot be journaled is not
/// touched.
fn journal_all(
    r: &Remediator<'_>,
    ready: Vec<(PlannedFix, User)>,
    action: &str,
    out: &mut Vec<(usize, FixOutcome)>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(PlannedFix, User, i64)> {
    let mut journaled = Vec::new();
    for (f, u) in ready {
        match r.state.journal_intent(
            r.run_id,
            f.check.name(),
            None,
            &f.subject,
            action,
            u.id.as_str(),
            r.clock.now(),
        ) {
            Ok(j) => journaled.push((f, u, j)),
            Err(e) => {
                let why = format!("cannot journal the change, no call made: {e}");
                record(
                    r,
                    actions,
                    &f,
                    action,
                    ActionOutcome::Failed,
                    false,
                    Some(why.clone()),
                );
                out.push((f.finding, FixOutcome::Failed(why)));
            }
        }
    }
    journaled
}

fn complete(
    r: &Remediator<'_>,
    journal: i64,
    outcome: ActionOutcome,
    verified: bool,
    error: Option<&str>,
) {
    if let Err(e) = r
        .state
        .journal_complete(journal, outcome, verified, error, r.clock.now())
    {
        tracing::error!(error = %e, "cannot complete a journal entry; the next run settles it");
    }
}

/// Sorts fresh looks into ready guests and settled outcomes.
fn triage(
    r: &Remediator<'_>,
    items: Vec<(PlannedFix, UserId)>,
    checks: Vec<Eligibility>,
    action: &str,
    out: &mut Vec<(usize, FixOutcome)>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(PlannedFix, User)> {
    let mut ready = Vec::new();
    for ((f, _), c) in items.into_iter().zip(checks) {
        match c {
            Eligibility::Ready(u) => ready.push((f, u)),
            Eligibility::Gone => {
                record(
                    r,
                    actions,
                    &f,
                    action,
                    ActionOutcome::Skipped,
                    true,
                    Some("the account no longer exists".into()),
                );
                out.push((
                    f.finding,
                    FixOutcome::Fixed("the account no longer exists; verified".into()),
                ));
            }
            Eligibility::Refused(why) => {
                record(
                    r,
                    actions,
                    &f,
                    action,
                    ActionOutcome::Skipped,
                    false,
                    Some(why.clone()),
                );
                out.push((f.finding, FixOutcome::Failed(format!("not changed: {why}"))));
            }
        }
    }
    ready
}

async fn delete_guests(
    r: &Remediator<'_>,
    items: Vec<(PlannedFix, UserId)>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(usize, FixOutcome)> {
    let mut out = Vec::new();
    let checks = check_all(r, &items, true).await;
    let ready = triage(r, items, checks, DELETE_GUEST, &mut out, actions);
    let ready = journal_all(r, ready, DELETE_GUEST, &mut out, actions);
    if ready.is_empty() {
        return out;
    }
    let client = r.client;

    // Step 1: disable the ones still active (delete accepts only disabled
    // accounts: "Users are not suspended").
    let to_disable: Vec<UserId> = ready
        .iter()
        .filter(|(_, u, _)| !u.is_terminated())
        .map(|(_, u, _)| u.id.clone())
        .collect();
    let disabled = batch(&to_disable, |ids| async move {
        client.disable_users(&ids).await.map(|_| ())
    })
    .await;
    // Per guest: Ok(note) when disabled (now or before), Err(why) when not.
    let mut disabled_state: Vec<Result<(), String>> = Vec::with_capacity(ready.len());
    for (f, u, _) in &ready {
        let Some(pos) = to_disable.iter().position(|id| id == &u.id) else {
            disabled_state.push(Ok(()));
            continue;
        };
        let state = match &disabled[pos] {
            Write::Done => {
                record(
                    r,
                    actions,
                    f,
                    DISABLE_GUEST,
                    ActionOutcome::Done,
                    false,
                    None,
                );
                Ok(())
            }
            Write::Unknown(why) => match client.user(&u.id).await {
                Ok(now) if now.is_terminated() => {
                    record(
                        r,
                        actions,
                        f,
                        DISABLE_GUEST,
                        ActionOutcome::Done,
                        true,
                        Some(format!("{why}; read back: disabled")),
                    );
                    Ok(())
                }
                Ok(_) => {
                    let why = format!("{why}; read back: still active");
                    record(
                        r,
                        actions,
                        f,
                        DISABLE_GUEST,
                        ActionOutcome::Failed,
                        true,
                        Some(why.clone()),
                    );
                    Err(why)
                }
                Err(e) => {
                    let why = format!("{why}; read back failed: {e}");
                    record(
                        r,
                        actions,
                        f,
                        DISABLE_GUEST,
                        ActionOutcome::Failed,
                        false,
                        Some(why.clone()),
                    );
                    Err(why)
                }
            },
            Write::Failed { why, .. } => {
                record(
                    r,
                    actions,
                    f,
                    DISABLE_GUEST,
                    ActionOutcome::Failed,
                    false,
                    Some(why.clone()),
                );
                Err(why.clone())
            }
        };
        disabled_state.push(state);
    }

    // Step 2: delete the disabled ones.
    let to_delete: Vec<UserId> = ready
        .iter()
        .zip(&disabled_state)
        .filter(|(_, d)| d.is_ok())
        .map(|((_, u, _), _)| u.id.clone())
        .collect();
    let deleted = batch(
        &to_delete,
        |ids| async move { client.delete_users(&ids).await },
    )
    .await;

    // Step 3: read back each one; only a 404 proves the account is gone.
    for ((f, u, jid), disabled) in ready.iter().zip(disabled_state) {
        if let Err(why) = disabled {
            let why = format!("not deleted: the disable step failed: {why}");
            record(
                r,
                actions,
                f,
                DELETE_GUEST,
                ActionOutcome::Skipped,
                false,
                Some(why.clone()),
            );
            complete(r, *jid, ActionOutcome::Failed, false, Some(&why));
            out.push((f.finding, FixOutcome::Failed(why)));
            continue;
        }
        let write = to_delete
            .iter()
            .position(|id| id == &u.id)
            .and_then(|p| deleted.get(p).cloned())
            .unwrap_or(Write::Failed {
                refused: false,
                why: "not attempted".into(),
            });
        let said = match &write {
            Write::Done => None,
            Write::Unknown(why) | Write::Failed { why, .. } => Some(why.clone()),
        };
        let (outcome, verified, why) = match client.user(&u.id).await {
            Err(e) if e.status() == Some(404) => (
                FixOutcome::Fixed(
                    "disabled, then deleted portal-wide; verified (the account is gone)".into(),
                ),
                true,
                said.map(|s| format!("{s}; read back: the account is gone")),
            ),
            Ok(still) => {
                let why = format!(
                    "the account still exists ({}) and stays disabled{}",
                    still
                        .status
                        .map(|s| s.name())
                        .unwrap_or_else(|| "unknown status".into()),
                    said.map(|s| format!(": {s}")).unwrap_or_default()
                );
                (
                    FixOutcome::Failed(format!("disabled but not deleted: {why}")),
                    true,
                    Some(why),
                )
            }
            Err(e) => {
                let why = format!(
                    "could not verify: {e}{}",
                    said.map(|s| format!("; the delete said: {s}"))
                        .unwrap_or_default()
                );
                (
                    FixOutcome::Failed(format!("delete not verified: {why}")),
                    false,
                    Some(why),
                )
            }
        };
        let action_outcome = match outcome {
            FixOutcome::Fixed(_) => ActionOutcome::Done,
            FixOutcome::Failed(_) => ActionOutcome::Failed,
        };
        record(
            r,
            actions,
            f,
            DELETE_GUEST,
            action_outcome,
            verified,
            why.clone(),
        );
        complete(r, *jid, action_outcome, verified, why.as_deref());
        out.push((f.finding, outcome));
    }
    out
}

async fn detach_guests(
    r: &Remediator<'_>,
    items: Vec<(PlannedFix, UserId)>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(usize, FixOutcome)> {
    let mut out = Vec::new();
    let checks = check_all(r, &items, false).await;
    let ready = triage(r, items, checks, DETACH_GUEST, &mut out, actions);
    let ready = journal_all(r, ready, DETACH_GUEST, &mut out, actions);
    if ready.is_empty() {
        return out;
    }
    let client = r.client;
    let ids: Vec<UserId> = ready.iter().map(|(_, u, _)| u.id.clone()).collect();
    let results = batch(&ids, |ids| async move { client.detach_guests(&ids).await }).await;
    for ((f, _, jid), w) in ready.iter().zip(results) {
        let (outcome, action_outcome, why) = match w {
            Write::Done => (
                FixOutcome::Fixed(
                    "detached from the API key user's guest list; the account and shares granted by others remain (the portal has no read-back of guest lists, so this is not verified)".into(),
                ),
                ActionOutcome::Done,
                Some("not verifiable: the portal has no read-back of guest lists".to_string()),
            ),
            Write::Failed { refused: true, why } => {
                let why = format!(
                    "the portal refused (403): the guest is not in the API key user's guest list (invited by another admin, or already detached); only action = \"delete\" removes the account ({why})"
                );
                (FixOutcome::Failed(why.clone()), ActionOutcome::Failed, Some(why))
            }
            Write::Failed { refused: false, why } => {
                (FixOutcome::Failed(format!("detach failed: {why}")), ActionOutcome::Failed, Some(why))
            }
            Write::Unknown(why) => {
                let why = format!("{why}; the portal has no read-back of guest lists, the next run re-checks");
                (FixOutcome::Failed(format!("detach outcome unknown: {why}")), ActionOutcome::Failed, Some(why))
            }
        };
        record(
            r,
            actions,
            f,
            DETACH_GUEST,
            action_outcome,
            false,
            why.clone(),
        );
        complete(r, *jid, action_outcome, false, why.as_deref());
        out.push((f.finding, outcome));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn id(n: u8) -> UserId {
        UserId::new(format!("90000000-0000-4000-8000-0000000000{n:02}"))
    }

    fn refused() -> ApiError {
        ApiError::Status {
            method: "PUT",
            path: "people/delete".into(),
            status: 403,
            message: Some("Access denied".into()),
            retry_after: None,
        }
    }

    #[tokio::test]
    async fn a_refused_batch_falls_back_to_one_by_one() {
        let calls = Mutex::new(Vec::new());
        let bad = id(2);
        let ids = [id(1), id(2), id(3)];
        let results = batch(&ids, |batch: Vec<UserId>| {
            calls.lock().unwrap().push(batch.len());
            let fail = batch.contains(&bad);
            async move { if fail { Err(refused()) } else { Ok(()) } }
        })
        .await;
        assert_eq!(*calls.lock().unwrap(), [3, 1, 1, 1]);
        assert_eq!(results[0], Write::Done);
        assert!(matches!(results[1], Write::Failed { refused: true, .. }));
        assert_eq!(results[2], Write::Done);
    }

    #[tokio::test]
    async fn other_errors_fail_the_batch_without_retrying() {
        let calls = Mutex::new(0);
        let results = batch(&[id(1), id(2)], |_| {
            *calls.lock().unwrap() += 1;
            async {
                Err(ApiError::OutcomeUnknown {
                    method: "PUT",
                    path: "people/delete".into(),
                    detail: "timed out".into(),
                })
            }
        })
        .await;
        assert_eq!(*calls.lock().unwrap(), 1);
        assert!(results.iter().all(|w| matches!(w, Write::Unknown(_))));
    }
}
