//! When runs happen: each configured schedule (six-field cron, seconds
//! first, in an explicit IANA time zone) is compiled once at start, and a
//! task per schedule sleeps until the next fire time and then only sends a
//! [`Tick`]. It never runs an audit itself.
//!
//! Next fire times are computed here with `croner` on the zone's civil time
//! (`chrono-tz`), not by `tokio-cron-scheduler`, whose UTC offset freezes
//! after the first run (a 09:00 Europe/Berlin job fires at 10:00 after the
//! DST change). DST rules (croner's): a fixed-time job whose time falls into
//! the spring-forward gap runs at the first instant after the gap; in the
//! repeated autumn hour it runs once, at the earlier instant; interval jobs
//! (`0 */15 * * * *`) run on real instants through both changes.
//!
//! The task waits on tokio timers in naps of at most a minute and re-reads
//! the wall clock after each, so a clock step (NTP, suspend) moves the fire
//! time with it; a fire time is never used twice, even if the clock goes
//! back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio_util::sync::CancellationToken;

use super::DaemonError;
use crate::clock::Clock;
use crate::config::daemon::{Job, Schedule};

/// The longest single sleep before the wall clock is read again.
pub const MAX_NAP: Duration = Duration::from_secs(60);

/// A schedule ready to compute fire times.
#[derive(Debug, Clone)]
pub struct CompiledSchedule {
    pub name: String,
    pub job: Job,
    pub timezone: Tz,
    pub expr: String,
    cron: Cron,
}

/// One firing of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub schedule: String,
    pub job: Job,
    /// The fire time it stands for.
    pub due: DateTime<Utc>,
}

impl CompiledSchedule {
    /// Parses the cron expression (six fields, seconds first).
    pub fn compile(s: &Schedule) -> Result<CompiledSchedule, DaemonError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .build()
            .parse(&s.cron)
            .map_err(|e| DaemonError::Schedule {
                name: s.name.clone(),
                message: format!("{:?} is not a valid cron expression: {e}", s.cron),
            })?;
        Ok(CompiledSchedule {
            name: s.name.clone(),
            job: s.job,
            timezone: s.timezone,
            expr: s.cron.clone(),
            cron,
        })
    }

    /// The first fire time strictly after `after`, computed on the zone's
    /// wall clock (DST-correct); `None` if the expression never matches again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Compiles every schedule of a config, failing on the first bad one.
pub fn compile_all(schedules: &[Schedule]) -> Result<Vec<CompiledSchedule>, DaemonError> {
    schedules.iter().map(CompiledSchedule::compile).collect()
}

