//! The endpoints: one function per DocSpace route, each reading or changing
//! the state the way the real server does (API-NOTES §3–§12).
//!
//! A handler gets the parsed request (`Call`) and the locked state, and
//! returns either a `Reply` (what goes in the envelope) or a `Fail` (which
//! the server module maps to the server's error shapes). Handlers never
//! touch sockets, faults or authentication.

use std::collections::HashSet;

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{FileOp, Link, OpKind, ReassignTask, Room, Share, State};
use crate::render;
use crate::scenario::{LinkKind, ReassignBehaviour, RoomKind, UserKind, UserStatus};
use crate::view::{EmailKind, SentEmail};

/// What goes into the success envelope.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// The payload as JSON text; omitted from the envelope when `None` (the
    /// server never writes nulls).
    pub response: Option<String>,
    /// Explicit `count`; otherwise 0 without a payload and 1 with one.
    pub count: Option<i64>,
    pub total: Option<i64>,
}

impl Reply {
    fn one(v: impl Serialize) -> Reply {
        Reply {
            response: Some(render::to_json(&v)),
            ..Reply::default()
        }
    }

    /// A materialised list: `count` is its length.
    fn list<T: Serialize>(items: &[T]) -> Reply {
        Reply {
            response: Some(render::to_json(items)),
            count: Some(items.len() as i64),
            total: None,
        }
    }

    fn none() -> Reply {
        Reply::default()
    }
}

/// A failure, named after the server exception that produces it (§1.2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fail {
    /// ItemNotFound → 404.
    #[error("{0}")]
    NotFound(String),
    /// ArgumentException → 400.
    #[error("{0}")]
    Argument(String),
    /// ArgumentOutOfRangeException → 400.
    #[error("{0}")]
    OutOfRange(String),
    /// Request-model validation → 400 with `ValidationProblemDetails`.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// SecurityException → 403 "Access denied".
    #[error("Access denied")]
    Denied,
    /// InvalidOperationException → 403 with its message.
    #[error("{0}")]
    Invalid(String),
    /// TenantQuotaException → 402.
    #[error("{0}")]
    Quota(String),
    /// A plain Exception → 500.
    #[error("{0}")]
    Internal(String),
    /// No such route: 404 with an empty body.
    #[error("no route")]
    NoRoute,
    /// Known route, other method: 405 with an empty body.
    #[error("method not allowed")]
    MethodNotAllowed,
}

fn validation(field: &str, message: impl Into<String>) -> Fail {
    Fail::Validation {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Query parameters, matched case-insensitively like ASP.NET model binding.
#[derive(Debug, Default)]
pub(crate) struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case(name) || k.eq_ignore_ascii_case(&format!("{name}[]"))
            })
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn bool(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// An integer parameter; a non-number is a validation error, as in
    /// ASP.NET binding.
    fn int(&self, name: &str) -> Result<Option<i64>, Fail> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| validation(name, format!("The value '{v}' is not valid."))),
        }
    }

    /// An enum parameter given as a number or a (case-insensitive) name.
    fn enumeration(&self, name: &str, names: &[(&str, i64)]) -> Result<Option<i64>, Fail> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_enum(v, names)
                .map(Some)
                .ok_or_else(|| validation(name, format!("The value '{v}' is not valid."))),
        }
    }

    /// `count` (1..=100, default 100) and `startIndex` (≥ 0) (API-NOTES §3).
    fn paging(&self) -> Result<(usize, usize), Fail> {
        let count = self.int("count")?.unwrap_or(100);
        if !(1..=100).contains(&count) {
            return Err(validation(
                "count",
                "The field Count must be between 1 and 100.",
            ));
        }
        let start = self.int("startIndex")?.unwrap_or(0);
        if start < 0 {
            return Err(Fail::OutOfRange(
                "Specified argument was out of the range of valid values. (Parameter 'startIndex')"
                    .into(),
            ));
        }
        Ok((
            usize::try_from(start).unwrap_or(0),
            usize::try_from(count).unwrap_or(100),
        ))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_enum(v: &str, names: &[(&str, i64)]) -> Option<i64> {
    if let Ok(n) = v.trim().parse::<i64>() {
        return Some(n);
    }
    names
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(v.trim()))
        .map(|(_, n)| *n)
}

const EMPLOYEE_STATUS: &[(&str, i64)] = &[
    ("Active", 1),
    ("Terminated", 2),
    ("Pending", 4),
    ("Default", 5),
    ("All", 7),
];
const EMPLOYEE_TYPE: &[(&str, i64)] = &[
    ("All", 0),
    ("RoomAdmin", 1),
    ("Guest", 2),
    ("DocSpaceAdmin", 3),
    ("User", 4),
];
const AREA: &[(&str, i64)] = &[("All", 0), ("People", 1), ("Guests", 2)];
const SEARCH_AREA: &[(&str, i64)] = &[
    ("Active", 0),
    ("Archive", 1),
    ("Any", 2),
    ("RecentByLinks", 3),
    ("Templates", 4),
    ("Knowledge", 5),
    ("ResultStorage", 6),
    ("AiAgents", 7),
];
const SHARE_FILTER: &[(&str, i64)] = &[
    ("UserOrGroup", 0),
    ("InvitationLink", 1),
    ("ExternalLink", 2),
    ("AdditionalExternalLink", 4),
    ("PrimaryExternalLink", 8),
    ("Link", 15),
    ("User", 16),
    ("Group", 32),
];
const ROOM_TYPE: &[(&str, i64)] = &[
    ("FillingFormsRoom", 1),
    ("EditingRoom", 2),
    ("CustomRoom", 5),
    ("PublicRoom", 6),
    ("VirtualDataRoom", 8),
    ("AiRoom", 9),
];
const LINK_TYPE: &[(&str, i64)] = &[("Invitation", 0), ("External", 1)];

