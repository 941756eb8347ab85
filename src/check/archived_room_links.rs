//! `archived-room-links`: external links on archived rooms (dormant: the
//! server refuses them while archived, but they revive on unarchive) and on
//! designated archive rooms (live). Only the link id and title are ever
//! reported: the URL and password are credentials.

use super::classify::{RowClass, access_label, classify};
use super::{CheckContext, CheckId, Fix, Proposal, RoomSnapshot};
use crate::api::wire::{LinkRevocation, RoomType};
use crate::finding::{Finding, FindingStatus, RoomState, Severity, Subject, SubjectKind};

pub fn check(room: &RoomSnapshot, _ctx: &CheckContext) -> Vec<Proposal> {
    let mut out = Vec::new();
    for row in room.members.iter().chain(&room.links) {
        let RowClass::ExternalLink(link) = classify(row) else {
            continue;
        };
        if out
            .iter()
            .any(|p: &Proposal| p.finding.subject.id == link.id)
        {
            continue;
        }
        let expired = link.is_expired == Some(true);
        let severity = match (room.info.state, expired) {
            (_, true) => Severity::Low,
            (RoomState::Archived, false) => Severity::Medium,
            (_, false) => Severity::High,
        };
        let mut detail = match room.info.state {
            RoomState::Archived => {
                "dormant external link: it works again if the room is unarchived".to_string()
            }
            _ => "live external link on a designated archive room".to_string(),
        };
        if link.primary {
            detail.push_str("; primary link");
        }
        if link.internal == Some(true) {
            detail.push_str("; portal users only");
        }
        if expired {
            detail.push_str("; expired");
        }
        // Public and form-filling rooms always keep a primary link: revoking
        // it only rotates it (API-NOTES §7), which removes nothing.
        let rotates_only = link.primary
            && matches!(
                room.room_type,
                Some(RoomType::PublicRoom | RoomType::FillingFormsRoom)
            );
        let unfixable = rotates_only.then(|| {
            "primary link of a public or form-filling room: revoking only rotates it".to_string()
        });
        out.push(Proposal {
            finding: Finding {
                check: CheckId::ArchivedRoomLinks,
                severity,
                room: Some(room.info.clone()),
                subject: Subject {
                    kind: SubjectKind::Link,
                    id: link.id.clone(),
                    name: link.title.clone().unwrap_or_default(),
                    email: None,
                },
                access: access_label(row),
                status: FindingStatus::Open,
                detail,
            },
            fix: unfixable.is_none().then(|| Fix::RevokeLink {
                room: room.info.id.clone(),
                revocation: LinkRevocation::for_link(link),
            }),
            unfixable_reason: unfixable,
            subject_user: None,
            subject_group: None,
            grace_since: None,
        });
    }
    out
}
