//! `orphaned-guests` end to end against a wiremock portal: delete (disable
//! then delete, exact bodies), detach, a guest still in an active room, and
//! a batch refused because of one id.

mod offboarding_common;

use docspace_auditor::audit::RunOutcome;
use docspace_auditor::check::CheckId;
use docspace_auditor::finding::{Finding, FindingStatus};
use offboarding_common::*;
use serde_json::json;

const ROOMS: &str = "/api/2.0/files/rooms";
const DISABLE: &str = "/api/2.0/people/status/2";
const DELETE: &str = "/api/2.0/people/delete";
const DETACH: &str = "/api/2.0/people/guests";

fn guest(id: &str, name: &str) -> serde_json::Value {
    user(id, name, "guest", 1, None)
}

/// A guest whose direct rooms are `active` active and `archived` archived;
/// `reads` answers `GET people/{id}` in turn.
async fn guest_rooms(p: &Portal, id: &str, active: usize, archived: usize) {
    p.get_qs(
        ROOMS,
        &[("subjectId", id), ("searchArea", "0")],
        ok(room_total(active)),
    )
    .await;
    p.get_qs(
        ROOMS,
        &[("subjectId", id), ("searchArea", "1")],
        ok(room_total(archived)),
    )
    .await;
}

fn orphans(outcome: &RunOutcome) -> Vec<&Finding> {
    outcome
        .findings
        .iter()
        .filter(|f| f.check == CheckId::OrphanedGuests)
        .collect()
}

fn delete_policy() -> Setup {
    Setup::new().check(
        "orphaned-guests",
        "mode = \"remediate\"\naction = \"delete\"",
    )
}

#[tokio::test]
async fn an_orphaned_guest_is_disabled_then_deleted() {
    let p = Portal::start().await;
    p.people(vec![], vec![guest(GUEST, "Gina Guest")]).await;
    guest_rooms(&p, GUEST, 0, 2).await;
    p.get(
        &format!("/api/2.0/people/{GUEST}"),
        Sequence::new(vec![
            ok(envelope(guest(GUEST, "Gina Guest"))),
            error(404, "User not found"),
        ]),
    )
    .await;
    p.write(
        "PUT",
        DISABLE,
        ok(envelope(json!([user(
            GUEST,
            "Gina Guest",
            "guest",
            2,
            None
        )]))),
        1,
    )
    .await;
    p.write("PUT", DELETE, ok(envelope(json!([]))), 1).await;
    p.write("DELETE", DETACH, ok(no_response()), 0).await;

    let setup = delete_policy();
    let outcome = setup.run(&p).await;

    let f = orphans(&outcome);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject.id, GUEST);
    assert_eq!(f[0].status, FindingStatus::Fixed, "{}", f[0].detail);
    assert!(
        f[0].detail.contains("still a member of 2 archived rooms"),
        "{}",
        f[0].detail
    );
    assert!(
        f[0].detail.contains("policy action delete"),
        "{}",
        f[0].detail
    );
    assert!(
        f[0].detail.contains("deleted portal-wide; verified"),
        "{}",
        f[0].detail
    );
    // Disable first, then delete; the exact bodies the server reads.
    assert_eq!(
        p.writes().await,
        [
            (
                "PUT".to_string(),
                DISABLE.to_string(),
                json!({"userIds": [GUEST]})
            ),
            (
                "PUT".to_string(),
                DELETE.to_string(),
                json!({"userIds": [GUEST]})
            ),
        ]
    );
    assert_eq!(
        action_lines(&outcome, "orphaned-guests"),
        ["disable-guest / done / ", "delete-guest / done / "]
    );
}

#[tokio::test]
async fn a_guest_still_in_an_active_room_is_kept() {
    let p = Portal::start().await;
    p.people(vec![], vec![guest(GUEST, "Gina Guest")]).await;
    guest_rooms(&p, GUEST, 1, 0).await;
    p.write("PUT", DISABLE, ok(envelope(json!([]))), 0).await;
    p.write("PUT", DELETE, ok(envelope(json!([]))), 0).await;

    let setup = delete_policy();
    let outcome = setup.run(&p).await;

    assert!(orphans(&outcome).is_empty());
    assert!(p.writes().await.is_empty());
    assert!(action_lines(&outcome, "orphaned-guests").is_empty());
}

