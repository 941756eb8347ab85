//! End to end against the stateful fake portal (`Scenario::demo`): a full
//! run with remediation is checked where it matters, in the portal's own
//! state after the run, in the CSV reports, in the messages a real SMTP
//! server on loopback received, and in the e-mails DocSpace itself would
//! have sent. Then a second run over the same portal, and a dry-run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_common;
#[path = "common/reports.rs"]
#[allow(dead_code)]
mod reports;
#[path = "common/smtp.rs"]
mod smtp;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use docspace_auditor::finding::{ActionOutcome, FindingStatus};
use docspace_fake_portal::{EmailKind, LinkKind, UserStatus};
use e2e_common::*;
use reports::{Row, actions_csv, findings_csv};
use smtp::SmtpServer;

const ALPHA_LINK: &str = "7f1c3a5e-2b4d-4c6e-8f0a-000000000001";
const BETA_PRIMARY: &str = "7f1c3a5e-2b4d-4c6e-8f0a-000000000002";
const EPSILON_LINK: &str = "7f1c3a5e-2b4d-4c6e-8f0a-000000000003";
const ZETA_LINK: &str = "7f1c3a5e-2b4d-4c6e-8f0a-000000000004";
const GAMMA_INVITE: &str = "7f1c3a5e-2b4d-4c6e-8f0a-000000000005";
const ARNE_EMAIL: &str = "arne.archivist@acme.example";
const DIETER_EMAIL: &str = "dieter.departed@acme.example";

fn has_member(members: &[(String, u8)], id: &str) -> bool {
    members.iter().any(|(m, _)| m == id)
}

