//! End-to-end behaviour of the fake portal over real HTTP, rule by rule
//! from API-NOTES.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use docspace_fake_portal::{
    EmailKind, FakePortal, FaultKind, Faults, PathFault, ReassignBehaviour, Scenario, UserStatus,
};
use serde_json::{Value, json};

async fn portal() -> (FakePortal, Client) {
    let p = FakePortal::start(fixture()).await.unwrap();
    let c = Client::new(&p);
    (p, c)
}

fn ids(rows: &Value, pointer: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn auth_failures_are_401_with_an_empty_body() {
    let (p, c) = portal().await;
    let r = Client::anonymous(&p).get("people/@self").await;
    assert_eq!((r.status, r.text.as_str()), (401, ""));
    let r = Client::with_token(&p, "sk-wrong").get("files/rooms").await;
    assert_eq!((r.status, r.text.as_str()), (401, ""));

    let me = c.get("people/@self").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.response()["id"], ADMIN);
    assert_eq!(me.response()["isAdmin"], true);

    // The key dies with its creator's Active status.
    p.set_user_status(ADMIN, UserStatus::Terminated);
    let r = c.get("people/@self").await;
    assert_eq!((r.status, r.text.as_str()), (401, ""));
    p.shutdown().await;
}

#[tokio::test]
async fn envelope_shape_and_links() {
    let (p, c) = portal().await;
    let r = c.get("files/rooms/43?x=1").await;
    let v = r.json();
    assert_eq!(v["status"], 0);
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["count"], 1);
    assert!(v.get("total").is_none());
    assert_eq!(
        v["links"][0]["href"],
        format!("{}/api/2.0/files/rooms/43?x=1", p.base_url())
    );
    assert_eq!(v["links"][0]["action"], "GET");
    let room = &v["response"];
    assert_eq!(room["created"], "2026-01-02T09:30:00.0000000Z");
    assert_eq!(room["roomType"], 6);
    assert_eq!(room["type"], 22);
    assert_eq!(room["rootFolderType"], 14);
    assert!(
        room["createdBy"].get("email").is_none(),
        "EmployeeDto has no email"
    );
    assert_eq!(room["createdBy"]["id"], RADMIN);
    assert_eq!(room["security"]["EditAccess"], true);

    let r = c.get("files/rooms/999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["status"], 1);
    assert_eq!(r.json()["statusCode"], 404);
    p.shutdown().await;
}

#[tokio::test]
async fn rooms_listing_paging_areas_and_filters() {
    let (p, c) = portal().await;
    let r = c.get("files/rooms?count=101").await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["status"], 1);
    assert_eq!(v["statusCode"], 400);
    assert_eq!(
        v["response"]["title"],
        "One or more validation errors occurred."
    );
    assert!(v["response"]["errors"]["count"].is_array());
    assert_eq!(c.get("files/rooms?count=0").await.status, 400);
    assert_eq!(c.get("files/rooms?startIndex=-1").await.status, 400);

    // Active rooms: 43, 44, sbox-4711, two per page.
    let first = c
        .get("files/rooms?count=2&startIndex=0&sortBy=DateAndTimeCreation")
        .await;
    let env = first.json();
    assert_eq!(
        env["count"], 1,
        "the envelope count is 1 for folder contents"
    );
    assert!(env.get("total").is_none());
    let page = &env["response"];
    assert_eq!(page["total"], 3);
    assert_eq!(page["count"], 2);
    assert_eq!(page["startIndex"], 0);
    assert_eq!(page["current"]["rootFolderType"], 14);
    assert_eq!(page["files"], json!([]));
    let second = c.get("files/rooms?count=2&startIndex=2").await.response();
    let mut all: Vec<Value> = page["folders"].as_array().unwrap().clone();
    all.extend(second["folders"].as_array().unwrap().iter().cloned());
    let got: Vec<Value> = all.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(got, vec![json!(43), json!(44), json!("sbox-4711")]);
    assert_eq!(
        all[2]["parentId"],
        json!("1"),
        "third-party rooms carry string ids"
    );

    let archive = c.get("files/rooms?searchArea=1").await.response();
    assert_eq!(archive["total"], 2);
    assert_eq!(archive["current"]["rootFolderType"], 20);
    assert_eq!(archive["current"]["id"], 2);
    let room = &archive["folders"][0];
    assert_eq!(room["rootFolderType"], 20);
    assert_eq!(room["parentId"], 2);
    assert_eq!(room["security"]["EditAccess"], false);
    assert_eq!(room["security"]["Read"], true);
    assert_eq!(
        c.get("files/rooms?searchArea=Any").await.response()["total"],
        5
    );

    // subjectId: creator or direct share; the HR group row does not count for USER's group.
    let by_user = c
        .get(&format!("files/rooms?searchArea=2&subjectId={USER}"))
        .await
        .response();
    let got: Vec<Value> = by_user["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(42), json!(43), json!("sbox-4711")]);
    let owned = c
        .get(&format!("files/rooms?searchArea=2&subjectOwnerId={GONE}"))
        .await
        .response();
    assert_eq!(owned["total"], 2);
    p.shutdown().await;
}

