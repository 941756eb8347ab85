//! The notifier's own tables in the state store: what was last mailed about
//! each finding, and the mail queue. A message is queued in the same
//! transaction that records its findings as notified, so either both happen
//! or neither (a crash in between cannot lose a mail nor send one twice).
//! Queue rows are marked sent only after the transport accepted them.
//!
//! It never talks to a mail server; the caller holds no lock across I/O.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::decide::Previous;
use crate::state::{StateError, StateStore};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS notify_findings (
    key              TEXT PRIMARY KEY,
    notified_at      TEXT NOT NULL,
    notified_to      TEXT NOT NULL,
    notified_status  TEXT NOT NULL,
    reminders_sent   INTEGER NOT NULL DEFAULT 0,
    escalated_at     TEXT,
    message_id       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_queue (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id       TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    envelope_from    TEXT NOT NULL,
    recipients       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    raw              BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_attempt_at  TEXT,
    last_error       TEXT,
    sent_at          TEXT
);
CREATE INDEX IF NOT EXISTS notify_queue_pending ON notify_queue(sent_at);
CREATE TABLE IF NOT EXISTS notify_held_summaries (
    run_id           TEXT PRIMARY KEY,
    created_at       TEXT NOT NULL,
    report_dir       TEXT NOT NULL,
    ctx              TEXT NOT NULL
);
"#;

/// Sent messages are kept (without their bytes) this long, so a repeated
/// call for the same run recognises them; then the row goes.
const KEEP_SENT_DAYS: i64 = 180;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// One message ready to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub message_id: String,
    /// `digest`, `summary` or `escalation`.
    pub kind: &'static str,
    pub run_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// What to remember about one finding once its message is queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Remember {
    pub key: String,
    pub status: String,
    pub to: String,
    pub reminders_sent: u32,
    /// Set when this message escalates it; kept when it was escalated before.
    pub escalate: bool,
}

/// A queued message's header row (the bytes are read one at a time).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub attempts: u32,
}

pub fn ensure_schema(state: &StateStore) -> Result<(), StateError> {
    state
        .lock()
        .execute_batch(SCHEMA)
        .map_err(state.sql_err("notify schema"))
}

