//! The wire shapes: portal entities rendered as the DocSpace DTOs.
//!
//! Shapes follow `openapi.json` (`components.schemas`) with the server's real
//! behaviour from API-NOTES §1 and §16: camelCase names, nulls omitted, enums
//! as numbers (EmployeeType would be a string), dates as 7-digit strings, and
//! the newer `sharedExternal` field. The hot shapes (rooms, users, share
//! rows) are typed structs serialised straight to text, because building
//! `serde_json::Value` trees made a 10 000-room scan slow. This module only
//! reads the state.

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{AuditEvent, FileOp, Group, Link, ReassignTask, Room, Share, State, User};
use crate::scenario::{LinkKind, RoomId, RoomKind, UserKind, UserStatus};
use crate::time;

const AVATAR: &str = "/static/images/default_user_photo_size_82-82.png";

/// Serialises a DTO. The DTOs are plain structs with string keys, which
/// serde_json cannot fail on; "null" is a safe fallback regardless.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// A JSON array from already serialised items.
pub fn json_array(items: &[String]) -> String {
    let mut out = String::with_capacity(items.iter().map(|s| s.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    out
}

/// `EmployeeDto`: the short user shape, no e-mail (used for `createdBy`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeDto<'a> {
    id: &'a str,
    display_name: String,
    avatar: &'static str,
    avatar_small: &'static str,
    profile_url: String,
    has_avatar: bool,
    is_anonim: bool,
}

fn profile_url(st: &State, u: &User) -> String {
    format!("{}/accounts/people/filter?email={}", st.base_url, u.email)
}

pub fn employee<'a>(st: &State, user_id: &'a str) -> EmployeeDto<'a> {
    match st.user(user_id) {
        Some(u) => EmployeeDto {
            id: user_id,
            display_name: u.display_name(),
            avatar: AVATAR,
            avatar_small: AVATAR,
            profile_url: profile_url(st, u),
            has_avatar: false,
            is_anonim: false,
        },
        // A deleted user still shows up as the creator of old rooms.
        None => EmployeeDto {
            id: user_id,
            display_name: "Profile removed".to_string(),
            avatar: AVATAR,
            avatar_small: AVATAR,
            profile_url: String::new(),
            has_avatar: false,
            is_anonim: false,
        },
    }
}

/// `GroupSummaryDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummaryDto<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    manager: Option<String>,
    is_system: bool,
}

fn group_summary<'a>(st: &State, g: &'a Group) -> GroupSummaryDto<'a> {
    GroupSummaryDto {
        id: &g.id,
        name: &g.name,
        manager: g
            .manager
            .as_deref()
            .and_then(|m| st.user(m))
            .map(User::user_name),
        is_system: false,
    }
}

/// `EmployeeFullDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeFullDto<'a> {
    id: &'a str,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    status: u8,
    activation_status: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    terminated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_date: Option<String>,
    is_owner: bool,
    is_admin: bool,
    is_room_admin: bool,
    is_collaborator: bool,
    is_visitor: bool,
    #[serde(rename = "isLDAP")]
    is_ldap: bool,
    #[serde(rename = "isSSO")]
    is_sso: bool,
    groups: Vec<GroupSummaryDto<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    culture_name: Option<&'static str>,
    mobile_phone_activation_status: u8,
    avatar: &'static str,
    avatar_small: &'static str,
    avatar_max: &'static str,
    avatar_medium: &'static str,
    avatar_original: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile_url: Option<String>,
    has_avatar: bool,
    is_anonim: bool,
}

