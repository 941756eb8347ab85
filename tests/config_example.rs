//! The shipped `config.toml` is parsed by this test, so the example can
//! never rot.

use std::path::Path;

use docspace_auditor::check::CheckId;
use docspace_auditor::config::{Config, Mode};

#[test]
fn shipped_config_is_valid_and_safe() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::from_toml(&text, &path, &|name| {
        (name == "DOCSPACE_API_KEY").then(|| format!("sk-{}", "0".repeat(64)))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        config.policy.dry_run,
        "the shipped config must be a dry-run"
    );
    assert_eq!(
        config.policy.check(CheckId::ArchivedRoomGuests).mode,
        Mode::Report
    );
    assert!(!text.contains("sk-"), "no token in the shipped config");
}

#[test]
fn a_scheduled_summary_without_a_summary_schedule_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| (name == "DOCSPACE_API_KEY").then(|| format!("sk-{}", "0".repeat(64)));
    // The shipped config holds summaries for its daily summary schedule.
    let config = Config::from_toml(&text, &path, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.notify.security_summary,
        docspace_auditor::config::notify::SummaryCadence::Scheduled
    );
    let without = text.replace("job = \"summary\"", "job = \"audit\"");
    let err = Config::from_toml(&without, &path, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("notify.security_summary"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
}
