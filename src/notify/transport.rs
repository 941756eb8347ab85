//! Mail transports: the only code here that talks SMTP or writes `.eml`
//! files. A transport takes an envelope and the finished RFC 5322 bytes
//! (as stored in the queue) and says whether the server took them. It does
//! not compose, queue or retry; the notifier does that.
//!
//! [`MailTransport`] is a trait so the notifier's unit tests (and other
//! modules' tests) can use [`RecordingTransport`] instead of a server.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::NotifyError;
use crate::config::notify::{SmtpConfig, SmtpTls, Transport};

/// A message that was not delivered. Messages name the server or folder
/// and what went wrong; they never contain the SMTP password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server could not be used at all (connection refused, TLS,
    /// timeout, authentication, "service not available"): the other queued
    /// messages would fail the same way, so delivery stops for this round.
    #[error("mail server {server}: {message}")]
    Unavailable { server: String, message: String },
    /// The server answered and refused this message.
    #[error("mail server {server} refused the message with {code}: {message}")]
    Rejected {
        server: String,
        code: u16,
        permanent: bool,
        message: String,
    },
    #[error("outbox {}: cannot write the message: {message}", dir.display())]
    Outbox { dir: PathBuf, message: String },
    /// A queued message whose stored envelope is unusable.
    #[error("queued message {message_id}: {message}")]
    Invalid { message_id: String, message: String },
}

impl MailError {
    /// True when trying the next queued message now is pointless.
    pub fn stops_delivery(&self) -> bool {
        matches!(
            self,
            MailError::Unavailable { .. } | MailError::Outbox { .. }
        )
    }
}

/// The future a transport returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Hands one finished message to a server or folder.
pub trait MailTransport: Send + Sync {
    /// Resolves to `Ok` only once the server accepted the message (or the
    /// file is written).
    fn send_raw<'a>(&'a self, envelope: &'a Envelope, raw: &'a [u8]) -> SendFuture<'a>;
    /// For logs and warnings: `smtp mail.example.com:587 (starttls)`.
    fn describe(&self) -> String;
    /// Proves the transport could deliver, without sending anything (for
    /// `check-config`).
    fn check(&self) -> SendFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// Builds the configured transport. Reads `ca_file` and prepares TLS now, so
/// a bad certificate path fails at start rather than at the first message.
pub fn from_config(
    transport: &Transport,
    create_outbox: bool,
) -> Result<Box<dyn MailTransport>, NotifyError> {
    match transport {
        Transport::Smtp(smtp) => Ok(Box::new(SmtpTransport::new(smtp)?)),
        Transport::Outbox(dir) => Ok(Box::new(OutboxTransport::new(dir, create_outbox)?)),
    }
}

// ---- SMTP ---------------------------------------------------------------------

/// SMTP through lettre: STARTTLS, implicit TLS or plain (loopback relays),
/// optional AUTH, the configured timeout on every network step.
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
    tls: SmtpTls,
    /// The longest one message (or a `check`) may take. lettre's own
    /// timeout covers only the TCP connect: a server that accepts and then
    /// says nothing (or a TLS port spoken to in plain SMTP) would otherwise
    /// hold the run forever.
    deadline: std::time::Duration,
}

/// A whole SMTP exchange (connect, greeting, TLS, AUTH, envelope, data) may
/// take this many times the configured step timeout.
const SMTP_STEPS: u32 = 4;

impl SmtpTransport {
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpTransport, NotifyError> {
        let server = format!("{}:{}", cfg.host, cfg.port);
        let tls_error = |message: String| NotifyError::Tls {
            server: server.clone(),
            message,
        };
        let tls = match cfg.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let mut params = TlsParameters::builder(cfg.host.clone());
                if let Some(ca) = &cfg.ca_file {
                    let pem = std::fs::read(ca).map_err(|e| NotifyError::CaFile {
                        path: ca.clone(),
                        message: e.to_string(),
                    })?;
                    // Added to the platform's roots, not instead of them: a
                    // private relay's CA is trusted on top of the system's.
                    let cert = Certificate::from_pem(&pem).map_err(|e| NotifyError::CaFile {
                        path: ca.clone(),
                        message: format!("not a PEM certificate: {e}"),
                    })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| tls_error(e.to_string()))?;
                if cfg.tls == SmtpTls::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
            server,
            tls: cfg.tls,
            deadline: cfg.timeout * SMTP_STEPS,
        })
    }
}

impl SmtpTransport {
    fn no_answer(&self) -> MailError {
        MailError::Unavailable {
            server: self.server.clone(),
            message: format!(
                "no complete answer within {} s (is `tls` right for this port?)",
                self.deadline.as_secs()
            ),
        }
    }
}

/// Reply codes that mean the server, not the message, is the problem.
fn server_level(code: u16) -> bool {
    matches!(code, 421 | 454 | 530 | 534 | 535 | 538)
}

