//! The wire shapes: portal entities rendered as the DocSpace DTOs.
//!
//! Shapes follow `openapi.json` (`components.schemas`) with the server's real
//! behaviour from API-NOTES §1 and §16: camelCase names, nulls omitted, enums
//! as numbers (EmployeeType would be a string), dates as 7-digit strings, and
//! the newer `sharedExternal` field. This module only reads the state.

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::model::{AuditEvent, FileOp, Group, Link, ReassignTask, Room, Share, State, User};
use crate::scenario::{LinkKind, RoomId, RoomKind, UserKind, UserStatus};
use crate::time;

const AVATAR: &str = "/static/images/default_user_photo_size_82-82.png";

/// Drops null members so the output matches the server's
/// `JsonIgnoreCondition.WhenWritingNull`.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// `EmployeeDto`: the short user shape, no e-mail (used for `createdBy`).
pub fn employee(st: &State, user_id: &str) -> Value {
    match st.any_user(user_id) {
        Some(u) if !u.deleted => json!({
            "id": u.id,
            "displayName": u.display_name(),
            "avatar": AVATAR,
            "avatarSmall": AVATAR,
            "profileUrl": format!("{}/accounts/people/filter?email={}", st.base_url, u.email),
            "hasAvatar": false,
            "isAnonim": false,
        }),
        _ => json!({
            "id": user_id,
            "displayName": "Profile removed",
            "avatar": AVATAR,
            "avatarSmall": AVATAR,
            "profileUrl": "",
            "hasAvatar": false,
            "isAnonim": false,
        }),
    }
}

fn group_summary(st: &State, g: &Group) -> Value {
    compact(json!({
        "id": g.id,
        "name": g.name,
        "manager": g.manager.as_deref().and_then(|m| st.user(m)).map(User::user_name),
        "isSystem": false,
    }))
}

/// `EmployeeFullDto`.
pub fn employee_full(st: &State, u: &User) -> Value {
    let groups: Vec<Value> = st.groups_of(&u.id).map(|g| group_summary(st, g)).collect();
    let activation = match u.status {
        UserStatus::Pending => 2,
        _ => 1,
    };
    compact(json!({
        "id": u.id,
        "displayName": u.display_name(),
        "firstName": u.first_name,
        "lastName": u.last_name,
        "userName": u.user_name(),
        "email": u.email,
        "status": u.status.number(),
        "activationStatus": activation,
        "terminated": u.terminated.as_ref().map(time::format),
        "registrationDate": time::format(&u.registered),
        "isOwner": u.kind == UserKind::Owner,
        "isAdmin": u.kind == UserKind::DocspaceAdmin,
        "isRoomAdmin": u.kind == UserKind::RoomAdmin,
        "isCollaborator": u.kind == UserKind::User,
        "isVisitor": u.kind == UserKind::Guest,
        "isLDAP": false,
        "isSSO": false,
        "groups": groups,
        "cultureName": "en-US",
        "mobilePhoneActivationStatus": 0,
        "avatar": AVATAR,
        "avatarSmall": AVATAR,
        "avatarMax": AVATAR,
        "avatarMedium": AVATAR,
        "avatarOriginal": AVATAR,
        "profileUrl": format!("{}/accounts/people/filter?email={}", st.base_url, u.email),
        "hasAvatar": false,
        "isAnonim": false,
    }))
}

/// A user that vanished (deleted) still renders, as the server's "lost user".
fn employee_full_by_id(st: &State, id: &str) -> Value {
    match st.user(id) {
        Some(u) => employee_full(st, u),
        None => json!({
            "id": id,
            "displayName": "Profile removed",
            "status": 2,
            "activationStatus": 1,
            "isOwner": false, "isAdmin": false, "isRoomAdmin": false,
            "isCollaborator": false, "isVisitor": false, "isLDAP": false, "isSSO": false,
            "hasAvatar": false, "isAnonim": false,
        }),
    }
}

fn id_value(id: &RoomId) -> Value {
    match id {
        RoomId::Int(n) => json!(n),
        RoomId::Text(s) => json!(s),
    }
}

/// A parent id in the room's own id flavour: third-party rooms are
/// `FolderDto<string>`, so their parent ids are strings too.
fn parent_value(room: &Room, parent: i64) -> Value {
    match room.id {
        RoomId::Int(_) => json!(parent),
        RoomId::Text(_) => json!(parent.to_string()),
    }
}

