//! Reassignment of a disabled user's content to the archive owner
//! (`disabled-user-content` remediation), step by step, each step a row in
//! `actions.csv`:
//!
//! 1. Preconditions the server enforces (API-NOTES §9), checked on fresh
//!    reads so a failure is a clear row instead of a 400, and no call.
//! 2. A task already running for the user is followed, never started again
//!    (the server would return it anyway, possibly for another target).
//! 3. Otherwise journal, then `POST people/reassign/start`. A start whose
//!    answer is lost is settled by reading the progress, never by repeating.
//! 4. Poll `people/reassign/progress/{id}` every `reassign_poll` until it
//!    completes, fails, is canceled or passes `reassign_timeout` (the task
//!    keeps running on the portal; the next run follows it).
//! 5. Read back: `reassign/necessary` false and no archived room owned.

use std::collections::HashMap;
use std::fmt;

use tokio::time::Instant;

use super::actions::{
    REASSIGN_FINISH, REASSIGN_FOLLOW, REASSIGN_PROGRESS, REASSIGN_START, REASSIGN_VERIFY,
};
use super::record;
use crate::api::wire::{EmployeeType, StartReassignRequest, TaskProgress, TaskStatus, User};
use crate::api::{ApiError, RoomQuery, SearchArea, UserId};
use crate::check::Fix;
use crate::config::Config;
use crate::finding::{ActionOutcome, ActionRecord};
use crate::remediate::{FixOutcome, PlannedFix, Remediator};

/// Consecutive failed progress reads before giving up on following a task.
const MAX_POLL_ERRORS: u32 = 3;

/// A precondition of `reassign/start` that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The key's user needs to be a DocSpace admin (Action_EditUser).
    KeyNotAdmin,
    /// The archive owner (target) must be Active.
    OwnerNotActive(String),
    /// The archive owner must be a DocSpace admin or room admin.
    OwnerWrongType(String),
    /// Only Terminated users can be reassigned.
    FromNotDisabled,
    FromIsPortalOwner,
    FromIsKeyUser,
    FromIsArchiveOwner,
    /// A disabled DocSpace admin can only be reassigned by the portal owner.
    AdminNeedsPortalOwner,
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Precondition::KeyNotAdmin => f.write_str("the API key's user is not a DocSpace admin"),
            Precondition::OwnerNotActive(status) => {
                write!(f, "the archive owner is not active (status {status}); reassignment needs an active target")
            }
            Precondition::OwnerWrongType(t) => {
                write!(f, "the archive owner is a {t}; the target must be a DocSpace admin or room admin")
            }
            Precondition::FromNotDisabled => f.write_str("the user is no longer disabled"),
            Precondition::FromIsPortalOwner => f.write_str("the portal owner cannot be reassigned"),
            Precondition::FromIsKeyUser => f.write_str("the user is the API key's own user"),
            Precondition::FromIsArchiveOwner => f.write_str("the user is the archive owner"),
            Precondition::AdminNeedsPortalOwner => f.write_str(
                "a disabled DocSpace admin can only be reassigned by the portal owner; the API key's user is not the owner",
            ),
        }
    }
}

/// Checks what `POST people/reassign/start` would refuse (API-NOTES §9).
pub fn preconditions(from: &User, archive_owner: &User, key: &User) -> Result<(), Precondition> {
    if !(key.is_admin || key.is_owner) {
        return Err(Precondition::KeyNotAdmin);
    }
    if !archive_owner.is_active() {
        let status = archive_owner
            .status
            .map(|s| s.name())
            .unwrap_or_else(|| "unknown".into());
        return Err(Precondition::OwnerNotActive(status));
    }
    match archive_owner.employee_type() {
        Some(EmployeeType::DocSpaceAdmin | EmployeeType::RoomAdmin) => {}
        other => {
            return Err(Precondition::OwnerWrongType(
                other
                    .map(|t| t.name().to_string())
                    .unwrap_or_else(|| "user of unknown type".into()),
            ));
        }
    }
    if !from.is_terminated() {
        return Err(Precondition::FromNotDisabled);
    }
    if from.is_owner {
        return Err(Precondition::FromIsPortalOwner);
    }
    if from.id == key.id {
        return Err(Precondition::FromIsKeyUser);
    }
    if from.id == archive_owner.id {
        return Err(Precondition::FromIsArchiveOwner);
    }
    if from.is_admin && !key.is_owner {
        return Err(Precondition::AdminNeedsPortalOwner);
    }
    Ok(())
}

