//! `archived-room-guests`: guests still in the share of archived rooms and
//! designated archive rooms. Guests keep read access while a room is
//! archived, so this is live exposure in both places.
//!
//! Rows this build cannot classify are reported here too, never assumed to
//! be harmless.

use super::classify::{RowClass, access_label, classify};
use super::{CheckContext, CheckId, Fix, Proposal, RoomSnapshot};
use crate::finding::{Finding, FindingStatus, RoomState, Severity, Subject, SubjectKind};

pub fn check(room: &RoomSnapshot, _ctx: &CheckContext) -> Vec<Proposal> {
    let mut out = Vec::new();
    for row in &room.members {
        let proposal = match classify(row) {
            RowClass::Guest(user) => {
                let severity = match room.info.state {
                    RoomState::ActiveArchive => Severity::Critical,
                    _ => Severity::High,
                };
                // In the Archive every row reads canEditAccess false; whether
                // the row can be changed is decided again after unarchiving.
                let unfixable = if room.info.state != RoomState::Archived && !row.can_edit_access {
                    Some("the portal marks this row canEditAccess=false".to_string())
                } else {
                    None
                };
                let detail = match room.info.state {
                    RoomState::Archived => {
                        "guest keeps read access to the archived room's content".to_string()
                    }
                    _ => "guest has live access to a designated archive room".to_string(),
                };
                Proposal {
                    finding: Finding {
                        check: CheckId::ArchivedRoomGuests,
                        severity,
                        room: Some(room.info.clone()),
                        subject: Subject {
                            kind: SubjectKind::User,
                            id: user.id.to_string(),
                            name: user.name(),
                            email: user.email.clone(),
                        },
                        access: access_label(row),
                        status: FindingStatus::Open,
                        detail,
                    },
                    fix: unfixable.is_none().then(|| Fix::RemoveMember {
                        room: room.info.id.clone(),
                        subject: user.id.to_string(),
                    }),
                    unfixable_reason: unfixable,
                    subject_user: Some(user.id.clone()),
                    subject_group: None,
                grace_since: None,
                }
            }
            RowClass::UnclassifiedUser(user) => Proposal {
                finding: Finding {
                    check: CheckId::ArchivedRoomGuests,
                    severity: Severity::Medium,
                    room: Some(room.info.clone()),
                    subject: Subject {
                        kind: SubjectKind::User,
                        id: user.id.to_string(),
                        name: user.name(),
                        email: user.email.clone(),
                    },
                    access: access_label(row),
                    status: FindingStatus::Open,
                    detail: "cannot tell whether this member is a guest (isVisitor missing); review by hand".into(),
                },
                fix: None,
                unfixable_reason: Some("unclassified member".into()),
                subject_user: Some(user.id.clone()),
                subject_group: None,
                grace_since: None,
            },
            RowClass::Unknown(why) => Proposal {
                finding: Finding {
                    check: CheckId::ArchivedRoomGuests,
                    severity: Severity::Medium,
                    room: Some(room.info.clone()),
                    subject: Subject {
                        kind: SubjectKind::User,
                        id: String::new(),
                        name: "(unreadable share row)".into(),
                        email: None,
                    },
                    access: access_label(row),
                    status: FindingStatus::Open,
                    detail: format!("{why}; review by hand"),
                },
                fix: None,
                unfixable_reason: Some("unclassified share row".into()),
                subject_user: None,
                subject_group: None,
                grace_since: None,
            },
            _ => continue,
        };
        out.push(proposal);
    }
    out
}