/// `FileShare` names as the server's `FileShareConverter` knows them.
const FILE_SHARE: [&str; 12] = [
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

/// Reads an access value the way `FileShareConverter` does: a number, or an
/// exact enum name; anything else (a typo, `"FullAccess"`, a missing field)
/// becomes 0 None, which removes the subject (API-NOTES §0.5).
fn read_access(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => FILE_SHARE
            .iter()
            .position(|n| n == s)
            .map_or(0, |i| i as i64),
        _ => 0,
    }
}

/// One parsed request.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub params: Vec<String>,
    pub query: Query,
    pub body: &'a [u8],
    pub caller: String,
}

impl Call<'_> {
    fn param(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }

    /// The JSON body; the server answers 400 when a required body is
    /// missing or unreadable.
    fn json(&self) -> Result<Value, Fail> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(validation("", "A non-empty request body is required."));
        }
        serde_json::from_slice(self.body)
            .map_err(|e| validation("$", format!("The JSON value could not be converted: {e}")))
    }

    /// `userIds` from an `UpdateMembersRequestDto` body.
    fn user_ids(&self) -> Result<Vec<String>, Fail> {
        let body = self.json()?;
        Ok(body
            .get("userIds")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Route templates, relative to `/api/2.0/`, with the methods they accept.
/// The path parameters are returned in order.
pub(crate) fn resolve(segs: &[&str]) -> Option<(&'static str, Vec<String>)> {
    let p = |s: &str| s.to_string();
    Some(match segs {
        ["people", "@self"] => ("people/@self", vec![]),
        ["people", "filter"] => ("people/filter", vec![]),
        ["people", "reassign", "necessary"] => ("people/reassign/necessary", vec![]),
        ["people", "reassign", "start"] => ("people/reassign/start", vec![]),
        ["people", "reassign", "progress", id] => {
            ("people/reassign/progress/{userId}", vec![p(id)])
        }
        ["people", "reassign", "terminate"] => ("people/reassign/terminate", vec![]),
        ["people", "status", s] => ("people/status/{status}", vec![p(s)]),
        ["people", "delete"] => ("people/delete", vec![]),
        ["people", "guests"] => ("people/guests", vec![]),
        ["people", id] => ("people/{userId}", vec![p(id)]),
        ["group", id] => ("group/{id}", vec![p(id)]),
        ["files", "rooms"] => ("files/rooms", vec![]),
        ["files", "rooms", id] => ("files/rooms/{id}", vec![p(id)]),
        ["files", "rooms", id, "share"] => ("files/rooms/{id}/share", vec![p(id)]),
        ["files", "rooms", id, "links"] => ("files/rooms/{id}/links", vec![p(id)]),
        ["files", "rooms", id, "link"] => ("files/rooms/{id}/link", vec![p(id)]),
        ["files", "rooms", id, "archive"] => ("files/rooms/{id}/archive", vec![p(id)]),
        ["files", "rooms", id, "unarchive"] => ("files/rooms/{id}/unarchive", vec![p(id)]),
        ["files", "fileops"] => ("files/fileops", vec![]),
        ["security", "audit", "events", "filter"] => ("security/audit/events/filter", vec![]),
        _ => return None,
    })
}

/// Runs one call against the state.
pub(crate) fn dispatch(st: &mut State, template: &str, call: &Call<'_>) -> Result<Reply, Fail> {
    finish_timed_ops(st);
    match (call.method, template) {
        ("GET", "people/@self") => get_self(st, call),
        ("GET", "people/filter") => people_filter(st, call),
        ("GET", "people/reassign/necessary") => reassign_necessary(st, call),
        ("POST", "people/reassign/start") => reassign_start(st, call),
        ("GET", "people/reassign/progress/{userId}") => reassign_progress(st, call),
        ("PUT", "people/reassign/terminate") => reassign_terminate(st, call),
        ("PUT", "people/status/{status}") => people_status(st, call),
        ("PUT", "people/delete") => people_delete(st, call),
        ("DELETE", "people/guests") => delete_guests(st, call),
        ("GET", "people/{userId}") => person(st, call),
        ("GET", "group/{id}") => group(st, call),
        ("GET", "files/rooms") => rooms(st, call),
        ("GET", "files/rooms/{id}") => room(st, call),
        ("GET", "files/rooms/{id}/share") => room_share(st, call),
        ("PUT", "files/rooms/{id}/share") => set_room_share(st, call),
        ("GET", "files/rooms/{id}/links") => room_links(st, call),
        ("PUT", "files/rooms/{id}/links") => set_room_link(st, call),
        ("GET", "files/rooms/{id}/link") => primary_link(st, call),
        ("PUT", "files/rooms/{id}/archive") => move_room(st, call, OpKind::Archive),
        ("PUT", "files/rooms/{id}/unarchive") => move_room(st, call, OpKind::Unarchive),
        ("GET", "files/fileops") => fileops(st, call),
        ("GET", "security/audit/events/filter") => audit(st, call),
        _ => Err(Fail::MethodNotAllowed),
    }
}

// ---- people ----------------------------------------------------------------

fn get_self(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let u = st.user(&call.caller).ok_or(Fail::Denied)?;
    Ok(Reply::one(render::employee_full(st, u)))
}

fn require_admin(st: &State, caller: &str) -> Result<(), Fail> {
    if st.is_admin(caller) {
        Ok(())
    } else {
        Err(Fail::Denied)
    }
}

fn people_filter(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let me = st.user(&call.caller).ok_or(Fail::Denied)?;
    // Guests and type-User accounts may not list people (API-NOTES §8).
    if !(me.is_admin() || me.kind == UserKind::RoomAdmin) {
        return Err(Fail::Denied);
    }
    let admin = me.is_admin();
    let q = &call.query;
    let (start, count) = q.paging()?;
    let status_bits = q
        .enumeration("employeeStatus", EMPLOYEE_STATUS)?
        .unwrap_or(5);
    let mut types: Vec<i64> = Vec::new();
    if let Some(t) = q.enumeration("employeeType", EMPLOYEE_TYPE)? {
        types.push(t);
    }
    for t in q.all("employeeTypes") {
        types.push(
            parse_enum(t, EMPLOYEE_TYPE).ok_or_else(|| validation("employeeTypes", "invalid"))?,
        );
    }
    types.retain(|t| *t != 0);
    let area = q.enumeration("area", AREA)?.unwrap_or(0);
    let activation = q.int("activationStatus")?;
    let needle = q.get("filterValue").map(str::to_lowercase);
    let matching: Vec<usize> = st
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| !u.deleted)
        .filter(|(_, u)| i64::from(u.status.number()) & status_bits != 0)
        .filter(|(_, u)| admin || u.status != UserStatus::Terminated)
        .filter(|(_, u)| types.is_empty() || types.contains(&i64::from(u.kind.employee_type())))
        .filter(|(_, u)| match area {
            1 => u.kind != UserKind::Guest,
            2 => u.kind == UserKind::Guest,
            _ => true,
        })
        .filter(|(_, u)| {
            // Room admins see only the guests in their own guest list.
            admin
                || u.kind != UserKind::Guest
                || st.relations.contains(&(call.caller.clone(), u.id.clone()))
        })
        .filter(|(_, u)| {
            activation.is_none_or(|a| {
                a == if u.status == UserStatus::Pending {
                    2
                } else {
                    1
                }
            })
        })
        .filter(|(_, u)| {
            needle.as_ref().is_none_or(|n| {
                u.display_name().to_lowercase().contains(n) || u.email.to_lowercase().contains(n)
            })
        })
        .map(|(i, _)| i)
        .collect();
    let page: Vec<_> = matching
        .iter()
        .skip(start)
        .take(count)
        .map(|&i| render::employee_full(st, &st.users[i]))
        .collect();
    Ok(Reply {
        total: Some(matching.len() as i64),
        ..Reply::list(&page)
    })
}

fn person(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let u = st
        .user(call.param(0))
        .ok_or_else(|| Fail::NotFound("User not found".into()))?;
    Ok(Reply::one(render::employee_full(st, u)))
}

fn group(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let g = st
        .group(call.param(0))
        .ok_or_else(|| Fail::NotFound("Group not found".into()))?;
    Ok(Reply::one(render::group(
        st,
        g,
        call.query.bool("includeMembers"),
    )))
}

/// `people/reassign/necessary`: true when the user owns or is a direct
/// member of an *active* room. Archived rooms are ignored, exactly like the
/// server's `AnyRoomsAsync` (API-NOTES §0.6, §9).
fn reassign_necessary(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    require_admin(st, &call.caller)?;
    let user = call.query.get("userId").unwrap_or_default().to_string();
    let ty = call.query.enumeration("type", EMPLOYEE_TYPE)?.unwrap_or(0);
    let target_admin = st.user(&user).is_some_and(|u| u.is_admin());
    if (ty == 3 || target_admin) && !st.is_owner(&call.caller) {
        return Err(Fail::Denied);
    }
    let needed = st.rooms.iter().any(|r| {
        !r.archived
            && (r.owner == user || r.shares.iter().any(|s| !s.is_group && s.subject == user))
    });
    Ok(Reply::one(Value::Bool(needed)))
}

fn reassign_start(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    require_admin(st, &call.caller)?;
    let body = call.json()?;
    let from = body
        .get("fromUserId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let to = body
        .get("toUserId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let delete_profile = body
        .get("deleteProfile")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // A task already running for this user is returned as is, even for
    // another target (QueueWorker.StartAsync).
    if let Some(t) = st.reassigns.get(&from)
        && !t.is_completed()
    {
        return Ok(Reply::one(render::task(t)));
    }
    let to_ok = st.user(&to).is_some_and(|u| {
        matches!(
            u.kind,
            UserKind::Owner | UserKind::DocspaceAdmin | UserKind::RoomAdmin
        ) && u.status == UserStatus::Active
    });
    if !to_ok {
        return Err(Fail::Argument(format!(
            "Can not reassign data to user with id = {to}"
        )));
    }
    let from_ok = st.user(&from).is_some_and(|u| {
        u.status == UserStatus::Terminated
            && u.kind != UserKind::Owner
            && u.id != call.caller
            && (u.kind != UserKind::DocspaceAdmin || st.is_owner(&call.caller))
    });
    if !from_ok {
        return Err(Fail::Argument(format!(
            "Can not reassign data from user with id = {from}"
        )));
    }
    let task = ReassignTask {
        id: format!("1_{from}_ReassignProgressItem"),
        from: from.clone(),
        to,
        delete_profile,
        step: None,
        percentage: 0,
        status: 1,
        error: None,
        behaviour: st
            .reassign_behaviour
            .get(&from)
            .copied()
            .unwrap_or_default(),
    };
    let reply = render::task(&task);
    st.reassigns.insert(from, task);
    Ok(Reply::one(reply))
}

/// Each poll moves a running task one step along `reassign_steps`.
fn reassign_progress(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    require_admin(st, &call.caller)?;
    let from = call.param(0).to_string();
    let steps = st.reassign_steps.clone();
    let Some(task) = st.reassigns.get_mut(&from) else {
        return Ok(Reply::none());
    };
    let mut completed = None;
    if task.status == 1 {
        let next = task
            .step
            .map_or(0, |s| s + 1)
            .min(steps.len().saturating_sub(1));
        let pct = steps.get(next).copied().unwrap_or(100);
        match task.behaviour {
            ReassignBehaviour::Fail if pct > 50 => {
                task.status = 4;
                task.error = Some(format!(
                    "Reassign of user {from} failed: the storage is not available"
                ));
            }
            ReassignBehaviour::Stick if pct >= 100 => {}
            _ => {
                task.step = Some(next);
                task.percentage = pct;
                if pct >= 100 {
                    task.status = 2;
                    completed = Some((task.from.clone(), task.to.clone(), task.delete_profile));
                }
            }
        }
    }
    let reply = render::task(task);
    if let Some((from, to, delete_profile)) = completed {
        // Step 50 of the real job: every folder created by fromUser,
        // rooms in the archive included, gets createBy = toUser.
        for r in st.rooms.iter_mut().filter(|r| r.owner == from) {
            r.owner = to.clone();
        }
        let caller = call.caller.clone();
        st.log(&caller, 4030, vec![from.clone(), to]);
        if delete_profile {
            st.remove_user_everywhere(&from);
            st.log(&caller, 4018, vec![from]);
        }
    }
    Ok(Reply::one(reply))
}

fn reassign_terminate(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    require_admin(st, &call.caller)?;
    let body = call.json()?;
    let from = body
        .get("userId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match st.reassigns.get_mut(from) {
        Some(t) => {
            if t.status == 1 {
                t.status = 3;
            }
            Ok(Reply::one(render::task(t)))
        }
        None => Ok(Reply::none()),
    }
}

/// `PUT people/status/{status}`: 403 for the whole batch when any target is
/// the owner, the caller, or an admin while the caller is not the owner.
/// It does not set the `terminated` date (API-NOTES §8).
fn people_status(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let status = match call.param(0) {
        "1" | "Active" | "active" => UserStatus::Active,
        "2" | "Terminated" | "terminated" => UserStatus::Terminated,
        other => return Err(Fail::Argument(format!("Unsupported status {other}"))),
    };
    require_admin(st, &call.caller)?;
    let ids = call.user_ids()?;
    let caller_is_owner = st.is_owner(&call.caller);
    let targets: Vec<String> = ids.into_iter().filter(|id| st.user(id).is_some()).collect();
    for id in &targets {
        let u = st.user(id).ok_or(Fail::Denied)?;
        if u.kind == UserKind::Owner || u.id == call.caller || (u.is_admin() && !caller_is_owner) {
            return Err(Fail::Denied);
        }
    }
    for id in &targets {
        if let Some(u) = st.user_mut(id) {
            u.status = status;
        }
    }
    let caller = call.caller.clone();
    st.log(&caller, 4020, targets.clone());
    let users: Vec<_> = targets
        .iter()
        .filter_map(|id| st.user(id))
        .map(|u| render::employee_full(st, u))
        .collect();
    // The controller streams the list and never sets a count: the envelope
    // says 1 whatever the length (API-NOTES §1.1).
    Ok(Reply {
        count: Some(1),
        ..Reply::list(&users)
    })
}

/// `PUT people/delete`: targets must be Terminated; deletes them and every
/// share row they hold, archived rooms included.
fn people_delete(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    require_admin(st, &call.caller)?;
    let ids = call.user_ids()?;
    let caller_is_owner = st.is_owner(&call.caller);
    let targets: Vec<String> = ids.into_iter().filter(|id| st.user(id).is_some()).collect();
    if targets.iter().any(|id| {
        st.user(id)
            .is_some_and(|u| u.status != UserStatus::Terminated)
    }) {
        return Err(Fail::Invalid("Users are not suspended".into()));
    }
    if targets
        .iter()
        .any(|id| st.reassigns.get(id).is_some_and(|t| !t.is_completed()))
    {
        // The server throws a plain Exception here, hence 500, not 409.
        return Err(Fail::Internal("The user's data is being reassigned".into()));
    }
    let deletable: Vec<String> = targets
        .into_iter()
        .filter(|id| {
            st.user(id)
                .is_some_and(|u| u.kind != UserKind::DocspaceAdmin || caller_is_owner)
        })
        .collect();
    let rendered: Vec<String> = deletable
        .iter()
        .filter_map(|id| st.user(id))
        .map(|u| render::to_json(&render::employee_full(st, u)))
        .collect();
    for id in &deletable {
        st.remove_user_everywhere(id);
    }
    let caller = call.caller.clone();
    if !deletable.is_empty() {
        st.log(&caller, 4022, deletable);
    }
    Ok(Reply {
        count: Some(rendered.len() as i64),
        response: Some(render::json_array(&rendered)),
        total: None,
    })
}

/// `DELETE people/guests`: detaches guests from the *caller's* guest list
/// and revokes only the share rows the caller granted (API-NOTES §10).
fn delete_guests(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let me = st.user(&call.caller).ok_or(Fail::Denied)?;
    if !(me.is_admin() || me.kind == UserKind::RoomAdmin) {
        return Err(Fail::Denied);
    }
    let ids = call.user_ids()?;
    for id in &ids {
        let ok = st.user(id).is_some_and(|u| {
            u.kind == UserKind::Guest
                && u.status != UserStatus::Terminated
                && st.relations.contains(&(call.caller.clone(), u.id.clone()))
        });
        if !ok {
            return Err(Fail::Denied);
        }
    }
    for id in &ids {
        st.relations.remove(&(call.caller.clone(), id.clone()));
        for r in &mut st.rooms {
            r.shares
                .retain(|s| !(s.subject == *id && s.granted_by == call.caller));
        }
    }
    Ok(Reply::none())
}

// ---- rooms -----------------------------------------------------------------

fn find_room<'s>(st: &'s State, call: &Call<'_>) -> Result<&'s Room, Fail> {
    let room = st
        .room(call.param(0))
        .ok_or_else(|| Fail::NotFound("The required folder was not found".into()))?;
    if !st.can_see_room(&call.caller, room) {
        return Err(Fail::Denied);
    }
    Ok(room)
}

fn rooms(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let q = &call.query;
    let (start, count) = q.paging()?;
    let area = q.enumeration("searchArea", SEARCH_AREA)?.unwrap_or(0);
    let subject = q.get("subjectId");
    let exclude_subject = q.bool("excludeSubject");
    let owner = q.get("subjectOwnerId");
    let needle = q.get("filterValue").map(str::to_lowercase);
    let mut types = Vec::new();
    for t in q.all("type") {
        types.push(
            parse_enum(t, ROOM_TYPE)
                .ok_or_else(|| validation("type", format!("The value '{t}' is not valid.")))?,
        );
    }
    let caller = call.caller.as_str();
    let admin = st.is_admin(caller);
    let matching: Vec<usize> = st
        .rooms
        .iter()
        .enumerate()
        .filter(|(_, r)| match area {
            0 => !r.archived,
            1 => r.archived,
            2 => true,
            _ => false,
        })
        .filter(|(_, r)| admin || st.can_see_room(caller, r))
        .filter(|(_, r)| {
            // createdBy, or a *direct* share record; groups do not count
            // (FolderDao.BuildRoomsQuery).
            subject.is_none_or(|s| {
                let hit = r.owner == s || r.shares.iter().any(|sh| sh.subject == s);
                hit != exclude_subject
            })
        })
        .filter(|(_, r)| owner.is_none_or(|o| r.owner == o))
        .filter(|(_, r)| types.is_empty() || types.contains(&i64::from(r.kind.number())))
        .filter(|(_, r)| {
            needle
                .as_ref()
                .is_none_or(|n| r.title.to_lowercase().contains(n))
        })
        .map(|(i, _)| i)
        .collect();
    let folders: Vec<_> = matching
        .iter()
        .skip(start)
        .take(count)
        .map(|&i| render::room(st, &st.rooms[i], caller))
        .collect();
    let archive = area == 1;
    let section_size = st.rooms.iter().filter(|r| r.archived == archive).count();
    let current = render::section(st, archive, caller, section_size);
    let (sec_id, sec_title) = if archive {
        (st.archive_folder_id, "Archive")
    } else {
        (st.rooms_folder_id, "Rooms")
    };
    let response = FolderContent {
        files: [],
        count: folders.len(),
        folders,
        current,
        path_parts: json!([{"id": sec_id, "title": sec_title}]),
        start_index: start,
        total: matching.len(),
        new: 0,
    };
    // The total sits in the payload; the envelope says count 1, no total.
    Ok(Reply {
        count: Some(1),
        ..Reply::one(response)
    })
}

/// `FolderContentDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FolderContent<'a> {
    files: [u8; 0],
    folders: Vec<render::RoomDto<'a>>,
    current: Value,
    path_parts: Value,
    start_index: usize,
    count: usize,
    total: usize,
    new: u32,
}

/// `RoomSecurityDto`.
#[derive(Serialize)]
struct RoomSecurity<'a> {
    members: Vec<render::ShareRowDto<'a>>,
    error: u8,
}

fn room(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let r = find_room(st, call)?;
    Ok(Reply::one(render::room(st, r, &call.caller)))
}

fn user_matches(st: &State, share: &Share, needle: Option<&str>) -> bool {
    let Some(n) = needle else { return true };
    if share.is_group {
        return st
            .group(&share.subject)
            .is_some_and(|g| g.name.to_lowercase().contains(n));
    }
    st.user(&share.subject).is_some_and(|u| {
        u.first_name.to_lowercase().contains(n)
            || u.last_name.to_lowercase().contains(n)
            || u.email.to_lowercase().contains(n)
    })
}

enum Row<'r> {
    Owner,
    Subject(&'r Share),
    Link(&'r Link),
}

/// `GET rooms/{id}/share`: filterType values are exact, not bit sets; the
/// owner is a synthetic first row for 0 and 16; readable in the archive.
fn room_share(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let r = find_room(st, call)?;
    let q = &call.query;
    let filter = q.enumeration("filterType", SHARE_FILTER)?.unwrap_or(0);
    let (start, count) = q.paging()?;
    let needle = q.get("filterValue").map(str::to_lowercase);
    let needle = needle.as_deref();
    let can_read_links = st.manages_room(&call.caller, r);
    let with_owner = needle.is_none() && st.user(&r.owner).is_some();
    let mut rows: Vec<Row<'_>> = Vec::new();
    let users = r
        .shares
        .iter()
        .filter(|s| !s.is_group && user_matches(st, s, needle));
    let groups = r
        .shares
        .iter()
        .filter(|s| s.is_group && user_matches(st, s, needle));
    let links = |pred: &dyn Fn(&Link) -> bool| -> Vec<Row<'_>> {
        if !can_read_links {
            return Vec::new();
        }
        r.links.iter().filter(|l| pred(l)).map(Row::Link).collect()
    };
    match filter {
        0 => {
            if with_owner {
                rows.push(Row::Owner);
            }
            rows.extend(users.map(Row::Subject));
            rows.extend(groups.map(Row::Subject));
        }
        16 => {
            if with_owner {
                rows.push(Row::Owner);
            }
            rows.extend(users.map(Row::Subject));
        }
        32 => rows.extend(groups.map(Row::Subject)),
        1 => rows.extend(links(&|l| l.kind == LinkKind::Invitation)),
        2 => rows.extend(links(&|l| l.kind == LinkKind::External)),
        4 => rows.extend(links(&|l| l.kind == LinkKind::External && !l.primary)),
        8 => rows.extend(links(&|l| l.kind == LinkKind::External && l.primary)),
        15 => rows.extend(links(&|_| true)),
        _ => {}
    }
    let total = rows.len() as i64;
    let page: Vec<render::ShareRowDto<'_>> = rows
        .iter()
        .skip(start)
        .take(count)
        .filter_map(|row| match row {
            Row::Owner => render::owner_row(st, r, &call.caller),
            Row::Subject(s) => Some(render::subject_row(st, r, s, &call.caller)),
            Row::Link(l) => Some(render::link_row(st, r, l, &call.caller)),
        })
        .collect();
    // The server sets count = min(total - startIndex, count): it goes
    // negative past the end (API-NOTES §3).
    let env_count = (total - start as i64).min(count as i64);
    Ok(Reply {
        count: Some(env_count),
        total: Some(total),
        ..Reply::list(&page)
    })
}

/// `PUT rooms/{id}/share`: applies the listed changes only (API-NOTES §6).
fn set_room_share(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let body = call.json()?;
    let key = call.param(0).to_string();
    let room = find_room(st, call)?;
    let invitations: Vec<Value> = body
        .get("invitations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // An empty list returns at once and changes nothing.
    if invitations.is_empty() {
        return Ok(Reply::one(json!({"members": [], "error": 0})));
    }
    let caller = call.caller.clone();
    let mut changes: Vec<(String, i64)> = Vec::new();
    for inv in &invitations {
        let id = inv
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let access = read_access(inv.get("access"));
        changes.push((id, access));
    }
    // Archived rooms refuse every change (EditAccess is false), except a
    // request that only removes the caller ("leave room").
    let leaving = changes.iter().all(|(id, a)| *id == caller && *a == 0);
    let may_leave = leaving && room.share_of(&caller).is_some();
    if !(st.can_edit_access(&caller, room) || may_leave) {
        return Err(Fail::Denied);
    }
    let admin = st.is_admin(&caller);
    let kind = room.kind;
    let owner = room.owner.clone();
    // Drop ids that are unknown or that the caller may not "view"; then
    // check roles before anything changes.
    let mut planned: Vec<(String, bool, i64)> = Vec::new();
    for (id, access) in &changes {
        let is_group = st.group(id).is_some();
        let user = st.user(id);
        if !is_group && user.is_none() {
            continue;
        }
        if let Some(u) = user
            && !admin
            && u.kind == UserKind::Guest
            && !st.relations.contains(&(caller.clone(), u.id.clone()))
            && !(owner == caller && *access == 0)
        {
            continue;
        }
        if *access != 0 {
            let allowed = if is_group {
                kind.group_accesses().contains(&(*access as u8))
            } else {
                let base_ok =
                    u8::try_from(*access).is_ok_and(|a| kind.user_accesses().contains(&a));
                let manager_ok = *access != 9
                    || user.is_some_and(|u| !matches!(u.kind, UserKind::Guest | UserKind::User));
                base_ok && manager_ok
            };
            if !allowed {
                return Err(Fail::Invalid("role not available".into()));
            }
        }
        planned.push((id.clone(), is_group, *access));
    }
    let now = crate::time::to_ticks(Utc::now());
    let mut log: Vec<(i32, String)> = Vec::new();
    {
        let terminated: HashSet<String> = planned
            .iter()
            .filter(|(id, g, _)| {
                !g && st
                    .user(id)
                    .is_some_and(|u| u.status == UserStatus::Terminated)
            })
            .map(|(id, _, _)| id.clone())
            .collect();
        let room = st.room_mut(&key).ok_or(Fail::Denied)?;
        for (id, is_group, access) in &planned {
            let existing = room.shares.iter().position(|s| s.subject == *id);
            if *access == 0 {
                // The owner has no share record: removing it changes nothing.
                if let Some(i) = existing {
                    room.shares.remove(i);
                    log.push((if *is_group { 5096 } else { 5084 }, id.clone()));
                }
                continue;
            }
            // Terminated users are skipped when access is not 0.
            if terminated.contains(id) || *id == room.owner {
                continue;
            }
            let access = *access as u8;
            match existing {
                Some(i) if room.shares[i].access == access => {}
                Some(i) => {
                    room.shares[i].access = access;
                    log.push((if *is_group { 5095 } else { 5075 }, id.clone()));
                }
                None => {
                    room.shares.push(Share {
                        subject: id.clone(),
                        is_group: *is_group,
                        access,
                        granted_by: caller.clone(),
                    });
                    log.push((if *is_group { 5094 } else { 5085 }, id.clone()));
                }
            }
        }
        if !log.is_empty() {
            room.updated = now;
            room.updated_by = caller.clone();
        }
    }
    for (action, subject) in log {
        st.log(&caller, action, vec![key.clone(), subject]);
    }
    let room = st.room(&key).ok_or(Fail::Denied)?;
    let mut seen = HashSet::new();
    let members: Vec<_> = changes
        .iter()
        .filter(|(id, _)| seen.insert(id.clone()))
        .filter_map(|(id, _)| room.share_of(id))
        .map(|s| render::subject_row(st, room, s, &caller))
        .collect();
    Ok(Reply::one(RoomSecurity { members, error: 0 }))
}

fn room_links(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let r = find_room(st, call)?;
    if !st.manages_room(&call.caller, r) {
        return Err(Fail::Denied);
    }
    let ty = call.query.enumeration("type", LINK_TYPE)?;
    let rows: Vec<_> = r
        .links
        .iter()
        .filter(|l| match ty {
            Some(0) => l.kind == LinkKind::Invitation,
            Some(1) => l.kind == LinkKind::External,
            _ => true,
        })
        .take(100)
        .map(|l| render::link_row(st, r, l, &call.caller))
        .collect();
    Ok(Reply::list(&rows))
}

fn new_link(st: &mut State, title: &str, primary: bool) -> Link {
    let id = st.new_guid();
    let url = format!("{}/s/{}", st.base_url, crate::model::short_token(&id));
    Link {
        id,
        title: title.to_string(),
        kind: LinkKind::External,
        primary,
        internal: false,
        expiration: None,
        password: None,
        deny_download: false,
        url,
        access: 2,
    }
}

/// `GET rooms/{id}/link`: *creates* a primary link when there is none
/// (API-NOTES §7). Counted so tests can prove a scan never calls it.
fn primary_link(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    st.counters.link_endpoint_calls += 1;
    let key = call.param(0).to_string();
    let r = find_room(st, call)?;
    if let Some(l) = r
        .links
        .iter()
        .find(|l| l.primary && l.kind == LinkKind::External)
    {
        return Ok(Reply::one(render::link_row(st, r, l, &call.caller)));
    }
    if !st.can_edit_access(&call.caller, r) {
        return Err(Fail::Denied);
    }
    let link = new_link(st, "Shared link", true);
    st.counters.primary_link_creations += 1;
    let caller = call.caller.clone();
    st.log(&caller, 5088, vec![key.clone(), link.id.clone()]);
    let room = st.room_mut(&key).ok_or(Fail::Denied)?;
    room.links.push(link);
    let room = st.room(&key).ok_or(Fail::Denied)?;
    let l = room.links.last().ok_or(Fail::Denied)?;
    Ok(Reply::one(render::link_row(st, room, l, &caller)))
}

/// `PUT rooms/{id}/links`: revoke (access 0), rotate (primary link of a
/// Public or FillingForms room), update, or create (no known `linkId`).
fn set_room_link(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let body = call.json()?;
    let key = call.param(0).to_string();
    let room = find_room(st, call)?;
    if !st.can_edit_access(&call.caller, room) {
        return Err(Fail::Denied);
    }
    let caller = call.caller.clone();
    let kind = room.kind;
    let link_id = body
        .get("linkId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let access = read_access(body.get("access"));
    let link_type = body.get("linkType").and_then(Value::as_i64).unwrap_or(0);
    let internal = body
        .get("internal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let expiration = match body.get("expirationDate") {
        Some(Value::String(s)) => Some(crate::time::parse(s).ok_or_else(|| {
            validation("expirationDate", format!("The value '{s}' is not valid."))
        })?),
        Some(Value::Object(o)) => o
            .get("utcTime")
            .and_then(Value::as_str)
            .and_then(crate::time::parse),
        _ => None,
    };
    let title = body
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string);
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_string);
    let deny_download = body
        .get("denyDownload")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let Some(pos) = room.links.iter().position(|l| l.id == link_id) else {
        if access == 0 {
            return Ok(Reply::none());
        }
        let mut link = new_link(st, title.as_deref().unwrap_or("Shared link"), false);
        link.internal = internal;
        link.expiration = expiration;
        link.password = password;
        link.deny_download = deny_download;
        link.access = u8::try_from(access).unwrap_or(2);
        link.kind = if link_type == 1 {
            LinkKind::External
        } else {
            LinkKind::Invitation
        };
        let id = link.id.clone();
        st.room_mut(&key).ok_or(Fail::Denied)?.links.push(link);
        st.log(&caller, 5088, vec![key.clone(), id]);
        let room = st.room(&key).ok_or(Fail::Denied)?;
        let l = room.links.last().ok_or(Fail::Denied)?;
        return Ok(Reply::one(render::link_row(st, room, l, &caller)));
    };
    let stored = &room.links[pos];
    // A changed `internal` or `expirationDate` makes the server skip the
    // link silently: the unchanged link comes back (API-NOTES §7).
    if stored.internal != internal || stored.expiration != expiration {
        return Ok(Reply::one(render::link_row(st, room, stored, &caller)));
    }
    let stored_kind = stored.kind;
    let primary = stored.primary;
    if access == 0 {
        // With linkType 0 the request takes the invitation path: the row is
        // still deleted, but the primary-link rules are skipped.
        let rotate = link_type == 1
            && stored_kind == LinkKind::External
            && primary
            && matches!(kind, RoomKind::Public | RoomKind::FillingForms);
        let old = st.room_mut(&key).ok_or(Fail::Denied)?.links.remove(pos);
        if rotate {
            let mut fresh = new_link(st, &old.title, true);
            fresh.internal = old.internal;
            fresh.access = old.access;
            let room = st.room_mut(&key).ok_or(Fail::Denied)?;
            room.links.insert(pos, fresh);
            st.log(&caller, 5097, vec![key.clone(), old.id]);
            let room = st.room(&key).ok_or(Fail::Denied)?;
            return Ok(Reply::one(render::link_row(
                st,
                room,
                &room.links[pos],
                &caller,
            )));
        }
        let action = if link_type == 1 { 5090 } else { 5087 };
        st.log(&caller, action, vec![key.clone(), old.id]);
        return Ok(Reply::none());
    }
    {
        let room = st.room_mut(&key).ok_or(Fail::Denied)?;
        let l = &mut room.links[pos];
        if let Some(t) = title {
            l.title = t;
        }
        l.password = password;
        l.deny_download = deny_download;
        l.access = u8::try_from(access).unwrap_or(l.access);
    }
    st.log(&caller, 5089, vec![key.clone(), link_id]);
    let room = st.room(&key).ok_or(Fail::Denied)?;
    Ok(Reply::one(render::link_row(
        st,
        room,
        &room.links[pos],
        &caller,
    )))
}

// ---- archive / unarchive ---------------------------------------------------

fn move_room(st: &mut State, call: &Call<'_>, kind: OpKind) -> Result<Reply, Fail> {
    // The action dereferences the body, so it is required.
    let _body = call.json()?;
    let key = call.param(0).to_string();
    let room = find_room(st, call)?;
    if !st.manages_room(&call.caller, room) {
        return Err(Fail::Denied);
    }
    if kind == OpKind::Unarchive
        && room.archived
        && st.room_quota.is_some_and(|q| st.active_room_count() >= q)
    {
        return Err(Fail::Quota(
            "The number of rooms has reached the limit of the tariff".into(),
        ));
    }
    let id = st.new_guid();
    st.ops.push(FileOp {
        id,
        kind,
        room: key,
        polls: 0,
        polls_needed: st.fileops_polls,
        started: std::time::Instant::now(),
        finished: false,
        error: String::new(),
    });
    let idx = st.ops.len() - 1;
    if st.fileops_polls == 0 {
        complete_op(st, idx, &call.caller.clone());
    }
    Ok(Reply::one(render::file_op(&st.ops[idx])))
}

/// Finishes an operation: the room really moves now.
fn complete_op(st: &mut State, idx: usize, actor: &str) {
    let (kind, key) = (st.ops[idx].kind, st.ops[idx].room.clone());
    st.ops[idx].finished = true;
    st.ops[idx].polls = st.ops[idx].polls_needed;
    let now = crate::time::to_ticks(Utc::now());
    let Some(room) = st.room_mut(&key) else {
        st.ops[idx].error = "The required folder was not found".into();
        return;
    };
    let target = kind == OpKind::Archive;
    if room.archived == target {
        return;
    }
    room.archived = target;
    room.updated = now;
    room.updated_by = actor.to_string();
    if target {
        // Archiving mails every member (notifyClient.SendRoomMovedArchiveAsync).
        let mut to: Vec<String> = vec![room.owner.clone()];
        for s in room.shares.iter().filter(|s| !s.is_group) {
            if !to.contains(&s.subject) {
                to.push(s.subject.clone());
            }
        }
        for user in to {
            if st.user(&user).is_some() {
                st.emails.push(SentEmail {
                    to_user_id: user,
                    kind: EmailKind::RoomMovedToArchive,
                    room_id: key.clone(),
                });
            }
        }
    }
    st.log(actor, if target { 5072 } else { 5073 }, vec![key]);
}

/// Operations configured to finish on time finish whether polled or not.
fn finish_timed_ops(st: &mut State) {
    let Some(ms) = st.fileops_after_ms else {
        return;
    };
    let due: Vec<usize> = st
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !op.finished && op.started.elapsed().as_millis() >= u128::from(ms))
        .map(|(i, _)| i)
        .collect();
    let actor = st.key_user.clone();
    for i in due {
        complete_op(st, i, &actor);
    }
}

