//! The DocSpace webhook receiver (API-NOTES §11). It checks each delivery's
//! `x-docspace-signature-256: sha256=<HEX>` (HMAC-SHA256 of the exact body
//! bytes; DocSpace writes uppercase hex, either case is accepted) in
//! constant time before parsing anything, refuses unsigned, badly signed,
//! oversized and malformed deliveries (401, 413, 400), and never answers
//! 410, which would make DocSpace delete the webhook.
//!
//! A valid delivery is answered at once. The work is handed to the daemon's
//! run loop through a bounded channel: `room.archived` becomes an audit of
//! that room, `user.updated` with status 2 (terminated) an offboarding audit
//! of that user. Deliveries are deduplicated on `event.id` (stable across
//! DocSpace's automatic retries) in a bounded in-memory set and in a table
//! of the state store (`webhook_events`), which also remembers accepted
//! events until their run is done, so a restart neither repeats nor loses
//! them. `room.archived`/`room.restored` events caused by the auditor's own
//! unarchive/re-archive transactions (same room, the key's user as actor,
//! a journaled move near that time) are ignored, or the auditor would loop.
//!
//! This module never runs an audit itself and never calls the portal.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{OptionalExtension, params};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::{mpsc, watch};

use crate::api::{RoomId, UserId};
use crate::audit::{Auditor, RunRequest};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::state::{StateError, StateStore};

/// The header DocSpace signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-docspace-signature-256";

/// `payload.status` of a terminated (disabled) user.
pub const USER_STATUS_TERMINATED: i64 = 2;

/// How many recent event ids are kept in memory.
pub const RECENT_EVENTS: usize = 4096;

/// How long a body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of an oversized body is read and dropped before answering 413.
const DRAIN_LIMIT: usize = 32 * 1024 * 1024;

/// How long processed event ids are kept in the state store.
pub const EVENT_RETENTION_DAYS: i64 = 30;

// ---- signature ----------------------------------------------------------------

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no {SIGNATURE_HEADER} header")]
    Missing,
    #[error("the {SIGNATURE_HEADER} header is not sha256=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a signature header against the raw body. The comparison of the
/// MAC is constant-time (`Mac::verify_slice`); the header's hex may be upper
/// or lower case.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let value = header.map(str::trim).filter(|v| !v.is_empty());
    let value = value.ok_or(SignatureError::Missing)?;
    let hex = value
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .and_then(|_| value.get(7..))
        .ok_or(SignatureError::Malformed)?;
    let expected = decode_hex(hex.trim()).ok_or(SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value DocSpace would send for `body`: `sha256=` and uppercase
/// hex (for tests and for checking a proxy by hand).
pub fn signature_header_value(secret: &[u8], body: &[u8]) -> String {
    let mut out = String::from("sha256=");
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) {
        mac.update(body);
        for b in mac.finalize().into_bytes() {
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    text.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

// ---- payload ------------------------------------------------------------------

/// A delivery: `{"event": {…}, "payload": {…}, "webhook": {…}}`. Fields
/// equal to their default are omitted by DocSpace, so most are optional.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub event: Event,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// The `event` part of a delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The delivery log id; the same across automatic retries.
    pub id: i64,
    #[serde(default, deserialize_with = "lenient_time")]
    pub create_on: Option<DateTime<Utc>>,
    #[serde(default)]
    pub create_by: Option<UserId>,
    pub trigger: String,
    #[serde(default)]
    pub trigger_id: Option<i64>,
}

/// A date as DocSpace writes it (UTC, with or without `Z`, up to seven
/// fractional digits); unreadable dates become `None`, not a refusal.
fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    Ok(text.and_then(|t| parse_time(&t)))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Parses a delivery body.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, String> {
    serde_json::from_slice::<Delivery>(body).map_err(|e| e.to_string())
}

/// What an accepted event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookTarget {
    /// `room.archived`: audit this room.
    Room(RoomId),
    /// `user.updated` to terminated: the offboarding checks for this user.
    User(UserId),
}

/// Work for the run loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookJob {
    pub event_id: i64,
    pub target: WebhookTarget,
}

