//! Offboarding compliance: the user-based checks (`disabled-user-content`,
//! `disabled-user-access`, `orphaned-guests`), the audit-trail evidence for
//! disabled users, and the user-level remediation (reassignment, guest
//! detach/delete).
//!
//! [`scan`] only reads the portal: it turns users into [`Proposal`]s and
//! evidence rows; the audit run applies policy. [`remediate`] acts on the
//! approved fixes that touch no room (room fixes such as removing a disabled
//! user from a room go through [`crate::remediate`]). Neither writes a
//! report: the run does.
//!
//! Submodules: the pure deciders (`disabled_user_content`,
//! `disabled_user_access`, `orphaned_guests`), the audit-trail reader
//! (`evidence`), and the actors (`reassign`, `guest_removal`).

mod disabled_user_access;
mod disabled_user_content;
mod evidence;
mod guest_removal;
mod orphaned_guests;
mod reassign;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::api::wire::{EmployeeType, Room, User};
use crate::api::{ApiError, DocSpaceClient, PeopleQuery, RoomQuery, SearchArea, UserId};
use crate::check::{CheckId, Fix, Proposal};
use crate::config::{Config, Mode};
use crate::finding::{
    ActionOutcome, ActionRecord, Finding, FindingStatus, Severity, Subject, SubjectKind,
};
use crate::remediate::{FixOutcome, PlannedFix, Remediator};
use crate::report::AuditEventRow;
use crate::state::StateStore;

pub use reassign::{Precondition, preconditions};

/// Action names written to `actions.csv` by this module.
pub mod actions {
    /// The reassignment was started (or refused before any call).
    pub const REASSIGN_START: &str = "reassign-start";
    /// A reassignment already running for the user was found and followed.
    pub const REASSIGN_FOLLOW: &str = "reassign-follow";
    /// One observed progress step (percentage and status in the note).
    pub const REASSIGN_PROGRESS: &str = "reassign-progress";
    /// How the task ended: completed, failed, canceled, timed out.
    pub const REASSIGN_FINISH: &str = "reassign-finish";
    /// The read-back: `reassign/necessary` false and no archived rooms owned.
    pub const REASSIGN_VERIFY: &str = "reassign-verify";
    /// `PUT people/status/2` for a guest about to be deleted.
    pub const DISABLE_GUEST: &str = "disable-guest";
    /// `PUT people/delete`, verified by the account being gone.
    pub const DELETE_GUEST: &str = "delete-guest";
    /// `DELETE people/guests` (the key user's guest list only).
    pub const DETACH_GUEST: &str = "detach-guest";
}

/// What the user-based scan found.
#[derive(Debug, Default)]
pub struct OffboardingScan {
    pub proposals: Vec<Proposal>,
    /// Users (or rooms) that could not be audited.
    pub failures: Vec<Finding>,
    pub audit_events: Vec<AuditEventRow>,
    pub warnings: Vec<String>,
    /// Checks that could not complete (their old findings stay open).
    pub unaudited_checks: Vec<CheckId>,
    pub users_audited: usize,
    /// Users by id, for later steps.
    pub users: HashMap<UserId, User>,
}

impl OffboardingScan {
    fn unaudited(&mut self, check: CheckId) {
        if !self.unaudited_checks.contains(&check) {
            self.unaudited_checks.push(check);
        }
    }
}

/// Which parts of the scan run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    content: bool,
    access: bool,
    orphans: bool,
    key_is_owner: bool,
    /// The audit-trail window, when evidence is collected.
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Everything read about one disabled user.
struct DisabledFacts {
    user: User,
    /// `None`: not asked (check off, or a DocSpace admin that only the
    /// portal owner may ask about).
    necessary: Option<Result<bool, ApiError>>,
    archived_owned: Option<Result<Vec<Room>, ApiError>>,
    active_rooms: Option<Result<Vec<Room>, ApiError>>,
    evidence: Option<evidence::UserEvidence>,
}

