//! The scenario: everything the fake portal starts with.
//!
//! A `Scenario` is plain data (serde, TOML or JSON) describing users, groups,
//! rooms with their share rows and links, audit events, the API key and the
//! behaviour switches (quota, reassignment outcomes, file-operation speed,
//! faults). It is validated once, before the portal starts, so a typo in a
//! test scenario fails loudly instead of producing a quietly different portal.
//! This module does not serve HTTP and does not hold runtime state.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::faults::Faults;

/// A room id: an integer for native storage, a string (`"sbox-4711"`) for
/// third-party storage rooms (API-NOTES §16).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomId {
    Int(i64),
    Text(String),
}

impl RoomId {
    /// The id as it appears in a URL path.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomId::Int(n) => write!(f, "{n}"),
            RoomId::Text(s) => f.write_str(s),
        }
    }
}

impl From<i64> for RoomId {
    fn from(n: i64) -> RoomId {
        RoomId::Int(n)
    }
}

impl From<&str> for RoomId {
    fn from(s: &str) -> RoomId {
        match s.parse::<i64>() {
            Ok(n) => RoomId::Int(n),
            Err(_) => RoomId::Text(s.to_string()),
        }
    }
}

impl Serialize for RoomId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RoomId::Int(n) => serializer.serialize_i64(*n),
            RoomId::Text(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Int(n) => RoomId::Int(n),
            Raw::Text(s) => RoomId::Text(s),
        })
    }
}

/// The kind of account. Owner and DocSpace admins are "admins" for every
/// permission rule of the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserKind {
    Owner,
    DocspaceAdmin,
    RoomAdmin,
    #[default]
    User,
    Guest,
}

impl UserKind {
    /// `EmployeeType` number (0 All, 1 RoomAdmin, 2 Guest, 3 DocSpaceAdmin, 4 User);
    /// the owner counts as a DocSpace admin.
    pub fn employee_type(self) -> u8 {
        match self {
            UserKind::Owner | UserKind::DocspaceAdmin => 3,
            UserKind::RoomAdmin => 1,
            UserKind::Guest => 2,
            UserKind::User => 4,
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, UserKind::Owner | UserKind::DocspaceAdmin)
    }
}

/// `EmployeeStatus` of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserStatus {
    #[default]
    Active,
    Terminated,
    Pending,
}

impl UserStatus {
    /// The wire number: 1 Active, 2 Terminated, 4 Pending.
    pub fn number(self) -> u8 {
        match self {
            UserStatus::Active => 1,
            UserStatus::Terminated => 2,
            UserStatus::Pending => 4,
        }
    }
}

/// `RoomType` of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoomKind {
    FillingForms,
    Editing,
    #[default]
    Custom,
    Public,
    Vdr,
    Ai,
}

impl RoomKind {
    /// The `RoomType` number: 1, 2, 5, 6, 8, 9.
    pub fn number(self) -> u8 {
        match self {
            RoomKind::FillingForms => 1,
            RoomKind::Editing => 2,
            RoomKind::Custom => 5,
            RoomKind::Public => 6,
            RoomKind::Vdr => 8,
            RoomKind::Ai => 9,
        }
    }

    /// The `FolderType` the server writes as the room's `type`.
    pub fn folder_type(self) -> u8 {
        match self {
            RoomKind::FillingForms => 15,
            RoomKind::Editing => 16,
            RoomKind::Custom => 19,
            RoomKind::Public => 22,
            RoomKind::Vdr => 29,
            RoomKind::Ai => 31,
        }
    }

    pub fn from_number(n: u8) -> Option<RoomKind> {
        Some(match n {
            1 => RoomKind::FillingForms,
            2 => RoomKind::Editing,
            5 => RoomKind::Custom,
            6 => RoomKind::Public,
            8 => RoomKind::Vdr,
            9 => RoomKind::Ai,
            _ => return None,
        })
    }

    /// Access values a user row may get (`FileSecurity.AvailableRoomAccesses`,
    /// API-NOTES §6). The AI room is not in the notes' table; it is given the
    /// Editing room's list.
    pub fn user_accesses(self) -> &'static [u8] {
        match self {
            RoomKind::Custom => &[9, 11, 10, 5, 6, 2, 0],
            RoomKind::Public => &[9, 11, 0],
            RoomKind::FillingForms => &[9, 11, 7, 0],
            RoomKind::Editing | RoomKind::Ai => &[9, 11, 10, 2, 0],
            RoomKind::Vdr => &[9, 11, 10, 2, 7, 0],
        }
    }

    /// Access values a group row may get: the user list without RoomManager.
    pub fn group_accesses(self) -> Vec<u8> {
        self.user_accesses()
            .iter()
            .copied()
            .filter(|a| *a != 9)
            .collect()
    }
}

