//! Composing messages: turns findings into the template contexts (digest,
//! summary, escalation) and the contexts into finished RFC 5322 bytes with
//! lettre's builder. It decides nothing about *whether* to mail (that is
//! `decide`) and sends nothing.
//!
//! Safety: every text that comes from the portal (titles, names, emails,
//! details) goes through [`clean`] before it reaches a template, and every
//! header value (subject, display names) through [`header_text`], so CR, LF
//! and other control characters can never start a header. Addresses are
//! parsed by lettre and the envelope is built from the validated addresses
//! only, never from rendered text. lettre encodes non-ASCII subjects and
//! names (RFC 2047) and picks the body transfer encoding.

use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::decide::Reason;
use crate::api::RoomId;
use crate::finding::{ActionOutcome, ActionRecord, Finding, FindingStatus, SubjectKind};
use crate::report::safe::one_line;

/// The longest subject line kept (before encoding).
const MAX_SUBJECT_CHARS: usize = 200;
/// How many findings the summary lists by name; the rest are in the CSV.
pub const TOP_FINDINGS: usize = 20;
/// How many failure lines the summary lists.
const MAX_FAILURE_LINES: usize = 50;

/// Portal text made safe for a message body: control and bidi characters
/// replaced, length capped.
pub fn clean(text: &str, max: usize) -> String {
    one_line(text, max).trim().to_string()
}

/// Text made safe for a header value: one line, no control characters,
/// runs of spaces collapsed (CR LF become spaces, never a line break).
pub fn header_text(text: &str, max: usize) -> String {
    one_line(text, max)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A stable Message-ID: the same run, kind, recipients and content give
/// the same id, so queuing the same message twice is a no-op.
pub fn message_id(parts: &[&str], from_domain: &str) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}.docspace-auditor@{from_domain}>")
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

// ---- what was done ------------------------------------------------------------

fn verb(action: &str) -> &'static str {
    match action {
        "remove-member" => "removed",
        "revoke-link" => "revoked",
        "add-member" => "added",
        "detach-guest" => "detached",
        "delete-guest" => "deleted",
        a if a.starts_with("reassign") => "reassigned",
        _ => "changed",
    }
}

fn default_verb(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Link => "revoked",
        SubjectKind::User | SubjectKind::Group => "removed",
        SubjectKind::Room => "fixed",
    }
}

/// The action records about this finding's subject in its room.
fn actions_for<'a>(
    f: &Finding,
    actions: &'a [ActionRecord],
) -> impl Iterator<Item = &'a ActionRecord> {
    let label = format!("{}:{}", f.subject.kind.as_str(), f.subject.id);
    let room = f.room.as_ref().map(|r| r.id.clone());
    let check = f.check;
    actions.iter().filter(move |a| {
        let subject = a.subject.split(' ').next().unwrap_or("");
        a.check == check && a.room_id == room && subject.eq_ignore_ascii_case(&label)
    })
}

/// What was done about a finding, in the words of the messages.
pub fn outcome_text(f: &Finding, actions: &[ActionRecord], dry_run: bool) -> String {
    let mine: Vec<&ActionRecord> = actions_for(f, actions).collect();
    let last_with = |o: ActionOutcome| {
        mine.iter()
            .rev()
            .find(|a| a.outcome == o)
            .map(|a| verb(&a.action))
    };
    match f.status {
        FindingStatus::Fixed => {
            let v = last_with(ActionOutcome::Done).unwrap_or(default_verb(f.subject.kind));
            format!("{v} (done and verified)")
        }
        FindingStatus::Open => match last_with(ActionOutcome::Planned) {
            Some(v) => format!("pending: dry run, would be {v}"),
            None if dry_run => "pending: dry run, nothing was changed".into(),
            None => "open: reported only, not changed automatically".into(),
        },
        FindingStatus::InGrace => "pending: within the grace period, handled when it ends".into(),
        FindingStatus::SkippedByCap => {
            "pending: this run's change limit was reached, the next run continues".into()
        }
        FindingStatus::Failed => "failed: the change could not be made (see detail)".into(),
        FindingStatus::Exempt => "exempt: covered by an exemption".into(),
    }
}

