//! The daemon: decides *when* audits run; the audit run decides *what*.
//!
//! - Schedules ([`schedule`]) only send ticks into one-slot channels. One
//!   run loop executes audits, one at a time: scheduled ticks, and the
//!   webhook receiver's jobs ([`crate::webhook`]) from a bounded queue. A
//!   tick that finds an audit in progress is skipped and logged ("skipped:
//!   previous run still in progress"); a failed (or panicking) run is
//!   logged and counted, and the schedule goes on. `summary` ticks go to a
//!   loop of their own, so an hourly audit never swallows the daily summary.
//! - Single instance: [`acquire_lock`] holds a lock file next to the state
//!   store for the life of the process.
//! - SIGTERM/SIGINT: stop taking work (schedules, listeners), let the
//!   current run finish the room it is on (the auditor's cancellation token
//!   is checked between rooms, never inside a transaction), then exit within
//!   `daemon.shutdown_timeout_secs`. SIGHUP re-reads the config
//!   ([`reload`]); an invalid one is logged and the old one stays.
//! - systemd: `READY=1`, `WATCHDOG=1` pings and `STOPPING=1` through
//!   [`sd_notify`]; a critical task that dies makes the daemon exit non-zero
//!   so systemd restarts it, instead of looking healthy while idle.
//! - Every task runs on one `TaskTracker`; nothing is spawned detached.
//!
//! It does not audit, write reports or send mail itself.

mod lock;
mod reload;
pub mod schedule;
pub mod sd_notify;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::UserId;
use crate::audit::{Auditor, RunError, RunOutcome, RunRequest};
use crate::clock::{Clock, SystemClock};
use crate::config::daemon::{Job, LogFormat};
use crate::config::notify::SummaryCadence;
use crate::config::{Config, ConfigError};
use crate::metrics::{Metrics, Trigger};
use crate::state::StateError;
use crate::webhook::{self, WebhookJob};
pub use lock::{InstanceLock, acquire_lock, lock_path};
use schedule::{CompiledSchedule, Tick};
use sd_notify::SdNotify;

/// How many accepted webhook events may wait for the run loop.
pub const WEBHOOK_QUEUE: usize = 64;

/// What `docspace-auditor daemon` needs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_path: PathBuf,
}

/// Why the daemon could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("another docspace-auditor holds the lock {}: {holder}", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("lock file {}: {operation}: {source}", path.display())]
    Lock {
        path: PathBuf,
        operation: &'static str,
        source: std::io::Error,
    },
    #[error("schedule {name:?}: {message}")]
    Schedule { name: String, message: String },
    #[error("cannot start the auditor: {0}")]
    Start(#[from] RunError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{what} listener {addr}: cannot listen: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{what} listener stopped: {source}")]
    Serve {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        source: std::io::Error,
    },
    #[error(
        "the {task} task stopped unexpectedly; exiting so the service manager restarts the daemon"
    )]
    TaskDied { task: String },
    #[error("work did not stop within the shutdown timeout of {}s", timeout.as_secs())]
    ShutdownTimeout { timeout: Duration },
}

impl DaemonError {
    /// The process exit code: 2 for configuration problems and a lock held
    /// by another instance, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Config(_) | DaemonError::Locked { .. } | DaemonError::Schedule { .. } => {
                crate::cli::exit::USAGE
            }
            _ => crate::cli::exit::RUN_FAILED,
        }
    }
}

/// The log format the config asks for (`daemon.log_format`), read without
/// validating the rest, so `main` can set up logging before loading it.
/// Unreadable files and unknown values give `Text`.
pub fn configured_log_format(config_path: &Path) -> LogFormat {
    let format = std::fs::read_to_string(config_path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("daemon")?
                .get("log_format")?
                .as_str()
                .map(str::to_string)
        });
    match format.as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// Runs the daemon until SIGTERM or SIGINT; `Ok` on a clean shutdown.
pub async fn run_daemon(options: DaemonOptions) -> Result<(), DaemonError> {
    let config = Config::load(&options.config_path)?;
    let lock = acquire_lock(&config.state_path)?;
    tracing::debug!(lock = %lock.path().display(), "instance lock taken");
    let result = run_locked(config, &options.config_path, Arc::new(SystemClock)).await;
    drop(lock);
    result
}

// ---- shared state ----------------------------------------------------------------

