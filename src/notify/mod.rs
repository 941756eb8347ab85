//! Notifications: *tells* people what a run found and did. After each run,
//! one digest per room owner (across all checks), an escalation message
//! when configured, and one summary for the security team with the CSV
//! reports attached. It never changes the portal and never fails a run:
//! delivery problems are counted and the messages stay queued.
//!
//! The flow of [`Notifier::after_run`]:
//! 1. `decide` picks the findings worth a message (new, status changed,
//!    reminder due, escalation) against what was last mailed, kept in the
//!    state store (`store`);
//! 2. `compose` renders the `templates` and builds RFC 5322 bytes;
//! 3. each message is queued in the same transaction that records its
//!    findings as notified;
//! 4. the queue (this run's messages and any left from earlier runs) is
//!    handed to the `transport`; a row is marked sent only once the server
//!    accepted it.
//!
//! Owners who are disabled, have no email or an invalid one are never
//! mailed: their rooms go to `notify.fallback_address`, and the message
//! says why.

pub mod compose;
pub mod decide;
pub mod store;
pub mod templates;
pub mod transport;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use lettre::Address;
use lettre::message::Mailbox;

use crate::address::is_valid_email;
use crate::audit::{RunOutcome, RunResult};
use crate::check::CheckId;
use crate::config::notify::{NotifyConfig, SummaryCadence};
use crate::finding::{Finding, RoomInfo};
use crate::state::{StateError, StateStore};
use compose::{DigestCtx, DigestRoom, SummaryCtx, SummaryItem, clean};
use decide::{Cadence, Reason};
use store::{Outgoing, Remember};
use templates::Templates;
pub use transport::{MailError, MailTransport, Recorded, RecordingTransport};

/// A notifier that could not be set up, or a state-store failure. Delivery
/// problems are not errors: they are counted in [`NotifyReport`].
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("template {name} ({origin}): {message}")]
    Template {
        name: String,
        origin: String,
        message: String,
    },
    #[error("the summary of run {run_id} could not be held for the scheduled summary: {message}")]
    Hold { run_id: String, message: String },
    #[error("notify.templates_dir {}: {message}", path.display())]
    TemplatesDir { path: PathBuf, message: String },
    #[error("notify.{key} {address:?}: not a usable address")]
    Address { key: &'static str, address: String },
    #[error("notify.smtp.ca_file {}: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("smtp {server}: cannot set up TLS: {message}")]
    Tls { server: String, message: String },
    #[error("notify.outbox_dir {}: {message}", path.display())]
    Outbox { path: PathBuf, message: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// What one call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyReport {
    /// Messages the transport accepted during this call.
    pub sent: usize,
    /// Messages this call added to the queue.
    pub queued: usize,
    /// Delivery attempts that failed during this call (those messages stay
    /// queued and are retried next time).
    pub failed: usize,
    /// Owner addresses that are not valid, so were not mailed (their rooms
    /// went to the fallback address, if any).
    pub invalid_addresses: Vec<String>,
    pub warnings: Vec<String>,
    /// Messages still waiting in the queue when the call returned.
    pub still_queued: usize,
}

impl NotifyReport {
    fn absorb(&mut self, other: NotifyReport) {
        self.sent += other.sent;
        self.queued += other.queued;
        self.failed += other.failed;
        self.invalid_addresses.extend(other.invalid_addresses);
        self.warnings.extend(other.warnings);
        self.still_queued = other.still_queued;
    }
}

/// Where one room's findings are mailed.
enum Route {
    Owner {
        address: Address,
        name: Option<String>,
    },
    Fallback {
        address: Address,
        reason: String,
    },
    Nobody {
        reason: String,
    },
}

/// One owner digest being assembled.
struct DigestDraft {
    ctx: DigestCtx,
    to: Mailbox,
    remember: Vec<Remember>,
}

/// Sends the messages of a run.
pub struct Notifier {
    config: NotifyConfig,
    from: Mailbox,
    from_domain: String,
    fallback: Option<Address>,
    escalation: Option<Address>,
    security_team: Vec<Address>,
    transport: Box<dyn MailTransport>,
    templates: Templates,
    /// One delivery round at a time (the daemon's start-up flush and a run's
    /// may overlap), so no queued message is handed over twice.
    delivery: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.config.enabled)
            .field("from", &self.from.to_string())
            .field("transport", &self.transport.describe())
            .finish()
    }
}

