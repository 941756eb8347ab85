//! Remediation against a wiremock portal: designated archive rooms are fixed
//! directly; rooms in the Archive go through unarchive → revoke links →
//! remove guests → read back → re-archive, with exact request bodies and
//! request order asserted, and the re-archive happening even when a step
//! fails. The change cap lets only `max_changes_per_run` writes through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::config::TestConfig;
use common::portal::{LinkSpec, Portal, RoomSpec, Seen, UserSpec, Writes};
use common::reports::{actions_csv, findings_csv, one_row, rows_where};
use docspace_auditor::audit::RunResult;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn owner() -> UserSpec {
    UserSpec::room_admin(2, "Olga Owner", "olga@company.example")
}

fn ann() -> UserSpec {
    UserSpec::guest(10, "Ann Guest", "ann@partner.example")
}

fn bob() -> UserSpec {
    UserSpec::user(11, "Bob Member", "bob@company.example")
}

fn removal_body(id: &str) -> serde_json::Value {
    json!({"invitations": [{"id": id, "access": 0}], "notify": false, "force": false})
}

fn position(seen: &[Seen], from: usize, pred: impl Fn(&Seen) -> bool) -> Option<usize> {
    seen.iter().skip(from).position(pred).map(|i| i + from)
}

#[tokio::test]
async fn designated_archive_room_guest_is_removed_and_verified() {
    let (ann, bob) = (ann(), bob());
    let portal = Portal::builder()
        .room(
            RoomSpec::active(77, "Offboarded employees", &owner())
                .guest(&ann)
                .member(&bob, 10)
                .expect_writes(Writes {
                    share: 1,
                    ..Writes::default()
                }),
        )
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri()).designated(&[77]);

    let out = cfg.run().await.unwrap();

    let writes = portal.writes().await;
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].line(), "PUT files/rooms/77/share");
    assert_eq!(writes[0].body, Some(removal_body(&ann.id)));
    // The share was read back after the write.
    let seen = portal.requests().await;
    let put = position(&seen, 0, |s| s.method == "PUT").unwrap();
    assert!(
        position(&seen, put + 1, |s| s.path == "files/rooms/77/share"
            && s.q("filterType") == Some("0"))
        .is_some(),
        "no read-back after the removal: {:#?}",
        seen.iter().map(Seen::line).collect::<Vec<_>>()
    );
    let room = portal.room(77);
    assert!(!room.has_member(&ann.id));
    assert!(room.has_member(&bob.id), "a regular member was touched");

    let findings = findings_csv(&out.report_dir);
    let f = one_row(&findings, "subject_id", &ann.id);
    assert_eq!(f["check"], "archived-room-guests");
    assert_eq!(f["room_id"], "77");
    assert_eq!(f["room_state"], "active-archive");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["status"], "fixed");
    assert_eq!(f["subject_email"], "ann@partner.example");
    assert!(rows_where(&findings, "subject_id", &bob.id).is_empty());

    let actions = actions_csv(&out.report_dir);
    let a = one_row(&actions, "action", "remove-member");
    assert_eq!(a["room_id"], "77");
    assert_eq!(a["dry_run"], "no");
    assert_eq!(a["outcome"], "done");
    assert_eq!(a["verified"], "yes");
    assert!(a["subject"].contains(&ann.id), "{a:?}");
    assert_eq!(out.result, RunResult::Clean);
    portal.verify().await;
}

