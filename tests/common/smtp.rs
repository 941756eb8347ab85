//! A real SMTP server on loopback for end-to-end tests: `mailin-embedded`
//! in-process, one per test on its own port, that keeps every message it
//! accepts (envelope and raw bytes) so tests can parse them back with
//! `mail-parser`.
//!
//! - [`SmtpServer::start`]: plain SMTP;
//! - [`SmtpServer::start_starttls`]: STARTTLS with a self-signed certificate
//!   made by rcgen for `localhost` and `127.0.0.1`; [`SmtpServer::ca_file`]
//!   is the PEM to trust (`notify.smtp.ca_file`);
//! - [`ServerOptions::auth`]: require AUTH PLAIN/LOGIN (offered only after
//!   STARTTLS, as real relays do);
//! - [`ServerOptions::implicit_tls`]: TLS from the first byte (port 465
//!   style), terminated by a small tokio-rustls front with the same kind of
//!   certificate; [`SmtpServer::tls_sessions`] counts completed handshakes;
//! - [`SmtpServer::stop`] / [`SmtpServer::resume`]: the port really closes
//!   (connections are refused) and later accepts again on the same port;
//! - [`SmtpServer::set_refusing`]: the server stays up but answers
//!   `421 Service not available` to every message.
//!
//! mailin has no way to stop, so the server listens on a second, private
//! port and the public port is a small TCP relay that can be closed and
//! reopened. TLS passes through the relay untouched.
//!
//! Reuse: `#[path = "common/smtp.rs"] mod smtp;` or `pub mod smtp;` in
//! `tests/common/mod.rs`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mail_parser::MimeHeaders;
use mailin_embedded::response::{AUTH_OK, INVALID_CREDENTIALS, NO_SERVICE, OK};
use mailin_embedded::{AuthMechanism, Handler, Response, Server, SslConfig};

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`), as sent.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted (dot-unstuffed), headers and body.
    pub raw: Vec<u8>,
    /// The user name the client authenticated as, if it did.
    pub auth_user: Option<String>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("the received message parses")
    }

    /// The decoded `Subject`.
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }

    /// The addresses in the `To` header.
    pub fn to_header(&self) -> Vec<String> {
        self.header_addresses(|m| {
            m.to().map(|a| {
                a.iter()
                    .filter_map(|x| x.address())
                    .map(str::to_string)
                    .collect()
            })
        })
    }

    /// The addresses in the `Cc` header.
    pub fn cc_header(&self) -> Vec<String> {
        self.header_addresses(|m| {
            m.cc().map(|a| {
                a.iter()
                    .filter_map(|x| x.address())
                    .map(str::to_string)
                    .collect()
            })
        })
    }

    fn header_addresses(
        &self,
        f: impl Fn(&mail_parser::Message<'_>) -> Option<Vec<String>>,
    ) -> Vec<String> {
        f(&self.parsed()).unwrap_or_default()
    }

    /// The first text/plain body, decoded.
    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    /// The first text/html body, decoded.
    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    /// The file names of the attachments.
    pub fn attachment_names(&self) -> Vec<String> {
        self.parsed()
            .attachments()
            .filter_map(|a| a.attachment_name().map(str::to_string))
            .collect()
    }

    /// An attachment's decoded content, by file name.
    pub fn attachment(&self, name: &str) -> Option<Vec<u8>> {
        let m = self.parsed();
        m.attachments()
            .find(|a| a.attachment_name() == Some(name))
            .map(|a| a.contents().to_vec())
    }

    /// The raw header block (everything before the first empty line).
    pub fn header_block(&self) -> String {
        let s = String::from_utf8_lossy(&self.raw);
        s.split("\r\n\r\n").next().unwrap_or("").to_string()
    }

    /// All values of a header, raw (undecoded), by name.
    pub fn raw_headers(&self, name: &str) -> Vec<String> {
        self.parsed()
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Offer STARTTLS with a fresh self-signed certificate.
    pub starttls: bool,
    /// Require AUTH with this user name and password.
    pub auth: Option<(String, String)>,
    /// Speak TLS from the first byte (implicit TLS) instead of plain SMTP.
    pub implicit_tls: bool,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    refusing: AtomicBool,
}

/// The mailin handler: cloned per connection, so per-message state lives
/// in the clone and the received messages in `shared`.
#[derive(Clone)]
struct Recorder {
    shared: Arc<Shared>,
    auth: Option<(String, String)>,
    user: Option<String>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        if self.shared.refusing.load(Ordering::SeqCst) {
            return NO_SERVICE;
        }
        self.from = from.to_string();
        OK
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if self.shared.refusing.load(Ordering::SeqCst) {
            return NO_SERVICE;
        }
        let msg = Received {
            mail_from: self.from.clone(),
            rcpt_to: std::mem::take(&mut self.to),
            raw: std::mem::take(&mut self.data),
            auth_user: self.user.clone(),
        };
        self.shared.messages.lock().unwrap().push(msg);
        OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        self.check(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        self.check(user, password)
    }
}

impl Recorder {
    fn check(&mut self, user: &str, password: &str) -> Response {
        match &self.auth {
            Some((u, p)) if u == user && p == password => {
                self.user = Some(user.to_string());
                AUTH_OK
            }
            _ => INVALID_CREDENTIALS,
        }
    }
}

/// The public port: relays connections to mailin's private port while up.
#[derive(Default)]
struct Gate {
    /// Bumped by `stop`, so the accept loop of the previous listener ends.
    generation: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

/// A running test SMTP server.
pub struct SmtpServer {
    public: SocketAddr,
    private: SocketAddr,
    shared: Arc<Shared>,
    gate: Arc<Gate>,
    cert_dir: Option<tempfile::TempDir>,
    tls_sessions: Arc<AtomicU64>,
}

impl SmtpServer {
    /// Plain SMTP, no AUTH.
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(ServerOptions::default())
    }

    /// STARTTLS with a self-signed certificate (trust [`Self::ca_file`]).
    pub fn start_starttls() -> SmtpServer {
        SmtpServer::start_with(ServerOptions {
            starttls: true,
            auth: None,
            implicit_tls: false,
        })
    }

    pub fn start_with(options: ServerOptions) -> SmtpServer {
        let shared = Arc::new(Shared::default());
        let handler = Recorder {
            shared: shared.clone(),
            auth: options.auth.clone(),
            user: None,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let private_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let private = private_listener.local_addr().unwrap();
        let mut server = Server::new(handler);
        // Pooled client connections each hold a thread while idle.
        server
            .with_name("localhost")
            .with_num_threads(32)
            .with_tcp_listener(private_listener);
        let mut cert_dir = None;
        let tls_sessions = Arc::new(AtomicU64::new(0));
        let mut upstream = private;
        if options.implicit_tls {
            let dir = tempfile::tempdir().unwrap();
            let ck = self_signed(dir.path());
            upstream = start_tls_front(private, &ck, tls_sessions.clone());
            cert_dir = Some(dir);
        }
        if options.starttls {
            let dir = tempfile::tempdir().unwrap();
            self_signed(dir.path());
            let cert_path = dir.path().join("cert.pem");
            let key_path = dir.path().join("key.pem");
            server
                .with_ssl(SslConfig::SelfSigned {
                    cert_path: cert_path.display().to_string(),
                    key_path: key_path.display().to_string(),
                })
                .unwrap();
            cert_dir = Some(dir);
        }
        if options.auth.is_some() {
            server
                .with_auth(AuthMechanism::Plain)
                .with_auth(AuthMechanism::Login);
        }
        // mailin has no stop: the thread ends with the test binary.
        std::thread::spawn(move || {
            let _ = server.serve();
        });

        let public_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let public = public_listener.local_addr().unwrap();
        let s = SmtpServer {
            public,
            private: upstream,
            shared,
            gate: Arc::new(Gate::default()),
            cert_dir,
            tls_sessions,
        };
        s.open_gate(public_listener);
        s
    }

    fn open_gate(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let gate = self.gate.clone();
        let private = self.private;
        let generation = gate.generation.load(Ordering::SeqCst);
        let handle = std::thread::spawn(move || {
            while gate.generation.load(Ordering::SeqCst) == generation {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).ok();
                        let Ok(upstream) = TcpStream::connect(private) else {
                            continue;
                        };
                        relay(&gate, client, upstream);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: the port refuses connections.
        });
        *self.gate.acceptor.lock().unwrap() = Some(handle);
    }

    /// The host to configure (`notify.smtp.host`).
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.public.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.public
    }

    /// The self-signed certificate (PEM) of a STARTTLS server.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.cert_dir.as_ref().map(|d| d.path().join("cert.pem"))
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// The messages whose envelope includes `rcpt` (case-insensitive).
    pub fn messages_to(&self, rcpt: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(rcpt)))
            .collect()
    }

    /// Waits until at least `n` messages arrived (or the timeout passed).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() >= end {
                return m;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// While set, the server answers 421 to every message (up, but refusing).
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Closes the port: new connections are refused and open ones are cut.
    pub fn stop(&self) {
        self.gate.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(h) = self.gate.acceptor.lock().unwrap().take() {
            let _ = h.join();
        }
        for c in self.gate.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Opens the same port again after [`Self::stop`].
    pub fn resume(&self) {
        let end = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.public) {
                Ok(l) => break l,
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("cannot reopen {}: {e}", self.public),
            }
        };
        self.open_gate(listener);
    }

    /// TLS handshakes the implicit-TLS front completed.
    pub fn tls_sessions(&self) -> u64 {
        self.tls_sessions.load(Ordering::SeqCst)
    }

    /// Whether the public port accepts connections now.
    pub fn is_up(&self) -> bool {
        TcpStream::connect_timeout(&self.public, Duration::from_millis(200)).is_ok()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies bytes both ways between a client and mailin until either closes.
fn relay(gate: &Arc<Gate>, client: TcpStream, upstream: TcpStream) {
    {
        let mut conns = gate.conns.lock().unwrap();
        conns.retain(|c| c.peer_addr().is_ok());
        conns.push(client.try_clone().unwrap());
        conns.push(upstream.try_clone().unwrap());
    }
    let pairs = [
        (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
        (upstream, client),
    ];
    for (mut from, mut to) in pairs {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, written to
/// `dir` as `cert.pem` and `key.pem`.
fn self_signed(dir: &std::path::Path) -> rcgen::CertifiedKey<rcgen::KeyPair> {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    ck
}

/// Terminates TLS on a port of its own and passes the plain SMTP session to
/// mailin at `upstream`. Returns the TLS port.
fn start_tls_front(
    upstream: SocketAddr,
    ck: &rcgen::CertifiedKey<rcgen::KeyPair>,
    sessions: Arc<AtomicU64>,
) -> SocketAddr {
    use tokio_rustls::rustls;
    let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        ck.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, sessions) = (acceptor.clone(), sessions.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    sessions.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    addr
}
