//! The journal of intended changes. An entry is written (and committed to
//! disk) before a write call and completed after its read-back, and an
//! archive transaction is recorded while a room is out of the Archive. After
//! a crash, the next run finds the open entries, settles them by reading the
//! portal, re-archives rooms left unarchived, and reports what happened.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{StateError, StateStore, ts};
use crate::finding::ActionOutcome;

/// One intended change, as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub id: i64,
    pub run_id: String,
    pub check: String,
    pub room_id: Option<String>,
    pub subject: String,
    pub action: String,
    /// What is needed to settle it: the subject id or link id acted on.
    pub detail: String,
    pub intended_at: String,
}

/// A completed entry of a run that never wrote its `actions.csv` (it was
/// killed, or its report could not be written), not yet reported by a later
/// run.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreportedEntry {
    pub entry: JournalEntry,
    pub completed_at: String,
    pub outcome: String,
    pub verified: bool,
    pub error: Option<String>,
}

/// A room taken out of the Archive by a run that has not put it back yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTransaction {
    pub room_id: String,
    pub run_id: String,
    pub started_at: String,
    pub step: String,
}

impl StateStore {
    /// Records an intended change before it is made; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn journal_intent(
        &self,
        run_id: &str,
        check: &str,
        room_id: Option<&str>,
        subject: &str,
        action: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StateError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO journal(run_id, check_name, room_id, subject, action, detail, intended_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![run_id, check, room_id, subject, action, detail, ts(now)],
        )
        .map_err(self.sql_err("journal intent"))?;
        Ok(conn.last_insert_rowid())
    }

    /// Completes an entry once the change was read back (or failed).
    pub fn journal_complete(
        &self,
        id: i64,
        outcome: ActionOutcome,
        verified: bool,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.lock()
            .execute(
                "UPDATE journal SET completed_at = ?2, outcome = ?3, verified = ?4, error = ?5 WHERE id = ?1",
                params![id, ts(now), outcome.as_str(), verified as i64, error],
            )
            .map_err(self.sql_err("journal complete"))?;
        Ok(())
    }

    /// Entries that were intended and never completed.
    pub fn journal_open(&self) -> Result<Vec<JournalEntry>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, run_id, check_name, room_id, subject, action, detail, intended_at
                 FROM journal WHERE completed_at IS NULL ORDER BY id",
            )
            .map_err(self.sql_err("list journal"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(JournalEntry {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    check: r.get(2)?,
                    room_id: r.get(3)?,
                    subject: r.get(4)?,
                    action: r.get(5)?,
                    detail: r.get(6)?,
                    intended_at: r.get(7)?,
                })
            })
            .map_err(self.sql_err("list journal"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql_err("list journal"))
    }

    /// Completed entries of earlier runs that did not report them: runs
    /// that died or failed before their `actions.csv` was written, and
    /// entries that recovery settled in a run that then died too. The
    /// caller puts them in its own `actions.csv` and then calls
    /// [`StateStore::journal_mark_reported`].
    pub fn journal_unreported(
        &self,
        current_run: &str,
    ) -> Result<Vec<UnreportedEntry>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT j.id, j.run_id, j.check_name, j.room_id, j.subject, j.action, j.detail,
                        j.intended_at, j.completed_at, COALESCE(j.outcome, ''), COALESCE(j.verified, 0), j.error
                 FROM journal j LEFT JOIN runs r ON r.run_id = j.run_id
                 WHERE j.completed_at IS NOT NULL
                   AND j.run_id != ?1
                   AND COALESCE(r.status, 'incomplete') NOT IN ('clean', 'findings', 'stopped', 'running')
                   AND j.id NOT IN (SELECT journal_id FROM journal_reported)
                 ORDER BY j.id",
            )
            .map_err(self.sql_err("list unreported journal"))?;
        let rows = stmt
            .query_map(params![current_run], |r| {
                Ok(UnreportedEntry {
                    entry: JournalEntry {
                        id: r.get(0)?,
                        run_id: r.get(1)?,
                        check: r.get(2)?,
                        room_id: r.get(3)?,
                        subject: r.get(4)?,
                        action: r.get(5)?,
                        detail: r.get(6)?,
                        intended_at: r.get(7)?,
                    },
                    completed_at: r.get(8)?,
                    outcome: r.get(9)?,
                    verified: r.get::<_, i64>(10)? != 0,
                    error: r.get(11)?,
                })
            })
            .map_err(self.sql_err("list unreported journal"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql_err("list unreported journal"))
    }

    /// Records that a run's `actions.csv` (now written) holds its own
    /// completed entries and the completed ones among `others` (entries of
    /// earlier runs it reported or settled).
    pub fn journal_mark_reported(&self, run_id: &str, others: &[i64]) -> Result<(), StateError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(self.sql_err("begin journal reported"))?;
        tx.execute(
            "INSERT OR IGNORE INTO journal_reported(journal_id, run_id)
             SELECT id, ?1 FROM journal WHERE run_id = ?1 AND completed_at IS NOT NULL",
            params![run_id],
        )
        .map_err(self.sql_err("mark journal reported"))?;
        for id in others {
            tx.execute(
                "INSERT OR IGNORE INTO journal_reported(journal_id, run_id)
                 SELECT id, ?2 FROM journal WHERE id = ?1 AND completed_at IS NOT NULL",
                params![id, run_id],
            )
            .map_err(self.sql_err("mark journal reported"))?;
        }
        tx.commit().map_err(self.sql_err("commit journal reported"))
    }

    /// Whether a change of this kind on this subject was already completed
    /// as done by an earlier run (so a repeated run never applies it twice).
    pub fn journal_done_count(&self, run_id: &str) -> Result<u64, StateError> {
        self.lock()
            .query_row(
                "SELECT COUNT(*) FROM journal WHERE run_id = ?1 AND outcome = 'done'",
                params![run_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.sql_err("count journal"))
    }

    /// Marks a room as out of the Archive (or a further step of it).
    pub fn transaction_step(
        &self,
        room_id: &str,
        run_id: &str,
        step: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.lock()
            .execute(
                "INSERT INTO archive_transactions(room_id, run_id, started_at, step) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(room_id) DO UPDATE SET step = excluded.step",
                params![room_id, run_id, ts(now), step],
            )
            .map_err(self.sql_err("transaction step"))?;
        Ok(())
    }

    /// Closes a room's transaction once it is back in the Archive.
    pub fn transaction_close(&self, room_id: &str) -> Result<(), StateError> {
        self.lock()
            .execute(
                "DELETE FROM archive_transactions WHERE room_id = ?1",
                params![room_id],
            )
            .map_err(self.sql_err("transaction close"))?;
        Ok(())
    }

    pub fn open_transactions(&self) -> Result<Vec<OpenTransaction>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT room_id, run_id, started_at, step FROM archive_transactions ORDER BY started_at")
            .map_err(self.sql_err("list transactions"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OpenTransaction {
                    room_id: r.get(0)?,
                    run_id: r.get(1)?,
                    started_at: r.get(2)?,
                    step: r.get(3)?,
                })
            })
            .map_err(self.sql_err("list transactions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql_err("list transactions"))
    }

    /// Whether any run's transaction touched this room at about this time
    /// (the webhook receiver ignores the events its own transactions cause).
    pub fn journaled_room_moves_since(
        &self,
        room_id: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let conn = self.lock();
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM journal WHERE room_id = ?1 AND action IN ('unarchive','re-archive','recover-re-archive') AND intended_at >= ?2",
                params![room_id, ts(since)],
                |r| r.get(0),
            )
            .map_err(self.sql_err("find room moves"))?;
        let open: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM archive_transactions WHERE room_id = ?1",
                params![room_id],
                |r| r.get(0),
            )
            .map_err(self.sql_err("find room moves"))?;
        Ok(n + open > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_entries_and_transactions() {
        let s = StateStore::open_in_memory().unwrap();
        let now = Utc::now();
        let id = s
            .journal_intent(
                "r1",
                "archived-room-guests",
                Some("5"),
                "user:x",
                "remove-member",
                "x",
                now,
            )
            .unwrap();
        assert_eq!(s.journal_open().unwrap().len(), 1);
        s.journal_complete(id, ActionOutcome::Done, true, None, now)
            .unwrap();
        assert!(s.journal_open().unwrap().is_empty());
        s.transaction_step("5", "r1", "unarchived", now).unwrap();
        assert_eq!(s.open_transactions().unwrap()[0].step, "unarchived");
        s.transaction_close("5").unwrap();
        assert!(s.open_transactions().unwrap().is_empty());
    }

    #[test]
    fn changes_of_a_run_without_a_report_are_reported_once_by_a_later_run() {
        let s = StateStore::open_in_memory().unwrap();
        let now = Utc::now();
        let change = |run: &str| {
            let id = s
                .journal_intent(
                    run,
                    "archived-room-guests",
                    Some("5"),
                    "user:x",
                    "remove-member",
                    "x",
                    now,
                )
                .unwrap();
            s.journal_complete(id, ActionOutcome::Done, true, None, now)
                .unwrap();
            id
        };
        // r1 finished and reported; r2 died.
        s.begin_run("r1", now, std::path::Path::new("/r1")).unwrap();
        change("r1");
        s.journal_mark_reported("r1", &[]).unwrap();
        s.finish_run("r1", now, "findings").unwrap();
        s.begin_run("r2", now, std::path::Path::new("/r2")).unwrap();
        let lost = change("r2");
        s.finish_run("r2", now, "incomplete").unwrap();
        let late = s.journal_unreported("r3").unwrap();
        assert_eq!(late.len(), 1);
        assert_eq!((late[0].entry.id, late[0].outcome.as_str()), (lost, "done"));
        // r3 wrote its report: nothing is reported again.
        s.journal_mark_reported("r3", &[lost]).unwrap();
        assert!(s.journal_unreported("r4").unwrap().is_empty());
    }
}
