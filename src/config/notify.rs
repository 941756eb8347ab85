//! The `[notify]` section: email transport, recipients, reminders.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Problems, SecretSource, load_secret, resolve};
use crate::address::is_valid_email;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    enabled: Option<bool>,
    from: Option<String>,
    #[serde(default)]
    security_team: Vec<String>,
    fallback_address: Option<String>,
    escalation_address: Option<String>,
    escalate_after_reminders: Option<u32>,
    renotify_after_days: Option<u32>,
    outbox_dir: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    attachment_max_bytes: Option<u64>,
    /// `every_run` (default) or `scheduled`.
    security_summary: Option<String>,
    smtp: Option<RawSmtp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    /// `starttls` (default), `tls` (implicit), or `none` (loopback relays only).
    tls: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    password_credential: Option<String>,
    ca_file: Option<PathBuf>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<secrecy::SecretString>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// When the security team gets its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryCadence {
    /// One summary after every audit run.
    EveryRun,
    /// Runs are held and summarised together by the daemon's `summary`
    /// schedule (for example once a day), so an hourly audit does not mail
    /// the team 24 times a day.
    Scheduled,
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(SmtpConfig),
    /// `.eml` files in a folder: the default, so a first run needs no server.
    Outbox(PathBuf),
}

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub enabled: bool,
    /// The sender of every message.
    pub from: String,
    /// Recipients of the per-run summary (empty: no summary).
    pub security_team: Vec<String>,
    /// Gets the digest of rooms whose owner is disabled, unknown, or has no
    /// or an invalid email address (unset: those rooms are only listed in
    /// the summary).
    pub fallback_address: Option<String>,
    /// Also receives a message listing each run's escalated findings.
    pub escalation_address: Option<String>,
    /// Reminders sent before an unresolved finding is escalated (default 3).
    pub escalate_after_reminders: u32,
    /// Days before an unchanged, unresolved finding is mailed again as a
    /// reminder (default 7; 0 turns reminders and escalation off).
    pub renotify_after_days: u32,
    pub transport: Transport,
    pub outbox_dir: PathBuf,
    /// Template overrides (same file names as `templates/`).
    pub templates_dir: Option<PathBuf>,
    /// The largest report file attached to the summary; a larger one is
    /// named by its path instead (default 5 MiB).
    pub attachment_max_bytes: u64,
    pub security_summary: SummaryCadence,
}

