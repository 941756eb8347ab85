//! Configuration: parsed raw from TOML (unknown keys are errors), then
//! validated into [`Config`]. Validation collects every problem and reports
//! them all as `FILE: key.path: message`. Defaults are written once, here.
//! Loading never writes anything. Secrets come from an environment
//! variable, a file, or systemd's `$CREDENTIALS_DIRECTORY`; never from the
//! TOML file itself.

pub mod daemon;
pub mod notify;
mod proxy;
mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use secrecy::SecretString;
use serde::Deserialize;

use crate::api::{ClientSettings, GroupId, RetryPolicy, RoomId, UserId};
use crate::check::CheckId;
use daemon::Job;
use notify::SummaryCadence;
pub use secret::{SecretSource, load_secret};

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{}", problems.iter().map(|p| format!("{}: {}: {}", file.display(), p.key, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One validation problem: the dotted key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Collects validation problems so all of them are reported at once.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---- raw --------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    portal: Option<RawPortal>,
    #[serde(default)]
    archive: RawArchive,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    exemptions: Vec<RawExemption>,
    #[serde(default)]
    reports: RawReports,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    notify: notify::RawNotify,
    #[serde(default)]
    daemon: daemon::RawDaemon,
    webhook: Option<daemon::RawWebhook>,
    metrics: Option<daemon::RawMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortal {
    base_url: String,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    token_credential: Option<String>,
    request_timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    max_concurrency: Option<usize>,
    max_write_concurrency: Option<usize>,
    max_retries: Option<u32>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    operation_poll_ms: Option<u64>,
    operation_timeout_secs: Option<u64>,
    /// `http://host:port`, or `none`; unset: the proxy environment variables.
    proxy: Option<String>,
    /// PEM file of CA certificates trusted for the portal (a private CA).
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchive {
    #[serde(default = "yes")]
    include_archive_section: bool,
    #[serde(default)]
    designated_rooms: Vec<toml::Value>,
    owner_id: Option<String>,
    hr_group_id: Option<String>,
    reassign_timeout_secs: Option<u64>,
    reassign_poll_secs: Option<u64>,
    #[serde(default)]
    reassign_delete_profile: bool,
    audit_lookback_days: Option<u32>,
}

impl Default for RawArchive {
    fn default() -> Self {
        RawArchive {
            include_archive_section: true,
            designated_rooms: Vec::new(),
            owner_id: None,
            hr_group_id: None,
            reassign_timeout_secs: None,
            reassign_poll_secs: None,
            reassign_delete_profile: false,
            audit_lookback_days: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default = "yes")]
    dry_run: bool,
    max_changes_per_run: Option<u32>,
    #[serde(default)]
    checks: BTreeMap<String, RawCheckPolicy>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            dry_run: true,
            max_changes_per_run: None,
            checks: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckPolicy {
    mode: Option<String>,
    grace_days: Option<u32>,
    /// orphaned-guests only: `detach` or `delete`.
    action: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    room: Option<toml::Value>,
    user_id: Option<String>,
    email: Option<String>,
    domain: Option<String>,
    checks: Option<Vec<String>>,
    reason: Option<String>,
    ticket: Option<String>,
    expires: Option<toml::Value>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReports {
    dir: Option<PathBuf>,
    keep_runs: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<PathBuf>,
}

// ---- validated --------------------------------------------------------------

/// What a check does with its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Report,
    Remediate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Report => "report",
            Mode::Remediate => "remediate",
        }
    }
}

/// How orphaned guests are dealt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestAction {
    /// `DELETE people/guests`: only the key user's relation and grants.
    Detach,
    /// Disable, then delete the account portal-wide.
    Delete,
}

#[derive(Debug, Clone)]
pub struct CheckPolicy {
    pub mode: Mode,
    pub grace_days: u32,
    pub guest_action: GuestAction,
}

/// Who or what an exemption covers.
#[derive(Debug, Clone, PartialEq)]
pub enum ExemptionTarget {
    Room(RoomId),
    User(UserId),
    Email(String),
    Domain(String),
}