/// Everything last mailed, by finding key.
pub fn load_previous(state: &StateStore) -> Result<HashMap<String, Previous>, StateError> {
    let conn = state.lock();
    let mut stmt = conn
        .prepare(
            "SELECT key, notified_status, notified_at, notified_to, reminders_sent, escalated_at
             FROM notify_findings",
        )
        .map_err(state.sql_err("read notified findings"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(state.sql_err("read notified findings"))?;
    let mut out = HashMap::new();
    for row in rows {
        let (key, status, at, to, reminders, escalated) =
            row.map_err(state.sql_err("read notified findings"))?;
        // An unreadable time counts as "long ago": at worst one extra reminder.
        let notified_at = parse_ts(&at).unwrap_or(DateTime::<Utc>::MIN_UTC);
        out.insert(
            key,
            Previous {
                status,
                notified_at,
                notified_to: to,
                reminders_sent: u32::try_from(reminders).unwrap_or(0),
                escalated: escalated.is_some(),
            },
        );
    }
    Ok(out)
}

/// When each unresolved finding was first seen (the run's `findings` table).
pub fn first_seen(state: &StateStore) -> Result<HashMap<String, DateTime<Utc>>, StateError> {
    let conn = state.lock();
    let mut stmt = conn
        .prepare(
            "SELECT key, first_seen FROM findings WHERE resolved_at IS NULL OR status = 'fixed'",
        )
        .map_err(state.sql_err("read first seen"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(state.sql_err("read first seen"))?;
    let mut out = HashMap::new();
    for row in rows {
        let (key, t) = row.map_err(state.sql_err("read first seen"))?;
        if let Some(t) = parse_ts(&t) {
            out.insert(key, t);
        }
    }
    Ok(out)
}

/// Forgets what was mailed about findings the run recorded as resolved and
/// that are not in this run: if one comes back, it is new again.
pub fn forget_resolved(state: &StateStore, current: &HashSet<String>) -> Result<usize, StateError> {
    let mut conn = state.lock();
    let tx = conn
        .transaction()
        .map_err(state.sql_err("begin forget resolved"))?;
    let resolved: Vec<String> = {
        let mut stmt = tx
            .prepare(
                "SELECT n.key FROM notify_findings n JOIN findings f ON f.key = n.key
                 WHERE f.resolved_at IS NOT NULL",
            )
            .map_err(state.sql_err("list resolved findings"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(state.sql_err("list resolved findings"))?;
        rows.collect::<Result<_, _>>()
            .map_err(state.sql_err("list resolved findings"))?
    };
    let mut n = 0;
    for key in resolved.iter().filter(|k| !current.contains(*k)) {
        n += tx
            .execute("DELETE FROM notify_findings WHERE key = ?1", params![key])
            .map_err(state.sql_err("forget resolved finding"))?;
    }
    tx.commit()
        .map_err(state.sql_err("commit forget resolved"))?;
    Ok(n)
}

/// Queues a message and records its findings as notified, atomically.
/// Returns false when a message with this id is already queued or sent
/// (the same content for the same run): nothing is changed then.
pub fn enqueue(
    state: &StateStore,
    msg: &Outgoing,
    remember: &[Remember],
    now: DateTime<Utc>,
) -> Result<bool, StateError> {
    enqueue_releasing(state, msg, remember, &[], now)
}

/// Like [`enqueue`], and drops the held run summaries `release` in the same
/// transaction: a scheduled summary is queued exactly when the runs it
/// covers stop being held, so a crash can neither lose nor repeat them.
pub fn enqueue_releasing(
    state: &StateStore,
    msg: &Outgoing,
    remember: &[Remember],
    release: &[String],
    now: DateTime<Utc>,
) -> Result<bool, StateError> {
    let mut conn = state.lock();
    let tx = conn
        .transaction()
        .map_err(state.sql_err("begin queue message"))?;
    let recipients = serde_json::to_string(&msg.recipients).unwrap_or_else(|_| "[]".into());
    let inserted = tx
        .execute(
            "INSERT OR IGNORE INTO notify_queue(message_id, kind, run_id, envelope_from, recipients, subject, raw, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                msg.message_id,
                msg.kind,
                msg.run_id,
                msg.envelope_from,
                recipients,
                msg.subject,
                msg.raw,
                ts(now)
            ],
        )
        .map_err(state.sql_err("queue message"))?;
    for run_id in release {
        tx.execute(
            "DELETE FROM notify_held_summaries WHERE run_id = ?1",
            params![run_id],
        )
        .map_err(state.sql_err("release held summary"))?;
    }
    if inserted == 0 {
        tx.commit()
            .map_err(state.sql_err("commit released summaries"))?;
        return Ok(false);
    }
    for r in remember {
        tx.execute(
            "INSERT INTO notify_findings(key, notified_at, notified_to, notified_status, reminders_sent, escalated_at, message_id)
             VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?6 THEN ?2 END, ?7)
             ON CONFLICT(key) DO UPDATE SET
                notified_at = excluded.notified_at,
                notified_to = excluded.notified_to,
                notified_status = excluded.notified_status,
                reminders_sent = excluded.reminders_sent,
                escalated_at = CASE WHEN ?6 THEN COALESCE(notify_findings.escalated_at, ?2) ELSE NULL END,
                message_id = excluded.message_id",
            params![
                r.key,
                ts(now),
                r.to,
                r.status,
                i64::from(r.reminders_sent),
                r.escalate,
                msg.message_id
            ],
        )
        .map_err(state.sql_err("record notified finding"))?;
    }
    tx.commit()
        .map_err(state.sql_err("commit queued message"))?;
    Ok(true)
}

/// Keeps a run's summary (its template context as JSON) for the next
/// scheduled summary job. Holding the same run twice keeps the first.
pub fn hold_summary(
    state: &StateStore,
    run_id: &str,
    report_dir: &str,
    ctx_json: &str,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let conn = state.lock();
    conn.execute(
        "INSERT OR IGNORE INTO notify_held_summaries(run_id, created_at, report_dir, ctx)
         VALUES (?1, ?2, ?3, ?4)",
        params![run_id, ts(now), report_dir, ctx_json],
    )
    .map_err(state.sql_err("hold run summary"))?;
    Ok(())
}

/// A run summary held for the scheduled summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub run_id: String,
    pub report_dir: String,
    pub ctx_json: String,
}

/// Run summaries held for the scheduled summary, oldest first.
pub fn held_summaries(state: &StateStore) -> Result<Vec<Held>, StateError> {
    let conn = state.lock();
    let mut stmt = conn
        .prepare(
            "SELECT run_id, report_dir, ctx FROM notify_held_summaries ORDER BY created_at, rowid",
        )
        .map_err(state.sql_err("list held summaries"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Held {
                run_id: r.get(0)?,
                report_dir: r.get(1)?,
                ctx_json: r.get(2)?,
            })
        })
        .map_err(state.sql_err("list held summaries"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(state.sql_err("read held summary"))?;
    Ok(rows)
}

/// Drops held run summaries without queuing a message (nothing could be
/// made of them, or nobody is to receive them).
pub fn release_held(state: &StateStore, run_ids: &[String]) -> Result<(), StateError> {
    let mut conn = state.lock();
    let tx = conn
        .transaction()
        .map_err(state.sql_err("begin release held summaries"))?;
    for run_id in run_ids {
        tx.execute(
            "DELETE FROM notify_held_summaries WHERE run_id = ?1",
            params![run_id],
        )
        .map_err(state.sql_err("release held summary"))?;
    }
    tx.commit()
        .map_err(state.sql_err("commit released summaries"))
}

/// Messages not sent yet, oldest first.
pub fn pending(state: &StateStore) -> Result<Vec<Pending>, StateError> {
    let conn = state.lock();
    let mut stmt = conn
        .prepare(
            "SELECT id, message_id, kind, envelope_from, recipients, attempts
             FROM notify_queue WHERE sent_at IS NULL ORDER BY id",
        )
        .map_err(state.sql_err("list queued messages"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Pending {
                id: r.get(0)?,
                message_id: r.get(1)?,
                kind: r.get(2)?,
                envelope_from: r.get(3)?,
                recipients: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            })
        })
        .map_err(state.sql_err("list queued messages"))?;
    rows.collect::<Result<_, _>>()
        .map_err(state.sql_err("list queued messages"))
}

pub fn pending_count(state: &StateStore) -> Result<usize, StateError> {
    state
        .lock()
        .query_row(
            "SELECT COUNT(*) FROM notify_queue WHERE sent_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| usize::try_from(n).unwrap_or(0))
        .map_err(state.sql_err("count queued messages"))
}

/// The stored bytes of a queued message (None once sent).
pub fn raw(state: &StateStore, id: i64) -> Result<Option<Vec<u8>>, StateError> {
    state
        .lock()
        .query_row(
            "SELECT raw FROM notify_queue WHERE id = ?1 AND sent_at IS NULL",
            params![id],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .optional()
        .map_err(state.sql_err("read queued message"))
}

/// Marks a message sent and drops its bytes (the row stays, so the same
/// message is never queued again; see `KEEP_SENT_DAYS`).
pub fn mark_sent(state: &StateStore, id: i64, now: DateTime<Utc>) -> Result<(), StateError> {
    state
        .lock()
        .execute(
            "UPDATE notify_queue SET sent_at = ?2, attempts = attempts + 1, last_attempt_at = ?2,
                last_error = NULL, raw = X'' WHERE id = ?1",
            params![id, ts(now)],
        )
        .map_err(state.sql_err("mark message sent"))?;
    Ok(())
}

pub fn mark_failed(
    state: &StateStore,
    id: i64,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), StateError> {
    state
        .lock()
        .execute(
            "UPDATE notify_queue SET attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, ts(now), error],
        )
        .map_err(state.sql_err("record failed delivery"))?;
    Ok(())
}

/// Drops sent rows older than `KEEP_SENT_DAYS`.
pub fn prune_sent(state: &StateStore, now: DateTime<Utc>) -> Result<usize, StateError> {
    let cutoff = now - chrono::Duration::days(KEEP_SENT_DAYS);
    state
        .lock()
        .execute(
            "DELETE FROM notify_queue WHERE sent_at IS NOT NULL AND sent_at < ?1",
            params![ts(cutoff)],
        )
        .map_err(state.sql_err("prune sent messages"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> Outgoing {
        Outgoing {
            message_id: id.into(),
            kind: "digest",
            run_id: "r1".into(),
            envelope_from: "a@example.com".into(),
            recipients: vec!["b@example.com".into()],
            subject: "s".into(),
            raw: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
        }
    }

    #[test]
    fn queue_and_state_move_together() {
        let s = StateStore::open_in_memory().unwrap();
        ensure_schema(&s).unwrap();
        let now = Utc::now();
        let r = Remember {
            key: "k".into(),
            status: "open".into(),
            to: "b@example.com".into(),
            reminders_sent: 0,
            escalate: false,
        };
        assert!(enqueue(&s, &msg("<1@x>"), std::slice::from_ref(&r), now).unwrap());
        // The same message again changes nothing.
        let r2 = Remember {
            status: "fixed".into(),
            ..r.clone()
        };
        assert!(!enqueue(&s, &msg("<1@x>"), &[r2], now).unwrap());
        assert_eq!(load_previous(&s).unwrap()["k"].status, "open");

        let p = pending(&s).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].recipients, vec!["b@example.com".to_string()]);
        mark_failed(&s, p[0].id, now, "down").unwrap();
        assert_eq!(pending(&s).unwrap()[0].attempts, 1);
        mark_sent(&s, p[0].id, now).unwrap();
        assert_eq!(pending_count(&s).unwrap(), 0);
        assert_eq!(raw(&s, p[0].id).unwrap(), None);
        assert_eq!(
            prune_sent(&s, now + chrono::Duration::days(181)).unwrap(),
            1
        );
    }

    #[test]
    fn escalation_time_is_kept_until_reset() {
        let s = StateStore::open_in_memory().unwrap();
        ensure_schema(&s).unwrap();
        let now = Utc::now();
        let mut r = Remember {
            key: "k".into(),
            status: "open".into(),
            to: "b@example.com".into(),
            reminders_sent: 2,
            escalate: true,
        };
        enqueue(&s, &msg("<1@x>"), std::slice::from_ref(&r), now).unwrap();
        assert!(load_previous(&s).unwrap()["k"].escalated);
        r.reminders_sent = 3;
        enqueue(&s, &msg("<2@x>"), std::slice::from_ref(&r), now).unwrap();
        assert!(load_previous(&s).unwrap()["k"].escalated);
        r.escalate = false;
        r.status = "failed".into();
        enqueue(&s, &msg("<3@x>"), &[r], now).unwrap();
        assert!(!load_previous(&s).unwrap()["k"].escalated);
    }
}
