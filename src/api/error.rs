//! Errors of the DocSpace client. Each carries the method and the path
//! template (never the full URL with ids of secrets, never the token) so an
//! operator can tell which call failed on what.

use std::time::Duration;

/// What went wrong with one API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{method} {path}: authentication refused (401); check the API key and that its user is still active"
    )]
    Unauthorized { method: &'static str, path: String },

    #[error("{method} {path}: HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: Option<String>,
        retry_after: Option<Duration>,
    },

    #[error("{method} {path}: the server reported an error in a {status} answer: {message}")]
    Reported {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },

    #[error("{method} {path}: {kind}: {detail}")]
    Transport {
        method: &'static str,
        path: String,
        kind: TransportKind,
        detail: String,
    },

    #[error("{method} {path}: unreadable answer: {detail}")]
    Decode {
        method: &'static str,
        path: String,
        detail: String,
    },

    #[error(
        "{method} {path}: the outcome of this write is unknown ({detail}); settle it by reading the state back"
    )]
    OutcomeUnknown {
        method: &'static str,
        path: String,
        detail: String,
    },

    /// A request that could not be built from the data it was given; it was
    /// not sent.
    #[error("{method} {path}: request not sent: {detail}")]
    InvalidRequest {
        method: &'static str,
        path: String,
        detail: String,
    },

    #[error("{method} {path}: the answer had no `response` where one was required")]
    MissingResponse { method: &'static str, path: String },

    #[error("file operation {operation} on room {room}: {detail}")]
    Operation {
        operation: String,
        room: String,
        detail: String,
    },
}

/// Why a request did not get an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connection failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Other => "request failed",
        })
    }
}

impl ApiError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Status { status, .. } | ApiError::Reported { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for failures that say nothing about the request itself and may
    /// pass: timeouts, resets, 408, 429, 502, 503, 504.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 408 | 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// True when the whole run should stop: the portal refuses the key.
    pub fn is_fatal_for_run(&self) -> bool {
        matches!(self, ApiError::Unauthorized { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
