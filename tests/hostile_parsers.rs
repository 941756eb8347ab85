//! A stable, deterministic stand-in for fuzzing (`fuzz/` holds the
//! cargo-fuzz targets, which need nightly): thousands of mutated and
//! truncated real-shaped DocSpace response bodies go through the same
//! parsers the client uses (`serde_json::from_slice::<Envelope<…>>` over the
//! wire types), and everything the checks and reports then derive from a
//! parsed value is exercised too. Nothing may panic; errors are fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use docspace_auditor::api::wire::{
    AuditEvent, Envelope, FileOperation, FolderContent, RoomSecurity, ShareRow, TaskProgress, User,
};
use docspace_auditor::check::classify::{access_label, classify};
use docspace_auditor::report::safe::{cell, one_line};
use serde_json::{Value, json};

/// Real-shaped bodies of every endpoint the auditor reads.
fn seeds() -> Vec<Value> {
    let user = json!({
        "id": "b1d5c3a0-0000-4000-8000-000000000001", "displayName": "Ann Guest",
        "firstName": "Ann", "lastName": "Guest", "email": "ann@partner.example",
        "status": 1, "activationStatus": 1, "isVisitor": true, "isCollaborator": false,
        "isAdmin": false, "isRoomAdmin": false, "isOwner": false,
        "terminated": "2026-05-01T09:30:00.0000000+03:00",
        "registrationDate": {"utcTime": "2025-01-10T08:00:00Z", "timeZoneOffset": "00:00:00"},
    });
    let link = json!({
        "id": "7f1c0000-0000-4000-8000-000000000006", "title": "Client link",
        "shareLink": "https://p/s/x", "linkType": 1, "primary": false, "internal": false,
        "isExpired": false, "expirationDate": "2027-01-01T00:00:00.0000000Z", "denyDownload": false,
    });
    let rows = json!([
        {"access": 1, "subjectType": 0, "isOwner": true, "isLocked": false, "canEditAccess": false, "sharedToUser": user},
        {"access": 2, "subjectType": 0, "isOwner": false, "isLocked": false, "canEditAccess": true, "sharedToUser": user},
        {"access": 2, "subjectType": 2, "sharedToGroup": {"id": "b1d5c3a0-0000-4000-8000-000000000005", "name": "HR"}},
        {"access": 2, "subjectType": 1, "sharedLink": link},
        {"access": 2, "subjectType": 3, "sharedLink": {"id": "x", "linkType": 0}},
    ]);
    let room = json!({
        "id": 42, "title": "Project X", "parentId": 3, "rootFolderId": 3, "rootFolderType": 20,
        "roomType": 5, "type": 19, "createdBy": {"id": "b1d5c3a0-0000-4000-8000-000000000003", "displayName": "Olga"},
        "created": "2026-05-01T09:30:00.0000000Z", "updated": "2026-05-01T09:30:00.0000000Z",
        "security": {"EditAccess": false, "Read": true},
    });
    let env = |response: Value, total: Option<i64>| {
        let mut e = json!({"response": response, "count": 1, "status": 0, "statusCode": 200,
                            "links": [{"href": "x", "action": "GET"}]});
        if let Some(t) = total {
            e["total"] = json!(t);
        }
        e
    };
    vec![
        env(rows.clone(), Some(5)),
        env(rows[3].clone(), None),
        env(
            json!({"folders": [room.clone(), {"id": "sbox-4711", "title": null}], "total": 2, "current": room}),
            None,
        ),
        env(room, None),
        env(user.clone(), None),
        env(json!([user]), Some(1)),
        env(json!({"members": rows, "warning": "w", "error": 0}), None),
        env(
            json!({"id": "op1", "progress": 0, "error": "", "finished": false}),
            None,
        ),
        env(
            json!([{"id": "op1", "progress": 100, "error": "", "finished": true}]),
            None,
        ),
        env(
            json!({"id": "t", "error": null, "percentage": 50, "isCompleted": false, "status": 1}),
            None,
        ),
        env(
            json!([{"id": 1, "date": "2026-05-01T09:30:00Z", "user": "x", "userId": "b1d5c3a0-0000-4000-8000-000000000001",
                    "action": "Users updated", "actionId": 4020, "ip": "1.2.3.4", "target": ["a", "b"]}]),
            None,
        ),
        json!({"error": {"message": "Access denied", "type": "System.Security.SecurityException"}, "status": 1, "statusCode": 403}),
    ]
}

