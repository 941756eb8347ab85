//! End to end against the stateful fake portal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/smtp.rs"]
mod smtp;
mod e2e_common;
#[path = "common/reports.rs"]
mod reports;

use e2e_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore() {
    let smtp = smtp::SmtpServer::start();
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let a = auditor(&portal, dir.path(), &Options { smtp_port: Some(smtp.port()), ..Options::default() });
    let t = std::time::Instant::now();
    let o = run(&a).await;
    eprintln!("elapsed {:?}", t.elapsed());
    for f in &o.findings { eprintln!("F {} {:?} {} {} {:?}", f.check.name(), f.room.as_ref().map(|r| r.id.to_string()), f.subject.id, f.status.as_str(), f.detail); }
    for x in &o.actions { eprintln!("A {:?}", x); }
    eprintln!("warnings {:?}", o.warnings);
    for m in smtp.messages() { eprintln!("M {:?} {} {:?}", m.rcpt_to, m.subject(), m.attachment_names()); }
    eprintln!("emails {:?}", portal.emails());
    for w in portal.writes() { eprintln!("W {} {} {}", w.method, w.path, w.body); }
    portal.clear_requests();
    let o2 = run(&a).await;
    for f in &o2.findings { eprintln!("F2 {} {:?} {} {} {:?}", f.check.name(), f.room.as_ref().map(|r| r.id.to_string()), f.subject.id, f.status.as_str(), f.detail); }
    for x in &o2.actions { eprintln!("A2 {:?}", x); }
    for w in portal.writes() { eprintln!("W2 {} {} {}", w.method, w.path, w.body); }
    for m in smtp.messages() { eprintln!("M {:?} {} {:?}", m.rcpt_to, m.subject(), m.attachment_names()); }
}
