//! Failures against a wiremock portal: 429 with `Retry-After` and 503 are
//! retried; one room answering malformed JSON becomes a `failed` finding
//! while the other rooms are audited; 401 fails the whole run with a clear
//! message; a key that is not an admin gets a warning; `GET …/link` is never
//! called; the token never reaches a report or the state store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::config::TestConfig;
use common::portal::{LinkSpec, Portal, RoomSpec, TOKEN, UserSpec, Writes};
use common::reports::{all_files, findings_csv, one_row, rows_where};
use docspace_auditor::api::ApiError;
use docspace_auditor::audit::{RunError, RunResult};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn owner() -> UserSpec {
    UserSpec::room_admin(2, "Olga Owner", "olga@company.example")
}

fn guest(n: u32) -> UserSpec {
    UserSpec::guest(
        n,
        &format!("Guest {n}"),
        &format!("guest{n}@partner.example"),
    )
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_honoured_then_succeeds() {
    let g = guest(10);
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, "Project X", &owner()).guest(&g))
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .with_priority(1)
        .up_to_n_times(1)
        .expect(1)
        .named("429 on the room list")
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri()).report_only();

    let started = Instant::now();
    let out = cfg.run().await.unwrap();
    let elapsed = started.elapsed();

    // The backoff in the test config is 10 ms: only Retry-After explains 1 s.
    assert!(
        elapsed >= Duration::from_millis(950),
        "Retry-After ignored: {elapsed:?}"
    );
    assert_eq!(portal.requests_to("files/rooms").await.len(), 2);
    assert_eq!(out.rooms_audited, 1);
    assert_eq!(out.rooms_failed, 0);
    let findings = findings_csv(&out.report_dir);
    assert_eq!(one_row(&findings, "subject_id", &g.id)["status"], "open");
    portal.verify().await;
}

#[tokio::test]
async fn service_unavailable_twice_then_success() {
    let g = guest(10);
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, "Project X", &owner()).guest(&g))
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms/42/share"))
        .and(query_param("filterType", "0"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .with_priority(1)
        .up_to_n_times(2)
        .expect(2)
        .named("503 twice on the share")
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri()).report_only();

    let out = cfg.run().await.unwrap();

    let reads: Vec<_> = portal
        .requests_to("files/rooms/42/share")
        .await
        .into_iter()
        .filter(|s| s.q("filterType") == Some("0"))
        .collect();
    assert_eq!(reads.len(), 3, "two 503s and one success");
    assert_eq!((out.rooms_audited, out.rooms_failed), (1, 0));
    let findings = findings_csv(&out.report_dir);
    assert!(
        rows_where(&findings, "check", "room-audit").is_empty(),
        "{findings:#?}"
    );
    assert_eq!(one_row(&findings, "subject_id", &g.id)["status"], "open");
    portal.verify().await;
}

#[tokio::test]
async fn malformed_answer_for_one_room_fails_only_that_room() {
    let (g1, g2, g3) = (guest(11), guest(12), guest(13));
    let portal = Portal::builder()
        .room(RoomSpec::archived(41, "Alpha", &owner()).guest(&g1))
        .room(RoomSpec::archived(42, "Broken", &owner()).guest(&g2))
        .room(RoomSpec::archived(43, "Gamma", &owner()).guest(&g3))
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms/42/share"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"response":[{"access":2,"sharedToUser":{"id":"b1d5"#,
            "application/json",
        ))
        .with_priority(1)
        .named("truncated JSON for room 42")
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri()).report_only();

    let out = cfg.run().await.unwrap();

    assert_eq!((out.rooms_audited, out.rooms_failed), (2, 1));
    let findings = findings_csv(&out.report_dir);
    let failed = one_row(&findings, "check", "room-audit");
    assert_eq!(failed["room_id"], "42");
    assert_eq!(failed["room_title"], "Broken");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["detail"].contains("files/rooms/{id}/share"),
        "{failed:?}"
    );
    assert!(failed["detail"].contains("unreadable"), "{failed:?}");
    assert_eq!(one_row(&findings, "subject_id", &g1.id)["status"], "open");
    assert_eq!(one_row(&findings, "subject_id", &g3.id)["status"], "open");
    assert!(rows_where(&findings, "subject_id", &g2.id).is_empty());
    // An unreadable answer is not retried.
    assert_eq!(portal.requests_to("files/rooms/42/share").await.len(), 2);
    assert_eq!(out.result, RunResult::Attention);
    portal.verify().await;
}

#[tokio::test]
async fn unauthorized_fails_the_run_with_a_clear_message() {
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, "Project X", &owner()).guest(&guest(10)))
        .start()
        .await;
    let mut cfg = TestConfig::new(&portal.uri());
    cfg.token = "sk-0000000000000000000000000000000000000000000000000000000000000bad".into();

    let err = cfg.run().await.unwrap_err();

    assert!(
        matches!(&err, RunError::Api(ApiError::Unauthorized { path, .. }) if path == "people/@self"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("people/@self"), "{message}");
    assert!(
        !message.contains(&cfg.token) && !message.contains("Bearer"),
        "{message}"
    );
    // One attempt: a refused key is not retried.
    assert_eq!(portal.requests().await.len(), 1);
    // The run's folder says it failed, and why.
    let runs: Vec<_> = std::fs::read_dir(cfg.reports_dir())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].path().join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "failed");
    assert!(
        manifest["note"].as_str().unwrap().contains("401"),
        "{manifest}"
    );
    portal.verify().await;
}

