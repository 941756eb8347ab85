//! DocSpace webhook deliveries, in the real shape (API-NOTES §11), to the
//! daemon binary: a signed `room.archived` triggers an audit of that room in
//! a report folder of its own; lowercase hex passes too; bad or missing
//! signatures get 401 and no audit; a repeated `event.id` (DocSpace's
//! automatic retry, with a new body and signature) is processed once, also
//! after a restart; the `room.archived` caused by the auditor's own
//! re-archive is ignored; a `user.updated` to disabled runs the offboarding
//! checks for that user only; oversized bodies get 413 and malformed ones
//! 400; nothing is ever answered with 410.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod daemon_harness;

use std::time::Duration;

use chrono::Utc;
use daemon_harness::*;
use docspace_auditor::webhook::{SIGNATURE_HEADER, signature_header_value};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

fn date(t: chrono::DateTime<Utc>) -> String {
    // .NET writes seven fractional digits.
    use chrono::Timelike;
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

/// A delivery body as `WebhookSender` posts it.
fn delivery(
    event_id: i64,
    trigger: &str,
    trigger_id: i64,
    actor: &str,
    payload: Value,
    retry: u32,
) -> String {
    let now = Utc::now();
    let mut webhook = json!({
        "id": 3,
        "name": "docspace-auditor",
        "url": "https://auditor.example/hooks/docspace",
        "triggers": ["room.archived", "room.restored", "user.updated"],
    });
    if retry > 0 {
        webhook["retryCount"] = json!(retry);
        webhook["retryOn"] = json!(date(now));
        webhook["lastFailureOn"] = json!(date(now - chrono::Duration::seconds(2)));
        webhook["lastFailureContent"] = json!("The operation was canceled.");
    }
    json!({
        "event": {
            "id": event_id,
            "createOn": date(now),
            "createBy": actor,
            "trigger": trigger,
            "triggerId": trigger_id,
        },
        "payload": payload,
        "webhook": webhook,
    })
    .to_string()
}

/// The `Folder<int>` entity of an archived room (defaults omitted).
fn room_payload(id: i64, title: &str) -> Value {
    let now = date(Utc::now());
    json!({
        "id": id,
        "parentId": 2,
        "rootId": 2,
        "title": title,
        "folderType": 19,
        "rootFolderType": 20,
        "createBy": OWNER,
        "createOn": "2026-01-10T08:00:00.0000000Z",
        "modifiedBy": KEY_USER,
        "modifiedOn": now,
        "fileEntryType": 1,
    })
}

fn room_archived(event_id: i64, room: i64, actor: &str, retry: u32) -> String {
    delivery(
        event_id,
        "room.archived",
        16_777_216,
        actor,
        room_payload(room, &format!("Project {}", room - 100)),
        retry,
    )
}

struct Hook {
    url: String,
    client: reqwest::Client,
}

impl Hook {
    async fn post(&self, body: impl Into<Vec<u8>>, signature: Option<String>) -> (u16, String) {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("accept", "*/*")
            .body(body.into());
        if let Some(s) = signature {
            req = req.header(SIGNATURE_HEADER, s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        assert_ne!(status, 410, "410 would delete the webhook in DocSpace");
        (status, resp.text().await.unwrap_or_default())
    }

    async fn signed(&self, body: &str) -> (u16, String) {
        self.post(
            body.to_string(),
            Some(signature_header_value(SECRET.as_bytes(), body.as_bytes())),
        )
        .await
    }
}

async fn hook(daemon: &mut Daemon) -> Hook {
    let addr = daemon.listen_addr("webhook").await;
    Hook {
        url: format!("http://{addr}/hooks/docspace"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    }
}

fn webhook_runs(setup: &Setup, room: i64) -> Vec<String> {
    complete_runs(&setup.reports_dir())
        .into_iter()
        .filter(|n| n.ends_with(&format!("-webhook-room-{room}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_room_archived_triggers_a_targeted_audit_once_and_own_re_archive_is_ignored() {
    let portal = portal(3).await;
    let setup = Setup::new(&portal).remediate().webhook();
    let mut daemon = setup.start();
    let hook = hook(&mut daemon).await;

    // Uppercase hex, as DocSpace sends it; archived by another admin.
    let body = room_archived(4711, 101, OTHER_ADMIN, 0);
    let sig = signature_header_value(SECRET.as_bytes(), body.as_bytes());
    assert!(
        sig[7..]
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    let (status, text) = hook.post(body, Some(sig)).await;
    assert_eq!(status, 202, "{text}");

    daemon
        .wait_until("the webhook run of room 101", T, || {
            webhook_runs(&setup, 101).len() == 1
        })
        .await;
    let run = &webhook_runs(&setup, 101)[0];
    let findings =
        std::fs::read_to_string(setup.reports_dir().join(run).join("findings.csv")).unwrap();
    assert!(findings.contains(&guest_id(1)), "{findings}");
    assert!(
        !findings.contains(&guest_id(2)) && !findings.contains(&guest_id(3)),
        "not targeted:\n{findings}"
    );
    // Remediated: the guest is gone and the room is back in the Archive;
    // the other rooms were not touched.
    let view = portal.state();
    assert!(view.is_archived("101"));
    assert!(
        !view
            .room_members("101")
            .iter()
            .any(|(id, _)| id == &guest_id(1))
    );
    assert!(
        view.room_members("102")
            .iter()
            .any(|(id, _)| id == &guest_id(2))
    );

    // DocSpace's automatic retry: same event id, new body and signature.
    let (status, text) = hook.signed(&room_archived(4711, 101, OTHER_ADMIN, 1)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("duplicate"), "{text}");

    // The room.archived caused by the auditor's own re-archive (actor: the
    // key's user, just after the journaled move) is ignored.
    let (status, text) = hook.signed(&room_archived(4712, 101, KEY_USER, 0)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("own-event"), "{text}");
    // So is the room.restored of its unarchive.
    let restored = delivery(
        4713,
        "room.restored",
        67_108_864,
        KEY_USER,
        room_payload(101, "Project 1"),
        0,
    );
    assert_eq!(hook.signed(&restored).await.0, 200);

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(webhook_runs(&setup, 101).len(), 1, "{}", daemon.logs());
    assert!(
        daemon
            .logs()
            .contains("caused by the auditor's own unarchive/re-archive")
    );

    // After a restart the event id is still known.
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
    let mut daemon = setup.start();
    let hook = self::hook(&mut daemon).await;
    let (status, text) = hook.signed(&room_archived(4711, 101, OTHER_ADMIN, 2)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("duplicate"), "{text}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(webhook_runs(&setup, 101).len(), 1);
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
    assert!(temp_files(setup.dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowercase_hex_passes_and_bad_signatures_get_401_without_an_audit() {
    let portal = portal(3).await;
    let setup = Setup::new(&portal).webhook();
    let mut daemon = setup.start();
    let hook = hook(&mut daemon).await;

    // Wrong secret, missing header, garbage header: 401, nothing queued.
    let body = room_archived(5001, 103, OTHER_ADMIN, 0);
    let wrong = signature_header_value(b"not-the-secret", body.as_bytes());
    assert_eq!(hook.post(body.clone(), Some(wrong)).await.0, 401);
    assert_eq!(hook.post(body.clone(), None).await.0, 401);
    assert_eq!(
        hook.post(body.clone(), Some("sha256=xyz".into())).await.0,
        401
    );
    // A signature of another body.
    let other = signature_header_value(SECRET.as_bytes(), b"{}");
    assert_eq!(hook.post(body.clone(), Some(other)).await.0, 401);

    // Lowercase hex passes.
    let body = room_archived(5002, 102, OTHER_ADMIN, 0);
    let sig = signature_header_value(SECRET.as_bytes(), body.as_bytes()).to_ascii_lowercase();
    let (status, text) = hook.post(body, Some(sig)).await;
    assert_eq!(status, 202, "{text}");
    daemon
        .wait_until("the webhook run of room 102", T, || {
            webhook_runs(&setup, 102).len() == 1
        })
        .await;

    // The refused delivery for room 103 never ran, even though 5001 was
    // never recorded as seen.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(webhook_runs(&setup, 103).is_empty());
    let log = daemon.logs();
    assert_eq!(
        log.matches("webhook delivery refused: bad signature")
            .count(),
        4,
        "{log}"
    );

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_deliveries_are_refused() {
    let portal = portal(1).await;
    let setup = Setup::new(&portal).webhook().metrics();
    let mut daemon = setup.start();
    let hook = hook(&mut daemon).await;

    // 10 MB, even correctly signed.
    let big = format!(
        "{{\"event\":{{\"id\":6001,\"trigger\":\"room.archived\"}},\"payload\":{{\"title\":\"{}\"}}}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let sig = signature_header_value(SECRET.as_bytes(), big.as_bytes());
    let (status, _) = hook.post(big, Some(sig)).await;
    assert_eq!(status, 413);

    // Signed but not a delivery.
    for body in [
        "not json",
        "{\"event\":{\"trigger\":\"room.archived\"}}",
        "[]",
    ] {
        let (status, text) = hook.signed(body).await;
        assert_eq!(status, 400, "{body}: {text}");
    }
    // A trigger the auditor does not act on: accepted, ignored.
    let created = delivery(
        6002,
        "room.created",
        4_194_304,
        OTHER_ADMIN,
        room_payload(101, "Project 1"),
        0,
    );
    let (status, text) = hook.signed(&created).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("ignored"), "{text}");

    // The metrics share the webhook listener (same address configured).
    let metrics = hook
        .client
        .get(hook.url.replace("/hooks/docspace", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("docspace_auditor_webhook_deliveries_total{result=\"too-large\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("docspace_auditor_webhook_deliveries_total{result=\"malformed\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("docspace_auditor_webhook_deliveries_total{result=\"ignored\"} 1"),
        "{metrics}"
    );

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
    assert!(complete_runs(&setup.reports_dir()).is_empty());
}

/// A `user.updated` payload: the `UserInfo` entity as the server sends it
/// (status 2 = Terminated).
fn user_updated(event_id: i64, user: &str, status: i64) -> String {
    delivery(
        event_id,
        "user.updated",
        4, // user.updated (API-NOTES §11)
        OTHER_ADMIN,
        json!({
            "id": user,
            "firstName": "Dieter",
            "lastName": "Leaver",
            "email": "dieter@company.example",
            "status": status,
            "activationStatus": 1,
        }),
        0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_user_updated_to_disabled_runs_the_offboarding_checks_for_that_user() {
    const DIETER: &str = "0f8b5c1e-0000-4000-8000-000000000404";
    const OTHER_LEAVER: &str = "0f8b5c1e-0000-4000-8000-000000000405";
    let mut scenario = scenario(1);
    let created = Utc::now() - chrono::Duration::days(30);
    for (id, name) in [(DIETER, "Dieter"), (OTHER_LEAVER, "Lena")] {
        scenario.users.push(
            docspace_fake_portal::UserSpec::new(
                id,
                name,
                "Leaver",
                &format!("{}@company.example", name.to_lowercase()),
                docspace_fake_portal::UserKind::RoomAdmin,
            )
            .terminated(Some(created)),
        );
    }
    // Both leavers are still members of active rooms.
    for (room, who) in [(301, DIETER), (302, OTHER_LEAVER)] {
        scenario.rooms.push(
            docspace_fake_portal::RoomSpec::new(
                room,
                &format!("Live {room}"),
                docspace_fake_portal::RoomKind::Custom,
                OWNER,
                created,
            )
            .share(who, 2),
        );
    }
    let portal = docspace_fake_portal::FakePortal::start(scenario)
        .await
        .unwrap();
    let mut setup = Setup::new(&portal).webhook();
    setup.disabled_access_mode = "report";
    let mut daemon = setup.start();
    let hook = hook(&mut daemon).await;

    // Re-enabled or merely renamed users need no audit.
    let (status, text) = hook.signed(&user_updated(7001, DIETER, 1)).await;
    assert_eq!(status, 200, "{text}");

    let (status, text) = hook.signed(&user_updated(7002, DIETER, 2)).await;
    assert_eq!(status, 202, "{text}");
    let label = format!("-webhook-user-{}", &DIETER[..8]);
    let runs = || -> Vec<String> {
        complete_runs(&setup.reports_dir())
            .into_iter()
            .filter(|n| n.ends_with(&label))
            .collect()
    };
    daemon
        .wait_until("the webhook run for the disabled user", T, || {
            runs().len() == 1
        })
        .await;
    let findings =
        std::fs::read_to_string(setup.reports_dir().join(&runs()[0]).join("findings.csv")).unwrap();
    // The user's own finding, and nobody else's: no room scan, no other leaver.
    assert!(
        findings
            .lines()
            .any(|l| l.contains("disabled-user-access") && l.contains(DIETER)),
        "{findings}"
    );
    assert!(
        !findings.contains(OTHER_LEAVER),
        "not targeted:\n{findings}"
    );
    assert!(
        !findings.contains(&guest_id(1)),
        "no room scan:\n{findings}"
    );
    // The status-1 event started nothing.
    assert_eq!(complete_runs(&setup.reports_dir()).len(), 1);

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
}
