//! End to end under faults: a generated portal of 200 archived rooms whose
//! fake server answers about one request in ten with a fault (429 with
//! `Retry-After: 1`, 500, 502, 503, a cut-off body, or a hang longer than
//! the client's timeout). The run must complete, account for every archived
//! room (audited, or a `room-audit` finding with status `failed`), and claim
//! nothing as fixed that the portal's state does not show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_common;
#[path = "common/reports.rs"]
#[allow(dead_code)]
mod reports;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use docspace_auditor::check::CheckId;
use docspace_auditor::finding::{ActionOutcome, FindingStatus};
use docspace_fake_portal::{FakePortal, FaultKind, Faults, GenerateSpec, PathFault, Scenario};
use e2e_common::{Options, assert_fixed_findings_hold, auditor, run};

const ARCHIVED: usize = 200;

fn scenario() -> Scenario {
    let mut s = Scenario::generate(
        GenerateSpec {
            archived_rooms: ARCHIVED,
            active_rooms: 20,
            share_entries: 700,
            links: 200,
            users: 60,
            guests: 30,
        },
        20_260_615,
    );
    s.fileops_polls = 1;
    s.reassign_steps = vec![100];
    s
}

/// Rooms whose share reads always fail: they must be reported, not lost.
fn broken_rooms(archived: &[String]) -> Vec<String> {
    archived.iter().step_by(40).cloned().collect()
}