/// Drives one schedule until `cancel`: sleeps until each fire time (read
/// from `clock`) and hands a [`Tick`] to `fire`, which must not block.
pub async fn drive(
    schedule: CompiledSchedule,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
    mut fire: impl FnMut(Tick),
) {
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        let now = clock.now();
        // Never before (or at) a fire time already used, even if the wall
        // clock went back.
        let from = last.map_or(now, |l| l.max(now));
        let Some(due) = schedule.next_after(from) else {
            tracing::error!(schedule = %schedule.name, cron = %schedule.expr, "the schedule has no further fire time; it stops");
            return;
        };
        tracing::debug!(schedule = %schedule.name, next = %due, "next fire time");
        loop {
            let now = clock.now();
            if now >= due {
                break;
            }
            let wait = (due - now).to_std().unwrap_or(Duration::ZERO).min(MAX_NAP);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if cancel.is_cancelled() {
            return;
        }
        last = Some(due);
        fire(Tick {
            schedule: schedule.name.clone(),
            job: schedule.job,
            due,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sched(cron: &str, tz: &str) -> CompiledSchedule {
        CompiledSchedule::compile(&Schedule {
            name: "t".into(),
            cron: cron.into(),
            job: Job::Audit,
            timezone: tz.parse().unwrap(),
        })
        .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fires(s: &CompiledSchedule, from: &str, n: usize) -> Vec<DateTime<Utc>> {
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(t).unwrap();
            out.push(t);
        }
        out
    }

    #[test]
    fn daily_local_time_keeps_its_wall_clock_across_spring_forward() {
        // Europe/Berlin goes from UTC+1 to UTC+2 at 2026-03-29 01:00 UTC.
        let s = sched("0 0 9 * * *", "Europe/Berlin");
        assert_eq!(
            fires(&s, "2026-03-27T12:00:00Z", 3),
            vec![
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-30T07:00:00Z"),
            ]
        );
    }

    #[test]
    fn daily_local_time_keeps_its_wall_clock_across_fall_back() {
        // Back from UTC+2 to UTC+1 at 2026-10-25 01:00 UTC.
        let s = sched("0 0 9 * * *", "Europe/Berlin");
        assert_eq!(
            fires(&s, "2026-10-24T12:00:00Z", 2),
            vec![utc("2026-10-25T08:00:00Z"), utc("2026-10-26T08:00:00Z")]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_right_after_it() {
        // 02:30 does not exist on 2026-03-29 in Berlin.
        let s = sched("0 30 2 * * *", "Europe/Berlin");
        assert_eq!(
            fires(&s, "2026-03-28T12:00:00Z", 2),
            vec![utc("2026-03-29T01:00:00Z"), utc("2026-03-30T00:30:00Z")]
        );
    }

    #[test]
    fn a_time_in_the_repeated_hour_runs_once() {
        // 02:30 happens twice on 2026-10-25 in Berlin: run at the first.
        let s = sched("0 30 2 * * *", "Europe/Berlin");
        assert_eq!(
            fires(&s, "2026-10-24T12:00:00Z", 2),
            vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn hourly_runs_every_real_hour_through_both_changes() {
        let s = sched("0 0 * * * *", "Europe/Berlin");
        let spring = fires(&s, "2026-03-29T00:30:00Z", 3);
        assert_eq!(
            spring,
            vec![
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-29T02:00:00Z"),
                utc("2026-03-29T03:00:00Z"),
            ]
        );
        let autumn = fires(&s, "2026-10-24T23:30:00Z", 3);
        assert_eq!(
            autumn,
            vec![
                utc("2026-10-25T00:00:00Z"),
                utc("2026-10-25T01:00:00Z"),
                utc("2026-10-25T02:00:00Z"),
            ]
        );
    }

    #[test]
    fn utc_seconds_schedule() {
        let s = sched("*/2 * * * * *", "UTC");
        assert_eq!(
            fires(&s, "2026-01-01T00:00:00.500Z", 2),
            vec![utc("2026-01-01T00:00:02Z"), utc("2026-01-01T00:00:04Z")]
        );
    }

    #[test]
    fn bad_expression_is_refused() {
        let err = CompiledSchedule::compile(&Schedule {
            name: "bad".into(),
            cron: "0 61 * * * *".into(),
            job: Job::Audit,
            timezone: Tz::UTC,
        })
        .unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
    }

    /// A wall clock that moves with tokio's (paused) time, starting at a
    /// chosen instant: the injected time source for the driving loop.
    struct TokioClock {
        start_wall: DateTime<Utc>,
        start: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> DateTime<Utc> {
            let elapsed = tokio::time::Instant::now() - self.start;
            self.start_wall + chrono::Duration::from_std(elapsed).unwrap()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn driving_loop_fires_at_dst_correct_instants() {
        let clock = Arc::new(TokioClock {
            start_wall: Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).unwrap(),
            start: tokio::time::Instant::now(),
        });
        let s = sched("0 0 9 * * *", "Europe/Berlin");
        let cancel = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let c = clock.clone();
        let task = tokio::spawn(drive(s, clock.clone(), cancel.clone(), move |t| {
            let _ = tx.send((t, c.now()));
        }));
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(rx.recv().await.unwrap());
        }
        cancel.cancel();
        task.await.unwrap();
        let expected = [
            utc("2026-03-28T08:00:00Z"),
            utc("2026-03-29T07:00:00Z"),
            utc("2026-03-30T07:00:00Z"),
        ];
        for ((tick, fired_at), want) in got.iter().zip(expected) {
            assert_eq!(tick.due, want);
            // Fired on time by the injected clock, not an hour off.
            assert!(*fired_at >= want && *fired_at - want < chrono::Duration::seconds(1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_going_back_does_not_repeat_a_fire_time() {
        let clock = Arc::new(crate::clock::ManualClock::new(utc("2026-01-01T00:00:00Z")));
        let s = sched("0 * * * * *", "UTC");
        let cancel = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(drive(s, clock.clone(), cancel.clone(), move |t| {
            let _ = tx.send(t.due);
        }));
        tokio::task::yield_now().await;
        clock.set(utc("2026-01-01T00:01:00Z"));
        tokio::time::sleep(MAX_NAP).await;
        assert_eq!(rx.recv().await.unwrap(), utc("2026-01-01T00:01:00Z"));
        // NTP pulls the clock back 30 s: 00:01 must not fire again.
        clock.set(utc("2026-01-01T00:00:30Z"));
        tokio::time::sleep(MAX_NAP * 2).await;
        assert!(rx.try_recv().is_err());
        clock.set(utc("2026-01-01T00:02:00Z"));
        tokio::time::sleep(MAX_NAP).await;
        assert_eq!(rx.recv().await.unwrap(), utc("2026-01-01T00:02:00Z"));
        cancel.cancel();
        task.await.unwrap();
    }
}
