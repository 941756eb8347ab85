//! The portal's runtime state and the rules that read it.
//!
//! Everything lives in one `State` behind a mutex in the server; every write
//! endpoint changes it, so the next read sees the change. Rooms and users are
//! indexed by id so a portal of tens of thousands of rooms answers each call
//! in constant time. This module holds data and permission predicates; it
//! does not know about HTTP or JSON shapes (see `render` and `endpoints`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::faults::FaultState;
use crate::scenario::{
    LinkKind, ReassignBehaviour, RoomId, RoomKind, Scenario, UserKind, UserStatus,
};
use crate::view::{RecordedRequest, SentEmail};

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub kind: UserKind,
    pub status: UserStatus,
    pub terminated: Option<DateTime<Utc>>,
    pub registered: DateTime<Utc>,
    /// Deleted users stay in the list so rooms they created still render.
    pub deleted: bool,
}

impl User {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    pub fn user_name(&self) -> String {
        self.email.split('@').next().unwrap_or_default().to_string()
    }

    pub fn is_admin(&self) -> bool {
        self.kind.is_admin()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub manager: Option<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Share {
    pub subject: String,
    pub is_group: bool,
    pub access: u8,
    pub granted_by: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub id: String,
    pub title: String,
    pub kind: LinkKind,
    pub primary: bool,
    pub internal: bool,
    pub expiration: Option<DateTime<Utc>>,
    pub password: Option<String>,
    pub deny_download: bool,
    pub url: String,
    pub access: u8,
}

impl Link {
    /// `SubjectType`: 4 primary external, 1 additional external, 3 invitation.
    pub fn subject_type(&self) -> u8 {
        match (self.kind, self.primary) {
            (LinkKind::Invitation, _) => 3,
            (LinkKind::External, true) => 4,
            (LinkKind::External, false) => 1,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Room {
    pub id: RoomId,
    pub title: String,
    pub kind: RoomKind,
    pub owner: String,
    pub archived: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub updated_by: String,
    pub shares: Vec<Share>,
    pub links: Vec<Link>,
    pub files_count: u32,
    pub folders_count: u32,
}

impl Room {
    pub fn share_of(&self, subject: &str) -> Option<&Share> {
        self.shares.iter().find(|s| s.subject == subject)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Archive,
    Unarchive,
}

#[derive(Debug, Clone)]
pub(crate) struct FileOp {
    pub id: String,
    pub kind: OpKind,
    pub room: String,
    pub polls: u32,
    pub polls_needed: u32,
    pub started: Instant,
    pub finished: bool,
    pub error: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ReassignTask {
    pub id: String,
    pub from: String,
    pub to: String,
    pub delete_profile: bool,
    /// Index into the steps; `None` before the first poll (0 %).
    pub step: Option<usize>,
    pub percentage: u8,
    /// `DistributedTaskStatus`: 1 Running, 2 Completed, 3 Canceled, 4 Failed.
    pub status: u8,
    pub error: Option<String>,
    pub behaviour: ReassignBehaviour,
}

impl ReassignTask {
    pub fn is_completed(&self) -> bool {
        self.status >= 2
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AuditEvent {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub user_id: String,
    pub action_id: i32,
    pub action: String,
    pub target: Vec<String>,
    pub action_type: u8,
    pub entry_type: u8,
    pub location: u8,
}

/// Request counters, kept apart from portal data so snapshots are cheap to
/// reason about.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub total: u64,
    pub by_template: BTreeMap<(String, String), u64>,
    pub requests: Vec<RecordedRequest>,
    pub link_endpoint_calls: usize,
    pub primary_link_creations: usize,
}

pub(crate) struct State {
    pub base_url: String,
    pub token: String,
    pub key_user: String,
    pub audit_feature: bool,
    pub room_quota: Option<usize>,
    pub fileops_polls: u32,
    pub fileops_after_ms: Option<u64>,
    pub reassign_steps: Vec<u8>,
    pub reassign_behaviour: HashMap<String, ReassignBehaviour>,
    pub rooms_folder_id: i64,
    pub archive_folder_id: i64,
    pub portal_created: DateTime<Utc>,

    pub users: Vec<User>,
    pub user_index: HashMap<String, usize>,
    pub groups: Vec<Group>,
    pub group_index: HashMap<String, usize>,
    /// user id → indices into `groups`; share rows render each user's
    /// groups, and scanning every group per row is quadratic.
    pub user_groups: HashMap<String, Vec<usize>>,
    pub rooms: Vec<Room>,
    pub room_index: HashMap<String, usize>,
    /// (inviter, guest): the inviter's guest list holds the guest.
    pub relations: HashSet<(String, String)>,
    pub audit: Vec<AuditEvent>,
    pub next_audit_id: i64,
    pub ops: Vec<FileOp>,
    pub reassigns: HashMap<String, ReassignTask>,
    pub emails: Vec<SentEmail>,
    pub counters: Counters,
    pub faults: FaultState,
    /// Ids made up at runtime (links, operations) come from here.
    pub rng: fastrand::Rng,
}

impl State {
    pub fn new(scenario: Scenario, base_url: String) -> State {
        let now = Utc::now();
        let mut users = Vec::with_capacity(scenario.users.len());
        let mut user_index = HashMap::with_capacity(scenario.users.len());
        let mut relations = HashSet::new();
        for u in &scenario.users {
            user_index.insert(u.id.clone(), users.len());
            users.push(User {
                id: u.id.clone(),
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                email: u.email.clone(),
                kind: u.kind,
                status: u.status,
                terminated: u.terminated.map(crate::time::to_ticks),
                registered: crate::time::to_ticks(u.registered.unwrap_or(now)),
                deleted: false,
            });
            for inviter in u.invited_by.iter().chain(u.guest_of.iter()) {
                relations.insert((inviter.clone(), u.id.clone()));
            }
        }
        let mut groups = Vec::new();
        let mut group_index = HashMap::new();
        let mut user_groups: HashMap<String, Vec<usize>> = HashMap::new();
        for g in &scenario.groups {
            for m in &g.members {
                let list = user_groups.entry(m.clone()).or_default();
                if !list.contains(&groups.len()) {
                    list.push(groups.len());
                }
            }
            group_index.insert(g.id.clone(), groups.len());
            groups.push(Group {
                id: g.id.clone(),
                name: g.name.clone(),
                manager: g.manager.clone(),
                members: g.members.clone(),
            });
        }
        let mut rooms = Vec::with_capacity(scenario.rooms.len());
        let mut room_index = HashMap::with_capacity(scenario.rooms.len());
        for r in &scenario.rooms {
            let created = crate::time::to_ticks(r.created);
            let shares = r
                .shares
                .iter()
                .map(|s| Share {
                    subject: s.subject.clone(),
                    is_group: group_index.contains_key(&s.subject),
                    access: s.access,
                    granted_by: s.granted_by.clone().unwrap_or_else(|| r.owner.clone()),
                })
                .collect();
            let links = r
                .links
                .iter()
                .map(|l| Link {
                    id: l.id.clone(),
                    title: l.title.clone(),
                    kind: l.kind,
                    primary: l.primary,
                    internal: l.internal,
                    expiration: l.expiration.map(crate::time::to_ticks),
                    password: l.password.clone(),
                    deny_download: l.deny_download,
                    url: l
                        .url
                        .clone()
                        .unwrap_or_else(|| format!("{base_url}/s/{}", short_token(&l.id))),
                    access: l.access,
                })
                .collect();
            room_index.insert(r.id.key(), rooms.len());
            rooms.push(Room {
                id: r.id.clone(),
                title: r.title.clone(),
                kind: r.kind,
                owner: r.owner.clone(),
                archived: r.archived,
                created,
                updated: crate::time::to_ticks(r.updated.unwrap_or(r.created)).max(created),
                updated_by: r.owner.clone(),
                shares,
                links,
                files_count: r.files_count,
                folders_count: r.folders_count,
            });
        }
        let mut audit: Vec<AuditEvent> = Vec::with_capacity(scenario.audit_events.len());
        let mut next_audit_id = 1;
        for e in &scenario.audit_events {
            let id = e.id.unwrap_or(next_audit_id);
            next_audit_id = next_audit_id.max(id + 1);
            let (default_text, default_type, default_entry, default_location) =
                action_defaults(e.action_id);
            audit.push(AuditEvent {
                id,
                date: crate::time::to_ticks(e.date),
                user_id: e.user_id.clone(),
                action_id: e.action_id,
                action: e.action.clone().unwrap_or_else(|| default_text.to_string()),
                target: e.target.clone(),
                action_type: e.action_type.unwrap_or(default_type),
                entry_type: e.entry_type.unwrap_or(default_entry),
                location: e.location.unwrap_or(default_location),
            });
        }
        let portal_created = users.iter().map(|u| u.registered).min().unwrap_or(now);
        State {
            base_url,
            token: scenario.token,
            key_user: scenario.key_user,
            audit_feature: scenario.audit_feature,
            room_quota: scenario.room_quota,
            fileops_polls: scenario.fileops_polls,
            fileops_after_ms: scenario.fileops_after_ms,
            reassign_steps: scenario.reassign_steps,
            reassign_behaviour: scenario.reassign.into_iter().collect(),
            rooms_folder_id: scenario.rooms_folder_id,
            archive_folder_id: scenario.archive_folder_id,
            portal_created,
            users,
            user_index,
            groups,
            group_index,
            user_groups,
            rooms,
            room_index,
            relations,
            audit,
            next_audit_id,
            ops: Vec::new(),
            reassigns: HashMap::new(),
            emails: Vec::new(),
            counters: Counters::default(),
            faults: FaultState::new(scenario.faults),
            rng: fastrand::Rng::with_seed(scenario.seed ^ 0x5eed_f00d),
        }
    }

    /// A live (not deleted) user.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.user_index
            .get(id)
            .map(|&i| &self.users[i])
            .filter(|u| !u.deleted)
    }

    /// Any user, deleted ones included (for rendering `createdBy`).
    pub fn any_user(&self, id: &str) -> Option<&User> {
        self.user_index.get(id).map(|&i| &self.users[i])
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        match self.user_index.get(id) {
            Some(&i) if !self.users[i].deleted => Some(&mut self.users[i]),
            _ => None,
        }
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.group_index.get(id).map(|&i| &self.groups[i])
    }

    pub fn room(&self, key: &str) -> Option<&Room> {
        self.room_index.get(key).map(|&i| &self.rooms[i])
    }

    pub fn room_mut(&mut self, key: &str) -> Option<&mut Room> {
        match self.room_index.get(key) {
            Some(&i) => Some(&mut self.rooms[i]),
            None => None,
        }
    }

    pub fn groups_of(&self, user: &str) -> impl Iterator<Item = &Group> {
        self.user_groups
            .get(user)
            .into_iter()
            .flatten()
            .map(|&i| &self.groups[i])
    }

    fn in_group(&self, user: &str, group: &str) -> bool {
        match (self.user_groups.get(user), self.group_index.get(group)) {
            (Some(list), Some(g)) => list.contains(g),
            _ => false,
        }
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.user(user).is_some_and(User::is_admin)
    }

    pub fn is_owner(&self, user: &str) -> bool {
        self.user(user).is_some_and(|u| u.kind == UserKind::Owner)
    }

    /// Whether `user` may see the room at all: admins see every room
    /// (API-NOTES §0.8), others the rooms they own or are shared into,
    /// directly or through a group.
    pub fn can_see_room(&self, user: &str, room: &Room) -> bool {
        if self.is_admin(user) || room.owner == user {
            return true;
        }
        room.shares
            .iter()
            .any(|s| s.subject == user || (s.is_group && self.in_group(user, &s.subject)))
    }

    /// Whether `user` manages the room, leaving the archive rule aside.
    pub fn manages_room(&self, user: &str, room: &Room) -> bool {
        self.is_admin(user)
            || room.owner == user
            || room.share_of(user).is_some_and(|s| s.access == 9)
    }

    /// `security.EditAccess`: false for every archived room, even for the
    /// owner (API-NOTES §0.1).
    pub fn can_edit_access(&self, user: &str, room: &Room) -> bool {
        !room.archived && self.manages_room(user, room)
    }

    /// A GUID-shaped id from the runtime generator.
    pub fn new_guid(&mut self) -> String {
        guid(&mut self.rng)
    }

    /// Records an audit event made by the fake itself.
    pub fn log(&mut self, user: &str, action_id: i32, target: Vec<String>) {
        let (text, action_type, entry_type, location) = action_defaults(action_id);
        let id = self.next_audit_id;
        self.next_audit_id += 1;
        self.audit.push(AuditEvent {
            id,
            date: crate::time::to_ticks(Utc::now()),
            user_id: user.to_string(),
            action_id,
            action: text.to_string(),
            target,
            action_type,
            entry_type,
            location,
        });
    }

    /// Removes every share row of `user` in every room, archived rooms
    /// included, as `PUT people/delete` does (API-NOTES §8).
    pub fn remove_user_everywhere(&mut self, user: &str) {
        for room in &mut self.rooms {
            room.shares.retain(|s| s.subject != user);
        }
        for group in &mut self.groups {
            group.members.retain(|m| m != user);
        }
        self.user_groups.remove(user);
        self.relations.retain(|(a, b)| a != user && b != user);
        if let Some(u) = self.user_index.get(user).copied() {
            self.users[u].deleted = true;
        }
    }

    pub fn active_room_count(&self) -> usize {
        self.rooms.iter().filter(|r| !r.archived).count()
    }
}

/// A GUID-shaped id from a generator.
pub(crate) fn guid(rng: &mut fastrand::Rng) -> String {
    let a = rng.u64(..);
    let b = rng.u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// The short token in a share URL, derived from the link id.
pub(crate) fn short_token(link_id: &str) -> String {
    link_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect()
}

/// Default text, `ActionType`, `EntryType` and `LocationType` of the
/// `MessageAction` values the fake knows.
pub(crate) fn action_defaults(action_id: i32) -> (&'static str, u8, u8, u8) {
    match action_id {
        4006 => ("User updated", 2, 23, 30),
        4018 => ("User deleted", 3, 23, 30),
        4020 => ("Users updated status", 2, 23, 30),
        4022 => ("Users deleted", 3, 23, 30),
        4030 => ("User data reassigned", 16, 23, 30),
        5070 => ("Room created", 1, 25, 27),
        5072 => ("Room archived", 15, 25, 27),
        5073 => ("Room unarchived", 15, 25, 27),
        5074 => ("Room deleted", 3, 25, 27),
        5075 => ("Room access updated for user", 11, 25, 27),
        5084 => ("User removed from room", 5, 25, 27),
        5085 => ("User added to room", 4, 25, 27),
        5087 => ("Room invitation link deleted", 3, 25, 27),
        5088 => ("Room external link created", 1, 25, 27),
        5089 => ("Room external link updated", 2, 25, 27),
        5090 => ("Room external link deleted", 3, 25, 27),
        5094 => ("Group added to room", 4, 25, 27),
        5095 => ("Room access updated for group", 11, 25, 27),
        5096 => ("Group removed from room", 5, 25, 27),
        5097 => ("Room external link revoked", 3, 25, 27),
        1000 => ("Login success", 0, 0, 0),
        _ => ("Event", 0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_look_like_guids() {
        let mut rng = fastrand::Rng::with_seed(1);
        let g = guid(&mut rng);
        let parts: Vec<_> = g.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{g}");
        assert!(g.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
