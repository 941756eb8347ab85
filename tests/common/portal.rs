//! A wiremock "portal": a small stateful model of the DocSpace endpoints the
//! auditor uses, answering in the server's real shapes (API-NOTES §1-7, 13,
//! 16: the envelope, `response.total` for room lists, the envelope `total`
//! for shares, dates as strings, 401 with an empty body, 403 for any access
//! change on an archived room, link revocation skipped on a settings
//! mismatch, archive/unarchive as file operations).
//!
//! Every write endpoint of every room is mounted with `.expect(n)` (0 unless
//! the test says otherwise) and any other non-GET request hits a catch-all
//! that expects 0, so a run that writes where it must not fails the test when
//! the server is verified or dropped. `GET files/rooms/{id}/link` (which
//! creates a link on the real server) is mounted with `.expect(0)` in every
//! portal.
//!
//! Tests inject faults by mounting their own mocks on `portal.server` with a
//! priority below 5 (wiremock's default; the model's mocks use 5 and the
//! catch-all 10).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The API key every test portal accepts (`sk-` + 64 lowercase hex).
pub const TOKEN: &str = "sk-5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

/// Folder ids of the two room sections.
pub const ROOMS_ROOT: i64 = 2;
pub const ARCHIVE_ROOT: i64 = 3;

/// The default `created` / `updated` date of a room (45 days before
/// [`super::NOW`]).
pub const ROOM_DATE: &str = "2026-05-01T09:30:00.0000000Z";

/// A well-formed user or group GUID.
pub fn guid(n: u32) -> String {
    format!("b1d5c3a0-0000-4000-8000-{n:012x}")
}

/// A well-formed link GUID.
pub fn link_guid(n: u32) -> String {
    format!("7f1c0000-0000-4000-8000-{n:012x}")
}

// ---- specs --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Owner,
    Admin,
    RoomAdmin,
    User,
    Guest,
}

/// A portal user.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub id: String,
    pub name: String,
    pub email: String,
    pub kind: UserKind,
}

impl UserSpec {
    pub fn new(n: u32, name: &str, email: &str, kind: UserKind) -> UserSpec {
        UserSpec {
            id: guid(n),
            name: name.into(),
            email: email.into(),
            kind,
        }
    }

    pub fn guest(n: u32, name: &str, email: &str) -> UserSpec {
        UserSpec::new(n, name, email, UserKind::Guest)
    }

    pub fn user(n: u32, name: &str, email: &str) -> UserSpec {
        UserSpec::new(n, name, email, UserKind::User)
    }

    pub fn admin(n: u32, name: &str, email: &str) -> UserSpec {
        UserSpec::new(n, name, email, UserKind::Admin)
    }

    pub fn room_admin(n: u32, name: &str, email: &str) -> UserSpec {
        UserSpec::new(n, name, email, UserKind::RoomAdmin)
    }

    /// `EmployeeFullDto`.
    pub fn full_json(&self, base: &str) -> Value {
        let (first, last) = self
            .name
            .split_once(' ')
            .unwrap_or((self.name.as_str(), ""));
        json!({
            "id": self.id,
            "displayName": self.name,
            "firstName": first,
            "lastName": last,
            "userName": self.email.split('@').next().unwrap_or(""),
            "email": self.email,
            "status": 1,
            "activationStatus": 1,
            "registrationDate": "2025-01-10T08:00:00.0000000Z",
            "isOwner": self.kind == UserKind::Owner,
            "isAdmin": self.kind == UserKind::Admin,
            "isRoomAdmin": self.kind == UserKind::RoomAdmin,
            "isCollaborator": self.kind == UserKind::User,
            "isVisitor": self.kind == UserKind::Guest,
            "isLDAP": false,
            "isSSO": false,
            "isAnonim": false,
            "hasAvatar": false,
            "avatar": "/static/images/default_user_photo_size_82-82.png",
            "avatarSmall": "/static/images/default_user_photo_size_32-32.png",
            "profileUrl": format!("{base}/accounts/people/filter?email={}", self.email),
            "groups": [],
            "listAdminModules": [],
            "cultureName": "en-US",
            "isCustomQuota": false,
            "quotaLimit": -1,
            "usedSpace": 0,
            "shared": false,
        })
    }

