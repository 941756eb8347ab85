//! Test support for the fault-matrix (`tests/fault_*.rs`) and hostile-input
//! (`tests/hostile_*.rs`) tests: a fake-portal scenario of archived rooms
//! that each hold a guest and an external link, a config written into a
//! temp dir (library or binary runs), the binary as a child process, a
//! timeline of the requests the fake portal received, and readers for what
//! a run leaves on disk (run folders, manifests, temporary files, the
//! state store).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/reports.rs"]
pub mod reports;
#[path = "../common/smtp.rs"]
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docspace_auditor::audit::Auditor;
use docspace_auditor::clock::SystemClock;
use docspace_auditor::config::Config;
use docspace_fake_portal::{
    FakePortal, LinkSpec, RecordedRequest, RoomKind, RoomSpec, Scenario, UserKind, UserSpec,
};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const BIN: &str = env!("CARGO_BIN_EXE_docspace-auditor");
/// The variable the configs read the API token from.
pub const TOKEN_ENV: &str = "DSA_FAULT_TEST_KEY";
/// The variable the configs read the SMTP password from.
pub const SMTP_PASSWORD_ENV: &str = "DSA_FAULT_TEST_SMTP_PASSWORD";

pub const KEY_USER: &str = "5a17e000-0000-4000-8000-000000000001";
pub const OWNER: &str = "5a17e000-0000-4000-8000-000000000002";
pub const OWNER_EMAIL: &str = "olga.owner@company.example";

/// The guest of room `100 + n`.
pub fn guest_id(n: u32) -> String {
    format!("5a17e000-0000-4000-8000-0000000010{n:02}")
}

/// The external link of room `100 + n`.
pub fn link_id(n: u32) -> String {
    format!("5a17e000-0000-4000-8000-0000000020{n:02}")
}

/// The id of the n-th room, as the portal writes it.
pub fn room_id(n: u32) -> String {
    (100 + n).to_string()
}

/// A portal whose key user is the owner, with archived rooms `101..` each
/// shared with a guest of its own and holding one external link, all owned
/// by [`OWNER`]. Archive moves finish after one poll.
pub fn scenario(rooms: u32) -> Scenario {
    let created = chrono::Utc::now() - chrono::Duration::days(120);
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
        OWNER_EMAIL,
        UserKind::RoomAdmin,
    ));
    for n in 1..=rooms {
        s.users.push(
            UserSpec::new(
                &guest_id(n),
                "Gus",
                &format!("Guest{n}"),
                &format!("guest{n}@partner.example"),
                UserKind::Guest,
            )
            .invited_by(OWNER),
        );
        s.rooms.push(
            RoomSpec::new(
                100 + i64::from(n),
                &format!("Project {n}"),
                RoomKind::Custom,
                OWNER,
                created,
            )
            .archived()
            .share(&guest_id(n), 2)
            .link(LinkSpec::external(&link_id(n), &format!("Client link {n}"))),
        );
    }
    s.fileops_polls = 1;
    s
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum Mail {
    Off,
    /// `.eml` files in `<dir>/outbox`.
    Outbox,
    /// A plain SMTP relay on loopback.
    Plain {
        port: u16,
        timeout_secs: u64,
    },
    /// STARTTLS with AUTH; the password comes from [`SMTP_PASSWORD_ENV`].
    Auth {
        port: u16,
        ca_file: PathBuf,
        username: String,
    },
}

/// A config in a temp dir: reports, state and outbox inside it.
pub struct Setup {
    pub dir: TempDir,
    pub base_url: String,
    pub token: String,
    pub smtp_password: Option<String>,
    pub remediate: bool,
    pub mail: Mail,
    pub request_timeout_secs: u64,
    pub max_retries: u32,
    pub retry_base_ms: u64,
    pub max_concurrency: usize,
    pub max_changes: u32,
    /// Overrides `reports.dir` (relative to the temp dir, or absolute).
    pub reports: Option<PathBuf>,
    /// Raw TOML appended at the end.
    pub extra: String,
}