// ---- contexts -----------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct DigestItem {
    pub check: String,
    pub check_description: String,
    pub severity: String,
    pub subject_kind: String,
    pub subject_name: String,
    pub subject_email: Option<String>,
    pub access: Option<String>,
    pub status: String,
    pub outcome: String,
    pub why: String,
    pub first_seen: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestRoom {
    pub id: String,
    pub title: String,
    pub state: String,
    /// The owner as the message names them (`Ann Example <ann@…>`).
    pub owner: String,
    /// Set when this room's owner is not mailed directly.
    pub redirect_reason: Option<String>,
    pub findings: Vec<DigestItem>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DigestCounts {
    pub total: usize,
    pub new: usize,
    pub changed: usize,
    pub reminders: usize,
    pub escalated: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestCtx {
    pub run_id: String,
    pub generated_at: String,
    pub dry_run: bool,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub fallback: bool,
    pub fallback_reasons: Vec<String>,
    pub rooms: Vec<DigestRoom>,
    pub counts: DigestCounts,
    pub unchanged: usize,
}

impl DigestCtx {
    /// Adds one finding under its room (rooms keep first-seen order).
    pub fn push(
        &mut self,
        room_id: &RoomId,
        make_room: impl FnOnce() -> DigestRoom,
        item: DigestItem,
        reason: &Reason,
    ) {
        let id = clean(&room_id.to_string(), 100);
        let idx = match self.rooms.iter().position(|r| r.id == id) {
            Some(i) => i,
            None => {
                self.rooms.push(make_room());
                self.rooms.len() - 1
            }
        };
        if let Some(room) = self.rooms.get_mut(idx) {
            room.findings.push(item);
        }
        self.counts.total += 1;
        match reason {
            Reason::New | Reason::RecipientChanged => self.counts.new += 1,
            Reason::StatusChanged { .. } => self.counts.changed += 1,
            Reason::Reminder(_) => self.counts.reminders += 1,
            Reason::Escalated => self.counts.escalated += 1,
        }
    }
}

pub fn digest_item(
    f: &Finding,
    actions: &[ActionRecord],
    dry_run: bool,
    reason: &Reason,
    first_seen: Option<DateTime<Utc>>,
) -> DigestItem {
    DigestItem {
        check: f.check.name().to_string(),
        check_description: f.check.description().to_string(),
        severity: f.severity.as_str().to_string(),
        subject_kind: f.subject.kind.as_str().to_string(),
        subject_name: clean(&f.subject.name, 200),
        subject_email: f
            .subject
            .email
            .as_deref()
            .map(|e| clean(e, 254))
            .filter(|e| !e.is_empty()),
        access: f.access.as_deref().map(|a| clean(a, 50)),
        status: f.status.as_str().to_string(),
        outcome: outcome_text(f, actions, dry_run),
        why: reason.describe(),
        first_seen: first_seen.map(day),
        detail: clean(&f.detail, 500),
    }
}

/// One line about a finding for the summary and the escalation message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryItem {
    pub check: String,
    pub severity: String,
    pub status: String,
    pub room_id: Option<String>,
    pub room_title: String,
    pub subject: String,
    pub outcome: String,
    pub detail: String,
    pub first_seen: Option<String>,
    pub notified_to: Option<String>,
}

pub fn summary_item(
    f: &Finding,
    actions: &[ActionRecord],
    dry_run: bool,
    first_seen: Option<DateTime<Utc>>,
    notified_to: Option<&str>,
) -> SummaryItem {
    let subject = match &f.subject.email {
        Some(e) if !e.is_empty() => format!(
            "{} {} <{}>",
            f.subject.kind.as_str(),
            clean(&f.subject.name, 200),
            clean(e, 254)
        ),
        _ => format!(
            "{} {}",
            f.subject.kind.as_str(),
            clean(&f.subject.name, 200)
        ),
    };
    SummaryItem {
        check: f.check.name().to_string(),
        severity: f.severity.as_str().to_string(),
        status: f.status.as_str().to_string(),
        room_id: f.room.as_ref().map(|r| clean(&r.id.to_string(), 100)),
        room_title: f
            .room
            .as_ref()
            .map(|r| clean(&r.title, 200))
            .unwrap_or_default(),
        subject,
        outcome: outcome_text(f, actions, dry_run),
        detail: clean(&f.detail, 500),
        first_seen: first_seen.map(day),
        notified_to: notified_to.map(|s| clean(s, 254)),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountRow {
    pub check: String,
    pub status: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentNote {
    pub name: String,
    pub path: String,
    pub attached: bool,
    pub size: u64,
    /// Why it is not attached.
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryCtx {
    pub run_id: String,
    pub generated_at: String,
    pub started: String,
    pub finished: String,
    pub dry_run: bool,
    pub result: String,
    pub rooms_audited: usize,
    pub rooms_failed: usize,
    pub total_findings: usize,
    pub attention: usize,
    pub report_dir: String,
    pub counts: Vec<CountRow>,
    pub top: Vec<SummaryItem>,
    pub top_more: usize,
    pub failures: Vec<String>,
    pub escalations: Vec<SummaryItem>,
    pub escalate_after_reminders: u32,
    pub undeliverable: Vec<String>,
    pub invalid_addresses: Vec<String>,
    pub warnings: Vec<String>,
    pub digests: usize,
    pub backlog: usize,
    pub attachments: Vec<AttachmentNote>,
    /// The runs a scheduled summary covers, oldest first (empty when the
    /// summary is sent after each run).
    #[serde(default)]
    pub runs: Vec<RunLine>,
}

/// One run in a scheduled summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunLine {
    pub run_id: String,
    pub finished: String,
    pub result: String,
    pub rooms_audited: usize,
    pub rooms_failed: usize,
    pub total_findings: usize,
    pub attention: usize,
    pub report_dir: String,
}

impl RunLine {
    pub fn of(ctx: &SummaryCtx) -> RunLine {
        RunLine {
            run_id: ctx.run_id.clone(),
            finished: ctx.finished.clone(),
            result: ctx.result.clone(),
            rooms_audited: ctx.rooms_audited,
            rooms_failed: ctx.rooms_failed,
            total_findings: ctx.total_findings,
            attention: ctx.attention,
            report_dir: ctx.report_dir.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EscalationCtx {
    pub run_id: String,
    pub generated_at: String,
    pub report_dir: String,
    pub escalate_after_reminders: u32,
    pub escalations: Vec<SummaryItem>,
}

/// Most lines a scheduled summary lists per section gathered over several
/// runs; the rest are in the runs' reports.
const MERGED_LINES_MAX: usize = 200;

/// One summary for several held runs (oldest first, at least one). The
/// latest run gives the portal's current picture (counts, top findings,
/// result, report); escalations, failures, undeliverable owners, invalid
/// addresses and warnings are gathered from every run, each line once.
/// `None` when there is no run.
pub fn merge_summaries(
    runs: Vec<SummaryCtx>,
    generated_at: String,
    backlog: usize,
) -> Option<SummaryCtx> {
    let lines: Vec<RunLine> = runs.iter().map(RunLine::of).collect();
    let several = runs.len() > 1;
    let started = runs.first().map(|r| r.started.clone()).unwrap_or_default();
    let digests = runs.iter().map(|r| r.digests).sum();
    let mut escalations: Vec<SummaryItem> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut undeliverable: Vec<String> = Vec::new();
    let mut invalid_addresses: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut latest: Option<SummaryCtx> = None;
    for run in runs {
        let tag = |line: &str| {
            if several {
                format!("run {}: {line}", run.run_id)
            } else {
                line.to_string()
            }
        };
        for e in &run.escalations {
            // The latest word on an escalated finding wins.
            escalations.retain(|x| {
                (&x.check, &x.room_id, &x.subject) != (&e.check, &e.room_id, &e.subject)
            });
            escalations.push(e.clone());
        }
        push_unique(&mut failures, run.failures.iter().map(|f| tag(f)));
        push_unique(&mut undeliverable, run.undeliverable.iter().cloned());
        push_unique(
            &mut invalid_addresses,
            run.invalid_addresses.iter().cloned(),
        );
        push_unique(&mut warnings, run.warnings.iter().map(|w| tag(w)));
        latest = Some(run);
    }
    let mut ctx = latest?;
    for list in [&mut failures, &mut undeliverable, &mut warnings] {
        if list.len() > MERGED_LINES_MAX {
            let more = list.len() - MERGED_LINES_MAX;
            list.truncate(MERGED_LINES_MAX);
            list.push(format!("... and {more} more (see the runs' reports)"));
        }
    }
    ctx.generated_at = generated_at;
    ctx.started = started;
    ctx.escalations = escalations;
    ctx.failures = failures;
    ctx.undeliverable = undeliverable;
    ctx.invalid_addresses = invalid_addresses;
    ctx.warnings = warnings;
    ctx.digests = digests;
    ctx.backlog = backlog;
    ctx.attachments = Vec::new();
    ctx.runs = lines;
    Some(ctx)
}

/// Appends the items not in `list` yet, keeping the order of first sight.
fn push_unique(list: &mut Vec<String>, items: impl Iterator<Item = String>) {
    let mut seen: std::collections::HashSet<String> = list.iter().cloned().collect();
    for item in items {
        if seen.insert(item.clone()) {
            list.push(item);
        }
    }
}

/// The summary's failure lines: findings that failed (rooms that could not
/// be audited included) and actions that failed.
pub fn failure_lines(findings: &[Finding], actions: &[ActionRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in findings
        .iter()
        .filter(|f| f.status == FindingStatus::Failed)
    {
        let room = f
            .room
            .as_ref()
            .map(|r| {
                format!(
                    "room \"{}\" ({}), ",
                    clean(&r.title, 200),
                    clean(&r.id.to_string(), 100)
                )
            })
            .unwrap_or_default();
        let detail = clean(&f.detail, 500);
        let detail = if detail.is_empty() {
            "no detail".to_string()
        } else {
            detail
        };
        out.push(format!(
            "{}: {room}{} {}: {detail}",
            f.check.name(),
            f.subject.kind.as_str(),
            clean(&f.subject.name, 200),
        ));
    }
    for a in actions
        .iter()
        .filter(|a| a.outcome == ActionOutcome::Failed)
    {
        let room = a
            .room_id
            .as_ref()
            .map(|r| format!(" in room {}", clean(&r.to_string(), 100)))
            .unwrap_or_default();
        out.push(format!(
            "action {} on {}{room} failed: {}",
            clean(&a.action, 50),
            clean(&a.subject, 300),
            clean(a.error.as_deref().unwrap_or("no detail"), 500)
        ));
    }
    if out.len() > MAX_FAILURE_LINES {
        let more = out.len() - MAX_FAILURE_LINES;
        out.truncate(MAX_FAILURE_LINES);
        out.push(format!(
            "… and {more} more (see findings.csv and actions.csv)"
        ));
    }
    out
}

/// Reads a report file for attaching, or says why it is not attached.
pub fn attachment(dir: &Path, name: &str, max_bytes: u64) -> (AttachmentNote, Option<Vec<u8>>) {
    let path = dir.join(name);
    let mut note = AttachmentNote {
        name: name.to_string(),
        path: clean(&path.display().to_string(), 1000),
        attached: false,
        size: 0,
        note: String::new(),
    };
    match std::fs::metadata(&path) {
        Err(e) => {
            note.note = format!("not attached, cannot be read ({})", e.kind());
            (note, None)
        }
        Ok(m) if m.len() > max_bytes => {
            note.size = m.len();
            note.note = format!(
                "too large to attach ({} bytes, the limit is {max_bytes}), find it at",
                m.len()
            );
            (note, None)
        }
        Ok(m) => match std::fs::read(&path) {
            Ok(bytes) => {
                note.size = m.len();
                note.attached = true;
                (note, Some(bytes))
            }
            Err(e) => {
                note.note = format!("not attached, cannot be read ({})", e.kind());
                (note, None)
            }
        },
    }
}

// ---- messages -----------------------------------------------------------------

/// A finished message: what the queue stores.
#[derive(Debug, Clone)]
pub struct Built {
    pub subject: String,
    pub raw: Vec<u8>,
    pub envelope_from: String,
    pub recipients: Vec<String>,
}

/// Builds a multipart/alternative message (plus attachments in a
/// multipart/mixed), with the subject made header-safe.
#[allow(clippy::too_many_arguments)]
pub fn build(
    from: &Mailbox,
    to: &[Mailbox],
    subject: &str,
    message_id: &str,
    date: DateTime<Utc>,
    text: String,
    html: String,
    attachments: Vec<(String, Vec<u8>)>,
) -> Result<Built, lettre::error::Error> {
    let subject = header_text(subject, MAX_SUBJECT_CHARS);
    let mut b = Message::builder()
        .from(from.clone())
        .subject(subject.clone())
        .message_id(Some(message_id.to_string()))
        .date(SystemTime::from(date))
        .user_agent(format!("docspace-auditor/{}", env!("CARGO_PKG_VERSION")))
        // RFC 3834: an automatic message; vacation responders stay quiet.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    for m in to {
        b = b.to(m.clone());
    }
    let body = MultiPart::alternative_plain_html(text, html);
    let message = if attachments.is_empty() {
        b.multipart(body)?
    } else {
        let csv = ContentType::parse("text/csv; charset=utf-8").unwrap_or(ContentType::TEXT_PLAIN);
        let mut mixed = MultiPart::mixed().multipart(body);
        for (name, bytes) in attachments {
            mixed = mixed.singlepart(Attachment::new(name).body(bytes, csv.clone()));
        }
        b.multipart(mixed)?
    };
    let envelope = message.envelope();
    Ok(Built {
        subject,
        envelope_from: envelope.from().map(|a| a.to_string()).unwrap_or_default(),
        recipients: envelope.to().iter().map(|a| a.to_string()).collect(),
        raw: message.formatted(),
    })
}

/// A mailbox with a display name made header-safe.
pub fn mailbox(name: Option<&str>, address: lettre::Address) -> Mailbox {
    let name = name.map(|n| header_text(n, 100)).filter(|n| !n.is_empty());
    Mailbox::new(name, address)
}

// ---- samples for template validation --------------------------------------------

/// Contexts with every optional part filled, rendered once at start so an
/// override that uses an unknown variable fails early.
pub fn samples() -> (DigestCtx, SummaryCtx, EscalationCtx) {
    let item = DigestItem {
        check: "archived-room-guests".into(),
        check_description: "guest members still in the share of archived rooms".into(),
        severity: "high".into(),
        subject_kind: "user".into(),
        subject_name: "Sample Guest".into(),
        subject_email: Some("guest@example.com".into()),
        access: Some("editing".into()),
        status: "open".into(),
        outcome: "pending: dry run, would be removed".into(),
        why: Reason::New.describe(),
        first_seen: Some("2026-01-01".into()),
        detail: "sample".into(),
    };
    let digest = DigestCtx {
        run_id: "sample".into(),
        generated_at: "2026-01-01 00:00 UTC".into(),
        dry_run: true,
        recipient: "owner@example.com".into(),
        recipient_name: Some("Sample Owner".into()),
        fallback: true,
        fallback_reasons: vec!["room \"Sample\": the owner is disabled".into()],
        rooms: vec![DigestRoom {
            id: "1".into(),
            title: "Sample".into(),
            state: "archived".into(),
            owner: "Sample Owner".into(),
            redirect_reason: Some("the owner is disabled".into()),
            findings: vec![item],
        }],
        counts: DigestCounts {
            total: 1,
            new: 1,
            changed: 0,
            reminders: 0,
            escalated: 1,
        },
        unchanged: 2,
    };
    let s_item = SummaryItem {
        check: "archived-room-links".into(),
        severity: "high".into(),
        status: "open".into(),
        room_id: Some("1".into()),
        room_title: "Sample".into(),
        subject: "link Sample link".into(),
        outcome: "open: reported only, not changed automatically".into(),
        detail: "sample".into(),
        first_seen: Some("2026-01-01".into()),
        notified_to: Some("owner@example.com".into()),
    };
    let mut summary = SummaryCtx {
        run_id: "sample".into(),
        generated_at: "2026-01-01 00:00 UTC".into(),
        started: "2026-01-01 00:00 UTC".into(),
        finished: "2026-01-01 00:01 UTC".into(),
        dry_run: true,
        result: "attention".into(),
        rooms_audited: 1,
        rooms_failed: 1,
        total_findings: 1,
        attention: 1,
        report_dir: "/tmp/reports/sample".into(),
        counts: vec![CountRow {
            check: "archived-room-links".into(),
            status: "open".into(),
            count: 1,
        }],
        top: vec![s_item.clone()],
        top_more: 1,
        failures: vec!["sample failure".into()],
        escalations: vec![s_item.clone()],
        escalate_after_reminders: 3,
        undeliverable: vec!["sample".into()],
        invalid_addresses: vec!["not-an-address".into()],
        warnings: vec!["sample warning".into()],
        digests: 1,
        backlog: 1,
        attachments: vec![
            AttachmentNote {
                name: "findings.csv".into(),
                path: "/tmp/reports/sample/findings.csv".into(),
                attached: true,
                size: 10,
                note: String::new(),
            },
            AttachmentNote {
                name: "actions.csv".into(),
                path: "/tmp/reports/sample/actions.csv".into(),
                attached: false,
                size: 10,
                note: "too large".into(),
            },
        ],
        runs: Vec::new(),
    };
    summary.runs = vec![RunLine::of(&summary), RunLine::of(&summary)];
    let escalation = EscalationCtx {
        run_id: "sample".into(),
        generated_at: "2026-01-01 00:00 UTC".into(),
        report_dir: "/tmp/reports/sample".into(),
        escalate_after_reminders: 3,
        escalations: vec![s_item],
    };
    (digest, summary, escalation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_never_keeps_line_breaks() {
        let t = header_text("Room\r\nBcc: attacker@example.com\u{0}\u{202E}", 200);
        assert!(!t.contains(['\r', '\n', '\0', '\u{202E}']), "{t:?}");
        assert_eq!(t, "Room Bcc: attacker@example.com");
    }

    #[test]
    fn message_ids_are_stable_and_distinct() {
        let a = message_id(&["r1", "digest", "ann@example.com"], "example.com");
        assert_eq!(
            a,
            message_id(&["r1", "digest", "ann@example.com"], "example.com")
        );
        assert_ne!(
            a,
            message_id(&["r1", "digest", "bob@example.com"], "example.com")
        );
        assert!(a.starts_with('<') && a.ends_with("@example.com>"));
    }
}
