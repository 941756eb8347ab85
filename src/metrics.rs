//! Observability endpoints: `/metrics` in the Prometheus text exposition
//! format (version 0.0.4, written out by hand; no client library) and
//! `/healthz` (ready, run in progress, last successful run). Served by the
//! daemon on the webhook listener or a listener of their own; off unless
//! `[metrics]` is configured.
//!
//! This module only counts and renders what the daemon tells it; it never
//! calls the portal or reads reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::audit::{RunError, RunOutcome, RunResult};

/// Upper bounds of the run-duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 11] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// What started a run (the `trigger` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    Schedule,
    Webhook,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Webhook => "webhook",
        }
    }
}

/// How a run ended, for the `outcome` label: `clean`, `attention`,
/// `cancelled` (stopped before it began) or `failed`.
pub fn run_outcome_label(result: &Result<RunOutcome, RunError>) -> &'static str {
    match result {
        Ok(o) => outcome_label(o),
        Err(RunError::Cancelled) => "cancelled",
        Err(_) => "failed",
    }
}

/// The `outcome` label of a finished run.
pub fn outcome_label(o: &RunOutcome) -> &'static str {
    match o.result {
        RunResult::Clean => "clean",
        RunResult::Attention => "attention",
    }
}

/// The daemon's counters and gauges. Cheap to update; rendered on request.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    ready: AtomicBool,
    stopping: AtomicBool,
    running: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    runs: BTreeMap<(&'static str, &'static str), u64>,
    duration_buckets: [u64; DURATION_BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    findings: BTreeMap<(String, String), u64>,
    last_findings: BTreeMap<(String, String), u64>,
    changes: BTreeMap<(String, String), u64>,
    api_requests: BTreeMap<String, u64>,
    api_retries: u64,
    emails_sent: u64,
    emails_queued: Option<u64>,
    webhooks: BTreeMap<&'static str, u64>,
    ticks: BTreeMap<(String, &'static str), u64>,
    last_success: Option<DateTime<Utc>>,
    last_run: Option<(DateTime<Utc>, &'static str, String)>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Counters stay usable after a panic elsewhere: every update is a
        // few additions that cannot leave them inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ready: started and not stopping (`/healthz` answers 200).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
    }

    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Seeds the last successful run (from the state store at start).
    pub fn set_last_success(&self, at: DateTime<Utc>) {
        let mut g = self.lock();
        if g.last_success.is_none_or(|t| t < at) {
            g.last_success = Some(at);
        }
    }

    /// Counts one finished (or failed) run. `full` is false for targeted
    /// runs (one room or user), which do not replace the last-run gauges.
    pub fn record_run(
        &self,
        trigger: Trigger,
        label: &'static str,
        outcome: Option<&RunOutcome>,
        elapsed: Duration,
        full: bool,
    ) {
        let mut g = self.lock();
        *g.runs.entry((trigger.as_str(), label)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *le {
                g.duration_buckets[i] += 1;
            }
        }
        g.duration_sum += secs;
        g.duration_count += 1;
        match outcome {
            Some(o) => {
                let counts = o.counts();
                for ((check, status), n) in &counts {
                    *g.findings
                        .entry((check.name().to_string(), status.as_str().to_string()))
                        .or_default() += *n as u64;
                }
                if full {
                    g.last_findings = counts
                        .iter()
                        .map(|((c, s), n)| {
                            ((c.name().to_string(), s.as_str().to_string()), *n as u64)
                        })
                        .collect();
                }
                for a in &o.actions {
                    *g.changes
                        .entry((a.action.clone(), a.outcome.as_str().to_string()))
                        .or_default() += 1;
                }
                g.last_success = Some(o.finished);
                g.last_run = Some((o.finished, label, o.run_id.clone()));
            }
            None => {
                g.last_run = Some((Utc::now(), label, String::new()));
            }
        }
    }

    /// Adds API requests by status and retries (deltas of the client's
    /// counters over one run).
    pub fn record_api(&self, by_status: &BTreeMap<String, u64>, retries: u64) {
        let mut g = self.lock();
        for (status, n) in by_status {
            *g.api_requests.entry(status.clone()).or_default() += n;
        }
        g.api_retries += retries;
    }

    /// Counts emails sent and sets the number still queued.
    pub fn record_emails(&self, sent: u64, queued: Option<u64>) {
        let mut g = self.lock();
        g.emails_sent += sent;
        if queued.is_some() {
            g.emails_queued = queued;
        }
    }

    /// Counts one webhook delivery by what became of it (`accepted`,
    /// `duplicate`, `ignored`, `own-event`, `unauthorized`, `too-large`,
    /// `malformed`, `busy`).
    pub fn record_webhook(&self, result: &'static str) {
        *self.lock().webhooks.entry(result).or_default() += 1;
    }

    /// Counts one schedule firing (`started` or `skipped`).
    pub fn record_tick(&self, schedule: &str, result: &'static str) {
        *self
            .lock()
            .ticks
            .entry((schedule.to_string(), result))
            .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let g = self.lock();
        let mut out = String::with_capacity(4096);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };

        head(
            &mut out,
            "docspace_auditor_ready",
            "gauge",
            "1 when the daemon is started and not stopping.",
        );
        let _ = writeln!(out, "docspace_auditor_ready {}", self.is_ready() as u8);
        head(
            &mut out,
            "docspace_auditor_run_in_progress",
            "gauge",
            "1 while an audit run is going.",
        );
        let _ = writeln!(
            out,
            "docspace_auditor_run_in_progress {}",
            self.running.load(Ordering::SeqCst) as u8
        );

        head(
            &mut out,
            "docspace_auditor_runs_total",
            "counter",
            "Audit runs by trigger and outcome (clean, attention, failed, cancelled).",
        );
        let mut runs = g.runs.clone();
        for t in [Trigger::Schedule, Trigger::Webhook] {
            for o in ["clean", "attention", "failed", "cancelled"] {
                runs.entry((t.as_str(), o)).or_default();
            }
        }
        for ((trigger, outcome), n) in &runs {
            let _ = writeln!(
                out,
                "docspace_auditor_runs_total{{trigger=\"{trigger}\",outcome=\"{outcome}\"}} {n}"
            );
        }

        head(
            &mut out,
            "docspace_auditor_run_duration_seconds",
            "histogram",
            "Duration of audit runs.",
        );
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "docspace_auditor_run_duration_seconds_bucket{{le=\"{le}\"}} {}",
                g.duration_buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "docspace_auditor_run_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            g.duration_count
        );
        let _ = writeln!(
            out,
            "docspace_auditor_run_duration_seconds_sum {}",
            g.duration_sum
        );
        let _ = writeln!(
            out,
            "docspace_auditor_run_duration_seconds_count {}",
            g.duration_count
        );

        head(
            &mut out,
            "docspace_auditor_findings_total",
            "counter",
            "Findings reported, by check and status, summed over runs.",
        );
        for ((check, status), n) in &g.findings {
            let _ = writeln!(
                out,
                "docspace_auditor_findings_total{{check=\"{}\",status=\"{}\"}} {n}",
                escape(check),
                escape(status)
            );
        }
        head(
            &mut out,
            "docspace_auditor_last_run_findings",
            "gauge",
            "Findings of the last full run, by check and status.",
        );
        for ((check, status), n) in &g.last_findings {
            let _ = writeln!(
                out,
                "docspace_auditor_last_run_findings{{check=\"{}\",status=\"{}\"}} {n}",
                escape(check),
                escape(status)
            );
        }

        head(
            &mut out,
            "docspace_auditor_changes_total",
            "counter",
            "Remediation steps by action and outcome (planned, done, failed, skipped, in-progress).",
        );
        for ((action, outcome), n) in &g.changes {
            let _ = writeln!(
                out,
                "docspace_auditor_changes_total{{action=\"{}\",outcome=\"{}\"}} {n}",
                escape(action),
                escape(outcome)
            );
        }

        head(
            &mut out,
            "docspace_auditor_api_requests_total",
            "counter",
            "DocSpace API requests by HTTP status (error: no answer).",
        );
        for (status, n) in &g.api_requests {
            let _ = writeln!(
                out,
                "docspace_auditor_api_requests_total{{status=\"{}\"}} {n}",
                escape(status)
            );
        }
        head(
            &mut out,
            "docspace_auditor_api_retries_total",
            "counter",
            "DocSpace API requests repeated after a retryable failure.",
        );
        let _ = writeln!(out, "docspace_auditor_api_retries_total {}", g.api_retries);

        head(
            &mut out,
            "docspace_auditor_emails_sent_total",
            "counter",
            "Notification emails sent (or written to the outbox).",
        );
        let _ = writeln!(out, "docspace_auditor_emails_sent_total {}", g.emails_sent);
        if let Some(q) = g.emails_queued {
            head(
                &mut out,
                "docspace_auditor_emails_queued",
                "gauge",
                "Notification emails waiting in the queue.",
            );
            let _ = writeln!(out, "docspace_auditor_emails_queued {q}");
        }

        head(
            &mut out,
            "docspace_auditor_webhook_deliveries_total",
            "counter",
            "Webhook deliveries by result.",
        );
        for (result, n) in &g.webhooks {
            let _ = writeln!(
                out,
                "docspace_auditor_webhook_deliveries_total{{result=\"{result}\"}} {n}"
            );
        }
        head(
            &mut out,
            "docspace_auditor_schedule_ticks_total",
            "counter",
            "Schedule firings by schedule and result (started, skipped).",
        );
        for ((schedule, result), n) in &g.ticks {
            let _ = writeln!(
                out,
                "docspace_auditor_schedule_ticks_total{{schedule=\"{}\",result=\"{result}\"}} {n}",
                escape(schedule)
            );
        }

        if let Some(t) = g.last_success {
            head(
                &mut out,
                "docspace_auditor_last_success_timestamp_seconds",
                "gauge",
                "When the last successful run finished (Unix time).",
            );
            let _ = writeln!(
                out,
                "docspace_auditor_last_success_timestamp_seconds {}",
                t.timestamp()
            );
        }
        out
    }

    /// `/healthz`: 200 when ready, 503 otherwise, with a small JSON body.
    pub fn health(&self) -> (bool, String) {
        let g = self.lock();
        let ready = self.is_ready();
        let status = if ready {
            "ok"
        } else if self.stopping.load(Ordering::SeqCst) {
            "stopping"
        } else {
            "starting"
        };
        let body = serde_json::json!({
            "status": status,
            "ready": ready,
            "run_in_progress": self.running.load(Ordering::SeqCst),
            "last_successful_run": g.last_success.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "last_run": g.last_run.as_ref().map(|(t, outcome, id)| serde_json::json!({
                "finished": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "outcome": outcome,
                "run_id": id,
            })),
        });
        (ready, body.to_string())
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `/metrics` and `/healthz`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(health_handler))
        .with_state(metrics)
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