/// What every task of the daemon shares.
struct Shared {
    config_path: PathBuf,
    clock: Arc<dyn Clock>,
    auditor: watch::Sender<Auditor>,
    key_user: watch::Sender<Option<UserId>>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    /// Cancelled on SIGTERM/SIGINT.
    shutdown: CancellationToken,
    /// Handed to every auditor (checked between rooms).
    run_cancel: CancellationToken,
    /// The current schedules' token, replaced on reload.
    schedules: Mutex<CancellationToken>,
    audit_ticks: mpsc::Sender<Tick>,
    summary_ticks: mpsc::Sender<Tick>,
    audit_busy: AtomicBool,
    summary_busy: AtomicBool,
    fatal: mpsc::Sender<DaemonError>,
    /// Sent/pending counts of the mail queue seen last (for the counters).
    mail_seen: Mutex<Option<u64>>,
}

impl Shared {
    fn auditor(&self) -> Auditor {
        self.auditor.borrow().clone()
    }

    fn config(&self) -> Arc<Config> {
        self.auditor.borrow().config().clone()
    }
}

/// Held by a critical task; if it is dropped before shutdown (the task
/// returned or panicked), the daemon exits non-zero.
struct Critical {
    name: String,
    token: CancellationToken,
    fatal: mpsc::Sender<DaemonError>,
}

impl Drop for Critical {
    fn drop(&mut self) {
        if !self.token.is_cancelled() {
            tracing::error!(task = %self.name, "a critical task stopped unexpectedly");
            let _ = self.fatal.try_send(DaemonError::TaskDied {
                task: self.name.clone(),
            });
        }
    }
}

fn critical(shared: &Shared, name: impl Into<String>, token: &CancellationToken) -> Critical {
    Critical {
        name: name.into(),
        token: token.clone(),
        fatal: shared.fatal.clone(),
    }
}

// ---- start and stop -----------------------------------------------------------------

