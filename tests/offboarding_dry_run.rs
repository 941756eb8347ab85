//! Dry-run: a reassignment, an orphaned guest deletion and archive drift
//! are all planned, and not one write reaches the portal.

mod offboarding_common;

use docspace_auditor::check::CheckId;
use docspace_auditor::finding::FindingStatus;
use offboarding_common::*;
use serde_json::json;

#[tokio::test]
async fn dry_run_plans_everything_and_writes_nothing() {
    let p = Portal::start().await;
    // A disabled user with content.
    let dora = user(
        DORA,
        "Dora",
        "user",
        2,
        Some("2026-05-01T09:00:00.0000000+02:00"),
    );
    p.people(
        vec![dora.clone()],
        vec![user(GUEST, "Gina Guest", "guest", 1, None)],
    )
    .await;
    p.get(&format!("/api/2.0/people/{DORA}"), ok(envelope(dora)))
        .await;
    p.get_q(
        "/api/2.0/people/reassign/necessary",
        "userId",
        DORA,
        ok(envelope(json!(true))),
    )
    .await;
    p.get_q(
        "/api/2.0/files/rooms",
        "subjectOwnerId",
        DORA,
        ok(rooms(vec![])),
    )
    .await;
    p.get_q(
        "/api/2.0/files/rooms",
        "subjectId",
        DORA,
        ok(rooms(vec![room(9, "Sales", BOB, false)])),
    )
    .await;
    p.empty_audit().await;
    // An orphaned guest.
    p.get_q(
        "/api/2.0/files/rooms",
        "subjectId",
        GUEST,
        ok(room_total(0)),
    )
    .await;
    // A designated archive room with an extra member.
    p.get(
        "/api/2.0/files/rooms/42",
        ok(envelope(room(42, "HR Archive", ROOM_OWNER, false))),
    )
    .await;
    p.get_q(
        "/api/2.0/files/rooms/42/share",
        "filterType",
        "0",
        ok(paged(vec![
            user_share(ROOM_OWNER, "Olga", 1, true),
            user_share(ARCHIVE_OWNER, "Archivist", 9, false),
            user_share(BOB, "Bob", 10, false),
        ])),
    )
    .await;
    p.get_q(
        "/api/2.0/files/rooms/42/share",
        "filterType",
        "2",
        ok(paged(vec![])),
    )
    .await;
    // Every write the non-dry-run would make, each expected zero times.
    for (verb, path) in [
        ("POST", "/api/2.0/people/reassign/start"),
        ("PUT", "/api/2.0/people/status/2"),
        ("PUT", "/api/2.0/people/delete"),
        ("DELETE", "/api/2.0/people/guests"),
        ("PUT", "/api/2.0/files/rooms/42/share"),
        ("PUT", "/api/2.0/files/rooms/9/share"),
    ] {
        p.write(verb, path, ok(no_response()), 0).await;
    }

    let setup = Setup::new()
        .dry_run()
        .check("disabled-user-content", "mode = \"remediate\"")
        .check("disabled-user-access", "mode = \"remediate\"")
        .check(
            "orphaned-guests",
            "mode = \"remediate\"\naction = \"delete\"",
        )
        .check("archive-access-drift", "mode = \"remediate\"")
        .archive("designated_rooms = [42]");
    let outcome = setup.run(&p).await;

    assert!(outcome.dry_run);
    assert!(p.writes().await.is_empty());
    for check in [
        CheckId::DisabledUserContent,
        CheckId::DisabledUserAccess,
        CheckId::OrphanedGuests,
        CheckId::ArchiveAccessDrift,
    ] {
        let f: Vec<_> = outcome
            .findings
            .iter()
            .filter(|f| f.check == check)
            .collect();
        assert!(!f.is_empty(), "{check}: no finding");
        assert!(
            f.iter().all(|f| f.status == FindingStatus::Open),
            "{check}: {f:#?}"
        );
    }
    let planned: Vec<String> = csv(&outcome.report_dir, "actions.csv")
        .into_iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["check"], r["action"], r["dry_run"], r["outcome"]
            )
        })
        .collect();
    for expected in [
        "disabled-user-content reassign-start yes planned",
        "disabled-user-access remove-member yes planned",
        "orphaned-guests delete-guest yes planned",
        "archive-access-drift remove-member yes planned",
    ] {
        assert!(
            planned.iter().any(|l| l == expected),
            "{expected} not in {planned:#?}"
        );
    }
    assert!(
        planned.iter().all(|l| l.ends_with("yes planned")),
        "{planned:#?}"
    );
}
