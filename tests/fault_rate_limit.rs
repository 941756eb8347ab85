//! Fault matrix, row 3: a 429 storm. The client must slow down to the
//! server's pace: after a 429 with `Retry-After: 1` no worker sends anything
//! before about a second has passed (the back-off is shared by every worker,
//! including calls already queued for a connection slot), and the run still
//! completes. Arrival times come from polling the fake portal's request log
//! every millisecond; the auditor runs in-process on the real clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use docspace_auditor::audit::RunRequest;
use docspace_fake_portal::{FakePortal, FaultKind, Faults, PathFault, RecordedRequest};
use fault_common::*;

const SHARE: &str = "/api/2.0/files/rooms/{id}/share";
/// Latency of every request: the 429 reaches the client this much after the
/// request reached the portal, and the other workers' requests are still
/// in flight then, holding their connection slots.
const LATENCY_MS: u64 = 200;
/// Requests already on the wire when the 429 reaches the client may land
/// this much later (loopback, plus the polling of the request log, which
/// a loaded machine may delay).
const IN_FLIGHT_MS: u64 = 100;

fn rate_limited() -> FaultKind {
    FaultKind::RateLimited {
        retry_after_secs: 1,
    }
}

/// Runs a report-only audit of `rooms` rooms under `overrides`; returns
/// every request with its arrival time.
async fn audit_under(rooms: u32, overrides: Vec<PathFault>) -> Vec<(Instant, RecordedRequest)> {
    let portal = Arc::new(FakePortal::start(scenario(rooms)).await.unwrap());
    portal.set_faults(Faults {
        latency_ms: LATENCY_MS,
        overrides,
        ..Faults::none()
    });
    let mut setup = Setup::for_portal(&portal).report_only();
    setup.max_concurrency = 4;
    setup.max_retries = 6;
    let auditor = setup.auditor(setup.load());
    let timeline = Timeline::start(portal.clone());
    let outcome = auditor.run(RunRequest::default()).await.unwrap();
    let seen = timeline.finish();
    assert_eq!(outcome.rooms_failed, 0, "{:#?}", outcome.findings);
    assert_eq!(outcome.rooms_audited, rooms as usize);
    seen
}

/// Arrival times of the first `n` requests matching `path` (a path or a
/// template): the ones a `times(n)` override hit, since the portal picks
/// faults in the order it records requests.
fn first(seen: &[(Instant, RecordedRequest)], path: &str, n: usize) -> Vec<Instant> {
    let hits: Vec<Instant> = seen
        .iter()
        .filter(|(_, r)| r.method == "GET" && (r.template == path || r.path == path))
        .take(n)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(hits.len(), n);
    hits
}

/// Requests that reached the portal inside a pause: after the refused
/// request's answer was on its way plus the in-flight margin, and before a
/// second had passed since it arrived.
fn inside_pauses(
    seen: &[(Instant, RecordedRequest)],
    refused: &[Instant],
) -> Vec<(Duration, String)> {
    let mut bad = Vec::new();
    for &t in refused {
        let from = t + Duration::from_millis(LATENCY_MS + IN_FLIGHT_MS);
        let to = t + Duration::from_millis(990);
        for (at, r) in seen {
            if *at > from && *at < to {
                bad.push((*at - t, format!("{} {}?{}", r.method, r.path, r.query)));
            }
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_429_with_retry_after_pauses_every_worker_for_a_second() {
    // Room 102's first share read is refused while room 101's share reads
    // are slow: they hold two of the four connection slots well into the
    // pause, and the calls queued behind them must not go out when the
    // slots free up.
    let seen = audit_under(
        12,
        vec![
            PathFault::new(
                Some("GET"),
                "/api/2.0/files/rooms/102/share",
                rate_limited(),
            )
            .times(1),
            PathFault::new(
                Some("GET"),
                "/api/2.0/files/rooms/101/share",
                FaultKind::Slow { ms: 600 },
            )
            .times(2),
        ],
    )
    .await;
    let refused = first(&seen, "/api/2.0/files/rooms/102/share", 1);
    let bad = inside_pauses(&seen, &refused);
    assert!(bad.is_empty(), "sent during the pause: {bad:#?}");
    let t = refused[0];
    let after: Vec<_> = seen
        .iter()
        .filter(|(at, _)| *at >= t + Duration::from_millis(990))
        .collect();
    assert!(
        after.len() > 4,
        "the scan went on after the pause ({} requests)",
        after.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_ridden_out_at_the_servers_pace() {
    let storm = 10;
    let seen = audit_under(
        12,
        vec![PathFault::new(Some("GET"), SHARE, rate_limited()).times(storm)],
    )
    .await;
    let refused = first(&seen, SHARE, storm as usize);
    let bad = inside_pauses(&seen, &refused);
    assert!(bad.is_empty(), "sent during a pause: {bad:#?}");
    // Every refusal costs the whole client a second.
    let first = seen.first().unwrap().0;
    let last = seen.last().unwrap().0;
    assert!(last - first >= Duration::from_secs(2), "{:?}", last - first);
    // Not hammering: every refused read is retried once per refusal, and
    // nothing else is repeated.
    let share_reads = seen
        .iter()
        .filter(|(_, r)| r.method == "GET" && r.template == SHARE)
        .count();
    assert_eq!(share_reads, 12 * 2 + storm as usize);
}
