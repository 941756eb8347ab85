//! Fault matrix, row 5: the reports folder cannot be written. Tests run as
//! root here, and root ignores permission bits, so the folder is made
//! unusable in ways that stop root too: a reports path below a regular file
//! (the folder cannot be created), and a `findings.csv` that is a folder
//! (the finished report cannot be renamed into place, as on a full disk).
//! Either way: a clear error naming the path, exit code 1, the state store
//! not advanced, nothing half-written left behind, and the changes the run
//! made reported by the next run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_common;

use std::path::PathBuf;
use std::time::Duration;

use docspace_auditor::audit::{RunError, RunRequest};
use docspace_fake_portal::{FakePortal, Faults};
use fault_common::reports::actions_csv;
use fault_common::*;

const T: Duration = Duration::from_secs(60);

fn findings_table(setup: &Setup) -> Vec<Vec<String>> {
    state_rows(
        &setup.state_path(),
        "SELECT key, status, first_seen, last_seen, COALESCE(resolved_at, ''), last_run_id FROM findings ORDER BY key",
    )
}

fn runs_table(setup: &Setup) -> Vec<Vec<String>> {
    state_rows(
        &setup.state_path(),
        "SELECT run_id, status FROM runs ORDER BY run_id",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_folder_below_a_file_exits_1_naming_it_and_changes_nothing() {
    let portal = FakePortal::start(scenario(2)).await.unwrap();
    let mut setup = Setup::for_portal(&portal).report_only();
    let first = setup.run_bin("info").await;
    assert_eq!(first.code, Some(3), "{first:?}");
    let findings_before = findings_table(&setup);
    let runs_before = runs_table(&setup);
    assert!(!findings_before.is_empty());
    let requests_before = portal.requests().len();

    // A path below a regular file: no one, root included, can make it.
    let file = setup.dir.path().join("file.txt");
    std::fs::write(&file, "not a folder").unwrap();
    setup.reports = Some(PathBuf::from("file.txt/reports"));
    setup.remediate = true;
    let ran = setup.run_bin("info").await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let path = setup.reports_dir().display().to_string();
    assert!(
        ran.stderr
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains(&path)),
        "the error names {path}:\n{}",
        ran.stderr
    );
    // The state did not move, and the portal was not touched.
    assert_eq!(findings_table(&setup), findings_before);
    assert_eq!(runs_table(&setup), runs_before);
    assert!(portal.writes().is_empty());
    assert_eq!(portal.requests().len(), requests_before);
    assert!(temp_files(setup.dir.path()).is_empty());
    portal.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_fails_the_run_before_the_state_moves() {
    let portal = FakePortal::start(scenario(2)).await.unwrap();
    let mut setup = Setup::for_portal(&portal).report_only();
    let first = setup.auditor(setup.load()).run(RunRequest::default()).await;
    assert!(first.is_ok());
    let findings_before = findings_table(&setup);
    assert!(!findings_before.is_empty());

    // A remediating run, slowed down; as soon as its folder appears,
    // `findings.csv` is taken by a folder, so the finished report cannot be
    // renamed into place.
    portal.set_faults(Faults {
        latency_ms: 30,
        ..Faults::none()
    });
    setup.remediate = true;
    let reports = setup.reports_dir();
    let before = run_dirs(&reports);
    let auditor = setup.auditor(setup.load());
    let run = tokio::spawn(async move { auditor.run(RunRequest::default()).await });
    let mut blocked = None;
    wait_until("the run folder", T, || {
        let new: Vec<PathBuf> = run_dirs(&reports)
            .into_iter()
            .filter(|d| !before.contains(d))
            .collect();
        if let Some(d) = new.first() {
            std::fs::create_dir(d.join("findings.csv")).unwrap();
            blocked = Some(d.clone());
        }
        blocked.is_some()
    })
    .await;
    let run_dir = blocked.unwrap();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, RunError::Report(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&run_dir.join("findings.csv").display().to_string()),
        "{message}"
    );
    // Visibly failed, nothing half-written, the state where it was.
    assert_eq!(status(&run_dir), "failed");
    assert!(
        manifest(&run_dir)["note"]
            .as_str()
            .unwrap()
            .contains("findings.csv")
    );
    assert!(!run_dir.join("actions.csv").exists());
    assert!(temp_files(setup.dir.path()).is_empty());
    assert_eq!(findings_table(&setup), findings_before);
    let run_id = run_dir.file_name().unwrap().to_string_lossy().to_string();
    assert!(runs_table(&setup).contains(&vec![run_id.clone(), "failed".to_string()]));

    // The portal was changed all the same: the next run reports those
    // changes as `recover-*` rows naming the failed run.
    portal.set_faults(Faults::none());
    let next = setup
        .auditor(setup.load())
        .run(RunRequest::default())
        .await
        .unwrap();
    let rows = actions_csv(&next.report_dir);
    for n in 1..=2 {
        for (action, subject) in [
            ("recover-remove-member", guest_id(n)),
            ("recover-revoke-link", link_id(n)),
            ("recover-unarchive", format!("room:{}", room_id(n))),
            ("recover-re-archive", format!("room:{}", room_id(n))),
        ] {
            assert!(
                rows.iter().any(|r| r["action"] == action
                    && r["subject"].contains(&subject)
                    && r["outcome"] == "done"
                    && r["error"].contains(&run_id)),
                "{action} {subject}: {rows:#?}"
            );
        }
    }
    // Reported once: a further run repeats none of it.
    let again = setup
        .auditor(setup.load())
        .run(RunRequest::default())
        .await
        .unwrap();
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    portal.shutdown().await;
}