/// External (shareable) or invitation link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    #[default]
    External,
    Invitation,
}

/// What a reassignment of a user's data does when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReassignBehaviour {
    /// Advances through the configured steps to 100 % and applies the change.
    #[default]
    Complete,
    /// Fails half way with status 4 and an `error` message.
    Fail,
    /// Never gets past the last step before 100 %.
    Stick,
}

/// One account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// A GUID.
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(rename = "type", default)]
    pub kind: UserKind,
    #[serde(default)]
    pub status: UserStatus,
    /// The `terminated` date; the server sets it only through
    /// `PUT people/{id}` with `disable`, so it may be missing on disabled users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<DateTime<Utc>>,
    /// For guests: the user who invited them (their guest list holds the guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
    /// For guests: further users whose guest lists hold this guest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guest_of: Vec<String>,
}

impl UserSpec {
    pub fn new(
        id: &str,
        first_name: &str,
        last_name: &str,
        email: &str,
        kind: UserKind,
    ) -> UserSpec {
        UserSpec {
            id: id.to_string(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            email: email.to_string(),
            kind,
            status: UserStatus::Active,
            terminated: None,
            registered: None,
            invited_by: None,
            guest_of: Vec::new(),
        }
    }

    /// Marks the account Terminated, optionally with a `terminated` date.
    pub fn terminated(mut self, at: Option<DateTime<Utc>>) -> UserSpec {
        self.status = UserStatus::Terminated;
        self.terminated = at;
        self
    }

    pub fn invited_by(mut self, inviter: &str) -> UserSpec {
        self.invited_by = Some(inviter.to_string());
        self
    }
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// One share row of a room: a user or group id with an access level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSpec {
    /// A user or group id.
    pub subject: String,
    /// `FileShare` number (2 Read, 9 RoomManager, …).
    pub access: u8,
    /// Who granted it; defaults to the room owner. `DELETE people/guests`
    /// only revokes rows the caller granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by: Option<String>,
}

/// One link of a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// A GUID (the `linkId`).
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub kind: LinkKind,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub deny_download: bool,
    /// The share URL; generated from the portal address when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `FileShare` the link grants; 2 (Read) by default.
    #[serde(default = "read_access")]
    pub access: u8,
}

fn read_access() -> u8 {
    2
}

impl LinkSpec {
    pub fn external(id: &str, title: &str) -> LinkSpec {
        LinkSpec {
            id: id.to_string(),
            title: title.to_string(),
            kind: LinkKind::External,
            primary: false,
            internal: false,
            expiration: None,
            password: None,
            deny_download: false,
            url: None,
            access: 2,
        }
    }
}

/// A room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSpec {
    pub id: RoomId,
    pub title: String,
    #[serde(rename = "type", default)]
    pub kind: RoomKind,
    /// The owner (`createdBy`).
    pub owner: String,
    #[serde(default)]
    pub archived: bool,
    pub created: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    #[serde(default)]
    pub shares: Vec<ShareSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default)]
    pub files_count: u32,
    #[serde(default)]
    pub folders_count: u32,
}

impl RoomSpec {
    pub fn new(
        id: impl Into<RoomId>,
        title: &str,
        kind: RoomKind,
        owner: &str,
        created: DateTime<Utc>,
    ) -> RoomSpec {
        RoomSpec {
            id: id.into(),
            title: title.to_string(),
            kind,
            owner: owner.to_string(),
            archived: false,
            created,
            updated: None,
            shares: Vec::new(),
            links: Vec::new(),
            files_count: 0,
            folders_count: 0,
        }
    }

    pub fn archived(mut self) -> RoomSpec {
        self.archived = true;
        self
    }

    pub fn share(mut self, subject: &str, access: u8) -> RoomSpec {
        self.shares.push(ShareSpec {
            subject: subject.to_string(),
            access,
            granted_by: None,
        });
        self
    }

    pub fn share_granted_by(mut self, subject: &str, access: u8, granted_by: &str) -> RoomSpec {
        self.shares.push(ShareSpec {
            subject: subject.to_string(),
            access,
            granted_by: Some(granted_by.to_string()),
        });
        self
    }

    pub fn link(mut self, link: LinkSpec) -> RoomSpec {
        self.links.push(link);
        self
    }
}

