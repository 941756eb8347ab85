//! Notifications end to end against a real SMTP server on loopback
//! (mailin-embedded, in-process, one per test): the messages are read back
//! and parsed with mail-parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/outcome.rs"]
mod outcome;
#[path = "common/smtp.rs"]
mod smtp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use docspace_auditor::config::notify::{NotifyConfig, SmtpConfig, SmtpTls, Transport};
use docspace_auditor::finding::{ActionOutcome, FindingStatus, RoomInfo};
use docspace_auditor::notify::{Notifier, NotifyReport};
use docspace_auditor::state::StateStore;
use outcome::{OutcomeBuilder, action_for, guest, link, record, room};
use smtp::{ServerOptions, SmtpServer};

const ANN: &str = "ann@corp.example";
const BOB: &str = "bob@corp.example";
const SECTEAM: [&str; 2] = ["secteam@corp.example", "soc@corp.example"];
const FALLBACK: &str = "it-fallback@corp.example";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn smtp_config(server: &SmtpServer) -> SmtpConfig {
    SmtpConfig {
        host: server.host().to_string(),
        port: server.port(),
        tls: SmtpTls::None,
        username: None,
        password: None,
        ca_file: None,
        timeout: Duration::from_secs(5),
    }
}

fn notify_config(transport: Transport, dir: &Path) -> NotifyConfig {
    NotifyConfig {
        enabled: true,
        from: "auditor@corp.example".into(),
        security_team: SECTEAM.iter().map(|s| s.to_string()).collect(),
        fallback_address: Some(FALLBACK.into()),
        escalation_address: None,
        escalate_after_reminders: 2,
        renotify_after_days: 7,
        transport,
        outbox_dir: dir.join("outbox"),
        templates_dir: None,
        attachment_max_bytes: 1024 * 1024,
        security_summary: docspace_auditor::config::notify::SummaryCadence::EveryRun,
    }
}

struct Env {
    dir: tempfile::TempDir,
    state: StateStore,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(&dir.path().join("state/auditor.sqlite")).unwrap();
        Env { dir, state }
    }

    fn reports(&self) -> PathBuf {
        outcome::reports_root(self.dir.path())
    }

    /// Records a run like the audit does, then notifies.
    async fn run(&self, n: &Notifier, o: &docspace_auditor::audit::RunOutcome) -> NotifyReport {
        record(&self.state, o);
        n.after_run(&self.state, o, o.finished).await.unwrap()
    }
}

fn ann_room() -> RoomInfo {
    room(1, "Project Atlas", Some(ANN))
}

fn bob_room() -> RoomInfo {
    room(2, "Tender 2026", Some(BOB))
}

fn disabled_room() -> RoomInfo {
    let mut r = room(3, "Old HR files", Some("carol@corp.example"));
    r.owner_active = Some(false);
    r.owner_name = Some("Carol Gone".into());
    r
}

