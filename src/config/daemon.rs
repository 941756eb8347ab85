//! The `[daemon]`, `[webhook]` and `[metrics]` sections.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{Problems, SecretSource, load_secret, resolve};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    #[serde(default)]
    schedules: Vec<RawSchedule>,
    shutdown_timeout_secs: Option<u64>,
    /// `text` (default) or `json`.
    log_format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: String,
    /// Six fields, seconds first (`0 0 * * * *` = hourly).
    cron: String,
    /// `audit` or `summary`.
    job: String,
    /// An IANA zone; default UTC.
    timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    listen: String,
    #[serde(default = "default_webhook_path")]
    path: String,
    secret_env: Option<String>,
    secret_file: Option<std::path::PathBuf>,
    secret_credential: Option<String>,
    max_body_bytes: Option<usize>,
}

fn default_webhook_path() -> String {
    "/hooks/docspace".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Audit,
    Summary,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub cron: String,
    pub job: Job,
    pub timezone: chrono_tz::Tz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub schedules: Vec<Schedule>,
    pub shutdown_timeout: Duration,
    pub log_format: LogFormat,
}

#[derive(Clone)]
pub struct WebhookConfig {
    pub listen: SocketAddr,
    pub path: String,
    pub secret: secrecy::SecretString,
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("listen", &self.listen)
            .field("path", &self.path)
            .field("secret", &"[redacted]")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}

pub(super) fn validate_daemon(raw: RawDaemon, p: &mut Problems) -> Option<DaemonConfig> {
    let mut schedules = Vec::new();
    for (i, s) in raw.schedules.into_iter().enumerate() {
        let key = format!("daemon.schedules[{i}]");
        let job = match s.job.as_str() {
            "audit" => Job::Audit,
            "summary" => Job::Summary,
            other => {
                p.push(
                    format!("{key}.job"),
                    format!("{other:?} is not one of audit, summary"),
                );
                continue;
            }
        };
        let timezone = match s
            .timezone
            .as_deref()
            .unwrap_or("UTC")
            .parse::<chrono_tz::Tz>()
        {
            Ok(tz) => tz,
            Err(_) => {
                p.push(
                    format!("{key}.timezone"),
                    format!(
                        "{:?} is not an IANA time zone",
                        s.timezone.unwrap_or_default()
                    ),
                );
                continue;
            }
        };
        if let Err(m) = check_cron(&s.cron) {
            p.push(format!("{key}.cron"), m);
            continue;
        }
        schedules.push(Schedule {
            name: s.name,
            cron: s.cron,
            job,
            timezone,
        });
    }
    let log_format = match raw.log_format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            p.push(
                "daemon.log_format",
                format!("{other:?} is not one of text, json"),
            );
            LogFormat::Text
        }
    };
    if raw.shutdown_timeout_secs == Some(0) {
        p.push("daemon.shutdown_timeout_secs", "must be greater than 0");
    }
    let mut names = std::collections::HashSet::new();
    for s in &schedules {
        if !names.insert(s.name.as_str()) {
            p.push(
                "daemon.schedules",
                format!("two schedules are named {:?}", s.name),
            );
        }
    }
    Some(DaemonConfig {
        schedules,
        shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs.unwrap_or(60)),
        log_format,
    })
}

/// Validates a six-field cron expression (seconds first) now, so a bad
/// schedule fails at start instead of inside a task later.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "{expr:?} has {fields} fields; use six, seconds first (\"0 0 * * * *\" = hourly)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| format!("{expr:?} is not a valid cron expression: {e}"))
}

