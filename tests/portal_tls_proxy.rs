//! The portal over HTTPS with a private CA (`portal.ca_file`) and through an
//! HTTP proxy (`portal.proxy`, `HTTPS_PROXY`), as a company network has it:
//! the stateful fake portal behind a real TLS front (tokio-rustls, an rcgen
//! CA and a server certificate it signed for `localhost`), and a small
//! CONNECT proxy on loopback that records what it was asked and every byte
//! the auditor sent through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use docspace_auditor::audit::RunRequest;
use docspace_fake_portal::FakePortal;
use e2e_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A CA and a server certificate it signed for `localhost`; the CA's PEM is
/// written to `dir/ca.pem`.
struct TestPki {
    ca_file: PathBuf,
    server: rustls::ServerConfig,
}

fn private_ca(dir: &Path) -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Acme test root CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone(), ca.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    TestPki { ca_file, server }
}

/// Terminates TLS and passes each connection to the fake portal. Returns
/// the TLS port.
async fn tls_front(portal: &FakePortal, config: rustls::ServerConfig) -> u16 {
    let upstream: SocketAddr = portal
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// What the proxy saw.
#[derive(Default)]
struct ProxyLog {
    /// The request line of each CONNECT, e.g. `CONNECT localhost:4443 HTTP/1.1`.
    connects: Vec<String>,
    /// The `Proxy-Authorization` value of each CONNECT, if any.
    authorizations: Vec<Option<String>>,
    /// Every byte the client sent after the tunnel was up.
    tunnelled: Vec<u8>,
}

/// A CONNECT proxy on loopback. With `require` set, a CONNECT without that
/// `Proxy-Authorization` value gets 407.
async fn connect_proxy(require: Option<String>) -> (u16, Arc<Mutex<ProxyLog>>) {
    let log = Arc::new(Mutex::new(ProxyLog::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (log, require) = (shared.clone(), require.clone());
            tokio::spawn(tunnel(client, log, require));
        }
    });
    (port, log)
}

async fn tunnel(
    mut client: tokio::net::TcpStream,
    log: Arc<Mutex<ProxyLog>>,
    require: Option<String>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.unwrap_or(0) == 0 || head.len() > 8192 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let auth = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("proxy-authorization: ")
                .or_else(|| l.strip_prefix("Proxy-Authorization: "))
        })
        .map(str::to_string);
    {
        let mut log = log.lock().unwrap();
        log.connects.push(request_line.clone());
        log.authorizations.push(auth.clone());
    }
    if require.is_some() && auth != require {
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    }
    let target = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .unwrap();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            log.lock().unwrap().tunnelled.extend_from_slice(&buf[..n]);
            if upstream_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = upstream_write.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Every check in report mode, nothing changed.
fn report_only() -> Options {
    Options {
        dry_run: true,
        mode: "report",
        ..Options::default()
    }
}

/// The e2e configuration for `base_url` with extra `[portal]` lines.
fn config_with(base_url: &str, portal_lines: &str) -> String {
    config_text(base_url, &report_only()).replacen(
        "connect_timeout_secs = 2\n",
        &format!("connect_timeout_secs = 2\n{portal_lines}"),
        1,
    )
}