/// An audit event present at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEventSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub date: DateTime<Utc>,
    pub user_id: String,
    /// `MessageAction` number (4020 UsersUpdatedStatus, 5072 RoomArchived, …).
    pub action_id: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default)]
    pub target: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<u8>,
    /// `EntryType` number (23 User, 25 Room, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<u8>,
    /// `LocationType` number (27 Rooms, 30 Contacts, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<u8>,
}

/// Everything the fake portal starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The id of the user who created the API key; requests act as this user.
    pub key_user: String,
    /// The API key (`sk-` + 64 hex).
    #[serde(default = "default_token")]
    pub token: String,
    /// Whether the tariff has the Audit feature; without it the audit
    /// endpoint returns the last 20 events unfiltered (API-NOTES §12).
    #[serde(default = "yes")]
    pub audit_feature: bool,
    /// The room-count quota: unarchiving when this many rooms are active
    /// answers 402.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_quota: Option<usize>,
    /// How many `GET files/fileops` polls an archive/unarchive takes to finish.
    #[serde(default = "default_fileops_polls")]
    pub fileops_polls: u32,
    /// If set, an archive/unarchive also finishes on its own after this many
    /// milliseconds, polled or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fileops_after_ms: Option<u64>,
    /// The percentages a reassignment reports on successive progress polls.
    #[serde(default = "default_reassign_steps")]
    pub reassign_steps: Vec<u8>,
    /// Per from-user outcome of a reassignment; `complete` when not listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reassign: BTreeMap<String, ReassignBehaviour>,
    /// Id of the Rooms root folder (rootFolderType 14).
    #[serde(default = "default_rooms_folder")]
    pub rooms_folder_id: i64,
    /// Id of the Archive root folder (rootFolderType 20).
    #[serde(default = "default_archive_folder")]
    pub archive_folder_id: i64,
    /// Seed for ids the portal makes up at runtime (links, operations).
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub rooms: Vec<RoomSpec>,
    #[serde(default)]
    pub audit_events: Vec<AuditEventSpec>,
}

fn yes() -> bool {
    true
}

pub(crate) const DEFAULT_TOKEN: &str =
    "sk-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn default_token() -> String {
    DEFAULT_TOKEN.to_string()
}

fn default_fileops_polls() -> u32 {
    2
}

fn default_reassign_steps() -> Vec<u8> {
    vec![10, 50, 70, 100]
}

fn default_rooms_folder() -> i64 {
    1
}

