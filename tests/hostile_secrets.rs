//! Secrets: the API token and the SMTP password never appear in any output
//! of a full remediating run with notifications over STARTTLS + AUTH, at
//! `RUST_LOG=trace`: not on stdout or stderr, not in any file under the
//! working folder (reports, the state store with its WAL, the lock file),
//! not in the mail, not in `check-config` output, not when the password is
//! wrong or the token refused, and not in the `Debug` form of the config
//! (what a panic message or a `{:?}` log would print).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_common;

use std::time::Duration;

use docspace_fake_portal::FakePortal;
use fault_common::reports::all_files;
use fault_common::smtp::{ServerOptions, SmtpServer};
use fault_common::*;

const TOKEN: &str = "sk-7e57ab1e7e57ab1e7e57ab1e7e57ab1e7e57ab1e7e57ab1e7e57ab1e7e57ab1e";
const SMTP_USER: &str = "auditor";
const PASSWORD: &str = "Smtp-P4ss-w0rd!unique-9d1e";
const WRONG_PASSWORD: &str = "Wr0ng-P4ss-unique-3c7f";

/// The forms a secret could leak in: as is, base64 (HTTP Basic, SMTP
/// AUTH PLAIN/LOGIN), and the token's distinctive middle part.
fn needles() -> Vec<(String, String)> {
    let b64 = |s: &str| base64(s.as_bytes());
    let mut v = Vec::new();
    for (what, secret) in [
        ("token", TOKEN),
        ("password", PASSWORD),
        ("wrong password", WRONG_PASSWORD),
    ] {
        v.push((what.to_string(), secret.to_string()));
        v.push((format!("{what} (base64)"), b64(secret)));
    }
    v.push(("token middle".into(), TOKEN[10..40].to_string()));
    for p in [PASSWORD, WRONG_PASSWORD] {
        v.push(("AUTH PLAIN".into(), b64(&format!("\0{SMTP_USER}\0{p}"))));
    }
    v
}

/// Standard base64 with padding (no dependency for twenty lines).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for (name, needle) in needles() {
        assert!(
            !text.contains(&needle),
            "the {name} leaked into {what}:\n{:.2000}",
            text
        );
        // Also inside a bytes-only file (SQLite pages are not UTF-8).
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the {name} leaked into {what} (bytes)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_smtp_password_appear_in_no_output_of_a_full_run() {
    let mut s = scenario(3);
    s.token = TOKEN.to_string();
    let portal = FakePortal::start(s).await.unwrap();
    let server = SmtpServer::start_with(ServerOptions {
        starttls: true,
        auth: Some((SMTP_USER.into(), PASSWORD.into())),
        ..ServerOptions::default()
    });
    let mut setup = Setup::for_portal(&portal).mail(Mail::Auth {
        port: server.port(),
        ca_file: server.ca_file().unwrap(),
        username: SMTP_USER.into(),
    });
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();

    // 1. A wrong password: remediation runs, mail stays queued.
    setup.smtp_password = Some(WRONG_PASSWORD.into());
    let ran = setup.run_bin("trace").await;
    assert!(matches!(ran.code, Some(0 | 3)), "{ran:?}");
    assert!(server.messages().is_empty());
    outputs.push(("stdout (wrong password)".into(), ran.stdout.into_bytes()));
    outputs.push(("stderr (wrong password)".into(), ran.stderr.into_bytes()));

    // 2. The right password: the queue goes out over TLS with AUTH.
    setup.smtp_password = Some(PASSWORD.into());
    let ran = setup.run_bin("trace").await;
    assert!(matches!(ran.code, Some(0 | 3)), "{ran:?}");
    assert!(ran.stderr.contains("TRACE"), "trace logging was on");
    outputs.push(("stdout".into(), ran.stdout.into_bytes()));
    outputs.push(("stderr".into(), ran.stderr.into_bytes()));
    let mail = server.wait_for(2, Duration::from_secs(10));
    assert!(mail.len() >= 2, "{} messages", mail.len());
    for m in &mail {
        assert_eq!(m.auth_user.as_deref(), Some(SMTP_USER));
        outputs.push((format!("mail to {:?}", m.rcpt_to), m.raw.clone()));
    }
    // The portal was really changed.
    assert!(
        portal
            .state()
            .room_members(&room_id(1))
            .iter()
            .all(|(u, _)| u != &guest_id(1))
    );

    // 3. check-config, with the key checked against the portal.
    let ran =
        run_to_end(setup.command(&["check-config", "--config", "config.toml"], "trace")).await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("[redacted]"), "{}", ran.stdout);
    outputs.push(("check-config stdout".into(), ran.stdout.into_bytes()));
    outputs.push(("check-config stderr".into(), ran.stderr.into_bytes()));

    // 4. A refused token (401): the error names the call, not the token.
    let real = std::mem::replace(&mut setup.token, format!("{TOKEN}-revoked"));
    let ran = setup.run_bin("trace").await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("401"), "{}", ran.stderr);
    outputs.push(("stdout (refused token)".into(), ran.stdout.into_bytes()));
    outputs.push(("stderr (refused token)".into(), ran.stderr.into_bytes()));
    setup.token = real;

    // Every file the runs left: reports, state store (+ WAL), lock file.
    let files = all_files(setup.dir.path());
    assert!(files.iter().any(|(p, _)| p.ends_with("findings.csv")));
    assert!(files.iter().any(|(p, _)| p.ends_with("auditor.sqlite")));
    for (p, bytes) in files {
        outputs.push((p.display().to_string(), bytes));
    }
    for (what, bytes) in &outputs {
        assert_clean(what, bytes);
    }

    // What a panic message or a `{:?}` log line would show of the config.
    let config = setup.load();
    assert_clean(
        "the config's Debug form",
        format!("{config:?} {config:#?}").as_bytes(),
    );
    portal.shutdown().await;
}
