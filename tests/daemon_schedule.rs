//! The daemon binary on a per-second schedule against the fake portal:
//! runs repeat, SIGTERM in the middle of a run ends the process cleanly
//! (exit 0, every report complete, nothing half-written), systemd hears
//! READY/WATCHDOG/STOPPING, and a slow portal makes ticks skip instead of
//! overlapping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod daemon_harness;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon_harness::*;
use docspace_fake_portal::Faults;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_repeat_and_sigterm_mid_run_exits_cleanly() {
    let portal = portal(6).await;
    let setup = Setup::new(&portal).schedule("every second", "* * * * * *");
    setup.write();

    // A notification socket, as systemd would hand it over.
    let sock_path = setup.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // Read as systemd does, while the daemon runs, until the stop.
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let listener = {
        let (heard, done) = (heard.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !done.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                    heard.lock().unwrap().push(m);
                }
            }
        })
    };
    let mut daemon = Daemon::start(
        &setup.path(),
        &setup.token,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "400000".to_string()),
        ],
    );

    let reports = setup.reports_dir();
    daemon
        .wait_until("two complete scheduled runs", T, || {
            complete_runs(&reports).len() >= 2
        })
        .await;

    // Slow the portal down so the next run is still going when SIGTERM comes.
    let before: BTreeSet<String> = runs(&reports).into_iter().map(|(n, _)| n).collect();
    portal.set_faults(Faults {
        latency_ms: 250,
        ..Faults::default()
    });
    daemon
        .wait_until("a run in progress", T, || {
            runs(&reports)
                .iter()
                .any(|(n, m)| !before.contains(n) && status(m) == "running")
        })
        .await;
    let in_progress: Vec<String> = runs(&reports)
        .into_iter()
        .filter(|(_, m)| status(m) == "running")
        .map(|(n, _)| n)
        .collect();
    daemon.signal("TERM");
    let code = daemon.wait_exit(T).await;
    let log = daemon.logs();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("daemon stopped"), "{log}");

    // Every run folder is finished, including the one SIGTERM interrupted.
    let all = runs(&reports);
    assert!(all.len() >= 3, "{all:?}");
    for (name, manifest) in &all {
        assert_ne!(
            status(manifest),
            "running",
            "{name} was left running:\n{log}"
        );
        assert!(!status(manifest).is_empty(), "{name} has no run.json");
    }
    for name in &in_progress {
        let manifest = all
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| status(m))
            .unwrap_or_default();
        // A run cut short says so; it never claims a complete audit (and
        // so never marks unseen findings resolved).
        assert_eq!(manifest, "stopped", "{name}:\n{log}");
        let dir = reports.join(name);
        assert!(dir.join("findings.csv").exists(), "{name}: no findings.csv");
        assert!(dir.join("actions.csv").exists(), "{name}: no actions.csv");
    }
    for name in complete_runs(&reports) {
        assert!(reports.join(&name).join("findings.csv").exists(), "{name}");
    }
    assert!(
        temp_files(setup.dir.path()).is_empty(),
        "{:?}",
        temp_files(setup.dir.path())
    );

    // systemd heard about readiness, the watchdog and the stop.
    done.store(true, Ordering::SeqCst);
    listener.join().unwrap();
    let messages = heard.lock().unwrap().clone();
    assert!(
        messages.iter().any(|m| m.starts_with("READY=1")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m == "WATCHDOG=1"), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with("STOPPING=1")),
        "{messages:?}"
    );
    let ready = messages
        .iter()
        .position(|m| m.starts_with("READY=1"))
        .unwrap();
    let stopping = messages
        .iter()
        .position(|m| m.starts_with("STOPPING=1"))
        .unwrap();
    assert!(ready < stopping);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_portal_makes_the_next_tick_skip() {
    let portal = portal(3).await;
    portal.set_faults(Faults {
        latency_ms: 700,
        ..Faults::default()
    });
    let setup = Setup::new(&portal).schedule("every second", "* * * * * *");
    setup.write();
    let mut daemon = Daemon::start(
        &setup.path(),
        &setup.token,
        &[(
            "RUST_LOG",
            "info,docspace_auditor::daemon=debug".to_string(),
        )],
    );
    daemon
        .wait_for("skipped: previous run still in progress", T)
        .await;
    let reports = setup.reports_dir();
    daemon
        .wait_until("a complete run", T, || !complete_runs(&reports).is_empty())
        .await;
    daemon.wait_for_nth("scheduled audit starting", 2, T).await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());

    // Runs never overlapped: each start is followed by the loop going idle
    // before the next start.
    let log = daemon.logs();
    let mut running = false;
    for line in log.lines() {
        if line.contains("scheduled audit starting") {
            assert!(!running, "a run started while another was going:\n{log}");
            running = true;
        } else if line.contains("run loop idle") {
            running = false;
        }
    }
    let skipped = log
        .lines()
        .filter(|l| l.contains("skipped: previous run still in progress"))
        .collect::<Vec<_>>();
    assert!(
        skipped[0].contains("schedule=\"every second\"")
            || skipped[0].contains("schedule=every second"),
        "{}",
        skipped[0]
    );
    assert!(temp_files(setup.dir.path()).is_empty());
}

