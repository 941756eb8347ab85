//! Whether a finding is mailed this run: the dedup rules, as a pure
//! function of what was last mailed about it, its status now, and the time.
//! It reads no database and sends nothing, so every rule is tested with
//! plain values.
//!
//! The rules:
//! - never mailed before → mail (`new`);
//! - status differs from the one last mailed → mail (`status changed`);
//! - the recipient differs from the last one (owner changed, or the owner
//!   became unreachable and the fallback takes over) → mail;
//! - same status, `renotify_after_days` passed since the last mail, and the
//!   status still asks for something (open, in grace, failed, skipped by
//!   cap) → a reminder;
//! - at a due reminder, when `escalate_after_reminders` reminders were
//!   already sent and the finding still needs attention → escalation (once
//!   per finding; later reminders go on at the same pace).
//!
//! `renotify_after_days = 0` turns reminders (and so escalation) off.

use chrono::{DateTime, Duration, Utc};

use crate::finding::FindingStatus;

/// What was last mailed about one finding (the `notify_findings` row).
#[derive(Debug, Clone, PartialEq)]
pub struct Previous {
    /// The status as mailed (`FindingStatus::as_str`).
    pub status: String,
    pub notified_at: DateTime<Utc>,
    /// The address the last message went to (lower case).
    pub notified_to: String,
    pub reminders_sent: u32,
    pub escalated: bool,
}

/// The two numbers of the `[notify]` section the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub renotify_after_days: u32,
    pub escalate_after_reminders: u32,
}

/// Why a finding is in this run's mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    New,
    StatusChanged {
        from: String,
    },
    RecipientChanged,
    /// The n-th reminder (1-based).
    Reminder(u32),
    /// Escalated to the security team (the owner is reminded too).
    Escalated,
}

impl Reason {
    /// The words used in messages.
    pub fn describe(&self) -> String {
        match self {
            Reason::New => "new finding".into(),
            Reason::StatusChanged { from } => format!("status changed (was {from})"),
            Reason::RecipientChanged => "first message to this address".into(),
            Reason::Reminder(n) => format!("reminder {n}: still unresolved"),
            Reason::Escalated => {
                "still unresolved after reminders: escalated to the security team".into()
            }
        }
    }
}

/// The `notify_findings` values to store once the message is queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Next {
    pub reminders_sent: u32,
    pub escalated: bool,
}

/// Statuses a reminder is useful for: something is still pending or
/// needs a person. Fixed and exempt findings are settled.
fn worth_reminding(status: FindingStatus) -> bool {
    matches!(
        status,
        FindingStatus::Open
            | FindingStatus::InGrace
            | FindingStatus::Failed
            | FindingStatus::SkippedByCap
    )
}