pub fn employee_full<'a>(st: &'a State, u: &'a User) -> EmployeeFullDto<'a> {
    EmployeeFullDto {
        id: &u.id,
        display_name: u.display_name(),
        first_name: Some(&u.first_name),
        last_name: Some(&u.last_name),
        user_name: Some(u.user_name()),
        email: Some(&u.email),
        status: u.status.number(),
        // An invited user who never joined shows Pending (API-NOTES §5).
        activation_status: if u.status == UserStatus::Pending {
            2
        } else {
            1
        },
        terminated: u.terminated.as_ref().map(time::format),
        registration_date: Some(time::format(&u.registered)),
        is_owner: u.kind == UserKind::Owner,
        // isAdmin is "DocSpace admin and not the owner" (API-NOTES §8).
        is_admin: u.kind == UserKind::DocspaceAdmin,
        is_room_admin: u.kind == UserKind::RoomAdmin,
        is_collaborator: u.kind == UserKind::User,
        is_visitor: u.kind == UserKind::Guest,
        is_ldap: false,
        is_sso: false,
        groups: st.groups_of(&u.id).map(|g| group_summary(st, g)).collect(),
        culture_name: Some("en-US"),
        mobile_phone_activation_status: 0,
        avatar: AVATAR,
        avatar_small: AVATAR,
        avatar_max: AVATAR,
        avatar_medium: AVATAR,
        avatar_original: AVATAR,
        profile_url: Some(profile_url(st, u)),
        has_avatar: false,
        is_anonim: false,
    }
}

/// A share row of a user that was deleted meanwhile.
fn lost_user(id: &str) -> EmployeeFullDto<'_> {
    EmployeeFullDto {
        id,
        display_name: "Profile removed".to_string(),
        first_name: None,
        last_name: None,
        user_name: None,
        email: None,
        status: 2,
        activation_status: 1,
        terminated: None,
        registration_date: None,
        is_owner: false,
        is_admin: false,
        is_room_admin: false,
        is_collaborator: false,
        is_visitor: false,
        is_ldap: false,
        is_sso: false,
        groups: Vec::new(),
        culture_name: None,
        mobile_phone_activation_status: 0,
        avatar: AVATAR,
        avatar_small: AVATAR,
        avatar_max: AVATAR,
        avatar_medium: AVATAR,
        avatar_original: AVATAR,
        profile_url: None,
        has_avatar: false,
        is_anonim: false,
    }
}

/// An id that is a number for native rooms and a string for third-party
/// ones (their DTO is `FolderDto<string>`, parent ids included).
#[derive(Serialize)]
#[serde(untagged)]
pub enum IdDto<'a> {
    Num(i64),
    Text(&'a str),
    Owned(String),
}

fn id_value(id: &RoomId) -> IdDto<'_> {
    match id {
        RoomId::Int(n) => IdDto::Num(*n),
        RoomId::Text(s) => IdDto::Text(s),
    }
}

fn parent_value(room: &Room, parent: i64) -> IdDto<'static> {
    match room.id {
        RoomId::Int(_) => IdDto::Num(parent),
        RoomId::Text(_) => IdDto::Owned(parent.to_string()),
    }
}

/// The room's `security` map. In the archive only read-like actions
/// survive (`FileSecurity`, `case FolderType.Archive`, API-NOTES §0.1).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityDto {
    read: bool,
    create: bool,
    edit: bool,
    delete: bool,
    edit_room: bool,
    rename: bool,
    read_history: bool,
    copy_to: bool,
    copy: bool,
    move_to: bool,
    #[serde(rename = "Move")]
    move_: bool,
    pin: bool,
    mute: bool,
    edit_access: bool,
    duplicate: bool,
    download: bool,
    copy_shared_link: bool,
    read_links: bool,
    create_room_from: bool,
    copy_link: bool,
    embed: bool,
    change_owner: bool,
    index_export: bool,
    edit_internal: bool,
    edit_expiration: bool,
}

fn security(st: &State, room: &Room, caller: &str) -> SecurityDto {
    let manages = st.manages_room(caller, room);
    let archived = room.archived;
    let edit = manages && !archived;
    SecurityDto {
        read: true,
        create: edit,
        edit,
        delete: manages,
        edit_room: edit,
        rename: edit,
        read_history: true,
        copy_to: edit,
        copy: true,
        move_to: edit,
        move_: manages,
        pin: !archived,
        mute: !archived,
        edit_access: edit,
        duplicate: edit,
        download: true,
        copy_shared_link: !archived,
        read_links: manages,
        create_room_from: edit,
        copy_link: !archived,
        embed: edit,
        change_owner: edit,
        index_export: true,
        edit_internal: edit && !matches!(room.kind, RoomKind::Vdr | RoomKind::Public),
        edit_expiration: edit && room.kind != RoomKind::FillingForms,
    }
}

