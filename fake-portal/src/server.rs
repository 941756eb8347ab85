//! The HTTP side: one axum fallback handler that records the request,
//! applies faults, authenticates, dispatches to `endpoints` and wraps the
//! result in the server's envelope (API-NOTES §1).
//!
//! Routing is done by hand on path segments so that every request, known or
//! not, is counted under its route template and can be targeted by a
//! per-path fault. Nothing here decides portal behaviour.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, json};
use tokio::sync::watch;

use crate::endpoints::{self, Call, Fail, Query, Reply};
use crate::faults::FaultKind;
use crate::model::State;
use crate::scenario::UserStatus;
use crate::view::RecordedRequest;

pub(crate) struct App {
    pub state: Mutex<State>,
    pub shutdown: watch::Receiver<bool>,
    pub delay: crate::delay::PreciseDelay,
}

impl App {
    /// Locks the state. A panic while holding the lock (a bug in a handler)
    /// must not take the whole fake down for the rest of a test run.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

const JSON: &str = "application/json; charset=utf-8";

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

/// `{"error":{"message","type"},"status":1,"statusCode":n}`.
fn error_body(status: u16, message: &str, kind: &str) -> String {
    json!({
        "error": {"message": message, "type": kind},
        "status": 1,
        "statusCode": status,
    })
    .to_string()
}

/// Maps a failure to the status and body the server would send (§1.2).
fn fail_response(fail: &Fail) -> Response {
    let (status, body) = match fail {
        Fail::NoRoute => return empty(StatusCode::NOT_FOUND),
        Fail::MethodNotAllowed => return empty(StatusCode::METHOD_NOT_ALLOWED),
        Fail::NotFound(m) => (
            404,
            error_body(404, m, "ASC.Common.Web.ItemNotFoundException"),
        ),
        Fail::Argument(m) => (400, error_body(400, m, "System.ArgumentException")),
        Fail::OutOfRange(m) => (
            400,
            error_body(400, m, "System.ArgumentOutOfRangeException"),
        ),
        Fail::Validation { field, message } => {
            let mut errors = Map::new();
            errors.insert(field.clone(), json!([message]));
            let body = json!({
                "response": {
                    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                    "title": "One or more validation errors occurred.",
                    "status": 400,
                    "errors": errors,
                },
                "status": 1,
                "statusCode": 400,
            });
            (400, body.to_string())
        }
        // SecurityException: the original message is always replaced.
        Fail::Denied => (
            403,
            error_body(403, "Access denied", "System.Security.SecurityException"),
        ),
        Fail::Invalid(m) => (403, error_body(403, m, "System.InvalidOperationException")),
        Fail::Quota(m) => (
            402,
            error_body(402, m, "ASC.Core.Tenants.TenantQuotaException"),
        ),
        Fail::Internal(m) => (500, error_body(500, m, "System.Exception")),
    };
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

/// The success envelope, assembled as text around the already serialised
/// payload; `response` is left out when there is none.
fn envelope(reply: Reply, href: &str, method: &str) -> String {
    let count = reply
        .count
        .unwrap_or(if reply.response.is_some() { 1 } else { 0 });
    let payload = reply.response.as_deref().map_or(0, str::len);
    let mut out = String::with_capacity(payload + href.len() + 96);
    out.push('{');
    if let Some(r) = &reply.response {
        out.push_str("\"response\":");
        out.push_str(r);
        out.push(',');
    }
    out.push_str(&format!("\"count\":{count},"));
    if let Some(t) = reply.total {
        out.push_str(&format!("\"total\":{t},"));
    }
    let links = json!([{"href": href, "action": method}]);
    out.push_str(&format!(
        "\"links\":{links},\"status\":0,\"statusCode\":200}}"
    ));
    out
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    // The cookie handler also takes the raw token without `Bearer `.
    Some(match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    })
}

/// Every answer leaves `latency_ms` after the request arrived: the latency
/// is the whole time from request to response, as a client measures it, so
/// the portal's own processing happens within it rather than on top of it.
pub(crate) async fn handle(
    AxumState(app): AxumState<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = Duration::from_millis(app.lock().faults.config.latency_ms);
    let deadline = std::time::Instant::now() + latency;
    let response = respond(Arc::clone(&app), method, uri, headers, body).await;
    if !latency.is_zero() {
        app.delay.until(deadline).await;
    }
    response
}

async fn respond(
    app: Arc<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let raw_query = uri.query().unwrap_or("").to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resolved = match segs.as_slice() {
        ["api", "2.0", rest @ ..] => endpoints::resolve(rest),
        _ => None,
    };
    let template = resolved
        .as_ref()
        .map_or_else(|| path.clone(), |(t, _)| format!("/api/2.0/{t}"));
    let method_name = method.as_str().to_string();

    let (fault, hang_ms) = {
        let mut st = app.lock();
        st.counters.total += 1;
        *st.counters
            .by_template
            .entry((method_name.clone(), template.clone()))
            .or_insert(0) += 1;
        st.counters.requests.push(RecordedRequest {
            method: method_name.clone(),
            path: path.clone(),
            query: raw_query.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            template: template.clone(),
        });
        let fault = st.faults.pick(&method_name, &path, &template);
        (fault, st.faults.config.hang_ms)
    };
    tracing::debug!(method = %method_name, endpoint = %template, fault = ?fault, "fake portal request");

    match &fault {
        Some(FaultKind::RateLimited { retry_after_secs }) => {
            let mut r = empty(StatusCode::TOO_MANY_REQUESTS);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            return r;
        }
        Some(FaultKind::ServerError { status }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = status.canonical_reason().unwrap_or("Server error");
            return json_response(
                status,
                error_body(status.as_u16(), message, "System.Exception"),
            );
        }
        Some(FaultKind::Slow { ms }) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        Some(FaultKind::Hang) => {
            let mut stop = app.shutdown.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(hang_ms)) => {}
                _ = stop.wait_for(|v| *v) => return empty(StatusCode::SERVICE_UNAVAILABLE),
            }
        }
        Some(FaultKind::Malformed) | None => {}
    }

    let mut response = {
        let mut st = app.lock();
        // The key acts as its creator; it stops working (401, empty body)
        // once the creator is no longer Active (API-NOTES §0.8, §2).
        let authorised = bearer(&headers).is_some_and(|t| t == st.token)
            && st
                .user(&st.key_user)
                .is_some_and(|u| u.status == UserStatus::Active);
        if !authorised {
            return empty(StatusCode::UNAUTHORIZED);
        }
        let Some((tpl, params)) = resolved else {
            return fail_response(&Fail::NoRoute);
        };
        let call = Call {
            method: method.as_str(),
            params,
            query: Query::parse(&raw_query),
            body: &body,
            caller: st.key_user.clone(),
        };
        match endpoints::dispatch(&mut st, tpl, &call) {
            Ok(reply) => {
                let href = if raw_query.is_empty() {
                    format!("{}{path}", st.base_url)
                } else {
                    format!("{}{path}?{raw_query}", st.base_url)
                };
                json_response(StatusCode::OK, envelope(reply, &href, method.as_str()))
            }
            Err(fail) => fail_response(&fail),
        }
    };
    if fault == Some(FaultKind::Malformed) {
        // The work is done; only the answer is broken, so the client
        // cannot tell whether the write happened.
        *response.body_mut() = Body::from("{\"response\": [");
    }
    response
}
