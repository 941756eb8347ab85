//! Shared support for the end-to-end tests: the stateful fake portal
//! (`docspace-fake-portal`) started in-process, a complete configuration
//! pointing at it (every check on, remediation for real, fast polling), and
//! the ids of the demo portal's people, groups and rooms.
//!
//! The configuration follows `demo::demo_config_text` (which is only built
//! with the `demo` feature) with the knobs the tests need: dry-run, a real
//! SMTP server, a short client timeout.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use docspace_auditor::audit::{Auditor, RunOutcome, RunRequest};
use docspace_auditor::check::CheckId;
use docspace_auditor::clock::SystemClock;
use docspace_auditor::config::Config;
use docspace_auditor::finding::{ActionOutcome, FindingStatus, RoomState};
use docspace_fake_portal::{FakePortal, PortalView, Scenario};
use tokio_util::sync::CancellationToken;

/// The environment variable name the configs read the token from (resolved
/// by the test's lookup function, never from the real environment).
pub const TOKEN_ENV: &str = "E2E_PORTAL_TOKEN";

// ---- the demo portal (`Scenario::demo_at`) ------------------------------------

/// The key user (a DocSpace admin).
pub const ADA: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000001";
/// The archive owner (a DocSpace admin).
pub const ARNE: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000003";
pub const HANNA: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000004";
/// A regular user who drifted into the designated archive room.
pub const RITA: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000006";
/// Room admin, owner of the Alpha and Epsilon rooms.
pub const SAM: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000007";
pub const TOM: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000008";
/// Disabled employee who still owns rooms 103 and 202.
pub const DIETER: &str = "6f0e5b1c-1d2e-4a3b-9c4d-000000000009";
/// Partner guest in the archived rooms 101 and 105 and the active room 203.
pub const GINA: &str = "6f0e5b1c-1d2e-4a3b-9c4d-00000000000a";
/// Guest of an exempt domain (lawfirm.example) in rooms 102 and 106.
pub const PAUL: &str = "6f0e5b1c-1d2e-4a3b-9c4d-00000000000b";
/// Guest in no active room.
pub const OLGA: &str = "6f0e5b1c-1d2e-4a3b-9c4d-00000000000c";
pub const HR_GROUP: &str = "9b2d7e4a-5c6f-4d8e-a1b2-000000000001";
pub const SALES_GROUP: &str = "9b2d7e4a-5c6f-4d8e-a1b2-000000000002";

/// The archived client rooms.
pub const ARCHIVED_ROOMS: [&str; 6] = ["101", "102", "103", "104", "105", "106"];
/// The designated ("Offboarding archive") room.
pub const ARCHIVE_ROOM: &str = "201";
/// Dieter's active room.
pub const PHOENIX: &str = "202";

pub const SAM_EMAIL: &str = "sam.seller@acme.example";
pub const ADA_EMAIL: &str = "ada.auditor@acme.example";
pub const SECURITY: &str = "security@acme.example";
pub const FALLBACK: &str = "it-admins@acme.example";

/// The demo portal, with archive/unarchive finishing after one poll.
pub async fn demo_portal() -> FakePortal {
    let mut scenario = Scenario::demo();
    // The constants above name the demo's people and rooms.
    let email = |id: &str| {
        scenario
            .users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.email.clone())
    };
    assert_eq!(scenario.key_user, ADA);
    assert_eq!(email(ARNE).as_deref(), Some("arne.archivist@acme.example"));
    assert_eq!(
        email(DIETER).as_deref(),
        Some("dieter.departed@acme.example")
    );
    assert_eq!(email(OLGA).as_deref(), Some("olga@freelance.example"));
    assert_eq!(email(SAM).as_deref(), Some(SAM_EMAIL));
    assert!(
        scenario
            .groups
            .iter()
            .any(|g| g.id == HR_GROUP && g.name == "HR")
    );
    assert!(
        scenario
            .rooms
            .iter()
            .any(|r| r.id.key() == ARCHIVE_ROOM && r.title == "Offboarding archive")
    );
    scenario.fileops_polls = 1;
    scenario.reassign_steps = vec![50, 100];
    FakePortal::start(scenario).await.unwrap()
}

// ---- configuration -------------------------------------------------------------

