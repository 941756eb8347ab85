//! Evidence: the portal's audit-trail events about each disabled user for
//! the configured look-back, as rows of `audit-events.csv`, and the date of
//! the user's last status change (MessageAction 4020) for grace periods.
//!
//! Two queries per user: events *by* the user (`userId`) and events *about*
//! the user (`entryType=23&target=<id>`; without an entry type the server
//! ignores `target`). Without the portal's Audit feature the endpoint
//! quietly returns its latest 20 events, unfiltered (API-NOTES §12). That is
//! detected (events by other users, not about the user, or outside the
//! dates) and reported as a warning plus a marker row per user, never as
//! the user's history.
//!
//! Reads only; never decides a finding.

use chrono::{DateTime, Utc};

use crate::api::wire::{AuditEvent, User};
use crate::api::{ApiError, AuditQuery, DocSpaceClient, UserId};
use crate::report::AuditEventRow;

/// MessageAction `UsersUpdatedStatus`: a user was disabled or enabled.
pub const USERS_UPDATED_STATUS: i64 = 4020;

/// At most this many events per query and user.
pub const MAX_EVENTS: usize = 500;

/// Slack around the requested dates before an event counts as "outside":
/// the server reads `from`/`to` in the portal's time zone.
const DATE_SLACK_HOURS: i64 = 26;

/// The two reads for one user.
#[derive(Debug)]
pub struct UserEvidence {
    pub by_user: Result<Vec<AuditEvent>, ApiError>,
    pub about_user: Result<Vec<AuditEvent>, ApiError>,
}

impl UserEvidence {
    /// `Err` when either read was refused for the whole run (401).
    pub fn fatal(self) -> Result<UserEvidence, ApiError> {
        Ok(UserEvidence {
            by_user: super::fatal(self.by_user)?,
            about_user: super::fatal(self.about_user)?,
        })
    }
}

pub async fn fetch(
    client: &DocSpaceClient,
    user: &UserId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> UserEvidence {
    let by = AuditQuery {
        user_id: Some(user.clone()),
        about_user: None,
        from,
        to,
        max_events: MAX_EVENTS,
    };
    let about = AuditQuery {
        user_id: None,
        about_user: Some(user.clone()),
        from,
        to,
        max_events: MAX_EVENTS,
    };
    let (by_user, about_user) = tokio::join!(client.audit_events(&by), client.audit_events(&about));
    UserEvidence {
        by_user,
        about_user,
    }
}

/// What the run can say about the audit trail as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailAssessment {
    /// False when the portal ignored the filters: no row is history then.
    pub usable: bool,
    /// Why the trail is not usable (for the marker rows).
    pub reason: Option<String>,
    pub warnings: Vec<String>,
}