#[derive(Serialize)]
pub struct LogoDto {
    original: &'static str,
    large: &'static str,
    medium: &'static str,
    small: &'static str,
    color: &'static str,
}

/// `FolderDto` of a room (`FolderDtoInteger`, or `FolderDtoString` for
/// third-party rooms).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomDto<'a> {
    id: IdDto<'a>,
    title: &'a str,
    parent_id: IdDto<'static>,
    root_folder_id: IdDto<'static>,
    root_folder_type: u8,
    room_type: u8,
    #[serde(rename = "type")]
    folder_type: u8,
    created_by: EmployeeDto<'a>,
    created: String,
    updated: String,
    updated_by: EmployeeDto<'a>,
    security: SecurityDto,
    can_share: bool,
    shared: bool,
    shared_external: bool,
    shared_for_user: bool,
    parent_shared: bool,
    in_room: bool,
    access: u8,
    file_entry_type: u8,
    files_count: u32,
    folders_count: u32,
    new: u32,
    mute: bool,
    pinned: bool,
    private: bool,
    indexing: bool,
    deny_download: bool,
    tags: [&'static str; 0],
    logo: LogoDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_item: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_key: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_id: Option<u32>,
}

pub fn room<'a>(st: &State, room: &'a Room, caller: &str) -> RoomDto<'a> {
    let root_id = if room.archived {
        st.archive_folder_id
    } else {
        st.rooms_folder_id
    };
    let third_party = matches!(room.id, RoomId::Text(_));
    RoomDto {
        id: id_value(&room.id),
        title: &room.title,
        parent_id: parent_value(room, root_id),
        root_folder_id: parent_value(room, root_id),
        root_folder_type: if room.archived { 20 } else { 14 },
        room_type: room.kind.number(),
        folder_type: room.kind.folder_type(),
        created_by: employee(st, &room.owner),
        created: time::format(&room.created),
        updated: time::format(&room.updated),
        updated_by: employee(st, &room.updated_by),
        security: security(st, room, caller),
        // canShare is about creating links and is forced false for Editing
        // and VDR rooms; it is not the membership test (API-NOTES §4.4).
        can_share: st.manages_room(caller, room)
            && !room.archived
            && !matches!(room.kind, RoomKind::Editing | RoomKind::Vdr),
        shared: room.links.iter().any(|l| l.kind == LinkKind::External),
        shared_external: room
            .links
            .iter()
            .any(|l| l.kind == LinkKind::External && !l.internal),
        shared_for_user: !room.shares.is_empty(),
        parent_shared: false,
        in_room: room.owner == caller
            || room
                .shares
                .iter()
                .any(|s| !s.is_group && s.subject == caller),
        access: room.share_of(caller).map_or(0, |s| s.access),
        file_entry_type: 1,
        files_count: room.files_count,
        folders_count: room.folders_count,
        new: 0,
        mute: false,
        pinned: false,
        private: false,
        indexing: false,
        deny_download: false,
        tags: [],
        logo: LogoDto {
            original: "",
            large: "",
            medium: "",
            small: "",
            color: "5299E0",
        },
        provider_item: third_party.then_some(true),
        provider_key: third_party.then_some("Dropbox"),
        provider_id: third_party.then_some(1),
    }
}