/// What differs between the tests' configurations.
#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    /// `[notify.smtp]` on loopback at this port; the outbox otherwise.
    pub smtp_port: Option<u16>,
    pub request_timeout_secs: u64,
    pub max_retries: u32,
    pub retry_base_ms: u64,
    pub max_concurrency: usize,
    pub max_changes: u32,
    /// Designated archive room, archive owner and HR group (the demo's).
    pub designated: Option<String>,
    pub archive_owner: Option<String>,
    pub hr_group: Option<String>,
    /// `mode` of every check except disabled-user-access (report).
    pub mode: &'static str,
    /// Per-check modes that win over `mode`: (check, mode).
    pub modes: Vec<(&'static str, &'static str)>,
    /// `orphaned-guests` action: `delete` or `detach`.
    pub guest_action: &'static str,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dry_run: false,
            smtp_port: None,
            request_timeout_secs: 10,
            max_retries: 3,
            retry_base_ms: 50,
            max_concurrency: 8,
            max_changes: 100,
            designated: Some(ARCHIVE_ROOM.to_string()),
            archive_owner: Some(ARNE.to_string()),
            hr_group: Some(HR_GROUP.to_string()),
            mode: "remediate",
            modes: Vec::new(),
            guest_action: "delete",
        }
    }
}

/// A complete `config.toml` for the fake portal at `base_url`.
pub fn config_text(base_url: &str, o: &Options) -> String {
    let designated = o
        .designated
        .as_deref()
        .map(|r| match r.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => format!("{r:?}"),
        })
        .unwrap_or_default();
    let owner = o
        .archive_owner
        .as_deref()
        .map(|id| format!("owner_id = \"{id}\"\n"))
        .unwrap_or_default();
    let hr = o
        .hr_group
        .as_deref()
        .map(|id| format!("hr_group_id = \"{id}\"\n"))
        .unwrap_or_default();
    let smtp = o
        .smtp_port
        .map(|port| {
            format!(
                "\n[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 5\n"
            )
        })
        .unwrap_or_default();
    let mode = |check: &str| {
        o.modes
            .iter()
            .find(|(c, _)| *c == check)
            .map_or(o.mode, |(_, m)| *m)
    };
    let checks: String = [
        "archived-room-guests",
        "archived-room-links",
        "disabled-user-content",
        "archive-access-drift",
        "orphaned-guests",
    ]
    .iter()
    .map(|c| {
        let action = if *c == "orphaned-guests" {
            format!("action = \"{}\"\n", o.guest_action)
        } else {
            String::new()
        };
        format!("[policy.checks.{c}]\nmode = \"{}\"\n{action}", mode(c))
    })
    .collect();
    format!(
        r#"
[portal]
base_url = "{base_url}"
token_env = "{TOKEN_ENV}"
request_timeout_secs = {timeout}
connect_timeout_secs = 2
max_concurrency = {concurrency}
max_retries = {retries}
retry_base_ms = {retry_base}
retry_max_ms = 1000
operation_poll_ms = 20
operation_timeout_secs = 20

[archive]
include_archive_section = true
designated_rooms = [{designated}]
{owner}{hr}reassign_poll_secs = 1
reassign_timeout_secs = 20

[policy]
dry_run = {dry_run}
max_changes_per_run = {max_changes}

{checks}[policy.checks.disabled-user-access]
mode = "report"

[[exemptions]]
domain = "lawfirm.example"
reason = "outside counsel keeps access during the litigation hold"
ticket = "LEGAL-7"

[reports]
dir = "reports"
keep_runs = 20

[state]
path = "state/e2e.sqlite"

[notify]
from = "docspace-auditor@acme.example"
security_team = ["{SECURITY}"]
fallback_address = "{FALLBACK}"
outbox_dir = "outbox"
{smtp}"#,
        timeout = o.request_timeout_secs,
        concurrency = o.max_concurrency,
        retries = o.max_retries,
        retry_base = o.retry_base_ms,
        dry_run = o.dry_run,
        max_changes = o.max_changes,
    )
}

/// Parses `text` as `dir/config.toml` with the portal's token.
pub fn config(text: &str, dir: &Path, token: &str) -> Config {
    let token = token.to_string();
    Config::from_toml(text, &dir.join("config.toml"), &|name| {
        (name == TOKEN_ENV).then(|| token.clone())
    })
    .unwrap_or_else(|e| panic!("the e2e config is invalid: {e}\n{text}"))
}

