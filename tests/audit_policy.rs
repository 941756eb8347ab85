//! Policy against a wiremock portal: an exempt guest is kept, a room inside
//! its grace period is left alone, and dry-run makes no write at all (every
//! write endpoint is mounted with `.expect(0)`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::config::TestConfig;
use common::portal::{LinkSpec, Portal, RoomSpec, UserSpec, Writes};
use common::reports::{actions_csv, findings_csv, one_row, rows_where};
use docspace_auditor::audit::{RunRequest, RunResult};

fn owner() -> UserSpec {
    UserSpec::room_admin(2, "Olga Owner", "olga@company.example")
}

#[tokio::test]
async fn exempt_guest_is_kept_and_reported_exempt() {
    let ann = UserSpec::guest(10, "Ann Auditor", "ann@lawfirm.example");
    let portal = Portal::builder()
        // No write is expected anywhere.
        .room(RoomSpec::archived(42, "Litigation 2024", &owner()).guest(&ann))
        .room(RoomSpec::active(77, "Offboarded employees", &owner()).guest(&ann))
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri()).designated(&[77]).extra(
        r#"
[[exemptions]]
domain = "lawfirm.example"
reason = "external counsel on legal hold"
ticket = "SEC-42"
expires = 2027-01-01
"#,
    );

    let out = cfg.run().await.unwrap();

    assert!(portal.writes().await.is_empty());
    let findings = findings_csv(&out.report_dir);
    let rows = rows_where(&findings, "subject_id", &ann.id);
    assert_eq!(rows.len(), 2, "{findings:#?}");
    for f in rows {
        assert_eq!(f["status"], "exempt");
        assert!(
            f["detail"].contains("external counsel on legal hold"),
            "{f:?}"
        );
        assert!(f["detail"].contains("SEC-42"), "{f:?}");
    }
    assert!(portal.room(42).has_member(&ann.id) && portal.room(77).has_member(&ann.id));
    assert!(actions_csv(&out.report_dir).is_empty());
    assert_eq!(
        out.result,
        RunResult::Clean,
        "exempt findings do not need attention"
    );
    portal.verify().await;
}

#[tokio::test]
async fn room_inside_its_grace_period_is_left_alone() {
    let ann = UserSpec::guest(10, "Ann Guest", "ann@partner.example");
    let carl = UserSpec::guest(12, "Carl Guest", "carl@partner.example");
    let portal = Portal::builder()
        // Archived five days before the run: inside a 30-day grace period.
        .room(
            RoomSpec::archived(42, "Archived last week", &owner())
                .updated("2026-06-10T08:00:00.0000000+02:00")
                .guest(&ann),
        )
        // Archived 45 days before the run: past it, so remediated.
        .room(
            RoomSpec::archived(43, "Archived in May", &owner())
                .guest(&carl)
                .expect_writes(Writes {
                    share: 1,
                    links: 0,
                    unarchive: 1,
                    archive: 1,
                }),
        )
        .start()
        .await;
    let cfg = TestConfig::new(&portal.uri()).guests_grace_days(30);

    let out = cfg.run().await.unwrap();

    assert!(
        portal
            .writes()
            .await
            .iter()
            .all(|w| w.path.starts_with("files/rooms/43/")),
        "room 42 was written to"
    );
    let findings = findings_csv(&out.report_dir);
    let g = one_row(&findings, "subject_id", &ann.id);
    assert_eq!(g["status"], "in-grace");
    assert_eq!(g["archived_since"], "2026-06-10T06:00:00Z");
    assert!(g["detail"].contains("2026-07-10"), "{g:?}");
    assert_eq!(
        one_row(&findings, "subject_id", &carl.id)["status"],
        "fixed"
    );
    assert!(portal.room(42).has_member(&ann.id));
    assert_eq!(
        out.result,
        RunResult::Clean,
        "in-grace findings do not need attention"
    );
    portal.verify().await;
}

/// A portal with every kind of fixable finding; no write is expected.
async fn portal_with_everything() -> (Portal, UserSpec, LinkSpec) {
    let ann = UserSpec::guest(10, "Ann Guest", "ann@partner.example");
    let link = LinkSpec::external(1, "Client link");
    let portal = Portal::builder()
        .room(
            RoomSpec::archived(42, "Project X", &owner())
                .guest(&ann)
                .link(link.clone()),
        )
        .room(
            RoomSpec::active(77, "Offboarded employees", &owner())
                .guest(&ann)
                .link(LinkSpec::external(2, "Live link")),
        )
        .start()
        .await;
    (portal, ann, link)
}

fn assert_planned_only(out: &docspace_auditor::audit::RunOutcome) {
    assert!(out.dry_run);
    let findings = findings_csv(&out.report_dir);
    assert_eq!(findings.len(), 4, "{findings:#?}");
    assert!(
        findings.iter().all(|f| f["status"] == "open"),
        "{findings:#?}"
    );
    let actions = actions_csv(&out.report_dir);
    assert_eq!(actions.len(), 4, "{actions:#?}");
    for a in &actions {
        assert_eq!(a["dry_run"], "yes", "{a:?}");
        assert_eq!(a["outcome"], "planned", "{a:?}");
        assert_eq!(a["verified"], "no", "{a:?}");
    }
    assert!(
        !actions
            .iter()
            .any(|a| a["action"] == "unarchive" || a["action"] == "re-archive")
    );
    assert_eq!(out.result, RunResult::Attention);
}

#[tokio::test]
async fn dry_run_in_the_config_makes_no_write_calls() {
    let (portal, ann, _) = portal_with_everything().await;
    let cfg = TestConfig::new(&portal.uri())
        .designated(&[77])
        .dry_run(true);

    let out = cfg.run().await.unwrap();

    assert!(portal.writes().await.is_empty());
    assert_planned_only(&out);
    assert!(portal.room(42).archived && portal.room(42).has_member(&ann.id));
    portal.verify().await;
}

#[tokio::test]
async fn dry_run_request_overrides_a_remediating_config() {
    let (portal, _, link) = portal_with_everything().await;
    let cfg = TestConfig::new(&portal.uri()).designated(&[77]);

    let out = cfg
        .run_request(RunRequest {
            dry_run: true,
            ..RunRequest::default()
        })
        .await
        .unwrap();

    assert!(portal.writes().await.is_empty());
    assert_planned_only(&out);
    assert!(portal.room(42).has_link(&link.id));
    portal.verify().await;
}