/// The room's `security` map for `caller`. In the archive only read-like
/// actions survive (`FileSecurity`, `case FolderType.Archive`).
fn security(st: &State, room: &Room, caller: &str) -> Value {
    let manages = st.manages_room(caller, room);
    let archived = room.archived;
    let edit = manages && !archived;
    let mut m = Map::new();
    let mut put = |k: &str, v: bool| {
        m.insert(k.to_string(), Value::Bool(v));
    };
    put("Read", true);
    put("Create", edit);
    put("Edit", edit);
    put("Delete", manages);
    put("EditRoom", edit);
    put("Rename", edit);
    put("ReadHistory", true);
    put("CopyTo", edit);
    put("Copy", true);
    put("MoveTo", edit);
    put("Move", manages);
    put("Pin", !archived);
    put("Mute", !archived);
    put("EditAccess", edit);
    put("Duplicate", edit);
    put("Download", true);
    put("CopySharedLink", !archived);
    put("ReadLinks", manages);
    put("CreateRoomFrom", edit);
    put("CopyLink", !archived);
    put("Embed", edit);
    put("ChangeOwner", edit);
    put("IndexExport", true);
    put("EditInternal", edit && !matches!(room.kind, RoomKind::Vdr | RoomKind::Public));
    put("EditExpiration", edit && room.kind != RoomKind::FillingForms);
    Value::Object(m)
}