    /// `EmployeeDto` (the short form of `createdBy`: no email).
    pub fn short_json(&self, base: &str) -> Value {
        json!({
            "id": self.id,
            "displayName": self.name,
            "avatarSmall": "/static/images/default_user_photo_size_32-32.png",
            "profileUrl": format!("{base}/accounts/people/filter?email={}", self.email),
            "hasAvatar": false,
            "isAnonim": false,
        })
    }
}

/// An external link of a room.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    pub id: String,
    pub title: String,
    pub internal: bool,
    pub expiration: Option<String>,
    pub primary: bool,
    pub deny_download: bool,
    pub password: Option<String>,
    pub share_link: String,
}

impl LinkSpec {
    pub fn external(n: u32, title: &str) -> LinkSpec {
        LinkSpec {
            id: link_guid(n),
            title: title.into(),
            internal: false,
            expiration: None,
            primary: false,
            deny_download: false,
            password: None,
            share_link: format!("https://portal.example/s/secret-share-url-{n}"),
        }
    }

    pub fn internal(mut self, yes: bool) -> LinkSpec {
        self.internal = yes;
        self
    }

    pub fn expires(mut self, date: &str) -> LinkSpec {
        self.expiration = Some(date.into());
        self
    }

    pub fn primary(mut self) -> LinkSpec {
        self.primary = true;
        self
    }

    pub fn deny_download(mut self, yes: bool) -> LinkSpec {
        self.deny_download = yes;
        self
    }

    pub fn password(mut self, p: &str) -> LinkSpec {
        self.password = Some(p.into());
        self
    }

    /// `FileShareLink`.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "title": self.title,
            "shareLink": self.share_link,
            "linkType": 1,
            "isExpired": false,
            "primary": self.primary,
            "internal": self.internal,
            "denyDownload": self.deny_download,
            "requestToken": format!("request-token-{}", self.id),
        });
        if let Some(e) = &self.expiration {
            v["expirationDate"] = json!(e);
        }
        if let Some(p) = &self.password {
            v["password"] = json!(p);
        }
        v
    }
}

/// How many writes of each kind a room expects (all 0 by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Writes {
    pub share: u64,
    pub links: u64,
    pub unarchive: u64,
    pub archive: u64,
}

/// A room and its share.
#[derive(Debug, Clone)]
pub struct RoomSpec {
    pub id: i64,
    pub title: String,
    pub archived: bool,
    pub owner: UserSpec,
    pub created: String,
    pub updated: String,
    pub room_type: i64,
    /// Members other than the owner, with their access (FileShare number).
    pub members: Vec<(UserSpec, i64)>,
    pub links: Vec<LinkSpec>,
    pub writes: Writes,
}

impl RoomSpec {
    pub fn archived(id: i64, title: &str, owner: &UserSpec) -> RoomSpec {
        RoomSpec {
            id,
            title: title.into(),
            archived: true,
            owner: owner.clone(),
            created: "2025-03-01T10:00:00.0000000Z".into(),
            updated: ROOM_DATE.into(),
            room_type: 5,
            members: Vec::new(),
            links: Vec::new(),
            writes: Writes::default(),
        }
    }

    pub fn active(id: i64, title: &str, owner: &UserSpec) -> RoomSpec {
        RoomSpec {
            archived: false,
            ..RoomSpec::archived(id, title, owner)
        }
    }

    /// A guest with Read access.
    pub fn guest(self, user: &UserSpec) -> RoomSpec {
        self.member(user, 2)
    }

    pub fn member(mut self, user: &UserSpec, access: i64) -> RoomSpec {
        self.members.push((user.clone(), access));
        self
    }

    pub fn link(mut self, link: LinkSpec) -> RoomSpec {
        self.links.push(link);
        self
    }

    pub fn updated(mut self, date: &str) -> RoomSpec {
        self.updated = date.into();
        self
    }