#[tokio::test]
async fn archived_room_transaction_runs_in_order_with_exact_bodies() {
    let (ann, bob) = (ann(), bob());
    let link = LinkSpec::external(1, "Client link")
        .internal(true)
        .expires("2026-12-31T00:00:00.0000000Z")
        .password("hunter2");
    let portal = Portal::builder()
        .room(
            RoomSpec::archived(42, "Project X", &owner())
                .guest(&ann)
                .member(&bob, 2)
                .link(link.clone())
                .expect_writes(Writes {
                    share: 1,
                    links: 1,
                    unarchive: 1,
                    archive: 1,
                }),
        )
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri());

    let out = cfg.run().await.unwrap();

    // Exact bodies, in this order.
    let writes = portal.writes().await;
    let lines: Vec<String> = writes.iter().map(Seen::line).collect();
    assert_eq!(
        lines,
        [
            "PUT files/rooms/42/unarchive",
            "PUT files/rooms/42/links",
            "PUT files/rooms/42/share",
            "PUT files/rooms/42/archive",
        ]
    );
    assert_eq!(writes[0].body, Some(json!({"deleteAfter": false})));
    assert_eq!(
        writes[1].body,
        Some(json!({
            "linkId": link.id,
            "access": 0,
            "linkType": 1,
            "title": "Client link",
            "internal": true,
            "expirationDate": "2026-12-31T00:00:00.0000000Z",
            "denyDownload": false,
        }))
    );
    assert_eq!(writes[2].body, Some(removal_body(&ann.id)));
    assert_eq!(writes[3].body, Some(json!({"deleteAfter": false})));

    // The whole transaction, request by request: the unarchive operation is
    // followed to its end before anything is changed; the share is read
    // again once access can be changed, read back after the changes, and the
    // room is read back archived after the archive operation finished.
    let seen = portal.requests().await;
    let start = position(&seen, 0, |s| s.method == "PUT").unwrap();
    let label = |s: &Seen| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "files/rooms/42/share") => {
            format!("GET share filterType={}", s.q("filterType").unwrap_or("?"))
        }
        ("GET", "files/fileops") => format!("GET fileops id={}", s.q("id").unwrap_or("?")),
        _ => s.line(),
    };
    let mut trace: Vec<String> = seen[start..].iter().map(label).collect();
    // The two share reads of one read-back run concurrently.
    sort_adjacent_share_reads(&mut trace);
    assert_eq!(
        trace,
        [
            "PUT files/rooms/42/unarchive",
            "GET fileops id=op1",
            "GET share filterType=0",
            "GET share filterType=2",
            "PUT files/rooms/42/links",
            "PUT files/rooms/42/share",
            "GET share filterType=0",
            "GET share filterType=2",
            "PUT files/rooms/42/archive",
            "GET fileops id=op2",
            "GET files/rooms/42",
        ]
    );

    let room = portal.room(42);
    assert!(room.archived, "the room was not put back into the Archive");
    assert!(!room.has_member(&ann.id));
    assert!(room.has_member(&bob.id));
    assert!(!room.has_link(&link.id));

    let findings = findings_csv(&out.report_dir);
    let g = one_row(&findings, "subject_id", &ann.id);
    assert_eq!(
        (g["status"].as_str(), g["room_state"].as_str()),
        ("fixed", "archived")
    );
    assert_eq!(g["archived_since"], "2026-05-01T09:30:00Z");
    let l = one_row(&findings, "subject_id", &link.id);
    assert_eq!(l["check"], "archived-room-links");
    assert_eq!(
        (l["status"].as_str(), l["subject_kind"].as_str()),
        ("fixed", "link")
    );
    assert_eq!(l["subject_name"], "Client link");

    let actions = actions_csv(&out.report_dir);
    let steps: Vec<(&str, &str, &str)> = actions
        .iter()
        .map(|a| {
            (
                a["action"].as_str(),
                a["outcome"].as_str(),
                a["verified"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("unarchive", "done", "yes"),
            ("revoke-link", "done", "yes"),
            ("remove-member", "done", "yes"),
            ("re-archive", "done", "yes"),
        ]
    );
    assert!(
        actions
            .iter()
            .all(|a| a["dry_run"] == "no" && a["room_id"] == "42")
    );
    assert_eq!(out.result, RunResult::Clean);
    portal.verify().await;
}

/// Sorts each run of consecutive share reads so concurrent reads compare
/// in a fixed order.
fn sort_adjacent_share_reads(trace: &mut [String]) {
    let mut i = 0;
    while i < trace.len() {
        let mut j = i;
        while j < trace.len() && trace[j].starts_with("GET share") {
            j += 1;
        }
        trace[i..j].sort();
        i = j.max(i + 1);
    }
}

#[tokio::test]
async fn archived_room_is_rearchived_when_the_removal_fails() {
    let ann = ann();
    let link = LinkSpec::external(1, "Client link");
    let portal = Portal::builder()
        .room(
            RoomSpec::archived(42, "Project X", &owner())
                .guest(&ann)
                .link(link.clone())
                .expect_writes(Writes {
                    share: 0, // answered by the 403 below
                    links: 1,
                    unarchive: 1,
                    archive: 1,
                }),
        )
        .start()
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/2.0/files/rooms/42/share"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(common::portal::error_body(
                403,
                "Access denied",
                "System.Security.SecurityException",
            )),
        )
        .with_priority(1)
        .expect(1)
        .named("PUT share refused")
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri());

    let out = cfg.run().await.unwrap();

    let lines: Vec<String> = portal.writes().await.iter().map(Seen::line).collect();
    assert_eq!(
        lines,
        [
            "PUT files/rooms/42/unarchive",
            "PUT files/rooms/42/links",
            "PUT files/rooms/42/share",
            "PUT files/rooms/42/archive",
        ]
    );
    let room = portal.room(42);
    assert!(
        room.archived,
        "the room must be re-archived whatever happened"
    );
    assert!(room.has_member(&ann.id));

    let findings = findings_csv(&out.report_dir);
    let g = one_row(&findings, "subject_id", &ann.id);
    assert_eq!(g["status"], "failed");
    assert!(g["detail"].contains("403"), "{g:?}");
    assert_eq!(
        one_row(&findings, "subject_id", &link.id)["status"],
        "fixed"
    );

    let actions = actions_csv(&out.report_dir);
    let removal = one_row(&actions, "action", "remove-member");
    assert_eq!(removal["outcome"], "failed");
    assert!(removal["error"].contains("403"), "{removal:?}");
    let rearchive = one_row(&actions, "action", "re-archive");
    assert_eq!(
        (
            rearchive["outcome"].as_str(),
            rearchive["verified"].as_str()
        ),
        ("done", "yes")
    );
    assert_eq!(out.result, RunResult::Attention);
    portal.verify().await;
}