/// `FolderDto` of a room (`FolderDtoInteger`, or `FolderDtoString` for
/// third-party rooms).
pub fn room(st: &State, room: &Room, caller: &str) -> Value {
    let (root_id, root_type) = if room.archived {
        (st.archive_folder_id, 20)
    } else {
        (st.rooms_folder_id, 14)
    };
    let has_external = room.links.iter().any(|l| l.kind == LinkKind::External);
    let has_public = room.links.iter().any(|l| l.kind == LinkKind::External && !l.internal);
    let third_party = matches!(room.id, RoomId::Text(_));
    let in_room = room.owner == caller || room.shares.iter().any(|s| !s.is_group && s.subject == caller);
    let access = room.share_of(caller).map_or(0, |s| s.access);
    let can_share = st.manages_room(caller, room)
        && !room.archived
        && !matches!(room.kind, RoomKind::Editing | RoomKind::Vdr);
    compact(json!({
        "id": id_value(&room.id),
        "title": room.title,
        "parentId": parent_value(room, root_id),
        "rootFolderId": parent_value(room, root_id),
        "rootFolderType": root_type,
        "roomType": room.kind.number(),
        "type": room.kind.folder_type(),
        "createdBy": employee(st, &room.owner),
        "created": time::format(&room.created),
        "updated": time::format(&room.updated),
        "updatedBy": employee(st, &room.updated_by),
        "security": security(st, room, caller),
        "canShare": can_share,
        "shared": has_external,
        "sharedExternal": has_public,
        "sharedForUser": !room.shares.is_empty(),
        "parentShared": false,
        "inRoom": in_room,
        "access": access,
        "fileEntryType": 1,
        "filesCount": room.files_count,
        "foldersCount": room.folders_count,
        "new": 0,
        "mute": false,
        "pinned": false,
        "private": false,
        "indexing": false,
        "denyDownload": false,
        "tags": [],
        "logo": {"original": "", "large": "", "medium": "", "small": "", "color": "5299E0"},
        "providerItem": if third_party { Some(true) } else { None },
        "providerKey": if third_party { Some("Dropbox") } else { None },
        "providerId": if third_party { Some(1) } else { None },
    }))
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
        .find(|u| u.kind == UserKind::Owner)
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

/// The bits of a `FileShareDto` every row has.
fn share_row(
    access: u8,
    subject_type: u8,
    is_owner: bool,
    is_locked: bool,
    can_edit_access: bool,
    link_flags: (bool, bool, bool, bool),
) -> Map<String, Value> {
    let (internal, deny, expiration, revoke) = link_flags;
    let v = json!({
        "access": access,
        "isLocked": is_locked,
        "isOwner": is_owner,
        "canEditAccess": can_edit_access,
        "canEditInternal": internal,
        "canEditDenyDownload": deny,
        "canEditExpirationDate": expiration,
        "canRevoke": revoke,
        "subjectType": subject_type,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The synthetic owner row: `isOwner`, access 1 ReadWrite, never editable.
pub fn owner_row(st: &State, room: &Room, caller: &str) -> Option<Value> {
    let owner = st.user(&room.owner)?;
    let mut m = share_row(1, 0, true, room.owner == caller, false, (false, false, false, false));
    m.insert("sharedToUser".into(), employee_full(st, owner));
    Some(Value::Object(m))
}

/// A user or group share row. The obsolete `sharedTo` copy is left out: it
/// doubles the payload, and clients must not key on it (API-NOTES §5).
pub fn subject_row(st: &State, room: &Room, share: &Share, caller: &str) -> Value {
    let own = !share.is_group && share.subject == caller;
    let editable = !own && st.can_edit_access(caller, room);
    if share.is_group {
        let mut m = share_row(share.access, 2, false, false, editable, (false, false, false, false));
        let g = st.group(&share.subject).map_or_else(
            || json!({"id": share.subject, "name": "Deleted group"}),
            |g| group_summary(st, g),
        );
        m.insert("sharedToGroup".into(), g);
        Value::Object(m)
    } else {
        let mut m = share_row(share.access, 0, false, own, editable, (false, false, false, false));
        m.insert("sharedToUser".into(), employee_full_by_id(st, &share.subject));
        Value::Object(m)
    }
}

/// `FileShareLink`.
pub fn share_link(link: &Link) -> Value {
    let now = Utc::now();
    compact(json!({
        "id": link.id,
        "title": link.title,
        "shareLink": link.url,
        "expirationDate": link.expiration.as_ref().map(time::format),
        "linkType": match link.kind { LinkKind::Invitation => 0, LinkKind::External => 1 },
        "password": link.password,
        "denyDownload": link.deny_download,
        "isExpired": link.expiration.is_some_and(|e| e < now),
        "primary": link.primary,
        "internal": link.internal,
        "requestToken": crate::model::short_token(&link.id),
    }))
}

/// A link row. Links are never `canEditAccess`; `canRevoke` means "can be
/// rotated" (Public primary link, FillingForms links).
pub fn link_row(st: &State, room: &Room, link: &Link, caller: &str) -> Value {
    let editable = st.can_edit_access(caller, room);
    let external = link.kind == LinkKind::External;
    let flags = (
        editable && external && !matches!(room.kind, RoomKind::Vdr | RoomKind::Public),
        editable && external,
        editable && room.kind != RoomKind::FillingForms,
        (room.kind == RoomKind::Public && link.primary) || room.kind == RoomKind::FillingForms,
    );
    let mut m = share_row(link.access, link.subject_type(), false, false, false, flags);
    m.insert("sharedLink".into(), share_link(link));
    Value::Object(m)
}

/// `FileOperationDto`. The spec spells the type field `Operation`; some
/// server builds write `operationType`, so both are sent.
pub fn file_op(op: &FileOp) -> Value {
    let progress = if op.finished {
        100
    } else {
        (op.polls * 100).checked_div(op.polls_needed).unwrap_or(0).min(99)
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

/// `TaskProgressResponseDto`.
pub fn task(t: &ReassignTask) -> Value {
    compact(json!({
        "id": t.id,
        "error": t.error,
        "percentage": t.percentage,
        "isCompleted": t.is_completed(),
        "status": t.status,
    }))
}

/// `AuditEventDto`.
pub fn audit(st: &State, e: &AuditEvent) -> Value {
    let user = st.any_user(&e.user_id).map_or_else(|| "Unknown".to_string(), User::display_name);
    let mut entries = Vec::new();
    if e.entry_type != 0 {
        entries.push(e.entry_type);
    }
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
    let members: Option<Vec<Value>> = include_members.then(|| {
        g.members
            .iter()
            .filter_map(|m| st.user(m))
            .map(|u| employee_full(st, u))
            .collect()
    });
    compact(json!({
        "id": g.id,
        "name": g.name,
        "category": "00000000-0000-0000-0000-000000000000",
        "isLDAP": false,
        "isSystem": false,
        "manager": g.manager.as_deref().and_then(|m| st.user(m)).map(|u| employee_full(st, u)),
        "members": members,
        "membersCount": g.members.iter().filter(|m| st.user(m).is_some()).count(),
    }))
}