    pub fn room_type(mut self, t: i64) -> RoomSpec {
        self.room_type = t;
        self
    }

    pub fn expect_writes(mut self, writes: Writes) -> RoomSpec {
        self.writes = writes;
        self
    }

    pub fn has_member(&self, id: &str) -> bool {
        self.members
            .iter()
            .any(|(u, _)| u.id.eq_ignore_ascii_case(id))
    }

    pub fn has_link(&self, id: &str) -> bool {
        self.links.iter().any(|l| l.id.eq_ignore_ascii_case(id))
    }
}

// ---- builder ------------------------------------------------------------

/// Builds a [`Portal`].
pub struct PortalBuilder {
    me: UserSpec,
    token: String,
    rooms: Vec<RoomSpec>,
    operations_finish_at_once: bool,
}

impl PortalBuilder {
    /// The key's user (an admin by default).
    pub fn me(mut self, me: UserSpec) -> PortalBuilder {
        self.me = me;
        self
    }

    pub fn room(mut self, room: RoomSpec) -> PortalBuilder {
        self.rooms.push(room);
        self
    }

    pub fn rooms(mut self, rooms: impl IntoIterator<Item = RoomSpec>) -> PortalBuilder {
        self.rooms.extend(rooms);
        self
    }

    /// Archive/unarchive answer `finished: true` at once (no polling).
    pub fn operations_finish_at_once(mut self) -> PortalBuilder {
        self.operations_finish_at_once = true;
        self
    }

    pub async fn start(self) -> Portal {
        let server = MockServer::start().await;
        let base = server.uri();
        let mut users = BTreeMap::new();
        users.insert(self.me.id.to_ascii_lowercase(), self.me.clone());
        for r in &self.rooms {
            users.insert(r.owner.id.to_ascii_lowercase(), r.owner.clone());
            for (u, _) in &r.members {
                users.insert(u.id.to_ascii_lowercase(), u.clone());
            }
        }
        let model = Arc::new(Mutex::new(Model {
            base: base.clone(),
            token: self.token,
            me: self.me,
            users,
            rooms: self.rooms.iter().map(|r| (r.id, r.clone())).collect(),
            ops: Vec::new(),
            operations_finish_at_once: self.operations_finish_at_once,
        }));
        let handler = Handler(model.clone());

        Mock::given(method("GET"))
            .and(path_regex(r"^/api/2\.0/files/rooms/[^/]+/link$"))
            .respond_with(handler.clone())
            .with_priority(1)
            .expect(0)
            .named("GET files/rooms/{id}/link (creates a primary link; must never be called)")
            .mount(&server)
            .await;
        for r in &self.rooms {
            for (verb, n) in [
                ("share", r.writes.share),
                ("links", r.writes.links),
                ("unarchive", r.writes.unarchive),
                ("archive", r.writes.archive),
            ] {
                Mock::given(method("PUT"))
                    .and(path(format!("/api/2.0/files/rooms/{}/{verb}", r.id)))
                    .respond_with(handler.clone())
                    .expect(n)
                    .named(format!("PUT files/rooms/{}/{verb}", r.id))
                    .mount(&server)
                    .await;
            }
        }
        Mock::given(method("GET"))
            .and(path_regex(r"^/api/2\.0/"))
            .respond_with(handler.clone())
            .named("GET (model)")
            .mount(&server)
            .await;
        Mock::given(|r: &Request| r.method.as_str() != "GET")
            .respond_with(handler)
            .with_priority(10)
            .expect(0)
            .named("any other write")
            .mount(&server)
            .await;
        Portal { server, model }
    }
}

// ---- the running portal -------------------------------------------------

/// One request the portal received, decoded for assertions.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path after `/api/2.0/`.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
    pub authorization: Option<String>,
}

