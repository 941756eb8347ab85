//! Policy: turns a check's proposal into a decision — exempt, in grace,
//! report only, planned (dry-run), skipped by the change cap, or approved
//! for remediation. Pure; the audit run supplies the time and the "since"
//! dates.

use chrono::{DateTime, NaiveDate, Utc};

use crate::check::{CheckId, Proposal};
use crate::config::{CheckPolicy, Exemption, ExemptionTarget, Mode};
use crate::finding::FindingStatus;

/// What to do with one proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Final status now, with a note for the detail column.
    Settled {
        status: FindingStatus,
        note: Option<String>,
    },
    /// Dry-run: report as open and record the planned action.
    Planned { note: String },
    /// Go ahead and remediate (the outcome sets the status).
    Remediate { note: Option<String> },
}

/// Counts changes against `max_changes_per_run`.
#[derive(Debug, Clone)]
pub struct ChangeBudget {
    remaining: u32,
}

impl ChangeBudget {
    pub fn new(max: u32) -> ChangeBudget {
        ChangeBudget { remaining: max }
    }

    fn take(&mut self) -> bool {
        if self.remaining == 0 {
            false
        } else {
            self.remaining -= 1;
            true
        }
    }

    pub fn remaining(&self) -> u32 {
        self.remaining
    }
}

/// The exemption that covers a proposal, and notes about expired ones.
pub fn find_exemption<'a>(
    proposal: &Proposal,
    exemptions: &'a [Exemption],
    today: NaiveDate,
) -> (Option<&'a Exemption>, Vec<String>) {
    let mut expired_notes = Vec::new();
    for e in exemptions {
        if !e.checks.is_empty() && !e.checks.contains(&proposal.finding.check) {
            continue;
        }
        if !matches_target(proposal, &e.target) {
            continue;
        }
        match e.expires {
            Some(d) if d < today => expired_notes.push(format!(
                "exemption expired on {d} ({}{}) and no longer applies",
                e.reason,
                e.ticket
                    .as_deref()
                    .map(|t| format!(", ticket {t}"))
                    .unwrap_or_default()
            )),
            _ => return (Some(e), expired_notes),
        }
    }
    (None, expired_notes)
}

fn matches_target(proposal: &Proposal, target: &ExemptionTarget) -> bool {
    let f = &proposal.finding;
    match target {
        ExemptionTarget::Room(id) => f.room.as_ref().is_some_and(|r| &r.id == id),
        ExemptionTarget::User(id) => {
            proposal.subject_user.as_ref() == Some(id)
                || proposal.subject_group.as_ref() == Some(id)
        }
        ExemptionTarget::Email(email) => f
            .subject
            .email
            .as_deref()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case(email)),
        ExemptionTarget::Domain(domain) => f.subject.email.as_deref().is_some_and(|e| {
            e.trim()
                .rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
        }),
    }
}

/// Decides one proposal. `since` is when the grace period started counting
/// (room archived, user disabled, finding first seen), if known.
pub fn decide(
    proposal: &Proposal,
    policy: &CheckPolicy,
    exemptions: &[Exemption],
    now: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    dry_run: bool,
    budget: &mut ChangeBudget,
) -> Decision {
    let (exemption, expired) = find_exemption(proposal, exemptions, now.date_naive());
    let expired_note = (!expired.is_empty()).then(|| expired.join("; "));
    if let Some(e) = exemption {
        let mut note = format!("exempt: {}", e.reason);
        if let Some(t) = &e.ticket {
            note.push_str(&format!(" (ticket {t})"));
        }
        if let Some(d) = e.expires {
            note.push_str(&format!(", until {d}"));
        }
        return Decision::Settled {
            status: FindingStatus::Exempt,
            note: Some(note),
        };
    }
    if policy.grace_days > 0
        && proposal.finding.check != CheckId::RoomAudit
        && let Some(since) = since
    {
        let ends = since + chrono::Duration::days(policy.grace_days as i64);
        if ends > now {
            return Decision::Settled {
                status: FindingStatus::InGrace,
                note: Some(join(
                    format!(
                        "in grace period of {} days until {}",
                        policy.grace_days,
                        ends.format("%Y-%m-%d %H:%M UTC")
                    ),
                    expired_note,
                )),
            };
        }
    }
    if let Some(reason) = &proposal.unfixable_reason {
        return Decision::Settled {
            status: FindingStatus::Open,
            note: Some(join(
                format!("cannot be remediated: {reason}"),
                expired_note,
            )),
        };
    }
    let Some(fix) = &proposal.fix else {
        return Decision::Settled {
            status: FindingStatus::Open,
            note: expired_note,
        };
    };
    if policy.mode != Mode::Remediate {
        return Decision::Settled {
            status: FindingStatus::Open,
            note: expired_note,
        };
    }
    if dry_run {
        return Decision::Planned {
            note: join(
                format!("dry-run: would {}", fix.action_name()),
                expired_note,
            ),
        };
    }
    if !budget.take() {
        return Decision::Settled {
            status: FindingStatus::SkippedByCap,
            note: Some(join(
                "the run's change cap (policy.max_changes_per_run) was reached".into(),
                expired_note,
            )),
        };
    }
    Decision::Remediate { note: expired_note }
}