fn classify(server: &str, e: &lettre::transport::smtp::Error) -> MailError {
    let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    match code {
        Some(code) if !server_level(code) => MailError::Rejected {
            server: server.to_string(),
            code,
            permanent: e.is_permanent(),
            message: crate::report::safe::one_line(&e.to_string(), 300),
        },
        _ => MailError::Unavailable {
            server: server.to_string(),
            message: crate::report::safe::one_line(&e.to_string(), 300),
        },
    }
}

impl MailTransport for SmtpTransport {
    fn send_raw<'a>(&'a self, envelope: &'a Envelope, raw: &'a [u8]) -> SendFuture<'a> {
        Box::pin(async move {
            match tokio::time::timeout(self.deadline, self.inner.send_raw(envelope, raw)).await {
                Ok(sent) => sent.map(|_| ()).map_err(|e| classify(&self.server, &e)),
                Err(_) => Err(self.no_answer()),
            }
        })
    }

    /// Connects, upgrades to TLS, authenticates, and says QUIT.
    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            match tokio::time::timeout(self.deadline, self.inner.test_connection()).await {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(MailError::Unavailable {
                    server: self.server.clone(),
                    message: "connected, but the server did not answer NOOP".into(),
                }),
                Ok(Err(e)) => Err(classify(&self.server, &e)),
                Err(_) => Err(self.no_answer()),
            }
        })
    }

    fn describe(&self) -> String {
        let tls = match self.tls {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Implicit => "tls",
            SmtpTls::None => "no tls",
        };
        format!("smtp {} ({tls})", self.server)
    }
}

// ---- outbox -------------------------------------------------------------------

/// Writes each message as `<dir>/<uuid>.eml`: the default when no SMTP
/// server is configured, so a first run works without one.
pub struct OutboxTransport {
    inner: AsyncFileTransport<Tokio1Executor>,
    dir: PathBuf,
}

impl OutboxTransport {
    pub fn new(dir: &Path, create: bool) -> Result<OutboxTransport, NotifyError> {
        if create && !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| NotifyError::Outbox {
                path: dir.to_path_buf(),
                message: format!("cannot create the folder: {e}"),
            })?;
            // The messages repeat report content: owner and group only.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750));
            }
        }
        Ok(OutboxTransport {
            inner: AsyncFileTransport::<Tokio1Executor>::new(dir),
            dir: dir.to_path_buf(),
        })
    }
}

impl MailTransport for OutboxTransport {
    fn send_raw<'a>(&'a self, envelope: &'a Envelope, raw: &'a [u8]) -> SendFuture<'a> {
        Box::pin(async move {
            self.inner
                .send_raw(envelope, raw)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Outbox {
                    dir: self.dir.clone(),
                    message: e.to_string(),
                })
        })
    }

    fn describe(&self) -> String {
        format!("outbox {}", self.dir.display())
    }

    /// Writes and removes a probe file in the folder.
    fn check(&self) -> SendFuture<'_> {
        Box::pin(async move {
            let err = |message: String| MailError::Outbox {
                dir: self.dir.clone(),
                message,
            };
            if !self.dir.is_dir() {
                return Err(err(
                    "the folder does not exist (a run creates it; check that its parent is writable)"
                        .into(),
                ));
            }
            let probe = self
                .dir
                .join(format!(".docspace-auditor-probe-{}", std::process::id()));
            std::fs::write(&probe, b"")
                .and_then(|()| std::fs::remove_file(&probe))
                .map_err(|e| err(format!("cannot write there: {e}")))
        })
    }
}

// ---- recording stub -------------------------------------------------------------

/// One message handed to a [`RecordingTransport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub from: Option<String>,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

/// A transport that keeps messages in memory, for tests. While `down` is
/// set it fails every message as an unreachable server would.
#[derive(Debug, Default)]
pub struct RecordingTransport {
    sent: Mutex<Vec<Recorded>>,
    down: AtomicBool,
}

impl RecordingTransport {
    pub fn new() -> RecordingTransport {
        RecordingTransport::default()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<Recorded> {
        match self.sent.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl MailTransport for RecordingTransport {
    fn send_raw<'a>(&'a self, envelope: &'a Envelope, raw: &'a [u8]) -> SendFuture<'a> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(MailError::Unavailable {
                    server: "recording".into(),
                    message: "connection refused".into(),
                });
            }
            let rec = Recorded {
                from: envelope.from().map(|a| a.to_string()),
                to: envelope.to().iter().map(|a| a.to_string()).collect(),
                raw: raw.to_vec(),
            };
            match self.sent.lock() {
                Ok(mut g) => g.push(rec),
                Err(p) => p.into_inner().push(rec),
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        "recording transport".into()
    }
}

/// Lets a shared `Arc<RecordingTransport>` be handed to the notifier while
/// the test keeps its own handle to read what was sent.
impl<T: MailTransport + ?Sized> MailTransport for std::sync::Arc<T> {
    fn send_raw<'a>(&'a self, envelope: &'a Envelope, raw: &'a [u8]) -> SendFuture<'a> {
        (**self).send_raw(envelope, raw)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}
