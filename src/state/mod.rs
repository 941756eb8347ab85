//! The state store: an embedded SQLite database that outlives runs. It
//! remembers every finding's identity (first seen, last seen, status,
//! resolution), when the tool first saw a room archived, the runs, and the
//! journal of intended changes that makes a crash recoverable.
//!
//! SQLite (bundled) because it gives crash-safe transactions in one file
//! with no server, and `synchronous=FULL` makes a committed journal entry
//! survive a power cut. Calls are short and made from async code through a
//! mutex; none of them waits on the network.

pub mod journal;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::check::CheckId;
use crate::finding::Finding;

/// A state-store failure.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("state store {path}: {operation}: {source}")]
    Sql {
        path: PathBuf,
        operation: &'static str,
        source: rusqlite::Error,
    },
}

pub struct StateStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish()
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS findings (
    key              TEXT PRIMARY KEY,
    check_name       TEXT NOT NULL,
    room_id          TEXT,
    subject_id       TEXT NOT NULL,
    first_seen       TEXT NOT NULL,
    last_seen        TEXT NOT NULL,
    status           TEXT NOT NULL,
    resolved_at      TEXT,
    last_run_id      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_check ON findings(check_name);
CREATE TABLE IF NOT EXISTS rooms_seen_archived (
    room_id     TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users_seen_disabled (
    user_id     TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started     TEXT NOT NULL,
    finished    TEXT,
    status      TEXT NOT NULL,
    report_dir  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT NOT NULL,
    check_name   TEXT NOT NULL,
    room_id      TEXT,
    subject      TEXT NOT NULL,
    action       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    intended_at  TEXT NOT NULL,
    completed_at TEXT,
    outcome      TEXT,
    verified     INTEGER,
    error        TEXT
);
CREATE INDEX IF NOT EXISTS journal_open ON journal(completed_at);
CREATE TABLE IF NOT EXISTS journal_reported (
    journal_id  INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archive_transactions (
    room_id     TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    step        TEXT NOT NULL
);
"#;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl StateStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StateError::Open {
                path: path.to_path_buf(),
                message: format!("cannot create folder {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StateError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::init(conn, path.to_path_buf())
    }

    /// A throw-away store (tests, dry runs of `check-config`).
    pub fn open_in_memory() -> Result<StateStore, StateError> {
        let conn = Connection::open_in_memory().map_err(|e| StateError::Open {
            path: PathBuf::from(":memory:"),
            message: e.to_string(),
        })?;
        Self::init(conn, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<StateStore, StateError> {
        let err = |operation, source| StateError::Sql {
            path: path.clone(),
            operation,
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| err("busy timeout", e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(|e| err("pragmas", e))?;
        conn.execute_batch(SCHEMA).map_err(|e| err("schema", e))?;
        Ok(StateStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for modules that keep tables of their own
    /// (notifications). Hold it briefly.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(g) => g,
            // A panic while holding the lock cannot leave SQLite half-written
            // (every write is a statement or a transaction), so go on.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(crate) fn sql_err(
        &self,
        operation: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> StateError + '_ {
        move |source| StateError::Sql {
            path: self.path.clone(),
            operation,
            source,
        }
    }

    // ---- runs ---------------------------------------------------------------

    pub fn begin_run(
        &self,
        run_id: &str,
        started: DateTime<Utc>,
        report_dir: &Path,
    ) -> Result<(), StateError> {
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO runs(run_id, started, status, report_dir) VALUES (?1, ?2, 'running', ?3)",
                params![run_id, ts(started), report_dir.display().to_string()],
            )
            .map_err(self.sql_err("begin run"))?;
        Ok(())
    }

    pub fn finish_run(
        &self,
        run_id: &str,
        finished: DateTime<Utc>,
        status: &str,
    ) -> Result<(), StateError> {
        self.lock()
            .execute(
                "UPDATE runs SET finished = ?2, status = ?3 WHERE run_id = ?1",
                params![run_id, ts(finished), status],
            )
            .map_err(self.sql_err("finish run"))?;
        Ok(())
    }

    /// Runs that started and never finished (the process died), oldest
    /// first, with their report folders.
    pub fn unfinished_runs(&self) -> Result<Vec<(String, PathBuf)>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT run_id, report_dir FROM runs WHERE status = 'running' ORDER BY run_id")
            .map_err(self.sql_err("list unfinished runs"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    PathBuf::from(r.get::<_, String>(1)?),
                ))
            })
            .map_err(self.sql_err("list unfinished runs"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.sql_err("list unfinished runs"))
    }

    /// The last run that finished, and when.
    pub fn last_successful_run(&self) -> Result<Option<(String, DateTime<Utc>)>, StateError> {
        self.lock()
            .query_row(
                "SELECT run_id, finished FROM runs WHERE status IN ('clean','findings') ORDER BY finished DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(self.sql_err("last run"))
            .map(|o| o.and_then(|(id, t)| parse_ts(&t).map(|t| (id, t))))
    }

    // ---- first-seen memory ----------------------------------------------------

    /// When the tool first saw each of these rooms archived (recorded now
    /// if never), in one transaction (one disk sync instead of one per room).
    pub fn rooms_first_seen_archived(
        &self,
        room_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StateError> {
        self.first_seen_many(FirstSeen::RoomArchived, room_ids, now)
    }

    /// When the tool first saw each of these users disabled (recorded now
    /// if never), in one transaction; the map is keyed by the ids as given.
    pub fn users_first_seen_disabled(
        &self,
        user_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StateError> {
        self.first_seen_many(FirstSeen::UserDisabled, user_ids, now)
    }

    fn first_seen_many(
        &self,
        what: FirstSeen,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StateError> {
        let (insert, select) = what.statements();
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(self.sql_err("begin first seen"))?;
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        {
            let mut insert = tx
                .prepare_cached(insert)
                .map_err(self.sql_err("record first seen"))?;
            let mut select = tx
                .prepare_cached(select)
                .map_err(self.sql_err("read first seen"))?;
            let now_s = ts(now);
            for id in ids {
                let stored = what.stored_id(id);
                insert
                    .execute(params![stored, now_s])
                    .map_err(self.sql_err("record first seen"))?;
                let t: String = select
                    .query_row(params![stored], |r| r.get(0))
                    .map_err(self.sql_err("read first seen"))?;
                out.insert(id.clone(), parse_ts(&t).unwrap_or(now));
            }
        }
        tx.commit().map_err(self.sql_err("commit first seen"))?;
        Ok(out)
    }

    /// When a finding (by key) was first seen, if ever.
    pub fn finding_first_seen(&self, key: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        self.lock()
            .prepare_cached(
                "SELECT first_seen FROM findings WHERE key = ?1 AND resolved_at IS NULL",
            )
            .and_then(|mut st| {
                st.query_row(params![key], |r| r.get::<_, String>(0))
                    .optional()
            })
            .map_err(self.sql_err("read finding"))
            .map(|o| o.and_then(|t| parse_ts(&t)))
    }

    /// Records this run's findings and marks as resolved the earlier ones of
    /// the checks that ran which were not seen again, except on rooms that
    /// could not be audited this time (absence there proves nothing).
    pub fn record_findings(
        &self,
        run_id: &str,
        now: DateTime<Utc>,
        findings: &[Finding],
        checks_run: &[CheckId],
        unaudited_rooms: &HashSet<String>,
        unaudited_checks: &[CheckId],
    ) -> Result<(), StateError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.sql_err("begin findings"))?;
        let now_s = ts(now);
        let mut seen = HashSet::new();
        for f in findings.iter().filter(|f| f.check != CheckId::RoomAudit) {
            let key = f.key();
            seen.insert(key.clone());
            tx.prepare_cached(
                "INSERT INTO findings(key, check_name, room_id, subject_id, first_seen, last_seen, status, last_run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)
                 ON CONFLICT(key) DO UPDATE SET
                    last_seen = excluded.last_seen,
                    status = excluded.status,
                    last_run_id = excluded.last_run_id,
                    first_seen = CASE WHEN findings.resolved_at IS NULL THEN findings.first_seen ELSE excluded.first_seen END,
                    resolved_at = NULL",
            )
            .and_then(|mut st| {
                st.execute(params![
                    key,
                    f.check.name(),
                    f.room.as_ref().map(|r| r.id.to_string()),
                    f.subject.id,
                    now_s,
                    f.status.as_str(),
                    run_id
                ])
            })
            .map_err(self.sql_err("record finding"))?;
            if f.status == crate::finding::FindingStatus::Fixed {
                tx.prepare_cached("UPDATE findings SET resolved_at = ?2 WHERE key = ?1")
                    .and_then(|mut st| st.execute(params![key, now_s]))
                    .map_err(self.sql_err("resolve finding"))?;
            }
        }
        let open: Vec<(String, String, Option<String>)> = {
            let mut stmt = tx
                .prepare("SELECT key, check_name, room_id FROM findings WHERE resolved_at IS NULL")
                .map_err(self.sql_err("list open findings"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(self.sql_err("list open findings"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.sql_err("list open findings"))?
        };
        for (key, check, room) in open {
            if seen.contains(&key) {
                continue;
            }
            let Some(check) = CheckId::parse(&check) else {
                continue;
            };
            if !checks_run.contains(&check) || unaudited_checks.contains(&check) {
                continue;
            }
            if room.as_ref().is_some_and(|r| unaudited_rooms.contains(r)) {
                continue;
            }
            tx.prepare_cached(
                "UPDATE findings SET resolved_at = ?2, status = 'resolved' WHERE key = ?1",
            )
            .and_then(|mut st| st.execute(params![key, now_s]))
            .map_err(self.sql_err("resolve finding"))?;
        }
        tx.commit().map_err(self.sql_err("commit findings"))?;
        Ok(())
    }

    /// The stored status of a finding: `None` if unknown, `resolved` once gone.
    pub fn finding_status(&self, key: &str) -> Result<Option<String>, StateError> {
        self.lock()
            .query_row(
                "SELECT status FROM findings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql_err("read finding status"))
    }
}

/// What a first-seen memory is kept for.
#[derive(Debug, Clone, Copy)]
enum FirstSeen {
    RoomArchived,
    UserDisabled,
}

impl FirstSeen {
    /// (insert-if-new, read) statements: fixed text, so they are cached.
    fn statements(self) -> (&'static str, &'static str) {
        match self {
            FirstSeen::RoomArchived => (
                "INSERT OR IGNORE INTO rooms_seen_archived(room_id, first_seen) VALUES (?1, ?2)",
                "SELECT first_seen FROM rooms_seen_archived WHERE room_id = ?1",
            ),
            FirstSeen::UserDisabled => (
                "INSERT OR IGNORE INTO users_seen_disabled(user_id, first_seen) VALUES (?1, ?2)",
                "SELECT first_seen FROM users_seen_disabled WHERE user_id = ?1",
            ),
        }
    }

    /// User ids are GUIDs, stored in lower case whatever case the server used.
    fn stored_id(self, id: &str) -> std::borrow::Cow<'_, str> {
        match self {
            FirstSeen::RoomArchived => id.into(),
            FirstSeen::UserDisabled => id.to_ascii_lowercase().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RoomId;
    use crate::finding::*;

    fn finding(room: i64, subject: &str, status: FindingStatus) -> Finding {
        Finding {
            check: CheckId::ArchivedRoomGuests,
            severity: Severity::High,
            room: Some(RoomInfo {
                id: RoomId::Native(room),
                title: "r".into(),
                state: RoomState::Archived,
                owner_id: None,
                owner_name: None,
                owner_email: None,
                owner_active: None,
                archived_since: None,
            }),
            subject: Subject {
                kind: SubjectKind::User,
                id: subject.into(),
                name: "n".into(),
                email: None,
            },
            access: None,
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn findings_are_resolved_when_gone_but_not_on_unaudited_rooms() {
        let s = StateStore::open_in_memory().unwrap();
        let t0 = Utc::now();
        let a = finding(1, "u1", FindingStatus::Open);
        let b = finding(2, "u2", FindingStatus::Open);
        let checks = [CheckId::ArchivedRoomGuests];
        s.record_findings(
            "r1",
            t0,
            &[a.clone(), b.clone()],
            &checks,
            &HashSet::new(),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.finding_first_seen(&a.key()).unwrap(),
            Some(t0).map(|t| parse_ts(&ts(t)).unwrap())
        );
        let failed: HashSet<String> = ["2".to_string()].into();
        s.record_findings("r2", t0, &[], &checks, &failed, &[])
            .unwrap();
        assert_eq!(
            s.finding_status(&a.key()).unwrap().as_deref(),
            Some("resolved")
        );
        assert_eq!(s.finding_status(&b.key()).unwrap().as_deref(), Some("open"));
    }

    #[test]
    fn first_seen_is_sticky() {
        let s = StateStore::open_in_memory().unwrap();
        let t0 = Utc::now() - chrono::Duration::days(3);
        let ids = ["7".to_string()];
        let first = s.rooms_first_seen_archived(&ids, t0).unwrap()["7"];
        let again = s.rooms_first_seen_archived(&ids, Utc::now()).unwrap()["7"];
        assert_eq!(first, again);
    }

    #[test]
    fn a_disabled_user_is_first_seen_once_whatever_the_case_of_the_id() {
        let s = StateStore::open_in_memory().unwrap();
        let t0 = Utc::now() - chrono::Duration::days(3);
        let id = "8E1B5A3C-0000-4000-8000-000000000001".to_string();
        let first = s
            .users_first_seen_disabled(std::slice::from_ref(&id), t0)
            .unwrap();
        let lower = id.to_ascii_lowercase();
        let later = s
            .users_first_seen_disabled(std::slice::from_ref(&lower), Utc::now())
            .unwrap();
        assert_eq!(first[&id], later[&lower]);
        assert!((first[&id] - t0).num_seconds().abs() < 1);
    }
}