impl Seen {
    /// `METHOD path`, for order assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

pub struct Portal {
    pub server: MockServer,
    model: Arc<Mutex<Model>>,
}

impl Portal {
    pub fn builder() -> PortalBuilder {
        PortalBuilder {
            me: UserSpec::admin(1, "Audit Bot", "audit-bot@company.example"),
            token: TOKEN.into(),
            rooms: Vec::new(),
            operations_finish_at_once: false,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Every request received, in order.
    pub async fn requests(&self) -> Vec<Seen> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| Seen {
                method: r.method.as_str().to_string(),
                path: r
                    .url
                    .path()
                    .strip_prefix("/api/2.0/")
                    .unwrap_or(r.url.path())
                    .to_string(),
                query: r.url.query_pairs().into_owned().collect(),
                body: if r.body.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::from_slice(&r.body).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(&r.body).into())
                        }),
                    )
                },
                authorization: r
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            })
            .collect()
    }

    /// Every request that was not a GET, in order.
    pub async fn writes(&self) -> Vec<Seen> {
        self.requests()
            .await
            .into_iter()
            .filter(|s| s.method != "GET")
            .collect()
    }

    /// Requests whose path equals `p` (after `/api/2.0/`).
    pub async fn requests_to(&self, p: &str) -> Vec<Seen> {
        self.requests()
            .await
            .into_iter()
            .filter(|s| s.path == p)
            .collect()
    }

    /// The room as the portal holds it now.
    pub fn room(&self, id: i64) -> RoomSpec {
        self.model.lock().unwrap().rooms[&id].clone()
    }

    /// A responder that lets the model handle the request (so a write
    /// takes effect) and then answers with `status` and an empty body, as a
    /// gateway that timed out after passing the request on would.
    pub fn applied_then(&self, status: u16) -> AppliedThen {
        AppliedThen {
            handler: Handler(self.model.clone()),
            status,
        }
    }

    /// Checks every `.expect(n)` now (also done when the server is dropped).
    pub async fn verify(&self) {
        self.server.verify().await;
    }
}

// ---- the model ----------------------------------------------------------

struct Model {
    base: String,
    token: String,
    me: UserSpec,
    users: BTreeMap<String, UserSpec>,
    rooms: BTreeMap<i64, RoomSpec>,
    ops: Vec<Value>,
    operations_finish_at_once: bool,
}

#[derive(Clone)]
struct Handler(Arc<Mutex<Model>>);

/// See [`Portal::applied_then`].
pub struct AppliedThen {
    handler: Handler,
    status: u16,
}

impl Respond for AppliedThen {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let _ = self.handler.respond(request);
        ResponseTemplate::new(self.status)
    }
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().handle(request)
    }
}

/// A success envelope. `response` is omitted when `None`, as the server
/// omits nulls.
pub fn envelope(req: &Request, response: Option<Value>, count: i64, total: Option<i64>) -> Value {
    let mut env = json!({
        "count": count,
        "links": [{"href": req.url.as_str(), "action": req.method.as_str()}],
        "status": 0,
        "statusCode": 200,
    });
    if let Some(r) = response {
        env["response"] = r;
    }
    if let Some(t) = total {
        env["total"] = json!(t);
    }
    env
}

/// An error envelope as `CustomExceptionHandler` writes it.
pub fn error_body(status: u16, message: &str, kind: &str) -> Value {
    json!({
        "error": {"message": message, "type": kind, "stack": "   at ASC.Files…", "hresult": -2146233078},
        "status": 1,
        "statusCode": status,
    })
}

fn error(status: u16, message: &str, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(error_body(status, message, kind))
}

fn access_denied() -> ResponseTemplate {
    error(403, "Access denied", "System.Security.SecurityException")
}

fn not_found(what: &str) -> ResponseTemplate {
    error(
        404,
        &format!("{what} not found"),
        "ASC.Common.Web.ItemNotFoundException",
    )
}

/// Request-model validation failure (e.g. `count` outside 1..100).
fn validation(field: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "response": {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": {field: [message]},
        },
        "count": 1,
        "status": 1,
        "statusCode": 400,
    }))
}