impl WebhookJob {
    /// The run this event asks for: same checks, policy, reports and
    /// notifications as a scheduled run, narrowed to the room or user, in a
    /// report folder of its own (`<run-id>-webhook-room-<id>`).
    pub fn request(&self) -> RunRequest {
        match &self.target {
            WebhookTarget::Room(id) => RunRequest {
                only_room: Some(id.clone()),
                label: Some(format!("webhook-room-{id}")),
                ..RunRequest::default()
            },
            WebhookTarget::User(id) => RunRequest {
                only_user: Some(id.clone()),
                label: Some(format!(
                    "webhook-user-{}",
                    id.as_str().chars().take(8).collect::<String>()
                )),
                ..RunRequest::default()
            },
        }
    }

    fn columns(&self) -> (&'static str, String) {
        match &self.target {
            WebhookTarget::Room(id) => ("room", id.to_string()),
            WebhookTarget::User(id) => ("user", id.to_string()),
        }
    }
}

/// What a delivery means for the auditor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Run(WebhookTarget),
    /// Nothing to do; the reason is logged.
    Ignore(&'static str),
}

/// Decides what a (verified, parsed) delivery asks for.
pub fn plan(delivery: &Delivery) -> Plan {
    let p = &delivery.payload;
    match delivery.event.trigger.as_str() {
        "room.archived" => match p.get("id").cloned().map(serde_json::from_value::<RoomId>) {
            Some(Ok(id)) => Plan::Run(WebhookTarget::Room(id)),
            _ => Plan::Ignore("room.archived without a usable payload.id"),
        },
        "user.updated" => {
            let status = p.get("status").and_then(serde_json::Value::as_i64);
            if status != Some(USER_STATUS_TERMINATED) {
                return Plan::Ignore("user.updated for a user who is not disabled");
            }
            match p.get("id").and_then(serde_json::Value::as_str) {
                Some(id) if UserId::new(id).is_well_formed() => {
                    Plan::Run(WebhookTarget::User(UserId::new(id)))
                }
                _ => Plan::Ignore("user.updated without a usable payload.id"),
            }
        }
        "room.restored" => Plan::Ignore("room.restored needs no audit"),
        _ => Plan::Ignore("trigger not handled"),
    }
}

/// Whether a room event was caused by the auditor's own unarchive /
/// re-archive transaction: the actor is the key's user (or either is
/// unknown) and the journal has a move of that room within `window` before
/// the event (or the room's transaction is still open).
pub fn is_own_room_move(
    state: &StateStore,
    key_user: Option<&UserId>,
    event: &Event,
    room: &RoomId,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<bool, StateError> {
    if let (Some(actor), Some(me)) = (event.create_by.as_ref(), key_user)
        && actor != me
    {
        return Ok(false);
    }
    let at = event.create_on.unwrap_or(now);
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(15));
    state.journaled_room_moves_since(&room.to_string(), at - window)
}

// ---- dedupe -------------------------------------------------------------------

/// A bounded set of recently seen event ids (oldest forgotten first).
#[derive(Debug)]
pub struct Dedupe {
    capacity: usize,
    recent: Mutex<(VecDeque<i64>, HashSet<i64>)>,
}

impl Dedupe {
    pub fn new(capacity: usize) -> Dedupe {
        Dedupe {
            capacity: capacity.max(1),
            recent: Mutex::new((VecDeque::new(), HashSet::new())),
        }
    }

    /// Adds an id; false if it was already there.
    pub fn insert(&self, id: i64) -> bool {
        let mut g = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let (order, set) = &mut *g;
        if !set.insert(id) {
            return false;
        }
        order.push_back(id);
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }

