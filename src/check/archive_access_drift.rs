//! `archive-access-drift`: archive rooms must be shared with the archive
//! owner (room manager, 9) and, when configured, one HR group (read, 2), and
//! with nobody else apart from the room owner's row and the API key's own
//! row. Every extra user or group and every missing or wrong-access required
//! member is a finding.
//!
//! Scope and hand-offs, so one subject in one room is fixed by one check:
//! - guests are left to `archived-room-guests`, which reports every guest in
//!   these rooms; drift never proposes a second removal for them;
//! - links are left to `archived-room-links`;
//! - rows this build cannot read are reported by `archived-room-guests`.
//!
//! Designated archive rooms (active) get fixes. Rooms in the Archive section
//! are checked in report mode only: the check cannot tell an archived
//! designated room from any other archived room, and the rule "owner + HR
//! and nobody else" applied as a fix to every archived project room would
//! strip its former members in an unarchive/re-archive transaction that also
//! e-mails them all.
//!
//! Pure: it reads the snapshot and the archive rules, nothing else.

use super::classify::{RowClass, access_label, classify};
use super::{CheckContext, CheckId, Fix, Proposal, RoomSnapshot};
use crate::api::wire::{FileShare, RoomType, ShareRow};
use crate::api::{GroupId, UserId};
use crate::finding::{Finding, FindingStatus, RoomState, Severity, Subject, SubjectKind};

/// Why Archive-section rooms get no fix (see the module docs).
pub const ARCHIVED_REPORT_ONLY: &str =
    "rooms in the Archive that are not designated archive rooms are checked in report mode";