#[tokio::test]
async fn share_listing_filters_and_paging() {
    let (p, c) = portal().await;
    // Readable in the archive; owner first as a synthetic row.
    let r = c.get("files/rooms/42/share").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["total"], 5);
    let rows = &v["response"];
    assert_eq!(rows[0]["isOwner"], true);
    assert_eq!(rows[0]["access"], 1);
    assert_eq!(rows[0]["canEditAccess"], false);
    assert_eq!(rows[0]["subjectType"], 0);
    assert_eq!(
        rows[0]["isLocked"], true,
        "the key user's own row is locked"
    );
    assert_eq!(ids(rows, "/sharedToUser/id"), [ADMIN, GUEST, USER, GUEST2]);
    assert_eq!(rows[1]["sharedToUser"]["isVisitor"], true);
    assert_eq!(
        rows[1]["canEditAccess"], false,
        "archived: nothing is editable"
    );
    assert_eq!(rows[4]["sharedToGroup"]["id"], HR);
    assert_eq!(rows[4]["subjectType"], 2);

    let users = c.get("files/rooms/42/share?filterType=16").await.json();
    assert_eq!(users["total"], 4);
    let groups = c.get("files/rooms/42/share?filterType=32").await.json();
    assert_eq!(ids(&groups["response"], "/sharedToGroup/id"), [HR]);
    let links = c.get("files/rooms/42/share?filterType=2").await.json();
    assert_eq!(
        ids(&links["response"], "/sharedLink/id"),
        [L_PLAIN, L_INTERNAL]
    );
    assert_eq!(links["response"][0]["subjectType"], 1);
    assert_eq!(links["response"][0]["canEditAccess"], false);
    assert_eq!(
        links["response"][1]["sharedLink"]["expirationDate"],
        "2026-01-28T09:30:00.0000000Z"
    );
    let primary = c.get("files/rooms/43/share?filterType=8").await.json();
    assert_eq!(primary["response"][0]["subjectType"], 4);
    assert_eq!(primary["response"][0]["canRevoke"], true);
    assert_eq!(
        c.get("files/rooms/42/share?filterType=1").await.json()["total"],
        0
    );

    // Paging: count = min(total - startIndex, count), negative past the end.
    let page = c
        .get("files/rooms/42/share?count=2&startIndex=4")
        .await
        .json();
    assert_eq!(
        (page["count"].clone(), page["total"].clone()),
        (json!(1), json!(5))
    );
    let past = c
        .get("files/rooms/42/share?count=2&startIndex=7")
        .await
        .json();
    assert_eq!(past["count"], -2);
    assert_eq!(past["response"], json!([]));
    assert_eq!(c.get("files/rooms/42/share?count=101").await.status, 400);

    let links = c.get("files/rooms/42/links?type=1").await.json();
    assert_eq!(links["count"], 2);
    assert!(links.get("total").is_none());
    p.shutdown().await;
}