    /// Forgets an id (its delivery was not taken, so a retry must pass).
    pub fn remove(&self, id: i64) {
        let mut g = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let (order, set) = &mut *g;
        if set.remove(&id) {
            order.retain(|x| *x != id);
        }
    }

    pub fn len(&self) -> usize {
        self.recent.lock().map(|g| g.0.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---- the state-store table ------------------------------------------------------

const EVENTS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS webhook_events (
    event_id    INTEGER PRIMARY KEY,
    trigger     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    status      TEXT NOT NULL,
    job         TEXT,
    target      TEXT
)";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Creates the receiver's table if needed.
pub fn ensure_table(state: &StateStore) -> Result<(), StateError> {
    state
        .lock()
        .execute_batch(EVENTS_SCHEMA)
        .map_err(state.sql_err("create webhook_events"))
}

/// Records an event id with a status (`queued`, `ignored`, `own-event`);
/// false if it was already recorded (a repeat).
pub fn record_event(
    state: &StateStore,
    event: &Event,
    status: &str,
    job: Option<&WebhookJob>,
    now: DateTime<Utc>,
) -> Result<bool, StateError> {
    let (kind, target) = match job.map(WebhookJob::columns) {
        Some((k, t)) => (Some(k), Some(t)),
        None => (None, None),
    };
    let n = state
        .lock()
        .execute(
            "INSERT OR IGNORE INTO webhook_events(event_id, trigger, received_at, status, job, target)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![event.id, event.trigger, ts(now), status, kind, target],
        )
        .map_err(state.sql_err("record webhook event"))?;
    Ok(n == 1)
}

/// Sets an event's status (`done`, `failed`).
pub fn set_event_status(state: &StateStore, event_id: i64, status: &str) -> Result<(), StateError> {
    state
        .lock()
        .execute(
            "UPDATE webhook_events SET status = ?2 WHERE event_id = ?1",
            params![event_id, status],
        )
        .map_err(state.sql_err("update webhook event"))?;
    Ok(())
}

/// Forgets an event that was not taken after all.
pub fn forget_event(state: &StateStore, event_id: i64) -> Result<(), StateError> {
    state
        .lock()
        .execute(
            "DELETE FROM webhook_events WHERE event_id = ?1",
            params![event_id],
        )
        .map_err(state.sql_err("forget webhook event"))?;
    Ok(())
}

/// The status recorded for an event id, if any.
pub fn event_status(state: &StateStore, event_id: i64) -> Result<Option<String>, StateError> {
    state
        .lock()
        .query_row(
            "SELECT status FROM webhook_events WHERE event_id = ?1",
            params![event_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(state.sql_err("read webhook event"))
}

/// Accepted events whose run never finished (the process stopped), oldest
/// first, to be queued again at start.
pub fn queued_jobs(state: &StateStore) -> Result<Vec<WebhookJob>, StateError> {
    let conn = state.lock();
    let mut stmt = conn
        .prepare("SELECT event_id, job, target FROM webhook_events WHERE status = 'queued' ORDER BY event_id")
        .map_err(state.sql_err("list queued webhook events"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(state.sql_err("list queued webhook events"))?;
    let mut jobs = Vec::new();
    for row in rows {
        let (event_id, kind, target) = row.map_err(state.sql_err("list queued webhook events"))?;
        let target = match (kind.as_deref(), target) {
            (Some("room"), Some(t)) => RoomId::parse(&t).map(WebhookTarget::Room),
            (Some("user"), Some(t)) => Some(WebhookTarget::User(UserId::new(t))),
            _ => None,
        };
        if let Some(target) = target {
            jobs.push(WebhookJob { event_id, target });
        }
    }
    Ok(jobs)
}

/// Drops event ids older than the retention (DocSpace retries for minutes,
/// manual re-sends get new ids).
pub fn prune_events(state: &StateStore, now: DateTime<Utc>) -> Result<usize, StateError> {
    let cutoff = now - chrono::Duration::days(EVENT_RETENTION_DAYS);
    state
        .lock()
        .execute(
            "DELETE FROM webhook_events WHERE received_at < ?1 AND status <> 'queued'",
            params![ts(cutoff)],
        )
        .map_err(state.sql_err("prune webhook events"))
}

// ---- the HTTP side --------------------------------------------------------------

/// Everything the handler needs; shared by all requests.
pub struct Receiver {
    /// The current auditor (config and state store); replaced on reload.
    pub auditor: watch::Receiver<Auditor>,
    /// The key's user, once known.
    pub key_user: watch::Receiver<Option<UserId>>,
    pub jobs: mpsc::Sender<WebhookJob>,
    pub dedupe: Dedupe,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
}

/// The webhook route at `path`.
pub fn router(path: &str, receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route(path, post(receive))
        .with_state(receiver)
}

/// A reply: status and a one-word JSON result.
fn reply(status: StatusCode, result: &str) -> Response {
    debug_assert_ne!(
        status,
        StatusCode::GONE,
        "410 deletes the webhook in DocSpace"
    );
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"result\":\"{result}\"}}"),
    )
        .into_response()
}

enum BodyError {
    TooLarge,
    Broken(String),
    Timeout,
}

/// Reads at most `max` body bytes. An oversized body is still read (and
/// dropped) up to [`DRAIN_LIMIT`], so the sender gets the 413 instead of a
/// broken pipe; beyond that the connection is just closed.
async fn read_limited(headers: &HeaderMap, body: Body, max: usize) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut too_large = declared.is_some_and(|n| n > max as u64);
    let read = async {
        let mut stream = body.into_data_stream();
        let capacity = declared.map_or(8 * 1024, |n| n as usize).min(max);
        let mut buf = Vec::with_capacity(if too_large { 0 } else { capacity });
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
            seen = seen.saturating_add(chunk.len());
            if seen > max && !too_large {
                too_large = true;
                buf = Vec::new();
            }
            if too_large {
                if seen > DRAIN_LIMIT {
                    break;
                }
                continue;
            }
            buf.extend_from_slice(&chunk);
        }
        if too_large {
            Err(BodyError::TooLarge)
        } else {
            Ok(buf)
        }
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let auditor = rx.auditor.borrow().clone();
    let config = auditor.config().clone();
    let Some(settings) = config.webhook.as_ref() else {
        // The section was removed by a reload: refuse politely (not 410).
        return reply(StatusCode::SERVICE_UNAVAILABLE, "disabled");
    };

    let bytes = match read_limited(&headers, body, settings.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            tracing::warn!(%peer, max_body_bytes = settings.max_body_bytes, "webhook delivery refused: body too large");
            rx.metrics.record_webhook("too-large");
            return reply(StatusCode::PAYLOAD_TOO_LARGE, "too-large");
        }
        Err(BodyError::Timeout) => {
            tracing::warn!(%peer, "webhook delivery refused: body not received in time");
            rx.metrics.record_webhook("malformed");
            return reply(StatusCode::REQUEST_TIMEOUT, "timeout");
        }
        Err(BodyError::Broken(e)) => {
            tracing::warn!(%peer, error = %e, "webhook delivery refused: body could not be read");
            rx.metrics.record_webhook("malformed");
            return reply(StatusCode::BAD_REQUEST, "malformed");
        }
    };

    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(
        settings.secret.expose_secret().as_bytes(),
        &bytes,
        signature,
    ) {
        tracing::warn!(%peer, reason = %e, "webhook delivery refused: bad signature");
        rx.metrics.record_webhook("unauthorized");
        return reply(StatusCode::UNAUTHORIZED, "unauthorized");
    }

    let delivery = match parse_delivery(&bytes) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(%peer, error = %crate::report::safe::one_line(&e, 200), "webhook delivery refused: malformed");
            rx.metrics.record_webhook("malformed");
            return reply(StatusCode::BAD_REQUEST, "malformed");
        }
    };
    let event = &delivery.event;
    let event_id = event.id;

    if !rx.dedupe.insert(event_id) {
        tracing::info!(event_id, trigger = %event.trigger, "webhook delivery already received; ignored");
        rx.metrics.record_webhook("duplicate");
        return reply(StatusCode::OK, "duplicate");
    }
    let state = auditor.state().clone();
    let now = rx.clock.now();

    let (status, job) = match plan(&delivery) {
        Plan::Ignore(reason) => {
            tracing::debug!(event_id, trigger = %event.trigger, reason, "webhook event ignored");
            ("ignored", None)
        }
        Plan::Run(target) => {
            let own = match &target {
                WebhookTarget::Room(room) => {
                    let key_user = rx.key_user.borrow().clone();
                    let window = config.portal.operation_timeout + Duration::from_secs(600);
                    match is_own_room_move(&state, key_user.as_ref(), event, room, window, now) {
                        Ok(own) => own,
                        Err(e) => {
                            rx.dedupe.remove(event_id);
                            tracing::error!(event_id, error = %e, "webhook event could not be checked against the journal; DocSpace will retry");
                            return reply(StatusCode::SERVICE_UNAVAILABLE, "retry");
                        }
                    }
                }
                WebhookTarget::User(_) => false,
            };
            if own {
                tracing::info!(event_id, trigger = %event.trigger, "webhook event caused by the auditor's own unarchive/re-archive; ignored");
                ("own-event", None)
            } else {
                ("queued", Some(WebhookJob { event_id, target }))
            }
        }
    };

    match record_event(&state, event, status, job.as_ref(), now) {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(event_id, trigger = %event.trigger, "webhook delivery already processed before a restart; ignored");
            rx.metrics.record_webhook("duplicate");
            return reply(StatusCode::OK, "duplicate");
        }
        Err(e) => {
            rx.dedupe.remove(event_id);
            tracing::error!(event_id, error = %e, "webhook event could not be recorded; DocSpace will retry");
            return reply(StatusCode::SERVICE_UNAVAILABLE, "retry");
        }
    }