#[tokio::test]
async fn change_cap_lets_one_change_through_and_skips_the_rest() {
    let guests: Vec<UserSpec> = (0..3)
        .map(|i| {
            UserSpec::guest(
                20 + i,
                &format!("Guest {i}"),
                &format!("g{i}@partner.example"),
            )
        })
        .collect();
    let mut room = RoomSpec::active(77, "Offboarded employees", &owner()).expect_writes(Writes {
        share: 1,
        ..Writes::default()
    });
    for g in &guests {
        room = room.guest(g);
    }
    let portal = Portal::builder().room(room).start().await;
    let cfg = TestConfig::new(&portal.uri())
        .designated(&[77])
        .max_changes(1);

    let out = cfg.run().await.unwrap();

    // One write, with one invitation: the first guest in report order.
    let writes = portal.writes().await;
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].body, Some(removal_body(&guests[0].id)));

    let findings = findings_csv(&out.report_dir);
    assert_eq!(rows_where(&findings, "status", "fixed").len(), 1);
    assert_eq!(rows_where(&findings, "status", "skipped-by-cap").len(), 2);
    assert_eq!(
        one_row(&findings, "subject_id", &guests[0].id)["status"],
        "fixed"
    );
    for g in &guests[1..] {
        let f = one_row(&findings, "subject_id", &g.id);
        assert_eq!(f["status"], "skipped-by-cap");
        assert!(f["detail"].contains("max_changes_per_run"), "{f:?}");
    }
    let room = portal.room(77);
    assert!(!room.has_member(&guests[0].id));
    assert!(room.has_member(&guests[1].id) && room.has_member(&guests[2].id));
    assert_eq!(
        out.result,
        RunResult::Attention,
        "skipped-by-cap access is still open"
    );
    portal.verify().await;
}
