//! `docspace-auditor demo`: starts the fake portal in-process with a small,
//! realistic sample of problems, runs one full audit with remediation
//! against it, and tells a newcomer what was found, what was changed and
//! where to look. Built only with the `demo` feature.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use docspace_fake_portal::{FakePortal, Scenario};

use crate::audit::{Auditor, RunRequest};
use crate::cli::{self, exit};
use crate::clock::SystemClock;
use crate::config::Config;

/// The demo's configuration: everything on, remediation for real (it is a
/// fake portal), mail to the outbox.
pub fn demo_config_text(
    base_url: &str,
    archive_room: Option<&str>,
    archive_owner: Option<&str>,
    hr_group: Option<&str>,
) -> String {
    let designated = archive_room
        .map(|r| match r.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => format!("{r:?}"),
        })
        .unwrap_or_default();
    let owner = archive_owner
        .map(|o| format!("owner_id = \"{o}\"\n"))
        .unwrap_or_default();
    let hr = hr_group
        .map(|h| format!("hr_group_id = \"{h}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[portal]
base_url = "{base_url}"
token_env = "DEMO_PORTAL_TOKEN"
operation_poll_ms = 50
retry_base_ms = 100

[archive]
include_archive_section = true
designated_rooms = [{designated}]
{owner}{hr}reassign_poll_secs = 1
reassign_timeout_secs = 60

[policy]
dry_run = false
max_changes_per_run = 100

[policy.checks.archived-room-guests]
mode = "remediate"
[policy.checks.archived-room-links]
mode = "remediate"
[policy.checks.disabled-user-content]
mode = "remediate"
[policy.checks.archive-access-drift]
mode = "remediate"
[policy.checks.orphaned-guests]
mode = "remediate"
action = "delete"
[policy.checks.disabled-user-access]
mode = "report"

[[exemptions]]
domain = "lawfirm.example"
reason = "outside counsel keeps access during the litigation hold"
ticket = "LEGAL-7"

[reports]
dir = "reports"
keep_runs = 20

[state]
path = "state/demo.sqlite"

[notify]
from = "docspace-auditor@acme.example"
security_team = ["security@acme.example"]
fallback_address = "it-admins@acme.example"
outbox_dir = "outbox"
"#
    )
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Runs the demo in `dir` (reports, state and outbox go there).
pub async fn run(dir: &Path) -> u8 {
    let scenario = Scenario::demo();
    let archive_room = scenario
        .rooms
        .iter()
        .find(|r| r.title == "Offboarding archive")
        .map(|r| r.id.to_string());
    let archive_owner = scenario
        .users
        .iter()
        .find(|u| u.email.starts_with("arne."))
        .map(|u| u.id.clone());
    let hr_group = scenario
        .groups
        .iter()
        .find(|g| g.name == "HR")
        .map(|g| g.id.clone());
    let portal = match FakePortal::start(scenario).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start the demo portal on loopback: {e}");
            return exit::RUN_FAILED;
        }
    };
    let text = demo_config_text(
        &portal.base_url(),
        archive_room.as_deref(),
        archive_owner.as_deref(),
        hr_group.as_deref(),
    );
    let config_path: PathBuf = dir.join("demo-config.toml");
    let token = portal.token();
    let config = match Config::from_toml(&text, &config_path, &|name| {
        (name == "DEMO_PORTAL_TOKEN").then(|| token.clone())
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the demo configuration is invalid: {e}");
            return exit::RUN_FAILED;
        }
    };
    let outbox = config.notify.outbox_dir.clone();
    // Each demo starts a new fake portal, so the demo's memory of earlier
    // findings starts fresh too.
    let _ = std::fs::remove_file(&config.state_path);
    println!(
        "Started a fake DocSpace portal at {} with a sample of compliance problems.",
        portal.base_url()
    );
    println!(
        "Auditing it with remediation on (it is a fake portal; the shipped config.toml is a dry-run)...\n"
    );
    let auditor = match Auditor::new(
        Arc::new(config),
        Arc::new(SystemClock),
        tokio_util::sync::CancellationToken::new(),
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::RUN_FAILED;
        }
    };
    let code = match auditor.run(RunRequest::default()).await {
        Ok(outcome) => {
            print!("{}", cli::summary_text(&outcome));
            println!("\nWhat was found and done:");
            for f in outcome.findings.iter().take(40) {
                println!(
                    "  [{}] {:<22} {:<14} {}{}",
                    f.severity.as_str(),
                    f.check.name(),
                    f.status.as_str(),
                    crate::report::safe::one_line(&f.subject.name, 40),
                    f.room
                        .as_ref()
                        .map(|r| format!(
                            " in room {:?}",
                            crate::report::safe::one_line(&r.title, 40)
                        ))
                        .unwrap_or_default()
                );
            }
            let emails = portal.emails();
            println!(
                "\nChanges made on the portal: {}. Emails DocSpace itself would have sent (re-archive notices): {}.",
                outcome
                    .actions
                    .iter()
                    .filter(|a| a.outcome == crate::finding::ActionOutcome::Done)
                    .count(),
                emails.len()
            );
            println!("Look at:");
            println!(
                "  {}/findings.csv   every finding and its status",
                outcome.report_dir.display()
            );
            println!(
                "  {}/actions.csv    every change, verified by reading back",
                outcome.report_dir.display()
            );
            println!(
                "  {}/               owner digests and the security summary (.eml)",
                outbox.display()
            );
            // A second audit of the same portal shows the fixes held and that
            // nobody is mailed the same findings again.
            let mails_before = count_files(&outbox);
            match auditor.run(RunRequest::default()).await {
                Ok(second) => {
                    let changed = second
                        .actions
                        .iter()
                        .filter(|a| a.outcome == crate::finding::ActionOutcome::Done)
                        .count();
                    println!(
                        "\nSecond audit of the same portal ({}): {} changes made, {} findings still reported (exempt or report-only), {} new emails.",
                        second.run_id,
                        changed,
                        second.findings.len(),
                        count_files(&outbox).saturating_sub(mails_before)
                    );
                }
                Err(e) => eprintln!("error: second audit: {e}"),
            }
            // The demo succeeded whatever it found; `run` would have exited
            // with the code the summary names.
            exit::CLEAN
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_FAILED
        }
    };
    portal.shutdown().await;
    code
}