fn address(key: &'static str, text: &str) -> Result<Address, NotifyError> {
    if !is_valid_email(text) {
        return Err(NotifyError::Address {
            key,
            address: text.to_string(),
        });
    }
    text.trim()
        .parse::<Address>()
        .map_err(|_| NotifyError::Address {
            key,
            address: text.to_string(),
        })
}

impl Notifier {
    /// Builds the configured transport and loads and checks the templates.
    pub fn new(config: &NotifyConfig) -> Result<Notifier, NotifyError> {
        // A disabled notifier does not create the outbox folder.
        let transport = transport::from_config(&config.transport, config.enabled)?;
        Notifier::with_transport(config, transport)
    }

    /// Like [`Notifier::new`] with a transport of the caller's (tests use a
    /// [`RecordingTransport`]).
    pub fn with_transport(
        config: &NotifyConfig,
        transport: Box<dyn MailTransport>,
    ) -> Result<Notifier, NotifyError> {
        let from_addr = address("from", &config.from)?;
        let from_domain = from_addr.domain().to_string();
        let fallback = config
            .fallback_address
            .as_deref()
            .map(|a| address("fallback_address", a))
            .transpose()?;
        let escalation = config
            .escalation_address
            .as_deref()
            .map(|a| address("escalation_address", a))
            .transpose()?;
        let security_team = config
            .security_team
            .iter()
            .map(|a| address("security_team", a))
            .collect::<Result<Vec<_>, _>>()?;
        let templates = Templates::load(config.templates_dir.as_deref())?;
        // Render every template once, so an override with a typo fails now.
        let (d, s, e) = compose::samples();
        for name in ["digest.subject.txt", "digest.txt", "digest.html"] {
            templates.render(name, &d)?;
        }
        for name in ["summary.subject.txt", "summary.txt", "summary.html"] {
            templates.render(name, &s)?;
        }
        for name in [
            "escalation.subject.txt",
            "escalation.txt",
            "escalation.html",
        ] {
            templates.render(name, &e)?;
        }
        Ok(Notifier {
            config: config.clone(),
            from: compose::mailbox(Some("DocSpace auditor"), from_addr),
            from_domain,
            fallback,
            escalation,
            security_team,
            transport,
            templates,
            delivery: tokio::sync::Mutex::new(()),
        })
    }

    /// Checks that mail could be delivered, without sending any: for SMTP a
    /// connection with TLS and AUTH, for the outbox a write in its folder.
    /// Returns what was checked.
    pub async fn check_transport(&self) -> Result<String, MailError> {
        self.transport.check().await?;
        Ok(self.transport.describe())
    }

    /// What the transport is, for logs.
    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    fn cadence(&self) -> Cadence {
        Cadence {
            renotify_after_days: self.config.renotify_after_days,
            escalate_after_reminders: self.config.escalate_after_reminders,
        }
    }

    /// After a run: owner digests (one per owner per run across all checks,
    /// only for findings that are new, changed status, or due a reminder per
    /// renotify_after_days; escalation after escalate_after_reminders), then
    /// the security-team summary for the run with findings.csv/actions.csv
    /// attached (size-capped; above the cap, the path instead). Queues
    /// first, then delivers the queue (including messages left from earlier
    /// runs). Never fails the run: delivery problems are counted and the
    /// messages stay queued. An `Err` means the state store failed.
    pub async fn after_run(
        &self,
        state: &StateStore,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
    ) -> Result<NotifyReport, NotifyError> {
        let mut report = NotifyReport::default();
        if !self.config.enabled {
            return Ok(report);
        }
        store::ensure_schema(state)?;
        let backlog = store::pending_count(state)?;
        self.queue_run(state, outcome, now, backlog, &mut report)?;
        let delivered = self.deliver(state, now).await?;
        report.absorb(delivered);
        tracing::info!(
            run_id = %outcome.run_id,
            sent = report.sent,
            queued = report.queued,
            failed = report.failed,
            still_queued = report.still_queued,
            "notifications done"
        );
        Ok(report)
    }