async fn run_locked(
    config: Config,
    config_path: &Path,
    clock: Arc<dyn Clock>,
) -> Result<(), DaemonError> {
    let schedules = schedule::compile_all(&config.daemon.schedules)?;

    let sig = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| DaemonError::Signal {
            signal: name,
            source,
        })
    };
    let mut sigterm = sig(SignalKind::terminate(), "SIGTERM")?;
    let mut sigint = sig(SignalKind::interrupt(), "SIGINT")?;
    let mut sighup = sig(SignalKind::hangup(), "SIGHUP")?;

    let shutdown = CancellationToken::new();
    let run_cancel = shutdown.child_token();
    let config = Arc::new(config);
    let auditor = Auditor::new(config.clone(), clock.clone(), run_cancel.clone())?;
    let state = auditor.state().clone();
    webhook::ensure_table(&state)?;
    if let Err(e) = webhook::prune_events(&state, clock.now()) {
        tracing::warn!(error = %e, "old webhook event ids could not be pruned");
    }
    let metrics = Arc::new(Metrics::new());
    if let Ok(Some((_, at))) = state.last_successful_run() {
        metrics.set_last_success(at);
    }

    let (audit_tx, audit_rx) = mpsc::channel::<Tick>(1);
    let (summary_tx, summary_rx) = mpsc::channel::<Tick>(1);
    let (jobs_tx, jobs_rx) = mpsc::channel::<WebhookJob>(WEBHOOK_QUEUE);
    let (fatal_tx, mut fatal_rx) = mpsc::channel::<DaemonError>(8);
    let (auditor_tx, auditor_rx) = watch::channel(auditor);
    let (key_user_tx, key_user_rx) = watch::channel(None);

    let shared = Arc::new(Shared {
        config_path: config_path.to_path_buf(),
        clock: clock.clone(),
        auditor: auditor_tx,
        key_user: key_user_tx,
        metrics: metrics.clone(),
        tracker: TaskTracker::new(),
        shutdown: shutdown.clone(),
        run_cancel,
        schedules: Mutex::new(shutdown.child_token()),
        audit_ticks: audit_tx,
        summary_ticks: summary_tx,
        audit_busy: AtomicBool::new(false),
        summary_busy: AtomicBool::new(false),
        fatal: fatal_tx,
        mail_seen: Mutex::new(None),
    });

    record_mail_counts(&shared);

    // Listeners first: a port that cannot be bound fails the start.
    let receiver = Arc::new(webhook::Receiver {
        auditor: auditor_rx,
        key_user: key_user_rx,
        jobs: jobs_tx.clone(),
        dedupe: webhook::Dedupe::new(webhook::RECENT_EVENTS),
        metrics: metrics.clone(),
        clock: clock.clone(),
    });
    start_listeners(&shared, &config, receiver).await?;

    // The loops.
    {
        let s = shared.clone();
        let guard = critical(&shared, "run loop", &shutdown);
        shared.tracker.spawn(async move {
            let _guard = guard;
            run_loop(s, audit_rx, jobs_rx).await;
        });
        let s = shared.clone();
        let guard = critical(&shared, "summary loop", &shutdown);
        shared.tracker.spawn(async move {
            let _guard = guard;
            summary_loop(s, summary_rx).await;
        });
    }
    start_schedules(&shared, schedules);
    spawn_startup_chores(&shared, jobs_tx);

    let notify = SdNotify::from_env();
    let watchdog = sd_notify::watchdog_interval();
    if let (Some(n), Some(interval)) = (notify.clone(), watchdog) {
        let token = shutdown.clone();
        shared.tracker.spawn(async move {
            let period = interval / 2;
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
                if let Err(e) = n.watchdog() {
                    tracing::warn!(error = %e, "watchdog ping failed");
                }
            }
        });
    }

    metrics.set_ready(true);
    let status = format!(
        "auditing on {} schedule(s){}{}",
        config.daemon.schedules.len(),
        if config.webhook.is_some() {
            ", webhooks on"
        } else {
            ""
        },
        if config.metrics.is_some() {
            ", metrics on"
        } else {
            ""
        },
    );
    tracing::info!(
        config = %config.file.display(),
        schedules = config.daemon.schedules.len(),
        webhook = config.webhook.is_some(),
        metrics = config.metrics.is_some(),
        "daemon started"
    );
    if let Some(n) = &notify
        && let Err(e) = n.ready(&status)
    {
        tracing::warn!(error = %e, "could not tell systemd the daemon is ready");
    }

    // Wait for a signal or a fatal error.
    let mut failure: Option<DaemonError> = None;
    loop {
        tokio::select! {
            _ = sigterm.recv() => {
                tracing::info!(signal = "SIGTERM", "shutting down: no new work; the current run finishes the room it is on");
                break;
            }
            _ = sigint.recv() => {
                tracing::info!(signal = "SIGINT", "shutting down: no new work; the current run finishes the room it is on");
                break;
            }
            _ = sighup.recv() => {
                tracing::info!(signal = "SIGHUP", "re-reading the config");
                reload::reload(&shared).await;
            }
            Some(e) = fatal_rx.recv() => {
                tracing::error!(error = %e, "shutting down after a fatal error");
                failure = Some(e);
                break;
            }
        }
    }

    metrics.set_stopping();
    if let Some(n) = &notify {
        let _ = n.stopping("finishing the current room, then stopping");
    }
    shutdown.cancel();
    shared.tracker.close();
    let shutdown_timeout = shared.config().daemon.shutdown_timeout;
    let drained = drain(
        &shared.tracker,
        shutdown_timeout,
        notify.as_ref().zip(watchdog),
    )
    .await;
    match (failure, drained) {
        (Some(e), _) => Err(e),
        (None, true) => {
            tracing::info!("daemon stopped");
            Ok(())
        }
        (None, false) => {
            tracing::error!(
                timeout_secs = shutdown_timeout.as_secs(),
                "work did not stop within the shutdown timeout; exiting anyway (the next run reports any unfinished run)"
            );
            Err(DaemonError::ShutdownTimeout {
                timeout: shutdown_timeout,
            })
        }
    }
}

/// Waits for every task, pinging the watchdog meanwhile; false on timeout.
async fn drain(
    tracker: &TaskTracker,
    timeout: Duration,
    watchdog: Option<(&SdNotify, Duration)>,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let wait = tracker.wait();
    tokio::pin!(wait);
    let period = watchdog.map_or(Duration::from_secs(3600), |(_, i)| i / 2);
    loop {
        tokio::select! {
            _ = &mut wait => return true,
            _ = tokio::time::sleep_until(deadline) => return false,
            _ = tokio::time::sleep(period) => {
                if let Some((n, _)) = watchdog {
                    let _ = n.watchdog();
                }
            }
        }
    }
}

async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, DaemonError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind { what, addr, source })
}