fn finding_keys(outcome: &docspace_auditor::audit::RunOutcome) -> Vec<String> {
    let mut keys: Vec<String> = outcome
        .findings
        .iter()
        .map(|f| {
            format!(
                "{:?} {:?} {}",
                f.check,
                f.room.as_ref().map(|r| r.id.to_string()),
                f.subject.id.as_str()
            )
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_portal_with_a_private_ca_through_a_connect_proxy_audits_as_direct() {
    // The same portal audited directly over plain http, as the reference.
    let direct_portal = demo_portal().await;
    let direct_dir = tempfile::tempdir().unwrap();
    let direct = run(&auditor(&direct_portal, direct_dir.path(), &report_only())).await;
    assert!(!direct.findings.is_empty());

    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca(dir.path());
    let tls_port = tls_front(&portal, pki.server).await;
    let (proxy_port, log) = connect_proxy(None).await;
    let text = config_with(
        &format!("https://localhost:{tls_port}"),
        &format!(
            "ca_file = {:?}\nproxy = \"http://127.0.0.1:{proxy_port}\"\n",
            pki.ca_file.display().to_string()
        ),
    );
    let auditor = auditor_from_text(&text, dir.path(), &portal.token());
    let outcome = run(&auditor).await;

    assert_eq!(finding_keys(&outcome), finding_keys(&direct));
    assert_eq!(outcome.rooms_failed, 0);
    let log = log.lock().unwrap();
    // Every connection went through the proxy, to the portal, and the pool
    // reused them: a few hundred requests over a handful of tunnels (the
    // client may race a new connection against one being returned, so up to
    // twice the concurrency bound of 8).
    assert!(!log.connects.is_empty());
    assert!(log.connects.len() <= 16, "{:?}", log.connects);
    for line in &log.connects {
        assert_eq!(line, &format!("CONNECT localhost:{tls_port} HTTP/1.1"));
    }
    // TLS ran end to end inside the tunnel: the proxy carried a lot of
    // bytes, none of them readable HTTP, and never the token.
    assert!(log.tunnelled.len() > 10_000, "{}", log.tunnelled.len());
    let carried = String::from_utf8_lossy(&log.tunnelled);
    assert!(!carried.contains("Bearer") && !carried.contains("api/2.0"));
    assert!(!carried.contains(&portal.token()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_fails_the_run_naming_the_call() {
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca(dir.path());
    let tls_port = tls_front(&portal, pki.server).await;
    // No ca_file: the platform roots do not know the test CA.
    let text = config_with(&format!("https://localhost:{tls_port}"), "");
    let auditor = auditor_from_text(&text, dir.path(), &portal.token());
    let err = auditor
        .run(RunRequest::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("people/@self"), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(!err.contains(&portal.token()), "{err}");
}

/// Exit code, stdout and stderr of a finished command.
async fn output(mut cmd: assert_cmd::Command) -> (Option<i32>, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_from_the_environment_carries_its_credentials_and_never_prints_them() {
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca(dir.path());
    let tls_port = tls_front(&portal, pki.server).await;
    // "auditor:pr0xy-pw" in Basic form.
    let expected = "Basic YXVkaXRvcjpwcjB4eS1wdw==".to_string();
    let (proxy_port, log) = connect_proxy(Some(expected.clone())).await;
    let text = config_with(
        &format!("https://localhost:{tls_port}"),
        &format!("ca_file = {:?}\n", pki.ca_file.display().to_string()),
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, text).unwrap();
    let config_arg = config_path.to_str().unwrap();

    let with_proxy = |password: &str, args: &[&str]| {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_docspace-auditor"));
        cmd.current_dir(dir.path())
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LOG", "debug")
            .env(TOKEN_ENV, portal.token())
            .env(
                "HTTPS_PROXY",
                format!("http://auditor:{password}@127.0.0.1:{proxy_port}"),
            )
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("https_proxy")
            .env_remove("REQUEST_METHOD")
            .timeout(std::time::Duration::from_secs(60));
        cmd
    };

    // check-config says which proxy, from where, without the password, and
    // reaches the portal through it.
    let checked = output(with_proxy(
        "pr0xy-pw",
        &["check-config", "--config", config_arg],
    ))
    .await;
    assert_eq!(checked.0, Some(0), "{checked:#?}");
    let proxy_line = checked
        .1
        .lines()
        .find(|l| l.starts_with("portal.proxy"))
        .unwrap_or_else(|| panic!("{checked:#?}"));
    assert!(
        proxy_line.ends_with(&format!(
            "http://127.0.0.1:{proxy_port}/ (from HTTPS_PROXY)"
        )),
        "{proxy_line}"
    );
    assert!(checked.1.contains("key user"), "{checked:#?}");

    // A wrong password: the proxy refuses the tunnel, the run fails naming
    // the call and the reason.
    let refused = output(with_proxy("wrong", &["run", "--config", config_arg])).await;
    assert_eq!(refused.0, Some(1), "{refused:#?}");
    let error_line = refused
        .2
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {refused:#?}"));
    assert!(error_line.contains("people/@self"), "{error_line}");
    assert!(
        error_line.contains("proxy authorization required"),
        "{error_line}"
    );

    // The right one: the run completes through the proxy.
    let ran = output(with_proxy("pr0xy-pw", &["run", "--config", config_arg])).await;
    assert!(ran.0.is_some_and(|c| c != 1), "{ran:#?}");
    assert!(
        dir.path()
            .join("reports")
            .read_dir()
            .unwrap()
            .next()
            .is_some()
    );
    for out in [&checked, &refused, &ran] {
        for text in [&out.1, &out.2] {
            assert!(
                !text.contains("pr0xy-pw") && !text.contains("YXVkaXRvcjpwcjB4eS1wdw"),
                "{text}"
            );
        }
    }
    let log = log.lock().unwrap();
    assert!(
        log.authorizations
            .iter()
            .any(|a| a.as_deref() == Some(&expected))
    );
}
