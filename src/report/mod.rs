//! Reports: one folder per run, `reports/<run-id>/`, holding `run.json`
//! (status and counts), `findings.csv`, `actions.csv` and, when offboarding
//! checks ran, `audit-events.csv`. Every file is written under a temporary
//! name and renamed, so a reader never sees half a report; files are
//! readable by owner and group only. `run.json` says `running` until the
//! run completes, so a run that died is visibly incomplete, never silently
//! truncated.

pub mod safe;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::finding::{ActionRecord, Finding};
use safe::cell;

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report {path}: {operation}: {source}")]
    Io {
        path: PathBuf,
        operation: &'static str,
        source: std::io::Error,
    },
    #[error("report {path}: {message}")]
    Encode { path: PathBuf, message: String },
}

fn io_err(path: &Path, operation: &'static str) -> impl FnOnce(std::io::Error) -> ReportError {
    let path = path.to_path_buf();
    move |source| ReportError::Io {
        path,
        operation,
        source,
    }
}

pub const FINDINGS_HEADER: [&str; 17] = [
    "run_id",
    "time",
    "check",
    "severity",
    "room_id",
    "room_title",
    "room_state",
    "owner_id",
    "owner_email",
    "subject_kind",
    "subject_id",
    "subject_name",
    "subject_email",
    "access",
    "archived_since",
    "status",
    "detail",
];

pub const ACTIONS_HEADER: [&str; 10] = [
    "run_id", "time", "check", "room_id", "subject", "action", "dry_run", "outcome", "verified",
    "error",
];

pub const AUDIT_EVENTS_HEADER: [&str; 7] = [
    "run_id", "user_id", "time", "action", "actor", "target", "ip",
];

/// One row of `audit-events.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEventRow {
    pub user_id: String,
    pub time: Option<DateTime<Utc>>,
    pub action: String,
    pub actor: String,
    pub target: String,
    pub ip: String,
}

/// The state of a run as `run.json` tells it.
#[derive(Debug, Clone, Serialize)]
pub struct RunManifest {
    pub run_id: String,
    pub status: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub checks: Vec<String>,
    pub rooms_audited: usize,
    pub rooms_failed: usize,
    pub findings: usize,
    pub actions: usize,
    pub warnings: Vec<String>,
    pub note: Option<String>,
}

