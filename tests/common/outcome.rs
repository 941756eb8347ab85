//! Builds `RunOutcome` values by hand, with their report files, and records
//! them in the state store the way an audit run does, so notification
//! tests can run without a portal.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use docspace_auditor::api::{Guid, RoomId};
use docspace_auditor::audit::{RunOutcome, RunResult};
use docspace_auditor::check::CheckId;
use docspace_auditor::finding::{
    ActionOutcome, ActionRecord, Finding, FindingStatus, RoomInfo, RoomState, Severity, Subject,
    SubjectKind,
};
use docspace_auditor::report::ReportWriter;
use docspace_auditor::state::StateStore;

/// An archived room owned by an active owner with this email.
pub fn room(id: i64, title: &str, owner_email: Option<&str>) -> RoomInfo {
    RoomInfo {
        id: RoomId::Native(id),
        title: title.to_string(),
        state: RoomState::Archived,
        owner_id: Some(Guid::new(format!("0f8b5c1e-0000-4000-8000-{id:012}"))),
        owner_name: Some(format!("Owner {id}")),
        owner_email: owner_email.map(str::to_string),
        owner_active: Some(true),
        archived_since: None,
    }
}

/// A guest still in an archived room.
pub fn guest(room: &RoomInfo, id: &str, status: FindingStatus) -> Finding {
    Finding {
        check: CheckId::ArchivedRoomGuests,
        severity: Severity::High,
        room: Some(room.clone()),
        subject: Subject {
            kind: SubjectKind::User,
            id: id.to_string(),
            name: format!("Guest {id}"),
            email: Some(format!("{id}@partner.example")),
        },
        access: Some("read".into()),
        status,
        detail: String::new(),
    }
}

/// An external link still on an archived room.
pub fn link(room: &RoomInfo, id: &str, status: FindingStatus) -> Finding {
    Finding {
        check: CheckId::ArchivedRoomLinks,
        severity: Severity::Medium,
        room: Some(room.clone()),
        subject: Subject {
            kind: SubjectKind::Link,
            id: id.to_string(),
            name: format!("Link {id}"),
            email: None,
        },
        access: Some("read".into()),
        status,
        detail: String::new(),
    }
}

/// The action record the remediator writes for a finding.
pub fn action_for(
    f: &Finding,
    action: &str,
    outcome: ActionOutcome,
    at: DateTime<Utc>,
) -> ActionRecord {
    ActionRecord {
        time: at,
        check: f.check,
        room_id: f.room.as_ref().map(|r| r.id.clone()),
        subject: format!(
            "{}:{} ({})",
            f.subject.kind.as_str(),
            f.subject.id,
            f.subject.name
        ),
        action: action.to_string(),
        dry_run: outcome == ActionOutcome::Planned,
        outcome,
        verified: outcome == ActionOutcome::Done,
        error: None,
    }
}

pub struct OutcomeBuilder {
    outcome: RunOutcome,
}

impl OutcomeBuilder {
    /// A finished run at `at` whose report folder is `<reports_root>/<run_id>`.
    pub fn new(run_id: &str, at: DateTime<Utc>, reports_root: &Path) -> OutcomeBuilder {
        OutcomeBuilder {
            outcome: RunOutcome {
                run_id: run_id.to_string(),
                started: at,
                finished: at,
                report_dir: reports_root.join(run_id),
                findings: Vec::new(),
                actions: Vec::new(),
                checks_run: vec![CheckId::ArchivedRoomGuests, CheckId::ArchivedRoomLinks],
                rooms_audited: 0,
                rooms_failed: 0,
                warnings: Vec::new(),
                dry_run: false,
                result: RunResult::Clean,
                key_user: None,
            },
        }
    }

    pub fn finding(mut self, f: Finding) -> Self {
        self.outcome.findings.push(f);
        self
    }

    pub fn findings(mut self, fs: impl IntoIterator<Item = Finding>) -> Self {
        self.outcome.findings.extend(fs);
        self
    }

    pub fn action(mut self, a: ActionRecord) -> Self {
        self.outcome.actions.push(a);
        self
    }

    pub fn dry_run(mut self, yes: bool) -> Self {
        self.outcome.dry_run = yes;
        self
    }

    pub fn warning(mut self, w: &str) -> Self {
        self.outcome.warnings.push(w.to_string());
        self
    }

    /// Fills the derived fields and writes `findings.csv` and `actions.csv`
    /// with the real report writer.
    pub fn build(mut self) -> RunOutcome {
        let o = &mut self.outcome;
        let rooms: HashSet<String> = o
            .findings
            .iter()
            .filter_map(|f| f.room.as_ref().map(|r| r.id.to_string()))
            .collect();
        o.rooms_audited = rooms.len();
        o.rooms_failed = o
            .findings
            .iter()
            .filter(|f| f.check == CheckId::RoomAudit)
            .count();
        o.result = if o.findings.iter().any(|f| f.status.needs_attention()) {
            RunResult::Attention
        } else {
            RunResult::Clean
        };
        std::fs::create_dir_all(&o.report_dir).unwrap();
        let w = ReportWriter::open(o.report_dir.clone(), &o.run_id);
        w.write_findings(&o.findings, o.finished).unwrap();
        w.write_actions(&o.actions).unwrap();
        self.outcome
    }
}

/// Records the run's findings in the state store as the audit run does
/// before notifications.
pub fn record(state: &StateStore, o: &RunOutcome) {
    let unaudited: HashSet<String> = o
        .findings
        .iter()
        .filter(|f| f.check == CheckId::RoomAudit)
        .filter_map(|f| f.room.as_ref().map(|r| r.id.to_string()))
        .collect();
    state
        .record_findings(
            &o.run_id,
            o.finished,
            &o.findings,
            &o.checks_run,
            &unaudited,
            &[],
        )
        .unwrap();
}

/// The report folder root inside a temp dir.
pub fn reports_root(dir: &Path) -> PathBuf {
    dir.join("reports")
}