/// Everything read about one active guest.
struct GuestFacts {
    user: User,
    active_rooms: Result<i64, ApiError>,
    /// Only asked for orphans, for the detail.
    archived_rooms: Option<Result<i64, ApiError>>,
}

/// Scans users for the enabled offboarding checks. `Err` only for failures
/// of the whole run (401).
pub async fn scan(
    client: &DocSpaceClient,
    config: &Config,
    state: &StateStore,
    checks: &[CheckId],
    only_user: Option<&UserId>,
    key_user: &User,
    now: DateTime<Utc>,
) -> Result<OffboardingScan, ApiError> {
    let mut out = OffboardingScan::default();
    let lookback = config.archive.audit_lookback_days;
    let plan = Plan {
        content: checks.contains(&CheckId::DisabledUserContent),
        access: checks.contains(&CheckId::DisabledUserAccess),
        orphans: checks.contains(&CheckId::OrphanedGuests),
        key_is_owner: key_user.is_owner,
        window: (lookback > 0).then(|| (now - chrono::Duration::days(i64::from(lookback)), now)),
    };
    if !(plan.content || plan.access || plan.orphans) {
        return Ok(out);
    }
    // Terminated users are visible only to DocSpace admins, and a room
    // admin's room counts see only that admin's rooms: every guest would
    // look orphaned. Nothing here can be trusted without an admin key.
    if !(key_user.is_admin || key_user.is_owner) {
        out.warnings.push(
            "offboarding checks did not run: the API key's user is not a DocSpace admin (disabled users are invisible to it and guests' rooms cannot be counted)".into(),
        );
        for c in checks {
            out.unaudited(*c);
        }
        return Ok(out);
    }

    let (disabled, guests) = load_users(client, &plan, only_user, &mut out).await?;
    let concurrency = config.portal.max_concurrency.max(1);

    // ---- disabled users -----------------------------------------------------
    let gathered: Vec<Result<DisabledFacts, ApiError>> = futures_util::stream::iter(disabled)
        .map(|u| gather_disabled(client, u, plan))
        .buffered(concurrency)
        .collect()
        .await;
    let mut facts = Vec::with_capacity(gathered.len());
    for g in gathered {
        facts.push(g?);
    }
    let trail = plan.window.map(|(from, to)| {
        evidence::assess(
            facts
                .iter()
                .filter_map(|f| f.evidence.as_ref().map(|e| (&f.user.id, e))),
            from,
            to,
        )
    });
    if let Some(t) = &trail {
        out.warnings.extend(t.warnings.iter().cloned());
    }
    let drift_on = config.policy.check(CheckId::ArchiveAccessDrift).mode != Mode::Off;
    // Recorded for every disabled user, so the memory starts as early as
    // possible even when a better date exists today (one transaction).
    let ids: Vec<String> = facts
        .iter()
        .map(|f| f.user.id.as_str().to_string())
        .collect();
    let first_seen = state.users_first_seen_disabled(&ids, now).ok();
    for f in facts {
        out.users_audited += 1;
        let user = &f.user;
        let status_change = match (&trail, &f.evidence) {
            (Some(t), Some(e)) if t.usable => evidence::last_status_change(e, &user.id),
            _ => None,
        };
        let first_seen = first_seen
            .as_ref()
            .and_then(|m| m.get(user.id.as_str()).copied());
        let grace_since = user.terminated.or(status_change).or(first_seen);
        if let (Some(t), Some(e)) = (&trail, &f.evidence) {
            out.audit_events
                .extend(evidence::rows(user, e, t, lookback));
        }
        if plan.content {
            content_findings(&mut out, &f, config, plan, grace_since);
        }
        if plan.access {
            match &f.active_rooms {
                Some(Ok(rooms)) => out.proposals.extend(disabled_user_access::proposals(
                    user,
                    rooms,
                    &config.archive.designated_rooms,
                    drift_on,
                    grace_since,
                )),
                Some(Err(e)) => {
                    out.failures.push(user_failure(
                        CheckId::DisabledUserAccess,
                        user,
                        &format!("the user's active rooms could not be listed: {e}"),
                    ));
                    out.unaudited(CheckId::DisabledUserAccess);
                }
                None => {}
            }
        }
        out.users.insert(user.id.clone(), f.user);
    }

    // ---- guests ---------------------------------------------------------------
    if plan.orphans {
        let action = config.policy.check(CheckId::OrphanedGuests).guest_action;
        let gathered: Vec<Result<GuestFacts, ApiError>> = futures_util::stream::iter(guests)
            .map(|u| gather_guest(client, u))
            .buffered(concurrency)
            .collect()
            .await;
        for g in gathered {
            let g = g?;
            out.users_audited += 1;
            match &g.active_rooms {
                Ok(0) => {
                    let archived = g
                        .archived_rooms
                        .as_ref()
                        .and_then(|r| r.as_ref().ok().copied());
                    out.proposals
                        .push(orphaned_guests::proposal(&g.user, archived, action));
                }
                // A guest still in an active room is kept.
                Ok(_) => {}
                Err(e) => {
                    out.failures.push(user_failure(
                        CheckId::OrphanedGuests,
                        &g.user,
                        &format!("the guest's active rooms could not be counted: {e}"),
                    ));
                    out.unaudited(CheckId::OrphanedGuests);
                }
            }
            out.users.insert(g.user.id.clone(), g.user);
        }
    }
    tracing::debug!(
        users = out.users_audited,
        proposals = out.proposals.len(),
        failures = out.failures.len(),
        "offboarding scan finished"
    );
    Ok(out)
}