/// `FileShare` from a request body: a number or an exact enum name;
/// anything else becomes 0 (None), as the server's converter does.
fn parse_access(v: &Value) -> i64 {
    const NAMES: [&str; 12] = [
        "None",
        "ReadWrite",
        "Read",
        "Restrict",
        "Varies",
        "Review",
        "Comment",
        "FillForms",
        "CustomFilter",
        "RoomManager",
        "Editing",
        "ContentCreator",
    ];
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => NAMES.iter().position(|n| n == s).unwrap_or(0) as i64,
        _ => 0,
    }
}

fn same_date(a: Option<&str>, b: Option<&str>) -> bool {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b || (parse(a).is_some() && parse(a) == parse(b)),
        _ => false,
    }
}

fn paging(req: &Request) -> Result<(i64, i64), Box<ResponseTemplate>> {
    let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
    let count = match q.get("count").map(|c| c.parse::<i64>()) {
        None => 100,
        Some(Ok(c)) if (1..=100).contains(&c) => c,
        Some(_) => {
            return Err(Box::new(validation(
                "Count",
                "The field Count must be between 1 and 100.",
            )));
        }
    };
    let start = match q.get("startIndex").map(|c| c.parse::<i64>()) {
        None => 0,
        Some(Ok(s)) if s >= 0 => s,
        Some(_) => {
            return Err(Box::new(error(
                400,
                "Specified argument was out of the range of valid values. (Parameter 'from')",
                "System.ArgumentOutOfRangeException",
            )));
        }
    };
    Ok((count, start))
}

fn folder_type(room_type: i64) -> i64 {
    match room_type {
        1 => 15,
        2 => 16,
        5 => 19,
        6 => 22,
        8 => 29,
        9 => 31,
        _ => 19,
    }
}

impl Model {
    fn handle(&mut self, req: &Request) -> ResponseTemplate {
        let expected = format!("Bearer {}", self.token);
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(expected.as_str()) {
            // The auth pipeline answers with an empty body.
            return ResponseTemplate::new(401);
        }
        let p = req.url.path().strip_prefix("/api/2.0/").unwrap_or("");
        let seg: Vec<&str> = p.split('/').collect();
        let m = req.method.as_str();
        match (m, seg.as_slice()) {
            ("GET", ["people", "@self"]) => {
                let me = self.me.full_json(&self.base);
                ResponseTemplate::new(200).set_body_json(envelope(req, Some(me), 1, None))
            }
            ("GET", ["people", id]) => match self.users.get(&id.to_ascii_lowercase()) {
                Some(u) => {
                    let u = u.full_json(&self.base);
                    ResponseTemplate::new(200).set_body_json(envelope(req, Some(u), 1, None))
                }
                None => not_found("User"),
            },
            ("GET", ["files", "rooms"]) => self.list_rooms(req),
            ("GET", ["files", "rooms", id]) => match self.room_by_text(id) {
                Some(r) => {
                    let r = self.room_json(r);
                    ResponseTemplate::new(200).set_body_json(envelope(req, Some(r), 1, None))
                }
                None => not_found("Folder"),
            },
            ("GET", ["files", "rooms", id, "share"]) => self.list_share(req, id),
            ("GET", ["files", "rooms", id, "links"]) => match self.room_by_text(id) {
                Some(r) => {
                    let rows: Vec<Value> = r.links.iter().map(|l| self.link_row(r, l)).collect();
                    let n = rows.len() as i64;
                    ResponseTemplate::new(200).set_body_json(envelope(
                        req,
                        Some(json!(rows)),
                        n,
                        None,
                    ))
                }
                None => not_found("Folder"),
            },
            ("GET", ["files", "rooms", id, "link"]) => {
                // The real server creates a primary link here.
                let Some(rid) = id
                    .parse::<i64>()
                    .ok()
                    .filter(|i| self.rooms.contains_key(i))
                else {
                    return not_found("Folder");
                };
                let link = LinkSpec::external(9999, "Shared link").primary();
                let room = self.rooms.get_mut(&rid).unwrap();
                if !room.links.iter().any(|l| l.primary) {
                    room.links.push(link);
                }
                let room = room.clone();
                let l = room.links.iter().find(|l| l.primary).unwrap();
                let row = self.link_row(&room, l);
                ResponseTemplate::new(200).set_body_json(envelope(req, Some(row), 1, None))
            }
            ("GET", ["files", "fileops"]) => {
                let ops = json!(self.ops);
                let n = self.ops.len() as i64;
                ResponseTemplate::new(200).set_body_json(envelope(req, Some(ops), n, None))
            }
            ("PUT", ["files", "rooms", id, "share"]) => self.put_share(req, id),
            ("PUT", ["files", "rooms", id, "links"]) => self.put_link(req, id),
            ("PUT", ["files", "rooms", id, verb @ ("archive" | "unarchive")]) => {
                self.move_room(req, id, verb == &"archive")
            }
            _ => ResponseTemplate::new(404),
        }
    }

