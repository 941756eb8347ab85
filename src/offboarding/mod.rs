//! Offboarding checks (scaffold: being implemented for issue 3).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::api::wire::User;
use crate::api::{ApiError, DocSpaceClient, UserId};
use crate::check::{CheckId, Proposal};
use crate::config::Config;
use crate::finding::{ActionRecord, Finding};
use crate::remediate::{FixOutcome, PlannedFix, Remediator};
use crate::report::AuditEventRow;
use crate::state::StateStore;

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

/// Scans users for the enabled offboarding checks. `Err` only for failures
/// of the whole run (401).
pub async fn scan(
    _client: &DocSpaceClient,
    _config: &Config,
    _state: &StateStore,
    _checks: &[CheckId],
    _only_user: Option<&UserId>,
    _key_user: &User,
    _now: DateTime<Utc>,
) -> Result<OffboardingScan, ApiError> {
    Ok(OffboardingScan::default())
}

/// Applies the approved user-level fixes (reassign, detach, delete).
pub async fn remediate(
    _remediator: &Remediator<'_>,
    _config: &Config,
    fixes: Vec<PlannedFix>,
    _actions: &mut Vec<ActionRecord>,
) -> Vec<(usize, FixOutcome)> {
    fixes
        .into_iter()
        .map(|f| (f.finding, FixOutcome::Failed("not implemented".into())))
        .collect()
}