    /// Retries queued messages (called at daemon start and by after_run).
    pub async fn flush_queue(
        &self,
        state: &StateStore,
        now: DateTime<Utc>,
    ) -> Result<NotifyReport, NotifyError> {
        if !self.config.enabled {
            return Ok(NotifyReport::default());
        }
        store::ensure_schema(state)?;
        self.deliver(state, now).await
    }

    // ---- planning -------------------------------------------------------------

    fn route(&self, room: &RoomInfo, invalid: &mut Vec<String>) -> Route {
        let label = owner_label(room);
        let reason = if room.owner_active == Some(false) {
            format!("the owner {label} is disabled")
        } else {
            match room.owner_email.as_deref().map(str::trim) {
                None | Some("") if room.owner_id.is_none() && room.owner_name.is_none() => {
                    "the room has no known owner".to_string()
                }
                None | Some("") => format!("the owner {label} has no email address"),
                Some(e) => match e.parse::<Address>() {
                    Ok(address) if is_valid_email(e) => {
                        return Route::Owner {
                            address,
                            name: room.owner_name.as_deref().map(|n| clean(n, 100)),
                        };
                    }
                    _ => {
                        invalid.push(clean(e, 254));
                        format!("the owner {label} has an invalid email address")
                    }
                },
            }
        };
        match &self.fallback {
            Some(address) => Route::Fallback {
                address: address.clone(),
                reason,
            },
            None => Route::Nobody { reason },
        }
    }

