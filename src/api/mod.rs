//! The DocSpace REST client: the only code that knows URLs, HTTP and the
//! envelope. It pages through every list, bounds concurrency (separately for
//! reads and writes, API-NOTES §1.3), puts a timeout on every call and
//! retries transient failures with backoff. A write whose outcome is unknown
//! is never repeated here: it comes back as [`ApiError::OutcomeUnknown`] and
//! the caller settles it by reading the state back.

pub mod error;
pub mod ids;
pub mod retry;
pub mod transport;
pub mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::Full;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use error::{ApiError, TransportKind};
pub use ids::{GroupId, Guid, RoomId, UserId};
pub use retry::RetryPolicy;
pub use transport::PortalProxy;
pub use wire::UnreadableEntry;

/// A room list: the rooms, and the entries that could not be read.
#[derive(Debug, Default)]
pub struct RoomListing {
    pub rooms: Vec<Room>,
    pub unreadable: Vec<UnreadableEntry>,
}
use wire::*;

/// The largest page the server accepts (API-NOTES §3).
pub const PAGE_SIZE: i64 = 100;

/// Everything the client needs to reach a portal.
#[derive(Clone)]
pub struct ClientSettings {
    pub base_url: url::Url,
    pub token: SecretString,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Set for an `https` portal reached through an HTTP proxy.
    pub proxy: Option<PortalProxy>,
    /// Extra CA certificates (PEM) trusted for the portal, on top of the
    /// platform's roots.
    pub ca_file: Option<std::path::PathBuf>,
    pub max_concurrency: usize,
    pub max_write_concurrency: usize,
    pub retry: RetryPolicy,
    /// How often to poll an archive/unarchive operation, and for how long.
    pub operation_poll: Duration,
    pub operation_timeout: Duration,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("base_url", &self.base_url.as_str())
            .field("token", &"[redacted]")
            .field("request_timeout", &self.request_timeout)
            .field("proxy", &self.proxy)
            .field("ca_file", &self.ca_file)
            .field("max_concurrency", &self.max_concurrency)
            .finish_non_exhaustive()
    }
}

/// Counters for the metrics endpoint and the run summary.
#[derive(Debug, Default)]
pub struct ApiStats {
    /// By HTTP status; `None` for no answer.
    by_status: std::sync::Mutex<BTreeMap<Option<u16>, u64>>,
    retries: AtomicU64,
    requests: AtomicU64,
}

impl ApiStats {
    fn record(&self, status: Option<u16>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.by_status.lock() {
            *map.entry(status).or_default() += 1;
        }
    }

    /// Requests by outcome: the HTTP status, or `error` for no answer.
    pub fn by_status(&self) -> BTreeMap<String, u64> {
        self.by_status
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(status, n)| {
                        let key = status.map_or_else(|| "error".to_string(), |s| s.to_string());
                        (key, *n)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Which side of the concurrency budget a call uses, and whether it may be
/// repeated when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

struct Call<'a> {
    method: Method,
    /// The path template for errors and logs, e.g. `files/rooms/{id}/share`.
    template: &'static str,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Bytes>,
    kind: Kind,
    _marker: std::marker::PhantomData<&'a ()>,
}

impl Call<'_> {
    fn get(template: &'static str, path: String) -> Self {
        Call {
            method: Method::GET,
            template,
            path,
            query: Vec::new(),
            body: None,
            kind: Kind::Read,
            _marker: std::marker::PhantomData,
        }
    }

    fn write(
        method: Method,
        template: &'static str,
        path: String,
        body: &impl Serialize,
    ) -> Result<Self, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::InvalidRequest {
            method: method_name(&method),
            path: template.to_string(),
            detail: format!("cannot encode the body: {e}"),
        })?;
        Ok(Call {
            method,
            template,
            path,
            query: Vec::new(),
            body: Some(Bytes::from(bytes)),
            kind: Kind::Write,
            _marker: std::marker::PhantomData,
        })
    }

    fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

/// Which rooms to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchArea {
    Active = 0,
    Archive = 1,
    Any = 2,
}

