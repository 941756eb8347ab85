//! Unit tests of the notifier with a recording transport and an injected
//! clock: dedup across runs, reminders, escalation, routing to the
//! fallback, header safety, and the queue surviving a down transport.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::api::{Guid, RoomId};
use crate::clock::{Clock, ManualClock};
use crate::config::notify::Transport;
use crate::finding::{FindingStatus, RoomState, Severity, Subject, SubjectKind};

fn config() -> NotifyConfig {
    NotifyConfig {
        enabled: true,
        from: "auditor@corp.example".into(),
        security_team: vec!["secteam@corp.example".into()],
        fallback_address: Some("it-fallback@corp.example".into()),
        escalation_address: Some("ciso@corp.example".into()),
        escalate_after_reminders: 2,
        renotify_after_days: 7,
        transport: Transport::Outbox(PathBuf::from("/nonexistent")),
        outbox_dir: PathBuf::from("/nonexistent"),
        templates_dir: None,
        attachment_max_bytes: 1024,
        security_summary: crate::config::notify::SummaryCadence::EveryRun,
    }
}

fn room(id: i64, title: &str, owner_email: Option<&str>, active: Option<bool>) -> RoomInfo {
    RoomInfo {
        id: RoomId::Native(id),
        title: title.into(),
        state: RoomState::Archived,
        owner_id: Some(Guid::new("0f8b5c1e-0000-4000-8000-00000000000a")),
        owner_name: Some("Ann Owner".into()),
        owner_email: owner_email.map(str::to_string),
        owner_active: active,
        archived_since: None,
    }
}

fn guest(room: RoomInfo, id: &str, status: FindingStatus) -> Finding {
    Finding {
        check: CheckId::ArchivedRoomGuests,
        severity: Severity::High,
        room: Some(room),
        subject: Subject {
            kind: SubjectKind::User,
            id: id.into(),
            name: format!("Guest {id}"),
            email: Some(format!("{id}@partner.example")),
        },
        access: Some("read".into()),
        status,
        detail: String::new(),
    }
}

fn outcome(run_id: &str, at: chrono::DateTime<Utc>, findings: Vec<Finding>) -> RunOutcome {
    let attention = findings.iter().any(|f| f.status.needs_attention());
    RunOutcome {
        run_id: run_id.into(),
        started: at,
        finished: at,
        report_dir: PathBuf::from("/nonexistent/report"),
        findings,
        actions: Vec::new(),
        checks_run: vec![CheckId::ArchivedRoomGuests],
        rooms_audited: 1,
        rooms_failed: 0,
        warnings: Vec::new(),
        dry_run: true,
        result: if attention {
            RunResult::Attention
        } else {
            RunResult::Clean
        },
        key_user: None,
    }
}

struct Harness {
    state: StateStore,
    transport: Arc<RecordingTransport>,
    notifier: Notifier,
    clock: ManualClock,
}

impl Harness {
    fn new(cfg: NotifyConfig) -> Harness {
        let transport = Arc::new(RecordingTransport::new());
        let notifier = Notifier::with_transport(&cfg, Box::new(transport.clone())).unwrap();
        Harness {
            state: StateStore::open_in_memory().unwrap(),
            transport,
            notifier,
            clock: ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()),
        }
    }

    /// Records the findings as the run would, then notifies.
    async fn run(&self, run_id: &str, findings: Vec<Finding>) -> NotifyReport {
        let o = outcome(run_id, self.clock.now(), findings);
        self.run_outcome(o).await
    }

    async fn run_outcome(&self, o: RunOutcome) -> NotifyReport {
        let now = self.clock.now();
        let run_id = o.run_id.as_str();
        self.state
            .record_findings(
                run_id,
                now,
                &o.findings,
                &o.checks_run,
                &HashSet::new(),
                &[],
            )
            .unwrap();
        self.notifier.after_run(&self.state, &o, now).await.unwrap()
    }

    /// The scheduled summary job, now.
    async fn summary(&self) -> NotifyReport {
        self.notifier
            .send_scheduled_summary(&self.state, self.clock.now())
            .await
            .unwrap()
    }

    /// Parsed messages sent to `to` so far.
    fn to(&self, to: &str) -> Vec<Vec<u8>> {
        self.transport
            .sent()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .map(|m| m.raw)
            .collect()
    }
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default().parse(raw).unwrap()
}

fn text(raw: &[u8]) -> String {
    parse(raw).body_text(0).unwrap().to_string()
}

const OWNER: &str = "ann@corp.example";

