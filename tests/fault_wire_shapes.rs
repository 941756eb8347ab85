//! Fault matrix, row 4: the portal answers in shapes this build does not
//! fully know: unknown enum values, missing optional fields, extra fields,
//! nulls where values belong, strings where numbers belong, very long
//! strings. A wiremock server answers with exactly these bodies. The run
//! must not panic, must report every row it could not classify (never
//! assume "not a guest"), must fail only the room whose answer is unusable
//! (with the reason), and must plan changes only for rows it understood.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_common;

use docspace_auditor::audit::RunRequest;
use fault_common::reports::{actions_csv, findings_csv, rows_where};
use fault_common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "sk-5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";
const ME: &str = "0a0a0a0a-0000-4000-8000-000000000001";
const OWNER_ID: &str = "0a0a0a0a-0000-4000-8000-000000000002";

fn uid(n: u32) -> String {
    format!("0a0a0a0a-0000-4000-8000-{n:012}")
}

fn envelope(response: Value) -> Value {
    json!({
        "response": response,
        "count": 1,
        "links": [{"href": "x", "action": "GET"}],
        "status": 0,
        "statusCode": 200,
        "somethingNew": {"nested": [1, 2, 3]},
    })
}

fn ok(response: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(envelope(response))
}

fn room(id: Value, title: Value) -> Value {
    json!({
        "id": id,
        "title": title,
        "parentId": 3,
        "rootFolderId": 3,
        "rootFolderType": 20,
        "roomType": 77,
        "type": 99,
        "createdBy": {"id": OWNER_ID, "displayName": null, "brandNewField": true},
        "created": "not a date",
        "updated": {"utcTime": null, "timeZoneOffset": "nonsense"},
        "security": {"EditAccess": null, "FutureFlag": "yes"},
        "tags": null,
        "usedSpace": "1 KB",
    })
}

/// A share row for a user; `visitor` is the raw `isVisitor` value (absent
/// when `None`).
fn user_row(n: u32, name: Value, visitor: Option<Value>, access: Value) -> Value {
    let mut user = json!({
        "id": uid(n),
        "displayName": name,
        "email": null,
        "status": 12,
        "activationStatus": "SomethingElse",
        "isAdmin": null,
        "isOwner": null,
        "isRoomAdmin": null,
        "isCollaborator": null,
        "profileUrl": null,
        "unknownList": [null, {}],
    });
    if let Some(v) = visitor {
        user["isVisitor"] = v;
    }
    json!({
        "access": access,
        "sharedToUser": user,
        "isLocked": null,
        "isOwner": null,
        "canEditAccess": null,
        "subjectType": 0,
        "newFlag": 42,
    })
}

fn owner_row() -> Value {
    json!({
        "access": 1,
        "sharedToUser": {"id": OWNER_ID, "displayName": "Olga Owner", "isVisitor": false},
        "isOwner": true,
        "subjectType": 0,
    })
}

