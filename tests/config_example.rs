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