pub(super) fn validate(
    raw: RawNotify,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<NotifyConfig> {
    let mut email = |key: &str, v: &str| -> String {
        if !is_valid_email(v) {
            p.push(key, format!("{v:?} is not a valid email address"));
        }
        v.trim().to_string()
    };
    let from = email(
        "notify.from",
        raw.from
            .as_deref()
            .unwrap_or("docspace-auditor@localhost.localdomain"),
    );
    let security_team: Vec<String> = raw
        .security_team
        .iter()
        .enumerate()
        .map(|(i, a)| email(&format!("notify.security_team[{i}]"), a))
        .collect();
    let fallback_address = raw
        .fallback_address
        .as_deref()
        .map(|a| email("notify.fallback_address", a));
    let escalation_address = raw
        .escalation_address
        .as_deref()
        .map(|a| email("notify.escalation_address", a));
    let outbox_dir = resolve(
        base,
        &raw.outbox_dir.unwrap_or_else(|| PathBuf::from("outbox")),
    );
    let transport = match raw.smtp {
        None => Transport::Outbox(outbox_dir.clone()),
        Some(s) => {
            let tls = match s.tls.as_deref().unwrap_or("starttls") {
                "starttls" => SmtpTls::StartTls,
                "tls" => SmtpTls::Implicit,
                "none" => SmtpTls::None,
                other => {
                    p.push(
                        "notify.smtp.tls",
                        format!("{other:?} is not one of starttls, tls, none"),
                    );
                    SmtpTls::StartTls
                }
            };
            let source = match (&s.password_env, &s.password_file, &s.password_credential) {
                (None, None, None) => None,
                (Some(v), None, None) => Some(SecretSource::Env(v.clone())),
                (None, Some(f), None) => Some(SecretSource::File(resolve(base, f))),
                (None, None, Some(c)) => Some(SecretSource::Credential(c.clone())),
                _ => {
                    p.push(
                        "notify.smtp.password_env",
                        "set only one of password_env, password_file, password_credential",
                    );
                    None
                }
            };
            let password = source.and_then(|src| match load_secret(&src, env) {
                Ok(s) => Some(s),
                Err(m) => {
                    p.push("notify.smtp.password_env", m);
                    None
                }
            });
            if password.is_some() && s.username.is_none() {
                p.push("notify.smtp.username", "a password is set but no username");
            }
            if tls == SmtpTls::None && !is_loopback(&s.host) {
                p.push(
                    "notify.smtp.tls",
                    format!("\"none\" is allowed only for a relay on this machine (localhost, 127.0.0.1, ::1), not {:?}", s.host),
                );
            }
            if tls == SmtpTls::None && password.is_some() {
                p.push(
                    "notify.smtp.tls",
                    "refusing to send a password over an unencrypted connection",
                );
            }
            Transport::Smtp(SmtpConfig {
                port: s.port.unwrap_or(match tls {
                    SmtpTls::Implicit => 465,
                    SmtpTls::StartTls => 587,
                    SmtpTls::None => 25,
                }),
                host: s.host,
                tls,
                username: s.username,
                password,
                ca_file: s.ca_file.map(|f| resolve(base, &f)),
                timeout: Duration::from_secs(s.timeout_secs.unwrap_or(30).max(1)),
            })
        }
    };
    let security_summary = match raw.security_summary.as_deref().unwrap_or("every_run") {
        "every_run" => SummaryCadence::EveryRun,
        "scheduled" => SummaryCadence::Scheduled,
        other => {
            p.push(
                "notify.security_summary",
                format!("{other:?} is not one of every_run, scheduled"),
            );
            SummaryCadence::EveryRun
        }
    };
    let templates_dir = raw.templates_dir.map(|d| resolve(base, &d));
    if let Some(d) = templates_dir.as_ref().filter(|d| !d.is_dir()) {
        p.push(
            "notify.templates_dir",
            format!("{} is not a folder", d.display()),
        );
    }
    Some(NotifyConfig {
        enabled: raw.enabled.unwrap_or(true),
        from,
        security_team,
        fallback_address,
        escalation_address,
        escalate_after_reminders: raw.escalate_after_reminders.unwrap_or(3),
        renotify_after_days: raw.renotify_after_days.unwrap_or(7),
        transport,
        outbox_dir,
        templates_dir,
        attachment_max_bytes: raw.attachment_max_bytes.unwrap_or(5 * 1024 * 1024),
        security_summary,
    })
}

/// A host that is this machine, where an unencrypted relay is acceptable.
fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml_text: &str) -> Vec<String> {
        let raw: RawNotify = toml::from_str(toml_text).unwrap();
        let mut p = Problems::default();
        validate(raw, Path::new("/nonexistent-base"), &|_| None, &mut p);
        p.0.into_iter()
            .map(|x| format!("{}: {}", x.key, x.message))
            .collect()
    }

    #[test]
    fn unencrypted_smtp_only_on_loopback() {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let t = format!("[smtp]\nhost = \"{host}\"\ntls = \"none\"\n");
            assert!(problems(&t).is_empty(), "{host}");
        }
        let p = problems("[smtp]\nhost = \"mail.example.com\"\ntls = \"none\"\n");
        assert!(p.iter().any(|m| m.starts_with("notify.smtp.tls:")), "{p:?}");
    }

    #[test]
    fn templates_dir_must_exist() {
        let p = problems("templates_dir = \"no-such-folder\"\n");
        assert!(
            p.iter().any(|m| m.starts_with("notify.templates_dir:")),
            "{p:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let t = format!("templates_dir = {:?}\n", dir.path().display().to_string());
        assert!(problems(&t).is_empty());
    }

    #[test]
    fn defaults_use_the_outbox() {
        let raw: RawNotify = toml::from_str("").unwrap();
        let mut p = Problems::default();
        let c = validate(raw, Path::new("/base"), &|_| None, &mut p).unwrap();
        assert!(p.is_empty());
        assert!(matches!(c.transport, Transport::Outbox(ref d) if d == Path::new("/base/outbox")));
        assert_eq!((c.renotify_after_days, c.escalate_after_reminders), (7, 3));
    }
}