async fn health_handler(State(m): State<Arc<Metrics>>) -> Response {
    let (ready, body) = m.health();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_parseable_text_with_escaped_labels() {
        let m = Metrics::new();
        m.record_tick("hourly \"audit\"\nx", "skipped");
        m.record_api(&[("200".to_string(), 3)].into(), 1);
        m.record_run(
            Trigger::Schedule,
            run_outcome_label(&Err(RunError::Cancelled)),
            None,
            Duration::from_millis(1500),
            true,
        );
        let text = m.render();
        assert!(text.contains(
            "docspace_auditor_schedule_ticks_total{schedule=\"hourly \\\"audit\\\"\\nx\",result=\"skipped\"} 1"
        ));
        assert!(
            text.contains(
                "docspace_auditor_runs_total{trigger=\"schedule\",outcome=\"cancelled\"} 1"
            )
        );
        assert!(text.contains("docspace_auditor_run_duration_seconds_bucket{le=\"1\"} 0"));
        assert!(text.contains("docspace_auditor_run_duration_seconds_bucket{le=\"5\"} 1"));
        assert!(text.contains("docspace_auditor_api_requests_total{status=\"200\"} 3"));
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.metric == "docspace_auditor_api_retries_total")
        );
    }

    #[test]
    fn health_reports_readiness() {
        let m = Metrics::new();
        assert!(!m.health().0);
        m.set_ready(true);
        let (ready, body) = m.health();
        assert!(ready);
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        m.set_stopping();
        assert!(m.health().1.contains("stopping"));
    }
}
