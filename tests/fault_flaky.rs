//! Fault matrix, row 2: about 30% of the requests fail (500, 502, 503, a
//! hang longer than the client's timeout, a body cut off mid-JSON) on every
//! room-level call, reads and writes alike, during a remediating run. The
//! run must complete; every room is either audited or listed as `failed`
//! with the reason; nothing is reported fixed that the portal does not
//! show; and a later run on a healthy portal finishes the job, with every
//! room back in the Archive.
//!
//! Which request gets which fault depends on the order requests arrive in,
//! which concurrency shuffles: the assertions hold for any order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Both include `common/reports.rs`; one copy per module is harmless.
#[allow(clippy::duplicate_mod)]
mod common;
mod fault_common;

use std::sync::Arc;
use std::time::Duration;

use common::config::TestConfig;
use common::portal::{Portal, RoomSpec, UserSpec, Writes};
use docspace_auditor::audit::{Auditor, RunRequest};
use docspace_auditor::clock::ManualClock;
use docspace_auditor::finding::{ActionOutcome, FindingStatus};
use docspace_fake_portal::{FakePortal, FaultKind, Faults, PathFault};
use fault_common::reports::{actions_csv, findings_csv, rows_where};
use fault_common::*;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const ROOMS: u32 = 16;
const HANG_MS: u64 = 1_500;

fn flaky(seed: u64) -> Faults {
    // The key check and the room list are left alone: without them there
    // is no run, and that case is a failed run, tested elsewhere.
    let clean = |path: &str| PathFault::new(Some("GET"), path, FaultKind::Slow { ms: 0 });
    Faults {
        server_error: 0.10,
        bad_gateway: 0.05,
        unavailable: 0.05,
        hang: 0.05,
        malformed: 0.05,
        hang_ms: HANG_MS,
        seed,
        overrides: vec![
            clean("/api/2.0/people/@self"),
            clean("/api/2.0/files/rooms"),
        ],
        ..Faults::none()
    }
}