#[tokio::test]
async fn dedup_new_same_changed_reminder_escalation() {
    let h = Harness::new(config());
    let r = || room(1, "Project X", Some(OWNER), Some(true));

    // Run 1: new → one digest, one summary.
    let rep = h
        .run("r1", vec![guest(r(), "g1", FindingStatus::Open)])
        .await;
    assert_eq!((rep.queued, rep.sent, rep.failed), (2, 2, 0));
    assert_eq!(h.to(OWNER).len(), 1);
    assert!(text(&h.to(OWNER)[0]).contains("new finding"));

    // Run 2 next day, same status → no digest (the summary still goes).
    h.clock.advance(Duration::days(1));
    let rep = h
        .run("r2", vec![guest(r(), "g1", FindingStatus::Open)])
        .await;
    assert_eq!(rep.queued, 1);
    assert_eq!(h.to(OWNER).len(), 1);
    assert_eq!(h.to("secteam@corp.example").len(), 2);

    // Run 3: the status changed → mailed again.
    h.clock.advance(Duration::days(1));
    h.run("r3", vec![guest(r(), "g1", FindingStatus::Failed)])
        .await;
    assert_eq!(h.to(OWNER).len(), 2);
    assert!(text(&h.to(OWNER)[1]).contains("status changed (was open)"));

    // Daily runs: reminders after 7 and 14 days, escalation after 21.
    let mut whys = Vec::new();
    for day in 1..=21 {
        h.clock.advance(Duration::days(1));
        let before = h.to(OWNER).len();
        h.run(
            &format!("d{day}"),
            vec![guest(r(), "g1", FindingStatus::Failed)],
        )
        .await;
        let after = h.to(OWNER);
        if after.len() > before {
            let t = text(&after[after.len() - 1]);
            whys.push((
                day,
                t.lines()
                    .find(|l| l.contains("Why you are told"))
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            ));
        }
    }
    assert_eq!(whys.len(), 3, "{whys:?}");
    assert_eq!(whys[0].0, 7);
    assert!(whys[0].1.contains("reminder 1"), "{whys:?}");
    assert_eq!(whys[1].0, 14);
    assert!(whys[1].1.contains("reminder 2"), "{whys:?}");
    assert_eq!(whys[2].0, 21);
    assert!(whys[2].1.contains("escalated"), "{whys:?}");

    // The escalation went to the escalation address and is in that day's summary.
    let esc = h.to("ciso@corp.example");
    assert_eq!(esc.len(), 1);
    assert!(text(&esc[0]).contains("Project X"));
    let summaries = h.to("secteam@corp.example");
    let last = text(summaries.last().unwrap());
    assert!(last.contains("Escalated"), "{last}");
    assert!(
        parse(summaries.last().unwrap())
            .subject()
            .unwrap()
            .contains("1 escalated")
    );
}

#[tokio::test]
async fn one_digest_per_owner_across_checks_and_rooms() {
    let h = Harness::new(config());
    let mut link = guest(
        room(2, "Room B", Some(OWNER), None),
        "link-1",
        FindingStatus::Open,
    );
    link.check = CheckId::ArchivedRoomLinks;
    link.subject.kind = SubjectKind::Link;
    link.subject.email = None;
    h.run(
        "r1",
        vec![
            guest(
                room(1, "Room A", Some(OWNER), Some(true)),
                "g1",
                FindingStatus::Open,
            ),
            guest(
                room(1, "Room A", Some(OWNER), Some(true)),
                "g2",
                FindingStatus::Fixed,
            ),
            link,
            guest(
                room(3, "Room C", Some("bob@corp.example"), Some(true)),
                "g3",
                FindingStatus::Open,
            ),
        ],
    )
    .await;
    let ann = h.to(OWNER);
    assert_eq!(ann.len(), 1);
    let t = text(&ann[0]);
    assert!(
        t.contains("Room A") && t.contains("Room B") && !t.contains("Room C"),
        "{t}"
    );
    assert!(t.contains("removed (done and verified)"), "{t}");
    assert_eq!(h.to("bob@corp.example").len(), 1);
}

