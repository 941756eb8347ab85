//! Checks decide: each turns portal data into findings and proposes the fix
//! for each. They do not call the API and do not apply policy; the audit run
//! feeds them data and the policy decides what happens to each proposal.
//!
//! Adding a check means one file here and one line in [`CheckId`].

pub mod archive_access_drift;
pub mod archived_room_guests;
pub mod archived_room_links;
pub mod classify;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::wire::LinkRevocation;
use crate::api::{GroupId, RoomId, UserId};
use crate::finding::{Finding, RoomState};

/// Every check the tool knows, with the stable name used in config, reports
/// and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    ArchivedRoomGuests,
    ArchivedRoomLinks,
    DisabledUserContent,
    ArchiveAccessDrift,
    OrphanedGuests,
    DisabledUserAccess,
    /// Not a check: the finding written when a room could not be audited.
    RoomAudit,
}

impl CheckId {
    /// The checks an operator can configure, in report order.
    pub const ALL: [CheckId; 6] = [
        CheckId::ArchivedRoomGuests,
        CheckId::ArchivedRoomLinks,
        CheckId::DisabledUserContent,
        CheckId::ArchiveAccessDrift,
        CheckId::OrphanedGuests,
        CheckId::DisabledUserAccess,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CheckId::ArchivedRoomGuests => "archived-room-guests",
            CheckId::ArchivedRoomLinks => "archived-room-links",
            CheckId::DisabledUserContent => "disabled-user-content",
            CheckId::ArchiveAccessDrift => "archive-access-drift",
            CheckId::OrphanedGuests => "orphaned-guests",
            CheckId::DisabledUserAccess => "disabled-user-access",
            CheckId::RoomAudit => "room-audit",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            CheckId::ArchivedRoomGuests => {
                "guest members still in the share of archived rooms and designated archive rooms"
            }
            CheckId::ArchivedRoomLinks => {
                "external (public) links still present on archived rooms (dormant) and designated archive rooms (live)"
            }
            CheckId::DisabledUserContent => {
                "disabled users who still own content that was never reassigned"
            }
            CheckId::ArchiveAccessDrift => {
                "archive rooms whose members differ from the archive rules (archive owner, optional HR group, nobody else)"
            }
            CheckId::OrphanedGuests => "guest accounts with no access to any active room",
            CheckId::DisabledUserAccess => "disabled users still members of active rooms",
            CheckId::RoomAudit => "a room or user that could not be audited",
        }
    }

    pub fn parse(name: &str) -> Option<CheckId> {
        CheckId::ALL
            .into_iter()
            .chain([CheckId::RoomAudit])
            .find(|c| c.name() == name)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CheckId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown check {s:?}")))
    }
}

/// The change that would resolve a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    /// Remove a user or group from a room (invitation with access 0).
    RemoveMember { room: RoomId, subject: String },
    /// Revoke an external link, echoing its current settings.
    RevokeLink {
        room: RoomId,
        revocation: LinkRevocation,
    },
    /// Add a user or group to a room with an access level.
    AddMember {
        room: RoomId,
        subject: String,
        access: crate::api::wire::FileShare,
    },
    /// Reassign a disabled user's content to the archive owner.
    Reassign { from: UserId, to: UserId },
    /// Detach a guest from the key user's guest list.
    DetachGuest { user: UserId },
    /// Disable, then delete, a guest account portal-wide.
    DeleteGuest { user: UserId },
}

impl Fix {
    /// The room the fix touches, if any.
    pub fn room(&self) -> Option<&RoomId> {
        match self {
            Fix::RemoveMember { room, .. }
            | Fix::RevokeLink { room, .. }
            | Fix::AddMember { room, .. } => Some(room),
            _ => None,
        }
    }

    /// The action word used in `actions.csv`.
    pub fn action_name(&self) -> &'static str {
        match self {
            Fix::RemoveMember { .. } => "remove-member",
            Fix::RevokeLink { .. } => "revoke-link",
            Fix::AddMember { .. } => "add-member",
            Fix::Reassign { .. } => "reassign-start",
            Fix::DetachGuest { .. } => "detach-guest",
            Fix::DeleteGuest { .. } => "delete-guest",
        }
    }
}

/// A finding as a check proposes it, before policy: its fix (if it can be
/// fixed) and the subject ids and emails exemptions are matched against.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub finding: Finding,
    pub fix: Option<Fix>,
    /// When the fix is impossible, why (owner row, not editable, …).
    pub unfixable_reason: Option<String>,
    /// The user or group id exemptions match (links have none).
    pub subject_user: Option<UserId>,
    pub subject_group: Option<GroupId>,
    /// When the grace period started, when the check knows better than the
    /// room (a user's disable date). `None`: the run decides.
    pub grace_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Proposal {
    pub fn room_state(&self) -> Option<RoomState> {
        self.finding.room.as_ref().map(|r| r.state)
    }
}

/// What the room checks know besides the room: the archive rules.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// The archive owner (room manager of every archive room).
    pub archive_owner: Option<UserId>,
    /// The optional HR group with read access to archive rooms.
    pub hr_group: Option<GroupId>,
    /// The API key's user (never touched).
    pub key_user: Option<UserId>,
}

/// A room check: reads one room's snapshot, proposes findings.
pub type RoomCheck = fn(&RoomSnapshot, &CheckContext) -> Vec<Proposal>;

/// What the audit read about one room: the input of the room checks.
#[derive(Debug, Clone)]
pub struct RoomSnapshot {
    pub info: crate::finding::RoomInfo,
    /// Users and groups (`filterType=0`), the owner's synthetic row included.
    pub members: Vec<crate::api::wire::ShareRow>,
    /// External links (`filterType=2`).
    pub links: Vec<crate::api::wire::ShareRow>,
    /// Whether the key's user may change access right now (false for every
    /// archived room; API-NOTES §0.1).
    pub can_edit_access: bool,
    pub room_type: Option<crate::api::wire::RoomType>,
    /// Listed in `archive.designated_rooms` (also when it sits in the
    /// Archive section): the archive rules apply to it in full.
    pub designated: bool,
}