/// Writes one run's report folder.
#[derive(Debug)]
pub struct ReportWriter {
    dir: PathBuf,
    run_id: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl ReportWriter {
    /// Creates `root/<run_id>/` (owner and group only) and marks it running.
    pub fn create(
        root: &Path,
        run_id: &str,
        manifest: &RunManifest,
    ) -> Result<ReportWriter, ReportError> {
        if !safe::is_safe_file_name(run_id) {
            return Err(ReportError::Encode {
                path: root.to_path_buf(),
                message: format!("run id {run_id:?} cannot be a folder name"),
            });
        }
        std::fs::create_dir_all(root).map_err(io_err(root, "create reports folder"))?;
        let dir = root.join(run_id);
        std::fs::create_dir(&dir).map_err(io_err(&dir, "create run folder"))?;
        set_mode(&dir, 0o750).map_err(io_err(&dir, "set permissions"))?;
        let w = ReportWriter {
            dir,
            run_id: run_id.to_string(),
        };
        w.write_manifest(manifest)?;
        Ok(w)
    }

    /// Opens an existing run folder (to mark a dead run incomplete).
    pub fn open(dir: PathBuf, run_id: &str) -> ReportWriter {
        ReportWriter {
            dir,
            run_id: run_id.to_string(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write_manifest(&self, manifest: &RunManifest) -> Result<(), ReportError> {
        let path = self.dir.join("run.json");
        let mut bytes = serde_json::to_vec_pretty(manifest).map_err(|e| ReportError::Encode {
            path: path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        atomic_write(&path, &bytes)
    }

    pub fn write_findings(
        &self,
        findings: &[Finding],
        at: DateTime<Utc>,
    ) -> Result<PathBuf, ReportError> {
        let at = time(at);
        self.write_csv(
            "findings.csv",
            &FINDINGS_HEADER,
            findings.iter().map(|f| {
                let room = f.room.as_ref();
                vec![
                    self.run_id.clone(),
                    at.clone(),
                    f.check.name().to_string(),
                    f.severity.as_str().to_string(),
                    room.map(|r| r.id.to_string()).unwrap_or_default(),
                    room.map(|r| r.title.clone()).unwrap_or_default(),
                    room.map(|r| r.state.as_str().to_string())
                        .unwrap_or_default(),
                    room.and_then(|r| r.owner_id.as_ref())
                        .map(|i| i.to_string())
                        .unwrap_or_default(),
                    room.and_then(|r| r.owner_email.clone()).unwrap_or_default(),
                    f.subject.kind.as_str().to_string(),
                    f.subject.id.clone(),
                    f.subject.name.clone(),
                    f.subject.email.clone().unwrap_or_default(),
                    f.access.clone().unwrap_or_default(),
                    room.and_then(|r| r.archived_since)
                        .map(time)
                        .unwrap_or_default(),
                    f.status.as_str().to_string(),
                    f.detail.clone(),
                ]
            }),
        )
    }

    pub fn write_actions(&self, actions: &[ActionRecord]) -> Result<PathBuf, ReportError> {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        self.write_csv(
            "actions.csv",
            &ACTIONS_HEADER,
            actions.iter().map(|a| {
                vec![
                    self.run_id.clone(),
                    time(a.time),
                    a.check.name().to_string(),
                    a.room_id
                        .as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                    a.subject.clone(),
                    a.action.clone(),
                    yes_no(a.dry_run),
                    a.outcome.as_str().to_string(),
                    yes_no(a.verified),
                    a.error.clone().unwrap_or_default(),
                ]
            }),
        )
    }

    pub fn write_audit_events(&self, rows: &[AuditEventRow]) -> Result<PathBuf, ReportError> {
        self.write_csv(
            "audit-events.csv",
            &AUDIT_EVENTS_HEADER,
            rows.iter().map(|r| {
                vec![
                    self.run_id.clone(),
                    r.user_id.clone(),
                    r.time.map(time).unwrap_or_default(),
                    r.action.clone(),
                    r.actor.clone(),
                    r.target.clone(),
                    r.ip.clone(),
                ]
            }),
        )
    }

    /// Writes one CSV file of the run: the header always, every value
    /// neutralised for spreadsheets, the whole file atomically.
    fn write_csv(
        &self,
        name: &str,
        header: &[&str],
        rows: impl Iterator<Item = Vec<String>>,
    ) -> Result<PathBuf, ReportError> {
        let path = self.dir.join(name);
        let encode = |e: csv::Error| ReportError::Encode {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header).map_err(encode)?;
        for row in rows {
            w.write_record(row.iter().map(|v| cell(v)))
                .map_err(encode)?;
        }
        let bytes = w.into_inner().map_err(|e| ReportError::Encode {
            path: path.clone(),
            message: e.to_string(),
        })?;
        atomic_write(&path, &bytes)?;
        Ok(path)
    }
}

/// Writes `path` through a temporary file in the same folder, flushed to
/// disk, then renamed over the target: readers see the old file or the new
/// one, never a part.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o640);
        }
        let mut f = opts.open(&tmp).map_err(io_err(&tmp, "create"))?;
        f.write_all(bytes).map_err(io_err(&tmp, "write"))?;
        f.sync_all().map_err(io_err(&tmp, "sync"))?;
        std::fs::rename(&tmp, path).map_err(io_err(path, "rename into place"))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Deletes the oldest run folders beyond `keep` (run ids sort by time).
/// Only folders whose names look like run ids are touched.
pub fn prune(root: &Path, keep: usize) -> Result<Vec<PathBuf>, ReportError> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io_err(root, "list reports"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| looks_like_run_id(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for dir in runs.into_iter().take(excess) {
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir, "remove old run"))?;
        removed.push(dir);
    }
    Ok(removed)
}

/// `20261123T105300Z-1a2b`, optionally with a `-label` suffix.
pub fn looks_like_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 21
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && safe::is_safe_file_name(name)
}

/// A new run id: sortable UTC time plus a random suffix.
pub fn new_run_id(now: DateTime<Utc>, label: Option<&str>) -> String {
    let mut id = format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), fastrand::u16(..));
    if let Some(l) = label {
        let clean: String = l
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        if !clean.is_empty() {
            id.push('-');
            id.push_str(&clean);
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_and_are_recognised() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:53:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = new_run_id(t, Some("room ../42"));
        assert!(id.starts_with("20261123T105300Z-"));
        assert!(looks_like_run_id(&id), "{id}");
        assert!(!id.contains('/') && !id.contains(".."));
        assert!(!looks_like_run_id("notes"));
    }

    #[test]
    fn prune_keeps_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        for id in [
            "20260101T000000Z-0001",
            "20260102T000000Z-0001",
            "20260103T000000Z-0001",
        ] {
            std::fs::create_dir(tmp.path().join(id)).unwrap();
        }
        std::fs::create_dir(tmp.path().join("keep-me")).unwrap();
        let removed = prune(tmp.path(), 2).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(tmp.path().join("keep-me").exists());
        assert!(!tmp.path().join("20260101T000000Z-0001").exists());
    }
}