#[derive(Debug, Clone)]
pub struct Exemption {
    pub target: ExemptionTarget,
    /// Empty: every check.
    pub checks: Vec<CheckId>,
    pub reason: String,
    pub ticket: Option<String>,
    pub expires: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct ArchiveScope {
    pub include_archive_section: bool,
    pub designated_rooms: Vec<RoomId>,
    /// The archive owner: full access to archive rooms, target of
    /// reassignments.
    pub owner_id: Option<UserId>,
    pub hr_group_id: Option<GroupId>,
    pub reassign_timeout: Duration,
    pub reassign_poll: Duration,
    pub reassign_delete_profile: bool,
    pub audit_lookback_days: u32,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub dry_run: bool,
    pub max_changes_per_run: u32,
    pub checks: BTreeMap<CheckId, CheckPolicy>,
    pub exemptions: Vec<Exemption>,
}

impl Policy {
    pub fn check(&self, id: CheckId) -> CheckPolicy {
        self.checks.get(&id).cloned().unwrap_or(CheckPolicy {
            mode: Mode::Off,
            grace_days: 0,
            guest_action: GuestAction::Detach,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Reports {
    pub dir: PathBuf,
    pub keep_runs: usize,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (for messages and reloads).
    pub file: PathBuf,
    pub portal: ClientSettings,
    pub token_source: SecretSource,
    pub archive: ArchiveScope,
    pub policy: Policy,
    pub reports: Reports,
    pub state_path: PathBuf,
    pub notify: notify::NotifyConfig,
    pub daemon: daemon::DaemonConfig,
    pub webhook: Option<daemon::WebhookConfig>,
    pub metrics: Option<daemon::MetricsConfig>,
}

/// Defaults, written once.
pub mod defaults {
    pub const TOKEN_ENV: &str = "DOCSPACE_API_KEY";
    pub const REQUEST_TIMEOUT_SECS: u64 = 30;
    pub const CONNECT_TIMEOUT_SECS: u64 = 10;
    pub const MAX_CONCURRENCY: usize = 8;
    pub const MAX_WRITE_CONCURRENCY: usize = 4;
    pub const MAX_RETRIES: u32 = 5;
    pub const RETRY_BASE_MS: u64 = 500;
    pub const RETRY_MAX_MS: u64 = 30_000;
    pub const OPERATION_POLL_MS: u64 = 1_000;
    pub const OPERATION_TIMEOUT_SECS: u64 = 300;
    pub const MAX_CHANGES_PER_RUN: u32 = 50;
    pub const KEEP_RUNS: usize = 90;
    pub const REPORTS_DIR: &str = "reports";
    pub const STATE_PATH: &str = "state/auditor.sqlite";
    pub const REASSIGN_TIMEOUT_SECS: u64 = 1_800;
    pub const REASSIGN_POLL_SECS: u64 = 5;
    pub const AUDIT_LOOKBACK_DAYS: u32 = 7;
}

impl Config {
    /// Reads and validates a config file. Relative paths in it are taken
    /// relative to the file's folder, so a daemon's working directory does
    /// not change where reports go.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path, &|name| std::env::var(name).ok())
    }

    /// Parses and validates config text; `env` looks up environment
    /// variables (injected so tests need not touch the process environment).
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut p = Problems::default();
        let config = validate(raw, path, &base_dir, env, &mut p);
        match config {
            Some(c) if p.is_empty() => Ok(c),
            _ => Err(ConfigError::Invalid {
                file: path.to_path_buf(),
                problems: p.0,
            }),
        }
    }

    /// Loads the API token now (it is read at start and on reload, not at
    /// every call).
    pub fn load_token(&self) -> Result<SecretString, ConfigError> {
        load_secret(&self.token_source, &|n| std::env::var(n).ok()).map_err(|m| {
            ConfigError::Invalid {
                file: self.file.clone(),
                problems: vec![Problem {
                    key: "portal.token".into(),
                    message: m,
                }],
            }
        })
    }
}

/// Resolves a path from the config relative to the config file's folder.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn validate(
    raw: RawConfig,
    file: &Path,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<Config> {
    let portal = match raw.portal {
        Some(portal) => Some(portal),
        None => {
            p.push("portal", "missing section [portal]");
            None
        }
    }?;

    // base URL: https, except for loopback hosts (tests, the demo).
    let base_url = match url::Url::parse(portal.base_url.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("").to_ascii_lowercase();
            let loopback = host == "localhost"
                || host == "[::1]"
                || host == "::1"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|a| a.is_loopback());
            match u.scheme() {
                "https" => {}
                "http" if loopback => {}
                "http" => p.push(
                    "portal.base_url",
                    format!(
                        "{} must use https (plain http is allowed only for loopback hosts)",
                        u
                    ),
                ),
                other => p.push("portal.base_url", format!("unsupported scheme {other:?}")),
            }
            if !u.username().is_empty() || u.password().is_some() {
                p.push("portal.base_url", "must not contain credentials");
            }
            if u.query().is_some() {
                p.push("portal.base_url", "must not contain a query string");
            }
            Some(u)
        }
        Err(e) => {
            p.push("portal.base_url", format!("not a URL: {e}"));
            None
        }
    };

