//! `disabled-user-content` end to end against a wiremock portal: finding,
//! preconditions, start, progress, timeout, following a running task, and
//! the read-back.

mod offboarding_common;

use docspace_auditor::check::CheckId;
use docspace_auditor::finding::FindingStatus;
use offboarding_common::*;
use serde_json::json;
use wiremock::ResponseTemplate;

const PROGRESS: &str = "/api/2.0/people/reassign/progress/22222222-0000-4000-8000-000000000001";
const START: &str = "/api/2.0/people/reassign/start";
const NECESSARY: &str = "/api/2.0/people/reassign/necessary";

/// Dora is disabled; the archive owner is an active room admin.
async fn portal(
    owner_status: i64,
    necessary: Vec<bool>,
    archived: Vec<serde_json::Value>,
) -> Portal {
    let p = Portal::start().await;
    let dora = user(
        DORA,
        "Dora",
        "user",
        2,
        Some("2026-05-01T09:00:00.0000000+02:00"),
    );
    p.people(vec![dora.clone()], vec![]).await;
    p.get(&format!("/api/2.0/people/{DORA}"), ok(envelope(dora)))
        .await;
    p.get(
        &format!("/api/2.0/people/{ARCHIVE_OWNER}"),
        ok(envelope(user(
            ARCHIVE_OWNER,
            "Archivist",
            "room-admin",
            owner_status,
            None,
        ))),
    )
    .await;
    let answers = necessary
        .into_iter()
        .map(|b| ok(envelope(json!(b))))
        .collect();
    p.get_q(NECESSARY, "userId", DORA, Sequence::new(answers))
        .await;
    p.get_q(
        "/api/2.0/files/rooms",
        "subjectOwnerId",
        DORA,
        ok(rooms(archived)),
    )
    .await;
    p.empty_audit().await;
    p
}

fn remediate() -> Setup {
    Setup::new().check("disabled-user-content", "mode = \"remediate\"")
}

fn content(
    outcome: &docspace_auditor::audit::RunOutcome,
) -> Vec<&docspace_auditor::finding::Finding> {
    outcome
        .findings
        .iter()
        .filter(|f| f.check == CheckId::DisabledUserContent)
        .collect()
}

#[tokio::test]
async fn reassignment_is_started_followed_and_verified() {
    let p = portal(1, vec![true, false], vec![]).await;
    p.get(
        PROGRESS,
        Sequence::new(vec![
            ok(no_response()),
            ok(task(40, 1, false, None)),
            ok(task(100, 2, true, None)),
        ]),
    )
    .await;
    p.write("POST", START, ok(task(0, 1, false, None)), 1).await;

    let setup = remediate();
    let outcome = setup.run(&p).await;

    let f = content(&outcome);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject.id, DORA);
    assert_eq!(f[0].status, FindingStatus::Fixed, "{}", f[0].detail);
    assert!(
        f[0].detail.contains("reassign/necessary is true"),
        "{}",
        f[0].detail
    );
    assert!(f[0].detail.contains("verified"), "{}", f[0].detail);
    assert_eq!(
        action_lines(&outcome, "disabled-user-content"),
        [
            "reassign-start / done / started: 0% (running)",
            "reassign-progress / in-progress / 40% (running)",
            "reassign-progress / done / 100% (completed)",
            "reassign-finish / done / completed: 100% (completed)",
            "reassign-verify / done / reassign/necessary is false and no archived room is owned",
        ]
    );
    assert_eq!(
        p.writes().await,
        [(
            "POST".to_string(),
            START.to_string(),
            json!({"fromUserId": DORA, "toUserId": ARCHIVE_OWNER, "deleteProfile": false})
        )]
    );
}

#[tokio::test]
async fn a_failing_reassignment_reports_the_error() {
    let p = portal(1, vec![true], vec![]).await;
    p.get(
        PROGRESS,
        Sequence::new(vec![
            ok(no_response()),
            ok(task(
                30,
                4,
                true,
                Some("Reassign failed: the storage is not available"),
            )),
        ]),
    )
    .await;
    p.write("POST", START, ok(task(0, 1, false, None)), 1).await;

    let setup = remediate();
    let outcome = setup.run(&p).await;

    let f = content(&outcome);
    assert_eq!(f[0].status, FindingStatus::Failed);
    assert!(
        f[0].detail.contains("the storage is not available"),
        "{}",
        f[0].detail
    );
    let lines = action_lines(&outcome, "disabled-user-content");
    assert_eq!(
        lines,
        [
            "reassign-start / done / started: 0% (running)",
            "reassign-progress / failed / 30% (failed): Reassign failed: the storage is not available",
            "reassign-finish / failed / the reassignment failed at 30% (failed): Reassign failed: the storage is not available",
        ]
    );
    // No read-back after a failure: reassign/necessary was asked once, by the scan.
    assert_eq!(p.hits(NECESSARY).await, 1);
}

