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
