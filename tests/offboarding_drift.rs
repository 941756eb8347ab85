//! `archive-access-drift` end to end on a designated archive room: one
//! extra user removed, the missing HR group added, the owner row untouched,
//! and the share read back.

mod offboarding_common;

use docspace_auditor::check::CheckId;
use docspace_auditor::finding::{FindingStatus, SubjectKind};
use offboarding_common::*;
use serde_json::json;

const SHARE: &str = "/api/2.0/files/rooms/42/share";

#[tokio::test]
async fn drift_removes_the_extra_user_and_adds_the_hr_group_leaving_the_owner() {
    let p = Portal::start().await;
    p.get(
        "/api/2.0/files/rooms/42",
        ok(envelope(room(42, "HR Archive", ROOM_OWNER, false))),
    )
    .await;
    p.get(
        &format!("/api/2.0/people/{ROOM_OWNER}"),
        ok(envelope(user(
            ROOM_OWNER,
            "Olga Owner",
            "room-admin",
            1,
            None,
        ))),
    )
    .await;
    let owner_row = user_share(ROOM_OWNER, "Olga", 1, true);
    let archivist = user_share(ARCHIVE_OWNER, "Archivist", 9, false);
    let before = vec![
        owner_row.clone(),
        archivist.clone(),
        user_share(BOB, "Bob", 10, false),
    ];
    let after = vec![owner_row, archivist, group_share(HR_GROUP, "HR", 2)];
    p.get_q(
        SHARE,
        "filterType",
        "0",
        Sequence::new(vec![ok(paged(before)), ok(paged(after))]),
    )
    .await;
    p.get_q(SHARE, "filterType", "2", ok(paged(vec![]))).await;
    p.write_body(
        "PUT",
        SHARE,
        json!({"invitations": [{"id": BOB, "access": 0}], "notify": false, "force": false}),
        ok(envelope(json!({"members": [], "error": 0}))),
        1,
    )
    .await;
    p.write_body(
        "PUT",
        SHARE,
        json!({"invitations": [{"id": HR_GROUP, "access": 2}], "notify": false, "force": false}),
        ok(envelope(
            json!({"members": [group_share(HR_GROUP, "HR", 2)], "error": 0}),
        )),
        1,
    )
    .await;

    let setup = Setup::new()
        .check("archive-access-drift", "mode = \"remediate\"")
        .archive(&format!(
            "designated_rooms = [42]\nhr_group_id = \"{HR_GROUP}\""
        ));
    let outcome = setup.run(&p).await;

    let mut drift: Vec<_> = outcome
        .findings
        .iter()
        .filter(|f| f.check == CheckId::ArchiveAccessDrift)
        .collect();
    drift.sort_by(|a, b| a.subject.id.cmp(&b.subject.id));
    assert_eq!(drift.len(), 2, "{drift:#?}");
    assert_eq!(drift[0].subject.id, HR_GROUP);
    assert_eq!(drift[0].subject.kind, SubjectKind::Group);
    assert_eq!(drift[0].status, FindingStatus::Fixed, "{}", drift[0].detail);
    assert!(
        drift[0].detail.contains("the HR group is not a member"),
        "{}",
        drift[0].detail
    );
    assert_eq!(drift[1].subject.id, BOB);
    assert_eq!(drift[1].status, FindingStatus::Fixed, "{}", drift[1].detail);
    assert_eq!(drift[1].access.as_deref(), Some("editing"));

    // Exactly two writes; the owner's row is never sent.
    let writes = p.writes().await;
    assert_eq!(writes.len(), 2);
    assert!(
        writes
            .iter()
            .all(|(_, _, body)| !body.to_string().contains(ROOM_OWNER))
    );
    let lines = action_lines(&outcome, "archive-access-drift");
    assert_eq!(lines, ["remove-member / done / ", "add-member / done / "]);
    let rows = csv(&outcome.report_dir, "actions.csv");
    assert!(
        rows.iter()
            .all(|r| r["room_id"] == "42" && r["verified"] == "yes")
    );
}