    let proxy = base_url
        .as_ref()
        .and_then(|u| proxy::portal_proxy(portal.proxy.as_deref(), u, env, p));
    let ca_file = portal.ca_file.as_ref().map(|f| resolve(base, f));
    if let Some(path) = &ca_file
        && let Err(m) = crate::api::transport::read_ca_file(path)
    {
        p.push("portal.ca_file", m);
    }

    let token_source = match (
        &portal.token_env,
        &portal.token_file,
        &portal.token_credential,
    ) {
        (None, None, None) => SecretSource::Env(defaults::TOKEN_ENV.to_string()),
        (Some(v), None, None) => SecretSource::Env(v.clone()),
        (None, Some(f), None) => SecretSource::File(resolve(base, f)),
        (None, None, Some(c)) => SecretSource::Credential(c.clone()),
        _ => {
            p.push(
                "portal.token_env",
                "set only one of token_env, token_file, token_credential",
            );
            SecretSource::Env(defaults::TOKEN_ENV.to_string())
        }
    };
    let token = match load_secret(&token_source, env) {
        Ok(t) => Some(t),
        Err(m) => {
            let key = match token_source {
                SecretSource::Env(_) => "portal.token_env",
                SecretSource::File(_) => "portal.token_file",
                SecretSource::Credential(_) => "portal.token_credential",
            };
            p.push(key, m);
            None
        }
    };

    let positive = |p: &mut Problems, key: &str, v: Option<u64>, default: u64| -> u64 {
        match v {
            Some(0) => {
                p.push(key, "must be greater than 0");
                default
            }
            Some(n) => n,
            None => default,
        }
    };
    let request_timeout = positive(
        p,
        "portal.request_timeout_secs",
        portal.request_timeout_secs,
        defaults::REQUEST_TIMEOUT_SECS,
    );
    let connect_timeout = positive(
        p,
        "portal.connect_timeout_secs",
        portal.connect_timeout_secs,
        defaults::CONNECT_TIMEOUT_SECS,
    );
    let max_concurrency = positive(
        p,
        "portal.max_concurrency",
        portal.max_concurrency.map(|v| v as u64),
        defaults::MAX_CONCURRENCY as u64,
    ) as usize;
    if max_concurrency > 50 {
        p.push(
            "portal.max_concurrency",
            "must be at most 50 (the server answers 429 to the 51st parallel GET)",
        );
    }
    let max_write_concurrency = positive(
        p,
        "portal.max_write_concurrency",
        portal.max_write_concurrency.map(|v| v as u64),
        defaults::MAX_WRITE_CONCURRENCY as u64,
    ) as usize;
    if max_write_concurrency > 15 {
        p.push(
            "portal.max_write_concurrency",
            "must be at most 15 (the server's limit for parallel writes)",
        );
    }
    let retry = RetryPolicy {
        max_retries: portal.max_retries.unwrap_or(defaults::MAX_RETRIES),
        base: Duration::from_millis(positive(
            p,
            "portal.retry_base_ms",
            portal.retry_base_ms,
            defaults::RETRY_BASE_MS,
        )),
        max: Duration::from_millis(positive(
            p,
            "portal.retry_max_ms",
            portal.retry_max_ms,
            defaults::RETRY_MAX_MS,
        )),
        max_retry_after: Duration::from_secs(300),
    };
    let operation_poll = Duration::from_millis(positive(
        p,
        "portal.operation_poll_ms",
        portal.operation_poll_ms,
        defaults::OPERATION_POLL_MS,
    ));
    let operation_timeout = Duration::from_secs(positive(
        p,
        "portal.operation_timeout_secs",
        portal.operation_timeout_secs,
        defaults::OPERATION_TIMEOUT_SECS,
    ));

