//! `/metrics` (parsed with a Prometheus text-format parser) and `/healthz`
//! on their own listener: the counters move after scheduled runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod daemon_harness;

use std::time::Duration;

use daemon_harness::*;
use prometheus_parse::{Scrape, Value};

const T: Duration = Duration::from_secs(60);

async fn scrape(client: &reqwest::Client, base: &str) -> Scrape {
    let resp = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_after_runs() {
    let portal = portal(2).await;
    // Every second from the second run on; the first scrape comes before.
    let setup = Setup::new(&portal)
        .schedule("every other second", "*/2 * * * * *")
        .metrics();
    let mut daemon = setup.start();
    let addr = daemon.listen_addr("metrics").await;
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let before = scrape(&client, &base).await;
    let runs_before = value(
        &before,
        "docspace_auditor_runs_total",
        &[("trigger", "schedule")],
    );

    let reports = setup.reports_dir();
    daemon
        .wait_until("two complete runs", T, || {
            complete_runs(&reports).len() >= 2
        })
        .await;
    // Give the run loop a moment to record the second run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = scrape(&client, &base).await;

    let runs_after = value(
        &after,
        "docspace_auditor_runs_total",
        &[("trigger", "schedule")],
    );
    assert!(
        runs_after >= runs_before + 1.0,
        "{runs_before} -> {runs_after}"
    );
    // Guests in report mode: open findings, so the runs need attention.
    assert!(
        value(
            &after,
            "docspace_auditor_runs_total",
            &[("trigger", "schedule"), ("outcome", "attention")]
        ) >= 1.0
    );
    assert!(
        value(
            &after,
            "docspace_auditor_findings_total",
            &[("check", "archived-room-guests"), ("status", "open")]
        ) >= 2.0
    );
    assert_eq!(
        value(
            &after,
            "docspace_auditor_last_run_findings",
            &[("check", "archived-room-guests"), ("status", "open")]
        ),
        2.0
    );
    assert!(
        value(
            &after,
            "docspace_auditor_api_requests_total",
            &[("status", "200")]
        ) > value(
            &before,
            "docspace_auditor_api_requests_total",
            &[("status", "200")]
        )
    );
    assert!(value(&after, "docspace_auditor_run_duration_seconds_count", &[]) >= 1.0);
    assert!(value(&after, "docspace_auditor_run_duration_seconds", &[]) >= 1.0);
    assert!(
        value(
            &after,
            "docspace_auditor_schedule_ticks_total",
            &[("result", "started")]
        ) >= 2.0
    );
    assert!(
        value(
            &after,
            "docspace_auditor_last_success_timestamp_seconds",
            &[]
        ) > 1.7e9
    );
    assert_eq!(value(&after, "docspace_auditor_ready", &[]), 1.0);

    let health: serde_json::Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ready"], true);
    assert!(health["last_successful_run"].is_string(), "{health}");

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(T).await, Some(0), "{}", daemon.logs());
}