/// The summaries in the outbox, as (subject, text body), oldest first.
fn summaries(outbox: &std::path::Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|(_, p)| {
            let raw = std::fs::read(&p).ok()?;
            let msg = mail_parser::MessageParser::default().parse(&raw)?;
            let to_secteam = msg
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a == "secteam@company.example");
            if !to_secteam {
                return None;
            }
            Some((
                msg.subject().unwrap_or_default().to_string(),
                msg.body_text(0).unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// Run ids listed under "Runs covered by this summary".
fn covered_runs(body: &str) -> Vec<String> {
    body.lines()
        .skip_while(|l| !l.starts_with("Runs covered by this summary"))
        .skip(1)
        .take_while(|l| l.starts_with("  - "))
        .filter_map(|l| l.trim_start_matches("  - ").split(',').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_summary_covers_each_run_once() {
    let portal = portal(2).await;
    let setup = Setup::new(&portal)
        .schedule("every second", "* * * * * *")
        .summary_schedule("every 3 seconds", "*/3 * * * * *")
        .scheduled_summaries();
    let mut daemon = setup.start();
    let outbox = setup.outbox_dir();
    daemon
        .wait_until("two scheduled summaries", T, || {
            summaries(&outbox).len() >= 2
        })
        .await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());

    let reports = setup.reports_dir();
    let complete: BTreeSet<String> = complete_runs(&reports).into_iter().collect();
    let sent = summaries(&outbox);
    // Hourly audits do not mean hourly summaries: fewer summaries than runs,
    // and no run reported in two of them.
    assert!(
        sent.len() < complete.len(),
        "{} summaries for {} runs",
        sent.len(),
        complete.len()
    );
    let mut covered = BTreeSet::new();
    let mut summarised_several = false;
    for (subject, body) in &sent {
        assert!(subject.starts_with("[DocSpace audit] "), "{subject}");
        let ids = covered_runs(body);
        assert!(!ids.is_empty(), "a summary without its runs:\n{body}");
        if ids.len() > 1 {
            summarised_several = true;
            assert!(
                subject.contains(&format!("Summary of {} runs", ids.len())),
                "{subject}"
            );
        }
        for id in ids {
            assert!(
                complete.contains(&id),
                "{id} is not a finished run: {complete:?}"
            );
            assert!(covered.insert(id.clone()), "{id} was summarised twice");
        }
        // The latest run's findings: each room's guest is still there.
        assert!(body.contains("archived-room-guests"), "{body}");
    }
    assert!(summarised_several, "no summary covered more than one run");
    let log = daemon.logs();
    assert!(log.contains("summary job done"), "{log}");
    assert!(temp_files(setup.dir.path()).is_empty());
}