    // archive scope
    let mut designated_rooms = Vec::new();
    for (i, v) in raw.archive.designated_rooms.iter().enumerate() {
        match room_id_from_toml(v) {
            Some(id) => designated_rooms.push(id),
            None => p.push(
                format!("archive.designated_rooms[{i}]"),
                format!("{v} is not a room id"),
            ),
        }
    }
    let owner_id = guid_field(p, "archive.owner_id", raw.archive.owner_id.as_deref());
    let hr_group_id = guid_field(p, "archive.hr_group_id", raw.archive.hr_group_id.as_deref());
    let archive = ArchiveScope {
        include_archive_section: raw.archive.include_archive_section,
        designated_rooms,
        owner_id,
        hr_group_id,
        reassign_timeout: Duration::from_secs(positive(
            p,
            "archive.reassign_timeout_secs",
            raw.archive.reassign_timeout_secs,
            defaults::REASSIGN_TIMEOUT_SECS,
        )),
        reassign_poll: Duration::from_secs(positive(
            p,
            "archive.reassign_poll_secs",
            raw.archive.reassign_poll_secs,
            defaults::REASSIGN_POLL_SECS,
        )),
        reassign_delete_profile: raw.archive.reassign_delete_profile,
        audit_lookback_days: raw
            .archive
            .audit_lookback_days
            .unwrap_or(defaults::AUDIT_LOOKBACK_DAYS),
    };

    // policy
    let mut checks = BTreeMap::new();
    for id in CheckId::ALL {
        checks.insert(id, default_check_policy(id));
    }
    for (name, c) in raw.policy.checks {
        let key = format!("policy.checks.{name}");
        let Some(id) = CheckId::parse(&name).filter(|c| CheckId::ALL.contains(c)) else {
            p.push(
                key,
                format!(
                    "unknown check {name:?}; known checks: {}",
                    CheckId::ALL.map(|c| c.name()).join(", ")
                ),
            );
            continue;
        };
        let mut policy = default_check_policy(id);
        if let Some(m) = c.mode {
            policy.mode = match m.as_str() {
                "off" => Mode::Off,
                "report" => Mode::Report,
                "remediate" => Mode::Remediate,
                other => {
                    p.push(
                        format!("{key}.mode"),
                        format!("{other:?} is not one of off, report, remediate"),
                    );
                    policy.mode
                }
            };
        }
        if let Some(g) = c.grace_days {
            policy.grace_days = g;
        }
        if let Some(a) = c.action {
            if id != CheckId::OrphanedGuests {
                p.push(
                    format!("{key}.action"),
                    "only orphaned-guests takes an action",
                );
            }
            policy.guest_action = match a.as_str() {
                "detach" => GuestAction::Detach,
                "delete" => GuestAction::Delete,
                other => {
                    p.push(
                        format!("{key}.action"),
                        format!("{other:?} is not one of detach, delete"),
                    );
                    GuestAction::Detach
                }
            };
        }
        checks.insert(id, policy);
    }
    let needs_owner = [CheckId::DisabledUserContent, CheckId::ArchiveAccessDrift];
    for id in needs_owner {
        if checks.get(&id).is_some_and(|c| c.mode != Mode::Off) && archive.owner_id.is_none() {
            p.push(
                "archive.owner_id",
                format!("required while {} is not off", id.name()),
            );
            break;
        }
    }