/// A room-list query (`GET files/rooms`).
#[derive(Debug, Clone)]
pub struct RoomQuery {
    pub area: SearchArea,
    /// Rooms created by this user or where they hold a direct share.
    pub subject_id: Option<UserId>,
    /// Rooms owned by this user.
    pub owner_id: Option<UserId>,
}

impl RoomQuery {
    pub fn area(area: SearchArea) -> Self {
        RoomQuery {
            area,
            subject_id: None,
            owner_id: None,
        }
    }
}

/// `ShareFilterType` values the auditor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareFilter {
    /// Users and groups, with the owner as a synthetic first row.
    UsersAndGroups = 0,
    /// Primary and additional external links.
    ExternalLinks = 2,
}

/// A people-list query (`GET people/filter`).
#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    /// EmployeeStatus number: 1 Active, 2 Terminated, 7 All.
    pub status: Option<i64>,
    /// EmployeeType number: 2 Guest.
    pub employee_type: Option<i64>,
}

/// A user's audit-trail query.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    /// Events *by* this user (the actor).
    pub user_id: Option<UserId>,
    /// Events *about* this user: sent as `entryType=23` (User) plus
    /// `target`, because the server ignores `target` unless an entry type or
    /// an action is given, and with an entry type it matches target text
    /// containing the id (`AuditEventsRepository.FindByEntry`).
    pub about_user: Option<UserId>,
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    pub max_events: usize,
}

/// The DocSpace client. Cheap to clone; clones share the connection pool,
/// the concurrency limits, the shared back-off and the counters.
#[derive(Clone)]
pub struct DocSpaceClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: transport::Transport,
    settings: ClientSettings,
    auth: HeaderValue,
    host: HeaderValue,
    user_agent: HeaderValue,
    /// Scheme and authority of every request URI (cheap to clone).
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// The path of `<base>/api/2.0/`, percent-encoded; each call's path is
    /// appended to it.
    api_path: String,
    reads: Semaphore,
    writes: Semaphore,
    /// When a 429 arrives every worker waits until this instant, so the
    /// client slows to the server's pace instead of each worker retrying on
    /// its own schedule.
    pause_until: std::sync::Mutex<Option<Instant>>,
    stats: ApiStats,
}