/// A run with findings of both checks, for three owners (one disabled).
fn first_run(env: &Env, run_id: &str, at: DateTime<Utc>) -> docspace_auditor::audit::RunOutcome {
    let fixed = guest(&ann_room(), "g-fixed", FindingStatus::Fixed);
    OutcomeBuilder::new(run_id, at, &env.reports())
        .finding(guest(&ann_room(), "g-open", FindingStatus::Open))
        .finding(fixed.clone())
        .action(action_for(&fixed, "remove-member", ActionOutcome::Done, at))
        .finding(link(&ann_room(), "l-grace", FindingStatus::InGrace))
        .finding(link(&bob_room(), "l-open", FindingStatus::Open))
        .finding(guest(&disabled_room(), "g-hr", FindingStatus::Open))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_and_summary_are_received_with_recipients_subject_body_and_attachments() {
    let server = SmtpServer::start();
    let env = Env::new();
    let n = Notifier::new(&notify_config(
        Transport::Smtp(smtp_config(&server)),
        env.dir.path(),
    ))
    .unwrap();
    let o = first_run(&env, "20261102T090000Z-0001", t0());
    let rep = env.run(&n, &o).await;
    assert_eq!(
        (rep.queued, rep.sent, rep.failed, rep.still_queued),
        (4, 4, 0, 0),
        "{rep:?}"
    );

    let all = server.wait_for(4, Duration::from_secs(5));
    assert_eq!(all.len(), 4);
    for m in &all {
        assert_eq!(m.mail_from, "auditor@corp.example");
        assert!(
            !m.rcpt_to.iter().any(|r| r == "carol@corp.example"),
            "a disabled owner was mailed"
        );
    }

    // Ann: one digest for both checks and all her findings.
    let ann = server.messages_to(ANN);
    assert_eq!(ann.len(), 1);
    let d = &ann[0];
    assert_eq!(d.rcpt_to, vec![ANN.to_string()]);
    assert_eq!(d.to_header(), vec![ANN.to_string()]);
    assert_eq!(
        d.subject(),
        "[DocSpace audit] Project Atlas: 3 access findings in your room"
    );
    let text = d.text();
    for want in [
        "Hello Owner 1,",
        "Room \"Project Atlas\" (id 1, archived)",
        "user Guest g-open <g-open@partner.example>",
        "open: reported only, not changed automatically",
        "removed (done and verified)",
        "link Link l-grace",
        "pending: within the grace period",
        "new finding",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let html = d.html();
    assert!(
        html.contains("Project Atlas") && html.contains("removed (done and verified)"),
        "{html}"
    );
    assert!(d.attachment_names().is_empty());

    // Bob: his own digest.
    let bob = server.messages_to(BOB);
    assert_eq!(bob.len(), 1);
    assert!(bob[0].text().contains("Tender 2026") && !bob[0].text().contains("Project Atlas"));

    // The disabled owner's room went to the fallback, and the message says so.
    let fb = server.messages_to(FALLBACK);
    assert_eq!(fb.len(), 1);
    let t = fb[0].text();
    assert!(t.contains("fallback contact"), "{t}");
    assert!(
        t.contains("the owner Carol Gone <carol@corp.example> is disabled"),
        "{t}"
    );
    assert!(t.contains("Old HR files"), "{t}");

    // The summary: both security-team addresses, counts, attachments.
    let sum = server.messages_to(SECTEAM[0]);
    assert_eq!(sum.len(), 1);
    let s = &sum[0];
    let mut rcpt = s.rcpt_to.clone();
    rcpt.sort();
    assert_eq!(rcpt, vec![SECTEAM[0].to_string(), SECTEAM[1].to_string()]);
    assert_eq!(
        s.subject(),
        "[DocSpace audit] Run 20261102T090000Z-0001: 5 findings, 3 need attention"
    );
    let st = s.text();
    assert!(st.contains("archived-room-guests: open 2"), "{st}");
    assert!(st.contains("archived-room-links: in-grace 1"), "{st}");
    assert!(st.contains("Owner messages queued this run: 3"), "{st}");
    assert_eq!(
        s.attachment_names(),
        vec!["findings.csv".to_string(), "actions.csv".to_string()]
    );
    let findings_csv = std::fs::read(o.report_dir.join("findings.csv")).unwrap();
    assert_eq!(s.attachment("findings.csv").unwrap(), findings_csv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_over_the_same_findings_send_digests_once_then_changes_and_reminders_are_mailed() {
    let server = SmtpServer::start();
    let env = Env::new();
    let n = Notifier::new(&notify_config(
        Transport::Smtp(smtp_config(&server)),
        env.dir.path(),
    ))
    .unwrap();

    env.run(&n, &first_run(&env, "20261102T090000Z-0001", t0()))
        .await;
    let day1 = t0() + chrono::Duration::days(1);
    let rep = env
        .run(&n, &first_run(&env, "20261103T090000Z-0002", day1))
        .await;
    assert_eq!(rep.queued, 1, "only the summary: {rep:?}");
    assert_eq!(server.messages_to(ANN).len(), 1);
    assert_eq!(server.messages_to(BOB).len(), 1);
    assert_eq!(server.messages_to(FALLBACK).len(), 1);
    assert_eq!(server.messages_to(SECTEAM[0]).len(), 2);

    // Bob's link changes status: only Bob is mailed again.
    let day2 = t0() + chrono::Duration::days(2);
    let fixed = link(&bob_room(), "l-open", FindingStatus::Fixed);
    let o = OutcomeBuilder::new("20261104T090000Z-0003", day2, &env.reports())
        .finding(guest(&ann_room(), "g-open", FindingStatus::Open))
        .finding(link(&ann_room(), "l-grace", FindingStatus::InGrace))
        .finding(fixed.clone())
        .action(action_for(&fixed, "revoke-link", ActionOutcome::Done, day2))
        .finding(guest(&disabled_room(), "g-hr", FindingStatus::Open))
        .build();
    env.run(&n, &o).await;
    assert_eq!(server.messages_to(ANN).len(), 1);
    let bob = server.messages_to(BOB);
    assert_eq!(bob.len(), 2);
    let t = bob[1].text();
    assert!(
        t.contains("revoked (done and verified)") && t.contains("status changed (was open)"),
        "{t}"
    );

    // Seven days after the first message: reminders for what is still pending.
    let day7 = t0() + chrono::Duration::days(7);
    let o = OutcomeBuilder::new("20261109T090000Z-0004", day7, &env.reports())
        .finding(guest(&ann_room(), "g-open", FindingStatus::Open))
        .finding(link(&ann_room(), "l-grace", FindingStatus::InGrace))
        .finding(guest(&disabled_room(), "g-hr", FindingStatus::Open))
        .build();
    env.run(&n, &o).await;
    let ann = server.messages_to(ANN);
    assert_eq!(ann.len(), 2);
    let t = ann[1].text();
    assert!(t.contains("reminder 1: still unresolved"), "{t}");
    assert_eq!(
        server.messages_to(BOB).len(),
        2,
        "a fixed finding is not reminded about"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_keeps_messages_queued_and_the_next_run_delivers_them_exactly_once() {
    let server = SmtpServer::start();
    server.stop();
    assert!(!server.is_up());
    let env = Env::new();
    let n = Notifier::new(&notify_config(
        Transport::Smtp(smtp_config(&server)),
        env.dir.path(),
    ))
    .unwrap();

    // The run completes: reports are there, nothing is sent, all is queued.
    let o1 = first_run(&env, "20261102T090000Z-0001", t0());
    let rep = env.run(&n, &o1).await;
    assert_eq!(
        (rep.queued, rep.sent, rep.still_queued),
        (4, 0, 4),
        "{rep:?}"
    );
    assert!(rep.failed >= 1);
    assert!(
        rep.warnings.iter().any(|w| w.contains("stay queued")),
        "{:?}",
        rep.warnings
    );
    assert!(o1.report_dir.join("findings.csv").exists());

    // Next run with the server up: the backlog and the new summary go out.
    server.resume();
    let o2 = first_run(
        &env,
        "20261103T090000Z-0002",
        t0() + chrono::Duration::days(1),
    );
    let rep = env.run(&n, &o2).await;
    assert_eq!(
        (rep.queued, rep.sent, rep.failed, rep.still_queued),
        (1, 5, 0, 0),
        "{rep:?}"
    );
    let again = n
        .flush_queue(&env.state, t0() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(again.sent, 0);

    server.wait_for(5, Duration::from_secs(5));
    assert_eq!(server.messages_to(ANN).len(), 1, "exactly once");
    assert_eq!(server.messages_to(BOB).len(), 1);
    assert_eq!(server.messages_to(FALLBACK).len(), 1);
    let summaries = server.messages_to(SECTEAM[0]);
    assert_eq!(summaries.len(), 2);
    // The first run's summary, sent late, still says "run 0001".
    assert!(summaries[0].subject().contains("20261102T090000Z-0001"));
    assert!(
        summaries[1].text().contains("earlier"),
        "the backlog is mentioned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_server_keeps_messages_queued_until_it_accepts() {
    let server = SmtpServer::start();
    server.set_refusing(true);
    let env = Env::new();
    let n = Notifier::new(&notify_config(
        Transport::Smtp(smtp_config(&server)),
        env.dir.path(),
    ))
    .unwrap();
    let rep = env
        .run(&n, &first_run(&env, "20261102T090000Z-0001", t0()))
        .await;
    assert_eq!((rep.sent, rep.still_queued), (0, 4), "{rep:?}");
    assert!(
        rep.warnings.iter().any(|w| w.contains("421")),
        "{:?}",
        rep.warnings
    );
    assert!(server.messages().is_empty());

    server.set_refusing(false);
    let rep = n.flush_queue(&env.state, t0()).await.unwrap();
    assert_eq!((rep.sent, rep.still_queued), (4, 0), "{rep:?}");
    assert_eq!(server.messages().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_a_self_signed_certificate_trusted_through_ca_file() {
    let server = SmtpServer::start_with(ServerOptions {
        starttls: true,
        auth: Some(("auditor".into(), "s3cret-pass".into())),
        ..ServerOptions::default()
    });
    let env = Env::new();
    let mut smtp = smtp_config(&server);
    smtp.tls = SmtpTls::StartTls;
    smtp.username = Some("auditor".into());
    smtp.password = Some(secrecy::SecretString::from("s3cret-pass"));

    // Without ca_file the certificate is not trusted: nothing is sent, and
    // the error does not leak the password.
    let untrusted = Notifier::new(&notify_config(
        Transport::Smtp(smtp.clone()),
        env.dir.path(),
    ))
    .unwrap();
    let o = OutcomeBuilder::new("20261102T090000Z-0001", t0(), &env.reports())
        .finding(guest(&ann_room(), "g-open", FindingStatus::Open))
        .build();
    let rep = env.run(&untrusted, &o).await;
    assert_eq!((rep.sent, rep.still_queued), (0, 2), "{rep:?}");
    assert!(rep.warnings.iter().all(|w| !w.contains("s3cret-pass")));
    assert!(server.messages().is_empty());

    // Trusting the server's certificate: the queue goes out over TLS + AUTH.
    smtp.ca_file = server.ca_file();
    let trusted = Notifier::new(&notify_config(Transport::Smtp(smtp), env.dir.path())).unwrap();
    let rep = trusted.flush_queue(&env.state, t0()).await.unwrap();
    assert_eq!((rep.sent, rep.still_queued), (2, 0), "{rep:?}");
    let got = server.wait_for(2, Duration::from_secs(5));
    assert_eq!(got.len(), 2);
    for m in &got {
        // AUTH is offered only after STARTTLS, so an authenticated session
        // proves the message travelled inside TLS.
        assert_eq!(m.auth_user.as_deref(), Some("auditor"));
    }
    assert_eq!(server.messages_to(ANN).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_a_self_signed_certificate_trusted_through_ca_file() {
    let server = SmtpServer::start_with(ServerOptions {
        implicit_tls: true,
        ..ServerOptions::default()
    });
    let env = Env::new();
    let o = OutcomeBuilder::new("20261102T090000Z-0001", t0(), &env.reports())
        .finding(guest(&ann_room(), "g-open", FindingStatus::Open))
        .build();

    // Plain SMTP against a TLS port: the server never greets. lettre's own
    // timeout covers only the connect; the transport's deadline (4 × the
    // step timeout) ends the wait, and the mail stays queued.
    let mut plain_smtp = smtp_config(&server);
    plain_smtp.timeout = Duration::from_secs(1);
    let plain = Notifier::new(&notify_config(Transport::Smtp(plain_smtp), env.dir.path())).unwrap();
    let started = std::time::Instant::now();
    let rep = env.run(&plain, &o).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((rep.sent, rep.still_queued), (0, 2), "{rep:?}");
    assert!(
        rep.warnings
            .iter()
            .any(|w| w.contains("no complete answer within 4 s")),
        "{rep:?}"
    );
    assert!(server.messages().is_empty());

    // Implicit TLS without trusting the certificate: refused as well.
    let mut smtp = smtp_config(&server);
    smtp.tls = SmtpTls::Implicit;
    let untrusted = Notifier::new(&notify_config(
        Transport::Smtp(smtp.clone()),
        env.dir.path(),
    ))
    .unwrap();
    let rep = untrusted.flush_queue(&env.state, t0()).await.unwrap();
    assert_eq!((rep.sent, rep.still_queued), (0, 2), "{rep:?}");
    assert_eq!(server.tls_sessions(), 0);

    // Trusted: both messages go out inside TLS from the first byte.
    smtp.ca_file = server.ca_file();
    let trusted = Notifier::new(&notify_config(Transport::Smtp(smtp), env.dir.path())).unwrap();
    assert!(
        trusted.describe().contains("(tls)"),
        "{}",
        trusted.describe()
    );
    let rep = trusted.flush_queue(&env.state, t0()).await.unwrap();
    assert_eq!((rep.sent, rep.still_queued), (2, 0), "{rep:?}");
    assert_eq!(server.wait_for(2, Duration::from_secs(5)).len(), 2);
    assert!(server.tls_sessions() >= 1);
    assert_eq!(server.messages_to(ANN).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_injection_through_a_room_title_reaches_no_extra_recipient() {
    let server = SmtpServer::start();
    let env = Env::new();
    let n = Notifier::new(&notify_config(
        Transport::Smtp(smtp_config(&server)),
        env.dir.path(),
    ))
    .unwrap();
    let mut r = room(9, "Budget\r\nBcc: attacker@example.com", Some(ANN));
    r.owner_name = Some("Ann\r\nCc: attacker@example.com".into());
    let o = OutcomeBuilder::new("20261102T090000Z-0001", t0(), &env.reports())
        .finding(guest(&r, "g1", FindingStatus::Open))
        .build();
    env.run(&n, &o).await;
    let all = server.wait_for(2, Duration::from_secs(5));
    assert_eq!(all.len(), 2);
    for m in &all {
        assert!(
            !m.rcpt_to.iter().any(|r| r.contains("attacker")),
            "envelope: {:?}",
            m.rcpt_to
        );
        assert!(m.parsed().bcc().is_none());
        assert!(m.cc_header().is_empty());
        assert!(!m.to_header().iter().any(|a| a.contains("attacker")));
        let head = m.header_block();
        assert!(
            !head
                .lines()
                .any(|l| l.starts_with("Bcc:") || l.starts_with("Cc:")),
            "{head}"
        );
    }
    let d = &server.messages_to(ANN)[0];
    assert_eq!(d.rcpt_to, vec![ANN.to_string()]);
    assert!(
        d.subject()
            .starts_with("[DocSpace audit] Budget Bcc: attacker@example.com:"),
        "{}",
        d.subject()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_above_the_size_cap_are_named_by_path_not_attached() {
    let server = SmtpServer::start();
    let env = Env::new();
    let mut cfg = notify_config(Transport::Smtp(smtp_config(&server)), env.dir.path());
    cfg.attachment_max_bytes = 10;
    let n = Notifier::new(&cfg).unwrap();
    let o = first_run(&env, "20261102T090000Z-0001", t0());
    env.run(&n, &o).await;
    server.wait_for(4, Duration::from_secs(5));
    let s = &server.messages_to(SECTEAM[0])[0];
    assert!(s.attachment_names().is_empty());
    let t = s.text();
    let path = o.report_dir.join("findings.csv").display().to_string();
    assert!(
        t.contains("too large to attach") && t.contains(&path),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_transport_writes_eml_files() {
    let env = Env::new();
    let outbox = env.dir.path().join("outbox");
    let n = Notifier::new(&notify_config(
        Transport::Outbox(outbox.clone()),
        env.dir.path(),
    ))
    .unwrap();
    let rep = env
        .run(&n, &first_run(&env, "20261102T090000Z-0001", t0()))
        .await;
    assert_eq!((rep.sent, rep.still_queued), (4, 0), "{rep:?}");
    let files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), 4);
    let mut to: Vec<String> = Vec::new();
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert!(m.subject().unwrap().starts_with("[DocSpace audit]"));
        to.extend(
            m.to()
                .unwrap()
                .iter()
                .filter_map(|a| a.address())
                .map(str::to_string),
        );
    }
    to.sort();
    assert_eq!(to, vec![ANN, BOB, FALLBACK, SECTEAM[0], SECTEAM[1]]);
    // A second run over the same findings adds only its summary.
    env.run(
        &n,
        &first_run(
            &env,
            "20261103T090000Z-0002",
            t0() + chrono::Duration::days(1),
        ),
    )
    .await;
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 5);
}