/// `GET files/fileops[?id=]`: each poll advances unfinished operations.
fn fileops(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    let wanted = call.query.get("id").map(str::to_string);
    let picked: Vec<usize> = (0..st.ops.len())
        .filter(|&i| wanted.as_ref().is_none_or(|w| st.ops[i].id == *w))
        .collect();
    for &i in &picked {
        if !st.ops[i].finished {
            st.ops[i].polls += 1;
            if st.ops[i].polls >= st.ops[i].polls_needed {
                complete_op(st, i, &call.caller.clone());
            }
        }
    }
    let list: Vec<Value> = picked
        .iter()
        .map(|&i| render::file_op(&st.ops[i]))
        .collect();
    Ok(Reply::list(&list))
}

// ---- audit -----------------------------------------------------------------

fn audit(st: &mut State, call: &Call<'_>) -> Result<Reply, Fail> {
    require_admin(st, &call.caller)?;
    let q = &call.query;
    let (start, count) = q.paging()?;
    let mut order: Vec<usize> = (0..st.audit.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&st.audit[a], &st.audit[b]);
        b.date.cmp(&a.date).then(b.id.cmp(&a.id))
    });
    if !st.audit_feature {
        // Without the Audit feature the server quietly returns the last 20
        // events, unfiltered (GetLastAuditEvents).
        let list: Vec<Value> = order
            .iter()
            .take(20)
            .map(|&i| render::audit(st, &st.audit[i]))
            .collect();
        return Ok(Reply::list(&list));
    }
    let date = |name: &str| -> Result<Option<chrono::DateTime<Utc>>, Fail> {
        match q.get(name) {
            None => Ok(None),
            Some(v) => crate::time::parse(v)
                .map(Some)
                .ok_or_else(|| validation(name, format!("The value '{v}' is not valid."))),
        }
    };
    let from = date("from")?;
    let to = date("to")?;
    let user = q.get("userId");
    let action = q.int("action")?.filter(|a| *a != 0);
    let action_type = q.int("actionType")?.filter(|a| *a != 0);
    let entry_type = q.int("entryType")?.filter(|a| *a != 0);
    let module = q.int("moduleType")?.filter(|a| *a != 0);
    let target = q.get("target");
    let list: Vec<Value> = order
        .iter()
        .map(|&i| &st.audit[i])
        .filter(|e| user.is_none_or(|u| e.user_id == u))
        .filter(|e| from.is_none_or(|f| e.date >= f))
        .filter(|e| to.is_none_or(|t| e.date <= t))
        .filter(|e| action.is_none_or(|a| i64::from(e.action_id) == a))
        .filter(|e| action_type.is_none_or(|a| i64::from(e.action_type) == a))
        .filter(|e| entry_type.is_none_or(|a| i64::from(e.entry_type) == a))
        .filter(|e| module.is_none_or(|a| i64::from(e.location) == a))
        .filter(|e| target.is_none_or(|t| e.target.iter().any(|x| x == t)))
        .skip(start)
        .take(count)
        .map(|e| render::audit(st, e))
        .collect();
    Ok(Reply::list(&list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_read_like_the_server_converter() {
        assert_eq!(read_access(Some(&json!(2))), 2);
        assert_eq!(read_access(Some(&json!("RoomManager"))), 9);
        assert_eq!(read_access(Some(&json!("FullAccess"))), 0);
        assert_eq!(read_access(Some(&json!("read"))), 0, "names are exact");
        assert_eq!(read_access(None), 0);
    }

    #[test]
    fn query_parsing() {
        let q = Query::parse("a=1&B=x%20y&c=&type=1&type=2&d=a+b");
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), None);
        assert_eq!(q.all("type"), ["1", "2"]);
        assert_eq!(q.get("d"), Some("a b"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn paging_limits() {
        assert!(Query::parse("count=100").paging().is_ok());
        assert!(matches!(
            Query::parse("count=101").paging(),
            Err(Fail::Validation { .. })
        ));
        assert!(matches!(
            Query::parse("count=0").paging(),
            Err(Fail::Validation { .. })
        ));
        assert!(matches!(
            Query::parse("count=x").paging(),
            Err(Fail::Validation { .. })
        ));
        assert!(matches!(
            Query::parse("startIndex=-1").paging(),
            Err(Fail::OutOfRange(_))
        ));
    }
}