    fn room_by_text(&self, id: &str) -> Option<&RoomSpec> {
        id.parse::<i64>().ok().and_then(|i| self.rooms.get(&i))
    }

    /// `FolderDto` of a room.
    fn room_json(&self, r: &RoomSpec) -> Value {
        let (parent, root_type) = if r.archived {
            (ARCHIVE_ROOT, 20)
        } else {
            (ROOMS_ROOT, 14)
        };
        let active = !r.archived;
        json!({
            "id": r.id,
            "title": r.title,
            "parentId": parent,
            "rootFolderId": parent,
            "rootFolderType": root_type,
            "roomType": r.room_type,
            "type": folder_type(r.room_type),
            "createdBy": r.owner.short_json(&self.base),
            "updatedBy": r.owner.short_json(&self.base),
            "created": r.created,
            "updated": r.updated,
            "security": {
                "Read": true, "Create": active, "Delete": true, "EditRoom": active, "Rename": active,
                "CopyTo": active, "Copy": true, "MoveTo": active, "Move": true, "Pin": true,
                "Mute": true, "EditAccess": active, "Duplicate": active, "Download": true,
                "CopySharedLink": active, "Reconnect": false, "CreateRoomFrom": active,
                "ChangeOwner": active, "IndexExport": true, "Embed": active, "ReadHistory": true,
                "ReadLinks": true,
            },
            "fileEntryType": 1,
            "filesCount": 4,
            "foldersCount": 1,
            "access": 0,
            "shared": !r.links.is_empty(),
            "sharedExternal": r.links.iter().any(|l| !l.internal),
            "canShare": true,
            "pinned": false,
            "private": false,
            "new": 0,
            "mute": false,
            "inRoom": false,
            "denyDownload": false,
            "indexing": false,
            "isFavorite": false,
            "tags": [],
            "usedSpace": 1024,
        })
    }

    fn section_json(&self, archive: bool) -> Value {
        let (id, title, t) = if archive {
            (ARCHIVE_ROOT, "Archive", 20)
        } else {
            (ROOMS_ROOT, "Rooms", 14)
        };
        json!({
            "id": id, "title": title, "parentId": 0, "rootFolderId": id, "rootFolderType": t,
            "type": t, "filesCount": 0, "foldersCount": self.rooms.len(), "fileEntryType": 1,
            "created": "2025-01-01T00:00:00.0000000Z", "updated": "2025-01-01T00:00:00.0000000Z",
            "security": {"Read": true}, "new": 0,
        })
    }

    fn list_rooms(&self, req: &Request) -> ResponseTemplate {
        let (count, start) = match paging(req) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let area = q.get("searchArea").map(String::as_str).unwrap_or("0");
        let filter: fn(&RoomSpec) -> bool = match area {
            "0" | "Active" => |r| !r.archived,
            "1" | "Archive" => |r| r.archived,
            "2" | "Any" => |_| true,
            _ => |_| false,
        };
        let all: Vec<&RoomSpec> = self.rooms.values().filter(|r| filter(r)).collect();
        let page: Vec<Value> = all
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .map(|r| self.room_json(r))
            .collect();
        let archive = matches!(area, "1" | "Archive");
        let content = json!({
            "files": [],
            "folders": page,
            "current": self.section_json(archive),
            "pathParts": [{"id": if archive { ARCHIVE_ROOT } else { ROOMS_ROOT },
                           "title": if archive { "Archive" } else { "Rooms" }}],
            "startIndex": start,
            "count": page.len(),
            "total": all.len(),
            "new": 0,
        });
        // Room lists: the envelope count is 1 and carries no total.
        ResponseTemplate::new(200).set_body_json(envelope(req, Some(content), 1, None))
    }

