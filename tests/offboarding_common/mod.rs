//! Shared support for the offboarding tests: a wiremock portal answering in
//! DocSpace's real shapes (the envelope, dates as strings with 7 fractional
//! digits, `EmployeeType` as a string, `response.total` for room lists), a
//! config builder with only the offboarding checks on, a sequence responder
//! for progress polls, and readers for the reports.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use docspace_auditor::audit::{Auditor, RunOutcome, RunRequest};
use docspace_auditor::clock::ManualClock;
use docspace_auditor::config::Config;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN_ENV: &str = "OFFBOARDING_TEST_KEY";
pub const NOW: &str = "2026-06-15T12:00:00Z";

pub const KEY_USER: &str = "11111111-0000-4000-8000-000000000001";
pub const ARCHIVE_OWNER: &str = "11111111-0000-4000-8000-000000000002";
pub const HR_GROUP: &str = "11111111-0000-4000-8000-000000000003";
pub const DORA: &str = "22222222-0000-4000-8000-000000000001";
pub const GUEST: &str = "33333333-0000-4000-8000-000000000001";
pub const GUEST2: &str = "33333333-0000-4000-8000-000000000002";
pub const ROOM_OWNER: &str = "44444444-0000-4000-8000-000000000001";
pub const BOB: &str = "44444444-0000-4000-8000-000000000002";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

// ---- shapes -------------------------------------------------------------------

/// The success envelope (API-NOTES §1.1).
pub fn envelope(response: Value) -> Value {
    let count = response.as_array().map_or(1, Vec::len);
    json!({"response": response, "count": count, "links": [{"href": "http://portal/api/2.0/x", "action": "GET"}],
           "status": 0, "statusCode": 200})
}

/// A paged list with the total in the envelope (people, share).
pub fn paged(items: Vec<Value>) -> Value {
    let n = items.len();
    json!({"response": items, "count": n, "total": n, "status": 0, "statusCode": 200})
}

/// An answer with no `response` (nulls are omitted by the server).
pub fn no_response() -> Value {
    json!({"count": 0, "status": 0, "statusCode": 200})
}

pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// The error envelope, e.g. 403 "Access denied".
pub fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": "System.Security.SecurityException", "stack": null, "hresult": -2146233078},
        "status": 1, "statusCode": status
    }))
}

/// `EmployeeFullDto`. `kind`: owner, admin, room-admin, user, guest.
/// `status`: 1 Active, 2 Terminated.
pub fn user(id: &str, name: &str, kind: &str, status: i64, terminated: Option<&str>) -> Value {
    let mut u = json!({
        "id": id, "displayName": name, "firstName": name, "lastName": "", "userName": name.to_lowercase(),
        "email": format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        "status": status, "activationStatus": 1,
        "registrationDate": "2024-01-10T08:00:00.0000000+01:00",
        "isOwner": kind == "owner", "isAdmin": kind == "admin", "isRoomAdmin": kind == "room-admin",
        "isCollaborator": kind == "user", "isVisitor": kind == "guest",
        "isLDAP": false, "isSSO": false, "groups": [], "hasAvatar": false, "profileUrl": "http://portal/accounts/view/x"
    });
    if let Some(t) = terminated {
        u["terminated"] = t.into();
    }
    u
}

/// A room (`FolderDto`) owned by `owner`.
pub fn room(id: i64, title: &str, owner: &str, archived: bool) -> Value {
    let root = if archived { 20 } else { 14 };
    json!({
        "id": id, "title": title, "parentId": if archived { 2 } else { 1 }, "rootFolderId": if archived { 2 } else { 1 },
        "rootFolderType": root, "roomType": 5, "type": 19, "fileEntryType": 1,
        "createdBy": {"id": owner, "displayName": "Room Owner", "hasAvatar": false, "isAnonim": false},
        "created": "2025-01-01T10:00:00.0000000+01:00", "updated": "2025-06-01T10:00:00.0000000+01:00",
        "security": {"Read": true, "EditAccess": !archived}
    })
}

/// `FolderContentDto`: the total sits in the response (API-NOTES §3).
pub fn rooms(list: Vec<Value>) -> Value {
    let n = list.len();
    envelope(
        json!({"folders": list, "files": [], "total": n, "startIndex": 0, "count": n,
                    "current": {"id": 2, "title": "Archive", "rootFolderType": 20}}),
    )
}