#[tokio::test]
async fn unreachable_owners_go_to_the_fallback_and_disabled_users_are_never_mailed() {
    let h = Harness::new(config());
    let rep = h
        .run(
            "r1",
            vec![
                guest(
                    room(1, "Disabled owner", Some(OWNER), Some(false)),
                    "g1",
                    FindingStatus::Open,
                ),
                guest(
                    room(2, "No email", None, Some(true)),
                    "g2",
                    FindingStatus::Open,
                ),
                guest(
                    room(3, "Bad email", Some("not an address"), Some(true)),
                    "g3",
                    FindingStatus::Open,
                ),
            ],
        )
        .await;
    assert!(h.to(OWNER).is_empty(), "a disabled owner was mailed");
    assert_eq!(rep.invalid_addresses, vec!["not an address".to_string()]);
    let fb = h.to("it-fallback@corp.example");
    assert_eq!(fb.len(), 1);
    let t = text(&fb[0]);
    assert!(t.contains("fallback contact"), "{t}");
    assert!(
        t.contains("is disabled")
            && t.contains("has no email address")
            && t.contains("invalid email address"),
        "{t}"
    );
    for m in h.transport.sent() {
        assert!(!m.to.iter().any(|t| t.contains("not an address")));
    }
}

#[tokio::test]
async fn without_fallback_unreachable_owners_are_reported_to_the_security_team() {
    let mut cfg = config();
    cfg.fallback_address = None;
    let h = Harness::new(cfg);
    let rep = h
        .run(
            "r1",
            vec![guest(
                room(1, "Disabled owner", Some(OWNER), Some(false)),
                "g1",
                FindingStatus::Open,
            )],
        )
        .await;
    assert!(h.to(OWNER).is_empty());
    assert!(
        rep.warnings.iter().any(|w| w.contains("fallback_address")),
        "{:?}",
        rep.warnings
    );
    let s = text(&h.to("secteam@corp.example")[0]);
    assert!(
        s.contains("could not be told") && s.contains("Disabled owner"),
        "{s}"
    );
}

#[tokio::test]
async fn header_injection_in_a_room_title_adds_no_recipient() {
    let h = Harness::new(config());
    let evil = "Quarterly\r\nBcc: attacker@example.com\r\nX-Evil: 1";
    let mut f = guest(
        room(1, evil, Some(OWNER), Some(true)),
        "g1",
        FindingStatus::Open,
    );
    f.room.as_mut().unwrap().owner_name = Some("Ann\r\nBcc: attacker@example.com".into());
    h.run("r1", vec![f]).await;
    for m in h.transport.sent() {
        // Envelope: nobody but the intended recipients.
        assert!(
            !m.to.iter().any(|t| t.contains("attacker")),
            "envelope {:?}",
            m.to
        );
        // Parsed headers: no Bcc, no injected header, To holds one address.
        let p = parse(&m.raw);
        assert!(p.bcc().is_none());
        assert!(p.header_raw("X-Evil").is_none());
        let to: Vec<_> = p.to().unwrap().iter().filter_map(|a| a.address()).collect();
        assert!(!to.iter().any(|a| a.contains("attacker")), "{to:?}");
        // The raw header block has no line starting with the injected name.
        let raw = String::from_utf8_lossy(&m.raw);
        let head = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            !head
                .lines()
                .any(|l| l.starts_with("Bcc") || l.starts_with("X-Evil")),
            "{head}"
        );
    }
    let digest = &h.to(OWNER)[0];
    let p = parse(digest);
    assert_eq!(
        p.to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect::<Vec<_>>(),
        vec![OWNER]
    );
    assert!(
        p.subject()
            .unwrap()
            .contains("Quarterly Bcc: attacker@example.com X-Evil: 1")
    );
}

#[tokio::test]
async fn non_ascii_subjects_are_encoded() {
    let h = Harness::new(config());
    let title = "Überseeküche – 東京 Projekt";
    h.run(
        "r1",
        vec![guest(
            room(1, title, Some(OWNER), Some(true)),
            "g1",
            FindingStatus::Open,
        )],
    )
    .await;
    let raw = &h.to(OWNER)[0];
    let all = String::from_utf8_lossy(raw).to_string();
    let head = all.split("\r\n\r\n").next().unwrap();
    assert!(head.is_ascii(), "headers must be 7-bit: {head}");
    assert!(head.contains("=?utf-8?"), "{head}");
    assert!(parse(raw).subject().unwrap().contains(title));
    assert!(text(raw).contains(title));
}

