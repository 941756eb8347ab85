//! A benchmark-sized generated portal must serve a full archive scan
//! quickly: rooms are indexed by id, so each call costs the same whatever
//! the portal size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::Client;
use docspace_fake_portal::{FakePortal, GenerateSpec, Scenario};
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_scan_of_ten_thousand_archived_rooms() {
    let spec = GenerateSpec {
        archived_rooms: 10_000,
        active_rooms: 1_000,
        share_entries: 50_000,
        links: 10_000,
        users: 5_000,
        guests: 1_000,
    };
    let t = Instant::now();
    let scenario = Scenario::generate(spec, 7);
    let generated = t.elapsed();
    let p = FakePortal::start(scenario).await.unwrap();
    let c = Client::new(&p);

    let t = Instant::now();
    let mut ids: Vec<String> = Vec::new();
    loop {
        let start = ids.len();
        let page = c
            .get(&format!(
                "files/rooms?searchArea=1&count=100&startIndex={start}&sortBy=DateAndTimeCreation"
            ))
            .await
            .response();
        let folders = page["folders"].as_array().unwrap();
        ids.extend(folders.iter().map(|r| match &r["id"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
        if folders.is_empty() || ids.len() as i64 >= page["total"].as_i64().unwrap() {
            break;
        }
    }
    let listed = t.elapsed();
    assert_eq!(ids.len(), 10_000);

    assert!(
        ids.iter().any(|id| id.starts_with("sbox-")),
        "a few third-party rooms"
    );

    // The share list and external links of every fifth archived room, 8 at
    // a time (all 10 000 take ~35 s in a debug build; the per-room cost is
    // what matters, and it does not grow with the portal).
    let sample: Vec<String> = ids.iter().step_by(5).cloned().collect();
    let t = Instant::now();
    let mut rows = 0;
    for chunk in sample.chunks(8) {
        let mut set = JoinSet::new();
        for id in chunk {
            let (c, id) = (c.clone(), id.clone());
            set.spawn(async move {
                let share = c.get(&format!("files/rooms/{id}/share?count=100")).await;
                let links = c.get(&format!("files/rooms/{id}/links?type=1")).await;
                assert_eq!((share.status, links.status), (200, 200));
                share.json()["total"].as_i64().unwrap()
            });
        }
        while let Some(total) = set.join_next().await {
            rows += total.unwrap();
        }
    }
    let scanned = t.elapsed();
    eprintln!(
        "generate {generated:?}, list {listed:?}, share+links of 2k rooms {scanned:?}, {rows} rows"
    );
    assert!(rows >= 2_000, "every room has at least its owner row");
    assert_eq!(p.state().primary_link_calls(), 0);
    assert_eq!(p.state().total_requests(), 100 + 4_000);
    // Generous bounds for an unoptimised build on a small machine.
    assert!(listed < Duration::from_secs(20), "{listed:?}");
    assert!(scanned < Duration::from_secs(40), "{scanned:?}");
    p.shutdown().await;
}
