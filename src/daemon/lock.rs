//! The single-instance lock: a file next to the state store
//! (`<state path>.lock`), held with an advisory lock (`flock` through
//! `File::try_lock`) for as long as the process runs, and holding the
//! holder's pid, host, start time and command line so a second instance can
//! say who is in the way. The kernel drops the lock when the process dies,
//! so a crash never leaves a stale lock behind; the file itself is kept
//! (deleting it would race with a process that just opened it).
//!
//! This module only guards against two auditors on one state store; it
//! does not know what a run is.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::DaemonError;

/// Held while the process audits; released on drop.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Clear the holder before letting go, so nobody reads a stale one.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The lock file for a state store: `<state path>.lock`.
pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the instance lock for the state store at `state_path`, or says who
/// holds it ([`DaemonError::Locked`]; the CLI exits 2).
pub fn acquire_lock(state_path: &Path) -> Result<InstanceLock, DaemonError> {
    let path = lock_path(state_path);
    let io_err = |operation: &'static str| {
        let path = path.clone();
        move |source| DaemonError::Lock {
            path,
            operation,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err("create folder"))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(DaemonError::Locked {
                path,
                holder: describe_holder(&text),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io_err("lock")(e)),
    }
    let holder = format!(
        "pid={}\nhost={}\nstarted={}\ncommand={}\n",
        std::process::id(),
        hostname(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    file.set_len(0).map_err(io_err("truncate"))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err("seek"))?;
    file.write_all(holder.as_bytes())
        .map_err(io_err("write holder"))?;
    file.sync_data().map_err(io_err("sync"))?;
    Ok(InstanceLock { file, path })
}

/// "pid 123 on host db1 since 2026-05-01T09:30:00Z (docspace-auditor daemon …)".
fn describe_holder(text: &str) -> String {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match field("pid") {
        Some(pid) => {
            let mut s = format!("pid {pid}");
            if let Some(host) = field("host") {
                s.push_str(&format!(" on host {host}"));
            }
            if let Some(started) = field("started") {
                s.push_str(&format!(" since {started}"));
            }
            if let Some(command) = field("command") {
                s.push_str(&format!(
                    " ({})",
                    crate::report::safe::one_line(command, 200)
                ));
            }
            s
        }
        None => "an unknown process (the lock file names no holder yet)".to_string(),
    }
}

/// This machine's name, for the lock file; no crate needed on Linux.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder_and_is_free_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state").join("auditor.sqlite");
        let first = acquire_lock(&state).unwrap();
        assert_eq!(first.path(), dir.path().join("state/auditor.sqlite.lock"));
        let err = acquire_lock(&state).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DaemonError::Locked { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("on host "), "{msg}");
        assert_eq!(err.exit_code(), 2);
        drop(first);
        let again = acquire_lock(&state).unwrap();
        drop(again);
    }

    #[test]
    fn holder_text_without_a_pid_is_unknown() {
        assert!(describe_holder("").contains("unknown process"));
        assert_eq!(
            describe_holder("pid=5\nhost=h\nstarted=t\ncommand=x daemon\n"),
            "pid 5 on host h since t (x daemon)"
        );
    }
}
