//! `disabled-user-content`: a disabled (Terminated) user who still owns
//! content. Two sources, because `reassign/necessary` ignores the Archive
//! (API-NOTES §0.6, §14.11): the portal's answer for active rooms and shared
//! content, and the archived rooms the user owns. Either one is a finding;
//! the fix is a reassignment to the archive owner.
//!
//! Pure: the scan reads, this decides.

use chrono::{DateTime, Utc};

use crate::api::UserId;
use crate::api::wire::{EmployeeType, Room, User};
use crate::check::{CheckId, Fix, Proposal};
use crate::finding::{Finding, FindingStatus, Severity};

/// At most this many archived room titles in the detail.
const MAX_TITLES: usize = 5;

/// What the scan learnt about one disabled user.
#[derive(Debug)]
pub struct ContentFacts<'a> {
    pub user: &'a User,
    /// `reassign/necessary`. `None`: not asked, because the user is a
    /// DocSpace admin and only the portal owner may ask about one.
    pub necessary: Option<bool>,
    pub archived_owned: &'a [Room],
    pub key_is_owner: bool,
}

/// The finding for one disabled user, if there is one.
pub fn proposal(
    facts: &ContentFacts<'_>,
    archive_owner: Option<&UserId>,
    grace_since: Option<DateTime<Utc>>,
) -> Option<Proposal> {
    let user = facts.user;
    let archived = facts.archived_owned;
    let mut parts = Vec::new();
    match facts.necessary {
        Some(true) => parts.push(
            "still owns or belongs to active rooms, or has shared content (reassign/necessary is true)".to_string(),
        ),
        Some(false) if archived.is_empty() => return None,
        Some(false) => {}
        None => parts.push(
            "disabled DocSpace admin: whether they own active rooms or shared content cannot be checked with this API key (only the portal owner may ask)".to_string(),
        ),
    }
    if !archived.is_empty() {
        let mut titles: Vec<String> = archived
            .iter()
            .take(MAX_TITLES)
            .map(|r| format!("{} ({})", r.title(), r.id))
            .collect();
        if archived.len() > MAX_TITLES {
            titles.push(format!("and {} more", archived.len() - MAX_TITLES));
        }
        parts.push(format!(
            "owns {} archived room{} (not counted by reassign/necessary): {}",
            archived.len(),
            if archived.len() == 1 { "" } else { "s" },
            titles.join(", ")
        ));
    }
    let severity = match facts.necessary {
        Some(true) => Severity::High,
        _ => Severity::Medium,
    };
    let is_admin = user.employee_type() == Some(EmployeeType::DocSpaceAdmin);
    let unfixable = if is_admin && !facts.key_is_owner {
        Some("a disabled DocSpace admin's content can only be reassigned by the portal owner; the API key's user is not the owner".to_string())
    } else if archive_owner.is_none() {
        Some("archive.owner_id is not configured".to_string())
    } else if archive_owner == Some(&user.id) {
        Some(
            "the disabled user is the configured archive owner; choose another archive.owner_id"
                .to_string(),
        )
    } else {
        None
    };
    let fix = match (&unfixable, archive_owner) {
        (None, Some(to)) => Some(Fix::Reassign {
            from: user.id.clone(),
            to: to.clone(),
        }),
        _ => None,
    };
    Some(Proposal {
        finding: Finding {
            check: CheckId::DisabledUserContent,
            severity,
            room: None,
            subject: super::user_subject(user),
            access: None,
            status: FindingStatus::Open,
            detail: parts.join("; "),
        },
        fix,
        unfixable_reason: unfixable,
        subject_user: Some(user.id.clone()),
        subject_group: None,
        grace_since,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Guid;

    const U: &str = "d0000000-0000-4000-8000-000000000001";
    const ARCHIVE: &str = "d0000000-0000-4000-8000-000000000002";

    fn user(admin: bool) -> User {
        serde_json::from_value(serde_json::json!({
            "id": U, "displayName": "Dora", "status": 2, "isAdmin": admin, "isVisitor": false,
            "terminated": "2026-04-01T09:00:00.0000000+02:00"
        }))
        .unwrap()
    }

    fn room(id: i64) -> Room {
        serde_json::from_value(
            serde_json::json!({"id": id, "title": format!("Old {id}"), "rootFolderType": 20}),
        )
        .unwrap()
    }

    #[test]
    fn content_table() {
        let owner = Guid::new(ARCHIVE);
        let regular = user(false);
        let admin = user(true);
        let one = [room(7)];
        let many: Vec<Room> = (1..=7).map(room).collect();
        struct Case<'a> {
            name: &'a str,
            user: &'a User,
            necessary: Option<bool>,
            archived: &'a [Room],
            key_is_owner: bool,
            archive_owner: Option<&'a Guid>,
            finding: bool,
            fixable: bool,
            needle: &'a str,
        }
        #[rustfmt::skip]
        let table = [
            Case { name: "nothing owned", user: &regular, necessary: Some(false), archived: &[], key_is_owner: false, archive_owner: Some(&owner), finding: false, fixable: false, needle: "" },
            Case { name: "active content", user: &regular, necessary: Some(true), archived: &[], key_is_owner: false, archive_owner: Some(&owner), finding: true, fixable: true, needle: "reassign/necessary is true" },
            Case { name: "only an archived room", user: &regular, necessary: Some(false), archived: &one, key_is_owner: false, archive_owner: Some(&owner), finding: true, fixable: true, needle: "owns 1 archived room" },
            Case { name: "many archived rooms", user: &regular, necessary: Some(true), archived: &many, key_is_owner: false, archive_owner: Some(&owner), finding: true, fixable: true, needle: "and 2 more" },
            Case { name: "admin, key not owner, nothing archived", user: &admin, necessary: None, archived: &[], key_is_owner: false, archive_owner: Some(&owner), finding: true, fixable: false, needle: "only the portal owner may ask" },
            Case { name: "admin, key is owner", user: &admin, necessary: Some(true), archived: &[], key_is_owner: true, archive_owner: Some(&owner), finding: true, fixable: true, needle: "reassign/necessary" },
            Case { name: "no archive owner", user: &regular, necessary: Some(true), archived: &[], key_is_owner: false, archive_owner: None, finding: true, fixable: false, needle: "reassign/necessary" },
        ];
        for Case {
            name,
            user: u,
            necessary,
            archived,
            key_is_owner,
            archive_owner,
            finding,
            fixable,
            needle,
        } in table
        {
            let facts = ContentFacts {
                user: u,
                necessary,
                archived_owned: archived,
                key_is_owner,
            };
            let p = proposal(&facts, archive_owner, None);
            assert_eq!(p.is_some(), finding, "{name}");
            if let Some(p) = p {
                assert_eq!(p.fix.is_some(), fixable, "{name}: {:?}", p.unfixable_reason);
                assert_eq!(p.unfixable_reason.is_none(), fixable, "{name}");
                assert!(
                    p.finding.detail.contains(needle),
                    "{name}: {}",
                    p.finding.detail
                );
                if let Some(Fix::Reassign { from, to }) = &p.fix {
                    assert_eq!(from, &Guid::new(U));
                    assert_eq!(to, &owner);
                }
            }
        }
    }
}