/// The findings.csv row for (check, room, subject).
fn finding_row<'a>(rows: &'a [Row], check: &str, room: &str, subject: &str) -> &'a Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r["check"] == check && r["room_id"] == room && r["subject_id"] == subject)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {check} row for room {room:?} subject {subject}, got {found:#?}"
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediating_run_fixes_the_portal_reports_it_and_mails_owners_and_security() {
    let mail = SmtpServer::start();
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = auditor(
        &portal,
        dir.path(),
        &Options {
            smtp_port: Some(mail.port()),
            ..Options::default()
        },
    );

    let out = run(&auditor).await;

    // ---- the portal's state after the run -------------------------------
    let state = portal.state();
    for room in ARCHIVED_ROOMS {
        assert!(state.is_archived(room), "room {room} is not archived");
    }
    // Guests are gone from the archived rooms, except the exempt one.
    assert!(!has_member(&state.room_members("101"), GINA));
    assert!(!has_member(&state.room_members("105"), GINA));
    assert!(!has_member(&state.room_members("103"), OLGA));
    assert!(has_member(&state.room_members("102"), PAUL));
    assert!(has_member(&state.room_members("106"), PAUL));
    // Members who are not guests stay (the drift check is report-only in
    // rooms of the Archive that are not designated archive rooms).
    assert!(has_member(&state.room_members("101"), RITA));
    assert!(has_member(&state.room_members("103"), TOM));
    // Dormant external links are revoked; the primary link of a public
    // room (revoking only rotates it) and invitation links stay.
    assert!(state.room_links("101").is_empty());
    assert!(state.room_links("105").is_empty());
    assert!(state.room_links("106").is_empty());
    let beta: Vec<_> = state.room_links("102").into_iter().map(|l| l.id).collect();
    assert_eq!(beta, [BETA_PRIMARY]);
    let gamma = state.room_links("103");
    assert_eq!(gamma.len(), 1);
    assert_eq!(
        (gamma[0].id.as_str(), gamma[0].kind),
        (GAMMA_INVITE, LinkKind::Invitation)
    );
    // The orphaned guest is deleted; the guest still in an active room is not.
    assert!(state.user(OLGA).is_none());
    assert!(state.user(GINA).is_some());
    assert!(has_member(&state.room_members("203"), GINA));
    // Dieter's rooms (archived and active) went to the archive owner.
    let task = state.reassignment(DIETER).expect("a reassignment ran");
    assert_eq!(
        (task.to_user_id.as_str(), task.percentage, task.status),
        (ARNE, 100, 2)
    );
    assert_eq!(state.room("103").unwrap().owner_id, ARNE);
    assert_eq!(state.room(PHOENIX).unwrap().owner_id, ARNE);
    let dieter = state.user(DIETER).expect("the profile is kept");
    assert_eq!(dieter.status, UserStatus::Terminated);
    // The designated archive room is back in line: Rita out, HR in (read).
    let archive = state.room_members(ARCHIVE_ROOM);
    assert!(!has_member(&archive, RITA), "{archive:?}");
    assert!(archive.contains(&(HR_GROUP.to_string(), 2)), "{archive:?}");
    assert!(!state.is_archived(ARCHIVE_ROOM));
    // Links were read through the share list, never through GET …/link
    // (which creates a primary link when there is none).
    assert_eq!(state.primary_link_calls(), 0);
    assert_eq!(state.primary_link_creations(), 0);
    let fixed = assert_fixed_findings_hold(&state, &out, Some(ARNE), Some(HR_GROUP));
    assert_eq!(fixed, 10);

    // ---- findings.csv ------------------------------------------------------
    let findings = findings_csv(&out.report_dir);
    assert_eq!(findings.len(), out.findings.len());
    assert!(findings.iter().all(|r| r["run_id"] == out.run_id));
    assert!(
        !findings.iter().any(|r| r["status"] == "failed"),
        "{findings:#?}"
    );
    let expect = [
        ("archived-room-guests", "101", GINA, "fixed"),
        ("archived-room-guests", "103", OLGA, "fixed"),
        ("archived-room-guests", "105", GINA, "fixed"),
        ("archived-room-guests", "102", PAUL, "exempt"),
        ("archived-room-guests", "106", PAUL, "exempt"),
        ("archived-room-links", "101", ALPHA_LINK, "fixed"),
        ("archived-room-links", "105", EPSILON_LINK, "fixed"),
        ("archived-room-links", "106", ZETA_LINK, "fixed"),
        ("archived-room-links", "102", BETA_PRIMARY, "open"),
        ("archive-access-drift", ARCHIVE_ROOM, RITA, "fixed"),
        ("archive-access-drift", ARCHIVE_ROOM, HR_GROUP, "fixed"),
        ("disabled-user-content", "", DIETER, "fixed"),
        ("disabled-user-access", PHOENIX, DIETER, "open"),
        ("orphaned-guests", "", OLGA, "fixed"),
        ("orphaned-guests", "", PAUL, "exempt"),
    ];
    for (check, room, subject, status) in expect {
        let row = finding_row(&findings, check, room, subject);
        assert_eq!(row["status"], status, "{row:#?}");
    }
    let alpha = finding_row(&findings, "archived-room-guests", "101", GINA);
    assert_eq!(alpha["room_title"], "Client Alpha - 2024 audit");
    assert_eq!(alpha["room_state"], "archived");
    assert_eq!(alpha["owner_email"], SAM_EMAIL);
    assert_eq!(alpha["subject_email"], "gina@partner-one.example");
    let exempt = finding_row(&findings, "archived-room-guests", "102", PAUL);
    assert!(exempt["detail"].contains("LEGAL-7"), "{exempt:#?}");
    // Room 103 changed hands during the run: its findings name the owner
    // it has now.
    let gamma = finding_row(&findings, "archived-room-guests", "103", OLGA);
    assert_eq!(
        (gamma["owner_id"].as_str(), gamma["owner_email"].as_str()),
        (ARNE, ARNE_EMAIL)
    );

    // ---- actions.csv ---------------------------------------------------------
    let actions = actions_csv(&out.report_dir);
    assert_eq!(actions.len(), out.actions.len());
    assert!(
        actions
            .iter()
            .all(|a| a["dry_run"] == "no" && a["outcome"] != "failed"),
        "{actions:#?}"
    );
    let mut done: BTreeMap<&str, usize> = BTreeMap::new();
    for a in actions.iter().filter(|a| a["outcome"] == "done") {
        *done.entry(a["action"].as_str()).or_default() += 1;
    }
    assert_eq!(
        done,
        BTreeMap::from([
            ("unarchive", 4),
            ("re-archive", 4),
            ("remove-member", 4),
            ("revoke-link", 3),
            ("add-member", 1),
            ("reassign-start", 1),
            ("reassign-progress", 1),
            ("reassign-finish", 1),
            ("reassign-verify", 1),
            ("disable-guest", 1),
            ("delete-guest", 1),
        ]),
        "{actions:#?}"
    );
    // Every change is read back.
    for a in &actions {
        let change = matches!(
            a["action"].as_str(),
            "unarchive"
                | "re-archive"
                | "remove-member"
                | "revoke-link"
                | "add-member"
                | "reassign-verify"
                | "delete-guest"
        );
        if change {
            assert_eq!(a["verified"], "yes", "{a:#?}");
        }
    }
    let revoke = actions
        .iter()
        .find(|a| a["action"] == "revoke-link" && a["room_id"] == "101")
        .unwrap();
    assert_eq!(revoke["check"], "archived-room-links");
    assert!(revoke["subject"].contains(ALPHA_LINK), "{revoke:#?}");
    // A room's transaction is unarchive, changes, re-archive, in that order.
    let order: Vec<&str> = actions
        .iter()
        .filter(|a| a["room_id"] == "105")
        .map(|a| a["action"].as_str())
        .collect();
    assert_eq!(order.first(), Some(&"unarchive"));
    assert_eq!(order.last(), Some(&"re-archive"));
    assert_eq!(order.len(), 4, "{order:?}");

    // ---- the e-mails DocSpace itself sent ---------------------------------------
    // Re-archiving mails every member of the room "Room moved to archive":
    // the cost of each unarchive/re-archive transaction, counted here.
    let notices: BTreeSet<(String, String)> = portal
        .emails()
        .into_iter()
        .map(|e| {
            assert_eq!(e.kind, EmailKind::RoomMovedToArchive);
            (e.room_id, e.to_user_id)
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("101", SAM),
        ("101", RITA),
        ("103", DIETER),
        ("103", TOM),
        ("105", SAM),
        ("106", ADA),
        ("106", PAUL),
    ]
    .iter()
    .map(|(r, u)| (r.to_string(), u.to_string()))
    .collect();
    assert_eq!(notices, expected);
    assert_eq!(portal.emails().len(), 7, "one notice per member and room");

    // ---- the messages the SMTP server received --------------------------------
    let messages = mail.wait_for(4, Duration::from_secs(5));
    let mut recipients: Vec<String> = messages
        .iter()
        .flat_map(|m| m.rcpt_to.iter().cloned())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [ADA_EMAIL, ARNE_EMAIL, SAM_EMAIL, SECURITY],
        "one digest per owner who can be mailed, one summary"
    );
    assert!(mail.messages_to(DIETER_EMAIL).is_empty());
    assert!(mail.messages_to(FALLBACK).is_empty());
    for m in &messages {
        assert_eq!(m.mail_from, "docspace-auditor@acme.example");
        assert_eq!(m.to_header(), m.rcpt_to, "{}", m.header_block());
        assert!(!m.subject().is_empty());
        let text = m.text();
        // Credentials never travel by mail.
        assert!(!text.contains("alpha-2024"), "{text}");
        assert!(!text.contains(&portal.token()));
    }
    let digest = |to: &str| {
        let m = mail.messages_to(to);
        assert_eq!(m.len(), 1, "{to}");
        assert!(m[0].attachment_names().is_empty(), "{to}");
        m[0].text()
    };
    let sam = digest(SAM_EMAIL);
    for title in ["Client Alpha - 2024 audit", "Client Epsilon support"] {
        assert!(sam.contains(title), "{sam}");
    }
    assert!(!sam.contains("Client Beta onboarding"), "{sam}");
    let ada = digest(ADA_EMAIL);
    for title in ["Client Beta onboarding", "Client Zeta pitch"] {
        assert!(ada.contains(title), "{ada}");
    }
    let arne = digest(ARNE_EMAIL);
    for title in [
        "Client Gamma contract",
        "Client Delta - closed",
        "Offboarding archive",
        "Project Phoenix",
    ] {
        assert!(arne.contains(title), "{arne}");
    }
    let summary = &mail.messages_to(SECURITY)[0];
    assert!(
        summary.subject().contains(&out.run_id),
        "{}",
        summary.subject()
    );
    let mut attached = summary.attachment_names();
    attached.sort();
    assert_eq!(attached, ["actions.csv", "findings.csv"]);
    for name in ["findings.csv", "actions.csv"] {
        assert_eq!(
            summary.attachment(name).unwrap(),
            std::fs::read(out.report_dir.join(name)).unwrap(),
            "{name} attached as written"
        );
    }
    portal.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_changes_nothing_and_mails_only_the_security_summary() {
    let mail = SmtpServer::start();
    let portal = demo_portal().await;
    let dir = tempfile::tempdir().unwrap();
    let auditor = auditor(
        &portal,
        dir.path(),
        &Options {
            smtp_port: Some(mail.port()),
            ..Options::default()
        },
    );
    let first = run(&auditor).await;
    let mailed = mail.wait_for(4, Duration::from_secs(5)).len();
    assert_eq!(mailed, 4);
    let notices = portal.emails().len();
    portal.clear_requests();

    let second = run(&auditor).await;

    // Nothing to change: not one write.
    let writes = portal.writes();
    assert!(writes.is_empty(), "{writes:#?}");
    assert!(
        second
            .actions
            .iter()
            .all(|a| a.outcome != ActionOutcome::Done),
        "{:#?}",
        second.actions
    );
    assert!(
        actions_csv(&second.report_dir)
            .iter()
            .all(|a| a["outcome"] != "done")
    );
    assert_eq!(portal.emails().len(), notices, "no room was re-archived");
    // Nothing new: what remains was there before, with the same status
    // (exempt, or open because it cannot or may not be remediated).
    let before: BTreeMap<String, FindingStatus> =
        first.findings.iter().map(|f| (f.key(), f.status)).collect();
    assert!(!second.findings.is_empty());
    for f in &second.findings {
        assert!(
            matches!(f.status, FindingStatus::Open | FindingStatus::Exempt),
            "{f:?}"
        );
        assert_eq!(
            before.get(&f.key()),
            Some(&f.status),
            "new or changed: {f:?}"
        );
    }
    assert_eq!(
        second.rooms_audited, first.rooms_audited,
        "the same rooms are audited"
    );
    // The only message is the security team's summary of this run.
    std::thread::sleep(Duration::from_millis(200));
    let messages = mail.messages();
    let new: Vec<_> = messages[mailed..].to_vec();
    assert_eq!(
        new.len(),
        1,
        "{:#?}",
        new.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert_eq!(new[0].rcpt_to, [SECURITY]);
    assert!(
        new[0].subject().contains(&second.run_id),
        "{}",
        new[0].subject()
    );
    let mut attached = new[0].attachment_names();
    attached.sort();
    assert_eq!(attached, ["actions.csv", "findings.csv"]);
    portal.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_over_the_demo_portal_writes_nothing() {
    let portal = demo_portal().await;
    let before = portal.state();
    let dir = tempfile::tempdir().unwrap();
    let auditor = auditor(
        &portal,
        dir.path(),
        &Options {
            dry_run: true,
            ..Options::default()
        },
    );

    let out = run(&auditor).await;

    let writes = portal.writes();
    assert!(writes.is_empty(), "{writes:#?}");
    assert!(out.dry_run);
    assert_eq!(portal.emails().len(), 0);
    assert_eq!(portal.state().primary_link_calls(), 0);
    // The portal is as it was.
    let after = portal.state();
    for room in before.rooms() {
        assert_eq!(
            after.room(&room.id).as_ref(),
            Some(room),
            "room {}",
            room.id
        );
    }
    assert!(after.user(OLGA).is_some());
    assert!(after.reassignment(DIETER).is_none());
    // What would have been done is planned, and the findings stay open.
    assert!(
        !out.findings
            .iter()
            .any(|f| f.status == FindingStatus::Fixed)
    );
    assert!(
        out.actions
            .iter()
            .all(|a| a.dry_run && a.outcome == ActionOutcome::Planned),
        "{:#?}",
        out.actions
    );
    let planned: BTreeSet<&str> = out.actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        planned,
        BTreeSet::from([
            "add-member",
            "delete-guest",
            "reassign-start",
            "remove-member",
            "revoke-link"
        ])
    );
    let findings = findings_csv(&out.report_dir);
    let gina = finding_row(&findings, "archived-room-guests", "101", GINA);
    assert_eq!(gina["status"], "open");
    let actions = actions_csv(&out.report_dir);
    assert!(!actions.is_empty());
    assert!(
        actions
            .iter()
            .all(|a| a["dry_run"] == "yes" && a["outcome"] == "planned" && a["verified"] == "no")
    );
    portal.shutdown().await;
}
