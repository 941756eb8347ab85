//! Classification of share rows: who or what a row of `GET rooms/{id}/share`
//! grants access to. Pure, and the one place that knows the signals
//! (API-NOTES §5): `sharedToUser.isVisitor` for guests, `subjectType` 1/4
//! for external links, `isOwner` for the synthetic owner row, `isLocked`
//! for the key user's own row.

use crate::api::wire::{FileShare, GroupSummary, LinkType, ShareLink, ShareRow, SubjectType, User};

/// What a share row is.
#[derive(Debug, Clone)]
pub enum RowClass<'a> {
    /// The synthetic owner row; never touched.
    Owner(&'a User),
    /// The key user's own row; never touched.
    KeyUser(&'a User),
    Guest(&'a User),
    /// A regular (non-guest) user.
    Member(&'a User),
    /// A user row that does not say whether the user is a guest.
    UnclassifiedUser(&'a User),
    Group(&'a GroupSummary),
    ExternalLink(&'a ShareLink),
    InvitationLink(&'a ShareLink),
    /// A row this build cannot read (unknown subject type, missing subject).
    Unknown(String),
}

pub fn classify(row: &ShareRow) -> RowClass<'_> {
    match (row.subject_type, row) {
        (
            Some(SubjectType::User) | None,
            ShareRow {
                shared_to_user: Some(user),
                ..
            },
        ) => {
            if row.is_owner {
                RowClass::Owner(user)
            } else if row.is_locked {
                RowClass::KeyUser(user)
            } else {
                match user.is_visitor {
                    Some(true) => RowClass::Guest(user),
                    Some(false) => RowClass::Member(user),
                    None => RowClass::UnclassifiedUser(user),
                }
            }
        }
        (
            Some(SubjectType::Group) | None,
            ShareRow {
                shared_to_group: Some(group),
                ..
            },
        ) => RowClass::Group(group),
        (
            Some(SubjectType::ExternalLink | SubjectType::PrimaryExternalLink),
            ShareRow {
                shared_link: Some(link),
                ..
            },
        ) => RowClass::ExternalLink(link),
        (
            Some(SubjectType::InvitationLink),
            ShareRow {
                shared_link: Some(link),
                ..
            },
        ) => RowClass::InvitationLink(link),
        (
            None,
            ShareRow {
                shared_link: Some(link),
                ..
            },
        ) => match link.link_type {
            Some(LinkType::External) => RowClass::ExternalLink(link),
            Some(LinkType::Invitation) => RowClass::InvitationLink(link),
            _ => RowClass::Unknown("link row without subject type or link type".into()),
        },
        (Some(t), _) => RowClass::Unknown(format!(
            "share row with subject type {} and no matching subject",
            t.name()
        )),
        (None, _) => RowClass::Unknown("share row without subject type or subject".into()),
    }
}

/// The access of a row as a report word.
pub fn access_label(row: &ShareRow) -> Option<String> {
    row.access.map(FileShare::label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> ShareRow {
        serde_json::from_str(json).unwrap()
    }

    const GUEST: &str = r#"{"access":2,"subjectType":0,"isOwner":false,"isLocked":false,"canEditAccess":true,
        "canRevoke":false,"canEditInternal":true,"canEditDenyDownload":false,"canEditExpirationDate":true,
        "sharedToUser":{"id":"b1d5c3a0-0000-4000-8000-000000000001","displayName":"Ann Guest","email":"ann@partner.example",
        "status":1,"activationStatus":1,"isVisitor":true,"isCollaborator":false,"isAdmin":false,"isRoomAdmin":false,"isOwner":false}}"#;

    #[test]
    fn classifies_real_shaped_rows() {
        let table: Vec<(&str, &str)> = vec![
            (GUEST, "guest"),
            (
                r#"{"access":10,"subjectType":0,"isOwner":false,"isLocked":false,"canEditAccess":true,
                   "sharedToUser":{"id":"b1d5c3a0-0000-4000-8000-000000000002","displayName":"Bob","isVisitor":false,"isCollaborator":true}}"#,
                "member",
            ),
            (
                r#"{"access":1,"subjectType":0,"isOwner":true,"isLocked":false,"canEditAccess":false,
                   "sharedToUser":{"id":"b1d5c3a0-0000-4000-8000-000000000003","displayName":"Owner","isVisitor":false}}"#,
                "owner",
            ),
            (
                r#"{"access":9,"subjectType":0,"isOwner":false,"isLocked":true,"canEditAccess":false,
                   "sharedToUser":{"id":"b1d5c3a0-0000-4000-8000-000000000004","displayName":"Auditor","isAdmin":true,"isVisitor":false}}"#,
                "key-user",
            ),
            (
                r#"{"access":2,"subjectType":2,"isOwner":false,"isLocked":false,"canEditAccess":true,
                   "sharedToGroup":{"id":"b1d5c3a0-0000-4000-8000-000000000005","name":"HR","manager":null}}"#,
                "group",
            ),
            (
                r#"{"access":2,"subjectType":1,"isOwner":false,"isLocked":false,"canEditAccess":false,
                   "sharedLink":{"id":"7f1c0000-0000-4000-8000-000000000006","title":"Client link","shareLink":"https://p/s/x",
                   "linkType":1,"primary":false,"internal":false,"isExpired":false,"password":"hunter2"}}"#,
                "external-link",
            ),
            (
                r#"{"access":2,"subjectType":4,"isOwner":false,"isLocked":false,"canEditAccess":false,
                   "sharedLink":{"id":"7f1c0000-0000-4000-8000-000000000007","title":"Shared link","linkType":1,"primary":true}}"#,
                "external-link",
            ),
            (
                r#"{"access":2,"subjectType":3,"isOwner":false,"isLocked":false,"canEditAccess":false,
                   "sharedLink":{"id":"7f1c0000-0000-4000-8000-000000000008","title":"Invite","linkType":0,"primary":false,"maxUseCount":5}}"#,
                "invitation-link",
            ),
            (
                r#"{"access":2,"subjectType":0,"isOwner":false,"isLocked":false,"canEditAccess":true,
                   "sharedToUser":{"id":"b1d5c3a0-0000-4000-8000-000000000009","displayName":"Who"}}"#,
                "unclassified",
            ),
            (
                r#"{"access":2,"subjectType":77,"isOwner":false,"isLocked":false,"canEditAccess":true,"somethingNew":{"x":1}}"#,
                "unknown",
            ),
            (
                r#"{"access":99,"subjectType":0,"isOwner":false}"#,
                "unknown",
            ),
        ];
        for (json, expected) in table {
            let r = row(json);
            let got = match classify(&r) {
                RowClass::Owner(_) => "owner",
                RowClass::KeyUser(_) => "key-user",
                RowClass::Guest(_) => "guest",
                RowClass::Member(_) => "member",
                RowClass::UnclassifiedUser(_) => "unclassified",
                RowClass::Group(_) => "group",
                RowClass::ExternalLink(_) => "external-link",
                RowClass::InvitationLink(_) => "invitation-link",
                RowClass::Unknown(_) => "unknown",
            };
            assert_eq!(got, expected, "row {json}");
        }
    }

    #[test]
    fn unknown_access_value_does_not_fail_the_row() {
        let r = row(
            r#"{"access":42,"subjectType":0,"sharedToUser":{"id":"b1d5c3a0-0000-4000-8000-000000000001","isVisitor":true}}"#,
        );
        assert_eq!(access_label(&r).as_deref(), Some("unknown(42)"));
        assert!(matches!(classify(&r), RowClass::Guest(_)));
    }
}
