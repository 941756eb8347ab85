//! How requests reach the portal: pooled HTTP/1.1 connections, TLS checked
//! by the platform's verifier (plus an optional private CA), and an optional
//! HTTP proxy reached with `CONNECT`, so the proxy never sees the token.
//!
//! Built on hyper's client directly rather than reqwest: reqwest re-parses
//! every URL in its redirect layer and again for the response, and copies
//! header maps per request. At tens of thousands of requests per audit that
//! was about a sixth of the auditor's CPU (README "Benchmark"). The parts of
//! reqwest the auditor relied on are here: connect and total timeouts, no
//! redirects, the proxy environment variables, the platform verifier.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tower_service::Service;

use super::TransportKind;

/// The largest answer read; a bigger one fails that call, not the process.
/// The largest legitimate answer (a page of 100 rooms) is well under 1 MiB.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// An HTTP proxy between the auditor and an `https` portal.
#[derive(Clone)]
pub struct PortalProxy {
    /// `http://host:port`, without credentials.
    pub uri: Uri,
    /// `Basic …` for `Proxy-Authorization`, from credentials in the proxy
    /// URL (environment only: config.toml holds no secrets).
    pub authorization: Option<HeaderValue>,
    /// Where it was configured: `portal.proxy` or an environment variable.
    pub source: &'static str,
}

impl std::fmt::Debug for PortalProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalProxy")
            .field("uri", &self.uri.to_string())
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .field("source", &self.source)
            .finish()
    }
}

impl std::fmt::Display for PortalProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (from {})", self.uri, self.source)
    }
}

/// Reads a PEM file of one or more CA certificates (`portal.ca_file`).
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no `BEGIN CERTIFICATE` block",
            path.display()
        ));
    }
    Ok(certs)
}

/// What the transport needs from the client settings.
pub struct TransportSettings<'a> {
    /// Whether the portal is `https`; only then is TLS set up.
    pub https: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub proxy: Option<&'a PortalProxy>,
    pub ca_file: Option<&'a Path>,
}

/// An answer read whole.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<HeaderValue>,
    pub body: Bytes,
}

/// Why a request got no usable answer.
pub enum Failure {
    /// No answer (or not all of it): the message names the cause, never the
    /// URL.
    Transport { kind: TransportKind, detail: String },
    /// The answer was larger than [`MAX_ANSWER_BYTES`].
    TooLarge,
}

/// Sends requests to one portal over a shared connection pool.
pub struct Transport {
    client: Client<HttpsConnector<Route>, Full<Bytes>>,
    request_timeout: Duration,
}

impl Transport {
    pub fn new(settings: &TransportSettings<'_>) -> Result<Transport, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let tls = if settings.https {
            let extra_roots = match settings.ca_file {
                Some(path) => read_ca_file(path).map_err(|m| format!("portal.ca_file: {m}"))?,
                None => Vec::new(),
            };
            // Added to the platform's roots, not instead of them.
            let verifier =
                rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider)
                    .map_err(|e| {
                        format!(
                            "cannot set up certificate verification: {e} (install the system's CA certificates, or name the portal's CA in portal.ca_file)"
                        )
                    })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        } else {
            // A plain-http (loopback) portal never shakes hands: it must not
            // depend on the machine having a CA store.
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };

        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        let route = match settings.proxy {
            None => Route::Direct(tcp),
            Some(proxy) => {
                let tunnel = Tunnel::new(proxy.uri.clone(), tcp);
                Route::Tunnel(match &proxy.authorization {
                    Some(auth) => tunnel.with_auth(auth.clone()),
                    None => tunnel,
                })
            }
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(route);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // The caller sets a Host header built once per client.
            .set_host(false)
            .build(connector);
        Ok(Transport {
            client,
            request_timeout: settings.request_timeout,
        })
    }

    /// Sends one request and reads its answer, all within the request
    /// timeout. Never follows redirects: the bearer token must not go to
    /// another host.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let kind = if e.is_connect() {
                    TransportKind::Connect
                } else {
                    TransportKind::Other
                };
                Failure::Transport {
                    kind,
                    detail: error_chain(&e),
                }
            })?;
            let status = response.status().as_u16();
            let retry_after = response.headers().get(RETRY_AFTER).cloned();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        Failure::TooLarge
                    } else {
                        Failure::Transport {
                            kind: TransportKind::Other,
                            detail: error_chain(e.as_ref()),
                        }
                    }
                })?
                .to_bytes();
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        };
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Transport {
                kind: TransportKind::Timeout,
                detail: format!(
                    "no complete answer within {} s",
                    self.request_timeout.as_secs_f64()
                ),
            }),
        }
    }
}

/// The error and its causes on one line, each said once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&text);
        }
        source = s.source();
    }
    detail
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TCP leg under TLS: straight to the portal, or a tunnel through the
/// proxy. TLS runs inside the tunnel, end to end with the portal.
#[derive(Clone)]
enum Route {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
}

impl Service<Uri> for Route {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Route::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            Route::Tunnel(t) => t.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Route::Direct(c) => {
                let connecting = c.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Route::Tunnel(t) => {
                let connecting = t.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}