#[tokio::test]
async fn a_down_transport_keeps_messages_queued_and_delivers_them_once() {
    let h = Harness::new(config());
    h.transport.set_down(true);
    let rep = h
        .run(
            "r1",
            vec![guest(
                room(1, "Project X", Some(OWNER), Some(true)),
                "g1",
                FindingStatus::Open,
            )],
        )
        .await;
    assert_eq!(rep.queued, 2);
    assert_eq!(rep.sent, 0);
    // The first failure stops the round: the second message is not tried.
    assert_eq!(rep.failed, 1);
    assert_eq!(rep.still_queued, 2);
    assert!(
        rep.warnings.iter().any(|w| w.contains("stay queued")),
        "{:?}",
        rep.warnings
    );
    assert!(h.transport.sent().is_empty());

    h.transport.set_down(false);
    h.clock.advance(Duration::hours(1));
    let rep = h
        .notifier
        .flush_queue(&h.state, h.clock.now())
        .await
        .unwrap();
    assert_eq!((rep.sent, rep.failed, rep.still_queued), (2, 0, 0));
    let rep = h
        .notifier
        .flush_queue(&h.state, h.clock.now())
        .await
        .unwrap();
    assert_eq!(rep.sent, 0);
    assert_eq!(h.to(OWNER).len(), 1);
}

#[tokio::test]
async fn the_same_run_notified_twice_queues_nothing_new() {
    let h = Harness::new(config());
    let now = h.clock.now();
    let o = outcome(
        "r1",
        now,
        vec![guest(
            room(1, "P", Some(OWNER), Some(true)),
            "g1",
            FindingStatus::Open,
        )],
    );
    let a = h.notifier.after_run(&h.state, &o, now).await.unwrap();
    let b = h.notifier.after_run(&h.state, &o, now).await.unwrap();
    assert_eq!((a.queued, b.queued), (2, 0));
    assert_eq!(h.transport.sent().len(), 2);
}

#[tokio::test]
async fn a_resolved_finding_that_returns_is_new_again() {
    let h = Harness::new(config());
    let f = || {
        guest(
            room(1, "P", Some(OWNER), Some(true)),
            "g1",
            FindingStatus::Open,
        )
    };
    h.run("r1", vec![f()]).await;
    h.clock.advance(Duration::days(1));
    h.run("r2", vec![]).await; // gone: resolved by the run
    h.clock.advance(Duration::days(1));
    h.run("r3", vec![f()]).await;
    let mails = h.to(OWNER);
    assert_eq!(mails.len(), 2);
    assert!(text(&mails[1]).contains("new finding"));
}

#[tokio::test]
async fn disabled_notifier_sends_nothing() {
    let mut cfg = config();
    cfg.enabled = false;
    let h = Harness::new(cfg);
    let rep = h
        .run(
            "r1",
            vec![guest(
                room(1, "P", Some(OWNER), Some(true)),
                "g1",
                FindingStatus::Open,
            )],
        )
        .await;
    assert_eq!(rep, NotifyReport::default());
    assert!(h.transport.sent().is_empty());
}

#[test]
fn a_broken_template_override_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("digest.txt"),
        "{{ rooms[0].nonexistent_field }}",
    )
    .unwrap();
    let mut cfg = config();
    cfg.templates_dir = Some(dir.path().to_path_buf());
    let e = Notifier::with_transport(&cfg, Box::new(RecordingTransport::new())).unwrap_err();
    assert!(
        matches!(e, NotifyError::Template { ref name, .. } if name == "digest.txt"),
        "{e}"
    );
}

#[test]
fn after_run_future_is_send() {
    fn is_send<T: Send>(_: T) {}
    let cfg = config();
    let n = Notifier::with_transport(&cfg, Box::new(RecordingTransport::new())).unwrap();
    let s = StateStore::open_in_memory().unwrap();
    let o = outcome("r", Utc::now(), Vec::new());
    is_send(n.after_run(&s, &o, Utc::now()));
    is_send(n.flush_queue(&s, Utc::now()));
}

fn scheduled() -> NotifyConfig {
    NotifyConfig {
        security_summary: crate::config::notify::SummaryCadence::Scheduled,
        renotify_after_days: 1,
        escalate_after_reminders: 1,
        ..config()
    }
}

const SECTEAM: &str = "secteam@corp.example";

