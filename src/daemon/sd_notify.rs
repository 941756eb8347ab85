//! The systemd notification protocol (`sd_notify(3)`), written out by hand:
//! one datagram per state change to the socket in `$NOTIFY_SOCKET`
//! (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`). Without the variable
//! (not started by systemd, or `Type=simple`) every call is a no-op.
//!
//! This module only talks to the notification socket; it does not decide
//! when the daemon is ready or healthy.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where to send notifications.
#[derive(Debug, Clone)]
pub struct SdNotify {
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Path(PathBuf),
    /// A Linux abstract socket (`@name` in the variable).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Abstract(Vec<u8>),
}

impl SdNotify {
    /// From `$NOTIFY_SOCKET`; `None` when it is unset or empty.
    pub fn from_env() -> Option<SdNotify> {
        SdNotify::from_value(std::env::var_os("NOTIFY_SOCKET")?.to_str()?)
    }

    /// From a `$NOTIFY_SOCKET` value: a path, or `@name` for an abstract socket.
    pub fn from_value(value: &str) -> Option<SdNotify> {
        if value.is_empty() {
            return None;
        }
        let target = match value.strip_prefix('@') {
            Some(name) => Target::Abstract(name.as_bytes().to_vec()),
            None => Target::Path(PathBuf::from(value)),
        };
        Some(SdNotify { target })
    }

    /// Sends one message (`KEY=value` lines).
    pub fn send(&self, message: &str) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        // Never block the runtime on a receiver that does not read (a full
        // queue is an error here, not a wait).
        socket.set_nonblocking(true)?;
        match &self.target {
            Target::Path(p) => socket.send_to(message.as_bytes(), p).map(|_| ()),
            Target::Abstract(name) => send_abstract(&socket, name, message),
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)))
    }

    /// `STATUS=…` (shown by `systemctl status`).
    pub fn status(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STATUS={}", one_line(status)))
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(socket: &UnixDatagram, name: &[u8], message: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message.as_bytes(), &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_socket: &UnixDatagram, _name: &[u8], _message: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract notification sockets exist only on Linux",
    ))
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The watchdog interval systemd expects pings within (`$WATCHDOG_USEC`),
/// when it is meant for this process (`$WATCHDOG_PID`, if set).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok()? != me
    {
        return None;
    }
    let usec = usec?.trim().parse::<u64>().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let n = SdNotify::from_value(path.to_str().unwrap()).unwrap();
        n.ready("auditing on 2 schedules\nsecond line").unwrap();
        n.watchdog().unwrap();
        let mut buf = [0u8; 256];
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..len]).unwrap(),
            "READY=1\nSTATUS=auditing on 2 schedules second line"
        );
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_datagrams_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("docspace-auditor-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        SdNotify::from_value(&format!("@{name}"))
            .unwrap()
            .stopping("bye")
            .unwrap();
        let mut buf = [0u8; 64];
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=bye");
    }

    #[test]
    fn empty_variable_means_no_systemd() {
        assert!(SdNotify::from_value("").is_none());
    }

    #[test]
    fn watchdog_interval_respects_the_pid() {
        assert_eq!(
            watchdog_interval_from(Some("30000000"), None, 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
    }
}