async fn flaky_run_then_healthy_run(seed: u64) {
    let portal = FakePortal::start(scenario(ROOMS)).await.unwrap();
    portal.set_faults(flaky(seed));
    let mut setup = Setup::for_portal(&portal);
    setup.max_retries = 2;
    let mut config = setup.load();
    // A short client timeout, so a hang is a timeout, not a slow answer.
    config.portal.request_timeout = Duration::from_millis(400);
    let outcome = setup
        .auditor(config)
        .run(RunRequest::default())
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: the run must complete: {e}"));

    // Every room is accounted for: audited, or failed with the reason.
    assert_eq!(
        outcome.rooms_audited + outcome.rooms_failed,
        ROOMS as usize,
        "seed {seed}"
    );
    let findings = findings_csv(&outcome.report_dir);
    let failed_rooms = rows_where(&findings, "check", "room-audit");
    assert_eq!(failed_rooms.len(), outcome.rooms_failed, "seed {seed}");
    for f in &failed_rooms {
        assert_eq!(f["status"], "failed");
        assert!(
            f["detail"].starts_with("room could not be audited: ") && f["detail"].len() > 30,
            "seed {seed}: {f:?}"
        );
    }

    // Hung requests are processed late by the portal: let them land, then
    // compare what the report claims with what the portal holds.
    tokio::time::sleep(Duration::from_millis(HANG_MS + 300)).await;
    portal.set_faults(Faults::none());
    let view = portal.state();
    for f in rows_where(&findings, "status", "fixed") {
        let room = &f["room_id"];
        match f["check"].as_str() {
            "archived-room-guests" => assert!(
                !view
                    .room_members(room)
                    .iter()
                    .any(|(id, _)| id == &f["subject_id"]),
                "seed {seed}: reported fixed but still a member: {f:?}"
            ),
            "archived-room-links" => assert!(
                !view
                    .room_links(room)
                    .iter()
                    .any(|l| l.id == f["subject_id"]),
                "seed {seed}: reported fixed but the link is there: {f:?}"
            ),
            other => panic!("unexpected check {other}"),
        }
    }
    for a in actions_csv(&outcome.report_dir) {
        if a["outcome"] == "done" {
            assert_eq!(a["verified"], "yes", "seed {seed}: {a:?}");
        }
    }

    // A healthy portal: the next run finishes what the flaky one could not,
    // and every room ends up in the Archive, its guest and link gone.
    let second = setup
        .auditor(setup.load())
        .run(RunRequest::default())
        .await
        .unwrap();
    assert_eq!(second.rooms_failed, 0, "seed {seed}");
    let view = portal.state();
    for n in 1..=ROOMS {
        let id = room_id(n);
        assert!(view.is_archived(&id), "seed {seed}: room {id} left active");
        assert!(
            !view
                .room_members(&id)
                .iter()
                .any(|(u, _)| u == &guest_id(n)),
            "seed {seed}: room {id}"
        );
        assert!(view.room_links(&id).is_empty(), "seed {seed}: room {id}");
    }
    let state = setup.state_path();
    assert!(state_rows(&state, "SELECT room_id FROM archive_transactions").is_empty());
    portal.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_failures_seed_1() {
    flaky_run_then_healthy_run(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_failures_seed_2() {
    flaky_run_then_healthy_run(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_failures_seed_3() {
    flaky_run_then_healthy_run(3).await;
}

/// Takes a write in, applies it `after` later (as a busy server does), and
/// answers only after the client gave up.
struct LateApply {
    inner: Arc<common::portal::AppliedThen>,
    after: Duration,
}

impl Respond for LateApply {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (inner, request, after) = (self.inner.clone(), request.clone(), self.after);
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let _ = inner.respond(&request);
        });
        ResponseTemplate::new(200).set_delay(Duration::from_secs(3))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unarchive_that_lands_after_the_timeout_is_undone_by_the_next_run() {
    // The unarchive times out, the room still reads archived, and only then
    // does the portal move it out of the Archive. The transaction must stay
    // open so the next run checks the room and puts it back.
    let owner = UserSpec::room_admin(2, "Olga Owner", "olga@company.example");
    let guest = UserSpec::guest(3, "Gus Guest", "gus@partner.example");
    let portal = Portal::builder()
        .room(
            RoomSpec::archived(101, "Project 1", &owner)
                .guest(&guest)
                .expect_writes(Writes {
                    share: 1,
                    links: 0,
                    unarchive: 1,
                    archive: 2,
                }),
        )
        .start()
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/2.0/files/rooms/101/unarchive"))
        .respond_with(LateApply {
            inner: Arc::new(portal.applied_then(200)),
            after: Duration::from_millis(600),
        })
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let auditor = |timeout: Duration| {
        let mut c = cfg.load();
        c.portal.request_timeout = timeout;
        Auditor::new(
            Arc::new(c),
            Arc::new(ManualClock::new(common::now())),
            CancellationToken::new(),
        )
        .unwrap()
    };
    let first = auditor(Duration::from_millis(300))
        .run(RunRequest::default())
        .await
        .unwrap();
    assert!(
        first
            .findings
            .iter()
            .all(|f| f.status != FindingStatus::Fixed),
        "{:#?}",
        first.findings
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!portal.room(101).archived, "the late unarchive landed");

    let second = auditor(Duration::from_secs(10))
        .run(RunRequest::default())
        .await
        .unwrap();
    let room = portal.room(101);
    assert!(room.archived, "left active: {:#?}", second.actions);
    assert!(!room.has_member(&guest.id));
    assert!(
        second
            .actions
            .iter()
            .any(|a| a.action == "recover-re-archive" && a.outcome == ActionOutcome::Done),
        "{:#?}",
        second.actions
    );
    portal.verify().await;
}