    let Some(job) = job else {
        let result = if status == "own-event" {
            "own-event"
        } else {
            "ignored"
        };
        rx.metrics.record_webhook(if status == "own-event" {
            "own-event"
        } else {
            "ignored"
        });
        return reply(StatusCode::OK, result);
    };
    match rx.jobs.try_send(job.clone()) {
        Ok(()) => {
            tracing::info!(event_id, trigger = %event.trigger, target = ?job.target, "webhook event accepted; audit queued");
            rx.metrics.record_webhook("accepted");
            reply(StatusCode::ACCEPTED, "accepted")
        }
        Err(e) => {
            // Full or shutting down: let DocSpace retry later.
            let _ = forget_event(&state, event_id);
            rx.dedupe.remove(event_id);
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the queue is full",
                mpsc::error::TrySendError::Closed(_) => "the daemon is stopping",
            };
            tracing::warn!(
                event_id,
                reason = why,
                "webhook event not taken; DocSpace will retry"
            );
            rx.metrics.record_webhook("busy");
            reply(StatusCode::SERVICE_UNAVAILABLE, "busy")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"Str0ng-Secret!";

    #[test]
    fn uppercase_and_lowercase_signatures_pass() {
        let body = br#"{"event":{"id":1,"trigger":"room.archived"}}"#;
        let upper = signature_header_value(SECRET, body);
        assert!(upper[7..].chars().all(|c| !c.is_ascii_lowercase()));
        assert_eq!(verify_signature(SECRET, body, Some(&upper)), Ok(()));
        let lower = format!("sha256={}", upper[7..].to_ascii_lowercase());
        assert_eq!(verify_signature(SECRET, body, Some(&lower)), Ok(()));
        let prefix = format!("SHA256={}", &upper[7..]);
        assert_eq!(verify_signature(SECRET, body, Some(&prefix)), Ok(()));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")
        let v = signature_header_value(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            v,
            "sha256=F7BC83F430538424B13298E6AA6FB143EF4D59A14946175997479DBC2D1A3CD8"
        );
    }

    #[test]
    fn bad_signatures_are_refused() {
        let body = b"{}";
        let good = signature_header_value(SECRET, body);
        assert_eq!(
            verify_signature(SECRET, body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(SECRET, body, Some("")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(SECRET, body, Some(&good[7..])),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(SECRET, body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        // A truncated MAC is not accepted as a prefix match.
        assert_eq!(
            verify_signature(SECRET, body, Some(&good[..good.len() - 2])),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, b"{} ", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        // One flipped digit.
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify_signature(SECRET, body, Some(&flipped)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn plans_follow_the_trigger() {
        let d = |json: &str| parse_delivery(json.as_bytes()).unwrap();
        assert_eq!(
            plan(&d(
                r#"{"event":{"id":1,"trigger":"room.archived","createOn":"2026-05-01T09:30:00.1234567Z"},"payload":{"id":123,"rootFolderType":20}}"#
            )),
            Plan::Run(WebhookTarget::Room(RoomId::Native(123)))
        );
        assert_eq!(
            plan(&d(
                r#"{"event":{"id":1,"trigger":"room.archived"},"payload":{"id":"sbox-9"}}"#
            )),
            Plan::Run(WebhookTarget::Room(RoomId::ThirdParty("sbox-9".into())))
        );
        let user = "0f8b5c1e-0000-4000-8000-00000000000a";
        assert_eq!(
            plan(&d(&format!(
                r#"{{"event":{{"id":2,"trigger":"user.updated"}},"payload":{{"id":"{user}","status":2}}}}"#
            ))),
            Plan::Run(WebhookTarget::User(UserId::new(user)))
        );
        assert!(matches!(
            plan(&d(&format!(
                r#"{{"event":{{"id":2,"trigger":"user.updated"}},"payload":{{"id":"{user}","status":1}}}}"#
            ))),
            Plan::Ignore(_)
        ));
        assert!(matches!(
            plan(&d(
                r#"{"event":{"id":3,"trigger":"room.restored"},"payload":{"id":5}}"#
            )),
            Plan::Ignore(_)
        ));
        assert!(matches!(
            plan(&d(
                r#"{"event":{"id":3,"trigger":"room.archived"},"payload":{"id":"../x"}}"#
            )),
            Plan::Ignore(_)
        ));
        assert!(parse_delivery(b"{\"event\":{}}").is_err());
        assert!(parse_delivery(b"not json").is_err());
    }

    #[test]
    fn event_dates_are_read_leniently() {
        let d = parse_delivery(
            br#"{"event":{"id":1,"trigger":"x","createOn":"2026-05-01T09:30:00.1234567"}}"#,
        )
        .unwrap();
        assert_eq!(
            d.event.create_on.unwrap().to_rfc3339(),
            "2026-05-01T09:30:00.123456700+00:00"
        );
        let d =
            parse_delivery(br#"{"event":{"id":1,"trigger":"x","createOn":"garbage"}}"#).unwrap();
        assert!(d.event.create_on.is_none());
    }

    #[tokio::test]
    async fn bodies_are_limited_with_or_without_a_length() {
        let none = HeaderMap::new();
        let ok = read_limited(&none, Body::from(vec![1u8; 1000]), 1000).await;
        assert_eq!(ok.ok().map(|b| b.len()), Some(1000));
        // Chunked (no Content-Length): noticed while reading.
        let big = read_limited(&none, Body::from(vec![1u8; 1001]), 1000).await;
        assert!(matches!(big, Err(BodyError::TooLarge)));
        // Declared too large: refused whatever follows.
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "5000".parse().unwrap());
        let big = read_limited(&declared, Body::from(vec![1u8; 10]), 1000).await;
        assert!(matches!(big, Err(BodyError::TooLarge)));
        declared.insert(
            header::CONTENT_LENGTH,
            (DRAIN_LIMIT + 1).to_string().parse().unwrap(),
        );
        let huge = read_limited(&declared, Body::empty(), 1000).await;
        assert!(matches!(huge, Err(BodyError::TooLarge)));
    }

    #[test]
    fn dedupe_is_bounded_and_forgets_the_oldest() {
        let d = Dedupe::new(3);
        assert!(d.insert(1));
        assert!(!d.insert(1));
        assert!(d.insert(2));
        assert!(d.insert(3));
        assert!(d.insert(4));
        assert_eq!(d.len(), 3);
        // 1 fell out of the window.
        assert!(d.insert(1));
        assert!(!d.insert(4));
        d.remove(4);
        assert!(d.insert(4));
    }

    #[test]
    fn events_persist_and_repeat_ids_are_refused() {
        let s = StateStore::open_in_memory().unwrap();
        ensure_table(&s).unwrap();
        let now = Utc::now();
        let e = parse_delivery(br#"{"event":{"id":42,"trigger":"room.archived"}}"#)
            .unwrap()
            .event;
        let job = WebhookJob {
            event_id: 42,
            target: WebhookTarget::Room(RoomId::Native(7)),
        };
        assert!(record_event(&s, &e, "queued", Some(&job), now).unwrap());
        assert!(!record_event(&s, &e, "queued", Some(&job), now).unwrap());
        assert_eq!(queued_jobs(&s).unwrap(), vec![job.clone()]);
        set_event_status(&s, 42, "done").unwrap();
        assert!(queued_jobs(&s).unwrap().is_empty());
        assert_eq!(event_status(&s, 42).unwrap().as_deref(), Some("done"));
        assert_eq!(
            prune_events(&s, now + chrono::Duration::days(31)).unwrap(),
            1
        );
        assert!(event_status(&s, 42).unwrap().is_none());
        assert_eq!(job.request().label.as_deref(), Some("webhook-room-7"));
    }

    #[test]
    fn own_moves_are_recognised_by_actor_room_and_time() {
        let s = StateStore::open_in_memory().unwrap();
        let key = UserId::new("0f8b5c1e-0000-4000-8000-00000000000a");
        let now = Utc::now();
        s.journal_intent(
            "r1",
            "archived-room-guests",
            Some("7"),
            "user:x",
            "re-archive",
            "7",
            now,
        )
        .unwrap();
        let event = |by: &str, at: DateTime<Utc>| Event {
            id: 1,
            create_on: Some(at),
            create_by: Some(UserId::new(by)),
            trigger: "room.archived".into(),
            trigger_id: Some(16777216),
        };
        let w = Duration::from_secs(900);
        let room = RoomId::Native(7);
        let soon = now + chrono::Duration::seconds(5);
        // The key's user, same room, just after the journaled move: own.
        assert!(
            is_own_room_move(&s, Some(&key), &event(key.as_str(), soon), &room, w, now).unwrap()
        );
        // Someone else archived it: not own.
        let other = "11111111-0000-4000-8000-000000000000";
        assert!(!is_own_room_move(&s, Some(&key), &event(other, soon), &room, w, now).unwrap());
        // Another room: not own.
        assert!(
            !is_own_room_move(
                &s,
                Some(&key),
                &event(key.as_str(), soon),
                &RoomId::Native(8),
                w,
                now
            )
            .unwrap()
        );
        // Long after the move: not own.
        let later = now + chrono::Duration::hours(2);
        assert!(
            !is_own_room_move(&s, Some(&key), &event(key.as_str(), later), &room, w, later)
                .unwrap()
        );
    }
}
