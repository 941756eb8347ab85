//! SIGHUP: re-read the config file. A new config that does not load, whose
//! schedules do not compile, or whose auditor cannot be built is rejected
//! with one clear log line, and the old one stays in effect. Accepted, it
//! replaces the auditor (portal settings, token, policy, reports, mail)
//! for the next run, the webhook secret and size limit for the next
//! delivery, and the schedules at once. A run in progress finishes under
//! the config it started with.
//!
//! Some settings are bound at start and need a restart: the state store
//! path (the instance lock guards it; a reload that changes it is
//! rejected), the listeners' addresses and the webhook path, and the log
//! format (a warning says so and the old value stays).

use std::sync::Arc;

use super::{Shared, schedule, start_schedules};
use crate::audit::Auditor;
use crate::config::Config;

pub(super) async fn reload(shared: &Arc<Shared>) {
    let path = &shared.config_path;
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                config = %path.display(),
                error = %e,
                "config reload rejected; the previous config stays in effect"
            );
            return;
        }
    };
    let old = shared.config();
    if new.state_path != old.state_path {
        tracing::error!(
            config = %path.display(),
            old = %old.state_path.display(),
            new = %new.state_path.display(),
            "config reload rejected: state.path cannot change while running (the instance lock guards the old one); restart the daemon; the previous config stays in effect"
        );
        return;
    }
    let schedules = match schedule::compile_all(&new.daemon.schedules) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "config reload rejected; the previous config stays in effect");
            return;
        }
    };
    for (key, changed) in restart_only_changes(&old, &new) {
        if changed {
            tracing::warn!(
                key,
                "changed in the config, but takes effect only after a restart; the old value stays"
            );
        }
    }
    let new = Arc::new(new);
    let auditor = match Auditor::new(new.clone(), shared.clock.clone(), shared.run_cancel.clone()) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "config reload rejected: the auditor could not be set up; the previous config stays in effect");
            return;
        }
    };
    shared.auditor.send_replace(auditor);
    let count = schedules.len();
    start_schedules(shared, schedules);
    tracing::info!(config = %path.display(), schedules = count, "config reloaded");
}

/// Settings bound at start, and whether each changed.
fn restart_only_changes(old: &Config, new: &Config) -> [(&'static str, bool); 3] {
    let webhook = |c: &Config| c.webhook.as_ref().map(|w| (w.listen, w.path.clone()));
    [
        (
            "webhook.listen / webhook.path",
            webhook(old) != webhook(new),
        ),
        (
            "metrics.listen",
            old.metrics.as_ref().map(|m| m.listen) != new.metrics.as_ref().map(|m| m.listen),
        ),
        (
            "daemon.log_format",
            old.daemon.log_format != new.daemon.log_format,
        ),
    ]
}
