//! Fault matrix, row 1: the process is killed (SIGKILL) in the middle of a
//! remediating run. The fake portal runs in the test process, slowed down
//! by latency; the auditor runs as the real binary in a child process and
//! is killed once the portal's state shows a given write took effect. The
//! next run must then: mark the killed run `incomplete` (its CSVs absent or
//! complete, no temporary files), never apply a change twice, report every
//! change that was made (in the killed run's report or as `recover-*` rows
//! of the next one), put every room back into the Archive, and deliver the
//! mail that was not sent, once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docspace_fake_portal::{FakePortal, Faults};
use fault_common::reports::{Row, read_csv};
use fault_common::smtp::SmtpServer;
use fault_common::*;

const ROOMS: u32 = 3;
const T: Duration = Duration::from_secs(60);

/// Where the first run is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Room 101 has just left the Archive.
    FirstUnarchive,
    /// Room 101's guest has just been removed (its link was revoked before).
    FirstShareChange,
    /// Room 101 is done and back in the Archive; room 102 has just left it.
    SecondRoom,
}

impl KillAt {
    fn reached(self, portal: &FakePortal) -> bool {
        let s = portal.state();
        let guest_gone = |n: u32| {
            !s.room_members(&room_id(n))
                .iter()
                .any(|(id, _)| id == &guest_id(n))
        };
        match self {
            KillAt::FirstUnarchive => !s.is_archived(&room_id(1)),
            KillAt::FirstShareChange => guest_gone(1),
            KillAt::SecondRoom => s.is_archived(&room_id(1)) && !s.is_archived(&room_id(2)),
        }
    }
}

/// The PUT requests of one route template, e.g. `share`, by room.
fn puts(portal: &FakePortal, verb: &str) -> Vec<(String, serde_json::Value)> {
    let template = format!("/api/2.0/files/rooms/{{id}}/{verb}");
    portal
        .writes()
        .into_iter()
        .filter(|w| w.method == "PUT" && w.template == template)
        .map(|w| {
            let room = w.path.split('/').nth(5).unwrap_or_default().to_string();
            (room, w.json())
        })
        .collect()
}

fn actions_of(dirs: &[PathBuf]) -> Vec<Row> {
    dirs.iter()
        .filter(|d| d.join("actions.csv").exists())
        .flat_map(|d| read_csv(&d.join("actions.csv")))
        .collect()
}

fn reported(rows: &[Row], room: &str, subject: &str, actions: &[&str]) -> usize {
    rows.iter()
        .filter(|r| r["room_id"] == room)
        .filter(|r| r["subject"].contains(subject))
        .filter(|r| actions.contains(&r["action"].as_str()))
        .filter(|r| r["outcome"] == "done")
        .count()
}

