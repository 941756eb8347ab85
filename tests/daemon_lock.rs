//! Single instance: a second daemon on the same state store exits 2 and
//! names the holder; once the first stops, the lock is free again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod daemon_harness;

use std::time::Duration;

use daemon_harness::*;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_exits_2_naming_the_holder() {
    let portal = portal(1).await;
    // Once a year: no run during the test.
    let setup = Setup::new(&portal).schedule("yearly", "0 0 0 1 1 *");
    let mut first = setup.start();
    first.wait_for("daemon started", T).await;
    assert!(setup.state_path().with_extension("sqlite.lock").exists());

    let mut second = Daemon::start(&setup.path(), &setup.token, &[]);
    let code = second.wait_exit(T).await;
    let log = second.logs();
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("holds the lock"), "{log}");
    assert!(log.contains(&format!("pid {}", first.pid)), "{log}");
    assert!(log.contains("daemon"), "{log}");

    first.signal("TERM");
    assert_eq!(first.wait_exit(T).await, Some(0), "{}", first.logs());

    // Free again.
    let mut third = setup.start();
    third.wait_for("daemon started", T).await;
    third.signal("INT");
    assert_eq!(third.wait_exit(T).await, Some(0), "{}", third.logs());
}