/// `FolderDto` of the Rooms (14) or Archive (20) section folder, the
/// `current` of a rooms listing.
pub fn section(st: &State, archive: bool, caller: &str, rooms_in_section: usize) -> Value {
    let (id, ty, title) = if archive {
        (st.archive_folder_id, 20, "Archive")
    } else {
        (st.rooms_folder_id, 14, "Rooms")
    };
    let owner = st
        .users
        .iter()
        .find(|u| u.kind == UserKind::Owner && !u.deleted)
        .map_or_else(|| st.key_user.clone(), |u| u.id.clone());
    let admin = st.is_admin(caller);
    json!({
        "id": id,
        "title": title,
        "parentId": 0,
        "rootFolderId": id,
        "rootFolderType": ty,
        "type": ty,
        "createdBy": employee(st, &owner),
        "created": time::format(&st.portal_created),
        "updated": time::format(&st.portal_created),
        "updatedBy": employee(st, &owner),
        "security": {"Read": true, "Create": admin && !archive, "Delete": false, "EditAccess": false},
        "canShare": false,
        "shared": false,
        "access": 0,
        "fileEntryType": 1,
        "filesCount": 0,
        "foldersCount": rooms_in_section,
        "new": 0,
        "mute": false,
        "pinned": false,
        "private": false,
    })
}

/// `FileShareLink`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkDto<'a> {
    id: &'a str,
    title: &'a str,
    share_link: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_date: Option<String>,
    link_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    deny_download: bool,
    is_expired: bool,
    primary: bool,
    internal: bool,
    request_token: String,
}

fn share_link(link: &Link) -> LinkDto<'_> {
    LinkDto {
        id: &link.id,
        title: &link.title,
        share_link: &link.url,
        expiration_date: link.expiration.as_ref().map(time::format),
        link_type: match link.kind {
            LinkKind::Invitation => 0,
            LinkKind::External => 1,
        },
        // Passwords are returned in clear text to those who may read links.
        password: link.password.as_deref(),
        deny_download: link.deny_download,
        is_expired: link.expiration.is_some_and(|e| e < Utc::now()),
        primary: link.primary,
        internal: link.internal,
        request_token: crate::model::short_token(&link.id),
    }
}

/// `FileShareDto`. The obsolete `sharedTo` copy is left out: it doubles the
/// payload, and clients must not key on it (API-NOTES §5).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareRowDto<'a> {
    access: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_to_user: Option<EmployeeFullDto<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_to_group: Option<GroupSummaryDto<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_link: Option<LinkDto<'a>>,
    is_locked: bool,
    is_owner: bool,
    can_edit_access: bool,
    can_edit_internal: bool,
    can_edit_deny_download: bool,
    can_edit_expiration_date: bool,
    can_revoke: bool,
    subject_type: u8,
}

impl<'a> ShareRowDto<'a> {
    fn base(access: u8, subject_type: u8) -> ShareRowDto<'a> {
        ShareRowDto {
            access,
            shared_to_user: None,
            shared_to_group: None,
            shared_link: None,
            is_locked: false,
            is_owner: false,
            can_edit_access: false,
            can_edit_internal: false,
            can_edit_deny_download: false,
            can_edit_expiration_date: false,
            can_revoke: false,
            subject_type,
        }
    }
}

/// The synthetic owner row: `isOwner`, access 1 ReadWrite, never editable.
pub fn owner_row<'a>(st: &'a State, room: &'a Room, caller: &str) -> Option<ShareRowDto<'a>> {
    let owner = st.user(&room.owner)?;
    let mut row = ShareRowDto::base(1, 0);
    row.is_owner = true;
    row.is_locked = room.owner == caller;
    row.shared_to_user = Some(employee_full(st, owner));
    Some(row)
}

/// A user or group share row. The caller's own row is locked.
pub fn subject_row<'a>(
    st: &'a State,
    room: &'a Room,
    share: &'a Share,
    caller: &str,
) -> ShareRowDto<'a> {
    let own = !share.is_group && share.subject == caller;
    let mut row = ShareRowDto::base(share.access, if share.is_group { 2 } else { 0 });
    row.is_locked = own;
    row.can_edit_access = !own && st.can_edit_access(caller, room);
    if share.is_group {
        row.shared_to_group = Some(match st.group(&share.subject) {
            Some(g) => group_summary(st, g),
            None => GroupSummaryDto {
                id: &share.subject,
                name: "Deleted group",
                manager: None,
                is_system: false,
            },
        });
    } else {
        row.shared_to_user = Some(match st.user(&share.subject) {
            Some(u) => employee_full(st, u),
            None => lost_user(&share.subject),
        });
    }
    row
}

