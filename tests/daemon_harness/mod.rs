//! Test support for the daemon, webhook and metrics tests: a fake DocSpace
//! portal with archived rooms that hold guests, a config written into a
//! temp dir, and the `docspace-auditor daemon` binary run as a child
//! process whose log lines are collected while it runs. `DSA_DAEMON_BIN`
//! points the tests at another build of the binary (an installed one).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docspace_fake_portal::{FakePortal, RoomKind, RoomSpec, Scenario, UserKind, UserSpec};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_docspace-auditor");
pub const TOKEN_ENV: &str = "DSA_DAEMON_TEST_KEY";
pub const SECRET_ENV: &str = "DSA_DAEMON_TEST_WEBHOOK_SECRET";
pub const SECRET: &str = "Wh-Secret-2026!x";

pub const KEY_USER: &str = "0f8b5c1e-0000-4000-8000-000000000001";
pub const OWNER: &str = "0f8b5c1e-0000-4000-8000-000000000002";
pub const OTHER_ADMIN: &str = "0f8b5c1e-0000-4000-8000-000000000003";

pub fn guest_id(n: u32) -> String {
    format!("0f8b5c1e-0000-4000-8000-0000000010{n:02}")
}

/// Archived rooms 101.. each shared with a guest of its own.
pub fn scenario(rooms: u32) -> Scenario {
    let created = chrono::Utc::now() - chrono::Duration::days(90);
    let mut s = Scenario::new(UserSpec::new(
        KEY_USER,
        "Audit",
        "Bot",
        "audit-bot@company.example",
        UserKind::Owner,
    ));
    s.users.push(UserSpec::new(
        OWNER,
        "Olga",
        "Owner",
        "olga@company.example",
        UserKind::RoomAdmin,
    ));
    s.users.push(UserSpec::new(
        OTHER_ADMIN,
        "Adam",
        "Admin",
        "adam@company.example",
        UserKind::DocspaceAdmin,
    ));
    for n in 1..=rooms {
        let guest = guest_id(n);
        s.users.push(
            UserSpec::new(
                &guest,
                "Gus",
                &format!("Guest{n}"),
                &format!("guest{n}@partner.example"),
                UserKind::Guest,
            )
            .invited_by(OWNER),
        );
        let id = 100 + i64::from(n);
        s.rooms.push(
            RoomSpec::new(
                id,
                &format!("Project {n}"),
                RoomKind::Custom,
                OWNER,
                created,
            )
            .archived()
            .share(&guest, 2),
        );
    }
    s.fileops_polls = 1;
    s
}

pub async fn portal(rooms: u32) -> FakePortal {
    FakePortal::start(scenario(rooms)).await.unwrap()
}