/// A room list whose total says `total` (for `count=1` probes).
pub fn room_total(total: usize) -> Value {
    envelope(json!({"folders": [], "files": [], "total": total, "startIndex": 0, "count": 0}))
}

/// `TaskProgressResponseDto`.
pub fn task(percentage: i64, status: i64, completed: bool, error: Option<&str>) -> Value {
    let mut t = json!({"id": format!("1_{DORA}_ReassignProgressItem"), "percentage": percentage,
                       "isCompleted": completed, "status": status});
    if let Some(e) = error {
        t["error"] = e.into();
    }
    envelope(t)
}

/// A user row of `GET rooms/{id}/share`.
pub fn user_share(id: &str, name: &str, access: i64, owner: bool) -> Value {
    json!({"access": access, "subjectType": 0, "isOwner": owner, "isLocked": false, "canEditAccess": !owner,
           "canRevoke": false, "canEditInternal": false, "canEditDenyDownload": false, "canEditExpirationDate": false,
           "sharedToUser": {"id": id, "displayName": name, "email": format!("{}@example.com", name.to_lowercase()),
                            "status": 1, "activationStatus": 1, "isVisitor": false, "isCollaborator": !owner,
                            "isAdmin": false, "isRoomAdmin": owner, "isOwner": false}})
}

pub fn group_share(id: &str, name: &str, access: i64) -> Value {
    json!({"access": access, "subjectType": 2, "isOwner": false, "isLocked": false, "canEditAccess": true,
           "sharedToGroup": {"id": id, "name": name, "manager": null, "isSystem": false}})
}

// ---- responders -----------------------------------------------------------------

