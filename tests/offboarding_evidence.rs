//! Evidence: the audit trail of disabled users in `audit-events.csv`, the
//! disable date (MessageAction 4020) as the start of the grace period, and
//! the no-Audit-feature fallback (latest events, unfiltered) reported as a
//! warning and marker rows, never as the user's history.

mod offboarding_common;

use docspace_auditor::check::CheckId;
use docspace_auditor::finding::FindingStatus;
use offboarding_common::*;
use serde_json::{Value, json};

const AUDIT: &str = "/api/2.0/security/audit/events/filter";

fn event(
    id: i64,
    date: &str,
    actor: &str,
    actor_name: &str,
    action: &str,
    action_id: i64,
    target: &[&str],
) -> Value {
    json!({"id": id, "date": date, "user": actor_name, "userId": actor, "action": action, "actionId": action_id,
           "ip": "192.0.2.7", "country": "", "city": "", "browser": "Firefox 140", "platform": "Linux",
           "page": "", "actionType": 2, "product": 2, "location": 30, "target": target, "entries": [23],
           "context": ""})
}

/// Dora, disabled without a `terminated` date (disabled via
/// `PUT people/status`), owning content.
async fn portal() -> Portal {
    let p = Portal::start().await;
    let dora = user(DORA, "Dora", "user", 2, None);
    p.people(vec![dora], vec![]).await;
    p.get_q(
        "/api/2.0/people/reassign/necessary",
        "userId",
        DORA,
        ok(envelope(json!(true))),
    )
    .await;
    p.get_q(
        "/api/2.0/files/rooms",
        "subjectOwnerId",
        DORA,
        ok(rooms(vec![])),
    )
    .await;
    p
}

fn setup() -> Setup {
    Setup::new().check(
        "disabled-user-content",
        "mode = \"report\"\ngrace_days = 30",
    )
}

#[tokio::test]
async fn the_users_trail_is_written_and_the_disable_event_starts_the_grace_period() {
    let p = portal().await;
    p.get_q(
        AUDIT,
        "userId",
        DORA,
        ok(paged(vec![event(
            11,
            "2026-06-10T16:45:00.0000000+02:00",
            DORA,
            "Dora",
            "File downloaded",
            5051,
            &["1234"],
        )])),
    )
    .await;
    p.get_qs(
        AUDIT,
        &[("entryType", "23"), ("target", DORA)],
        ok(paged(vec![event(
            12,
            "2026-06-12T09:00:00.0000000+02:00",
            KEY_USER,
            "Auditor",
            "Users updated status",
            4020,
            &[DORA],
        )])),
    )
    .await;

    let s = setup();
    let outcome = s.run(&p).await;

    assert!(
        outcome.warnings.iter().all(|w| !w.contains("audit trail")),
        "{:?}",
        outcome.warnings
    );
    let rows = csv(&outcome.report_dir, "audit-events.csv");
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} | {} | {} | {} | {} | {}",
                r["user_id"], r["time"], r["action"], r["actor"], r["target"], r["ip"]
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "{DORA} | 2026-06-12T07:00:00Z | Users updated status (4020) | Auditor ({KEY_USER}) | {DORA} | 192.0.2.7"
            ),
            format!(
                "{DORA} | 2026-06-10T14:45:00Z | File downloaded (5051) | Dora ({DORA}) | 1234 | 192.0.2.7"
            ),
        ]
    );
    let f = outcome
        .findings
        .iter()
        .find(|f| f.check == CheckId::DisabledUserContent)
        .unwrap();
    assert_eq!(f.status, FindingStatus::InGrace);
    // 30 days from the 4020 event, not from when the tool first saw Dora.
    assert!(
        f.detail.contains("until 2026-07-12 07:00 UTC"),
        "{}",
        f.detail
    );
}

#[tokio::test]
async fn without_the_audit_feature_the_latest_events_are_not_presented_as_history() {
    let p = portal().await;
    // The fallback: the latest 20 events, whatever the filter said.
    let latest: Vec<Value> = (0..20)
        .map(|i| {
            event(
                100 + i,
                "2026-06-14T10:00:00.0000000Z",
                BOB,
                "Bob",
                "Room created",
                5070,
                &["77"],
            )
        })
        .collect();
    p.get(AUDIT, ok(paged(latest))).await;

    let s = setup();
    let outcome = s.run(&p).await;

    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("ignored the query filters") && w.contains("marker rows")),
        "{:?}",
        outcome.warnings
    );
    let rows = csv(&outcome.report_dir, "audit-events.csv");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["user_id"], DORA);
    assert_eq!(rows[0]["time"], "");
    assert!(
        rows[0]["action"].starts_with("(audit trail unavailable"),
        "{}",
        rows[0]["action"]
    );
    assert!(rows[0]["action"].contains("not the user's history"));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(outcome.report_dir.join("run.json")).unwrap())
            .unwrap();
    assert!(
        manifest["warnings"]
            .to_string()
            .contains("ignored the query filters")
    );
    // No usable disable date: the grace period runs from first seen (now).
    let f = outcome
        .findings
        .iter()
        .find(|f| f.check == CheckId::DisabledUserContent)
        .unwrap();
    assert_eq!(f.status, FindingStatus::InGrace);
    assert!(
        f.detail.contains("until 2026-07-15 12:00 UTC"),
        "{}",
        f.detail
    );
}