async fn mount_share(server: &MockServer, room: &str, filter: &str, body: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/api/2.0/files/rooms/{room}/share")))
        .and(query_param("filterType", filter))
        .respond_with(body)
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_shapes_are_reported_never_guessed_and_never_panic() {
    let server = MockServer::start().await;
    let long_title = "L".repeat(1_000_000);
    let long_name = "N".repeat(300_000);
    Mock::given(method("GET"))
        .and(path("/api/2.0/people/@self"))
        .respond_with(ok(json!({
            "id": ME, "displayName": "Audit Bot", "isAdmin": true, "isVisitor": null,
            "status": "Active", "email": null, "futureField": {"a": null},
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/2.0/people/{OWNER_ID}")))
        .respond_with(ok(json!({
            "id": OWNER_ID, "displayName": null, "firstName": null, "status": 99,
            "terminated": 12345, "registrationDate": [], "email": "olga@company.example",
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms"))
        .respond_with(ok(json!({
            "folders": [
                room(json!(201), json!(long_title)),
                room(json!("sbox-77"), json!(null)),
                room(json!(203), json!("Broken share answer")),
                room(json!(204), json!("Endless share list")),
            ],
            "files": null,
            "total": 4,
            "current": null,
            "extra": "x",
        })))
        .mount(&server)
        .await;

    // Share lists here carry no `total` and ignore `startIndex`, as a
    // broken server might: a short page must end the paging.
    // Room 201: every kind of odd row, and one plain guest.
    let mut future_subject = user_row(15, json!("Future Subject"), Some(json!(true)), json!(2));
    future_subject["subjectType"] = json!(77);
    mount_share(
        &server,
        "201",
        "0",
        ok(json!([
            owner_row(),
            // isVisitor null, missing, or a string: the user's type is unknown.
            user_row(11, json!("Null Visitor"), Some(json!(null)), json!(2)),
            user_row(12, json!(long_name), None, json!(42)),
            // A plain guest with an access name the server may send.
            user_row(13, json!(null), Some(json!(true)), json!("Read")),
            // An access value this build does not know.
            user_row(14, json!("Unknown Access"), Some(json!(false)), json!("Nonsense")),
            // A subject type this build does not know, pointing at a guest.
            future_subject,
            // No subject at all.
            {"access": 2, "subjectType": null, "isOwner": false},
            // A link with an unknown link type and no subject type.
            {"access": 2, "sharedLink": {"id": "5eed0000-0000-4000-8000-000000000001", "title": null, "linkType": 9}},
        ])),
    )
    .await;
    mount_share(
        &server,
        "201",
        "2",
        ok(json!([{
            "access": 2, "subjectType": 1, "canEditAccess": null,
            "sharedLink": {"id": "5eed0000-0000-4000-8000-000000000002", "title": "Client link",
                "linkType": 1, "isExpired": null, "primary": null, "internal": null,
                "expirationDate": {"utcTime": "2030-01-01T00:00:00Z"}, "password": "hunter2",
                "shareLink": "https://portal.example/s/SECRET-URL"}
        }])),
    )
    .await;
    // Room sbox-77 (a third-party room): a guest whose flag is a string.
    mount_share(
        &server,
        "sbox-77",
        "0",
        ok(json!([
            owner_row(),
            user_row(21, json!("String Visitor"), Some(json!("true")), json!(2))
        ])),
    )
    .await;
    mount_share(&server, "sbox-77", "2", ok(json!([]))).await;
    // Room 203: a share answer that is not a list at all.
    mount_share(&server, "203", "0", ok(json!({"members": "nope"}))).await;
    mount_share(&server, "203", "2", ok(json!([]))).await;
    // Room 204: a total no portal has; paging it would exhaust memory.
    let mut endless = envelope(json!([owner_row()]));
    endless["total"] = json!(999_999_999_999_i64);
    mount_share(
        &server,
        "204",
        "0",
        ResponseTemplate::new(200).set_body_json(endless),
    )
    .await;
    mount_share(&server, "204", "2", ok(json!([]))).await;
    // Nothing is ever written.
    Mock::given(|r: &wiremock::Request| r.method.as_str() != "GET")
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let mut setup = Setup::new(&server.uri(), TOKEN);
    setup.extra = String::new();
    // Remediation on, but as a dry run: the plan shows what would be done.
    let mut config = setup.load();
    config.policy.dry_run = true;
    let outcome = setup
        .auditor(config)
        .run(RunRequest::default())
        .await
        .unwrap();
    server.verify().await;

    let findings = findings_csv(&outcome.report_dir);
    let by_subject = |id: &str| {
        findings
            .iter()
            .filter(|f| f["subject_id"] == id)
            .collect::<Vec<_>>()
    };
    // Unknown user type: reported for review, no fix planned.
    for n in [11, 12] {
        let f = by_subject(&uid(n));
        assert_eq!(f.len(), 1, "user {n}: {findings:#?}");
        assert_eq!(f[0]["status"], "open");
        assert!(
            f[0]["detail"].contains("cannot tell whether this member is a guest"),
            "{:?}",
            f[0]
        );
    }
    assert_eq!(by_subject(&uid(12))[0]["access"], "unknown(42)");
    // A cut name: the cell stays bounded.
    assert!(by_subject(&uid(12))[0]["subject_name"].chars().count() <= 2_001);
    // The plain guest and the external link: found, and the only fixes planned.
    assert_eq!(by_subject(&uid(13)).len(), 1);
    assert_eq!(by_subject(&uid(13))[0]["check"], "archived-room-guests");
    assert_eq!(by_subject("5eed0000-0000-4000-8000-000000000002").len(), 1);
    // A regular member with an access name this build does not know: not
    // a guest, not reported.
    assert!(by_subject(&uid(14)).is_empty());
    // Rows that cannot be read at all: reported as unreadable, one each.
    let unreadable = rows_where(&findings, "subject_name", "(unreadable share row)");
    assert_eq!(unreadable.len(), 3, "{findings:#?}");
    assert!(
        unreadable
            .iter()
            .all(|f| f["room_id"] == "201" && f["status"] == "open")
    );
    // Room sbox-77's row does not parse ("true" is not a bool): the room
    // fails with the reason, it is not skipped silently.
    let failed = rows_where(&findings, "check", "room-audit");
    let failed_ids: Vec<&str> = failed.iter().map(|f| f["room_id"].as_str()).collect();
    assert_eq!(failed.len(), 3, "{findings:#?}");
    assert!(failed_ids.contains(&"sbox-77") && failed_ids.contains(&"203"));
    for f in &failed {
        assert_eq!(f["status"], "failed");
        assert!(f["detail"].contains("unreadable answer"), "{f:?}");
    }
    let endless = rows_where(&findings, "room_id", "204");
    assert!(
        endless[0]["detail"].contains("past the 1000000"),
        "{endless:?}"
    );
    assert_eq!((outcome.rooms_audited, outcome.rooms_failed), (1, 3));
    // The 1 MB title is cut in every cell.
    for f in rows_where(&findings, "room_id", "201") {
        assert_eq!(f["room_title"].chars().count(), 2_001);
    }
    // Planned only for what was understood.
    let planned = actions_csv(&outcome.report_dir);
    let mut subjects: Vec<String> = planned.iter().map(|a| a["subject"].clone()).collect();
    subjects.sort();
    assert_eq!(planned.len(), 2, "{planned:#?}");
    assert!(planned.iter().all(|a| a["outcome"] == "planned"));
    assert!(subjects[0].starts_with("link:5eed0000-0000-4000-8000-000000000002"));
    assert!(subjects[1].starts_with(&format!("user:{}", uid(13))));
    // The link's URL and password are credentials: never in a report.
    for (p, bytes) in reports::all_files(&outcome.report_dir) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("SECRET-URL") && !text.contains("hunter2"),
            "{}",
            p.display()
        );
    }
}