/// An auditor for `portal` with reports, state and outbox under `dir`.
pub fn auditor(portal: &FakePortal, dir: &Path, options: &Options) -> Auditor {
    let text = config_text(&portal.base_url(), options);
    auditor_from_text(&text, dir, &portal.token())
}

/// An auditor for the config `text` (parsed as `dir/config.toml`).
pub fn auditor_from_text(text: &str, dir: &Path, token: &str) -> Auditor {
    Auditor::new(
        Arc::new(config(text, dir, token)),
        Arc::new(SystemClock),
        CancellationToken::new(),
    )
    .unwrap()
}

/// One full run; panics on a run failure.
pub async fn run(auditor: &Auditor) -> RunOutcome {
    auditor
        .run(RunRequest::default())
        .await
        .unwrap_or_else(|e| panic!("the audit run failed: {e}"))
}

// ---- read-back in the portal ---------------------------------------------------

/// Panics unless every `fixed` finding of `outcome` holds in the portal's
/// state: removed members and revoked links are gone, added members are
/// there, reassigned users own no room, deleted guests no longer exist, and
/// every room of the Archive section is in the Archive again.
pub fn assert_fixed_findings_hold(
    state: &PortalView,
    outcome: &RunOutcome,
    archive_owner: Option<&str>,
    hr_group: Option<&str>,
) -> usize {
    let mut checked = 0;
    for f in outcome
        .findings
        .iter()
        .filter(|f| f.status == FindingStatus::Fixed)
    {
        checked += 1;
        let subject = f.subject.id.as_str();
        let room = f.room.as_ref().map(|r| r.id.to_string());
        let is_member = |room: &str| {
            state
                .room_members(room)
                .iter()
                .any(|(id, _)| id.eq_ignore_ascii_case(subject))
        };
        match f.check {
            CheckId::ArchivedRoomGuests => {
                let room = room.as_deref().unwrap();
                assert!(!is_member(room), "{subject} is still in room {room}: {f:?}");
            }
            CheckId::ArchivedRoomLinks => {
                let room = room.as_deref().unwrap();
                assert!(
                    !state
                        .room_links(room)
                        .iter()
                        .any(|l| l.id.eq_ignore_ascii_case(subject)),
                    "link {subject} still exists in room {room}: {f:?}"
                );
            }
            CheckId::ArchiveAccessDrift => {
                let room = room.as_deref().unwrap();
                let required = Some(subject) == archive_owner || Some(subject) == hr_group;
                assert_eq!(
                    is_member(room),
                    required,
                    "{subject} in room {room}: {:?}; {f:?}",
                    state.room_members(room)
                );
            }
            CheckId::DisabledUserContent => {
                let owned: Vec<_> = state
                    .rooms()
                    .iter()
                    .filter(|r| r.owner_id.eq_ignore_ascii_case(subject))
                    .map(|r| r.id.clone())
                    .collect();
                assert!(owned.is_empty(), "{subject} still owns {owned:?}: {f:?}");
                let task = state.reassignment(subject).expect("a reassignment ran");
                assert_eq!((task.percentage, task.status), (100, 2), "{task:?}");
            }
            CheckId::OrphanedGuests => {
                assert!(
                    state.user(subject).is_none(),
                    "{subject} still exists: {f:?}"
                );
            }
            other => panic!("a {} finding cannot be fixed: {f:?}", other.name()),
        }
        // A room of the Archive section is in the Archive again, or the
        // run said it is not (a failed re-archive, retried by the next run).
        if let Some(r) = &f.room
            && r.state == RoomState::Archived
            && !state.is_archived(&r.id.to_string())
        {
            let actions: Vec<_> = outcome
                .actions
                .iter()
                .filter(|a| a.room_id.as_ref() == Some(&r.id))
                .collect();
            assert!(
                actions
                    .iter()
                    .any(|a| a.action == "re-archive" && a.outcome == ActionOutcome::Failed),
                "room {} was left outside the Archive without a failed re-archive: {actions:#?}",
                r.id
            );
        }
    }
    checked
}