/// A link row. Links are never `canEditAccess`; `canRevoke` means "can be
/// rotated" (Public primary link, FillingForms links).
pub fn link_row<'a>(st: &State, room: &Room, link: &'a Link, caller: &str) -> ShareRowDto<'a> {
    let editable = st.can_edit_access(caller, room);
    let external = link.kind == LinkKind::External;
    let mut row = ShareRowDto::base(link.access, link.subject_type());
    row.can_edit_internal =
        editable && external && !matches!(room.kind, RoomKind::Vdr | RoomKind::Public);
    row.can_edit_deny_download = editable && external;
    row.can_edit_expiration_date = editable && room.kind != RoomKind::FillingForms;
    row.can_revoke =
        (room.kind == RoomKind::Public && link.primary) || room.kind == RoomKind::FillingForms;
    row.shared_link = Some(share_link(link));
    row
}

/// `FileOperationDto`. The spec spells the type field `Operation`; API-NOTES
/// §13 calls it `operationType`, so both are sent.
pub fn file_op(op: &FileOp) -> Value {
    let progress = if op.finished {
        100
    } else {
        (op.polls * 100)
            .checked_div(op.polls_needed)
            .unwrap_or(0)
            .min(99)
    };
    json!({
        "id": op.id,
        "Operation": 0,
        "operationType": 0,
        "progress": progress,
        "error": op.error,
        "processed": if op.finished { "1" } else { "0" },
        "finished": op.finished,
        "status": if !op.finished { 1 } else if op.error.is_empty() { 2 } else { 4 },
    })
}

/// `TaskProgressResponseDto`; `error` only on failure.
pub fn task(t: &ReassignTask) -> Value {
    let mut v = json!({
        "id": t.id,
        "percentage": t.percentage,
        "isCompleted": t.is_completed(),
        "status": t.status,
    });
    if let (Some(e), Some(map)) = (&t.error, v.as_object_mut()) {
        map.insert("error".into(), json!(e));
    }
    v
}

/// `AuditEventDto`.
pub fn audit(st: &State, e: &AuditEvent) -> Value {
    let user = st
        .any_user(&e.user_id)
        .map_or_else(|| "Unknown".to_string(), User::display_name);
    let entries: Vec<u8> = if e.entry_type == 0 {
        Vec::new()
    } else {
        vec![e.entry_type]
    };
    json!({
        "id": e.id,
        "date": time::format(&e.date),
        "user": user,
        "userId": e.user_id,
        "action": e.action,
        "actionId": e.action_id,
        "ip": "127.0.0.1",
        "country": "",
        "city": "",
        "browser": "docspace-fake-portal",
        "platform": "Linux",
        "page": "",
        "actionType": e.action_type,
        "product": if e.location == 30 { 8 } else { 2 },
        "location": e.location,
        "target": e.target,
        "entries": entries,
    })
}

/// `GroupDto`.
pub fn group(st: &State, g: &Group, include_members: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "category": "00000000-0000-0000-0000-000000000000",
        "isLDAP": false,
        "isSystem": false,
        "membersCount": g.members.iter().filter(|m| st.user(m).is_some()).count(),
    });
    if let Some(map) = v.as_object_mut() {
        if let Some(m) = g.manager.as_deref().and_then(|m| st.user(m)) {
            map.insert(
                "manager".into(),
                serde_json::to_value(employee_full(st, m)).unwrap_or(Value::Null),
            );
        }
        if include_members {
            let members: Vec<Value> = g
                .members
                .iter()
                .filter_map(|m| st.user(m))
                .map(|u| serde_json::to_value(employee_full(st, u)).unwrap_or(Value::Null))
                .collect();
            map.insert("members".into(), Value::Array(members));
        }
    }
    v
}