pub(super) fn validate_webhook(
    raw: RawWebhook,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<WebhookConfig> {
    let listen = match raw.listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            p.push(
                "webhook.listen",
                format!("{:?} is not an address like 127.0.0.1:8787", raw.listen),
            );
            None
        }
    };
    if let Err(m) = check_webhook_path(&raw.path) {
        p.push("webhook.path", m);
    }
    if let Some(n) = raw.max_body_bytes
        && !(1024..=MAX_WEBHOOK_BODY).contains(&n)
    {
        p.push(
            "webhook.max_body_bytes",
            format!("{n} is not between 1024 and {MAX_WEBHOOK_BODY}"),
        );
    }
    let source = match (&raw.secret_env, &raw.secret_file, &raw.secret_credential) {
        (Some(v), None, None) => SecretSource::Env(v.clone()),
        (None, Some(f), None) => SecretSource::File(resolve(base, f)),
        (None, None, Some(c)) => SecretSource::Credential(c.clone()),
        (None, None, None) => SecretSource::Env("DOCSPACE_WEBHOOK_SECRET".into()),
        _ => {
            p.push(
                "webhook.secret_env",
                "set only one of secret_env, secret_file, secret_credential",
            );
            return None;
        }
    };
    let secret = match load_secret(&source, env) {
        Ok(s) if secrecy::ExposeSecret::expose_secret(&s).chars().count() > 50 => {
            p.push(
                "webhook.secret_env",
                "the secret is longer than 50 characters, which DocSpace refuses as a webhook secretKey",
            );
            None
        }
        Ok(s) => Some(s),
        Err(m) => {
            p.push("webhook.secret_env", m);
            None
        }
    };
    Some(WebhookConfig {
        listen: listen?,
        path: raw.path,
        secret: secret?,
        max_body_bytes: raw.max_body_bytes.unwrap_or(1024 * 1024),
    })
}

/// The largest `webhook.max_body_bytes` accepted (DocSpace deliveries are
/// a few kilobytes).
pub const MAX_WEBHOOK_BODY: usize = 16 * 1024 * 1024;

/// A webhook path: absolute, plain segments only (no route captures or
/// wildcards), and not one of the metrics routes it may share a listener
/// with.
fn check_webhook_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err(format!(
            "{path:?} must start with / and name a path, like /hooks/docspace"
        ));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~');
    if !path.chars().all(plain) || path.contains("//") || path.ends_with('/') {
        return Err(format!(
            "{path:?} may hold only letters, digits, - _ . ~ and single / between segments"
        ));
    }
    if path == "/metrics" || path == "/healthz" {
        return Err(format!("{path:?} is taken by the metrics endpoints"));
    }
    Ok(())
}

pub(super) fn validate_metrics(raw: RawMetrics, p: &mut Problems) -> Option<MetricsConfig> {
    match raw.listen.parse::<SocketAddr>() {
        Ok(listen) => Some(MetricsConfig { listen }),
        Err(_) => {
            p.push(
                "metrics.listen",
                format!("{:?} is not an address like 127.0.0.1:9187", raw.listen),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(extra: &str, secret: &str) -> Vec<String> {
        let raw: RawWebhook = toml::from_str(&format!(
            "listen = \"127.0.0.1:8787\"\nsecret_env = \"S\"\n{extra}"
        ))
        .unwrap();
        let secret = secret.to_string();
        let mut p = Problems::default();
        validate_webhook(raw, Path::new("."), &move |_| Some(secret.clone()), &mut p);
        p.0.into_iter()
            .map(|x| format!("{}: {}", x.key, x.message))
            .collect()
    }

    #[test]
    fn webhook_settings_are_checked() {
        assert!(webhook("", "s3cret-Value!").is_empty());
        assert!(webhook("path = \"/hooks/docspace-2.v1\"", "s").is_empty());
        for bad in [
            "hooks",
            "/",
            "/hooks/{id}",
            "/hooks/*rest",
            "/a//b",
            "/a/",
            "/metrics",
            "/healthz",
            "/a b",
        ] {
            let problems = webhook(&format!("path = \"{bad}\""), "s");
            assert!(
                problems.iter().any(|m| m.starts_with("webhook.path")),
                "{bad}: {problems:?}"
            );
        }
        assert!(webhook("max_body_bytes = 10", "s")[0].starts_with("webhook.max_body_bytes"));
        assert!(webhook("", &"x".repeat(51))[0].contains("50 characters"));
    }

    #[test]
    fn daemon_settings_are_checked() {
        let raw: RawDaemon = toml::from_str(
            "shutdown_timeout_secs = 0\n[[schedules]]\nname = \"a\"\ncron = \"0 * * * * *\"\njob = \"audit\"\n[[schedules]]\nname = \"a\"\ncron = \"0 0 * * *\"\njob = \"audit\"\n[[schedules]]\nname = \"a\"\ncron = \"0 0 9 * * *\"\njob = \"audit\"\ntimezone = \"Europe/Berlin\"",
        )
        .unwrap();
        let mut p = Problems::default();
        validate_daemon(raw, &mut p);
        let keys: Vec<&str> = p.0.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "daemon.schedules[1].cron",
                "daemon.shutdown_timeout_secs",
                "daemon.schedules"
            ]
        );
    }
}