impl DocSpaceClient {
    pub fn new(settings: ClientSettings) -> Result<DocSpaceClient, ApiError> {
        let build_err = |detail: String| ApiError::Transport {
            method: "HTTP",
            path: settings.base_url.path().to_string(),
            kind: TransportKind::Other,
            detail,
        };
        let transport = transport::Transport::new(&transport::TransportSettings {
            https: settings.base_url.scheme() == "https",
            connect_timeout: settings.connect_timeout,
            request_timeout: settings.request_timeout,
            proxy: settings.proxy.as_ref(),
            ca_file: settings.ca_file.as_deref(),
        })
        .map_err(build_err)?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.token.expose_secret()))
            .map_err(|_| {
                build_err("the API token contains characters not allowed in an HTTP header".into())
            })?;
        auth.set_sensitive(true);
        let base = settings.base_url.as_str().trim_end_matches('/');
        let api_base = url::Url::parse(&format!("{base}/api/2.0/"))
            .map_err(|e| build_err(format!("cannot build the API URL: {e}")))?;
        // `host[:port]`, no port for the scheme's default (`Url::port` is
        // already None then): the Host header and the URI authority.
        let host = api_base
            .host_str()
            .map(|h| match api_base.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_string(),
            })
            .ok_or_else(|| build_err("the portal URL has no usable host".into()))?;
        let authority = http::uri::Authority::try_from(host.as_str())
            .map_err(|e| build_err(format!("the portal host is not usable in a URI: {e}")))?;
        let host = HeaderValue::from_str(&host)
            .map_err(|_| build_err("the portal host is not usable in a header".into()))?;
        let scheme = http::uri::Scheme::try_from(api_base.scheme())
            .map_err(|e| build_err(format!("the portal URL scheme is not usable: {e}")))?;
        Ok(DocSpaceClient {
            inner: Arc::new(Inner {
                transport,
                auth,
                host,
                user_agent: HeaderValue::from_static(concat!(
                    "docspace-auditor/",
                    env!("CARGO_PKG_VERSION")
                )),
                scheme,
                authority,
                api_path: api_base.path().to_string(),
                reads: Semaphore::new(settings.max_concurrency.max(1)),
                writes: Semaphore::new(settings.max_write_concurrency.max(1)),
                pause_until: std::sync::Mutex::new(None),
                stats: ApiStats::default(),
                settings,
            }),
        })
    }

    pub fn stats(&self) -> &ApiStats {
        &self.inner.stats
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// The call's request URI: the portal's scheme and authority (checked
    /// once, in `new`), the API path, the call's path and its query. Path
    /// segments taken from data need no encoding (`RoomId::parse` admits only
    /// unreserved characters, GUIDs are checked), so this only joins.
    fn uri(&self, call: &Call<'_>) -> Result<Uri, ApiError> {
        let mut target = String::with_capacity(self.inner.api_path.len() + call.path.len() + 64);
        target.push_str(&self.inner.api_path);
        target.push_str(&call.path);
        if !call.query.is_empty() {
            target.push('?');
            let start = target.len();
            url::form_urlencoded::Serializer::for_suffix(&mut target, start)
                .extend_pairs(&call.query);
        }
        let invalid = |e: &dyn std::fmt::Display| ApiError::InvalidRequest {
            method: method_name(&call.method),
            path: call.template.to_string(),
            detail: format!("cannot build the request URI: {e}"),
        };
        let path_and_query = http::uri::PathAndQuery::try_from(target).map_err(|e| invalid(&e))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.inner.scheme.clone());
        parts.authority = Some(self.inner.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|e| invalid(&e))
    }

    async fn wait_for_pause(&self) {
        loop {
            let until = self.inner.pause_until.lock().ok().and_then(|g| *g);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    fn pause_all(&self, delay: Duration) {
        if let Ok(mut guard) = self.inner.pause_until.lock() {
            let until = Instant::now() + delay;
            if guard.is_none_or(|t| t < until) {
                *guard = Some(until);
            }
        }
    }

    /// Sends one call with retries and returns the decoded envelope.
    async fn send<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<Envelope<T>, ApiError> {
        let method = method_name(&call.method);
        let policy = &self.inner.settings.retry;
        let mut attempt: u32 = 0;
        loop {
            self.wait_for_pause().await;
            let result = self.send_once::<T>(call).await;
            let err = match result {
                Ok(env) => return Ok(env),
                Err(e) => e,
            };
            attempt += 1;
            let retryable = match (&err, call.kind) {
                (ApiError::Transport { kind, .. }, Kind::Write) => {
                    // Only a refused connection proves the write never arrived.
                    if *kind != TransportKind::Connect {
                        return Err(ApiError::OutcomeUnknown {
                            method,
                            path: call.template.to_string(),
                            detail: err.to_string(),
                        });
                    }
                    true
                }
                (ApiError::Status { status: 429, .. }, _) => true,
                (
                    ApiError::Status {
                        status: 408 | 502 | 504,
                        ..
                    },
                    Kind::Write,
                ) => {
                    // A gateway may have passed the write on before failing.
                    return Err(ApiError::OutcomeUnknown {
                        method,
                        path: call.template.to_string(),
                        detail: err.to_string(),
                    });
                }
                (e, _) => e.is_transient(),
            };
            if !retryable || attempt > policy.max_retries {
                return Err(err);
            }
            let Some(delay) = policy.delay(attempt, err.retry_after()) else {
                return Err(err);
            };
            if err.status() == Some(429) {
                self.pause_all(delay);
            }
            self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                endpoint = call.template,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %err,
                "retrying DocSpace call"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<Envelope<T>, ApiError> {
        let method = method_name(&call.method);
        let path = || call.template.to_string();
        let sem = match call.kind {
            Kind::Read => &self.inner.reads,
            Kind::Write => &self.inner.writes,
        };
        let _permit = sem.acquire().await.map_err(|_| ApiError::Transport {
            method,
            path: path(),
            kind: TransportKind::Other,
            detail: "client shut down".into(),
        })?;
        // A 429 may have paused the client while this call waited for its
        // slot: honour the shared back-off before sending.
        self.wait_for_pause().await;
        let body = call.body.clone().unwrap_or_default();
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = call.method.clone();
        *req.uri_mut() = self.uri(call)?;
        let headers = req.headers_mut();
        headers.insert(HOST, self.inner.host.clone());
        headers.insert(AUTHORIZATION, self.inner.auth.clone());
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, self.inner.user_agent.clone());
        if call.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let started = std::time::Instant::now();
        let answer = match self.inner.transport.send(req).await {
            Ok(a) => a,
            Err(failure) => {
                self.inner.stats.record(None);
                return Err(match failure {
                    transport::Failure::Transport { kind, detail } => ApiError::Transport {
                        method,
                        path: path(),
                        kind,
                        detail: clip(&detail, 300),
                    },
                    transport::Failure::TooLarge => ApiError::Decode {
                        method,
                        path: path(),
                        detail: format!(
                            "the answer is larger than {} MiB",
                            transport::MAX_ANSWER_BYTES / (1024 * 1024)
                        ),
                    },
                });
            }
        };
        let status = answer.status;
        let retry_after = answer
            .retry_after
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
        let bytes = answer.body;
        self.inner.stats.record(Some(status));
        tracing::trace!(
            endpoint = call.template,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "DocSpace call"
        );
        if status == 401 {
            return Err(ApiError::Unauthorized {
                method,
                path: path(),
            });
        }
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<Envelope<serde_json::Value>>(&bytes)
                .ok()
                .and_then(|e| e.error)
                .and_then(|e| e.message)
                .map(|m| clip(&m, 300));
            return Err(ApiError::Status {
                method,
                path: path(),
                status,
                message,
                retry_after,
            });
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Envelope {
                response: None,
                count: None,
                total: None,
                status: None,
                status_code: Some(status as i64),
                error: None,
            });
        }
        // Checked as UTF-8 once, not string by string inside the parser.
        let text = std::str::from_utf8(&bytes).map_err(|e| ApiError::Decode {
            method,
            path: path(),
            detail: format!("the answer is not UTF-8: {e}"),
        })?;
        let env: Envelope<T> = serde_json::from_str(text).map_err(|e| ApiError::Decode {
            method,
            path: path(),
            detail: clip(&e.to_string(), 300),
        })?;
        // DocSpace "does not always respect HTTP status codes" (API-NOTES §1.2).
        if env.status == Some(1) || env.error.is_some() {
            let message = env
                .error
                .as_ref()
                .and_then(|e| e.message.clone())
                .unwrap_or_else(|| "status 1 without a message".into());
            return Err(ApiError::Reported {
                method,
                path: path(),
                status,
                message: clip(&message, 300),
            });
        }
        Ok(env)
    }

    async fn get_required<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ApiError> {
        let env = self.send::<T>(&call).await?;
        env.response.ok_or(ApiError::MissingResponse {
            method: "GET",
            path: call.template.to_string(),
        })
    }

    // ---- people -----------------------------------------------------------

    /// The user the API key acts as.
    pub async fn whoami(&self) -> Result<User, ApiError> {
        self.get_required(Call::get("people/@self", "people/@self".into()))
            .await
    }

    pub async fn user(&self, id: &UserId) -> Result<User, ApiError> {
        self.get_required(Call::get(
            "people/{id}",
            format!("people/{}", path_guid(id)?),
        ))
        .await
    }

    /// Every user matching the query, across all pages.
    pub async fn people(&self, query: &PeopleQuery) -> Result<Vec<User>, ApiError> {
        let users = self
            .fetch_all(|start| async move {
                let mut call = Call::get("people/filter", "people/filter".into())
                    .query("count", PAGE_SIZE)
                    .query("startIndex", start);
                if let Some(s) = query.status {
                    call = call.query("employeeStatus", s);
                }
                if let Some(t) = query.employee_type {
                    call = call.query("employeeType", t);
                }
                let env = self.send::<Vec<User>>(&call).await?;
                Ok((env.response.unwrap_or_default(), env.total))
            })
            .await?;
        let mut seen = HashSet::new();
        Ok(users
            .into_iter()
            .filter(|u| seen.insert(u.id.clone()))
            .collect())
    }

    // ---- rooms ------------------------------------------------------------

    /// Every room matching the query, across all pages; an entry that
    /// cannot be read makes the whole call fail (see [`Self::room_listing`]
    /// to keep the others).
    pub async fn rooms(&self, query: &RoomQuery) -> Result<Vec<Room>, ApiError> {
        let listing = self.room_listing(query).await?;
        if let Some(bad) = listing.unreadable.first() {
            return Err(ApiError::Decode {
                method: "GET",
                path: "files/rooms".into(),
                detail: format!(
                    "room entry {}: {}",
                    clip(bad.id.as_deref().unwrap_or("without an id"), 100),
                    clip(&bad.error, 300)
                ),
            });
        }
        Ok(listing.rooms)
    }

    /// Every room matching the query, across all pages, with the entries
    /// that could not be read set apart. The total of a room list sits in
    /// `response.total` (API-NOTES §3).
    pub async fn room_listing(&self, query: &RoomQuery) -> Result<RoomListing, ApiError> {
        let entries = self
            .fetch_all(|start| async move {
                let mut call = Call::get("files/rooms", "files/rooms".into())
                    .query("searchArea", query.area as i64)
                    .query("count", PAGE_SIZE)
                    .query("startIndex", start)
                    // Creation order is stable while rooms are archived or
                    // restored during the scan; duplicates are dropped by id.
                    .query("sortBy", "DateAndTimeCreation")
                    .query("sortOrder", 0);
                if let Some(s) = &query.subject_id {
                    call = call.query("subjectId", s);
                }
                if let Some(o) = &query.owner_id {
                    call = call.query("subjectOwnerId", o);
                }
                let content: FolderContent = self.get_required(call).await?;
                Ok((content.folders, content.total))
            })
            .await?;
        let mut seen = HashSet::new();
        let mut listing = RoomListing::default();
        for entry in entries {
            match entry {
                Listed::Item(room) => {
                    if seen.insert(room.id.clone()) {
                        listing.rooms.push(room);
                    }
                }
                Listed::Unreadable(bad) => listing.unreadable.push(bad),
            }
        }
        Ok(listing)
    }

    /// Fetches every page of a list. The first page tells the total; the
    /// other pages are then fetched in parallel (bounded by the client's
    /// read limit), in order. Without a total the pages are walked one by
    /// one until an empty page.
    async fn fetch_all<T, F, Fut>(&self, fetch_page: F) -> Result<Vec<T>, ApiError>
    where
        F: Fn(i64) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<i64>), ApiError>>,
    {
        let (first, total) = fetch_page(0).await?;
        let page = first.len() as i64;
        let mut out = first;
        let mut start = page;
        // A short page is the last one (`count` is at most PAGE_SIZE); a
        // server that ignores `startIndex` would otherwise be paged forever.
        if page == 0 || (total.is_none() && page < PAGE_SIZE) {
            return Ok(out);
        }
        if let Some(t) = total.filter(|t| *t > MAX_LIST_ITEMS) {
            return Err(too_long(t));
        }
        if let Some(total) = total.filter(|t| *t > page) {
            let starts: Vec<i64> = (1..).map(|i| i * page).take_while(|s| *s < total).collect();
            let last_start = starts.last().copied();
            let mut pages = futures_util::stream::iter(starts)
                .map(&fetch_page)
                .buffered(self.inner.settings.max_concurrency.max(1));
            while let Some(result) = pages.next().await {
                let (items, _) = result?;
                start += items.len() as i64;
                out.extend(items);
            }
            // Rows added while paging show up past the old total; walk on
            // until a short page.
            if last_start.is_none_or(|last| start < last + page) {
                return Ok(out);
            }
        } else if total.is_some() {
            return Ok(out);
        }
        loop {
            let (items, total) = fetch_page(start).await?;
            let n = items.len() as i64;
            out.extend(items);
            start += n;
            if n == 0 || n < PAGE_SIZE || total.is_some_and(|t| start >= t) {
                return Ok(out);
            }
            if start > MAX_LIST_ITEMS {
                return Err(too_long(start));
            }
        }
    }

    /// The number of rooms matching the query (one small request).
    pub async fn room_count(&self, query: &RoomQuery) -> Result<i64, ApiError> {
        let mut call = Call::get("files/rooms", "files/rooms".into())
            .query("searchArea", query.area as i64)
            .query("count", 1)
            .query("startIndex", 0);
        if let Some(s) = &query.subject_id {
            call = call.query("subjectId", s);
        }
        if let Some(o) = &query.owner_id {
            call = call.query("subjectOwnerId", o);
        }
        let content: FolderContent = self.get_required(call).await?;
        Ok(content.total.unwrap_or(content.folders.len() as i64))
    }

    pub async fn room(&self, id: &RoomId) -> Result<Room, ApiError> {
        self.get_required(Call::get(
            "files/rooms/{id}",
            format!("files/rooms/{}", id.as_path_segment()),
        ))
        .await
    }

    /// Every share row of a room for the filter, across all pages; the total
    /// sits in the envelope here.
    pub async fn room_shares(
        &self,
        room: &RoomId,
        filter: ShareFilter,
    ) -> Result<Vec<ShareRow>, ApiError> {
        let path = format!("files/rooms/{}/share", room.as_path_segment());
        let path = &path;
        self.fetch_all(|start| async move {
            let call = Call::get("files/rooms/{id}/share", path.clone())
                .query("filterType", filter as i64)
                .query("count", PAGE_SIZE)
                .query("startIndex", start);
            let env = self.send::<Vec<ShareRow>>(&call).await?;
            Ok((env.response.unwrap_or_default(), env.total))
        })
        .await
    }

    /// External links of a room. `GET …/links` does not page and never
    /// creates a link (unlike `GET …/link`, which the auditor never calls).
    pub async fn room_external_links(&self, room: &RoomId) -> Result<Vec<ShareRow>, ApiError> {
        let call = Call::get(
            "files/rooms/{id}/links",
            format!("files/rooms/{}/links", room.as_path_segment()),
        )
        .query("type", 1);
        let env = self.send::<Vec<ShareRow>>(&call).await?;
        Ok(env.response.unwrap_or_default())
    }

    /// Applies share changes (`PUT rooms/{id}/share`). Refuses an empty list:
    /// the server would answer success and do nothing.
    pub async fn set_room_share(
        &self,
        room: &RoomId,
        request: &RoomInvitationRequest,
    ) -> Result<RoomSecurity, ApiError> {
        if request.invitations.is_empty() {
            return Err(ApiError::Decode {
                method: "PUT",
                path: "files/rooms/{id}/share".into(),
                detail: format!("refusing to send an empty invitation list for room {room}"),
            });
        }
        let call = Call::write(
            Method::PUT,
            "files/rooms/{id}/share",
            format!("files/rooms/{}/share", room.as_path_segment()),
            request,
        )?;
        let env = self.send::<RoomSecurity>(&call).await?;
        Ok(env.response.unwrap_or(RoomSecurity {
            members: None,
            warning: None,
            error: None,
        }))
    }

    /// Revokes an external link. `Ok(None)`: deleted (no `response`).
    /// `Ok(Some(row))`: the server skipped it or rotated it into a new link.
    pub async fn revoke_link(
        &self,
        room: &RoomId,
        request: &LinkRevocation,
    ) -> Result<Option<ShareRow>, ApiError> {
        let call = Call::write(
            Method::PUT,
            "files/rooms/{id}/links",
            format!("files/rooms/{}/links", room.as_path_segment()),
            request,
        )?;
        Ok(self.send::<ShareRow>(&call).await?.response)
    }

    /// Starts moving a room into the Archive; returns the file operation.
    pub async fn archive_room(&self, room: &RoomId) -> Result<FileOperation, ApiError> {
        self.room_move(room, "files/rooms/{id}/archive", "archive")
            .await
    }

    /// Starts moving a room out of the Archive; returns the file operation.
    pub async fn unarchive_room(&self, room: &RoomId) -> Result<FileOperation, ApiError> {
        self.room_move(room, "files/rooms/{id}/unarchive", "unarchive")
            .await
    }

    async fn room_move(
        &self,
        room: &RoomId,
        template: &'static str,
        verb: &str,
    ) -> Result<FileOperation, ApiError> {
        let call = Call::write(
            Method::PUT,
            template,
            format!("files/rooms/{}/{verb}", room.as_path_segment()),
            &ArchiveRoomRequest {
                delete_after: false,
            },
        )?;
        let env = self.send::<OneOrMany<FileOperation>>(&call).await?;
        env.response
            .and_then(OneOrMany::first)
            .ok_or(ApiError::MissingResponse {
                method: "PUT",
                path: template.to_string(),
            })
    }

    /// Follows a file operation (`GET files/fileops`) until it finishes, fails
    /// or passes the configured timeout.
    pub async fn wait_for_operation(
        &self,
        room: &RoomId,
        verb: &str,
        started: FileOperation,
    ) -> Result<(), ApiError> {
        let op_err = |detail: String| ApiError::Operation {
            operation: verb.to_string(),
            room: room.to_string(),
            detail,
        };
        let mut current = started;
        let deadline = Instant::now() + self.inner.settings.operation_timeout;
        loop {
            if current.finished {
                return match current.error.as_deref().map(str::trim) {
                    Some(e) if !e.is_empty() => Err(op_err(clip(e, 300))),
                    _ => Ok(()),
                };
            }
            if Instant::now() >= deadline {
                return Err(op_err(format!(
                    "not finished after {:?} (last progress {}%)",
                    self.inner.settings.operation_timeout,
                    current.progress.unwrap_or(0)
                )));
            }
            tokio::time::sleep(self.inner.settings.operation_poll).await;
            let mut call = Call::get("files/fileops", "files/fileops".into());
            if let Some(id) = &current.id {
                call = call.query("id", id);
            }
            let env = self.send::<Vec<FileOperation>>(&call).await?;
            let ops = env.response.unwrap_or_default();
            current = match &current.id {
                Some(id) => match ops
                    .into_iter()
                    .find(|o| o.id.as_deref() == Some(id.as_str()))
                {
                    Some(op) => op,
                    None => {
                        return Err(op_err(format!(
                            "operation {id} is no longer listed; reading the room back decides"
                        )));
                    }
                },
                None => ops
                    .into_iter()
                    .next()
                    .ok_or_else(|| op_err("no operation id and no operation listed".to_string()))?,
            };
        }
    }

    // ---- reassignment, status, deletion -----------------------------------

    pub async fn reassign_necessary(
        &self,
        user: &UserId,
        employee_type: EmployeeType,
    ) -> Result<bool, ApiError> {
        let call = Call::get(
            "people/reassign/necessary",
            "people/reassign/necessary".into(),
        )
        .query("userId", user)
        .query("type", employee_type.name());
        self.get_required(call).await
    }

    pub async fn reassign_start(
        &self,
        request: &StartReassignRequest,
    ) -> Result<Option<TaskProgress>, ApiError> {
        let call = Call::write(
            Method::POST,
            "people/reassign/start",
            "people/reassign/start".into(),
            request,
        )?;
        Ok(self.send::<TaskProgress>(&call).await?.response)
    }

    /// The reassignment progress of a user; `None` when no task is known.
    pub async fn reassign_progress(&self, user: &UserId) -> Result<Option<TaskProgress>, ApiError> {
        let call = Call::get(
            "people/reassign/progress/{userid}",
            format!("people/reassign/progress/{}", path_guid(user)?),
        );
        Ok(self.send::<TaskProgress>(&call).await?.response)
    }

    /// Disables users (`PUT people/status/2`).
    pub async fn disable_users(&self, ids: &[UserId]) -> Result<Vec<User>, ApiError> {
        let call = Call::write(
            Method::PUT,
            "people/status/{status}",
            "people/status/2".into(),
            &UserIdsRequest {
                user_ids: ids.iter().map(|i| i.to_string()).collect(),
            },
        )?;
        Ok(self
            .send::<Vec<User>>(&call)
            .await?
            .response
            .unwrap_or_default())
    }

    /// Deletes disabled users portal-wide (`PUT people/delete`).
    pub async fn delete_users(&self, ids: &[UserId]) -> Result<(), ApiError> {
        let call = Call::write(
            Method::PUT,
            "people/delete",
            "people/delete".into(),
            &UserIdsRequest {
                user_ids: ids.iter().map(|i| i.to_string()).collect(),
            },
        )?;
        self.send::<serde_json::Value>(&call).await.map(|_| ())
    }

    /// Detaches guests from the key user's guest list (`DELETE people/guests`).
    pub async fn detach_guests(&self, ids: &[UserId]) -> Result<(), ApiError> {
        let call = Call::write(
            Method::DELETE,
            "people/guests",
            "people/guests".into(),
            &UserIdsRequest {
                user_ids: ids.iter().map(|i| i.to_string()).collect(),
            },
        )?;
        self.send::<serde_json::Value>(&call).await.map(|_| ())
    }

    /// Audit-trail events, newest first, stopping at a short page (the
    /// endpoint gives no total).
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, ApiError> {
        let mut out = Vec::new();
        let mut start = 0i64;
        loop {
            let mut call = Call::get(
                "security/audit/events/filter",
                "security/audit/events/filter".into(),
            )
            .query("from", query.from.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
            .query("to", query.to.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
            .query("count", PAGE_SIZE)
            .query("startIndex", start);
            if let Some(u) = &query.user_id {
                call = call.query("userId", u);
            }
            if let Some(u) = &query.about_user {
                call = call.query("entryType", 23).query("target", u);
            }
            let env = self.send::<Vec<AuditEvent>>(&call).await?;
            let page = env.response.unwrap_or_default();
            let n = page.len();
            out.extend(page);
            start += n as i64;
            if (n as i64) < PAGE_SIZE || out.len() >= query.max_events {
                out.truncate(query.max_events);
                return Ok(out);
            }
        }
    }
}

/// The most items one list may hold; a server claiming more (or paging on
/// past it) is answering nonsense, and reading on would exhaust memory.
const MAX_LIST_ITEMS: i64 = 1_000_000;

fn too_long(items: i64) -> ApiError {
    ApiError::Decode {
        method: "GET",
        path: "(paged list)".into(),
        detail: format!(
            "the list has {items} items or more, past the {MAX_LIST_ITEMS} this client reads"
        ),
    }
}

/// Some deployments answer a file operation as a one-item array.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn first(self) -> Option<T> {
        match self {
            OneOrMany::One(t) => Some(t),
            OneOrMany::Many(v) => v.into_iter().next(),
        }
    }
}

fn path_guid(id: &UserId) -> Result<String, ApiError> {
    if id.is_well_formed() {
        Ok(id.to_string())
    } else {
        Err(ApiError::InvalidRequest {
            method: "HTTP",
            path: "people/{id}".into(),
            detail: format!("{id:?} is not a GUID"),
        })
    }
}

/// Shortens text from the server to keep messages (and reports) bounded,
/// and puts it on one line: control characters (CR, LF, ESC, …) and bidi
/// controls become spaces, so a server message cannot forge a log line.
pub fn clip(text: &str, max: usize) -> String {
    crate::report::safe::one_line(text, max)
}