/// Decides, over every user's answers, whether the filters were honoured.
/// One ignored filter anywhere means the endpoint is in its fallback, so
/// the whole trail is unusable for this run.
pub fn assess<'a>(
    answers: impl Iterator<Item = (&'a UserId, &'a UserEvidence)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> TrailAssessment {
    let mut reason = None;
    let mut unreadable = 0usize;
    let mut first_error = None;
    for (user, e) in answers {
        for (r, about) in [(&e.by_user, false), (&e.about_user, true)] {
            match r {
                Ok(events) => {
                    if reason.is_none() {
                        reason = filter_ignored(user, events, about, from, to);
                    }
                }
                Err(err) => {
                    unreadable += 1;
                    first_error.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
    let mut warnings = Vec::new();
    if let Some(r) = &reason {
        warnings.push(format!(
            "the portal's audit trail ignored the query filters ({r}); without the Audit feature it returns only its latest events, unfiltered: audit-events.csv holds marker rows, not the users' history"
        ));
    }
    if let Some(e) = first_error {
        warnings.push(format!(
            "the audit trail could not be read ({unreadable} queries failed; first: {e}); those users have a marker row in audit-events.csv"
        ));
    }
    TrailAssessment {
        usable: reason.is_none(),
        reason,
        warnings,
    }
}

/// Why an answer shows the filter was ignored, if it does.
pub fn filter_ignored(
    user: &UserId,
    events: &[AuditEvent],
    about: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<String> {
    let slack = chrono::Duration::hours(DATE_SLACK_HOURS);
    for e in events {
        if let Some(d) = e.date
            && (d < from - slack || d > to + slack)
        {
            return Some(format!(
                "an event dated {} lies outside the requested dates",
                d.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        if about {
            if !mentions(e, user) {
                return Some("an event about another user came back for a target filter".into());
            }
        } else if e.user_id.as_ref().is_some_and(|u| u != user) {
            return Some("an event by another user came back for a userId filter".into());
        }
    }
    None
}

/// True when one of the event's targets names the user.
fn mentions(e: &AuditEvent, user: &UserId) -> bool {
    let id = user.as_str().to_ascii_lowercase();
    e.targets()
        .iter()
        .any(|t| t.to_ascii_lowercase().contains(&id))
}

/// When the user's status last changed (the disable), from a usable trail.
pub fn last_status_change(e: &UserEvidence, user: &UserId) -> Option<DateTime<Utc>> {
    e.about_user
        .as_ref()
        .ok()?
        .iter()
        .filter(|ev| ev.action_id == Some(USERS_UPDATED_STATUS) && mentions(ev, user))
        .filter_map(|ev| ev.date)
        .max()
}

/// The rows of `audit-events.csv` for one user, newest first: the events,
/// or one marker row saying why there are none.
pub fn rows(
    user: &User,
    e: &UserEvidence,
    trail: &TrailAssessment,
    lookback_days: u32,
) -> Vec<AuditEventRow> {
    let marker = |text: String| AuditEventRow {
        user_id: user.id.to_string(),
        time: None,
        action: text,
        actor: String::new(),
        target: String::new(),
        ip: String::new(),
    };
    if !trail.usable {
        return vec![marker(format!(
            "(audit trail unavailable: {}; this is not the user's history)",
            trail
                .reason
                .as_deref()
                .unwrap_or("the portal ignored the filters")
        ))];
    }
    let mut events: Vec<&AuditEvent> = Vec::new();
    let mut errors = Vec::new();
    for r in [&e.by_user, &e.about_user] {
        match r {
            Ok(list) => events.extend(list.iter()),
            Err(err) => errors.push(err.to_string()),
        }
    }
    // The same event can be by and about the user.
    let mut seen = std::collections::HashSet::new();
    events.retain(|ev| ev.id.is_none_or(|id| seen.insert(id)));
    events.sort_by(|a, b| b.date.cmp(&a.date).then(b.id.cmp(&a.id)));
    let mut out: Vec<AuditEventRow> = events
        .into_iter()
        .map(|ev| AuditEventRow {
            user_id: user.id.to_string(),
            time: ev.date,
            action: match (&ev.action, ev.action_id) {
                (Some(a), Some(id)) => format!("{a} ({id})"),
                (Some(a), None) => a.clone(),
                (None, Some(id)) => format!("action {id}"),
                (None, None) => String::new(),
            },
            actor: match (&ev.user, &ev.user_id) {
                (Some(name), Some(id)) => format!("{name} ({id})"),
                (Some(name), None) => name.clone(),
                (None, Some(id)) => id.to_string(),
                (None, None) => String::new(),
            },
            target: ev.targets().join("; "),
            ip: ev.ip.clone().unwrap_or_default(),
        })
        .collect();
    for err in errors {
        out.push(marker(format!("(audit trail not readable: {err})")));
    }
    if out.is_empty() {
        out.push(marker(format!(
            "(no events in the last {lookback_days} days)"
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Guid;

    const ANN: &str = "c0000000-0000-4000-8000-000000000001";
    const BOB: &str = "c0000000-0000-4000-8000-000000000002";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(id: i64, date: &str, actor: &str, action: i64, target: &[&str]) -> AuditEvent {
        serde_json::from_value(serde_json::json!({
            "id": id, "date": date, "user": "Actor", "userId": actor, "action": "Something",
            "actionId": action, "ip": "192.0.2.1", "target": target
        }))
        .unwrap()
    }

    #[test]
    fn detects_ignored_filters() {
        let from = t("2026-05-01T00:00:00Z");
        let to = t("2026-05-08T00:00:00Z");
        let ann = Guid::new(ANN);
        let inside = "2026-05-03T10:00:00.0000000+02:00";
        let table: Vec<(&str, Vec<AuditEvent>, bool, bool)> = vec![
            (
                "by ann, in range",
                vec![event(1, inside, ANN, 5000, &[])],
                false,
                false,
            ),
            (
                "by bob for a userId filter",
                vec![event(1, inside, BOB, 5000, &[])],
                false,
                true,
            ),
            (
                "about ann",
                vec![event(1, inside, BOB, 4020, &[ANN])],
                true,
                false,
            ),
            (
                "about bob for ann's target",
                vec![event(1, inside, BOB, 4020, &[BOB])],
                true,
                true,
            ),
            (
                "too old",
                vec![event(1, "2026-01-01T00:00:00.0000000Z", ANN, 5000, &[])],
                false,
                true,
            ),
            ("empty", vec![], false, false),
        ];
        for (name, events, about, ignored) in table {
            assert_eq!(
                filter_ignored(&ann, &events, about, from, to).is_some(),
                ignored,
                "{name}"
            );
        }
    }

    #[test]
    fn fallback_gives_marker_rows_and_no_status_date() {
        let from = t("2026-05-01T00:00:00Z");
        let to = t("2026-05-08T00:00:00Z");
        let ann = Guid::new(ANN);
        let ev = UserEvidence {
            by_user: Ok(vec![event(
                7,
                "2026-05-02T00:00:00.0000000Z",
                BOB,
                5000,
                &[],
            )]),
            about_user: Ok(vec![]),
        };
        let trail = assess([(&ann, &ev)].into_iter(), from, to);
        assert!(!trail.usable);
        assert_eq!(trail.warnings.len(), 1);
        let user: User =
            serde_json::from_value(serde_json::json!({"id": ANN, "status": 2})).unwrap();
        let rows = rows(&user, &ev, &trail, 7);
        assert_eq!(rows.len(), 1);
        assert!(
            rows[0].action.contains("audit trail unavailable"),
            "{}",
            rows[0].action
        );
        assert!(rows[0].time.is_none());
    }

    #[test]
    fn usable_trail_rows_and_status_change() {
        let from = t("2026-05-01T00:00:00Z");
        let to = t("2026-05-08T00:00:00Z");
        let ann = Guid::new(ANN);
        let shared = event(3, "2026-05-04T00:00:00.0000000Z", ANN, 4006, &[ANN]);
        let ev = UserEvidence {
            by_user: Ok(vec![
                event(1, "2026-05-02T00:00:00.0000000Z", ANN, 5000, &["42"]),
                shared.clone(),
            ]),
            about_user: Ok(vec![
                event(
                    2,
                    "2026-05-03T12:00:00.0000000+02:00",
                    BOB,
                    4020,
                    &[ANN, BOB],
                ),
                shared,
            ]),
        };
        let trail = assess([(&ann, &ev)].into_iter(), from, to);
        assert!(trail.usable, "{trail:?}");
        assert_eq!(
            last_status_change(&ev, &ann),
            Some(t("2026-05-03T10:00:00Z"))
        );
        let user: User =
            serde_json::from_value(serde_json::json!({"id": ANN, "status": 2})).unwrap();
        let rows = rows(&user, &ev, &trail, 7);
        let ids: Vec<String> = rows.iter().map(|r| r.action.clone()).collect();
        assert_eq!(
            ids,
            ["Something (4006)", "Something (4020)", "Something (5000)"]
        );
        assert_eq!(rows[1].actor, format!("Actor ({BOB})"));
        assert_eq!(rows[1].target, format!("{ANN}; {BOB}"));
        assert_eq!(rows[1].ip, "192.0.2.1");
    }

    #[test]
    fn no_events_gives_one_row_saying_so() {
        let ann = Guid::new(ANN);
        let ev = UserEvidence {
            by_user: Ok(vec![]),
            about_user: Ok(vec![]),
        };
        let trail = assess(
            [(&ann, &ev)].into_iter(),
            t("2026-05-01T00:00:00Z"),
            t("2026-05-08T00:00:00Z"),
        );
        let user: User = serde_json::from_value(serde_json::json!({"id": ANN})).unwrap();
        let rows = rows(&user, &ev, &trail, 7);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].action, "(no events in the last 7 days)");
    }
}