#[tokio::test]
async fn scheduled_summary_gathers_the_held_runs_into_one_message() {
    let h = Harness::new(scheduled());
    let r = || room(1, "Project X", Some(OWNER), Some(true));
    let broken = guest(
        room(2, "Old Deal", Some(OWNER), Some(true)),
        "g2",
        FindingStatus::Failed,
    );
    h.run(
        "r1",
        vec![guest(r(), "g1", FindingStatus::Open), broken.clone()],
    )
    .await;
    for id in ["r2", "r3"] {
        h.clock.advance(Duration::days(1));
        h.run(id, vec![guest(r(), "g1", FindingStatus::Open)]).await;
    }
    // Owners and the escalation address hear at once; the team waits.
    assert!(!h.to(OWNER).is_empty());
    assert_eq!(h.to("ciso@corp.example").len(), 1, "escalated in r3");
    assert!(h.to(SECTEAM).is_empty());

    // The latest run's report is attached.
    let reports = tempfile::tempdir().unwrap();
    std::fs::write(reports.path().join("findings.csv"), "check,room_id\n").unwrap();
    h.clock.advance(Duration::hours(1));
    let mut latest = outcome(
        "r4",
        h.clock.now(),
        vec![guest(r(), "g1", FindingStatus::Open)],
    );
    latest.report_dir = reports.path().to_path_buf();
    h.run_outcome(latest).await;
    assert!(h.to(SECTEAM).is_empty());

    let rep = h.summary().await;
    assert_eq!(
        (rep.queued, rep.sent, rep.still_queued),
        (1, 1, 0),
        "{rep:?}"
    );
    let mails = h.to(SECTEAM);
    assert_eq!(mails.len(), 1);
    let msg = parse(&mails[0]);
    assert_eq!(
        msg.subject().unwrap(),
        "[DocSpace audit] Summary of 4 runs, latest r4: 1 finding, 1 need attention, 1 escalated (dry run)"
    );
    let body = text(&mails[0]);
    let runs: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("  - r") && l.contains(", finished "))
        .collect();
    assert_eq!(runs.len(), 4, "{body}");
    for (line, id) in runs.iter().zip(["r1", "r2", "r3", "r4"]) {
        assert!(line.starts_with(&format!("  - {id}, finished ")), "{line}");
    }
    // Counts are the latest run's; the failure of r1 and r3's escalation
    // are still told.
    assert!(body.contains("Findings: 1 (1 need attention)"), "{body}");
    assert!(body.contains("run r1: "), "{body}");
    assert!(body.contains("Old Deal"), "{body}");
    assert!(
        body.contains("Escalated (still open after 1 reminder)"),
        "{body}"
    );
    use mail_parser::MimeHeaders;
    let names: Vec<String> = msg
        .attachments()
        .filter_map(|a| a.attachment_name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["findings.csv".to_string()]);

    // Nothing held any more: the next tick sends nothing and says why.
    let rep = h.summary().await;
    assert_eq!(rep.queued, 0);
    assert!(
        rep.warnings
            .iter()
            .any(|w| w.contains("no audit run finished")),
        "{rep:?}"
    );
    assert_eq!(h.to(SECTEAM).len(), 1);
}

#[tokio::test]
async fn a_scheduled_summary_that_cannot_be_sent_stays_queued_and_its_runs_are_not_repeated() {
    let h = Harness::new(scheduled());
    let r = || room(1, "Project X", Some(OWNER), Some(true));
    h.run("r1", vec![guest(r(), "g1", FindingStatus::Open)])
        .await;
    h.transport.set_down(true);
    let rep = h.summary().await;
    assert_eq!(
        (rep.queued, rep.sent, rep.still_queued),
        (1, 0, 1),
        "{rep:?}"
    );
    // Queued and released together: r1 is no longer held.
    assert!(store::held_summaries(&h.state).unwrap().is_empty());

    h.clock.advance(Duration::hours(1));
    h.run("r2", vec![guest(r(), "g1", FindingStatus::Open)])
        .await;
    h.transport.set_down(false);
    let rep = h.summary().await;
    assert_eq!(
        (rep.queued, rep.sent, rep.still_queued),
        (1, 2, 0),
        "{rep:?}"
    );
    let mails = h.to(SECTEAM);
    assert_eq!(mails.len(), 2);
    assert!(parse(&mails[0]).subject().unwrap().contains("Run r1:"));
    assert!(parse(&mails[1]).subject().unwrap().contains("Run r2:"));
    assert!(!text(&mails[1]).contains("  - r1, finished"));
}

#[tokio::test]
async fn a_corrupt_held_summary_is_dropped_with_a_warning() {
    let h = Harness::new(scheduled());
    h.run(
        "r1",
        vec![guest(
            room(1, "P", Some(OWNER), Some(true)),
            "g1",
            FindingStatus::Open,
        )],
    )
    .await;
    store::hold_summary(&h.state, "r0", "/nowhere", "{not json", h.clock.now()).unwrap();
    let rep = h.summary().await;
    assert!(
        rep.warnings
            .iter()
            .any(|w| w.contains("run r0 could not be read")),
        "{rep:?}"
    );
    assert_eq!(h.to(SECTEAM).len(), 1);
    assert!(store::held_summaries(&h.state).unwrap().is_empty());
}