    /// Decides and queues everything of one run.
    fn queue_run(
        &self,
        state: &StateStore,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
        backlog: usize,
        report: &mut NotifyReport,
    ) -> Result<(), NotifyError> {
        // Only findings about a room have an owner; a room that could not be
        // audited is for the security team (in the summary's failures).
        let owned: Vec<(&Finding, &RoomInfo)> = outcome
            .findings
            .iter()
            .filter(|f| f.check != CheckId::RoomAudit)
            .filter_map(|f| f.room.as_ref().map(|r| (f, r)))
            .collect();
        let current: HashSet<String> = owned.iter().map(|(f, _)| f.key()).collect();
        store::forget_resolved(state, &current)?;
        let previous = store::load_previous(state)?;
        let first_seen = store::first_seen(state)?;
        let cadence = self.cadence();

        let mut drafts: Vec<DigestDraft> = Vec::new();
        let mut by_address: HashMap<String, usize> = HashMap::new();
        let mut escalations: Vec<SummaryItem> = Vec::new();
        let mut escalation_keys: Vec<String> = Vec::new();
        let mut undeliverable: Vec<String> = Vec::new();
        let mut invalid: Vec<String> = Vec::new();
        let mut seen_keys: HashSet<String> = HashSet::new();

        for (f, room) in owned {
            let key = f.key();
            if !seen_keys.insert(key.clone()) {
                continue;
            }
            let (to, redirect) = match self.route(room, &mut invalid) {
                Route::Owner { address, name } => {
                    (compose::mailbox(name.as_deref(), address), None)
                }
                Route::Fallback { address, reason } => {
                    (compose::mailbox(None, address), Some(reason))
                }
                Route::Nobody { reason } => {
                    let line = format!(
                        "room \"{}\" ({}): {reason}",
                        clean(&room.title, 200),
                        clean(&room.id.to_string(), 100),
                    );
                    if !undeliverable.contains(&line) {
                        undeliverable.push(line);
                    }
                    continue;
                }
            };
            let addr = to.email.to_string().to_ascii_lowercase();
            let idx = *by_address.entry(addr.clone()).or_insert_with(|| {
                drafts.push(DigestDraft {
                    ctx: DigestCtx {
                        run_id: clean(&outcome.run_id, 100),
                        generated_at: compose::minute(now),
                        dry_run: outcome.dry_run,
                        recipient: addr.clone(),
                        recipient_name: to.name.clone(),
                        fallback: false,
                        fallback_reasons: Vec::new(),
                        rooms: Vec::new(),
                        counts: Default::default(),
                        unchanged: 0,
                    },
                    to: to.clone(),
                    remember: Vec::new(),
                });
                drafts.len() - 1
            });
            let Some(draft) = drafts.get_mut(idx) else {
                continue;
            };
            let Some((reason, next)) =
                decide::decide(previous.get(&key), f.status, &addr, now, cadence)
            else {
                draft.ctx.unchanged += 1;
                continue;
            };
            let seen = first_seen.get(&key).copied();
            let item = compose::digest_item(f, &outcome.actions, outcome.dry_run, &reason, seen);
            draft.ctx.push(
                &room.id,
                || DigestRoom {
                    id: clean(&room.id.to_string(), 100),
                    title: clean(&room.title, 200),
                    state: room.state.as_str().to_string(),
                    owner: owner_label(room),
                    redirect_reason: redirect.clone(),
                    findings: Vec::new(),
                },
                item,
                &reason,
            );
            if reason == Reason::Escalated {
                escalations.push(compose::summary_item(
                    f,
                    &outcome.actions,
                    outcome.dry_run,
                    seen,
                    Some(&addr),
                ));
                escalation_keys.push(key.clone());
            }
            draft.remember.push(Remember {
                key,
                status: f.status.as_str().to_string(),
                to: addr,
                reminders_sent: next.reminders_sent,
                escalate: next.escalated,
            });
        }
        invalid.sort();
        invalid.dedup();
        report.invalid_addresses.extend(invalid.iter().cloned());
        if !undeliverable.is_empty() {
            report.warnings.push(format!(
                "{} room(s) have an owner who cannot be mailed and notify.fallback_address is not set",
                undeliverable.len()
            ));
        }

        let mut digests = 0;
        for mut draft in drafts.into_iter().filter(|d| d.ctx.counts.total > 0) {
            draft.ctx.fallback_reasons = draft
                .ctx
                .rooms
                .iter()
                .filter_map(|r| {
                    r.redirect_reason
                        .as_ref()
                        .map(|why| format!("room \"{}\" ({}): {why}", r.title, r.id))
                })
                .collect();
            draft.ctx.fallback = !draft.ctx.fallback_reasons.is_empty();
            if self.queue_digest(state, outcome, &draft, now, report)? {
                digests += 1;
            }
        }

        if !escalations.is_empty() {
            self.queue_escalation(state, outcome, &escalations, &escalation_keys, now, report)?;
        }
        if self.security_team.is_empty() {
            if !escalations.is_empty() || !undeliverable.is_empty() {
                report
                    .warnings
                    .push("notify.security_team is empty: escalations and undeliverable rooms are reported to nobody".into());
            }
        } else {
            let ctx = self.summary_ctx(
                outcome,
                now,
                escalations,
                undeliverable,
                &invalid,
                digests,
                backlog,
            );
            match self.config.security_summary {
                SummaryCadence::EveryRun => {
                    let report_dir = outcome.report_dir.display().to_string();
                    self.queue_summary(state, ctx, &report_dir, &[], now, report)?;
                }
                SummaryCadence::Scheduled => {
                    // Rendered later by the summary job; the context keeps
                    // everything this run knew (escalations, failures).
                    let json = serde_json::to_string(&ctx).map_err(|e| NotifyError::Hold {
                        run_id: outcome.run_id.clone(),
                        message: e.to_string(),
                    })?;
                    let report_dir = outcome.report_dir.display().to_string();
                    store::hold_summary(state, &outcome.run_id, &report_dir, &json, now)?;
                }
            }
        }
        Ok(())
    }