#[tokio::test]
async fn archived_rooms_refuse_writes() {
    let (p, c) = portal().await;
    let r = c
        .put(
            "files/rooms/42/share",
            json!({"invitations":[{"id":GUEST,"access":0}],"notify":false}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(error_message(&r), "Access denied");
    assert_eq!(
        r.json()["error"]["type"],
        "System.Security.SecurityException"
    );
    let r = c
        .put(
            "files/rooms/42/links",
            json!({"linkId":L_PLAIN,"access":0,"linkType":1,"internal":false}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(p.state().room_members("42").len(), 4);
    assert_eq!(p.state().room_links("42").len(), 2);
    p.shutdown().await;
}

#[tokio::test]
async fn put_share_applies_changes_only() {
    let (p, c) = portal().await;
    let before = p.state().room_members("44");
    for body in [
        json!({"invitations":[],"notify":false}),
        json!({"notify":false}),
    ] {
        let r = c.put("files/rooms/44/share", body).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.response(), json!({"members":[],"error":0}));
    }
    assert_eq!(p.state().room_members("44"), before);

    // Adding USER (2) and the HR group (10); unknown ids are dropped.
    let r = c
        .put(
            "files/rooms/44/share",
            json!({"invitations":[{"id":USER,"access":2},{"id":HR,"access":10},
                   {"id":"00000000-0000-4000-8000-0000000000ff","access":2}],"notify":false,"force":false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r.response()["members"], "/sharedToUser/id"), [USER]);
    assert_eq!(ids(&r.response()["members"], "/sharedToGroup/id"), [HR]);
    assert_eq!(
        p.state().room_members("44"),
        vec![
            (GUEST.to_string(), 2),
            (USER.to_string(), 2),
            (HR.to_string(), 10)
        ]
    );
    assert_eq!(p.state().room("44").unwrap().granted_by[USER], ADMIN);

    // access 0 removes a user and a group; they vanish from `members`.
    let r = c
        .put(
            "files/rooms/44/share",
            json!({"invitations":[{"id":GUEST,"access":0},{"id":HR,"access":0}]}),
        )
        .await;
    assert_eq!(r.response()["members"], json!([]));
    assert_eq!(p.state().room_members("44"), vec![(USER.to_string(), 2)]);
    let actions: Vec<i32> = p
        .state()
        .audit_events()
        .iter()
        .map(|e| e.action_id)
        .collect();
    assert_eq!(actions, [5085, 5094, 5084, 5096]);

    // The owner has no share record: access 0 for the owner is a no-op.
    let r = c
        .put(
            "files/rooms/44/share",
            json!({"invitations":[{"id":GONE,"access":0}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(p.state().room("44").unwrap().owner_id, GONE);
    p.shutdown().await;
}

#[tokio::test]
async fn string_access_names_and_the_full_access_trap() {
    let (p, c) = portal().await;
    // An exact enum name works...
    let r = c
        .put(
            "files/rooms/43/share",
            json!({"invitations":[{"id":USER,"access":"RoomManager"}]}),
        )
        .await;
    assert_eq!(r.status, 403, "a type-User account cannot be RoomManager");
    assert_eq!(error_message(&r), "role not available");
    let r = c
        .put(
            "files/rooms/43/share",
            json!({"invitations":[{"id":ADMIN2,"access":"RoomManager"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.response()["members"][0]["access"], 9);
    // ...anything else is read as 0 None and removes the member.
    let r = c
        .put(
            "files/rooms/43/share",
            json!({"invitations":[{"id":USER,"access":"FullAccess"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.response()["members"], json!([]));
    assert!(
        !p.state()
            .room_members("43")
            .iter()
            .any(|(id, _)| id == USER)
    );
    p.shutdown().await;
}

#[tokio::test]
async fn roles_not_available_are_refused() {
    let (p, c) = portal().await;
    // 4 Varies is never accepted; 1 ReadWrite neither.
    for access in [4, 1, 7] {
        let r = c
            .put(
                "files/rooms/44/share",
                json!({"invitations":[{"id":USER,"access":access}]}),
            )
            .await;
        assert_eq!(r.status, 403, "access {access}");
        assert_eq!(error_message(&r), "role not available");
        assert_eq!(
            r.json()["error"]["type"],
            "System.InvalidOperationException"
        );
    }
    // Guests cannot be RoomManager; a public room only takes 9, 11, 0.
    let r = c
        .put(
            "files/rooms/44/share",
            json!({"invitations":[{"id":GUEST,"access":9}]}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .put(
            "files/rooms/43/share",
            json!({"invitations":[{"id":USER,"access":2}]}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(p.state().room_members("43"), vec![(USER.to_string(), 11)]);
    p.shutdown().await;
}

#[tokio::test]
async fn unarchive_fix_and_rearchive() {
    let (p, c) = portal().await;
    let r = c
        .put("files/rooms/42/unarchive", json!({"deleteAfter": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let op = r.response();
    assert_eq!(op["finished"], false);
    assert_eq!(op["Operation"], 0);
    assert_eq!(op["progress"], 0);
    assert_eq!(op["processed"], "0");
    // Not moved until the operation finishes.
    assert!(p.state().is_archived("42"));
    let r = c
        .put(
            "files/rooms/42/share",
            json!({"invitations":[{"id":GUEST,"access":0}]}),
        )
        .await;
    assert_eq!(r.status, 403);

    let done = c.wait_op(&op).await;
    assert_eq!(done["progress"], 100);
    assert_eq!(done["status"], 2);
    assert!(!p.state().is_archived("42"));
    let room = c.get("files/rooms/42").await.response();
    assert_eq!(room["rootFolderType"], 14);
    assert_eq!(room["security"]["EditAccess"], true);

    let r = c
        .put(
            "files/rooms/42/share",
            json!({"invitations":[{"id":GUEST,"access":0}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .put(
            "files/rooms/42/links",
            json!({"linkId":L_PLAIN,"access":0,"linkType":1,"internal":false}),
        )
        .await;
    assert_eq!(r.status, 200);

    assert!(p.emails().is_empty());
    let r = c
        .put("files/rooms/42/archive", json!({"deleteAfter": false}))
        .await;
    c.wait_op(&r.response()).await;
    assert!(p.state().is_archived("42"));
    let mut to: Vec<String> = p.emails().iter().map(|e| e.to_user_id.clone()).collect();
    to.sort();
    // Owner + remaining user rows (USER, GUEST2); groups are not mailed.
    assert_eq!(
        to,
        vec![ADMIN.to_string(), USER.to_string(), GUEST2.to_string()]
    );
    assert!(
        p.emails()
            .iter()
            .all(|e| e.kind == EmailKind::RoomMovedToArchive && e.room_id == "42")
    );
    let all_ops = c.get("files/fileops").await.json();
    assert_eq!(all_ops["count"], 2);
    p.shutdown().await;
}

#[tokio::test]
async fn archive_needs_a_body_and_unarchive_respects_the_quota() {
    let (p, c) = portal().await;
    let r = c.send("PUT", "files/rooms/42/unarchive", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["response"]["title"],
        "One or more validation errors occurred."
    );
    p.set_room_quota(Some(3));
    let r = c
        .put("files/rooms/42/unarchive", json!({"deleteAfter": false}))
        .await;
    assert_eq!(r.status, 402);
    assert_eq!(r.json()["statusCode"], 402);
    assert!(p.state().is_archived("42"));
    p.shutdown().await;
}

#[tokio::test]
async fn fileops_can_finish_on_time() {
    let mut s = fixture();
    s.fileops_polls = 1000;
    s.fileops_after_ms = Some(50);
    let p = FakePortal::start(s).await.unwrap();
    let c = Client::new(&p);
    let r = c
        .put("files/rooms/44/archive", json!({"deleteAfter": false}))
        .await;
    assert_eq!(r.response()["finished"], false);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let ops = c.get("files/fileops").await.response();
    assert_eq!(ops[0]["finished"], true);
    assert!(p.state().is_archived("44"));
    p.shutdown().await;
}

#[tokio::test]
async fn link_revocation_rules() {
    let (p, c) = portal().await;
    // A mismatched `internal` is skipped silently: the link comes back.
    let r = c
        .put(
            "files/rooms/44/links",
            json!({"linkId":L_CUSTOM_ACTIVE,"access":0,"linkType":1,"internal":true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.response()["sharedLink"]["id"], L_CUSTOM_ACTIVE);
    assert_eq!(p.state().room_links("44").len(), 1);

    // Echoing the stored values deletes it: no `response`, count 0.
    let r = c
        .put(
            "files/rooms/44/links",
            json!({"linkId":L_CUSTOM_ACTIVE,"access":0,"linkType":1,"internal":false,"title":"Review","denyDownload":false}),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v.get("response").is_none(), "{v}");
    assert_eq!(v["count"], 0);
    assert!(p.state().room_links("44").is_empty());
    assert_eq!(p.state().audit_events().last().unwrap().action_id, 5090);

    // The primary link of a public room is rotated, not deleted.
    let r = c
        .put(
            "files/rooms/43/links",
            json!({"linkId":L_PRIMARY_PUBLIC,"access":0,"linkType":1,"internal":false}),
        )
        .await;
    let link = r.response();
    assert_ne!(link["sharedLink"]["id"], L_PRIMARY_PUBLIC);
    assert_eq!(link["sharedLink"]["primary"], true);
    let links = p.state().room_links("43");
    assert_eq!(links.len(), 1);
    assert_ne!(links[0].id, L_PRIMARY_PUBLIC);
    assert_eq!(p.state().audit_events().last().unwrap().action_id, 5097);
    p.shutdown().await;
}

#[tokio::test]
async fn expiration_must_be_echoed_exactly() {
    let mut s = fixture();
    s.rooms[0].archived = false;
    let p = FakePortal::start(s).await.unwrap();
    let c = Client::new(&p);
    let row = c.get("files/rooms/42/links?type=1").await.response()[1].clone();
    let link = &row["sharedLink"];
    assert_eq!(link["id"], L_INTERNAL);
    let mut body = json!({"linkId":L_INTERNAL,"access":0,"linkType":1,"internal":true});
    let r = c.put("files/rooms/42/links", body.clone()).await;
    assert!(
        r.json().get("response").is_some(),
        "missing expirationDate: skipped"
    );
    body["expirationDate"] = link["expirationDate"].clone();
    let r = c.put("files/rooms/42/links", body).await;
    assert!(r.json().get("response").is_none(), "{}", r.text);
    assert_eq!(p.state().room_links("42").len(), 1);
    p.shutdown().await;
}

#[tokio::test]
async fn primary_link_endpoint_creates_and_is_counted() {
    let (p, c) = portal().await;
    let r = c.get("files/rooms/43/link").await;
    assert_eq!(r.response()["sharedLink"]["id"], L_PRIMARY_PUBLIC);
    assert_eq!(p.state().primary_link_creations(), 0);
    let r = c.get("files/rooms/sbox-4711/link").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.response()["sharedLink"]["primary"], true);
    let s = p.state();
    assert_eq!((s.primary_link_calls(), s.primary_link_creations()), (2, 1));
    assert_eq!(s.room_links("sbox-4711").len(), 1);
    assert_eq!(s.request_count("GET", "/api/2.0/files/rooms/{id}/link"), 2);
    p.shutdown().await;
}

#[tokio::test]
async fn reassignment_progress_and_effect() {
    let (p, c) = portal().await;
    let necessary = c
        .get(&format!(
            "people/reassign/necessary?userId={GONE}&type=RoomAdmin"
        ))
        .await;
    assert_eq!(necessary.response(), json!(true));

    // Preconditions: toUser must be an active admin/room admin; fromUser terminated.
    let r = c
        .post(
            "people/reassign/start",
            json!({"fromUserId":GONE,"toUserId":GUEST,"deleteProfile":false}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        error_message(&r),
        format!("Can not reassign data to user with id = {GUEST}")
    );
    let r = c
        .post(
            "people/reassign/start",
            json!({"fromUserId":USER,"toUserId":RADMIN}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        error_message(&r),
        format!("Can not reassign data from user with id = {USER}")
    );

    let unknown = c
        .get(&format!("people/reassign/progress/{GONE}"))
        .await
        .json();
    assert!(unknown.get("response").is_none());

    let r = c
        .post(
            "people/reassign/start",
            json!({"fromUserId":GONE,"toUserId":RADMIN,"deleteProfile":false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = r.response();
    assert_eq!(
        (
            t["percentage"].clone(),
            t["status"].clone(),
            t["isCompleted"].clone()
        ),
        (json!(0), json!(1), json!(false))
    );
    // A running task is returned as is, even for another target.
    let again = c
        .post(
            "people/reassign/start",
            json!({"fromUserId":GONE,"toUserId":ADMIN2}),
        )
        .await;
    assert_eq!(again.response()["id"], t["id"]);

    let mut seen = Vec::new();
    loop {
        let t = c
            .get(&format!("people/reassign/progress/{GONE}"))
            .await
            .response();
        seen.push(t["percentage"].as_i64().unwrap());
        if t["isCompleted"] == true {
            assert_eq!(t["status"], 2);
            break;
        }
        assert_eq!(t["status"], 1);
    }
    assert_eq!(seen, [10, 50, 70, 100]);
    let s = p.state();
    assert_eq!(s.room("44").unwrap().owner_id, RADMIN);
    assert_eq!(
        s.room("45").unwrap().owner_id,
        RADMIN,
        "archived rooms are reassigned too"
    );
    assert_eq!(s.reassignment(GONE).unwrap().to_user_id, RADMIN);
    p.shutdown().await;
}

#[tokio::test]
async fn reassignment_can_fail_or_stick() {
    let (p, c) = portal().await;
    p.set_reassign_behaviour(GONE, ReassignBehaviour::Fail);
    c.post(
        "people/reassign/start",
        json!({"fromUserId":GONE,"toUserId":RADMIN}),
    )
    .await;
    let mut last = Value::Null;
    for _ in 0..6 {
        last = c
            .get(&format!("people/reassign/progress/{GONE}"))
            .await
            .response();
    }
    assert_eq!(last["status"], 4);
    assert_eq!(last["isCompleted"], true);
    assert!(last["error"].as_str().unwrap().contains("failed"));
    assert_eq!(p.state().room("44").unwrap().owner_id, GONE);

    // A completed (failed) task is replaced by a new start.
    p.set_reassign_behaviour(GONE, ReassignBehaviour::Stick);
    let t = c
        .post(
            "people/reassign/start",
            json!({"fromUserId":GONE,"toUserId":RADMIN}),
        )
        .await
        .response();
    assert_eq!(t["percentage"], 0);
    for _ in 0..8 {
        last = c
            .get(&format!("people/reassign/progress/{GONE}"))
            .await
            .response();
    }
    assert_eq!(
        (last["percentage"].clone(), last["status"].clone()),
        (json!(70), json!(1))
    );
    // Deleting a user whose reassignment runs is a plain exception: 500.
    let r = c.put("people/delete", json!({"userIds":[GONE]})).await;
    assert_eq!(r.status, 500);
    let r = c
        .put("people/reassign/terminate", json!({"userId":GONE}))
        .await;
    assert_eq!(
        (
            r.response()["status"].clone(),
            r.response()["isCompleted"].clone()
        ),
        (json!(3), json!(true))
    );
    p.shutdown().await;
}

#[tokio::test]
async fn reassign_necessary_ignores_archived_rooms() {
    let (p, c) = portal().await;
    // GUEST2 is only in archived room 42.
    let r = c
        .get(&format!(
            "people/reassign/necessary?userId={GUEST2}&type=Guest"
        ))
        .await;
    assert_eq!(r.response(), json!(false));
    // A non-owner asking about a DocSpace admin gets 403.
    let r = c
        .get(&format!("people/reassign/necessary?userId={ADMIN2}&type=3"))
        .await;
    assert_eq!(r.status, 403);
    p.shutdown().await;
}

#[tokio::test]
async fn status_changes_and_delete() {
    let (p, c) = portal().await;
    // Whole batch refused if one target is the owner, the caller or an admin.
    for bad in [OWNER, ADMIN, ADMIN2] {
        let r = c
            .put("people/status/2", json!({"userIds":[USER, bad]}))
            .await;
        assert_eq!(r.status, 403, "{bad}");
    }
    assert_eq!(p.state().user(USER).unwrap().status, UserStatus::Active);
    assert_eq!(
        c.put("people/status/5", json!({"userIds":[USER]}))
            .await
            .status,
        400
    );

    // Delete needs Terminated first.
    let r = c.put("people/delete", json!({"userIds":[USER]})).await;
    assert_eq!(r.status, 403);
    assert_eq!(error_message(&r), "Users are not suspended");

    let r = c
        .put("people/status/Terminated", json!({"userIds":[USER]}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["count"], 1, "streamed list: count is always 1");
    assert_eq!(r.response()[0]["status"], 2);
    assert!(
        r.response()[0].get("terminated").is_none(),
        "status change does not set the date"
    );

    let r = c.put("people/delete", json!({"userIds":[USER]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = p.state();
    assert!(s.user(USER).is_none());
    for room in ["42", "43", "sbox-4711"] {
        assert!(
            !s.room_members(room).iter().any(|(id, _)| id == USER),
            "{room}"
        );
    }
    assert_eq!(c.get(&format!("people/{USER}")).await.status, 404);
    p.shutdown().await;
}

#[tokio::test]
async fn delete_guests_detaches_only_what_the_caller_granted() {
    let (p, c) = portal().await;
    // USER is not a guest: the whole batch is refused.
    let r = c
        .delete("people/guests", json!({"userIds":[GUEST, USER]}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(p.state().room_members("44").len(), 1);

    let r = c
        .delete("people/guests", json!({"userIds":[GUEST, GUEST2]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = p.state();
    assert!(s.user(GUEST).is_some(), "the account stays");
    assert!(!s.has_guest_relation(ADMIN, GUEST));
    assert!(!s.has_guest_relation(ADMIN, GUEST2));
    assert!(
        s.has_guest_relation(RADMIN, GUEST2),
        "other lists are untouched"
    );
    assert!(
        s.room_members("44").is_empty(),
        "ADMIN granted GUEST's row in 44"
    );
    let members_42: Vec<String> = s.room_members("42").into_iter().map(|(id, _)| id).collect();
    assert!(!members_42.contains(&GUEST.to_string()));
    assert!(
        members_42.contains(&GUEST2.to_string()),
        "granted by RADMIN: kept"
    );
    // Not in the caller's list any more: refused now.
    assert_eq!(
        c.delete("people/guests", json!({"userIds":[GUEST]}))
            .await
            .status,
        403
    );
    p.shutdown().await;
}

#[tokio::test]
async fn people_filter() {
    let (p, c) = portal().await;
    let all = c
        .get("people/filter?employeeStatus=7&count=100")
        .await
        .json();
    assert_eq!(all["total"], 8);
    let terminated = c.get("people/filter?employeeStatus=2").await.json();
    assert_eq!(ids(&terminated["response"], "/id"), [GONE]);
    let guests = c
        .get("people/filter?employeeType=Guest&employeeStatus=7")
        .await
        .json();
    assert_eq!(ids(&guests["response"], "/id"), [GUEST, GUEST2]);
    let guests = c.get("people/filter?area=2").await.json();
    assert_eq!(guests["total"], 2);
    assert_eq!(guests["response"][0]["isVisitor"], true);
    let page = c
        .get("people/filter?employeeStatus=7&count=3&startIndex=6")
        .await
        .json();
    assert_eq!(
        (page["count"].clone(), page["total"].clone()),
        (json!(2), json!(8))
    );
    assert_eq!(c.get("people/filter?count=101").await.status, 400);
    let one = c.get(&format!("people/{GUEST}")).await.response();
    assert_eq!(one["email"], "gina@partner.example");
    let hr = c
        .get(&format!("group/{HR}?includeMembers=true"))
        .await
        .response();
    assert_eq!(hr["name"], "HR");
    assert_eq!(hr["manager"]["id"], USER);
    p.shutdown().await;
}

#[tokio::test]
async fn audit_events_filter_and_fallback() {
    let mut s = fixture();
    for i in 0..25u32 {
        s.audit_events.push(docspace_fake_portal::AuditEventSpec {
            id: None,
            date: chrono::DateTime::parse_from_rfc3339(&format!("2026-03-{:02}T10:00:00Z", i + 1))
                .unwrap()
                .into(),
            user_id: if i % 2 == 0 {
                ADMIN.into()
            } else {
                RADMIN.into()
            },
            action_id: 5084,
            action: None,
            target: vec!["42".into()],
            action_type: None,
            entry_type: None,
            location: None,
        });
    }
    let p = FakePortal::start(s.clone()).await.unwrap();
    let c = Client::new(&p);
    let r = c
        .get(&format!("security/audit/events/filter?userId={RADMIN}&from=2026-03-05&to=2026-03-20T23:59:59Z&count=100"))
        .await
        .json();
    let dates: Vec<&str> = r["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates.first(), Some(&"2026-03-20T10:00:00.0000000Z"));
    assert_eq!(dates.len(), 8);
    assert!(r.get("total").is_none());
    let page = c
        .get("security/audit/events/filter?count=10&startIndex=20")
        .await
        .json();
    assert_eq!(page["count"], 5);
    p.shutdown().await;

    s.audit_feature = false;
    let p = FakePortal::start(s).await.unwrap();
    let c = Client::new(&p);
    let r = c
        .get(&format!(
            "security/audit/events/filter?userId={RADMIN}&count=5"
        ))
        .await
        .json();
    assert_eq!(r["count"], 20, "without the feature: last 20, unfiltered");
    p.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors() {
    let (p, c) = portal().await;
    p.set_faults(Faults {
        rate_limited: 1.0,
        retry_after_secs: 7,
        ..Faults::none()
    });
    let r = c.get("files/rooms").await;
    assert_eq!(
        (r.status, r.retry_after.as_deref(), r.text.as_str()),
        (429, Some("7"), "")
    );

    p.set_faults(Faults {
        unavailable: 0.5,
        seed: 3,
        ..Faults::none()
    });
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(c.get("people/@self").await.status);
    }
    assert!(
        statuses.contains(&503) && statuses.contains(&200),
        "{statuses:?}"
    );
    // Same seed, same sequence.
    p.set_faults(Faults {
        unavailable: 0.5,
        seed: 3,
        ..Faults::none()
    });
    let mut again = Vec::new();
    for _ in 0..20 {
        again.push(c.get("people/@self").await.status);
    }
    assert_eq!(statuses, again);

    p.set_faults(
        Faults::none().with_override(
            PathFault::new(
                Some("GET"),
                "/api/2.0/files/rooms/42/share",
                FaultKind::Malformed,
            )
            .times(1),
        ),
    );
    let r = c.get("files/rooms/42/share").await;
    assert_eq!((r.status, r.text.as_str()), (200, "{\"response\": ["));
    assert_eq!(c.get("files/rooms/42/share").await.json()["total"], 5);
    p.set_faults(Faults::none().with_override(PathFault::new(
        None,
        "/api/2.0/files/rooms/{id}/share",
        FaultKind::ServerError { status: 502 },
    )));
    let r = c.get("files/rooms/43/share").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["statusCode"], 502);
    p.shutdown().await;
}

#[tokio::test]
async fn hangs_outlast_the_client_timeout_and_latency_applies() {
    let (p, _) = portal().await;
    p.set_faults(Faults {
        hang: 1.0,
        hang_ms: 5_000,
        ..Faults::none()
    });
    let c = Client::with_timeout(&p, Duration::from_millis(200));
    let err = c.try_send("GET", "people/@self", None).await.err().unwrap();
    assert!(err.is_timeout(), "{err}");

    p.set_faults(Faults {
        latency_ms: 120,
        ..Faults::none()
    });
    let c = Client::new(&p);
    let t = std::time::Instant::now();
    assert_eq!(c.get("people/@self").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(120));
    // A hung request does not hold up shutdown.
    p.set_faults(Faults {
        hang: 1.0,
        hang_ms: 60_000,
        ..Faults::none()
    });
    let base = p.base_url();
    let token = p.token();
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("{base}/api/2.0/people/@self"))
            .bearer_auth(token)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = std::time::Instant::now();
    p.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(3));
    let _ = pending.await;
}

#[tokio::test]
async fn requests_are_recorded_with_bodies() {
    let (p, c) = portal().await;
    c.get("files/rooms?count=5").await;
    let body = r#"{"invitations":[{"id":"00000000-0000-4000-8000-000000000005","access":0}],"notify":false,"force":false}"#;
    c.send("PUT", "files/rooms/44/share", Some(body)).await;
    let reqs = p.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].query, "count=5");
    assert_eq!(reqs[0].template, "/api/2.0/files/rooms");
    let writes = p.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body, body);
    assert_eq!(writes[0].path, "/api/2.0/files/rooms/44/share");
    assert_eq!(
        p.state()
            .request_count("PUT", "/api/2.0/files/rooms/{id}/share"),
        1
    );
    assert_eq!(p.state().total_requests(), 2);
    p.shutdown().await;
}

#[tokio::test]
async fn scenario_files_load() {
    let dir = std::env::temp_dir().join(format!("fake-portal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("s.json");
    std::fs::write(&json_path, fixture().to_json_string()).unwrap();
    let loaded = Scenario::load(&json_path).unwrap();
    assert_eq!(loaded, fixture());
    let toml_path = dir.join("s.toml");
    std::fs::write(&toml_path, "key_user = \"nobody\"\n").unwrap();
    let err = Scenario::load(&toml_path).unwrap_err().to_string();
    assert!(err.contains("key_user: unknown user nobody"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_example_scenario_loads_and_serves() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/example.toml");
    let s = Scenario::load(&path).unwrap();
    assert_eq!(s.rooms.len(), 2);
    assert_eq!(s.faults.overrides.len(), 2);
    let p = FakePortal::start(s).await.unwrap();
    let c = Client::new(&p);
    assert_eq!(c.get("files/rooms/42/share").await.text, "{\"response\": [");
    assert_eq!(c.get("files/rooms/42/share").await.text, "{\"response\": [");
    assert_eq!(c.get("files/rooms/42/share").await.json()["total"], 3);
    let r = c.post("people/reassign/start", json!({})).await;
    assert_eq!((r.status, r.retry_after.as_deref()), (429, Some("3")));
    p.shutdown().await;
}