/// About 10 % of requests get a fault. The calls whose failure ends the whole
/// run by design (the key's user, the room listing the run is built on) are
/// exempted with a zero-delay override; everything else (share reads, owner
/// lookups, people listings, room counts, every write, file operations) takes
/// its chance.
fn faults(broken: &[String]) -> Faults {
    let mut f = Faults {
        rate_limited: 0.015,
        retry_after_secs: 1,
        server_error: 0.02,
        bad_gateway: 0.01,
        unavailable: 0.025,
        malformed: 0.02,
        hang: 0.01,
        hang_ms: 1_500,
        seed: 7,
        ..Faults::none()
    };
    for (method, path) in [
        ("GET", "/api/2.0/people/@self"),
        ("GET", "/api/2.0/files/rooms"),
    ] {
        f = f.with_override(PathFault::new(
            Some(method),
            path,
            FaultKind::Slow { ms: 0 },
        ));
    }
    for id in broken {
        f = f.with_override(PathFault::new(
            Some("GET"),
            &format!("/api/2.0/files/rooms/{id}/share"),
            FaultKind::ServerError { status: 500 },
        ));
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_ten_percent_faults_completes_and_accounts_for_every_archived_room() {
    let scenario = scenario();
    let archived: Vec<String> = scenario
        .rooms
        .iter()
        .filter(|r| r.archived)
        .map(|r| r.id.key())
        .collect();
    assert_eq!(archived.len(), ARCHIVED);
    let key_user = scenario.key_user.clone();
    let broken = broken_rooms(&archived);
    let portal = FakePortal::start(scenario).await.unwrap();
    portal.set_faults(faults(&broken));
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        request_timeout_secs: 1,
        max_retries: 4,
        retry_base_ms: 20,
        max_changes: 40,
        designated: None,
        archive_owner: Some(key_user.clone()),
        hr_group: None,
        modes: vec![
            ("disabled-user-content", "report"),
            ("orphaned-guests", "report"),
        ],
        ..Options::default()
    };
    let auditor = auditor(&portal, dir.path(), &options);

    let started = Instant::now();
    let out = run(&auditor).await;
    let elapsed = started.elapsed();

    // The faults really happened, at about the intended rate (cut-off
    // bodies come with a 200 and are not counted here).
    let requests = portal.requests().len();
    assert!(requests > 500, "only {requests} requests");
    let by_status = auditor.client().stats().by_status();
    let seen = |k: &str| by_status.get(k).copied().unwrap_or(0);
    for kind in ["429", "500", "502", "503", "error"] {
        assert!(seen(kind) > 0, "no {kind} answers: {by_status:?}");
    }
    let faulted: u64 = ["429", "500", "502", "503", "error"].map(seen).iter().sum();
    let share = faulted as f64 / requests as f64;
    assert!(
        (0.04..0.15).contains(&share),
        "{share:.3} of requests faulted: {by_status:?}"
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "the run took {elapsed:?}"
    );

    // Every archived room is accounted for. (`room-audit` also reports
    // users the offboarding checks could not audit; those have no room.)
    let failed: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.check == CheckId::RoomAudit && f.room.is_some())
        .map(|f| {
            assert_eq!(f.status, FindingStatus::Failed, "{f:?}");
            f.subject.id.as_str()
        })
        .collect();
    let failed_set: HashSet<&str> = failed.iter().copied().collect();
    assert_eq!(
        failed.len(),
        failed_set.len(),
        "a room failed twice: {failed:?}"
    );
    assert!(failed_set.iter().all(|id| archived.iter().any(|a| a == id)));
    assert_eq!(out.rooms_failed, failed.len());
    assert_eq!(
        out.rooms_audited + out.rooms_failed,
        ARCHIVED,
        "audited {} + failed {} != {ARCHIVED} archived rooms",
        out.rooms_audited,
        out.rooms_failed
    );
    for id in &broken {
        assert!(failed_set.contains(id.as_str()), "room {id} always fails");
    }
    assert!(
        out.rooms_audited >= ARCHIVED * 3 / 4,
        "{} rooms audited",
        out.rooms_audited
    );
    // The report says the same.
    let findings = reports::findings_csv(&out.report_dir);
    let failed_rows: Vec<_> = reports::rows_where(&findings, "check", "room-audit")
        .into_iter()
        .filter(|r| !r["room_id"].is_empty())
        .collect();
    assert_eq!(failed_rows.len(), failed.len());
    assert!(failed_rows.iter().all(|r| r["status"] == "failed"));

    // Remediation went ahead and nothing is claimed that did not happen.
    let fixed = assert_fixed_findings_hold(&portal.state(), &out, Some(&key_user), None);
    assert!(fixed > 0, "nothing was fixed");
    let state = portal.state();
    for a in out
        .actions
        .iter()
        .filter(|a| a.outcome == ActionOutcome::Done && a.verified)
    {
        let room = a
            .room_id
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        match a.action.as_str() {
            "re-archive" => assert!(state.is_archived(&room), "{a:?}"),
            "unarchive" => {}
            "remove-member" | "revoke-link" => {
                let id = a
                    .subject
                    .split_once(':')
                    .map(|(_, rest)| rest.split(' ').next().unwrap_or(rest))
                    .unwrap();
                assert!(
                    !state.room_members(&room).iter().any(|(m, _)| m == id)
                        && !state.room_links(&room).iter().any(|l| l.id == id),
                    "{a:?}"
                );
            }
            other => panic!("unexpected verified action {other}: {a:?}"),
        }
    }
    // A room left outside the Archive (its re-archive failed) is reported
    // as such, and the next run, without faults, puts it back.
    let left_out: Vec<&String> = archived
        .iter()
        .filter(|id| !state.is_archived(id))
        .collect();
    for id in &left_out {
        assert!(
            out.actions
                .iter()
                .any(
                    |a| a.room_id.as_ref().map(|r| r.to_string()).as_ref() == Some(*id)
                        && a.action == "re-archive"
                        && a.outcome == ActionOutcome::Failed
                ),
            "room {id} is outside the Archive and no failed re-archive says so"
        );
    }
    portal.set_faults(Faults::none());
    let again = run(&auditor).await;
    assert_eq!((again.rooms_audited, again.rooms_failed), (ARCHIVED, 0));
    let state = portal.state();
    let still_out: Vec<&String> = archived
        .iter()
        .filter(|id| !state.is_archived(id))
        .collect();
    assert!(
        still_out.is_empty(),
        "still outside the Archive: {still_out:?}"
    );
    assert_fixed_findings_hold(&state, &again, Some(&key_user), None);
    eprintln!(
        "{} left outside the Archive and re-archived by the next run",
        left_out.len()
    );
    eprintln!(
        "{requests} requests in {elapsed:?}: {} audited, {} failed, {fixed} fixed, {} actions",
        out.rooms_audited,
        out.rooms_failed,
        out.actions.len()
    );
}