#[tokio::test]
async fn detach_only_leaves_the_key_users_guest_list() {
    let p = Portal::start().await;
    p.people(vec![], vec![guest(GUEST, "Gina Guest")]).await;
    guest_rooms(&p, GUEST, 0, 0).await;
    p.get(
        &format!("/api/2.0/people/{GUEST}"),
        ok(envelope(guest(GUEST, "Gina Guest"))),
    )
    .await;
    p.write_body(
        "DELETE",
        DETACH,
        json!({"userIds": [GUEST]}),
        ok(no_response()),
        1,
    )
    .await;
    p.write("PUT", DISABLE, ok(envelope(json!([]))), 0).await;
    p.write("PUT", DELETE, ok(envelope(json!([]))), 0).await;

    let setup = Setup::new().check(
        "orphaned-guests",
        "mode = \"remediate\"\naction = \"detach\"",
    );
    let outcome = setup.run(&p).await;

    let f = orphans(&outcome);
    assert_eq!(f[0].status, FindingStatus::Fixed);
    assert!(
        f[0].detail.contains("policy action detach"),
        "{}",
        f[0].detail
    );
    assert!(
        f[0].detail
            .contains("detached from the API key user's guest list"),
        "{}",
        f[0].detail
    );
    assert_eq!(
        action_lines(&outcome, "orphaned-guests"),
        ["detach-guest / done / not verifiable: the portal has no read-back of guest lists"]
    );
    let rows = csv(&outcome.report_dir, "actions.csv");
    assert_eq!(rows[0]["verified"], "no");
}

#[tokio::test]
async fn a_batch_refused_for_one_id_falls_back_to_one_by_one() {
    let p = Portal::start().await;
    p.people(
        vec![],
        vec![guest(GUEST, "Gina Guest"), guest(GUEST2, "Gus Guest")],
    )
    .await;
    guest_rooms(&p, GUEST, 0, 0).await;
    guest_rooms(&p, GUEST2, 0, 0).await;
    p.get(
        &format!("/api/2.0/people/{GUEST}"),
        Sequence::new(vec![
            ok(envelope(guest(GUEST, "Gina Guest"))),
            error(404, "User not found"),
        ]),
    )
    .await;
    p.get(
        &format!("/api/2.0/people/{GUEST2}"),
        ok(envelope(guest(GUEST2, "Gus Guest"))),
    )
    .await;
    // Gus cannot be disabled (e.g. an LDAP account): the batch fails whole.
    p.write_body(
        "PUT",
        DISABLE,
        json!({"userIds": [GUEST, GUEST2]}),
        error(403, "Access denied"),
        1,
    )
    .await;
    p.write_body(
        "PUT",
        DISABLE,
        json!({"userIds": [GUEST]}),
        ok(envelope(json!([]))),
        1,
    )
    .await;
    p.write_body(
        "PUT",
        DISABLE,
        json!({"userIds": [GUEST2]}),
        error(403, "Access denied"),
        1,
    )
    .await;
    p.write_body(
        "PUT",
        DELETE,
        json!({"userIds": [GUEST]}),
        ok(envelope(json!([]))),
        1,
    )
    .await;

    let setup = delete_policy();
    let outcome = setup.run(&p).await;

    let by_id = |id: &str| {
        orphans(&outcome)
            .into_iter()
            .find(|f| f.subject.id == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(GUEST).status, FindingStatus::Fixed);
    let gus = by_id(GUEST2);
    assert_eq!(gus.status, FindingStatus::Failed);
    assert!(
        gus.detail.contains("the disable step failed"),
        "{}",
        gus.detail
    );
    assert!(gus.detail.contains("403"), "{}", gus.detail);
    assert_eq!(p.writes().await.len(), 4);
}