fn join(a: String, b: Option<String>) -> String {
    match b {
        Some(b) => format!("{a}; {b}"),
        None => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Guid, RoomId};
    use crate::check::Fix;
    use crate::config::GuestAction;
    use crate::finding::*;

    fn proposal(email: &str) -> Proposal {
        Proposal {
            finding: Finding {
                check: CheckId::ArchivedRoomGuests,
                severity: Severity::High,
                room: Some(RoomInfo {
                    id: RoomId::Native(7),
                    title: "t".into(),
                    state: RoomState::Archived,
                    owner_id: None,
                    owner_name: None,
                    owner_email: None,
                    owner_active: None,
                    archived_since: None,
                }),
                subject: Subject {
                    kind: SubjectKind::User,
                    id: "u".into(),
                    name: "n".into(),
                    email: Some(email.into()),
                },
                access: None,
                status: FindingStatus::Open,
                detail: String::new(),
            },
            fix: Some(Fix::RemoveMember {
                room: RoomId::Native(7),
                subject: "u".into(),
            }),
            unfixable_reason: None,
            subject_user: Some(Guid::new("u")),
            subject_group: None,
            grace_since: None,
        }
    }

    fn remediate(grace: u32) -> CheckPolicy {
        CheckPolicy {
            mode: Mode::Remediate,
            grace_days: grace,
            guest_action: GuestAction::Detach,
        }
    }

    fn exemption(target: ExemptionTarget, expires: Option<&str>) -> Exemption {
        Exemption {
            target,
            checks: vec![],
            reason: "legal hold".into(),
            ticket: Some("SEC-1".into()),
            expires: expires.map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()),
        }
    }

    #[test]
    fn decision_table() {
        let now = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let old = Some(now - chrono::Duration::days(40));
        let recent = Some(now - chrono::Duration::days(2));
        let domain = exemption(ExemptionTarget::Domain("partner.example".into()), None);
        let expired = exemption(
            ExemptionTarget::Email("ann@partner.example".into()),
            Some("2026-01-01"),
        );
        let mut budget = ChangeBudget::new(1);
        let p = proposal("ann@partner.example");

        let d = decide(
            &p,
            &remediate(0),
            std::slice::from_ref(&domain),
            now,
            old,
            false,
            &mut budget,
        );
        assert!(matches!(
            d,
            Decision::Settled {
                status: FindingStatus::Exempt,
                ..
            }
        ));

        let d = decide(&p, &remediate(14), &[], now, recent, false, &mut budget);
        assert!(matches!(
            d,
            Decision::Settled {
                status: FindingStatus::InGrace,
                ..
            }
        ));

        let d = decide(&p, &remediate(0), &[], now, old, true, &mut budget);
        assert!(matches!(d, Decision::Planned { .. }));

        let d = decide(
            &p,
            &remediate(0),
            std::slice::from_ref(&expired),
            now,
            old,
            false,
            &mut budget,
        );
        match d {
            Decision::Remediate { note: Some(n) } => {
                assert!(n.contains("expired on 2026-01-01"), "{n}")
            }
            other => panic!("{other:?}"),
        }
        let d = decide(&p, &remediate(0), &[], now, old, false, &mut budget);
        assert!(matches!(
            d,
            Decision::Settled {
                status: FindingStatus::SkippedByCap,
                ..
            }
        ));

        let mut report = remediate(0);
        report.mode = Mode::Report;
        let d = decide(&p, &report, &[], now, old, false, &mut ChangeBudget::new(5));
        assert!(matches!(
            d,
            Decision::Settled {
                status: FindingStatus::Open,
                ..
            }
        ));
    }
}