impl Setup {
    /// Remediation of both archived-room checks, mail off.
    pub fn new(base_url: &str, token: &str) -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            base_url: base_url.to_string(),
            token: token.to_string(),
            smtp_password: None,
            remediate: true,
            mail: Mail::Off,
            request_timeout_secs: 10,
            max_retries: 3,
            retry_base_ms: 10,
            max_concurrency: 4,
            max_changes: 100,
            reports: None,
            extra: String::new(),
        }
    }

    pub fn for_portal(portal: &FakePortal) -> Setup {
        Setup::new(&portal.base_url(), &portal.token())
    }

    pub fn mail(mut self, mail: Mail) -> Setup {
        self.mail = mail;
        self
    }

    pub fn report_only(mut self) -> Setup {
        self.remediate = false;
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn reports_dir(&self) -> PathBuf {
        match &self.reports {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => self.dir.path().join(p),
            None => self.dir.path().join("reports"),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state").join("auditor.sqlite")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    pub fn toml(&self) -> String {
        let mode = if self.remediate {
            "remediate"
        } else {
            "report"
        };
        let notify = match &self.mail {
            Mail::Off => "[notify]\nenabled = false\n".to_string(),
            Mail::Outbox => notify_section(""),
            Mail::Plain { port, timeout_secs } => notify_section(&format!(
                "\n[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = {timeout_secs}\n"
            )),
            Mail::Auth {
                port,
                ca_file,
                username,
            } => notify_section(&format!(
                "\n[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"starttls\"\nusername = \"{username}\"\npassword_env = \"{SMTP_PASSWORD_ENV}\"\nca_file = \"{}\"\ntimeout_secs = 10\n",
                toml_path(ca_file)
            )),
        };
        format!(
            r#"[portal]
base_url = "{base}"
token_env = "{TOKEN_ENV}"
request_timeout_secs = {timeout}
connect_timeout_secs = 5
max_concurrency = {concurrency}
max_write_concurrency = 2
max_retries = {retries}
retry_base_ms = {retry_base}
retry_max_ms = 200
operation_poll_ms = 10
operation_timeout_secs = 10

[archive]
include_archive_section = true

[policy]
dry_run = false
max_changes_per_run = {max_changes}

[policy.checks.archived-room-guests]
mode = "{mode}"

[policy.checks.archived-room-links]
mode = "{mode}"

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
keep_runs = 100

[state]
path = "state/auditor.sqlite"

{notify}
{extra}"#,
            base = self.base_url,
            timeout = self.request_timeout_secs,
            concurrency = self.max_concurrency,
            retries = self.max_retries,
            retry_base = self.retry_base_ms,
            max_changes = self.max_changes,
            reports = toml_path(&self.reports_dir()),
            extra = self.extra,
        )
    }

    pub fn write(&self) -> PathBuf {
        let path = self.path();
        std::fs::write(&path, self.toml()).unwrap();
        path
    }

    fn env(&self) -> impl Fn(&str) -> Option<String> + use<> {
        let token = self.token.clone();
        let password = self.smtp_password.clone();
        move |k| match k {
            TOKEN_ENV => Some(token.clone()),
            SMTP_PASSWORD_ENV => password.clone(),
            _ => None,
        }
    }

    /// Writes and parses the config; secrets from an injected environment.
    pub fn load(&self) -> Config {
        let path = self.write();
        Config::from_toml(&self.toml(), &path, &self.env())
            .unwrap_or_else(|e| panic!("config does not load:\n{e}\n---\n{}", self.toml()))
    }

    /// An auditor on the real clock.
    pub fn auditor(&self, config: Config) -> Auditor {
        Auditor::new(
            Arc::new(config),
            Arc::new(SystemClock),
            CancellationToken::new(),
        )
        .unwrap()
    }

    /// The binary with `args`, secrets in its environment, `RUST_LOG` as
    /// given, colours and backtraces off, in the temp dir.
    pub fn command(&self, args: &[&str], log: &str) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LOG", log)
            .env("NO_COLOR", "1")
            .env(TOKEN_ENV, &self.token);
        match &self.smtp_password {
            Some(p) => cmd.env(SMTP_PASSWORD_ENV, p),
            None => cmd.env_remove(SMTP_PASSWORD_ENV),
        };
        cmd
    }

    /// `run --config config.toml` to the end (at most 2 minutes).
    pub async fn run_bin(&self, log: &str) -> Ran {
        self.write();
        let cmd = self.command(&["run", "--config", "config.toml"], log);
        run_to_end(cmd).await
    }

    /// Starts `run --config config.toml` without waiting.
    pub fn spawn_run(&self, log: &str) -> Child {
        self.write();
        self.command(&["run", "--config", "config.toml"], log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn notify_section(smtp: &str) -> String {
    format!(
        "[notify]\nenabled = true\nfrom = \"auditor@company.example\"\nsecurity_team = [\"secteam@company.example\"]\nfallback_address = \"it-fallback@company.example\"\noutbox_dir = \"outbox\"\n{smtp}"
    )
}

pub fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to its end on a blocking thread (at most 2 minutes).
pub async fn run_to_end(mut cmd: Command) -> Ran {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let id = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(out) => {
            let out = out.unwrap().unwrap();
            Ran {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => panic!("process {id} did not finish within 2 minutes"),
    }
}

// ---- what a run leaves on disk ------------------------------------------------

/// The run folders under `reports`, oldest first.
pub fn run_dirs(reports: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(reports)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `run.json` of a run folder.
pub fn manifest(run_dir: &Path) -> serde_json::Value {
    let bytes = std::fs::read(run_dir.join("run.json"))
        .unwrap_or_else(|e| panic!("{}/run.json: {e}", run_dir.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{}/run.json is not JSON: {e}", run_dir.display()))
}

pub fn status(run_dir: &Path) -> String {
    manifest(run_dir)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Every file under `dir` whose name says it is a temporary file.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    reports::all_files(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
        })
        .collect()
}

/// The rows of one query on the state store (every column as text).
pub fn state_rows(state_path: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(state_path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                    rusqlite::types::Value::Null => "NULL".to_string(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(f) => f.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Blob(b) => format!("<{} bytes>", b.len()),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

// ---- the requests a fake portal received, with arrival times -------------------

/// Records when each request reached the fake portal, by polling its
/// request log every millisecond from a thread of its own.
pub struct Timeline {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Instant, RecordedRequest)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Timeline {
    pub fn start(portal: Arc<FakePortal>) -> Timeline {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<(Instant, RecordedRequest)>>> = Arc::default();
        let handle = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let all = portal.requests();
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap();
                    let known = seen.len();
                    for r in all.into_iter().skip(known) {
                        seen.push((now, r));
                    }
                    drop(seen);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        Timeline {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// Stops polling and returns every request with its arrival time.
    pub fn finish(mut self) -> Vec<(Instant, RecordedRequest)> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        self.seen.lock().unwrap().clone()
    }
}

/// Waits (polling) until `done` holds; panics after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