/// Decides whether the finding goes into this run's digest, and what to
/// remember about it afterwards. `recipient` is the lower-case address the
/// digest would go to.
pub fn decide(
    prev: Option<&Previous>,
    status: FindingStatus,
    recipient: &str,
    now: DateTime<Utc>,
    cadence: Cadence,
) -> Option<(Reason, Next)> {
    let fresh = Next {
        reminders_sent: 0,
        escalated: false,
    };
    let Some(prev) = prev else {
        return Some((Reason::New, fresh));
    };
    if prev.status != status.as_str() {
        return Some((
            Reason::StatusChanged {
                from: prev.status.clone(),
            },
            fresh,
        ));
    }
    if !prev.notified_to.eq_ignore_ascii_case(recipient) {
        // Keep the reminder count: the finding itself did not change, so a
        // new owner should not reset the escalation clock.
        return Some((
            Reason::RecipientChanged,
            Next {
                reminders_sent: prev.reminders_sent,
                escalated: prev.escalated,
            },
        ));
    }
    if cadence.renotify_after_days == 0 || !worth_reminding(status) {
        return None;
    }
    let due = now - prev.notified_at >= Duration::days(i64::from(cadence.renotify_after_days));
    if !due {
        return None;
    }
    if status.needs_attention()
        && !prev.escalated
        && prev.reminders_sent >= cadence.escalate_after_reminders
    {
        return Some((
            Reason::Escalated,
            Next {
                reminders_sent: prev.reminders_sent,
                escalated: true,
            },
        ));
    }
    let n = prev.reminders_sent.saturating_add(1);
    Some((
        Reason::Reminder(n),
        Next {
            reminders_sent: n,
            escalated: prev.escalated,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use chrono::TimeZone;

    const CADENCE: Cadence = Cadence {
        renotify_after_days: 7,
        escalate_after_reminders: 2,
    };
    const TO: &str = "ann@example.com";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
    }

    /// Applies a decision the way the notifier stores it.
    fn remember(
        prev: Option<Previous>,
        d: &Option<(Reason, Next)>,
        status: FindingStatus,
        now: DateTime<Utc>,
    ) -> Option<Previous> {
        match d {
            None => prev,
            Some((_, next)) => Some(Previous {
                status: status.as_str().into(),
                notified_at: now,
                notified_to: TO.into(),
                reminders_sent: next.reminders_sent,
                escalated: next.escalated,
            }),
        }
    }

    #[test]
    fn new_then_quiet_then_changed() {
        let clock = ManualClock::new(t0());
        let d = decide(None, FindingStatus::Open, TO, clock.now(), CADENCE);
        assert_eq!(d.as_ref().map(|d| &d.0), Some(&Reason::New));
        let prev = remember(None, &d, FindingStatus::Open, clock.now());

        // The next run, a day later, same status: nothing.
        clock.advance(Duration::days(1));
        assert_eq!(
            decide(prev.as_ref(), FindingStatus::Open, TO, clock.now(), CADENCE),
            None
        );

        // The status changed: mailed again, reminders start over.
        clock.advance(Duration::days(1));
        let d = decide(
            prev.as_ref(),
            FindingStatus::Fixed,
            TO,
            clock.now(),
            CADENCE,
        );
        assert_eq!(
            d.as_ref().map(|d| &d.0),
            Some(&Reason::StatusChanged {
                from: "open".into()
            })
        );
        let prev = remember(prev, &d, FindingStatus::Fixed, clock.now());

        // A fixed finding is never reminded about.
        clock.advance(Duration::days(30));
        assert_eq!(
            decide(
                prev.as_ref(),
                FindingStatus::Fixed,
                TO,
                clock.now(),
                CADENCE
            ),
            None
        );
    }

    #[test]
    fn reminders_then_one_escalation() {
        let clock = ManualClock::new(t0());
        let mut prev = None;
        let mut seen = Vec::new();
        // Daily runs for five weeks.
        for _ in 0..35 {
            let d = decide(prev.as_ref(), FindingStatus::Open, TO, clock.now(), CADENCE);
            if let Some((r, _)) = &d {
                seen.push((r.clone(), (clock.now() - t0()).num_days()));
            }
            prev = remember(prev, &d, FindingStatus::Open, clock.now());
            clock.advance(Duration::days(1));
        }
        assert_eq!(
            seen,
            vec![
                (Reason::New, 0),
                (Reason::Reminder(1), 7),
                (Reason::Reminder(2), 14),
                (Reason::Escalated, 21),
                (Reason::Reminder(3), 28),
            ]
        );
    }

    #[test]
    fn reminder_is_due_exactly_after_the_period() {
        let prev = Previous {
            status: "open".into(),
            notified_at: t0(),
            notified_to: TO.into(),
            reminders_sent: 0,
            escalated: false,
        };
        let just_before = t0() + Duration::days(7) - Duration::seconds(1);
        assert_eq!(
            decide(Some(&prev), FindingStatus::Open, TO, just_before, CADENCE),
            None
        );
        let at = t0() + Duration::days(7);
        assert_eq!(
            decide(Some(&prev), FindingStatus::Open, TO, at, CADENCE).map(|d| d.0),
            Some(Reason::Reminder(1))
        );
    }

    #[test]
    fn in_grace_is_reminded_but_never_escalated() {
        let prev = Previous {
            status: "in-grace".into(),
            notified_at: t0(),
            notified_to: TO.into(),
            reminders_sent: 5,
            escalated: false,
        };
        let later = t0() + Duration::days(8);
        assert_eq!(
            decide(Some(&prev), FindingStatus::InGrace, TO, later, CADENCE).map(|d| d.0),
            Some(Reason::Reminder(6))
        );
    }

    #[test]
    fn exempt_is_not_reminded_and_zero_days_turns_reminders_off() {
        let prev = Previous {
            status: "exempt".into(),
            notified_at: t0(),
            notified_to: TO.into(),
            reminders_sent: 0,
            escalated: false,
        };
        let later = t0() + Duration::days(100);
        assert_eq!(
            decide(Some(&prev), FindingStatus::Exempt, TO, later, CADENCE),
            None
        );
        let open = Previous {
            status: "open".into(),
            ..prev
        };
        let off = Cadence {
            renotify_after_days: 0,
            escalate_after_reminders: 0,
        };
        assert_eq!(
            decide(Some(&open), FindingStatus::Open, TO, later, off),
            None
        );
    }

    #[test]
    fn a_new_recipient_is_told_without_resetting_the_escalation_clock() {
        let prev = Previous {
            status: "open".into(),
            notified_at: t0(),
            notified_to: "old-owner@example.com".into(),
            reminders_sent: 2,
            escalated: false,
        };
        let d = decide(
            Some(&prev),
            FindingStatus::Open,
            "Ann@Example.com",
            t0() + Duration::days(1),
            CADENCE,
        );
        assert_eq!(
            d,
            Some((
                Reason::RecipientChanged,
                Next {
                    reminders_sent: 2,
                    escalated: false
                }
            ))
        );
        // Same address in another case is the same recipient.
        let same = Previous {
            notified_to: TO.into(),
            ..prev
        };
        assert_eq!(
            decide(
                Some(&same),
                FindingStatus::Open,
                "ANN@example.com",
                t0() + Duration::days(1),
                CADENCE
            ),
            None
        );
    }

    #[test]
    fn escalate_after_zero_reminders_escalates_at_the_first_due_point() {
        let cadence = Cadence {
            renotify_after_days: 7,
            escalate_after_reminders: 0,
        };
        let prev = Previous {
            status: "failed".into(),
            notified_at: t0(),
            notified_to: TO.into(),
            reminders_sent: 0,
            escalated: false,
        };
        assert_eq!(
            decide(
                Some(&prev),
                FindingStatus::Failed,
                TO,
                t0() + Duration::days(7),
                cadence
            )
            .map(|d| d.0),
            Some(Reason::Escalated)
        );
    }
}
