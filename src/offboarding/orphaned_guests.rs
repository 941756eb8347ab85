//! `orphaned-guests`: an active guest account that is a direct member of no
//! active room (`files/rooms?searchArea=0&subjectId=` counts 0). Guests in
//! archived rooms only are orphans too: they keep read access there, and
//! deleting the account clears those rows. Access through a group or a
//! file-level share in someone's documents is not counted (the endpoint
//! does not cover it; API-NOTES §10).
//!
//! The grace period runs from when the tool first saw the finding (the run
//! decides; no date is set here). The fix follows the policy's `action`.
//!
//! Pure.

use crate::api::wire::User;
use crate::check::{CheckId, Fix, Proposal};
use crate::config::GuestAction;
use crate::finding::{Finding, FindingStatus, Severity};

pub fn proposal(guest: &User, archived_rooms: Option<i64>, action: GuestAction) -> Proposal {
    let mut detail = "guest is a direct member of no active room".to_string();
    match archived_rooms {
        Some(n) if n > 0 => detail.push_str(&format!(
            "; still a member of {n} archived room{}",
            if n == 1 { "" } else { "s" }
        )),
        Some(_) => {}
        None => detail.push_str("; archived rooms not counted"),
    }
    let (fix, what) = match action {
        GuestAction::Detach => (
            Fix::DetachGuest {
                user: guest.id.clone(),
            },
            "policy action detach: removes the guest only from the API key user's guest list and the shares that user granted; the account remains",
        ),
        GuestAction::Delete => (
            Fix::DeleteGuest {
                user: guest.id.clone(),
            },
            "policy action delete: disables, then deletes the account portal-wide (which also clears its rows in archived rooms)",
        ),
    };
    detail.push_str("; ");
    detail.push_str(what);
    Proposal {
        finding: Finding {
            check: CheckId::OrphanedGuests,
            severity: Severity::Low,
            room: None,
            subject: super::user_subject(guest),
            access: None,
            status: FindingStatus::Open,
            detail,
        },
        fix: Some(fix),
        unfixable_reason: None,
        subject_user: Some(guest.id.clone()),
        subject_group: None,
        grace_since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_decides_the_fix_and_the_detail_says_so() {
        let g: User = serde_json::from_value(serde_json::json!({
            "id": "f0000000-0000-4000-8000-000000000001", "status": 1, "isVisitor": true, "email": "g@partner.example"
        }))
        .unwrap();
        let table = [
            (
                GuestAction::Detach,
                Some(0),
                "detach-guest",
                "policy action detach",
            ),
            (
                GuestAction::Delete,
                Some(2),
                "delete-guest",
                "still a member of 2 archived rooms",
            ),
            (
                GuestAction::Delete,
                None,
                "delete-guest",
                "policy action delete",
            ),
        ];
        for (action, archived, name, needle) in table {
            let p = proposal(&g, archived, action);
            assert_eq!(p.fix.as_ref().map(|f| f.action_name()), Some(name));
            assert!(p.finding.detail.contains(needle), "{}", p.finding.detail);
            assert_eq!(
                p.finding.subject.email.as_deref(),
                Some("g@partner.example")
            );
            assert!(p.grace_since.is_none());
        }
    }
}