async fn kill_and_recover(at: KillAt) {
    let portal = FakePortal::start(scenario(ROOMS)).await.unwrap();
    // Slow enough that the kill lands where it is aimed.
    portal.set_faults(Faults {
        latency_ms: 40,
        ..Faults::none()
    });
    let setup = Setup::for_portal(&portal).mail(Mail::Outbox);
    let mut child = setup.spawn_run("info");
    wait_until(&format!("{at:?}"), T, || at.reached(&portal)).await;
    child.kill().unwrap();
    let killed = child.wait_with_output().unwrap();
    assert!(killed.status.code().is_none(), "killed by a signal");

    // The killed run: visibly incomplete once the next run looked at it.
    portal.set_faults(Faults::none());
    let reports = setup.reports_dir();
    let before = run_dirs(&reports);
    assert_eq!(before.len(), 1);
    let killed_dir = before[0].clone();
    assert_eq!(status(&killed_dir), "running");
    let ran = setup.run_bin("info").await;
    assert!(
        matches!(ran.code, Some(0 | 3)),
        "second run: {ran:?}\n{}",
        setup.toml()
    );
    // Run ids of one second sort by their random suffix: order by hand.
    let mut dirs = run_dirs(&reports);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    dirs.sort_by_key(|d| *d != killed_dir);
    assert_eq!(status(&killed_dir), "incomplete");
    assert_eq!(status(&dirs[1]), "complete");
    // Never silently truncated: a CSV of the killed run is complete or absent.
    for name in ["findings.csv", "actions.csv"] {
        let p = killed_dir.join(name);
        assert!(
            !p.exists()
                || csv::Reader::from_path(&p)
                    .unwrap()
                    .records()
                    .all(|r| r.is_ok())
        );
    }
    assert!(temp_files(setup.dir.path()).is_empty());

    // Everything is back in the Archive, every guest and link gone, and the
    // state store holds nothing open.
    let view = portal.state();
    for n in 1..=ROOMS {
        assert!(
            view.is_archived(&room_id(n)),
            "room {} archived",
            room_id(n)
        );
        assert!(
            !view
                .room_members(&room_id(n))
                .iter()
                .any(|(id, _)| id == &guest_id(n))
        );
        assert!(view.room_links(&room_id(n)).is_empty());
    }
    let state = setup.state_path();
    assert!(state_rows(&state, "SELECT room_id FROM archive_transactions").is_empty());
    assert!(state_rows(&state, "SELECT id FROM journal WHERE completed_at IS NULL").is_empty());
    let killed_id = killed_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert_eq!(
        state_rows(
            &state,
            &format!("SELECT status FROM runs WHERE run_id = '{killed_id}'")
        ),
        vec![vec!["incomplete".to_string()]]
    );

    // No change applied twice: one removal per guest, one revocation per
    // link, across both runs.
    let mut removals: BTreeMap<String, usize> = BTreeMap::new();
    for (room, body) in puts(&portal, "share") {
        for inv in body["invitations"].as_array().unwrap() {
            assert_eq!(inv["access"], 0, "only removals");
            *removals
                .entry(format!("{room}/{}", inv["id"].as_str().unwrap()))
                .or_default() += 1;
        }
    }
    let mut revocations: BTreeMap<String, usize> = BTreeMap::new();
    for (room, body) in puts(&portal, "links") {
        *revocations
            .entry(format!("{room}/{}", body["linkId"].as_str().unwrap()))
            .or_default() += 1;
    }
    for n in 1..=ROOMS {
        assert_eq!(
            removals.get(&format!("{}/{}", room_id(n), guest_id(n))),
            Some(&1),
            "{removals:?}"
        );
        assert_eq!(
            revocations.get(&format!("{}/{}", room_id(n), link_id(n))),
            Some(&1),
            "{revocations:?}"
        );
    }

    // Every change that was made is in a report: the killed run's own
    // (never written here) or `recover-*` rows of the next one.
    let rows = actions_of(&dirs);
    for n in 1..=ROOMS {
        let room = room_id(n);
        assert_eq!(
            reported(
                &rows,
                &room,
                &guest_id(n),
                &["remove-member", "recover-remove-member"]
            ),
            1,
            "removal of guest {n}: {rows:#?}"
        );
        assert_eq!(
            reported(
                &rows,
                &room,
                &link_id(n),
                &["revoke-link", "recover-revoke-link"]
            ),
            1,
            "revocation of link {n}: {rows:#?}"
        );
        let unarchives = puts(&portal, "unarchive")
            .iter()
            .filter(|(r, _)| r == &room)
            .count();
        assert_eq!(
            reported(&rows, &room, "room:", &["unarchive", "recover-unarchive"]),
            unarchives,
            "unarchives of room {room}: {rows:#?}"
        );
        let archives = puts(&portal, "archive")
            .iter()
            .filter(|(r, _)| r == &room)
            .count();
        assert!(
            reported(
                &rows,
                &room,
                "room:",
                &[
                    "re-archive",
                    "recover-re-archive",
                    "recover-verify-archived"
                ]
            ) >= archives.min(1),
            "re-archive of room {room}: {rows:#?}"
        );
    }
    let recovered: Vec<&Row> = rows
        .iter()
        .filter(|r| r["action"].starts_with("recover-"))
        .collect();
    assert!(!recovered.is_empty(), "{rows:#?}");
    for r in &recovered {
        assert!(r["error"].contains(&killed_id), "{r:?}");
    }

    // Mail: the killed run queued none; the next one mailed its findings
    // once (the owner's digest and the summary).
    let outbox: Vec<PathBuf> = std::fs::read_dir(setup.outbox_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!outbox.is_empty());
    let second_id = dirs[1].file_name().unwrap().to_string_lossy().to_string();
    for p in &outbox {
        let raw = std::fs::read_to_string(p).unwrap();
        assert!(
            !raw.contains(&killed_id) || raw.contains(&second_id),
            "{raw}"
        );
    }
    let before = outbox.len();
    let again = setup.run_bin("info").await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        std::fs::read_dir(setup.outbox_dir()).unwrap().count() <= before + 1,
        "a quiet third run sends at most its summary"
    );
    portal.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_the_first_unarchive() {
    kill_and_recover(KillAt::FirstUnarchive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_the_first_share_change() {
    kill_and_recover(KillAt::FirstShareChange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_a_finished_room_still_reports_its_changes() {
    kill_and_recover(KillAt::SecondRoom).await;
}

/// A TCP port that accepts connections and never answers: an SMTP server
/// that hangs in the greeting.
struct BlackHole {
    port: u16,
    accepted: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl BlackHole {
    fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let keep = accepted.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                keep.lock().unwrap().push(s);
            }
        });
        BlackHole { port, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_mailing_the_next_run_delivers_each_message_once() {
    let portal = FakePortal::start(scenario(2)).await.unwrap();
    let hole = BlackHole::start();
    let mut setup = Setup::for_portal(&portal).mail(Mail::Plain {
        port: hole.port,
        timeout_secs: 60,
    });
    let mut child = setup.spawn_run("info");
    let reports = setup.reports_dir();
    wait_until("the report and a connection to the mail server", T, || {
        hole.connections() > 0
            && run_dirs(&reports)
                .last()
                .is_some_and(|d| d.join("run.json").exists() && status(d) == "complete")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let state = setup.state_path();
    let queued: Vec<String> = state_rows(
        &state,
        "SELECT message_id FROM notify_queue WHERE sent_at IS NULL ORDER BY id",
    )
    .into_iter()
    .flatten()
    .collect();
    assert!(queued.len() >= 2, "digest and summary queued: {queued:?}");

    // The next run, with a working server: the queue goes out, each
    // message once, and a third run sends none of them again.
    let server = SmtpServer::start();
    setup.mail = Mail::Plain {
        port: server.port(),
        timeout_secs: 10,
    };
    let ran = setup.run_bin("info").await;
    assert!(matches!(ran.code, Some(0 | 3)), "{ran:?}");
    let count = |id: &str| {
        server
            .messages()
            .iter()
            .filter(|m| String::from_utf8_lossy(&m.raw).contains(id))
            .count()
    };
    server.wait_for(queued.len(), Duration::from_secs(10));
    for id in &queued {
        assert_eq!(count(id), 1, "message {id}");
    }
    let ran = setup.run_bin("info").await;
    assert!(matches!(ran.code, Some(0 | 3)), "{ran:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for id in &queued {
        assert_eq!(count(id), 1, "message {id} after a third run");
    }
    assert!(
        state_rows(
            &state,
            "SELECT message_id FROM notify_queue WHERE sent_at IS NULL"
        )
        .is_empty()
    );
    portal.shutdown().await;
}