#[tokio::test]
async fn key_that_is_not_an_admin_produces_a_warning() {
    let portal = Portal::builder()
        .me(UserSpec::room_admin(
            5,
            "Rita Roomadmin",
            "rita@company.example",
        ))
        .room(RoomSpec::archived(42, "Project X", &owner()))
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri()).report_only();

    let out = cfg.run().await.unwrap();

    let warning = out
        .warnings
        .iter()
        .find(|w| w.contains("not a DocSpace admin"))
        .unwrap_or_else(|| panic!("no admin warning in {:?}", out.warnings));
    assert!(warning.contains("Rita Roomadmin"), "{warning}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.report_dir.join("run.json")).unwrap()).unwrap();
    assert!(
        manifest["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("not a DocSpace admin")),
        "{manifest}"
    );
    assert_eq!(out.result, RunResult::Clean);
}

#[tokio::test]
async fn admin_key_produces_no_admin_warning() {
    let portal = Portal::builder()
        .room(RoomSpec::archived(42, "Project X", &owner()))
        .start()
        .await;
    let out = TestConfig::new(&portal.uri()).run().await.unwrap();
    assert!(
        !out.warnings.iter().any(|w| w.contains("admin")),
        "{:?}",
        out.warnings
    );
}

#[tokio::test]
async fn primary_link_endpoint_is_never_called() {
    let portal = Portal::builder()
        // Rooms with and without links, of several types, in both places.
        .room(
            RoomSpec::archived(42, "Public archive", &owner())
                .room_type(6)
                .link(LinkSpec::external(1, "Shared link").primary()),
        )
        .room(RoomSpec::archived(43, "No links", &owner()).guest(&guest(10)))
        .room(RoomSpec::active(77, "Designated", &owner()).room_type(1))
        .start()
        .await;
    // GET files/rooms/{id}/link is mounted with .expect(0) by the builder;
    // this mock also pins it per room.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(r"/link$"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .expect(0)
        .named("any GET …/link")
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri())
        .designated(&[77])
        .report_only();

    cfg.run().await.unwrap();

    let seen = portal.requests().await;
    assert!(!seen.iter().any(|s| s.path.ends_with("/link")));
    // Links were read through the share list, which creates nothing.
    assert!(
        seen.iter()
            .any(|s| s.path == "files/rooms/42/share" && s.q("filterType") == Some("2"))
    );
    portal.verify().await;
}

#[tokio::test]
async fn token_and_link_secrets_never_reach_reports_or_state() {
    let g = guest(10);
    let link = LinkSpec::external(1, "Client link").password("hunter2-link-password");
    let portal = Portal::builder()
        .room(
            RoomSpec::archived(42, "Project X", &owner())
                .guest(&g)
                .link(link.clone())
                .expect_writes(Writes {
                    share: 0, // answered by the 403 below
                    links: 1,
                    unarchive: 1,
                    archive: 1,
                }),
        )
        .start()
        .await;
    // A failure too, so error texts reach the reports.
    Mock::given(method("PUT"))
        .and(path("/api/2.0/files/rooms/42/share"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(common::portal::error_body(
                403,
                "Access denied",
                "System.Security.SecurityException",
            )),
        )
        .with_priority(1)
        .expect(1)
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri());

    let out = cfg.run().await.unwrap();

    // Every call carried the key as a bearer token.
    assert!(
        portal
            .requests()
            .await
            .iter()
            .all(|s| s.authorization.as_deref() == Some(format!("Bearer {TOKEN}").as_str()))
    );
    let files = all_files(cfg.dir.path());
    assert!(files.iter().any(|(p, _)| p.ends_with("findings.csv")));
    assert!(files.iter().any(|(p, _)| p.ends_with("actions.csv")));
    for (p, bytes) in &files {
        if p.ends_with("config.toml") {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        for secret in [
            TOKEN,
            &TOKEN[3..20],
            "hunter2-link-password",
            &link.share_link,
        ] {
            assert!(
                !text.contains(secret),
                "{} contains a secret ({secret})",
                p.display()
            );
        }
    }
    assert!(out.findings.iter().any(|f| f.status.as_str() == "failed"));
    portal.verify().await;
}

#[tokio::test]
async fn write_with_unknown_outcome_is_settled_by_reading_back_not_repeated() {
    let g = guest(10);
    let portal = Portal::builder()
        .room(RoomSpec::active(77, "Offboarded employees", &owner()).guest(&g))
        .start()
        .await;
    // The portal applies the removal, but the gateway answers 504.
    Mock::given(method("PUT"))
        .and(path("/api/2.0/files/rooms/77/share"))
        .respond_with(portal.applied_then(504))
        .with_priority(1)
        .expect(1)
        .named("PUT share applied, then 504")
        .mount(&portal.server)
        .await;
    let cfg = TestConfig::new(&portal.uri()).designated(&[77]);

    let out = cfg.run().await.unwrap();

    assert_eq!(
        portal.writes().await.len(),
        1,
        "a write with an unknown outcome was repeated"
    );
    assert!(!portal.room(77).has_member(&g.id));
    let findings = findings_csv(&out.report_dir);
    let f = one_row(&findings, "subject_id", &g.id);
    assert_eq!(f["status"], "fixed", "{f:?}");
    let actions = common::reports::actions_csv(&out.report_dir);
    let a = one_row(&actions, "action", "remove-member");
    assert_eq!(
        (a["outcome"].as_str(), a["verified"].as_str()),
        ("done", "yes")
    );
    assert_eq!(out.result, RunResult::Clean);
    portal.verify().await;
}