fn default_archive_folder() -> i64 {
    2
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("scenario is inconsistent:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

impl Scenario {
    /// An empty portal with one key user.
    pub fn new(key_user: UserSpec) -> Scenario {
        Scenario {
            key_user: key_user.id.clone(),
            token: default_token(),
            audit_feature: true,
            room_quota: None,
            fileops_polls: default_fileops_polls(),
            fileops_after_ms: None,
            reassign_steps: default_reassign_steps(),
            reassign: BTreeMap::new(),
            rooms_folder_id: default_rooms_folder(),
            archive_folder_id: default_archive_folder(),
            seed: 0,
            faults: Faults::default(),
            users: vec![key_user],
            groups: Vec::new(),
            rooms: Vec::new(),
            audit_events: Vec::new(),
        }
    }

    pub fn from_toml_str(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            origin: "toml".to_string(),
            message: e.to_string(),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn from_json_str(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| ScenarioError::Parse {
            origin: "json".to_string(),
            message: e.to_string(),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Loads a `.json` file as JSON and anything else as TOML.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if is_json {
            Scenario::from_json_str(&text)
        } else {
            Scenario::from_toml_str(&text)
        };
        parsed.map_err(|e| match e {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse {
                origin: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    pub fn to_json_string(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks cross references; lists every problem, not only the first.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let mut problems = Vec::new();
        let mut user_ids = HashSet::new();
        for u in &self.users {
            if !user_ids.insert(u.id.as_str()) {
                problems.push(format!("users: duplicate id {}", u.id));
            }
        }
        let mut group_ids = HashSet::new();
        for g in &self.groups {
            if !group_ids.insert(g.id.as_str()) || user_ids.contains(g.id.as_str()) {
                problems.push(format!("groups: duplicate id {}", g.id));
            }
            for m in &g.members {
                if !user_ids.contains(m.as_str()) {
                    problems.push(format!("groups.{}: unknown member {m}", g.id));
                }
            }
            if let Some(m) = &g.manager
                && !user_ids.contains(m.as_str())
            {
                problems.push(format!("groups.{}: unknown manager {m}", g.id));
            }
        }
        if !user_ids.contains(self.key_user.as_str()) {
            problems.push(format!("key_user: unknown user {}", self.key_user));
        }
        if self
            .users
            .iter()
            .filter(|u| u.kind == UserKind::Owner)
            .count()
            > 1
        {
            problems.push("users: more than one owner".to_string());
        }
        for u in &self.users {
            for inviter in u.invited_by.iter().chain(u.guest_of.iter()) {
                if !user_ids.contains(inviter.as_str()) {
                    problems.push(format!("users.{}: unknown inviter {inviter}", u.id));
                }
            }
        }
        let mut room_ids = HashSet::new();
        let mut link_ids = HashSet::new();
        for r in &self.rooms {
            let key = r.id.key();
            if !room_ids.insert(key.clone())
                || key == self.rooms_folder_id.to_string()
                || key == self.archive_folder_id.to_string()
            {
                problems.push(format!("rooms: duplicate id {key}"));
            }
            if !user_ids.contains(r.owner.as_str()) {
                problems.push(format!("rooms.{key}: unknown owner {}", r.owner));
            }
            let mut subjects = HashSet::new();
            for s in &r.shares {
                if !user_ids.contains(s.subject.as_str()) && !group_ids.contains(s.subject.as_str())
                {
                    problems.push(format!("rooms.{key}.shares: unknown subject {}", s.subject));
                }
                if !subjects.insert(s.subject.as_str()) {
                    problems.push(format!(
                        "rooms.{key}.shares: duplicate subject {}",
                        s.subject
                    ));
                }
                if s.access == 0 || s.access > 11 {
                    problems.push(format!(
                        "rooms.{key}.shares.{}: access {} out of 1..=11",
                        s.subject, s.access
                    ));
                }
                if let Some(g) = &s.granted_by
                    && !user_ids.contains(g.as_str())
                {
                    problems.push(format!(
                        "rooms.{key}.shares.{}: unknown granted_by {g}",
                        s.subject
                    ));
                }
            }
            for l in &r.links {
                if !link_ids.insert(l.id.as_str()) {
                    problems.push(format!("rooms.{key}.links: duplicate id {}", l.id));
                }
            }
            if r.links.iter().filter(|l| l.primary).count() > 1 {
                problems.push(format!("rooms.{key}.links: more than one primary link"));
            }
        }
        for u in self.reassign.keys() {
            if !user_ids.contains(u.as_str()) {
                problems.push(format!("reassign: unknown user {u}"));
            }
        }
        if self.reassign_steps.is_empty() || self.reassign_steps.last() != Some(&100) {
            problems.push("reassign_steps: must end with 100".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ScenarioError::Invalid(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip() {
        let text = r#"
key_user = "00000000-0000-0000-0000-0000000000a1"
room_quota = 10

[[users]]
id = "00000000-0000-0000-0000-0000000000a1"
first_name = "Ada"
last_name = "Admin"
email = "ada@example.com"
type = "owner"

[[users]]
id = "00000000-0000-0000-0000-0000000000b2"
first_name = "Gus"
last_name = "Guest"
email = "gus@partner.example"
type = "guest"
invited_by = "00000000-0000-0000-0000-0000000000a1"

[[rooms]]
id = 42
title = "Client X"
type = "custom"
owner = "00000000-0000-0000-0000-0000000000a1"
archived = true
created = "2026-01-01T00:00:00Z"
shares = [{ subject = "00000000-0000-0000-0000-0000000000b2", access = 2 }]
links = [{ id = "00000000-0000-0000-0000-00000000c001", title = "Shared link", primary = true }]

[[rooms]]
id = "sbox-4711"
title = "Dropbox room"
owner = "00000000-0000-0000-0000-0000000000a1"
created = "2026-01-01T00:00:00Z"
"#;
        let s = Scenario::from_toml_str(text).unwrap();
        assert_eq!(s.rooms[0].id, RoomId::Int(42));
        assert_eq!(s.rooms[1].id, RoomId::Text("sbox-4711".into()));
        assert_eq!(s.rooms[0].links[0].access, 2);
        assert_eq!(s.fileops_polls, 2);
        let again = Scenario::from_json_str(&s.to_json_string()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn all_problems_are_listed() {
        let mut s = Scenario::new(UserSpec::new("a", "A", "A", "a@x", UserKind::Owner));
        s.key_user = "nobody".into();
        s.rooms
            .push(RoomSpec::new(1, "r", RoomKind::Custom, "ghost", Utc::now()).share("x", 0));
        let Err(ScenarioError::Invalid(problems)) = s.validate() else {
            panic!("expected invalid");
        };
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Scenario::from_toml_str("key_user = \"a\"\nkey_usr = \"b\"\n").unwrap_err();
        assert!(err.to_string().contains("key_usr"), "{err}");
    }
}
