//! Paging against a wiremock portal: room lists (total in `response.total`,
//! envelope count 1) and share lists (total in the envelope) are read page
//! by page with `count=100` and `startIndex` 0, 100, 200, … until the total
//! (the first page first; once it gives the total, the rest side by side).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::config::TestConfig;
use common::portal::{LinkSpec, Portal, RoomSpec, UserSpec};
use common::reports::{findings_csv, one_row, rows_where};
use docspace_auditor::audit::RunResult;

fn owner() -> UserSpec {
    UserSpec::room_admin(2, "Olga Owner", "olga@company.example")
}

#[tokio::test]
async fn archived_rooms_are_read_across_three_pages() {
    let owner = owner();
    let last = UserSpec::guest(10, "Late Guest", "late@partner.example");
    let rooms = (1..=230).map(|i| {
        let r = RoomSpec::archived(1000 + i, &format!("Room {i}"), &owner);
        // Only the very last room has a guest: it is on the third page.
        if i == 230 { r.guest(&last) } else { r }
    });
    let portal = Portal::builder().rooms(rooms).start().await;
    let cfg = TestConfig::new(&portal.uri()).report_only();

    let out = cfg.run().await.unwrap();

    let pages = portal.requests_to("files/rooms").await;
    let mut starts: Vec<&str> = pages.iter().map(|p| p.q("startIndex").unwrap()).collect();
    // The first page gives the total; the other two are then read side by
    // side, so they may arrive in either order.
    assert_eq!(starts[0], "0", "{starts:?}");
    starts[1..].sort_unstable();
    assert_eq!(starts, ["0", "100", "200"]);
    for p in &pages {
        assert_eq!(p.q("count"), Some("100"));
        assert_eq!(p.q("searchArea"), Some("1"));
    }
    assert_eq!(out.rooms_audited, 230);
    assert_eq!(out.rooms_failed, 0);
    // Every room's share was read once per filter, none twice.
    let share_reads = portal
        .requests()
        .await
        .into_iter()
        .filter(|s| s.path.ends_with("/share"))
        .count();
    assert_eq!(share_reads, 2 * 230);
    let findings = findings_csv(&out.report_dir);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = one_row(&findings, "subject_id", &last.id);
    assert_eq!(f["room_id"], "1230");
    assert_eq!(f["room_title"], "Room 230");
    assert_eq!(out.result, RunResult::Attention);
}

#[tokio::test]
async fn share_rows_are_read_across_pages() {
    let owner = owner();
    let guests: Vec<UserSpec> = (0..150)
        .map(|i| {
            UserSpec::guest(
                100 + i,
                &format!("Guest {i}"),
                &format!("g{i}@partner.example"),
            )
        })
        .collect();
    let mut room = RoomSpec::archived(42, "Crowded", &owner);
    for g in &guests {
        room = room.guest(g);
    }
    for i in 0..105 {
        room = room.link(LinkSpec::external(i, &format!("Link {i}")));
    }
    let portal = Portal::builder().room(room).start().await;
    let cfg = TestConfig::new(&portal.uri()).report_only();

    let out = cfg.run().await.unwrap();

    let reads = portal.requests_to("files/rooms/42/share").await;
    let mut members: Vec<(&str, &str)> = reads
        .iter()
        .filter(|s| s.q("filterType") == Some("0"))
        .map(|s| (s.q("startIndex").unwrap(), s.q("count").unwrap()))
        .collect();
    members.sort();
    // 151 rows: the owner's synthetic row and 150 guests.
    assert_eq!(members, [("0", "100"), ("100", "100")]);
    let mut links: Vec<(&str, &str)> = reads
        .iter()
        .filter(|s| s.q("filterType") == Some("2"))
        .map(|s| (s.q("startIndex").unwrap(), s.q("count").unwrap()))
        .collect();
    links.sort();
    assert_eq!(links, [("0", "100"), ("100", "100")]);

    let findings = findings_csv(&out.report_dir);
    assert_eq!(
        rows_where(&findings, "check", "archived-room-guests").len(),
        150
    );
    assert_eq!(
        rows_where(&findings, "check", "archived-room-links").len(),
        105
    );
    for g in [&guests[0], &guests[99], &guests[149]] {
        assert_eq!(one_row(&findings, "subject_id", &g.id)["status"], "open");
    }
    // The owner row is never a finding.
    assert!(rows_where(&findings, "subject_id", &owner.id).is_empty());
}