/// The disabled users and active guests to audit: everyone, or the one user
/// a request names.
async fn load_users(
    client: &DocSpaceClient,
    plan: &Plan,
    only_user: Option<&UserId>,
    out: &mut OffboardingScan,
) -> Result<(Vec<User>, Vec<User>), ApiError> {
    let wants_disabled = plan.content || plan.access;
    let disabled_checks = [
        (CheckId::DisabledUserContent, plan.content),
        (CheckId::DisabledUserAccess, plan.access),
    ]
    .into_iter()
    .filter_map(|(c, on)| on.then_some(c))
    .collect::<Vec<_>>();
    if let Some(id) = only_user {
        return match client.user(id).await {
            Ok(u) => {
                let disabled = (wants_disabled && u.is_terminated()).then(|| u.clone());
                let guest = (plan.orphans && is_active_guest(&u)).then_some(u);
                Ok((disabled.into_iter().collect(), guest.into_iter().collect()))
            }
            Err(e) if e.is_fatal_for_run() => Err(e),
            Err(e) => {
                out.failures
                    .push(list_failure(&format!("user {id} could not be read: {e}")));
                for c in disabled_checks {
                    out.unaudited(c);
                }
                if plan.orphans {
                    out.unaudited(CheckId::OrphanedGuests);
                }
                Ok((Vec::new(), Vec::new()))
            }
        };
    }
    let mut disabled = Vec::new();
    if wants_disabled {
        match client
            .people(&PeopleQuery {
                status: Some(2),
                employee_type: None,
            })
            .await
        {
            Ok(list) => disabled = list.into_iter().filter(User::is_terminated).collect(),
            Err(e) if e.is_fatal_for_run() => return Err(e),
            Err(e) => {
                out.failures.push(list_failure(&format!(
                    "disabled users could not be listed: {e}"
                )));
                for c in disabled_checks {
                    out.unaudited(c);
                }
            }
        }
    }
    let mut guests = Vec::new();
    if plan.orphans {
        match client
            .people(&PeopleQuery {
                status: Some(1),
                employee_type: Some(2),
            })
            .await
        {
            Ok(list) => guests = list.into_iter().filter(is_active_guest).collect(),
            Err(e) if e.is_fatal_for_run() => return Err(e),
            Err(e) => {
                out.failures
                    .push(list_failure(&format!("guests could not be listed: {e}")));
                out.unaudited(CheckId::OrphanedGuests);
            }
        }
    }
    Ok((disabled, guests))
}