/// Binds the webhook and metrics listeners (metrics share the webhook
/// listener when both name the same address) and serves them until
/// shutdown.
async fn start_listeners(
    shared: &Arc<Shared>,
    config: &Config,
    receiver: Arc<webhook::Receiver>,
) -> Result<(), DaemonError> {
    let metrics_router = || crate::metrics::router(shared.metrics.clone());
    let mut metrics_on_webhook = false;
    if let Some(w) = &config.webhook {
        let mut router = webhook::router(&w.path, receiver);
        if config
            .metrics
            .as_ref()
            .is_some_and(|m| m.listen == w.listen)
        {
            router = router.merge(metrics_router());
            metrics_on_webhook = true;
        }
        let listener = bind("webhook", w.listen).await?;
        let addr = listener.local_addr().unwrap_or(w.listen);
        tracing::info!(listen = %addr, path = %w.path, metrics = metrics_on_webhook, "webhook listener ready");
        serve(shared, "webhook", listener, router);
    }
    if let Some(m) = config.metrics.as_ref().filter(|_| !metrics_on_webhook) {
        let listener = bind("metrics", m.listen).await?;
        let addr = listener.local_addr().unwrap_or(m.listen);
        tracing::info!(listen = %addr, "metrics listener ready (/metrics, /healthz)");
        serve(shared, "metrics", listener, metrics_router());
    }
    Ok(())
}

fn serve(
    shared: &Arc<Shared>,
    what: &'static str,
    listener: tokio::net::TcpListener,
    router: axum::Router,
) {
    let token = shared.shutdown.clone();
    let fatal = shared.fatal.clone();
    shared.tracker.spawn(async move {
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .await;
        if let Err(source) = served
            && !token.is_cancelled()
        {
            let _ = fatal.try_send(DaemonError::Serve { what, source });
        }
    });
}

/// Starts one task per schedule under a fresh token, stopping the previous
/// generation (on reload).
fn start_schedules(shared: &Arc<Shared>, schedules: Vec<CompiledSchedule>) {
    let token = shared.shutdown.child_token();
    let old = {
        let mut g = shared.schedules.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *g, token.clone())
    };
    old.cancel();
    let now = shared.clock.now();
    for s in schedules {
        let next = s.next_after(now);
        tracing::info!(
            schedule = %s.name,
            cron = %s.expr,
            timezone = %s.timezone,
            job = ?s.job,
            next = ?next.map(|t| t.with_timezone(&s.timezone).to_rfc3339()),
            "schedule armed"
        );
        let s2 = shared.clone();
        let guard = critical(shared, format!("schedule {:?}", s.name), &token);
        let token = token.clone();
        let clock = shared.clock.clone();
        shared.tracker.spawn(async move {
            let _guard = guard;
            schedule::drive(s, clock, token, |tick| on_tick(&s2, tick)).await;
        });
    }
}

/// A schedule fired: hand the tick to its loop, or skip it if a run is
/// still going. Never blocks.
fn on_tick(shared: &Shared, tick: Tick) {
    let (tx, busy) = match tick.job {
        Job::Audit => (&shared.audit_ticks, &shared.audit_busy),
        Job::Summary => (&shared.summary_ticks, &shared.summary_busy),
    };
    let skip = |shared: &Shared, tick: &Tick| {
        tracing::warn!(schedule = %tick.schedule, due = %tick.due, "skipped: previous run still in progress");
        shared.metrics.record_tick(&tick.schedule, "skipped");
    };
    if busy.load(Ordering::SeqCst) {
        skip(shared, &tick);
        return;
    }
    let name = tick.schedule.clone();
    match tx.try_send(tick) {
        Ok(()) => shared.metrics.record_tick(&name, "started"),
        Err(mpsc::error::TrySendError::Full(tick)) => skip(shared, &tick),
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Chores at start: learn the key's user, deliver mail left queued, and
/// queue again the webhook events whose runs never finished.
fn spawn_startup_chores(shared: &Arc<Shared>, jobs: mpsc::Sender<WebhookJob>) {
    let s = shared.clone();
    shared.tracker.spawn(async move {
        let auditor = s.auditor();
        tokio::select! {
            _ = s.shutdown.cancelled() => return,
            me = auditor.client().whoami() => match me {
                Ok(me) => {
                    tracing::debug!(user_id = %me.id, "key user identified");
                    s.key_user.send_replace(Some(me.id));
                }
                Err(e) => tracing::warn!(error = %e, "the key's user could not be identified yet; webhook events are matched against the journal only until a run succeeds"),
            }
        }
        flush_mail(&s, "start").await;
        let pending = match webhook::queued_jobs(auditor.state()) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "webhook events left queued could not be read");
                return;
            }
        };
        if !pending.is_empty() {
            tracing::info!(count = pending.len(), "queuing again the webhook events whose runs did not finish");
        }
        for job in pending {
            tokio::select! {
                _ = s.shutdown.cancelled() => return,
                sent = jobs.send(job) => if sent.is_err() { return },
            }
        }
    });
}

