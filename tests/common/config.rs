//! A config builder: writes a complete `config.toml` into a temp dir,
//! pointing at a test portal, with reports and state inside the temp dir,
//! fast retries and polling, notifications off, and only the room checks on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use docspace_auditor::audit::{Auditor, RunError, RunOutcome, RunRequest};
use docspace_auditor::clock::ManualClock;
use docspace_auditor::config::Config;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use super::portal::TOKEN;

/// The environment variable the test configs read the token from.
pub const TOKEN_ENV: &str = "DSA_TEST_API_KEY";

pub struct TestConfig {
    pub dir: TempDir,
    pub base_url: String,
    pub token: String,
    pub dry_run: bool,
    pub max_changes: u32,
    pub guests_mode: &'static str,
    pub links_mode: &'static str,
    pub guests_grace_days: u32,
    pub links_grace_days: u32,
    pub include_archive_section: bool,
    pub designated: Vec<i64>,
    pub max_retries: u32,
    /// Raw TOML appended at the end (exemptions, extra sections).
    pub extra: String,
}

impl TestConfig {
    /// Remediation of both room checks, dry-run off.
    pub fn new(base_url: &str) -> TestConfig {
        TestConfig {
            dir: tempfile::tempdir().unwrap(),
            base_url: base_url.to_string(),
            token: TOKEN.to_string(),
            dry_run: false,
            max_changes: 50,
            guests_mode: "remediate",
            links_mode: "remediate",
            guests_grace_days: 0,
            links_grace_days: 0,
            include_archive_section: true,
            designated: Vec::new(),
            max_retries: 3,
            extra: String::new(),
        }
    }

    /// Both room checks in `report` mode.
    pub fn report_only(mut self) -> TestConfig {
        self.guests_mode = "report";
        self.links_mode = "report";
        self
    }

    pub fn dry_run(mut self, yes: bool) -> TestConfig {
        self.dry_run = yes;
        self
    }

    pub fn max_changes(mut self, n: u32) -> TestConfig {
        self.max_changes = n;
        self
    }

    pub fn designated(mut self, ids: &[i64]) -> TestConfig {
        self.designated = ids.to_vec();
        self
    }

    pub fn links_mode(mut self, mode: &'static str) -> TestConfig {
        self.links_mode = mode;
        self
    }

    pub fn guests_grace_days(mut self, days: u32) -> TestConfig {
        self.guests_grace_days = days;
        self
    }

    pub fn extra(mut self, toml: &str) -> TestConfig {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn toml(&self) -> String {
        let designated = self
            .designated
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"[portal]
base_url = "{base_url}"
token_env = "{TOKEN_ENV}"
request_timeout_secs = 10
connect_timeout_secs = 5
max_concurrency = 4
max_write_concurrency = 2
max_retries = {max_retries}
retry_base_ms = 10
retry_max_ms = 100
operation_poll_ms = 10
operation_timeout_secs = 10

[archive]
include_archive_section = {include}
designated_rooms = [{designated}]

[policy]
dry_run = {dry_run}
max_changes_per_run = {max_changes}

[policy.checks.archived-room-guests]
mode = "{guests_mode}"
grace_days = {guests_grace}

[policy.checks.archived-room-links]
mode = "{links_mode}"
grace_days = {links_grace}

[policy.checks.disabled-user-content]
mode = "off"

[policy.checks.archive-access-drift]
mode = "off"

[policy.checks.orphaned-guests]
mode = "off"

[policy.checks.disabled-user-access]
mode = "off"

[reports]
dir = "{reports}"
keep_runs = 10

[state]
path = "{state}"

[notify]
enabled = false

{extra}"#,
            base_url = self.base_url,
            max_retries = self.max_retries,
            include = self.include_archive_section,
            dry_run = self.dry_run,
            max_changes = self.max_changes,
            guests_mode = self.guests_mode,
            guests_grace = self.guests_grace_days,
            links_mode = self.links_mode,
            links_grace = self.links_grace_days,
            reports = toml_path(&self.reports_dir()),
            state = toml_path(&self.dir.path().join("state").join("auditor.sqlite")),
            extra = self.extra,
        )
    }

    /// Writes `config.toml` into the temp dir and returns its path.
    pub fn write(&self) -> PathBuf {
        let path = self.path();
        std::fs::write(&path, self.toml()).unwrap();
        path
    }

    /// Writes and parses the config, the token coming from an injected
    /// environment.
    pub fn load(&self) -> Config {
        let path = self.write();
        let token = self.token.clone();
        Config::from_toml(&self.toml(), &path, &move |k| {
            (k == TOKEN_ENV).then(|| token.clone())
        })
        .unwrap_or_else(|e| panic!("test config does not load:\n{e}\n---\n{}", self.toml()))
    }

    /// One audit run through the library, at [`super::NOW`].
    pub async fn run(&self) -> Result<RunOutcome, RunError> {
        self.run_request(RunRequest::default()).await
    }

    pub async fn run_request(&self, request: RunRequest) -> Result<RunOutcome, RunError> {
        let auditor = Auditor::new(
            Arc::new(self.load()),
            Arc::new(ManualClock::new(super::now())),
            CancellationToken::new(),
        )?;
        auditor.run(request).await
    }
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}