fn is_active_guest(u: &User) -> bool {
    u.is_active() && u.employee_type() == Some(EmployeeType::Guest)
}

/// Turns an error that ends the run into `Err`, keeps the others.
fn fatal<T>(r: Result<T, ApiError>) -> Result<Result<T, ApiError>, ApiError> {
    match r {
        Err(e) if e.is_fatal_for_run() => Err(e),
        other => Ok(other),
    }
}

fn fatal_opt<T>(r: Option<Result<T, ApiError>>) -> Result<Option<Result<T, ApiError>>, ApiError> {
    r.map(fatal).transpose()
}

async fn gather_disabled(
    client: &DocSpaceClient,
    user: User,
    plan: Plan,
) -> Result<DisabledFacts, ApiError> {
    let kind = real_type(&user);
    // Asking about a DocSpace admin is refused (403) unless the key is the
    // portal owner's (API-NOTES §9): do not collect a known 403.
    let ask_necessary = plan.content && (kind != EmployeeType::DocSpaceAdmin || plan.key_is_owner);
    let id = user.id.clone();
    let necessary = async {
        if ask_necessary {
            Some(client.reassign_necessary(&id, kind).await)
        } else {
            None
        }
    };
    // reassign/necessary ignores the Archive (API-NOTES §0.6), so archived
    // rooms the user owns are listed separately.
    let archived = async {
        if plan.content {
            Some(
                client
                    .rooms(&RoomQuery {
                        area: SearchArea::Archive,
                        subject_id: None,
                        owner_id: Some(id.clone()),
                    })
                    .await,
            )
        } else {
            None
        }
    };
    let active = async {
        if plan.access {
            Some(
                client
                    .rooms(&RoomQuery {
                        area: SearchArea::Active,
                        subject_id: Some(id.clone()),
                        owner_id: None,
                    })
                    .await,
            )
        } else {
            None
        }
    };
    let trail = async {
        match plan.window {
            Some((from, to)) => Some(evidence::fetch(client, &id, from, to).await),
            None => None,
        }
    };
    let (necessary, archived, active, trail) = tokio::join!(necessary, archived, active, trail);
    let trail = match trail {
        Some(t) => Some(t.fatal()?),
        None => None,
    };
    Ok(DisabledFacts {
        necessary: fatal_opt(necessary)?,
        archived_owned: fatal_opt(archived)?,
        active_rooms: fatal_opt(active)?,
        evidence: trail,
        user,
    })
}

async fn gather_guest(client: &DocSpaceClient, user: User) -> Result<GuestFacts, ApiError> {
    let active = fatal(
        client
            .room_count(&RoomQuery {
                area: SearchArea::Active,
                subject_id: Some(user.id.clone()),
                owner_id: None,
            })
            .await,
    )?;
    let archived = if matches!(active, Ok(0)) {
        Some(fatal(
            client
                .room_count(&RoomQuery {
                    area: SearchArea::Archive,
                    subject_id: Some(user.id.clone()),
                    owner_id: None,
                })
                .await,
        )?)
    } else {
        None
    };
    Ok(GuestFacts {
        user,
        active_rooms: active,
        archived_rooms: archived,
    })
}

/// The type to send to `reassign/necessary`: the user's real one (the
/// default, 0, skips the checks that depend on it). A user whose flags say
/// nothing is treated as a regular user.
fn real_type(user: &User) -> EmployeeType {
    user.employee_type().unwrap_or(EmployeeType::User)
}

