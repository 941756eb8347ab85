//! Config errors through the binary: `check-config` (and `run`) exit 2 and
//! name the key and the file; a good config identifies the key's user and
//! prints the effective config with the token redacted, and checks that
//! mail could be delivered (SMTP with STARTTLS and AUTH) without sending any.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use common::cli::run_bin;
use common::config::{TOKEN_ENV, TestConfig};
use common::portal::{Portal, TOKEN, UserSpec};

fn problem_lines<'a>(stderr: &'a str, key: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(key)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_variable_exits_2_naming_the_key_and_the_file() {
    let cfg = TestConfig::new("http://127.0.0.1:9");
    let config = cfg.write();
    let config_text = config.to_str().unwrap();

    for command in ["check-config", "run"] {
        let ran = run_bin(
            cfg.dir.path(),
            &[command, "--config", config_text],
            None,
            None,
        )
        .await;

        assert_eq!(ran.code, Some(2), "{command}: {ran:#?}");
        let lines = problem_lines(&ran.stderr, "portal.token_env");
        assert_eq!(lines.len(), 1, "{command}: {ran:#?}");
        assert!(lines[0].starts_with(config_text), "{}", lines[0]);
        assert!(lines[0].contains(TOKEN_ENV), "{}", lines[0]);
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
    // Loading a config never writes anything.
    assert!(!cfg.reports_dir().exists());
    assert!(!cfg.dir.path().join("state").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_exits_2() {
    let cfg = TestConfig::new("http://portal.example.com");
    let config = cfg.write();
    let config_text = config.to_str().unwrap();

    let ran = run_bin(
        cfg.dir.path(),
        &["check-config", "--config", config_text],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(2), "{ran:#?}");
    let lines = problem_lines(&ran.stderr, "portal.base_url");
    assert_eq!(lines.len(), 1, "{ran:#?}");
    assert!(lines[0].starts_with(config_text), "{}", lines[0]);
    assert!(lines[0].contains("https"), "{}", lines[0]);
    assert!(!ran.stderr.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_check_name_exits_2() {
    let cfg =
        TestConfig::new("http://127.0.0.1:9").extra("[policy.checks.nope]\nmode = \"report\"\n");
    let config = cfg.write();
    let config_text = config.to_str().unwrap();

    let ran = run_bin(
        cfg.dir.path(),
        &["check-config", "--config", config_text],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(2), "{ran:#?}");
    let lines = problem_lines(&ran.stderr, "policy.checks.nope");
    assert_eq!(lines.len(), 1, "{ran:#?}");
    assert!(lines[0].starts_with(config_text), "{}", lines[0]);
    assert!(lines[0].contains("unknown check"), "{}", lines[0]);
    assert!(
        lines[0].contains("archived-room-guests"),
        "lists the known checks: {}",
        lines[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_problem_is_reported_at_once() {
    let cfg = TestConfig::new("http://portal.example.com")
        .extra("[policy.checks.nope]\nmode = \"report\"\n");
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        None,
        None,
    )
    .await;

    assert_eq!(ran.code, Some(2), "{ran:#?}");
    for key in ["portal.base_url", "portal.token_env", "policy.checks.nope"] {
        assert_eq!(problem_lines(&ran.stderr, key).len(), 1, "{key}: {ran:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_identifies_the_key_user_and_redacts_the_token() {
    let portal = Portal::builder().start().await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(0), "{ran:#?}");
    assert!(ran.stdout.contains("Audit Bot"), "{}", ran.stdout);
    assert!(ran.stdout.contains("[redacted]"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains(TOKEN_ENV),
        "names where the token comes from: {}",
        ran.stdout
    );
    for out in [&ran.stdout, &ran.stderr] {
        assert!(
            !out.contains(TOKEN) && !out.contains(&TOKEN[3..20]),
            "{out}"
        );
    }
    assert!(portal.writes().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_warns_about_a_key_that_is_not_an_admin() {
    let portal = Portal::builder()
        .me(UserSpec::room_admin(
            5,
            "Rita Roomadmin",
            "rita@company.example",
        ))
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(0), "{ran:#?}");
    assert!(
        ran.stdout.contains("not a DocSpace admin"),
        "{}",
        ran.stdout
    );
}

/// The test config with mail on, through `server` with STARTTLS and AUTH.
fn with_smtp(cfg: &TestConfig, server: &smtp::SmtpServer, password: &str) -> String {
    let password_file = cfg.dir.path().join("smtp-password");
    std::fs::write(&password_file, password).unwrap();
    let notify = format!(
        "[notify]\nenabled = true\nfrom = \"auditor@company.example\"\nsecurity_team = [\"secteam@company.example\"]\noutbox_dir = \"outbox\"\n\n[notify.smtp]\nhost = \"{}\"\nport = {}\ntls = \"starttls\"\nusername = \"auditor\"\npassword_file = {:?}\nca_file = {:?}\ntimeout_secs = 5\n",
        server.host(),
        server.port(),
        password_file.display().to_string(),
        server.ca_file().unwrap().display().to_string(),
    );
    let text = cfg.toml().replace("[notify]\nenabled = false\n", &notify);
    assert!(text.contains("[notify.smtp]"));
    let path = cfg.path();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn check_config(cfg: &TestConfig, config: &str) -> common::cli::Ran {
    run_bin(
        cfg.dir.path(),
        &["check-config", "--config", config],
        Some(TOKEN),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_proves_the_mail_server_accepts_tls_and_auth_without_sending() {
    let portal = Portal::builder().start().await;
    let server = smtp::SmtpServer::start_with(smtp::ServerOptions {
        starttls: true,
        auth: Some(("auditor".into(), "s3cret-pass".into())),
        ..smtp::ServerOptions::default()
    });
    let cfg = TestConfig::new(&portal.uri());
    let config = with_smtp(&cfg, &server, "s3cret-pass");

    let ran = check_config(&cfg, &config).await;
    assert_eq!(ran.code, Some(0), "{ran:#?}");
    let line = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("mail "))
        .unwrap_or_else(|| panic!("no mail line: {}", ran.stdout));
    assert!(
        line.contains(&format!(
            "smtp 127.0.0.1:{} (starttls): ready",
            server.port()
        )),
        "{line}"
    );
    assert!(server.messages().is_empty(), "nothing is sent");

    // A wrong password: exit 1, the server's refusal named, no secret shown.
    let config = with_smtp(&cfg, &server, "wrong-pass");
    let ran = check_config(&cfg, &config).await;
    assert_eq!(ran.code, Some(1), "{ran:#?}");
    assert!(
        ran.stderr.contains("error: mail: mail server 127.0.0.1:"),
        "{}",
        ran.stderr
    );
    for out in [&ran.stdout, &ran.stderr] {
        assert!(
            !out.contains("wrong-pass") && !out.contains("s3cret"),
            "{out}"
        );
        assert!(!out.contains(TOKEN), "{out}");
    }

    // No server at all: exit 1 as well.
    server.stop();
    let ran = check_config(&cfg, &config).await;
    assert_eq!(ran.code, Some(1), "{ran:#?}");
    assert!(ran.stderr.contains("error: mail:"), "{}", ran.stderr);
    assert!(server.messages().is_empty());
}