/// How following a task ended.
enum End {
    Completed(TaskProgress),
    Failed(TaskProgress),
    Canceled(TaskProgress),
    TimedOut(TaskProgress),
    /// The portal no longer knows the task (evicted): the read-back decides.
    Vanished(TaskProgress),
    PollError(String),
}

/// `40% (running)`, with the error when there is one.
/// A reassignment that ended without completing: the finish row and the
/// failed outcome, both with `why`.
fn failed(
    r: &Remediator<'_>,
    actions: &mut Vec<ActionRecord>,
    f: &PlannedFix,
    why: String,
) -> (FixOutcome, bool, Option<String>) {
    record(
        r,
        actions,
        f,
        REASSIGN_FINISH,
        ActionOutcome::Failed,
        false,
        Some(why.clone()),
    );
    (FixOutcome::Failed(why.clone()), false, Some(why))
}

fn note(t: &TaskProgress) -> String {
    let status = match t.status {
        Some(TaskStatus::Created) => "created".to_string(),
        Some(TaskStatus::Running) => "running".to_string(),
        Some(TaskStatus::Completed) => "completed".to_string(),
        Some(TaskStatus::Canceled) => "canceled".to_string(),
        Some(TaskStatus::Failed) => "failed".to_string(),
        Some(TaskStatus::Unknown(n)) => format!("status {n}"),
        None if t.is_completed => "completed, no status".to_string(),
        None => "no status".to_string(),
    };
    let mut s = format!("{}% ({status})", t.percentage.unwrap_or(0));
    if let Some(e) = t.error.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        s.push_str(": ");
        s.push_str(&crate::api::clip(e, 300));
    }
    s
}

fn terminal(t: &TaskProgress) -> Option<End> {
    match t.status {
        Some(TaskStatus::Completed) => Some(End::Completed(t.clone())),
        Some(TaskStatus::Failed) => Some(End::Failed(t.clone())),
        Some(TaskStatus::Canceled) => Some(End::Canceled(t.clone())),
        _ if t.is_completed => Some(
            if t.error.as_deref().is_some_and(|e| !e.trim().is_empty()) {
                End::Failed(t.clone())
            } else {
                End::Completed(t.clone())
            },
        ),
        _ => None,
    }
}

fn outcome_of(t: &TaskProgress) -> ActionOutcome {
    match terminal(t) {
        Some(End::Completed(_)) => ActionOutcome::Done,
        Some(_) => ActionOutcome::Failed,
        None => ActionOutcome::InProgress,
    }
}

