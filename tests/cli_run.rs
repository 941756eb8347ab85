//! The binary's `run` command against a wiremock portal: exit codes (0
//! clean, 3 findings or a failed room, 1 run failed, 2 usage), what it says
//! on stderr, CSV neutralisation end to end, and the token never printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli::run_bin;
use common::config::TestConfig;
use common::portal::{LinkSpec, Portal, RoomSpec, TOKEN, UserSpec, Writes};
use common::reports::{all_files, findings_csv, one_row};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn owner() -> UserSpec {
    UserSpec::room_admin(2, "Olga Owner", "olga@company.example")
}

/// The report folder of the only run under the config's reports dir.
fn only_run(cfg: &TestConfig) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(cfg.reports_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exits_0_when_nothing_needs_attention() {
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, "Quiet room", &owner()))
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(0), "{ran:#?}");
    assert!(ran.stdout.contains("1 rooms audited"), "{ran:#?}");
    assert!(
        ran.stdout.contains("nothing needs attention (exit code 0)"),
        "{ran:#?}"
    );
    let dir = only_run(&cfg);
    assert!(findings_csv(&dir).is_empty());
    // The header is always there; files are for owner and group only.
    assert!(
        common::reports::csv_header(&dir.join("findings.csv"))
            .contains(&"subject_email".to_string())
    );
    assert!(
        common::reports::csv_header(&dir.join("actions.csv")).contains(&"verified".to_string())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o750);
        for f in ["findings.csv", "actions.csv", "run.json"] {
            assert_eq!(mode(&dir.join(f)), 0o640, "{f}");
        }
    }
    portal.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formula_titles_are_neutralised_in_the_csv() {
    let title = r#"=HYPERLINK("http://x","y")"#;
    let guest = UserSpec::guest(10, "@SUM(A1)", "+ann@partner.example");
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, title, &owner()).guest(&guest))
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri()).report_only();
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(3), "open findings: {ran:#?}");
    let dir = only_run(&cfg);
    let findings = findings_csv(&dir);
    let f = one_row(&findings, "subject_id", &guest.id);
    assert_eq!(f["room_title"], r#"'=HYPERLINK("http://x","y")"#);
    assert_eq!(f["subject_name"], "'@SUM(A1)");
    assert_eq!(f["subject_email"], "'+ann@partner.example");
    let raw = std::fs::read_to_string(dir.join("findings.csv")).unwrap();
    assert!(
        !raw.contains(r#",=HYPERLINK"#) && !raw.contains(r#","=HYPERLINK"#),
        "{raw}"
    );
    portal.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_malformed_room_is_reported_and_exits_3() {
    let portal = Portal::builder()
        .room(RoomSpec::archived(41, "Alpha", &owner()))
        .room(RoomSpec::archived(42, "Broken", &owner()))
        .room(RoomSpec::archived(43, "Gamma", &owner()))
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms/42/share"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"response\":[{", "application/json"),
        )
        .with_priority(1)
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(3), "{ran:#?}");
    assert!(ran.stdout.contains("2 rooms audited, 1 failed"), "{ran:#?}");
    let findings = findings_csv(&only_run(&cfg));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = one_row(&findings, "check", "room-audit");
    assert_eq!(
        (f["room_id"].as_str(), f["status"].as_str()),
        ("42", "failed")
    );
    portal.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_key_exits_1_naming_401_and_the_path_but_not_the_token() {
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, "Project X", &owner()))
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();
    let wrong = "sk-0000000000000000000000000000000000000000000000000000000000000bad";

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(wrong),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(1), "{ran:#?}");
    let error_line = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {ran:#?}"));
    assert!(error_line.contains("401"), "{error_line}");
    assert!(error_line.contains("people/@self"), "{error_line}");
    for out in [&ran.stderr, &ran.stdout] {
        assert!(
            !out.contains(wrong) && !out.contains(&wrong[3..20]),
            "{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
        // Not a terminal (a pipe, journald): no colour escape codes.
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }
    assert!(portal.writes().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_check_flag_exits_2() {
    let portal = Portal::builder().start().await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--check",
            "nope",
        ],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(2), "{ran:#?}");
    assert!(
        ran.stderr.contains("nope") && ran.stderr.contains("archived-room-guests"),
        "{ran:#?}"
    );
    assert!(
        portal.requests().await.is_empty(),
        "no call before the arguments are valid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_never_appears_in_output_or_reports_even_at_trace_level() {
    let guest = UserSpec::guest(10, "Ann Guest", "ann@partner.example");
    let link = LinkSpec::external(1, "Client link").password("hunter2-link-password");
    let portal = Portal::builder()
        .room(
            RoomSpec::archived(42, "Project X", &owner())
                .guest(&guest)
                .link(link.clone())
                .expect_writes(Writes {
                    share: 1,
                    links: 1,
                    unarchive: 1,
                    archive: 1,
                }),
        )
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        Some("trace"),
    )
    .await;

    assert_eq!(ran.code, Some(0), "{}", ran.stdout);
    for out in [&ran.stderr, &ran.stdout] {
        for secret in [
            TOKEN,
            &TOKEN[3..20],
            "hunter2-link-password",
            &link.share_link,
        ] {
            assert!(!out.contains(secret), "output contains {secret}");
        }
    }
    for (p, bytes) in all_files(cfg.dir.path()) {
        if p.ends_with("config.toml") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(TOKEN), "{} contains the token", p.display());
        assert!(
            !text.contains("hunter2-link-password"),
            "{} contains a link password",
            p.display()
        );
    }
    assert!(portal.room(42).archived);
    portal.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_cap_exits_3_and_the_summary_agrees() {
    let mut room = RoomSpec::active(77, "Offboarded employees", &owner()).expect_writes(Writes {
        share: 1,
        ..Writes::default()
    });
    for i in 0..3 {
        room = room.guest(&UserSpec::guest(
            20 + i,
            &format!("Guest {i}"),
            &format!("g{i}@partner.example"),
        ));
    }
    let portal = Portal::builder().room(room).start().await;
    let cfg = TestConfig::new(&portal.uri())
        .designated(&[77])
        .max_changes(1);
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(3), "{ran:#?}");
    assert!(
        ran.stdout
            .contains("2 findings need attention (exit code 3)"),
        "the summary must agree with the exit code: {}",
        ran.stdout
    );
    portal.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_room_failing_exits_1() {
    let portal = Portal::builder()
        .room(RoomSpec::archived(41, "Alpha", &owner()))
        .room(RoomSpec::archived(42, "Beta", &owner()))
        .start()
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(
            r"^/api/2\.0/files/rooms/\d+/share$",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
        )
        .with_priority(1)
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri());
    let config = cfg.write();

    let ran = run_bin(
        cfg.dir.path(),
        &["run", "--config", config.to_str().unwrap()],
        Some(TOKEN),
        None,
    )
    .await;

    assert_eq!(ran.code, Some(1), "{ran:#?}");
    let error_line = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap();
    assert!(error_line.contains("every room failed"), "{error_line}");
    assert!(
        error_line.contains("files/rooms/{id}/share"),
        "{error_line}"
    );
}
