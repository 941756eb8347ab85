//! SIGHUP re-reads the config: an invalid one is rejected with a clear log
//! line and the daemon goes on with the old one; a valid one replaces the
//! schedules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod daemon_harness;

use std::time::Duration;

use daemon_harness::*;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rejects_a_bad_config_and_applies_a_good_one() {
    let portal = portal(1).await;
    let mut setup = Setup::new(&portal).schedule("yearly", "0 0 0 1 1 *");
    let mut daemon = setup.start();
    daemon.wait_for("daemon started", T).await;

    // A broken config: a five-field cron and an unknown key.
    let good = setup.toml();
    std::fs::write(
        setup.path(),
        good.replace("0 0 0 1 1 *", "0 0 1 1 *") + "\n[bogus]\nx = 1\n",
    )
    .unwrap();
    daemon.signal("HUP");
    let line = daemon.wait_for("config reload rejected", T).await;
    assert!(line.contains("previous config stays"), "{line}");
    assert!(daemon.is_running());

    // Still the old schedule, no run; now a valid config with a
    // per-second schedule.
    assert!(complete_runs(&setup.reports_dir()).is_empty());
    setup.schedules = vec![("every second".into(), "* * * * * *".into(), "audit")];
    setup.write();
    daemon.signal("HUP");
    daemon.wait_for("config reloaded", T).await;
    let reports = setup.reports_dir();
    daemon
        .wait_until("a run on the new schedule", T, || {
            !complete_runs(&reports).is_empty()
        })
        .await;

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
}