pub(super) async fn run(
    r: &Remediator<'_>,
    config: &Config,
    fixes: Vec<PlannedFix>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(usize, FixOutcome)> {
    let key = match r.client.whoami().await {
        Ok(u) => u,
        Err(e) => {
            let why = format!("cannot read the API key's user, no call made: {e}");
            return fixes
                .iter()
                .map(|f| {
                    record(
                        r,
                        actions,
                        f,
                        REASSIGN_START,
                        ActionOutcome::Failed,
                        false,
                        Some(why.clone()),
                    );
                    (f.finding, FixOutcome::Failed(why.clone()))
                })
                .collect();
        }
    };
    // The archive owner is read once per run, fresh (not from the scan).
    let mut owners: HashMap<UserId, Result<User, String>> = HashMap::new();
    let mut out = Vec::new();
    for f in fixes {
        let Fix::Reassign { from, to } = &f.fix else {
            out.push((f.finding, FixOutcome::Failed("not a reassignment".into())));
            continue;
        };
        if !owners.contains_key(to) {
            let owner = match r.client.user(to).await {
                Ok(u) => Ok(u),
                Err(e) if e.status() == Some(404) => Err(format!(
                    "the archive owner {to} does not exist on the portal"
                )),
                Err(e) => Err(format!("cannot read the archive owner {to}: {e}")),
            };
            owners.insert(to.clone(), owner);
        }
        let owner = owners
            .get(to)
            .cloned()
            .unwrap_or_else(|| Err("archive owner not read".into()));
        let outcome = reassign_one(r, config, &key, owner, &f, from, to, actions).await;
        out.push((f.finding, outcome));
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn reassign_one(
    r: &Remediator<'_>,
    config: &Config,
    key: &User,
    owner: Result<User, String>,
    f: &PlannedFix,
    from: &UserId,
    to: &UserId,
    actions: &mut Vec<ActionRecord>,
) -> FixOutcome {
    let refuse = |actions: &mut Vec<ActionRecord>, why: String| {
        record(
            r,
            actions,
            f,
            REASSIGN_START,
            ActionOutcome::Failed,
            false,
            Some(format!("no call made: {why}")),
        );
        FixOutcome::Failed(format!("reassignment not started: {why}"))
    };
    let from_user = match r.client.user(from).await {
        Ok(u) => u,
        Err(e) => return refuse(actions, format!("cannot read the disabled user: {e}")),
    };
    let owner = match owner {
        Ok(o) => o,
        Err(why) => return refuse(actions, format!("precondition failed: {why}")),
    };
    if let Err(p) = preconditions(&from_user, &owner, key) {
        return refuse(actions, format!("precondition failed: {p}"));
    }
    let kind = super::real_type(&from_user);

    let existing = match r.client.reassign_progress(from).await {
        Ok(p) => p,
        Err(e) => {
            return refuse(
                actions,
                format!("cannot read the reassignment progress: {e}"),
            );
        }
    };
    let mut journal = None;
    let first = match existing {
        Some(t) if terminal(&t).is_none() => {
            record(
                r,
                actions,
                f,
                REASSIGN_FOLLOW,
                ActionOutcome::InProgress,
                false,
                Some(format!(
                    "a reassignment is already running ({}); following it, not starting another",
                    note(&t)
                )),
            );
            t
        }
        _ => {
            let jid = match r.state.journal_intent(
                r.run_id,
                f.check.name(),
                None,
                &f.subject,
                REASSIGN_START,
                from.as_str(),
                r.clock.now(),
            ) {
                Ok(j) => j,
                Err(e) => return refuse(actions, format!("cannot journal the change: {e}")),
            };
            journal = Some(jid);
            let request = StartReassignRequest {
                from_user_id: from.to_string(),
                to_user_id: to.to_string(),
                delete_profile: config.archive.reassign_delete_profile,
            };
            let lost = match r.client.reassign_start(&request).await {
                Ok(Some(t)) => {
                    record(
                        r,
                        actions,
                        f,
                        REASSIGN_START,
                        ActionOutcome::Done,
                        false,
                        Some(format!("started: {}", note(&t))),
                    );
                    Ok(t)
                }
                Ok(None) => Err("the start answer had no progress".to_string()),
                Err(e @ ApiError::OutcomeUnknown { .. }) => Err(e.to_string()),
                Err(e) => {
                    let why = format!("the portal refused to start: {e}");
                    record(
                        r,
                        actions,
                        f,
                        REASSIGN_START,
                        ActionOutcome::Failed,
                        false,
                        Some(why.clone()),
                    );
                    complete(r, jid, ActionOutcome::Failed, false, Some(&why));
                    return FixOutcome::Failed(format!("reassignment not started: {why}"));
                }
            };
            match lost {
                Ok(t) => t,
                // Settle by reading the progress back, never by repeating.
                Err(why) => match r.client.reassign_progress(from).await {
                    Ok(Some(t)) => {
                        record(
                            r,
                            actions,
                            f,
                            REASSIGN_START,
                            ActionOutcome::Done,
                            true,
                            Some(format!("{why}; the portal shows the task: {}", note(&t))),
                        );
                        t
                    }
                    other => {
                        let read = match other {
                            Err(e) => format!("the progress could not be read: {e}"),
                            _ => "the portal shows no task".to_string(),
                        };
                        let why = format!("{why}; {read}");
                        record(
                            r,
                            actions,
                            f,
                            REASSIGN_START,
                            ActionOutcome::Failed,
                            false,
                            Some(why.clone()),
                        );
                        complete(r, jid, ActionOutcome::Failed, false, Some(&why));
                        return FixOutcome::Failed(format!("reassignment not confirmed: {why}"));
                    }
                },
            }
        }
    };

    let end = follow(r, config, f, from, first, actions).await;
    let (outcome, verified, error) = match end {
        End::Completed(t) => {
            record(
                r,
                actions,
                f,
                REASSIGN_FINISH,
                ActionOutcome::Done,
                false,
                Some(format!("completed: {}", note(&t))),
            );
            verify(r, config, f, from, kind, actions, "completed").await
        }
        End::Vanished(last) => {
            let n = format!(
                "the portal no longer lists the task (last seen {}); the read-back decides",
                note(&last)
            );
            record(
                r,
                actions,
                f,
                REASSIGN_FINISH,
                ActionOutcome::Done,
                false,
                Some(n),
            );
            verify(r, config, f, from, kind, actions, "task no longer listed").await
        }
        // Every other ending is a failure with its reason, recorded alike.
        End::Failed(t) => failed(
            r,
            actions,
            f,
            format!("the reassignment failed at {}", note(&t)),
        ),
        End::Canceled(t) => failed(
            r,
            actions,
            f,
            format!("the reassignment was canceled at {}", note(&t)),
        ),
        End::TimedOut(t) => failed(
            r,
            actions,
            f,
            format!(
                "not finished after {}s (last {}); the task keeps running on the portal and the next run follows it",
                config.archive.reassign_timeout.as_secs(),
                note(&t)
            ),
        ),
        End::PollError(e) => failed(
            r,
            actions,
            f,
            format!("the progress could not be read: {e}; the next run follows the task"),
        ),
    };
    if let Some(j) = journal {
        let o = match outcome {
            FixOutcome::Fixed(_) => ActionOutcome::Done,
            FixOutcome::Failed(_) => ActionOutcome::Failed,
        };
        complete(r, j, o, verified, error.as_deref());
    }
    outcome
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

/// Polls until the task ends or the timeout passes, recording every change
/// of percentage or status. Time is measured with the monotonic clock: the
/// run's clock may stand still (tests) and must not stretch a timeout.
async fn follow(
    r: &Remediator<'_>,
    config: &Config,
    f: &PlannedFix,
    from: &UserId,
    first: TaskProgress,
    actions: &mut Vec<ActionRecord>,
) -> End {
    let deadline = Instant::now() + config.archive.reassign_timeout;
    let mut last = first;
    let mut errors = 0u32;
    loop {
        if let Some(end) = terminal(&last) {
            return end;
        }
        let now = Instant::now();
        if now >= deadline {
            return End::TimedOut(last);
        }
        tokio::time::sleep(config.archive.reassign_poll.min(deadline - now)).await;
        match r.client.reassign_progress(from).await {
            Ok(Some(t)) => {
                errors = 0;
                if t.percentage != last.percentage
                    || t.status != last.status
                    || t.is_completed != last.is_completed
                {
                    record(
                        r,
                        actions,
                        f,
                        REASSIGN_PROGRESS,
                        outcome_of(&t),
                        false,
                        Some(note(&t)),
                    );
                }
                last = t;
            }
            Ok(None) => return End::Vanished(last),
            Err(e) if e.is_fatal_for_run() => return End::PollError(e.to_string()),
            Err(e) => {
                errors += 1;
                tracing::warn!(user_id = %from, attempt = errors, error = %e, "reassignment progress could not be read");
                if errors >= MAX_POLL_ERRORS {
                    return End::PollError(e.to_string());
                }
            }
        }
    }
}

/// The read-back: nothing left to reassign in active rooms (the portal's
/// answer) and no archived room owned (which that answer ignores).
async fn verify(
    r: &Remediator<'_>,
    config: &Config,
    f: &PlannedFix,
    from: &UserId,
    kind: EmployeeType,
    actions: &mut Vec<ActionRecord>,
    how: &str,
) -> (FixOutcome, bool, Option<String>) {
    let archived_query = RoomQuery {
        area: SearchArea::Archive,
        subject_id: None,
        owner_id: Some(from.clone()),
    };
    let (necessary, archived) = tokio::join!(
        r.client.reassign_necessary(from, kind),
        r.client.room_count(&archived_query)
    );
    let deleted = config.archive.reassign_delete_profile;
    let result: Result<String, (bool, String)> = match (necessary, archived) {
        (Ok(false), Ok(0)) => {
            Ok("reassign/necessary is false and no archived room is owned".into())
        }
        // With deleteProfile the user is gone once the job ends.
        (Err(e), Ok(0)) if deleted && e.status() == Some(404) => {
            Ok("the profile was deleted and no archived room is owned".into())
        }
        (Ok(true), Ok(n)) => Err((
            true,
            format!(
                "the portal still reports content to reassign (reassign/necessary is true; {n} archived rooms owned)"
            ),
        )),
        (Ok(false), Ok(n)) => Err((true, format!("still owns {n} archived rooms"))),
        (Err(e), _) | (_, Err(e)) => Err((false, format!("could not verify: {e}"))),
    };
    match result {
        Ok(what) => {
            record(
                r,
                actions,
                f,
                REASSIGN_VERIFY,
                ActionOutcome::Done,
                true,
                Some(what.clone()),
            );
            (
                FixOutcome::Fixed(format!(
                    "content reassigned to the archive owner ({how}); verified: {what}"
                )),
                true,
                None,
            )
        }
        Err((read, why)) => {
            record(
                r,
                actions,
                f,
                REASSIGN_VERIFY,
                ActionOutcome::Failed,
                read,
                Some(why.clone()),
            );
            (
                FixOutcome::Failed(format!("reassignment {how}, but {why}")),
                read,
                Some(why),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "b0000000-0000-4000-8000-000000000001";
    const FROM: &str = "b0000000-0000-4000-8000-000000000002";
    const ARCHIVE: &str = "b0000000-0000-4000-8000-000000000003";

    fn user(id: &str, status: i64, flags: &[&str]) -> User {
        let mut v = serde_json::json!({"id": id, "status": status, "isVisitor": false});
        for f in flags {
            v[*f] = serde_json::Value::Bool(true);
        }
        if flags.contains(&"isVisitor") {
            v["isVisitor"] = true.into();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn precondition_table() {
        let admin_key = user(KEY, 1, &["isAdmin"]);
        let owner_key = user(KEY, 1, &["isOwner"]);
        let room_admin_key = user(KEY, 1, &["isRoomAdmin"]);
        let owner_ok = user(ARCHIVE, 1, &["isRoomAdmin"]);
        let owner_admin = user(ARCHIVE, 1, &["isAdmin"]);
        let owner_disabled = user(ARCHIVE, 2, &["isAdmin"]);
        let owner_plain = user(ARCHIVE, 1, &["isCollaborator"]);
        let owner_guest = user(ARCHIVE, 1, &["isVisitor"]);
        let from = user(FROM, 2, &[]);
        let from_active = user(FROM, 1, &[]);
        let from_admin = user(FROM, 2, &["isAdmin"]);
        let from_is_key = user(KEY, 2, &[]);
        let from_is_owner = user(ARCHIVE, 2, &[]);
        let portal_owner = user(FROM, 2, &["isOwner"]);
        use Precondition::*;
        type Case<'a> = (
            &'a str,
            &'a User,
            &'a User,
            &'a User,
            Result<(), Precondition>,
        );
        let table: Vec<Case> = vec![
            ("all good", &from, &owner_ok, &admin_key, Ok(())),
            (
                "docspace admin target",
                &from,
                &owner_admin,
                &admin_key,
                Ok(()),
            ),
            (
                "key is a room admin",
                &from,
                &owner_ok,
                &room_admin_key,
                Err(KeyNotAdmin),
            ),
            (
                "archive owner disabled",
                &from,
                &owner_disabled,
                &admin_key,
                Err(OwnerNotActive("Terminated".into())),
            ),
            (
                "archive owner a plain user",
                &from,
                &owner_plain,
                &admin_key,
                Err(OwnerWrongType("User".into())),
            ),
            (
                "archive owner a guest",
                &from,
                &owner_guest,
                &admin_key,
                Err(OwnerWrongType("Guest".into())),
            ),
            (
                "user enabled again",
                &from_active,
                &owner_ok,
                &admin_key,
                Err(FromNotDisabled),
            ),
            (
                "the portal owner",
                &portal_owner,
                &owner_ok,
                &admin_key,
                Err(FromIsPortalOwner),
            ),
            (
                "the key's user",
                &from_is_key,
                &owner_ok,
                &admin_key,
                Err(FromIsKeyUser),
            ),
            (
                "disabled admin, key not owner",
                &from_admin,
                &owner_ok,
                &admin_key,
                Err(AdminNeedsPortalOwner),
            ),
            (
                "disabled admin, key is owner",
                &from_admin,
                &owner_ok,
                &owner_key,
                Ok(()),
            ),
        ];
        for (name, from, owner, key, expected) in table {
            assert_eq!(preconditions(from, owner, key), expected, "{name}");
        }
        // Checked in order: a disabled archive owner who is also the user is
        // reported as the owner problem.
        assert_eq!(
            preconditions(&from_is_owner, &owner_disabled, &admin_key),
            Err(OwnerNotActive("Terminated".into()))
        );
        assert!(AdminNeedsPortalOwner.to_string().contains("portal owner"));
    }

    #[test]
    fn progress_notes_and_ends() {
        let t = |json: serde_json::Value| -> TaskProgress { serde_json::from_value(json).unwrap() };
        let running =
            t(serde_json::json!({"id":"1_x","percentage":40,"isCompleted":false,"status":1}));
        assert_eq!(note(&running), "40% (running)");
        assert!(terminal(&running).is_none());
        assert_eq!(outcome_of(&running), ActionOutcome::InProgress);
        let done =
            t(serde_json::json!({"id":"1_x","percentage":100,"isCompleted":true,"status":2}));
        assert!(matches!(terminal(&done), Some(End::Completed(_))));
        assert_eq!(outcome_of(&done), ActionOutcome::Done);
        let failed = t(
            serde_json::json!({"id":"1_x","percentage":30,"isCompleted":true,"status":4,"error":"storage down"}),
        );
        assert_eq!(note(&failed), "30% (failed): storage down");
        assert!(matches!(terminal(&failed), Some(End::Failed(_))));
        let canceled = t(serde_json::json!({"percentage":10,"isCompleted":true,"status":3}));
        assert!(matches!(terminal(&canceled), Some(End::Canceled(_))));
        let completed_without_status = t(serde_json::json!({"percentage":100,"isCompleted":true}));
        assert!(matches!(
            terminal(&completed_without_status),
            Some(End::Completed(_))
        ));
    }
}
