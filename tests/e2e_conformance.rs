//! Conformance of the auditor's requests: every write a remediating run
//! sends to the fake portal is validated against the request schema that
//! `openapi.json` names for its endpoint, so the client cannot drift from
//! the real API. The schema is looked up in the spec's `paths` (not assumed)
//! and checked against the table below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_common;

use std::collections::BTreeSet;

use docspace_fake_portal::RecordedRequest;
use docspace_fake_portal::conformance::{Rules, Spec};
use e2e_common::{Options, auditor, demo_portal, run};
use serde_json::Value;

/// (method, path template) → request schema, as the spec has them.
const REQUEST_SCHEMAS: [(&str, &str, &str); 8] = [
    (
        "PUT",
        "/api/2.0/files/rooms/{id}/share",
        "RoomInvitationRequest",
    ),
    ("PUT", "/api/2.0/files/rooms/{id}/links", "RoomLinkRequest"),
    (
        "PUT",
        "/api/2.0/files/rooms/{id}/archive",
        "ArchiveRoomRequest",
    ),
    (
        "PUT",
        "/api/2.0/files/rooms/{id}/unarchive",
        "ArchiveRoomRequest",
    ),
    (
        "POST",
        "/api/2.0/people/reassign/start",
        "StartReassignRequestDto",
    ),
    (
        "PUT",
        "/api/2.0/people/status/{status}",
        "UpdateMembersRequestDto",
    ),
    ("PUT", "/api/2.0/people/delete", "UpdateMembersRequestDto"),
    (
        "DELETE",
        "/api/2.0/people/guests",
        "UpdateMembersRequestDto",
    ),
];

fn openapi() -> Value {
    let path = Spec::default_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The component name of the JSON request body of `method path` in the spec.
fn spec_request_schema(doc: &Value, method: &str, template: &str) -> Option<String> {
    let op = doc
        .get("paths")?
        .get(template)?
        .get(method.to_ascii_lowercase())?;
    let reference = op
        .pointer("/requestBody/content/application~1json/schema/$ref")?
        .as_str()?;
    reference
        .strip_prefix("#/components/schemas/")
        .map(str::to_string)
}

/// Every `access` value in the body, wherever it is nested.
fn access_values<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "access" {
                    out.push(x);
                }
                access_values(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| access_values(x, out)),
        _ => {}
    }
}

/// Validates each write; returns the (method, template) pairs seen.
fn check_writes(
    spec: &Spec,
    doc: &Value,
    writes: &[RecordedRequest],
) -> BTreeSet<(String, String)> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for w in writes {
        seen.insert((w.method.clone(), w.template.clone()));
        let Some((_, _, expected)) = REQUEST_SCHEMAS
            .iter()
            .find(|(m, t, _)| *m == w.method && *t == w.template)
        else {
            problems.push(format!(
                "{} {}: a write the table does not know",
                w.method, w.path
            ));
            continue;
        };
        assert_eq!(
            spec_request_schema(doc, &w.method, &w.template).as_deref(),
            Some(*expected),
            "the spec's request schema of {} {}",
            w.method,
            w.template
        );
        let body: Value = match serde_json::from_str(&w.body) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!(
                    "{} {}: body is not JSON ({e}): {:?}",
                    w.method, w.path, w.body
                ));
                continue;
            }
        };
        if let Err(violations) = spec.validate(expected, &body, &Rules::requests()) {
            for v in violations {
                problems.push(format!(
                    "{} {} ({expected}): {v}; body {body}",
                    w.method, w.path
                ));
            }
        }
        // DocSpace reads a string access as 0 (remove): always numbers.
        let mut access = Vec::new();
        access_values(&body, &mut access);
        for a in access {
            if !a.is_u64() {
                problems.push(format!(
                    "{} {}: access {a} is not a number",
                    w.method, w.path
                ));
            }
        }
        // An empty invitation list is a silent no-op on the server.
        if let Some(list) = body.get("invitations")
            && list.as_array().is_none_or(Vec::is_empty)
        {
            problems.push(format!("{} {}: empty invitations", w.method, w.path));
        }
        if let Some(ids) = body.get("userIds")
            && ids.as_array().is_none_or(Vec::is_empty)
        {
            problems.push(format!("{} {}: empty userIds", w.method, w.path));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_of_a_remediating_run_matches_the_spec_request_schemas() {
    let spec = Spec::load_default().unwrap();
    let doc = openapi();
    for (method, template, name) in REQUEST_SCHEMAS {
        assert_eq!(
            spec_request_schema(&doc, method, template).as_deref(),
            Some(name),
            "{method} {template}"
        );
        assert!(spec.schema(name).is_some(), "{name}");
    }
    // The validator does reject what the server would misread.
    let bad = serde_json::json!({
        "invitations": [{"id": "6f0e5b1c-1d2e-4a3b-9c4d-00000000000a", "access": "None"}],
        "notify": "no",
        "purge": true
    });
    let violations = spec
        .validate("RoomInvitationRequest", &bad, &Rules::requests())
        .unwrap_err();
    for path in ["$.invitations[0].access", "$.notify", "$.purge"] {
        assert!(
            violations.iter().any(|v| v.path == path),
            "{path}: {violations:?}"
        );
    }

    // Orphaned guests deleted portal-wide.
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    run(&auditor(&portal, dir.path(), &Options::default())).await;
    let writes = portal.writes();
    let mut seen = check_writes(&spec, &doc, &writes);
    assert_eq!(portal.state().primary_link_calls(), 0);
    assert_eq!(
        portal
            .state()
            .request_count("GET", "/api/2.0/files/rooms/{id}/link"),
        0
    );
    portal.shutdown().await;

    // Orphaned guests detached from the key user's guest list.
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let detach = Options {
        guest_action: "detach",
        ..Options::default()
    };
    run(&auditor(&portal, dir.path(), &detach)).await;
    seen.extend(check_writes(&spec, &doc, &portal.writes()));
    assert_eq!(portal.state().primary_link_calls(), 0);
    portal.shutdown().await;

    // Every kind of write the auditor makes was exercised.
    let all: BTreeSet<(String, String)> = REQUEST_SCHEMAS
        .iter()
        .map(|(m, t, _)| (m.to_string(), t.to_string()))
        .collect();
    assert_eq!(seen, all, "writes seen vs. the table");
    assert!(writes.len() >= 10, "{writes:#?}");
}
