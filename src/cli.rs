//! The command line: argument types and the commands' bodies. `main.rs`
//! only parses, sets up logging and maps outcomes to exit codes; tests can
//! call these functions directly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::{Auditor, RunOutcome, RunRequest, RunResult};
use crate::check::CheckId;
use crate::clock::SystemClock;
use crate::config::{Config, ConfigError, Mode};

/// Exit codes, documented in the README.
pub mod exit {
    /// Finished; no open or failed findings.
    pub const CLEAN: u8 = 0;
    /// The run failed (portal unreachable, auth refused, every room failed).
    pub const RUN_FAILED: u8 = 1;
    /// Bad usage or configuration, or another instance holds the lock.
    pub const USAGE: u8 = 2;
    /// Finished with open or failed findings.
    pub const FINDINGS: u8 = 3;
}

/// Maps a finished run to its exit code.
pub fn exit_code(outcome: &RunOutcome) -> u8 {
    match outcome.result {
        RunResult::Clean => exit::CLEAN,
        RunResult::Attention => exit::FINDINGS,
    }
}

/// Parses `--check` names.
pub fn parse_checks(names: &[String]) -> Result<Vec<CheckId>, String> {
    names
        .iter()
        .map(|n| {
            CheckId::parse(n)
                .filter(|c| CheckId::ALL.contains(c))
                .ok_or_else(|| {
                    format!(
                        "unknown check {n:?}; known checks: {}",
                        CheckId::ALL.map(|c| c.name()).join(", ")
                    )
                })
        })
        .collect()
}

/// The `checks` command's text.
pub fn checks_text() -> String {
    let mut s = String::new();
    for c in CheckId::ALL {
        s.push_str(&format!("{:<24} {}\n", c.name(), c.description()));
    }
    s
}

/// The effective configuration with secrets redacted (`check-config`).
pub fn describe_config(c: &Config) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<40} {v}\n"));
    line("config file", c.file.display().to_string());
    line("portal.base_url", c.portal.base_url.to_string());
    line(
        "portal.token",
        format!("[redacted] from {}", c.token_source),
    );
    line(
        "portal.proxy",
        c.portal
            .proxy
            .as_ref()
            .map_or_else(|| "none (direct)".to_string(), |p| p.to_string()),
    );
    line(
        "portal.ca_file",
        c.portal.ca_file.as_ref().map_or_else(
            || "none (platform roots)".to_string(),
            |f| format!("{} (on top of the platform roots)", f.display()),
        ),
    );
    line(
        "portal.request_timeout",
        format!("{:?}", c.portal.request_timeout),
    );
    line(
        "portal.connect_timeout",
        format!("{:?}", c.portal.connect_timeout),
    );
    line(
        "portal.max_concurrency",
        c.portal.max_concurrency.to_string(),
    );
    line(
        "portal.max_write_concurrency",
        c.portal.max_write_concurrency.to_string(),
    );
    line("portal.max_retries", c.portal.retry.max_retries.to_string());
    line(
        "archive.include_archive_section",
        c.archive.include_archive_section.to_string(),
    );
    line(
        "archive.designated_rooms",
        c.archive
            .designated_rooms
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    line(
        "archive.owner_id",
        c.archive
            .owner_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "(none)".into()),
    );
    line(
        "archive.hr_group_id",
        c.archive
            .hr_group_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "(none)".into()),
    );
    line("policy.dry_run", c.policy.dry_run.to_string());
    line(
        "policy.max_changes_per_run",
        c.policy.max_changes_per_run.to_string(),
    );
    for id in CheckId::ALL {
        let p = c.policy.check(id);
        let mut v = format!("mode={} grace_days={}", p.mode.as_str(), p.grace_days);
        if id == CheckId::OrphanedGuests && p.mode != Mode::Off {
            v.push_str(&format!(" action={:?}", p.guest_action).to_lowercase());
        }
        line(&format!("policy.checks.{}", id.name()), v);
    }
    line("exemptions", c.policy.exemptions.len().to_string());
    line("reports.dir", c.reports.dir.display().to_string());
    line("reports.keep_runs", c.reports.keep_runs.to_string());
    line("state.path", c.state_path.display().to_string());
    line("notify.enabled", c.notify.enabled.to_string());
    line(
        "notify.transport",
        match &c.notify.transport {
            crate::config::notify::Transport::Smtp(s) => format!(
                "smtp {}:{} tls={:?} auth={}",
                s.host,
                s.port,
                s.tls,
                if s.password.is_some() {
                    "[redacted]"
                } else {
                    "none"
                }
            ),
            crate::config::notify::Transport::Outbox(d) => format!("outbox {}", d.display()),
        },
    );
    line(
        "notify.security_summary",
        match c.notify.security_summary {
            crate::config::notify::SummaryCadence::EveryRun => "every_run",
            crate::config::notify::SummaryCadence::Scheduled => "scheduled",
        }
        .to_string(),
    );
    line("daemon.schedules", c.daemon.schedules.len().to_string());
    line(
        "webhook",
        c.webhook
            .as_ref()
            .map(|w| format!("{} {} secret=[redacted]", w.listen, w.path))
            .unwrap_or_else(|| "off".into()),
    );
    line(
        "metrics",
        c.metrics
            .as_ref()
            .map(|m| m.listen.to_string())
            .unwrap_or_else(|| "off".into()),
    );
    s
}