pub fn check(room: &RoomSnapshot, ctx: &CheckContext) -> Vec<Proposal> {
    if room.info.state == RoomState::Active {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut owner_seen = false;
    let mut hr_seen = false;

    for row in &room.members {
        match classify(row) {
            RowClass::Owner(user) => {
                // The room owner has every right already; if that is the
                // archive owner, the requirement holds.
                if is(ctx.archive_owner.as_ref(), &user.id) {
                    owner_seen = true;
                }
            }
            RowClass::KeyUser(user) => {
                if is(ctx.archive_owner.as_ref(), &user.id) {
                    owner_seen = true;
                    if row.access != Some(FileShare::RoomManager) {
                        out.push(wrong_access_owner(
                            room,
                            row,
                            &user.id,
                            user.name(),
                            user.email.clone(),
                            Some("it is the API key's own row, which the key cannot change".into()),
                        ));
                    }
                }
            }
            RowClass::Member(user) | RowClass::UnclassifiedUser(user) => {
                if is(ctx.archive_owner.as_ref(), &user.id) {
                    owner_seen = true;
                    if row.access != Some(FileShare::RoomManager) {
                        out.push(wrong_access_owner(
                            room,
                            row,
                            &user.id,
                            user.name(),
                            user.email.clone(),
                            None,
                        ));
                    }
                } else if is(ctx.key_user.as_ref(), &user.id) {
                    // The key's own row, even when the portal did not mark it
                    // locked: allowed.
                } else {
                    out.push(extra_member(
                        room,
                        row,
                        SubjectKind::User,
                        user.id.clone(),
                        user.name(),
                        user.email.clone(),
                    ));
                }
            }
            RowClass::Group(group) => {
                let name = group.name.clone().unwrap_or_default();
                if is(ctx.hr_group.as_ref(), &group.id) {
                    hr_seen = true;
                    if row.access != Some(FileShare::Read) {
                        out.push(required(
                            room,
                            Requirement::HrGroup(group.id.clone()),
                            name,
                            access_label(row),
                            format!(
                                "HR group has {} access; archive rooms need read",
                                access_label(row).unwrap_or_else(|| "unknown".into())
                            ),
                        ));
                    }
                } else {
                    out.push(extra_member(
                        room,
                        row,
                        SubjectKind::Group,
                        group.id.clone(),
                        name,
                        None,
                    ));
                }
            }
            // Guests: archived-room-guests. Links: archived-room-links.
            // Unreadable rows: reported by archived-room-guests.
            RowClass::Guest(_)
            | RowClass::ExternalLink(_)
            | RowClass::InvitationLink(_)
            | RowClass::Unknown(_) => {}
        }
    }

    if let Some(owner) = &ctx.archive_owner
        && !owner_seen
    {
        out.push(required(
            room,
            Requirement::ArchiveOwner(owner.clone()),
            "archive owner".into(),
            None,
            "the archive owner is not a member; archive rooms need them as room manager".into(),
        ));
    }
    if let Some(group) = &ctx.hr_group
        && !hr_seen
    {
        out.push(required(
            room,
            Requirement::HrGroup(group.clone()),
            "HR group".into(),
            None,
            "the HR group is not a member; archive rooms need it with read access".into(),
        ));
    }
    out
}

fn is(wanted: Option<&UserId>, id: &UserId) -> bool {
    wanted.is_some_and(|w| w == id)
}

/// What the rules require of an archive room.
enum Requirement {
    ArchiveOwner(UserId),
    HrGroup(GroupId),
}

/// Why a fix cannot be proposed in this room, if it cannot.
fn unfixable(room: &RoomSnapshot, requirement: Option<&Requirement>) -> Option<String> {
    // Fixing every archived project room would strip its former members
    // (and each re-archive mails all of them): only rooms the operator
    // designated as archive storage are brought in line; a designated room
    // in the Archive is fixed inside the unarchive/re-archive transaction.
    if room.info.state == RoomState::Archived && !room.designated {
        return Some(ARCHIVED_REPORT_ONLY.into());
    }
    // A public room accepts only content-creator (11) or none for groups
    // (API-NOTES §6): read access for the HR group would be refused (403).
    if matches!(requirement, Some(Requirement::HrGroup(_)))
        && room.room_type == Some(RoomType::PublicRoom)
    {
        return Some("public rooms do not accept read access for groups".into());
    }
    None
}

fn extra_member(
    room: &RoomSnapshot,
    row: &ShareRow,
    kind: SubjectKind,
    id: UserId,
    name: String,
    email: Option<String>,
) -> Proposal {
    let mut why = unfixable(room, None);
    if why.is_none() && !row.can_edit_access {
        why = Some("the portal marks this row canEditAccess=false".into());
    }
    let (severity, detail) = match room.info.state {
        RoomState::ActiveArchive => (
            Severity::High,
            format!(
                "{} is not allowed in an archive room (only the archive owner, the HR group and the room owner)",
                kind.as_str()
            ),
        ),
        _ => (
            Severity::Medium,
            format!(
                "{} keeps access to an archived room; archive rules allow only the archive owner, the HR group and the room owner",
                kind.as_str()
            ),
        ),
    };
    let (subject_user, subject_group) = subject_ids(kind, &id);
    Proposal {
        finding: Finding {
            check: CheckId::ArchiveAccessDrift,
            severity,
            room: Some(room.info.clone()),
            subject: Subject {
                kind,
                id: id.to_string(),
                name,
                email,
            },
            access: access_label(row),
            status: FindingStatus::Open,
            detail,
        },
        fix: why.is_none().then(|| Fix::RemoveMember {
            room: room.info.id.clone(),
            subject: id.to_string(),
        }),
        unfixable_reason: why,
        subject_user,
        subject_group,
        grace_since: None,
    }
}

fn wrong_access_owner(
    room: &RoomSnapshot,
    row: &ShareRow,
    id: &UserId,
    name: String,
    email: Option<String>,
    locked: Option<String>,
) -> Proposal {
    let mut p = required(
        room,
        Requirement::ArchiveOwner(id.clone()),
        name,
        access_label(row),
        format!(
            "the archive owner has {} access; archive rooms need room-manager",
            access_label(row).unwrap_or_else(|| "unknown".into())
        ),
    );
    p.finding.subject.email = email;
    if p.unfixable_reason.is_none() {
        let why = locked.or_else(|| {
            (!row.can_edit_access)
                .then(|| "the portal marks this row canEditAccess=false".to_string())
        });
        if why.is_some() {
            p.fix = None;
            p.unfixable_reason = why;
        }
    }
    p
}

/// A required member that is missing or has the wrong access: the fix adds
/// it (or changes its access, which is the same call).
fn required(
    room: &RoomSnapshot,
    requirement: Requirement,
    name: String,
    access: Option<String>,
    detail: String,
) -> Proposal {
    let why = unfixable(room, Some(&requirement));
    let (kind, id, wanted) = match &requirement {
        Requirement::ArchiveOwner(id) => (SubjectKind::User, id.clone(), FileShare::RoomManager),
        Requirement::HrGroup(id) => (SubjectKind::Group, id.clone(), FileShare::Read),
    };
    let severity = match room.info.state {
        RoomState::ActiveArchive => Severity::Medium,
        _ => Severity::Low,
    };
    let (subject_user, subject_group) = subject_ids(kind, &id);
    Proposal {
        finding: Finding {
            check: CheckId::ArchiveAccessDrift,
            severity,
            room: Some(room.info.clone()),
            subject: Subject {
                kind,
                id: id.to_string(),
                name,
                email: None,
            },
            access,
            status: FindingStatus::Open,
            detail,
        },
        fix: why.is_none().then(|| Fix::AddMember {
            room: room.info.id.clone(),
            subject: id.to_string(),
            access: wanted,
        }),
        unfixable_reason: why,
        subject_user,
        subject_group,
        grace_since: None,
    }
}

/// The proposal's subject as a user or as a group, as the remediator acts
/// on each differently.
fn subject_ids(kind: SubjectKind, id: &UserId) -> (Option<UserId>, Option<GroupId>) {
    match kind {
        SubjectKind::Group => (None, Some(id.clone())),
        _ => (Some(id.clone()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Guid, RoomId};
    use crate::finding::RoomInfo;

    const OWNER: &str = "a0000000-0000-4000-8000-000000000001";
    const ARCHIVE: &str = "a0000000-0000-4000-8000-000000000002";
    const HR: &str = "a0000000-0000-4000-8000-000000000003";
    const KEY: &str = "a0000000-0000-4000-8000-000000000004";
    const BOB: &str = "a0000000-0000-4000-8000-000000000005";
    const GUEST: &str = "a0000000-0000-4000-8000-000000000006";
    const SALES: &str = "a0000000-0000-4000-8000-000000000007";

    fn user_row(id: &str, access: i64, extra: &str) -> ShareRow {
        serde_json::from_str(&format!(
            r#"{{"access":{access},"subjectType":0,"canEditAccess":true,{extra}
                "sharedToUser":{{"id":"{id}","displayName":"U {id}","isVisitor":false}}}}"#
        ))
        .unwrap()
    }

    fn owner_row(id: &str) -> ShareRow {
        user_row(id, 1, r#""isOwner":true,"#)
    }

    fn guest_row(id: &str) -> ShareRow {
        serde_json::from_str(&format!(
            r#"{{"access":2,"subjectType":0,"canEditAccess":true,
                "sharedToUser":{{"id":"{id}","displayName":"G","isVisitor":true}}}}"#
        ))
        .unwrap()
    }

    fn group_row(id: &str, access: i64) -> ShareRow {
        serde_json::from_str(&format!(
            r#"{{"access":{access},"subjectType":2,"canEditAccess":true,"sharedToGroup":{{"id":"{id}","name":"G {id}"}}}}"#
        ))
        .unwrap()
    }

    fn snapshot(
        state: RoomState,
        room_type: Option<RoomType>,
        members: Vec<ShareRow>,
    ) -> RoomSnapshot {
        RoomSnapshot {
            info: RoomInfo {
                id: RoomId::Native(42),
                title: "Archive 2025".into(),
                state,
                owner_id: Some(Guid::new(OWNER)),
                owner_name: None,
                owner_email: None,
                owner_active: Some(true),
                archived_since: None,
            },
            members,
            links: Vec::new(),
            can_edit_access: state != RoomState::Archived,
            room_type,
            designated: state == RoomState::ActiveArchive,
        }
    }

    fn ctx(hr: bool) -> CheckContext {
        CheckContext {
            archive_owner: Some(Guid::new(ARCHIVE)),
            hr_group: hr.then(|| Guid::new(HR)),
            key_user: Some(Guid::new(KEY)),
        }
    }

    /// One line per proposal: subject, the fix as text (or `-: reason`).
    fn summary(props: &[Proposal]) -> Vec<String> {
        let mut v: Vec<String> = props
            .iter()
            .map(|p| {
                let fix = match (&p.fix, &p.unfixable_reason) {
                    (Some(Fix::RemoveMember { subject, .. }), _) => format!("remove {subject}"),
                    (
                        Some(Fix::AddMember {
                            subject, access, ..
                        }),
                        _,
                    ) => {
                        format!("add {subject} {}", access.number())
                    }
                    (Some(other), _) => format!("{other:?}"),
                    (None, Some(r)) => format!("-: {r}"),
                    (None, None) => "-".into(),
                };
                format!(
                    "{}:{} {fix}",
                    p.finding.subject.kind.as_str(),
                    p.finding.subject.id
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn drift_table() {
        use RoomState::*;
        let ok_members = || vec![owner_row(OWNER), user_row(ARCHIVE, 9, ""), group_row(HR, 2)];
        let cases: Vec<(&str, RoomSnapshot, bool, Vec<String>)> = vec![
            (
                "compliant room",
                snapshot(ActiveArchive, None, ok_members()),
                true,
                vec![],
            ),
            (
                "compliant without HR configured",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![owner_row(OWNER), user_row(ARCHIVE, 9, "")],
                ),
                false,
                vec![],
            ),
            (
                "one extra user and the HR group missing; owner untouched",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![
                        owner_row(OWNER),
                        user_row(ARCHIVE, 9, ""),
                        user_row(BOB, 10, ""),
                    ],
                ),
                true,
                vec![
                    format!("group:{HR} add {HR} 2"),
                    format!("user:{BOB} remove {BOB}"),
                ],
            ),
            (
                "archive owner with the wrong access, extra group",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![
                        owner_row(OWNER),
                        user_row(ARCHIVE, 2, ""),
                        group_row(HR, 2),
                        group_row(SALES, 11),
                    ],
                ),
                true,
                vec![
                    format!("group:{SALES} remove {SALES}"),
                    format!("user:{ARCHIVE} add {ARCHIVE} 9"),
                ],
            ),
            (
                "HR group with the wrong access",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![
                        owner_row(OWNER),
                        user_row(ARCHIVE, 9, ""),
                        group_row(HR, 11),
                    ],
                ),
                true,
                vec![format!("group:{HR} add {HR} 2")],
            ),
            (
                "archive owner missing",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![owner_row(OWNER), group_row(HR, 2)],
                ),
                true,
                vec![format!("user:{ARCHIVE} add {ARCHIVE} 9")],
            ),
            (
                "archive owner is the room owner",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![owner_row(ARCHIVE), group_row(HR, 2)],
                ),
                true,
                vec![],
            ),
            (
                "key user's row (locked or not) and guests are left alone",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![
                        owner_row(OWNER),
                        user_row(ARCHIVE, 9, ""),
                        group_row(HR, 2),
                        user_row(KEY, 9, r#""isLocked":true,"#),
                        user_row(KEY, 9, ""),
                        guest_row(GUEST),
                    ],
                ),
                true,
                vec![],
            ),
            (
                "archive owner's own locked row with the wrong access is not fixable",
                snapshot(
                    ActiveArchive,
                    None,
                    vec![
                        owner_row(OWNER),
                        user_row(ARCHIVE, 2, r#""isLocked":true,"#),
                        group_row(HR, 2),
                    ],
                ),
                true,
                vec![format!(
                    "user:{ARCHIVE} -: it is the API key's own row, which the key cannot change"
                )],
            ),
            (
                "public room: HR read access cannot be granted",
                snapshot(
                    ActiveArchive,
                    Some(RoomType::PublicRoom),
                    vec![owner_row(OWNER), user_row(ARCHIVE, 9, "")],
                ),
                true,
                vec![format!(
                    "group:{HR} -: public rooms do not accept read access for groups"
                )],
            ),
            (
                "archived room: report only",
                snapshot(
                    Archived,
                    None,
                    vec![owner_row(OWNER), user_row(BOB, 10, "")],
                ),
                true,
                vec![
                    format!("group:{HR} -: {ARCHIVED_REPORT_ONLY}"),
                    format!("user:{ARCHIVE} -: {ARCHIVED_REPORT_ONLY}"),
                    format!("user:{BOB} -: {ARCHIVED_REPORT_ONLY}"),
                ],
            ),
            (
                "designated room in the Archive: fixed in the transaction",
                {
                    let mut s = snapshot(
                        Archived,
                        None,
                        vec![owner_row(OWNER), user_row(BOB, 10, "")],
                    );
                    s.designated = true;
                    s
                },
                true,
                vec![
                    format!("group:{HR} add {HR} 2"),
                    format!("user:{ARCHIVE} add {ARCHIVE} 9"),
                    format!("user:{BOB} remove {BOB}"),
                ],
            ),
            (
                "ordinary active room: not in scope",
                snapshot(Active, None, vec![owner_row(OWNER), user_row(BOB, 10, "")]),
                true,
                vec![],
            ),
        ];
        for (name, room, hr, expected) in cases {
            let got = summary(&check(&room, &ctx(hr)));
            let mut expected = expected;
            expected.sort();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn extra_members_carry_subject_ids_for_exemptions() {
        let room = snapshot(
            RoomState::ActiveArchive,
            None,
            vec![
                owner_row(OWNER),
                user_row(ARCHIVE, 9, ""),
                group_row(SALES, 2),
            ],
        );
        let props = check(&room, &ctx(false));
        assert_eq!(props.len(), 1);
        assert_eq!(props[0].subject_group, Some(Guid::new(SALES)));
        assert_eq!(props[0].subject_user, None);
        assert_eq!(props[0].finding.severity, Severity::High);
        assert_eq!(props[0].finding.access.as_deref(), Some("read"));
    }
}