    let mut exemptions = Vec::new();
    for (i, e) in raw.exemptions.into_iter().enumerate() {
        let key = format!("exemptions[{i}]");
        let mut targets = Vec::new();
        if let Some(r) = &e.room {
            match room_id_from_toml(r) {
                Some(id) => targets.push(ExemptionTarget::Room(id)),
                None => p.push(format!("{key}.room"), format!("{r} is not a room id")),
            }
        }
        if let Some(u) = guid_field(p, &format!("{key}.user_id"), e.user_id.as_deref()) {
            targets.push(ExemptionTarget::User(u));
        }
        if let Some(m) = &e.email {
            if crate::address::is_valid_email(m) {
                targets.push(ExemptionTarget::Email(m.trim().to_ascii_lowercase()));
            } else {
                p.push(
                    format!("{key}.email"),
                    format!("{m:?} is not an email address"),
                );
            }
        }
        if let Some(d) = &e.domain {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            if d.contains('.') && !d.contains(char::is_whitespace) && !d.contains('@') {
                targets.push(ExemptionTarget::Domain(d));
            } else {
                p.push(format!("{key}.domain"), format!("{d:?} is not a domain"));
            }
        }
        if targets.len() != 1 {
            p.push(
                key.clone(),
                "set exactly one of room, user_id, email, domain",
            );
            continue;
        }
        let reason = match e.reason.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => {
                p.push(format!("{key}.reason"), "every exemption needs a reason");
                String::new()
            }
        };
        let mut exempt_checks = Vec::new();
        for name in e.checks.unwrap_or_default() {
            match CheckId::parse(&name) {
                Some(c) => exempt_checks.push(c),
                None => p.push(format!("{key}.checks"), format!("unknown check {name:?}")),
            }
        }
        let expires = match &e.expires {
            None => None,
            Some(toml::Value::Datetime(d)) => d
                .date
                .and_then(|d| NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)),
            Some(toml::Value::String(s)) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    p.push(
                        format!("{key}.expires"),
                        format!("{s:?} is not a date (YYYY-MM-DD)"),
                    );
                    None
                }
            },
            Some(other) => {
                p.push(
                    format!("{key}.expires"),
                    format!("{other} is not a date (YYYY-MM-DD)"),
                );
                None
            }
        };
        exemptions.push(Exemption {
            target: targets.remove(0),
            checks: exempt_checks,
            reason,
            ticket: e.ticket.filter(|t| !t.trim().is_empty()),
            expires,
        });
    }

    let policy = Policy {
        dry_run: raw.policy.dry_run,
        max_changes_per_run: raw
            .policy
            .max_changes_per_run
            .unwrap_or(defaults::MAX_CHANGES_PER_RUN),
        checks,
        exemptions,
    };

    let reports = Reports {
        dir: resolve(
            base,
            &raw.reports
                .dir
                .unwrap_or_else(|| PathBuf::from(defaults::REPORTS_DIR)),
        ),
        keep_runs: match raw.reports.keep_runs {
            Some(0) => {
                p.push("reports.keep_runs", "must be at least 1");
                1
            }
            Some(n) => n,
            None => defaults::KEEP_RUNS,
        },
    };
    let state_path = resolve(
        base,
        &raw.state
            .path
            .unwrap_or_else(|| PathBuf::from(defaults::STATE_PATH)),
    );

    let notify = notify::validate(raw.notify, base, env, p);
    let daemon = daemon::validate_daemon(raw.daemon, p);
    let webhook = raw
        .webhook
        .and_then(|w| daemon::validate_webhook(w, base, env, p));
    let metrics = raw.metrics.and_then(|m| daemon::validate_metrics(m, p));
    if let (Some(n), Some(d)) = (&notify, &daemon) {
        let summary_job = d.schedules.iter().any(|s| s.job == Job::Summary);
        if n.enabled && n.security_summary == SummaryCadence::Scheduled && !summary_job {
            p.push(
                "notify.security_summary",
                "\"scheduled\" needs a [[daemon.schedules]] entry with job = \"summary\"; without one the security team would never get a summary",
            );
        }
    }

    Some(Config {
        file: file.to_path_buf(),
        portal: ClientSettings {
            base_url: base_url?,
            token: token?,
            request_timeout: Duration::from_secs(request_timeout),
            connect_timeout: Duration::from_secs(connect_timeout),
            proxy,
            ca_file,
            max_concurrency,
            max_write_concurrency,
            retry,
            operation_poll,
            operation_timeout,
        },
        token_source,
        archive,
        policy,
        reports,
        state_path,
        notify: notify?,
        daemon: daemon?,
        webhook,
        metrics,
    })
}

fn default_check_policy(id: CheckId) -> CheckPolicy {
    let mode = match id {
        CheckId::ArchivedRoomGuests | CheckId::ArchivedRoomLinks => Mode::Report,
        CheckId::DisabledUserAccess => Mode::Report,
        _ => Mode::Off,
    };
    CheckPolicy {
        mode,
        grace_days: 0,
        guest_action: GuestAction::Detach,
    }
}

fn room_id_from_toml(v: &toml::Value) -> Option<RoomId> {
    match v {
        toml::Value::Integer(n) => Some(RoomId::Native(*n)),
        toml::Value::String(s) => RoomId::parse(s),
        _ => None,
    }
}

fn guid_field(p: &mut Problems, key: &str, v: Option<&str>) -> Option<crate::api::Guid> {
    let v = v?.trim();
    let g = crate::api::Guid::new(v);
    if g.is_well_formed() {
        Some(g)
    } else {
        p.push(key, format!("{v:?} is not a GUID"));
        None
    }
}