    fn user_row(&self, room: &RoomSpec, user: &UserSpec, access: i64) -> Value {
        let locked = user.id.eq_ignore_ascii_case(&self.me.id);
        let u = user.full_json(&self.base);
        json!({
            "access": access,
            "sharedToUser": u,
            "sharedTo": u,
            "isLocked": locked,
            "isOwner": false,
            "canEditAccess": !room.archived && !locked,
            "canEditInternal": false,
            "canEditDenyDownload": false,
            "canEditExpirationDate": false,
            "canRevoke": false,
            "subjectType": 0,
        })
    }

    fn owner_row(&self, room: &RoomSpec) -> Value {
        let u = room.owner.full_json(&self.base);
        json!({
            "access": 1,
            "sharedToUser": u,
            "sharedTo": u,
            "isLocked": room.owner.id.eq_ignore_ascii_case(&self.me.id),
            "isOwner": true,
            "canEditAccess": false,
            "canEditInternal": false,
            "canEditDenyDownload": false,
            "canEditExpirationDate": false,
            "canRevoke": false,
            "subjectType": 0,
        })
    }

    fn link_row(&self, room: &RoomSpec, link: &LinkSpec) -> Value {
        let l = link.json();
        json!({
            "access": 2,
            "sharedLink": l,
            "sharedTo": l,
            "isLocked": false,
            "isOwner": false,
            "canEditAccess": false,
            "canEditInternal": !room.archived,
            "canEditDenyDownload": !room.archived,
            "canEditExpirationDate": !room.archived,
            "canRevoke": false,
            "subjectType": if link.primary { 4 } else { 1 },
        })
    }

    fn list_share(&self, req: &Request, id: &str) -> ResponseTemplate {
        let Some(room) = self.room_by_text(id) else {
            return not_found("Folder");
        };
        let (count, start) = match paging(req) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let filter = q
            .get("filterType")
            .and_then(|f| f.parse::<i64>().ok())
            .unwrap_or(0);
        let rows: Vec<Value> = match filter {
            0 | 16 => std::iter::once(self.owner_row(room))
                .chain(room.members.iter().map(|(u, a)| self.user_row(room, u, *a)))
                .collect(),
            2 | 15 => room.links.iter().map(|l| self.link_row(room, l)).collect(),
            4 => room
                .links
                .iter()
                .filter(|l| !l.primary)
                .map(|l| self.link_row(room, l))
                .collect(),
            8 => room
                .links
                .iter()
                .filter(|l| l.primary)
                .map(|l| self.link_row(room, l))
                .collect(),
            _ => Vec::new(),
        };
        let total = rows.len() as i64;
        let page: Vec<Value> = rows
            .into_iter()
            .skip(start as usize)
            .take(count as usize)
            .collect();
        // Envelope count = min(total - startIndex, count): negative past the end.
        let env_count = (total - start).min(count);
        ResponseTemplate::new(200).set_body_json(envelope(
            req,
            Some(json!(page)),
            env_count,
            Some(total),
        ))
    }