// ---- the run loop ---------------------------------------------------------------------

enum Work {
    Tick(Tick),
    Webhook(WebhookJob),
}

async fn run_loop(
    shared: Arc<Shared>,
    mut ticks: mpsc::Receiver<Tick>,
    mut jobs: mpsc::Receiver<WebhookJob>,
) {
    loop {
        let work = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => return,
            Some(job) = jobs.recv() => Work::Webhook(job),
            Some(tick) = ticks.recv() => Work::Tick(tick),
            else => return,
        };
        shared.audit_busy.store(true, Ordering::SeqCst);
        match work {
            Work::Tick(tick) => {
                tracing::info!(schedule = %tick.schedule, due = %tick.due, "scheduled audit starting");
                if let Err(e) = execute(&shared, Trigger::Schedule, RunRequest::default()).await {
                    tracing::error!(schedule = %tick.schedule, error = %e, "scheduled audit failed; the schedule goes on");
                }
            }
            Work::Webhook(job) => {
                tracing::info!(event_id = job.event_id, target = ?job.target, "webhook audit starting");
                let result = execute(&shared, Trigger::Webhook, job.request()).await;
                let status = match &result {
                    Ok(_) => Some("done"),
                    // Stopped before it began: run it after the restart.
                    Err(RunOutcomeError::Run(RunError::Cancelled)) => None,
                    Err(e) => {
                        tracing::error!(event_id = job.event_id, error = %e, "webhook audit failed");
                        Some("failed")
                    }
                };
                if let Some(status) = status
                    && let Err(e) =
                        webhook::set_event_status(shared.auditor().state(), job.event_id, status)
                {
                    tracing::warn!(event_id = job.event_id, error = %e, "webhook event status not recorded");
                }
            }
        }
        shared.audit_busy.store(false, Ordering::SeqCst);
        tracing::debug!("run loop idle");
    }
}

/// Why a run gave no outcome.
#[derive(Debug, thiserror::Error)]
enum RunOutcomeError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the run panicked: {0}")]
    Panicked(String),
}

/// Runs one audit in a tracked task of its own (so a panic is caught and
/// counted instead of killing the run loop), and records its metrics.
async fn execute(
    shared: &Arc<Shared>,
    trigger: Trigger,
    request: RunRequest,
) -> Result<RunOutcome, RunOutcomeError> {
    let auditor = shared.auditor();
    let full = request.only_room.is_none() && request.only_user.is_none();
    let stats = auditor.client().stats();
    let (before, retries_before) = (stats.by_status(), stats.retries());
    let started = Instant::now();
    shared.metrics.set_running(true);
    let handle = {
        let auditor = auditor.clone();
        shared
            .tracker
            .spawn(async move { auditor.run(request).await })
    };
    let result: Result<RunOutcome, RunOutcomeError> = match handle.await {
        Ok(r) => r.map_err(RunOutcomeError::from),
        Err(e) => Err(RunOutcomeError::Panicked(e.to_string())),
    };
    let elapsed = started.elapsed();
    shared.metrics.set_running(false);

    let after = stats.by_status();
    let delta = after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(before.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    shared
        .metrics
        .record_api(&delta, stats.retries().saturating_sub(retries_before));
    let label = match &result {
        Ok(o) => crate::metrics::outcome_label(o),
        Err(RunOutcomeError::Run(RunError::Cancelled)) => "cancelled",
        Err(_) => "failed",
    };
    shared
        .metrics
        .record_run(trigger, label, result.as_ref().ok(), elapsed, full);
    if let Ok(o) = &result
        && let Some(me) = &o.key_user
    {
        shared.key_user.send_if_modified(|cur| {
            let changed = cur.as_ref() != Some(me);
            if changed {
                *cur = Some(me.clone());
            }
            changed
        });
    }
    record_mail_counts(shared);
    result
}

// ---- summary ---------------------------------------------------------------------------

async fn summary_loop(shared: Arc<Shared>, mut ticks: mpsc::Receiver<Tick>) {
    loop {
        let tick = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => return,
            Some(tick) = ticks.recv() => tick,
            else => return,
        };
        shared.summary_busy.store(true, Ordering::SeqCst);
        tracing::info!(schedule = %tick.schedule, due = %tick.due, "summary job starting");
        send_summary(&shared, &tick.schedule).await;
        shared.summary_busy.store(false, Ordering::SeqCst);
    }
}