fn content_findings(
    out: &mut OffboardingScan,
    f: &DisabledFacts,
    config: &Config,
    plan: Plan,
    grace_since: Option<DateTime<Utc>>,
) {
    let user = &f.user;
    let necessary = match &f.necessary {
        Some(Ok(b)) => Some(*b),
        Some(Err(e)) => {
            out.failures.push(user_failure(
                CheckId::DisabledUserContent,
                user,
                &format!("reassign/necessary could not be read: {e}"),
            ));
            out.unaudited(CheckId::DisabledUserContent);
            return;
        }
        None => None,
    };
    let archived: &[Room] = match &f.archived_owned {
        Some(Ok(rooms)) => rooms,
        Some(Err(e)) => {
            out.failures.push(user_failure(
                CheckId::DisabledUserContent,
                user,
                &format!("archived rooms owned by the user could not be listed: {e}"),
            ));
            out.unaudited(CheckId::DisabledUserContent);
            return;
        }
        None => &[],
    };
    let facts = disabled_user_content::ContentFacts {
        user,
        necessary,
        archived_owned: archived,
        key_is_owner: plan.key_is_owner,
    };
    if let Some(p) =
        disabled_user_content::proposal(&facts, config.archive.owner_id.as_ref(), grace_since)
    {
        out.proposals.push(p);
    }
}

fn user_subject(user: &User) -> Subject {
    Subject {
        kind: SubjectKind::User,
        id: user.id.to_string(),
        name: user.name(),
        email: user.email.clone(),
    }
}

/// A user who could not be audited. Written under `room-audit` (the "could
/// not audit" check) so it never stands in for a real finding's history;
/// the check is marked unaudited so its earlier findings stay open.
fn user_failure(check: CheckId, user: &User, why: &str) -> Finding {
    Finding {
        check: CheckId::RoomAudit,
        severity: Severity::High,
        room: None,
        subject: user_subject(user),
        access: None,
        status: FindingStatus::Failed,
        detail: format!("{check}: user could not be audited: {why}"),
    }
}

fn list_failure(why: &str) -> Finding {
    Finding {
        check: CheckId::RoomAudit,
        severity: Severity::High,
        room: None,
        subject: Subject {
            kind: SubjectKind::User,
            id: String::new(),
            name: "(user list)".into(),
            email: None,
        },
        access: None,
        status: FindingStatus::Failed,
        detail: format!("offboarding checks: {why}"),
    }
}

/// Applies the approved user-level fixes (reassign, detach, delete).
/// Reassignments run one after another (each is a heavy job on the portal);
/// guests are handled in batches.
pub async fn remediate(
    remediator: &Remediator<'_>,
    config: &Config,
    fixes: Vec<PlannedFix>,
    actions: &mut Vec<ActionRecord>,
) -> Vec<(usize, FixOutcome)> {
    let mut out = Vec::new();
    let mut reassigns = Vec::new();
    let mut guests = Vec::new();
    for f in fixes {
        match &f.fix {
            Fix::Reassign { .. } => reassigns.push(f),
            Fix::DetachGuest { .. } | Fix::DeleteGuest { .. } => guests.push(f),
            other => {
                let why = format!("{} is not a user-level fix", other.action_name());
                record(
                    remediator,
                    actions,
                    &f,
                    other.action_name(),
                    ActionOutcome::Failed,
                    false,
                    Some(why.clone()),
                );
                out.push((f.finding, FixOutcome::Failed(why)));
            }
        }
    }
    if !reassigns.is_empty() {
        out.extend(reassign::run(remediator, config, reassigns, actions).await);
    }
    if !guests.is_empty() {
        out.extend(guest_removal::run(remediator, guests, actions).await);
    }
    out
}

/// One line of `actions.csv` for a user-level step. The `error` column
/// carries the note (percentage, status, why), as recovery rows do.
fn record(
    r: &Remediator<'_>,
    actions: &mut Vec<ActionRecord>,
    fix: &PlannedFix,
    action: &str,
    outcome: ActionOutcome,
    verified: bool,
    note: Option<String>,
) {
    actions.push(ActionRecord {
        time: r.clock.now(),
        check: fix.check,
        room_id: None,
        subject: fix.subject.clone(),
        action: action.to_string(),
        dry_run: false,
        outcome,
        verified,
        error: note.map(|n| crate::report::safe::one_line(&n, 500)),
    });
}
