//! Read-only snapshots of the portal for test assertions.
//!
//! `PortalView` is a copy taken under the lock, so a test can look at it at
//! leisure while the portal keeps serving. It exposes the portal in plain
//! Rust types (ids as strings, access as `FileShare` numbers), never the
//! wire JSON.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::State;
use crate::scenario::{LinkKind, RoomKind, UserKind, UserStatus};

/// One request as the portal received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The path without the query (`/api/2.0/files/rooms/42/share`).
    pub path: String,
    /// The raw query string, without `?` (empty when none).
    pub query: String,
    /// The raw body as text.
    pub body: String,
    /// The route template (`/api/2.0/files/rooms/{id}/share`), or the path
    /// itself for unknown routes.
    pub template: String,
}

impl RecordedRequest {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What kind of e-mail the portal "sent".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmailKind {
    /// "Room moved to archive", sent to every member on archiving
    /// (API-NOTES §13).
    RoomMovedToArchive,
}

/// An e-mail the real portal would have sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentEmail {
    pub to_user_id: String,
    pub kind: EmailKind,
    pub room_id: String,
}

/// A link of a room.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkView {
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

/// A room.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomView {
    pub id: String,
    pub title: String,
    pub kind: RoomKind,
    pub owner_id: String,
    pub archived: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Share rows: (subject id, access), in the order the portal keeps them.
    pub members: Vec<(String, u8)>,
    /// Who granted each share row, by subject id.
    pub granted_by: BTreeMap<String, String>,
    pub links: Vec<LinkView>,
}

/// A user (deleted users are not in the view).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserView {
    pub id: String,
    pub display_name: String,
    pub email: String,
    pub kind: UserKind,
    pub status: UserStatus,
    pub terminated: Option<DateTime<Utc>>,
    pub groups: Vec<String>,
}

/// A reassignment task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReassignView {
    pub from_user_id: String,
    pub to_user_id: String,
    pub percentage: u8,
    /// `DistributedTaskStatus`: 1 Running, 2 Completed, 3 Canceled, 4 Failed.
    pub status: u8,
}

/// An audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditView {
    pub id: i64,
    pub date: DateTime<Utc>,
    pub user_id: String,
    pub action_id: i32,
    pub target: Vec<String>,
}

/// A snapshot of the whole portal.
#[derive(Debug, Clone)]
pub struct PortalView {
    rooms: Vec<RoomView>,
    room_index: HashMap<String, usize>,
    users: HashMap<String, UserView>,
    relations: Vec<(String, String)>,
    reassigns: HashMap<String, ReassignView>,
    audit: Vec<AuditView>,
    emails: Vec<SentEmail>,
    total_requests: u64,
    by_template: BTreeMap<(String, String), u64>,
    link_endpoint_calls: usize,
    primary_link_creations: usize,
}

impl PortalView {
    pub(crate) fn of(state: &State) -> PortalView {
        let rooms: Vec<RoomView> = state
            .rooms
            .iter()
            .map(|r| RoomView {
                id: r.id.key(),
                title: r.title.clone(),
                kind: r.kind,
                owner_id: r.owner.clone(),
                archived: r.archived,
                created: r.created,
                updated: r.updated,
                members: r
                    .shares
                    .iter()
                    .map(|s| (s.subject.clone(), s.access))
                    .collect(),
                granted_by: r
                    .shares
                    .iter()
                    .map(|s| (s.subject.clone(), s.granted_by.clone()))
                    .collect(),
                links: r
                    .links
                    .iter()
                    .map(|l| LinkView {
                        id: l.id.clone(),
                        title: l.title.clone(),
                        kind: l.kind,
                        primary: l.primary,
                        internal: l.internal,
                        expiration: l.expiration,
                        password: l.password.clone(),
                        deny_download: l.deny_download,
                        url: l.url.clone(),
                        access: l.access,
                    })
                    .collect(),
            })
            .collect();
        let room_index = rooms
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let users = state
            .users
            .iter()
            .filter(|u| !u.deleted)
            .map(|u| {
                let view = UserView {
                    id: u.id.clone(),
                    display_name: u.display_name(),
                    email: u.email.clone(),
                    kind: u.kind,
                    status: u.status,
                    terminated: u.terminated,
                    groups: state.groups_of(&u.id).map(|g| g.id.clone()).collect(),
                };
                (u.id.clone(), view)
            })
            .collect();
        let mut relations: Vec<_> = state.relations.iter().cloned().collect();
        relations.sort();
        PortalView {
            rooms,
            room_index,
            users,
            relations,
            reassigns: state
                .reassigns
                .values()
                .map(|t| {
                    let view = ReassignView {
                        from_user_id: t.from.clone(),
                        to_user_id: t.to.clone(),
                        percentage: t.percentage,
                        status: t.status,
                    };
                    (t.from.clone(), view)
                })
                .collect(),
            audit: state
                .audit
                .iter()
                .map(|e| AuditView {
                    id: e.id,
                    date: e.date,
                    user_id: e.user_id.clone(),
                    action_id: e.action_id,
                    target: e.target.clone(),
                })
                .collect(),
            emails: state.emails.clone(),
            total_requests: state.counters.total,
            by_template: state.counters.by_template.clone(),
            link_endpoint_calls: state.counters.link_endpoint_calls,
            primary_link_creations: state.counters.primary_link_creations,
        }
    }

    pub fn room(&self, id: &str) -> Option<RoomView> {
        self.room_index.get(id).map(|&i| self.rooms[i].clone())
    }

    pub fn rooms(&self) -> &[RoomView] {
        &self.rooms
    }

    /// Share rows of a room as (subject id, access); empty for unknown rooms.
    pub fn room_members(&self, id: &str) -> Vec<(String, u8)> {
        self.room_index
            .get(id)
            .map(|&i| self.rooms[i].members.clone())
            .unwrap_or_default()
    }

    pub fn room_links(&self, id: &str) -> Vec<LinkView> {
        self.room_index
            .get(id)
            .map(|&i| self.rooms[i].links.clone())
            .unwrap_or_default()
    }

    pub fn user(&self, id: &str) -> Option<UserView> {
        self.users.get(id).cloned()
    }

    pub fn is_archived(&self, id: &str) -> bool {
        self.room_index
            .get(id)
            .is_some_and(|&i| self.rooms[i].archived)
    }

    /// How many primary links `GET rooms/{id}/link` created.
    pub fn primary_link_creations(&self) -> usize {
        self.primary_link_creations
    }

    /// How many times `GET rooms/{id}/link` was called at all.
    pub fn primary_link_calls(&self) -> usize {
        self.link_endpoint_calls
    }

    /// Whether `inviter`'s guest list holds `guest`.
    pub fn has_guest_relation(&self, inviter: &str, guest: &str) -> bool {
        self.relations
            .iter()
            .any(|(a, b)| a == inviter && b == guest)
    }

    pub fn reassignment(&self, from_user_id: &str) -> Option<ReassignView> {
        self.reassigns.get(from_user_id).cloned()
    }

    pub fn audit_events(&self) -> &[AuditView] {
        &self.audit
    }

    pub fn emails(&self) -> &[SentEmail] {
        &self.emails
    }

    pub fn total_requests(&self) -> u64 {
        self.total_requests
    }

    /// Requests seen for one method and route template, e.g.
    /// `("GET", "/api/2.0/files/rooms/{id}/share")`.
    pub fn request_count(&self, method: &str, template: &str) -> u64 {
        self.by_template
            .get(&(method.to_string(), template.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// All (method, template) → count pairs.
    pub fn request_counts(&self) -> &BTreeMap<(String, String), u64> {
        &self.by_template
    }
}