/// A config in a temp dir (relative paths: reports, state).
pub struct Setup {
    pub dir: TempDir,
    pub base_url: String,
    pub token: String,
    /// `report` or `remediate` for archived-room-guests.
    pub guests_mode: &'static str,
    /// The mode of disabled-user-access (`off` unless a test needs it).
    pub disabled_access_mode: &'static str,
    pub dry_run: bool,
    /// (name, cron, job)
    pub schedules: Vec<(String, String, &'static str)>,
    /// The body of the `[notify]` section.
    pub notify: String,
    pub shutdown_timeout_secs: u64,
    pub extra: String,
}

impl Setup {
    pub fn new(portal: &FakePortal) -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            base_url: portal.base_url(),
            token: portal.token(),
            guests_mode: "report",
            disabled_access_mode: "off",
            dry_run: true,
            schedules: Vec::new(),
            notify: "enabled = false\n".into(),
            shutdown_timeout_secs: 30,
            extra: String::new(),
        }
    }

    pub fn schedule(mut self, name: &str, cron: &str) -> Setup {
        self.schedules.push((name.into(), cron.into(), "audit"));
        self
    }

    pub fn summary_schedule(mut self, name: &str, cron: &str) -> Setup {
        self.schedules.push((name.into(), cron.into(), "summary"));
        self
    }

    /// Mail on, into `outbox/`, with one security-team address and the
    /// summary held for the `summary` schedule.
    pub fn scheduled_summaries(mut self) -> Setup {
        self.notify = "enabled = true\nfrom = \"auditor@company.example\"\nsecurity_team = [\"secteam@company.example\"]\nsecurity_summary = \"scheduled\"\noutbox_dir = \"outbox\"\n".into();
        self
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    pub fn remediate(mut self) -> Setup {
        self.guests_mode = "remediate";
        self.dry_run = false;
        self
    }

    pub fn webhook(mut self) -> Setup {
        self.extra.push_str(&format!(
            "[webhook]\nlisten = \"127.0.0.1:0\"\npath = \"/hooks/docspace\"\nsecret_env = \"{SECRET_ENV}\"\nmax_body_bytes = 65536\n\n"
        ));
        self
    }

    /// Metrics on a listener of their own (port chosen by the OS).
    pub fn metrics(mut self) -> Setup {
        self.extra
            .push_str("[metrics]\nlisten = \"127.0.0.1:0\"\n\n");
        self
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state").join("auditor.sqlite")
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn toml(&self) -> String {
        let mut schedules = String::new();
        for (name, cron, job) in &self.schedules {
            schedules.push_str(&format!(
                "[[daemon.schedules]]\nname = \"{name}\"\ncron = \"{cron}\"\njob = \"{job}\"\ntimezone = \"Europe/Berlin\"\n\n"
            ));
        }
        format!(
            r#"[portal]
base_url = "{base}"
token_env = "{TOKEN_ENV}"
request_timeout_secs = 10
connect_timeout_secs = 5
max_concurrency = 4
max_write_concurrency = 2
max_retries = 2
retry_base_ms = 10
retry_max_ms = 100
operation_poll_ms = 10
operation_timeout_secs = 10

[policy]
dry_run = {dry_run}
max_changes_per_run = 50

[policy.checks.archived-room-guests]
mode = "{mode}"

[policy.checks.archived-room-links]
mode = "report"

[policy.checks.disabled-user-access]
mode = "{disabled_access}"

[reports]
dir = "reports"
keep_runs = 100

[state]
path = "state/auditor.sqlite"

[notify]
{notify}
[daemon]
shutdown_timeout_secs = {timeout}

{schedules}{extra}"#,
            base = self.base_url,
            dry_run = self.dry_run,
            mode = self.guests_mode,
            disabled_access = self.disabled_access_mode,
            timeout = self.shutdown_timeout_secs,
            notify = self.notify,
            extra = self.extra,
        )
    }

    pub fn write(&self) -> PathBuf {
        std::fs::write(self.path(), self.toml()).unwrap();
        self.path()
    }

    /// Writes the config and starts the daemon on it.
    pub fn start(&self) -> Daemon {
        self.write();
        Daemon::start(&self.path(), &self.token, &[])
    }
}

/// A running `docspace-auditor daemon`.
pub struct Daemon {
    child: Child,
    pub pid: u32,
    lines: Arc<Mutex<Vec<String>>>,
    exited: Option<Option<i32>>,
}

impl Daemon {
    pub fn start(config: &Path, token: &str, env: &[(&str, String)]) -> Daemon {
        let bin = std::env::var("DSA_DAEMON_BIN").unwrap_or_else(|_| BIN.to_string());
        let mut cmd = Command::new(bin);
        cmd.arg("daemon")
            .arg("--config")
            .arg(config)
            .current_dir(config.parent().unwrap())
            .env(TOKEN_ENV, token)
            .env(SECRET_ENV, SECRET)
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Daemon {
            child,
            pid,
            lines,
            exited: None,
        }
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until a log line contains `needle` (and returns it), failing
    /// the test with the log after `timeout`.
    pub async fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_for_nth(needle, 1, timeout).await
    }

    pub async fn wait_for_nth(&mut self, needle: &str, n: usize, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let found: Vec<String> = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "daemon exited ({status}) before logging {needle:?}:\n{}",
                    self.logs()
                );
            }
            if start.elapsed() > timeout {
                panic!(
                    "no log line with {needle:?} within {timeout:?}:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The address a listener logged (`<what> listener ready … listen=ADDR`).
    pub async fn listen_addr(&mut self, what: &str) -> String {
        let line = self
            .wait_for(&format!("{what} listener ready"), Duration::from_secs(20))
            .await;
        field(&line, "listen").unwrap_or_else(|| panic!("no listen= in {line:?}"))
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {} failed", self.pid);
    }

    /// Waits for the process to end; its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        if let Some(code) = self.exited {
            return code;
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.exited = Some(status.code());
                return status.code();
            }
            if start.elapsed() > timeout {
                panic!("daemon still running after {timeout:?}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `cond` holds, failing the test with the log after
    /// `timeout`.
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut() -> bool,
    ) {
        let start = Instant::now();
        while !cond() {
            if start.elapsed() > timeout {
                panic!("timed out waiting for {what}:\n{}", self.logs());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "daemon exited ({status}) while waiting for {what}:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `key=value` from a text log line (value up to the next space).
pub fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let value = rest.split_whitespace().next()?;
    Some(value.trim_matches('"').to_string())
}

/// The run folders under the reports dir, with their `run.json`.
pub fn runs(reports: &Path) -> Vec<(String, serde_json::Value)> {
    let Ok(entries) = std::fs::read_dir(reports) else {
        return Vec::new();
    };
    let mut out: Vec<(String, serde_json::Value)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let manifest = std::fs::read(e.path().join("run.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(serde_json::Value::Null);
            (name, manifest)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub fn status(manifest: &serde_json::Value) -> &str {
    manifest["status"].as_str().unwrap_or("")
}

/// Run folders whose `run.json` says `complete`.
pub fn complete_runs(reports: &Path) -> Vec<String> {
    runs(reports)
        .into_iter()
        .filter(|(_, m)| status(m) == "complete")
        .map(|(n, _)| n)
        .collect()
}

pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file under `dir` whose name marks it half-written.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
            {
                out.push(p);
            }
        }
    }
    out
}