/// The `summary` job: with `notify.security_summary = "scheduled"`, one
/// security summary of the runs held since the last one; otherwise the
/// summaries went out after each run and the job only delivers mail left
/// in the queue.
async fn send_summary(shared: &Arc<Shared>, schedule: &str) {
    let config = shared.config();
    if config.notify.security_summary != SummaryCadence::Scheduled {
        flush_mail(shared, "summary").await;
        tracing::info!(
            schedule,
            "summary job done: the mail queue was delivered (security summaries are sent after every run with notify.security_summary = \"every_run\")"
        );
        return;
    }
    // The auditor's notifier: built from the same (possibly reloaded)
    // config, present when mail is enabled.
    let auditor = shared.auditor();
    let Some(notifier) = auditor.notifier() else {
        return;
    };
    match notifier
        .send_scheduled_summary(auditor.state(), shared.clock.now())
        .await
    {
        Ok(r) => {
            for w in &r.warnings {
                tracing::warn!(schedule, "{w}");
            }
            tracing::info!(
                schedule,
                queued = r.queued,
                sent = r.sent,
                failed = r.failed,
                still_queued = r.still_queued,
                "summary job done"
            );
        }
        Err(e) => {
            tracing::error!(schedule, error = %e, "the scheduled summary failed; the runs stay held");
        }
    }
    record_mail_counts(shared);
}

/// Delivers mail left in the queue (at start and for `summary` ticks).
async fn flush_mail(shared: &Arc<Shared>, why: &'static str) {
    let auditor = shared.auditor();
    let Some(notifier) = auditor.notifier() else {
        return;
    };
    match notifier
        .flush_queue(auditor.state(), shared.clock.now())
        .await
    {
        Ok(r) => {
            if r.sent > 0 || r.failed > 0 || r.still_queued > 0 {
                tracing::info!(
                    why,
                    sent = r.sent,
                    failed = r.failed,
                    still_queued = r.still_queued,
                    "mail queue delivered"
                );
            }
        }
        Err(e) => tracing::error!(why, error = %e, "the mail queue could not be delivered"),
    }
    record_mail_counts(shared);
}

/// Updates the email counters from the notifier's queue table: messages
/// sent since last seen, and messages still waiting.
fn record_mail_counts(shared: &Shared) {
    let auditor = shared.auditor();
    let state = auditor.state();
    let counts = {
        let conn = state.lock();
        conn.query_row(
            "SELECT COUNT(sent_at), COUNT(*) - COUNT(sent_at) FROM notify_queue",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
    };
    let mut seen = shared.mail_seen.lock().unwrap_or_else(|p| p.into_inner());
    // No table yet: nothing was ever queued.
    let Ok((sent, queued)) = counts else {
        seen.get_or_insert(0);
        return;
    };
    let sent = u64::try_from(sent).unwrap_or(0);
    let delta = match *seen {
        Some(prev) => sent.saturating_sub(prev),
        None => 0,
    };
    *seen = Some(sent);
    shared
        .metrics
        .record_emails(delta, Some(u64::try_from(queued).unwrap_or(0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_is_read_without_validating_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[daemon]\nlog_format = \"json\"\n[portal]\nnonsense = 1\n",
        )
        .unwrap();
        assert_eq!(configured_log_format(&path), LogFormat::Json);
        std::fs::write(&path, "[daemon]\nlog_format = \"text\"\n").unwrap();
        assert_eq!(configured_log_format(&path), LogFormat::Text);
        assert_eq!(
            configured_log_format(&dir.path().join("missing.toml")),
            LogFormat::Text
        );
    }

    #[test]
    fn exit_codes() {
        let locked = DaemonError::Locked {
            path: PathBuf::from("/x.lock"),
            holder: "pid 1".into(),
        };
        assert_eq!(locked.exit_code(), 2);
        assert!(locked.to_string().contains("holds the lock /x.lock: pid 1"));
        let timeout = DaemonError::ShutdownTimeout {
            timeout: Duration::from_secs(5),
        };
        assert_eq!(timeout.exit_code(), 1);
    }
}