/// Answers with each body in turn, then repeats the last one.
pub struct Sequence {
    bodies: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Sequence {
    pub fn new(bodies: Vec<ResponseTemplate>) -> Sequence {
        Sequence {
            bodies,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.bodies[i.min(self.bodies.len() - 1)].clone()
    }
}

// ---- the portal -----------------------------------------------------------------

/// One mock portal per test.
pub struct Portal {
    pub server: MockServer,
}

impl Portal {
    pub async fn start() -> Portal {
        let server = MockServer::start().await;
        let p = Portal { server };
        p.get(
            "/api/2.0/people/@self",
            ok(envelope(user(KEY_USER, "Auditor", "admin", 1, None))),
        )
        .await;
        p
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A GET answered for any query, any number of times.
    pub async fn get(&self, p: &str, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// A GET with one query parameter pinned.
    pub async fn get_q(&self, p: &str, key: &str, value: &str, response: impl Respond + 'static) {
        Mock::given(method("GET"))
            .and(path(p))
            .and(query_param(key, value))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    /// A GET with several query parameters pinned.
    pub async fn get_qs(&self, p: &str, pins: &[(&str, &str)], response: impl Respond + 'static) {
        let mut m = Mock::given(method("GET")).and(path(p));
        for (k, v) in pins {
            m = m.and(query_param(*k, *v));
        }
        m.respond_with(response).mount(&self.server).await;
    }

    /// A write with this exact JSON body, expected exactly `times` times.
    pub async fn write_body(
        &self,
        verb: &str,
        p: &str,
        body: Value,
        response: impl Respond + 'static,
        times: u64,
    ) {
        Mock::given(method(verb))
            .and(path(p))
            .and(wiremock::matchers::body_json(body.clone()))
            .respond_with(response)
            .expect(times)
            .named(format!("{verb} {p} {body}"))
            .mount(&self.server)
            .await;
    }

    /// A write expected exactly `times` times.
    pub async fn write(&self, verb: &str, p: &str, response: impl Respond + 'static, times: u64) {
        Mock::given(method(verb))
            .and(path(p))
            .respond_with(response)
            .expect(times)
            .named(format!("{verb} {p}"))
            .mount(&self.server)
            .await;
    }

    /// The disabled users and the guests the people list returns.
    pub async fn people(&self, disabled: Vec<Value>, guests: Vec<Value>) {
        Mock::given(method("GET"))
            .and(path("/api/2.0/people/filter"))
            .and(query_param("employeeStatus", "2"))
            .respond_with(ok(paged(disabled)))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/2.0/people/filter"))
            .and(query_param("employeeType", "2"))
            .respond_with(ok(paged(guests)))
            .mount(&self.server)
            .await;
    }

    /// An empty audit trail that honours its filters.
    pub async fn empty_audit(&self) {
        self.get("/api/2.0/security/audit/events/filter", ok(paged(vec![])))
            .await;
    }

    /// Every request that was not a GET, as (method, path, body).
    pub async fn writes(&self) -> Vec<(String, String, Value)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() != "GET")
            .map(|r| {
                let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                (r.method.to_string(), r.url.path().to_string(), body)
            })
            .collect()
    }

    /// How many requests hit a path (any method).
    pub async fn hits(&self, p: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == p)
            .count()
    }
}

// ---- config and run ---------------------------------------------------------------

/// A config with every check off except those set, dry-run off.
pub struct Setup {
    pub dir: TempDir,
    pub checks: Vec<(&'static str, String)>,
    pub archive: String,
    pub dry_run: bool,
}

impl Setup {
    pub fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            checks: Vec::new(),
            archive: String::new(),
            dry_run: false,
        }
    }

    /// Sets a check's section body, e.g. `mode = "remediate"`.
    pub fn check(mut self, name: &'static str, body: &str) -> Setup {
        self.checks.push((name, body.to_string()));
        self
    }

    /// Extra lines for `[archive]`.
    pub fn archive(mut self, lines: &str) -> Setup {
        self.archive.push_str(lines);
        self.archive.push('\n');
        self
    }

    pub fn dry_run(mut self) -> Setup {
        self.dry_run = true;
        self
    }

    pub fn toml(&self, base_url: &str) -> String {
        let mut t = format!(
            r#"[portal]
base_url = "{base_url}"
token_env = "{TOKEN_ENV}"
request_timeout_secs = 10
connect_timeout_secs = 5
max_concurrency = 4
max_write_concurrency = 2
max_retries = 0
operation_poll_ms = 10
operation_timeout_secs = 5

[archive]
include_archive_section = false
owner_id = "{ARCHIVE_OWNER}"
reassign_poll_secs = 1
{archive}
[policy]
dry_run = {dry_run}

[reports]
dir = "{dir}/reports"

[state]
path = "{dir}/state/auditor.sqlite"

[notify]
enabled = false
"#,
            archive = self.archive,
            dry_run = self.dry_run,
            dir = self.dir.path().display(),
        );
        for name in [
            "archived-room-guests",
            "archived-room-links",
            "disabled-user-content",
            "archive-access-drift",
            "orphaned-guests",
            "disabled-user-access",
        ] {
            let body = self
                .checks
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, b)| b.clone())
                .unwrap_or_else(|| "mode = \"off\"".into());
            t.push_str(&format!("\n[policy.checks.{name}]\n{body}\n"));
        }
        t
    }

    pub fn config(&self, base_url: &str) -> Config {
        let path = self.dir.path().join("config.toml");
        Config::from_toml(&self.toml(base_url), &path, &|k| {
            (k == TOKEN_ENV).then(|| format!("sk-{}", "a".repeat(64)))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn run(&self, portal: &Portal) -> RunOutcome {
        let auditor = Auditor::new(
            Arc::new(self.config(&portal.uri())),
            Arc::new(ManualClock::new(now())),
            CancellationToken::new(),
        )
        .unwrap();
        auditor.run(RunRequest::default()).await.unwrap()
    }
}

// ---- reports --------------------------------------------------------------------

/// A CSV report as rows of column → value.
pub fn csv(dir: &Path, name: &str) -> Vec<HashMap<String, String>> {
    let mut r = ::csv::Reader::from_path(dir.join(name)).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `action / outcome / note` of each `actions.csv` row, for one check.
pub fn action_lines(outcome: &RunOutcome, check: &str) -> Vec<String> {
    csv(&outcome.report_dir, "actions.csv")
        .into_iter()
        .filter(|r| r["check"] == check)
        .map(|r| format!("{} / {} / {}", r["action"], r["outcome"], r["error"]))
        .collect()
}
