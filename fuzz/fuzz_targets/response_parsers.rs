//! Fuzzes the DocSpace response parsers: any bytes go through
//! `serde_json::from_slice::<Envelope<…>>` for every wire type the client
//! reads, and what the checks and reports derive from a parsed value is
//! computed too. A panic is a bug; a parse error is not.
#![no_main]

use docspace_auditor::api::wire::{
    AuditEvent, Envelope, FileOperation, FolderContent, Listed, Room, RoomSecurity, ShareRow,
    TaskProgress, User,
};
use docspace_auditor::check::classify::{access_label, classify};
use docspace_auditor::report::safe::{cell, one_line};
use libfuzzer_sys::fuzz_target;

fn share_row(r: &ShareRow) {
    let _ = format!("{:?}", classify(r));
    let _ = access_label(r);
    if let Some(u) = &r.shared_to_user {
        user(u);
    }
}

fn user(u: &User) {
    let _ = (u.name(), u.employee_type(), u.is_active(), u.id.is_well_formed());
    let _ = cell(&u.name());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = serde_json::from_slice::<Envelope<Vec<ShareRow>>>(data) {
        e.response.unwrap_or_default().iter().for_each(share_row);
    }
    if let Ok(Some(r)) = serde_json::from_slice::<Envelope<ShareRow>>(data).map(|e| e.response) {
        share_row(&r);
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<FolderContent>>(data) {
        for entry in e.response.map(|c| c.folders).unwrap_or_default() {
            match entry {
                Listed::Item(r) => {
                    let _ = (cell(r.title()), r.is_archived(), r.id.as_path_segment());
                }
                Listed::Unreadable(bad) => {
                    let _ = (cell(&bad.error), bad.id.as_deref().map(cell));
                }
            }
        }
    }
    if let Ok(Some(r)) = serde_json::from_slice::<Envelope<Room>>(data).map(|e| e.response) {
        let _ = (r.title(), r.is_archived(), r.owner_id());
    }
    if let Ok(Some(u)) = serde_json::from_slice::<Envelope<User>>(data).map(|e| e.response) {
        user(&u);
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<Vec<User>>>(data) {
        e.response.unwrap_or_default().iter().for_each(user);
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<RoomSecurity>>(data) {
        for r in e.response.and_then(|s| s.members).unwrap_or_default() {
            share_row(&r);
        }
    }
    let _ = serde_json::from_slice::<Envelope<FileOperation>>(data);
    let _ = serde_json::from_slice::<Envelope<Vec<FileOperation>>>(data);
    let _ = serde_json::from_slice::<Envelope<TaskProgress>>(data);
    if let Ok(e) = serde_json::from_slice::<Envelope<Vec<AuditEvent>>>(data) {
        for ev in e.response.unwrap_or_default() {
            ev.targets().iter().for_each(|t| drop(one_line(t, 100)));
        }
    }
    if let Ok(e) = serde_json::from_slice::<Envelope<serde_json::Value>>(data) {
        let _ = e.error.and_then(|e| e.message).map(|m| docspace_auditor::api::clip(&m, 300));
    }
});