    fn put_share(&mut self, req: &Request, id: &str) -> ResponseTemplate {
        let Some(rid) = id
            .parse::<i64>()
            .ok()
            .filter(|i| self.rooms.contains_key(i))
        else {
            return not_found("Folder");
        };
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "invalid request body", "System.ArgumentException");
        };
        if self.rooms[&rid].archived {
            return access_denied();
        }
        let invitations = body["invitations"].as_array().cloned().unwrap_or_default();
        let mut sent = Vec::new();
        for inv in &invitations {
            let Some(uid) = inv["id"].as_str() else {
                continue;
            };
            let access = parse_access(&inv["access"]);
            sent.push(uid.to_ascii_lowercase());
            let user = self.users.get(&uid.to_ascii_lowercase()).cloned();
            let room = self.rooms.get_mut(&rid).unwrap();
            if room.owner.id.eq_ignore_ascii_case(uid) {
                continue;
            }
            if access == 0 {
                room.members
                    .retain(|(u, _)| !u.id.eq_ignore_ascii_case(uid));
            } else if let Some(user) = user {
                match room
                    .members
                    .iter_mut()
                    .find(|(u, _)| u.id.eq_ignore_ascii_case(uid))
                {
                    Some(m) => m.1 = access,
                    None => room.members.push((user, access)),
                }
            }
        }
        let room = self.rooms[&rid].clone();
        let members: Vec<Value> = room
            .members
            .iter()
            .filter(|(u, _)| sent.contains(&u.id.to_ascii_lowercase()))
            .map(|(u, a)| self.user_row(&room, u, *a))
            .collect();
        let sec = json!({"members": members, "error": 0});
        ResponseTemplate::new(200).set_body_json(envelope(req, Some(sec), 1, None))
    }

    fn put_link(&mut self, req: &Request, id: &str) -> ResponseTemplate {
        let Some(rid) = id
            .parse::<i64>()
            .ok()
            .filter(|i| self.rooms.contains_key(i))
        else {
            return not_found("Folder");
        };
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "invalid request body", "System.ArgumentException");
        };
        if self.rooms[&rid].archived {
            return access_denied();
        }
        let Some(link_id) = body["linkId"].as_str() else {
            return error(400, "linkId is required", "System.ArgumentException");
        };
        let room = self.rooms[&rid].clone();
        let Some(link) = room
            .links
            .iter()
            .find(|l| l.id.eq_ignore_ascii_case(link_id))
        else {
            return not_found("Link");
        };
        if parse_access(&body["access"]) != 0 {
            let row = self.link_row(&room, link);
            return ResponseTemplate::new(200).set_body_json(envelope(req, Some(row), 1, None));
        }
        // A mismatch in internal / expirationDate makes the server skip the
        // link silently and answer with the link as it is (API-NOTES §7).
        let internal = body["internal"].as_bool().unwrap_or(false);
        let expiration = body["expirationDate"].as_str();
        if internal != link.internal || !same_date(expiration, link.expiration.as_deref()) {
            let row = self.link_row(&room, link);
            return ResponseTemplate::new(200).set_body_json(envelope(req, Some(row), 1, None));
        }
        self.rooms
            .get_mut(&rid)
            .unwrap()
            .links
            .retain(|l| !l.id.eq_ignore_ascii_case(link_id));
        // Deleted: no `response`, count 0.
        ResponseTemplate::new(200).set_body_json(envelope(req, None, 0, None))
    }

    fn move_room(&mut self, req: &Request, id: &str, archive: bool) -> ResponseTemplate {
        let Some(rid) = id
            .parse::<i64>()
            .ok()
            .filter(|i| self.rooms.contains_key(i))
        else {
            return not_found("Folder");
        };
        // The action dereferences the body: without one it throws.
        if !serde_json::from_slice::<Value>(&req.body).is_ok_and(|b| b.is_object()) {
            return error(
                500,
                "Object reference not set to an instance of an object.",
                "System.NullReferenceException",
            );
        }
        self.rooms.get_mut(&rid).unwrap().archived = archive;
        let op_id = format!("op{}", self.ops.len() + 1);
        let done = json!({"id": op_id, "Operation": 0, "progress": 100, "error": "", "processed": "1", "finished": true});
        self.ops.push(done.clone());
        let started = if self.operations_finish_at_once {
            done
        } else {
            json!({"id": op_id, "Operation": 0, "progress": 0, "error": "", "processed": "0", "finished": false})
        };
        ResponseTemplate::new(200).set_body_json(envelope(req, Some(started), 1, None))
    }
}