/// Loads a config file, mapping errors for the CLI.
/// For `check-config`: whether mail could be delivered (an SMTP session
/// with TLS and AUTH, or a write in the outbox), without sending any.
/// `Ok(None)` when notifications are off.
pub async fn check_mail(config: &Config) -> Result<Option<String>, String> {
    if !config.notify.enabled {
        return Ok(None);
    }
    let notifier = crate::notify::Notifier::new(&config.notify).map_err(|e| e.to_string())?;
    notifier
        .check_transport()
        .await
        .map(|what| Some(format!("{what}: ready")))
        .map_err(|e| e.to_string())
}

pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    Config::load(path)
}

/// Builds an auditor for one-shot commands.
pub fn auditor(config: Config) -> Result<Auditor, crate::audit::RunError> {
    Auditor::new(
        Arc::new(config),
        Arc::new(SystemClock),
        tokio_util::sync::CancellationToken::new(),
    )
}

/// The default config path: `./config.toml`.
pub fn default_config_path() -> PathBuf {
    PathBuf::from("config.toml")
}

/// A human summary of a finished run (printed by `run` and `demo`).
pub fn summary_text(outcome: &RunOutcome) -> String {
    use crate::finding::FindingStatus;
    let mut s = String::new();
    s.push_str(&format!(
        "run {}{}: {} rooms audited, {} failed, {} findings, {} actions\n",
        outcome.run_id,
        if outcome.dry_run { " (dry-run)" } else { "" },
        outcome.rooms_audited,
        outcome.rooms_failed,
        outcome.findings.len(),
        outcome.actions.len()
    ));
    for ((check, status), n) in outcome.counts() {
        s.push_str(&format!(
            "  {:<24} {:<15} {n}\n",
            check.name(),
            status.as_str()
        ));
    }
    for w in &outcome.warnings {
        s.push_str(&format!(
            "warning: {}\n",
            crate::report::safe::one_line(w, 300)
        ));
    }
    // The same rule as the exit code: skipped-by-cap access is still open.
    let attention = outcome
        .findings
        .iter()
        .filter(|f| FindingStatus::needs_attention(f.status))
        .count();
    s.push_str(&format!(
        "reports: {}\n{}\n",
        outcome.report_dir.display(),
        if attention > 0 {
            format!(
                "{attention} findings need attention (exit code {})",
                exit_code(outcome)
            )
        } else {
            format!("nothing needs attention (exit code {})", exit_code(outcome))
        }
    ));
    s
}

/// Runs one audit now.
pub async fn run_once(
    config: Config,
    request: RunRequest,
) -> Result<RunOutcome, crate::audit::RunError> {
    let auditor = auditor(config)?;
    auditor.run(request).await
}
