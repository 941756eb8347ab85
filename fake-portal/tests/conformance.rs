//! Conformance: every endpoint's answer validated against the `...Wrapper`
//! schemas of `shared/docspace/openapi.json`, with only the differences
//! API-NOTES §16 documents (date strings, string room ids, newer fields).
//! The request bodies the test sends are validated against the request
//! schemas too, the way docspace-auditor reuses the validator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use docspace_fake_portal::conformance::{Rules, Spec};
use docspace_fake_portal::{FakePortal, Scenario};
use serde_json::{Value, json};

fn spec() -> Spec {
    Spec::load_default().expect("shared/docspace/openapi.json must be readable")
}

fn assert_valid(spec: &Spec, schema: &str, value: &Value, what: &str) {
    if let Err(errors) = spec.validate(schema, value, &Rules::server_responses()) {
        let list: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
        panic!(
            "{what} does not match {schema}:\n  {}\nbody: {value}",
            list.join("\n  ")
        );
    }
}

fn request_body(spec: &Spec, schema: &str, body: Value) -> Value {
    if let Err(errors) = spec.validate(schema, &body, &Rules::requests()) {
        panic!("request body does not match {schema}: {errors:?}");
    }
    body
}

/// Every date-like field is a string with seven fractional digits.
fn check_dates(value: &Value, path: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{path}.{k}");
                if [
                    "created",
                    "updated",
                    "terminated",
                    "registrationDate",
                    "expirationDate",
                    "date",
                ]
                .contains(&k.as_str())
                {
                    let s = v
                        .as_str()
                        .unwrap_or_else(|| panic!("{p} is not a string: {v}"));
                    let b = s.as_bytes();
                    assert!(
                        s.len() == 28
                            && b[10] == b'T'
                            && b[19] == b'.'
                            && s.ends_with('Z')
                            && s[20..27].chars().all(|c| c.is_ascii_digit()),
                        "{p} = {s}"
                    );
                }
                check_dates(v, &p);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_dates(v, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_endpoint_matches_the_spec() {
    let spec = spec();
    let demo = Scenario::demo();
    let archived_id = demo
        .rooms
        .iter()
        .find(|r| r.archived && !r.links.is_empty())
        .unwrap()
        .id
        .key();
    let active = demo
        .rooms
        .iter()
        .find(|r| !r.archived && r.id.key() == "202")
        .unwrap()
        .id
        .key();
    let dieter = demo
        .users
        .iter()
        .find(|u| u.first_name == "Dieter")
        .unwrap()
        .id
        .clone();
    let arne = demo
        .users
        .iter()
        .find(|u| u.first_name == "Arne")
        .unwrap()
        .id
        .clone();
    let tom = demo
        .users
        .iter()
        .find(|u| u.first_name == "Tom")
        .unwrap()
        .id
        .clone();
    let rita = demo
        .users
        .iter()
        .find(|u| u.first_name == "Rita")
        .unwrap()
        .id
        .clone();
    let hr = demo.groups[0].id.clone();
    let p = FakePortal::start(demo).await.unwrap();
    let c = Client::new(&p);
    let mut checked = 0;
    let mut check = |schema: &str, r: &Resp, what: &str| {
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        let v = r.json();
        assert_valid(&spec, schema, &v, what);
        check_dates(&v, "$");
        checked += 1;
    };

    check(
        "EmployeeFullWrapper",
        &c.get("people/@self").await,
        "people/@self",
    );
    check(
        "EmployeeFullArrayWrapper",
        &c.get("people/filter?employeeStatus=7&count=100").await,
        "people/filter",
    );
    check(
        "EmployeeFullArrayWrapper",
        &c.get("people/filter?employeeType=2&employeeStatus=7").await,
        "guests",
    );
    check(
        "EmployeeFullWrapper",
        &c.get(&format!("people/{dieter}")).await,
        "people/{id}",
    );
    check(
        "GroupWrapper",
        &c.get(&format!("group/{hr}?includeMembers=true")).await,
        "group/{id}",
    );
    for area in 0..3 {
        let r = c
            .get(&format!("files/rooms?searchArea={area}&count=100"))
            .await;
        check("FolderContentIntegerWrapper", &r, "files/rooms");
    }
    let rooms = c.get("files/rooms?searchArea=2").await.response();
    for room in rooms["folders"].as_array().unwrap() {
        let id = match &room["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let r = c.get(&format!("files/rooms/{id}")).await;
        if room["id"].is_string() {
            // Third-party rooms are FolderDto<string>: the integer wrapper
            // only fits with the string-id exception.
            assert_valid(&spec, "FolderDtoString", &r.response(), "third-party room");
        }
        check("FolderIntegerWrapper", &r, "files/rooms/{id}");
        for filter in [0, 1, 2, 4, 8, 15, 16, 32] {
            let r = c
                .get(&format!(
                    "files/rooms/{id}/share?filterType={filter}&count=100"
                ))
                .await;
            check("FileShareArrayWrapper", &r, "files/rooms/{id}/share");
        }
        check(
            "FileShareArrayWrapper",
            &c.get(&format!("files/rooms/{id}/links")).await,
            "links",
        );
        check(
            "FileShareArrayWrapper",
            &c.get(&format!("files/rooms/{id}/links?type=1")).await,
            "links?type=1",
        );
    }
    let primary_room = p
        .state()
        .rooms()
        .iter()
        .find(|r| r.links.iter().any(|l| l.primary))
        .unwrap()
        .id
        .clone();
    check(
        "FileShareWrapper",
        &c.get(&format!("files/rooms/{primary_room}/link")).await,
        "link",
    );
    assert_eq!(p.state().primary_link_creations(), 0);

    // Writes.
    let body = request_body(
        &spec,
        "RoomInvitationRequest",
        json!({"invitations":[{"id":rita,"access":0},{"id":tom,"access":2},{"id":hr,"access":2}],"notify":false,"force":false}),
    );
    check(
        "RoomSecurityWrapper",
        &c.put(&format!("files/rooms/{active}/share"), body).await,
        "PUT share",
    );
    let link = c
        .get(&format!("files/rooms/{archived_id}/links?type=1"))
        .await
        .response()[0]["sharedLink"]
        .clone();
    let archive_body = request_body(&spec, "ArchiveRoomRequest", json!({"deleteAfter": false}));
    let r = c
        .put(
            &format!("files/rooms/{archived_id}/unarchive"),
            archive_body.clone(),
        )
        .await;
    check("FileOperationWrapper", &r, "unarchive");
    let op = r.response();
    check(
        "FileOperationArrayWrapper",
        &c.get(&format!("files/fileops?id={}", op["id"].as_str().unwrap()))
            .await,
        "fileops",
    );
    c.wait_op(&op).await;
    let mut revoke = json!({"linkId": link["id"], "access": 0, "linkType": 1, "internal": !link["internal"].as_bool().unwrap(),
        "title": link["title"], "denyDownload": link["denyDownload"]});
    if let Some(e) = link.get("expirationDate") {
        revoke["expirationDate"] = e.clone();
    }
    let revoke = request_body(&spec, "RoomLinkRequest", revoke);
    check(
        "FileShareWrapper",
        &c.put(&format!("files/rooms/{archived_id}/links"), revoke)
            .await,
        "skipped revoke",
    );
    let r = c
        .put(&format!("files/rooms/{archived_id}/archive"), archive_body)
        .await;
    check("FileOperationWrapper", &r, "archive");
    check(
        "FileOperationArrayWrapper",
        &c.get("files/fileops").await,
        "fileops list",
    );

    check(
        "BooleanWrapper",
        &c.get(&format!(
            "people/reassign/necessary?userId={dieter}&type=RoomAdmin"
        ))
        .await,
        "reassign/necessary",
    );
    let start = request_body(
        &spec,
        "StartReassignRequestDto",
        json!({"fromUserId": dieter, "toUserId": arne, "deleteProfile": false}),
    );
    check(
        "TaskProgressResponseWrapper",
        &c.post("people/reassign/start", start).await,
        "reassign/start",
    );
    check(
        "TaskProgressResponseWrapper",
        &c.get(&format!("people/reassign/progress/{dieter}")).await,
        "progress",
    );
    let terminate = request_body(&spec, "TerminateRequestDto", json!({"userId": dieter}));
    check(
        "TaskProgressResponseWrapper",
        &c.put("people/reassign/terminate", terminate).await,
        "terminate",
    );
    let ids = request_body(&spec, "UpdateMembersRequestDto", json!({"userIds": [rita]}));
    check(
        "EmployeeFullArrayWrapper",
        &c.put("people/status/2", ids.clone()).await,
        "people/status",
    );
    check(
        "EmployeeFullArrayWrapper",
        &c.put("people/delete", ids).await,
        "people/delete",
    );
    check(
        "AuditEventArrayWrapper",
        &c.get("security/audit/events/filter?count=100").await,
        "audit",
    );
    assert!(checked > 100, "{checked}");
    p.shutdown().await;
}

#[tokio::test]
async fn error_shapes() {
    let p = FakePortal::start(fixture()).await.unwrap();
    let c = Client::new(&p);
    let r = c
        .put(
            "files/rooms/42/share",
            json!({"invitations":[{"id":GUEST,"access":0}]}),
        )
        .await;
    let v = r.json();
    assert_eq!(
        v,
        json!({"error":{"message":"Access denied","type":"System.Security.SecurityException"},"status":1,"statusCode":403})
    );
    let v = c.get("files/rooms?count=101").await.json();
    assert_eq!(
        v["response"]["errors"]["count"][0],
        "The field Count must be between 1 and 100."
    );
    assert_eq!(v["response"]["status"], 400);
    assert!(v.get("error").is_none());
    p.shutdown().await;
}

#[test]
fn the_validator_catches_what_the_spec_forbids() {
    let spec = spec();
    let good = json!({"access": 2, "isLocked": false, "isOwner": false, "canEditAccess": true, "canEditInternal": false,
        "canEditDenyDownload": false, "canEditExpirationDate": false, "canRevoke": false, "subjectType": 0});
    assert_eq!(
        spec.validate("FileShareDto", &good, &Rules::server_responses()),
        Ok(())
    );
    let mut bad = good.clone();
    bad["access"] = json!("FullAccess");
    bad["subjectType"] = json!(9);
    bad.as_object_mut().unwrap().remove("isOwner");
    bad["userType"] = json!("Guest");
    let errors = spec
        .validate("FileShareDto", &bad, &Rules::server_responses())
        .unwrap_err();
    // Missing isOwner, access (enum and type), subjectType, userType.
    assert_eq!(errors.len(), 5, "{errors:?}");
    // An e-mail in the short EmployeeDto (a room's createdBy) is flagged.
    let room =
        json!({"id": 1, "createdBy": {"id": GUEST, "displayName": "G", "email": "g@x.example"}});
    let errors = spec
        .validate("FolderDtoInteger", &room, &Rules::server_responses())
        .unwrap_err();
    assert_eq!(errors[0].path, "$.createdBy.email");

    // A misspelt request field (the samples' `entries`) is caught.
    let sample = json!({"entries": [{"id": GUEST, "access": 0}], "notify": false});
    let errors = spec
        .validate("RoomInvitationRequest", &sample, &Rules::requests())
        .unwrap_err();
    assert_eq!(errors[0].path, "$.entries");
    // A room id string is only accepted with the documented exception.
    let room = json!({"id": "sbox-4711", "title": "x", "created": "2026-01-01T00:00:00.0000000Z"});
    assert!(
        spec.validate("FolderDtoInteger", &room, &Rules::strict())
            .is_err()
    );
    assert_eq!(
        spec.validate("FolderDtoInteger", &room, &Rules::server_responses()),
        Ok(())
    );
}
