//! Findings and actions: the data every check produces and every report and
//! message consumes. A violation is a [`Finding`]; a room that could not be
//! audited is a finding too (status `failed`, with the reason). Only a
//! failure of the whole run is an error.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{RoomId, UserId};
use crate::check::CheckId;

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What the run decided or did about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    /// Still there: report mode, dry-run, or not removable.
    Open,
    /// Covered by an exemption that has not expired.
    Exempt,
    /// Younger than the check's grace period.
    InGrace,
    /// Remediated and verified by reading back.
    Fixed,
    /// Remediation or auditing failed; the detail says why.
    Failed,
    /// Would have been remediated, but the run's change cap was reached.
    SkippedByCap,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Exempt => "exempt",
            FindingStatus::InGrace => "in-grace",
            FindingStatus::Fixed => "fixed",
            FindingStatus::Failed => "failed",
            FindingStatus::SkippedByCap => "skipped-by-cap",
        }
    }

    pub fn parse(text: &str) -> Option<FindingStatus> {
        [
            FindingStatus::Open,
            FindingStatus::Exempt,
            FindingStatus::InGrace,
            FindingStatus::Fixed,
            FindingStatus::Failed,
            FindingStatus::SkippedByCap,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Open and failed findings make a run's exit code 3; skipped-by-cap
    /// ones are still open access, so they count too.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            FindingStatus::Open | FindingStatus::Failed | FindingStatus::SkippedByCap
        )
    }
}

impl fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a room sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoomState {
    /// In DocSpace's Archive section.
    Archived,
    /// An active room designated as archive storage.
    ActiveArchive,
    /// An ordinary active room.
    Active,
}

impl RoomState {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Archived => "archived",
            RoomState::ActiveArchive => "active-archive",
            RoomState::Active => "active",
        }
    }
}

/// The room a finding is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub id: RoomId,
    pub title: String,
    pub state: RoomState,
    pub owner_id: Option<UserId>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    /// False when the owner is disabled or gone (mail goes to the fallback).
    pub owner_active: Option<bool>,
    pub archived_since: Option<DateTime<Utc>>,
}

/// What kind of thing holds the access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectKind {
    User,
    Group,
    Link,
    Room,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Group => "group",
            SubjectKind::Link => "link",
            SubjectKind::Room => "room",
        }
    }
}

/// Who or what holds the access. For links only the id and title are kept:
/// the URL and password are credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

/// One finding of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: CheckId,
    pub severity: Severity,
    pub room: Option<RoomInfo>,
    pub subject: Subject,
    /// The access level as a report word (`read`, `editing`, …).
    pub access: Option<String>,
    pub status: FindingStatus,
    pub detail: String,
}

impl Finding {
    /// The stable identity of a finding across runs: check + room + subject.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.check.name(),
            self.room
                .as_ref()
                .map(|r| r.id.to_string())
                .unwrap_or_default(),
            self.subject.id.to_ascii_lowercase()
        )
    }
}

/// The outcome of one remediation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionOutcome {
    /// Dry-run: what would have been done.
    Planned,
    Done,
    Failed,
    /// The server skipped it or it was not attempted.
    Skipped,
    /// A step of a long-running operation (reassignment progress).
    InProgress,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Planned => "planned",
            ActionOutcome::Done => "done",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Skipped => "skipped",
            ActionOutcome::InProgress => "in-progress",
        }
    }
}

/// One line of `actions.csv`: a step taken (or planned) on the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub time: DateTime<Utc>,
    pub check: CheckId,
    pub room_id: Option<RoomId>,
    /// The subject acted on, as `kind:id (name)`.
    pub subject: String,
    /// What was done: `remove-member`, `revoke-link`, `unarchive`, …
    pub action: String,
    pub dry_run: bool,
    pub outcome: ActionOutcome,
    pub verified: bool,
    pub error: Option<String>,
}
