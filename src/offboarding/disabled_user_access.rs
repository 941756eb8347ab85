//! `disabled-user-access` (report by default): a disabled user who is still
//! a direct member of an active room (`files/rooms?searchArea=0&subjectId=`,
//! which also returns the rooms the user created). One finding per room.
//!
//! - Rooms the user *owns* are reported too, without a fix: the owner row
//!   cannot be removed; ownership moves with the reassignment of
//!   `disabled-user-content`.
//! - Designated archive rooms are reported without a fix while
//!   `archive-access-drift` is on: that check removes the same member, and
//!   one subject in one room is fixed by one check.
//! - Otherwise the fix removes the member (access 0, room-level, applied and
//!   read back by the room remediator).
//!
//! Pure.

use chrono::{DateTime, Utc};

use crate::api::RoomId;
use crate::api::wire::{Room, User};
use crate::check::{CheckId, Fix, Proposal};
use crate::finding::{Finding, FindingStatus, RoomInfo, RoomState, Severity};

pub fn proposals(
    user: &User,
    rooms: &[Room],
    designated: &[RoomId],
    drift_on: bool,
    grace_since: Option<DateTime<Utc>>,
) -> Vec<Proposal> {
    let mut out = Vec::new();
    for room in rooms.iter().filter(|r| !r.is_archived()) {
        let owned = room.owner_id() == Some(&user.id);
        let is_designated = designated.contains(&room.id);
        let (detail, unfixable) = if owned {
            (
                "disabled user still owns this active room".to_string(),
                Some("the user owns the room; ownership moves with the reassignment (disabled-user-content)".to_string()),
            )
        } else if is_designated && drift_on {
            (
                "disabled user is still a direct member of a designated archive room".to_string(),
                Some(
                    "a designated archive room: archive-access-drift removes this member"
                        .to_string(),
                ),
            )
        } else {
            (
                "disabled user is still a direct member of this active room".to_string(),
                None,
            )
        };
        out.push(Proposal {
            finding: Finding {
                check: CheckId::DisabledUserAccess,
                severity: Severity::Medium,
                room: Some(RoomInfo {
                    id: room.id.clone(),
                    title: room.title().to_string(),
                    state: if is_designated {
                        RoomState::ActiveArchive
                    } else {
                        RoomState::Active
                    },
                    owner_id: room.owner_id().cloned(),
                    owner_name: room
                        .created_by
                        .as_ref()
                        .and_then(|c| c.display_name.clone()),
                    owner_email: None,
                    owner_active: owned.then_some(false),
                    archived_since: None,
                }),
                subject: super::user_subject(user),
                access: None,
                status: FindingStatus::Open,
                detail,
            },
            fix: unfixable.is_none().then(|| Fix::RemoveMember {
                room: room.id.clone(),
                subject: user.id.to_string(),
            }),
            unfixable_reason: unfixable,
            subject_user: Some(user.id.clone()),
            subject_group: None,
            grace_since,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "e0000000-0000-4000-8000-000000000001";
    const OTHER: &str = "e0000000-0000-4000-8000-000000000002";

    fn room(id: i64, owner: &str, archived: bool) -> Room {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": format!("R{id}"), "rootFolderType": if archived { 20 } else { 14 },
            "createdBy": {"id": owner, "displayName": "Someone"}
        }))
        .unwrap()
    }

    #[test]
    fn access_table() {
        let user: User =
            serde_json::from_value(serde_json::json!({"id": U, "status": 2, "displayName": "Dan"}))
                .unwrap();
        let rooms = [
            room(1, OTHER, false),
            room(2, U, false),
            room(3, OTHER, false),
            room(4, OTHER, true),
        ];
        let designated = [RoomId::Native(3)];
        let got: Vec<(String, bool, Option<RoomState>)> =
            proposals(&user, &rooms, &designated, true, None)
                .into_iter()
                .map(|p| {
                    (
                        p.finding
                            .room
                            .as_ref()
                            .map(|r| r.id.to_string())
                            .unwrap_or_default(),
                        p.fix.is_some(),
                        p.room_state(),
                    )
                })
                .collect();
        assert_eq!(
            got,
            [
                ("1".to_string(), true, Some(RoomState::Active)),
                ("2".to_string(), false, Some(RoomState::Active)),
                ("3".to_string(), false, Some(RoomState::ActiveArchive)),
            ]
        );
        // Without the drift check, the designated room is fixed here.
        let fixable: Vec<bool> = proposals(&user, &rooms, &designated, false, None)
            .iter()
            .map(|p| p.fix.is_some())
            .collect();
        assert_eq!(fixable, [true, false, true]);
    }
}