#[tokio::test]
async fn a_stuck_reassignment_stops_at_the_configured_timeout() {
    let p = portal(1, vec![true], vec![]).await;
    p.get(
        PROGRESS,
        Sequence::new(vec![ok(no_response()), ok(task(40, 1, false, None))]),
    )
    .await;
    p.write("POST", START, ok(task(0, 1, false, None)), 1).await;

    let started = std::time::Instant::now();
    let setup = remediate().archive("reassign_timeout_secs = 2");
    let outcome = setup.run(&p).await;
    let elapsed = started.elapsed();

    assert!(
        elapsed < std::time::Duration::from_secs(8),
        "took {elapsed:?}"
    );
    let f = content(&outcome);
    assert_eq!(f[0].status, FindingStatus::Failed);
    assert!(
        f[0].detail
            .contains("not finished after 2s (last 40% (running))"),
        "{}",
        f[0].detail
    );
    assert!(
        f[0].detail.contains("the next run follows it"),
        "{}",
        f[0].detail
    );
    let lines = action_lines(&outcome, "disabled-user-content");
    assert_eq!(
        lines.first().map(String::as_str),
        Some("reassign-start / done / started: 0% (running)")
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("reassign-progress"))
            .count(),
        1,
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("reassign-finish / failed / not finished after 2s"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_running_reassignment_is_followed_not_started_again() {
    let p = portal(1, vec![true, false], vec![]).await;
    p.get(
        PROGRESS,
        Sequence::new(vec![
            ok(task(50, 1, false, None)),
            ok(task(100, 2, true, None)),
        ]),
    )
    .await;
    p.write("POST", START, ok(task(0, 1, false, None)), 0).await;

    let setup = remediate();
    let outcome = setup.run(&p).await;

    let f = content(&outcome);
    assert_eq!(f[0].status, FindingStatus::Fixed, "{}", f[0].detail);
    assert_eq!(
        action_lines(&outcome, "disabled-user-content"),
        [
            "reassign-follow / in-progress / a reassignment is already running (50% (running)); following it, not starting another",
            "reassign-progress / done / 100% (completed)",
            "reassign-finish / done / completed: 100% (completed)",
            "reassign-verify / done / reassign/necessary is false and no archived room is owned",
        ]
    );
    assert!(p.writes().await.is_empty());
}

#[tokio::test]
async fn an_archived_room_owner_is_a_finding_even_when_reassignment_is_not_needed() {
    let p = portal(1, vec![false], vec![room(7, "Project Kestrel", DORA, true)]).await;
    let setup = Setup::new().check("disabled-user-content", "mode = \"report\"");
    let outcome = setup.run(&p).await;

    let f = content(&outcome);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].status, FindingStatus::Open);
    assert!(
        f[0].detail.contains(
            "owns 1 archived room (not counted by reassign/necessary): Project Kestrel (7)"
        ),
        "{}",
        f[0].detail
    );
    assert!(!f[0].detail.contains("reassign/necessary is true"));
    // The real type is sent, as a string name.
    let asked = p.server.received_requests().await.unwrap();
    let q = asked
        .iter()
        .find(|r| r.url.path() == NECESSARY)
        .map(|r| r.url.query().unwrap_or_default().to_string())
        .unwrap();
    assert!(q.contains("type=User"), "{q}");
    assert!(p.writes().await.is_empty());
    let rows = csv(&outcome.report_dir, "findings.csv");
    let row = rows
        .iter()
        .find(|r| r["check"] == "disabled-user-content")
        .unwrap();
    assert_eq!(row["subject_id"], DORA);
    assert_eq!(row["subject_email"], "dora@example.com");
}

#[tokio::test]
async fn a_disabled_archive_owner_means_no_call_and_a_clear_failure() {
    let p = portal(2, vec![true], vec![]).await;
    p.get(PROGRESS, ok(no_response())).await;
    p.write("POST", START, ok(task(0, 1, false, None)), 0).await;

    let setup = remediate();
    let outcome = setup.run(&p).await;

    let f = content(&outcome);
    assert_eq!(f[0].status, FindingStatus::Failed);
    assert!(
        f[0].detail.contains("the archive owner is not active"),
        "{}",
        f[0].detail
    );
    assert_eq!(
        action_lines(&outcome, "disabled-user-content"),
        [
            "reassign-start / failed / no call made: precondition failed: the archive owner is not active (status Terminated); reassignment needs an active target"
        ]
    );
    assert_eq!(
        p.hits(PROGRESS).await,
        0,
        "nothing is asked once a precondition fails"
    );
    assert!(p.writes().await.is_empty());
}

#[tokio::test]
async fn the_start_refusal_is_reported_not_retried() {
    let p = portal(1, vec![true], vec![]).await;
    p.get(PROGRESS, ok(no_response())).await;
    p.write(
        "POST",
        START,
        ResponseTemplate::new(400).set_body_json(json!({
            "error": {"message": "Can not reassign data to user with id = x"}, "status": 1, "statusCode": 400
        })),
        1,
    )
    .await;

    let setup = remediate();
    let outcome = setup.run(&p).await;
    let f = content(&outcome);
    assert_eq!(f[0].status, FindingStatus::Failed);
    assert!(
        f[0].detail.contains("HTTP 400: Can not reassign data"),
        "{}",
        f[0].detail
    );
}