    /// The scheduled security summary (`notify.security_summary =
    /// "scheduled"`): one message covering every run held since the last
    /// one. Counts, top findings and attachments are the latest run's (the
    /// portal as it is now); escalations, failures, undeliverable owners
    /// and warnings are gathered from all of them, and each run gets a
    /// line. Queued in the transaction that releases the runs, then the
    /// queue is delivered. With no run held, nothing is queued and the
    /// report says so.
    pub async fn send_scheduled_summary(
        &self,
        state: &StateStore,
        now: DateTime<Utc>,
    ) -> Result<NotifyReport, NotifyError> {
        let mut report = NotifyReport::default();
        if !self.config.enabled {
            return Ok(report);
        }
        store::ensure_schema(state)?;
        let held = store::held_summaries(state)?;
        let run_ids: Vec<String> = held.iter().map(|h| h.run_id.clone()).collect();
        let mut runs: Vec<SummaryCtx> = Vec::new();
        let mut report_dir = String::new();
        for h in &held {
            match serde_json::from_str::<SummaryCtx>(&h.ctx_json) {
                Ok(ctx) => {
                    runs.push(ctx);
                    report_dir.clone_from(&h.report_dir);
                }
                Err(e) => report.warnings.push(format!(
                    "the held summary of run {} could not be read ({e}); it is dropped",
                    clean(&h.run_id, 100)
                )),
            }
        }
        if self.security_team.is_empty() {
            store::release_held(state, &run_ids)?;
            report
                .warnings
                .push("notify.security_team is empty: the scheduled summary goes to nobody".into());
            return Ok(report);
        }
        let backlog = store::pending_count(state)?;
        let Some(ctx) = compose::merge_summaries(runs, compose::minute(now), backlog) else {
            store::release_held(state, &run_ids)?;
            report
                .warnings
                .push("no audit run finished since the last summary; nothing to summarise".into());
            return Ok(report);
        };
        self.queue_summary(state, ctx, &report_dir, &run_ids, now, &mut report)?;
        let delivered = self.deliver(state, now).await?;
        report.absorb(delivered);
        tracing::info!(
            runs = run_ids.len(),
            sent = report.sent,
            still_queued = report.still_queued,
            "scheduled summary done"
        );
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn summary_ctx(
        &self,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
        escalations: Vec<SummaryItem>,
        undeliverable: Vec<String>,
        invalid: &[String],
        digests: usize,
        backlog: usize,
    ) -> SummaryCtx {
        let counts = outcome
            .counts()
            .into_iter()
            .map(|((check, status), count)| compose::CountRow {
                check: check.name().to_string(),
                status: status.as_str().to_string(),
                count,
            })
            .collect();
        let mut ranked: Vec<&Finding> = outcome.findings.iter().collect();
        ranked.sort_by(|a, b| {
            b.status
                .needs_attention()
                .cmp(&a.status.needs_attention())
                .then_with(|| b.severity.cmp(&a.severity))
                .then_with(|| a.check.cmp(&b.check))
                .then_with(|| a.key().cmp(&b.key()))
        });
        let top: Vec<SummaryItem> = ranked
            .iter()
            .take(compose::TOP_FINDINGS)
            .map(|f| compose::summary_item(f, &outcome.actions, outcome.dry_run, None, None))
            .collect();
        let seconds = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        SummaryCtx {
            run_id: clean(&outcome.run_id, 100),
            generated_at: compose::minute(now),
            started: seconds(outcome.started),
            finished: seconds(outcome.finished),
            dry_run: outcome.dry_run,
            result: match outcome.result {
                RunResult::Clean => "clean".into(),
                RunResult::Attention => "attention: open or failed findings remain".into(),
            },
            rooms_audited: outcome.rooms_audited,
            rooms_failed: outcome.rooms_failed,
            total_findings: outcome.findings.len(),
            attention: outcome
                .findings
                .iter()
                .filter(|f| f.status.needs_attention())
                .count(),
            report_dir: clean(&outcome.report_dir.display().to_string(), 1000),
            counts,
            top_more: outcome.findings.len().saturating_sub(top.len()),
            top,
            failures: compose::failure_lines(&outcome.findings, &outcome.actions),
            escalations,
            escalate_after_reminders: self.config.escalate_after_reminders,
            undeliverable,
            invalid_addresses: invalid.to_vec(),
            warnings: outcome.warnings.iter().map(|w| clean(w, 500)).collect(),
            digests,
            backlog,
            attachments: Vec::new(),
            runs: Vec::new(),
        }
    }

    // ---- queuing --------------------------------------------------------------

    /// Renders and builds one message; a failure is a warning (the findings
    /// stay un-notified, so the next run tries again).
    #[allow(clippy::too_many_arguments)]
    fn render_and_build<C: serde::Serialize>(
        &self,
        kind: &str,
        ctx: &C,
        to: &[Mailbox],
        message_id: &str,
        now: DateTime<Utc>,
        attachments: Vec<(String, Vec<u8>)>,
        report: &mut NotifyReport,
    ) -> Option<compose::Built> {
        let rendered = (|| -> Result<_, NotifyError> {
            Ok((
                self.templates.render(&format!("{kind}.subject.txt"), ctx)?,
                self.templates.render(&format!("{kind}.txt"), ctx)?,
                self.templates.render(&format!("{kind}.html"), ctx)?,
            ))
        })();
        let (subject, text, html) = match rendered {
            Ok(r) => r,
            Err(e) => {
                report
                    .warnings
                    .push(format!("{kind} message not composed: {e}"));
                return None;
            }
        };
        match compose::build(
            &self.from,
            to,
            &subject,
            message_id,
            now,
            text,
            html,
            attachments,
        ) {
            Ok(b) => Some(b),
            Err(e) => {
                report
                    .warnings
                    .push(format!("{kind} message not composed: {e}"));
                None
            }
        }
    }

    fn enqueue(
        &self,
        state: &StateStore,
        msg: &Outgoing,
        remember: &[Remember],
        now: DateTime<Utc>,
        report: &mut NotifyReport,
    ) -> Result<bool, NotifyError> {
        let queued = store::enqueue(state, msg, remember, now)?;
        if queued {
            report.queued += 1;
        }
        Ok(queued)
    }

    fn queue_digest(
        &self,
        state: &StateStore,
        outcome: &RunOutcome,
        draft: &DigestDraft,
        now: DateTime<Utc>,
        report: &mut NotifyReport,
    ) -> Result<bool, NotifyError> {
        let mut parts: Vec<String> = vec![
            outcome.run_id.clone(),
            "digest".into(),
            draft.ctx.recipient.clone(),
        ];
        parts.extend(
            draft
                .remember
                .iter()
                .map(|r| format!("{}={}", r.key, r.status)),
        );
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let mid = compose::message_id(&refs, &self.from_domain);
        let Some(built) = self.render_and_build(
            "digest",
            &draft.ctx,
            std::slice::from_ref(&draft.to),
            &mid,
            now,
            Vec::new(),
            report,
        ) else {
            return Ok(false);
        };
        let msg = outgoing("digest", &outcome.run_id, mid, built);
        self.enqueue(state, &msg, &draft.remember, now, report)
    }

    fn queue_escalation(
        &self,
        state: &StateStore,
        outcome: &RunOutcome,
        escalations: &[SummaryItem],
        keys: &[String],
        now: DateTime<Utc>,
        report: &mut NotifyReport,
    ) -> Result<(), NotifyError> {
        let Some(to) = &self.escalation else {
            return Ok(());
        };
        let ctx = compose::EscalationCtx {
            run_id: clean(&outcome.run_id, 100),
            generated_at: compose::minute(now),
            report_dir: clean(&outcome.report_dir.display().to_string(), 1000),
            escalate_after_reminders: self.config.escalate_after_reminders,
            escalations: escalations.to_vec(),
        };
        let mut parts = vec![outcome.run_id.as_str(), "escalation"];
        parts.extend(keys.iter().map(String::as_str));
        let mid = compose::message_id(&parts, &self.from_domain);
        let mailbox = compose::mailbox(None, to.clone());
        if let Some(built) = self.render_and_build(
            "escalation",
            &ctx,
            &[mailbox],
            &mid,
            now,
            Vec::new(),
            report,
        ) {
            let msg = outgoing("escalation", &outcome.run_id, mid, built);
            self.enqueue(state, &msg, &[], now, report)?;
        }
        Ok(())
    }

    /// Queues the security summary; `release` are the held runs it covers
    /// (empty after a single run).
    fn queue_summary(
        &self,
        state: &StateStore,
        mut ctx: SummaryCtx,
        report_dir: &str,
        release: &[String],
        now: DateTime<Utc>,
        report: &mut NotifyReport,
    ) -> Result<(), NotifyError> {
        let mut files = Vec::new();
        for name in ["findings.csv", "actions.csv"] {
            let (note, bytes) = compose::attachment(
                std::path::Path::new(report_dir),
                name,
                self.config.attachment_max_bytes,
            );
            if let Some(b) = bytes {
                files.push((name.to_string(), b));
            }
            ctx.attachments.push(note);
        }
        let to: Vec<Mailbox> = self
            .security_team
            .iter()
            .map(|a| compose::mailbox(None, a.clone()))
            .collect();
        let run_id = ctx.run_id.clone();
        let mut parts: Vec<&str> = vec![run_id.as_str(), "summary"];
        parts.extend(release.iter().map(String::as_str));
        let mid = compose::message_id(&parts, &self.from_domain);
        if let Some(built) = self.render_and_build("summary", &ctx, &to, &mid, now, files, report) {
            let msg = outgoing("summary", &run_id, mid, built);
            if store::enqueue_releasing(state, &msg, &[], release, now)? {
                report.queued += 1;
            }
        }
        Ok(())
    }

    // ---- delivery -------------------------------------------------------------

    /// Hands every queued message to the transport, oldest first. Stops at
    /// the first failure that concerns the server rather than the message;
    /// the rest stay queued for the next round.
    async fn deliver(
        &self,
        state: &StateStore,
        now: DateTime<Utc>,
    ) -> Result<NotifyReport, NotifyError> {
        let _one_round = self.delivery.lock().await;
        let mut r = NotifyReport::default();
        let pending = store::pending(state)?;
        let mut stopped: Option<MailError> = None;
        for p in &pending {
            if stopped.is_some() {
                break;
            }
            // Read now: another round may have sent it in between.
            let Some(raw) = store::raw(state, p.id)? else {
                continue;
            };
            let envelope = match envelope_of(p) {
                Ok(e) => e,
                Err(e) => {
                    store::mark_failed(state, p.id, now, &e.to_string())?;
                    r.failed += 1;
                    r.warnings.push(e.to_string());
                    continue;
                }
            };
            match self.transport.send_raw(&envelope, &raw).await {
                Ok(()) => {
                    store::mark_sent(state, p.id, now)?;
                    r.sent += 1;
                    tracing::debug!(message_id = %p.message_id, kind = %p.kind, "message delivered");
                }
                Err(e) => {
                    store::mark_failed(state, p.id, now, &e.to_string())?;
                    r.failed += 1;
                    tracing::warn!(message_id = %p.message_id, kind = %p.kind, attempt = p.attempts + 1, error = %e, "message not delivered");
                    if e.stops_delivery() {
                        stopped = Some(e);
                    } else {
                        r.warnings
                            .push(format!("{} message {}: {e}", p.kind, p.message_id));
                    }
                }
            }
        }
        r.still_queued = store::pending_count(state)?;
        if let Some(e) = stopped {
            r.warnings.push(format!(
                "delivery stopped: {e}; {} message(s) stay queued for the next attempt",
                r.still_queued
            ));
        }
        store::prune_sent(state, now)?;
        Ok(r)
    }
}

/// A built message as the queue stores it.
fn outgoing(
    kind: &'static str,
    run_id: &str,
    message_id: String,
    built: compose::Built,
) -> Outgoing {
    Outgoing {
        message_id,
        kind,
        run_id: run_id.to_string(),
        envelope_from: built.envelope_from,
        recipients: built.recipients,
        subject: built.subject,
        raw: built.raw,
    }
}

/// The owner as messages name them.
fn owner_label(room: &RoomInfo) -> String {
    let name = room
        .owner_name
        .as_deref()
        .map(|n| clean(n, 100))
        .filter(|n| !n.is_empty());
    let email = room
        .owner_email
        .as_deref()
        .map(|e| clean(e, 254))
        .filter(|e| !e.is_empty());
    match (name, email, &room.owner_id) {
        (Some(n), Some(e), _) => format!("{n} <{e}>"),
        (Some(n), None, _) => n,
        (None, Some(e), _) => format!("<{e}>"),
        (None, None, Some(id)) => clean(id.as_str(), 64),
        (None, None, None) => "unknown".into(),
    }
}

/// The envelope stored with a queued message, validated again: the queue
/// is a database row, not trusted input.
fn envelope_of(p: &store::Pending) -> Result<lettre::address::Envelope, MailError> {
    let invalid = |message: String| MailError::Invalid {
        message_id: p.message_id.clone(),
        message,
    };
    let from = p
        .envelope_from
        .parse::<Address>()
        .map_err(|e| invalid(format!("sender {:?}: {e}", p.envelope_from)))?;
    let mut to = Vec::new();
    for r in &p.recipients {
        if !is_valid_email(r) {
            return Err(invalid(format!("recipient {r:?} is not a valid address")));
        }
        to.push(
            r.parse::<Address>()
                .map_err(|e| invalid(format!("recipient {r:?}: {e}")))?,
        );
    }
    lettre::address::Envelope::new(Some(from), to).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests;