/// Everything the auditor derives from a parsed body, so a value that
/// parses but is odd is exercised downstream too.
fn consume(bytes: &[u8]) {
    if let Ok(e) = serde_json::from_slice::<Envelope<Vec<ShareRow>>>(bytes) {
        for r in e.response.unwrap_or_default() {
            share_row(&r);
        }
    }
    if let Ok(Envelope {
        response: Some(r), ..
    }) = serde_json::from_slice::<Envelope<ShareRow>>(bytes)
    {
        share_row(&r);
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<FolderContent>>(bytes) {
        for entry in e.response.map(|c| c.folders).unwrap_or_default() {
            match entry {
                docspace_auditor::api::wire::Listed::Item(r) => {
                    let _ = (r.title(), r.is_archived(), r.owner_id(), r.id.to_string());
                    let _ = cell(r.title());
                }
                docspace_auditor::api::wire::Listed::Unreadable(bad) => {
                    let _ = cell(bad.id.as_deref().unwrap_or(""));
                    let _ = cell(&bad.error);
                }
            }
        }
    }
    if let Ok(Envelope {
        response: Some(r), ..
    }) = serde_json::from_slice::<Envelope<docspace_auditor::api::wire::Room>>(bytes)
    {
        let _ = (r.title(), r.is_archived(), r.id.as_path_segment());
    }
    if let Ok(Envelope {
        response: Some(u), ..
    }) = serde_json::from_slice::<Envelope<User>>(bytes)
    {
        user(&u);
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<Vec<User>>>(bytes) {
        e.response.unwrap_or_default().iter().for_each(user);
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<RoomSecurity>>(bytes) {
        for r in e.response.and_then(|s| s.members).unwrap_or_default() {
            share_row(&r);
        }
    }
    let _ = serde_json::from_slice::<Envelope<FileOperation>>(bytes);
    let _ = serde_json::from_slice::<Envelope<Vec<FileOperation>>>(bytes);
    let _ = serde_json::from_slice::<Envelope<TaskProgress>>(bytes)
        .map(|e| e.response.map(|t| t.status.map(|s| s.name())));
    if let Ok(e) = serde_json::from_slice::<Envelope<Vec<AuditEvent>>>(bytes) {
        for ev in e.response.unwrap_or_default() {
            for t in ev.targets() {
                let _ = one_line(&t, 100);
            }
        }
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<Value>>(bytes) {
        let _ = e
            .error
            .and_then(|e| e.message)
            .map(|m| docspace_auditor::api::clip(&m, 300));
    }
}

fn share_row(r: &ShareRow) {
    let _ = format!("{:?}", classify(r));
    let _ = access_label(r);
    if let Some(u) = &r.shared_to_user {
        user(u);
    }
}

fn user(u: &User) {
    let _ = (
        u.name(),
        u.employee_type(),
        u.is_active(),
        u.is_terminated(),
        u.id.is_well_formed(),
    );
    let _ = cell(&u.name());
}

/// Replaces one random node of the tree with an odd value.
fn mutate_value(v: &mut Value, rng: &mut fastrand::Rng) {
    const ODD: [&str; 22] = [
        "null",
        "true",
        "-1",
        "0",
        "1e999",
        "-9223372036854775809",
        "18446744073709551616",
        "3.5",
        "\"\"",
        "\"-1\"",
        "\"RoomManager\"",
        "\"Nonsense\"",
        "\"../../etc\"",
        "\"\\u0000\\r\\n\\u202e\"",
        "[]",
        "{}",
        "[null]",
        "{\"utcTime\":null}",
        "{\"utcTime\":\"x\"}",
        "\"2026-13-45T99:99:99Z\"",
        "[[[[[[[[]]]]]]]]",
        "\"\\ud800\"",
    ];
    let n = count_nodes(v);
    let target = rng.usize(..n.max(1));
    let mut i = 0;
    walk(v, &mut |node| {
        if i == target {
            let pick = ODD[rng.usize(..ODD.len())];
            *node = serde_json::from_str(pick).unwrap_or(Value::Null);
            if rng.u8(..10) == 0 {
                // Or a long string (the 1 MB case is its own test).
                *node = Value::String("Ж\u{202E}=".repeat(rng.usize(1..3_000)));
            }
        }
        i += 1;
    });
    // Sometimes drop a key or add an unknown one.
    if let Value::Object(map) = v {
        if rng.bool() && !map.is_empty() {
            let k = map.keys().nth(rng.usize(..map.len())).cloned().unwrap();
            map.remove(&k);
        } else {
            map.insert("brandNewField".into(), json!({"x": [1, null]}));
        }
    }
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn walk(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Byte-level damage: flips, cuts, insertions, duplications.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut fastrand::Rng) {
    const TOKENS: [&[u8]; 10] = [
        b"null",
        b",",
        b"}",
        b"]",
        b"\"",
        b"\\",
        b"{\"a\":",
        b"1e99999",
        b"\xff\xfe",
        b"\\ud800",
    ];
    for _ in 0..rng.usize(1..4) {
        if bytes.is_empty() {
            return;
        }
        let at = rng.usize(..bytes.len());
        match rng.u8(..5) {
            0 => bytes[at] = rng.u8(..),
            1 => bytes.truncate(at),
            2 => {
                let t = TOKENS[rng.usize(..TOKENS.len())];
                bytes.splice(at..at, t.iter().copied());
            }
            3 => {
                let end = (at + rng.usize(1..64)).min(bytes.len());
                let dup: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, dup);
            }
            _ => {
                bytes.remove(at);
            }
        }
    }
}

#[test]
fn every_prefix_of_every_real_body_parses_or_fails_cleanly() {
    for seed in seeds() {
        let bytes = serde_json::to_vec(&seed).unwrap();
        consume(&bytes);
        for cut in 0..bytes.len() {
            consume(&bytes[..cut]);
        }
    }
}

#[test]
fn ten_thousand_mutated_bodies_never_panic() {
    let mut rng = fastrand::Rng::with_seed(20_261_123);
    let seeds = seeds();
    for i in 0..10_000 {
        let mut v = seeds[i % seeds.len()].clone();
        for _ in 0..rng.usize(1..4) {
            mutate_value(&mut v, &mut rng);
        }
        let mut bytes = serde_json::to_vec(&v).unwrap();
        consume(&bytes);
        if rng.bool() {
            mutate_bytes(&mut bytes, &mut rng);
            consume(&bytes);
        }
    }
}

#[test]
fn deep_nesting_and_huge_bodies_fail_cleanly() {
    let deep = format!(
        "{{\"response\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    consume(deep.as_bytes());
    let mut wide = String::from("{\"response\":[");
    for i in 0..20_000 {
        if i > 0 {
            wide.push(',');
        }
        wide.push_str("{\"access\":2,\"subjectType\":0,\"sharedToUser\":{\"id\":\"b1d5c3a0-0000-4000-8000-000000000001\",\"isVisitor\":null}}");
    }
    wide.push_str("],\"total\":20000}");
    consume(wide.as_bytes());
    let long = format!(
        "{{\"response\":{{\"id\":1,\"title\":\"{}\",\"rootFolderType\":20}}}}",
        "\u{202E}x".repeat(1_000_000)
    );
    consume(long.as_bytes());
}
