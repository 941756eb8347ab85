//! A stateful fake ONLYOFFICE DocSpace portal.
//!
//! `FakePortal::start` serves the subset of the DocSpace REST API that
//! docspace-auditor uses, on 127.0.0.1, answering with the server's real
//! shapes and quirks as documented in `shared/docspace/API-NOTES.md`: the
//! envelope, 7-digit date strings, 401 with an empty body, `count` limits,
//! archived rooms refusing writes, string access values read as None, link
//! revocations skipped on a mismatched `internal`, asynchronous
//! archive/unarchive, reassignment progress, and so on. Every write changes
//! the in-memory state, so the next read sees it; tests look at the state
//! through `PortalView` snapshots and at the exact requests received.
//!
//! It is for end-to-end tests, the `demo` command and benchmarks; it never
//! listens on anything but loopback. `conformance` holds the small
//! JSON-Schema validator used to check shapes against `openapi.json`.

pub mod conformance;
mod delay;
mod endpoints;
mod faults;
mod generate;
mod model;
mod render;
mod scenario;
mod server;
mod time;
mod view;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use faults::{FaultKind, Faults, PathFault};
pub use generate::GenerateSpec;
pub use scenario::{
    AuditEventSpec, GroupSpec, LinkKind, LinkSpec, ReassignBehaviour, RoomId, RoomKind, RoomSpec,
    Scenario, ScenarioError, ShareSpec, UserKind, UserSpec, UserStatus,
};
pub use time::format as format_date;
pub use view::{
    AuditView, EmailKind, LinkView, PortalView, ReassignView, RecordedRequest, RoomView, SentEmail,
    UserView,
};

/// A running fake portal. Dropping it stops the server too; `shutdown`
/// waits for it to stop.
pub struct FakePortal {
    app: Arc<server::App>,
    base_url: String,
    token: String,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakePortal {
    /// Validates the scenario, binds 127.0.0.1 on a free port and serves.
    pub async fn start(scenario: Scenario) -> std::io::Result<FakePortal> {
        FakePortal::start_on(scenario, 0).await
    }

    /// As `start`, on a chosen port (0 = any free port).
    pub async fn start_on(scenario: Scenario, port: u16) -> std::io::Result<FakePortal> {
        scenario
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let token = scenario.token.clone();
        let (stop, stopped) = watch::channel(false);
        let app = Arc::new(server::App {
            state: std::sync::Mutex::new(model::State::new(scenario, base_url.clone())),
            shutdown: stopped.clone(),
            delay: delay::PreciseDelay::start(),
        });
        let router = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&app));
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // An error means the handle is gone: stop as well.
                    let _ = signal.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "fake portal server stopped with an error");
            }
        });
        tracing::debug!(%base_url, "fake portal listening");
        Ok(FakePortal {
            app,
            base_url,
            token,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The API key to send as `Authorization: Bearer <token>`.
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Replaces the fault configuration (and restarts its random sequence).
    pub fn set_faults(&self, faults: Faults) {
        self.app.lock().faults = faults::FaultState::new(faults);
    }

    /// A snapshot of the portal.
    pub fn state(&self) -> PortalView {
        PortalView::of(&self.app.lock())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.lock().counters.requests.clone()
    }

    /// The non-GET requests received so far, in order.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.app
            .lock()
            .counters
            .requests
            .iter()
            .filter(|r| r.is_write())
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests (counters are kept).
    pub fn clear_requests(&self) {
        self.app.lock().counters.requests.clear();
    }

    /// The e-mails the real portal would have sent.
    pub fn emails(&self) -> Vec<SentEmail> {
        self.app.lock().emails.clone()
    }

    /// Changes how a future reassignment of `user_id` behaves.
    pub fn set_reassign_behaviour(&self, user_id: &str, behaviour: ReassignBehaviour) {
        self.app
            .lock()
            .reassign_behaviour
            .insert(user_id.to_string(), behaviour);
    }

    /// Changes the room quota checked by unarchive.
    pub fn set_room_quota(&self, quota: Option<usize>) {
        self.app.lock().room_quota = quota;
    }

    /// Sets a user's status directly (for "the key's creator was disabled"
    /// scenarios that the API itself refuses).
    pub fn set_user_status(&self, user_id: &str, status: UserStatus) {
        if let Some(u) = self.app.lock().user_mut(user_id) {
            u.status = status;
        }
    }

    /// Stops the server and waits (at most 5 s) for it to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for FakePortal {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for FakePortal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential of the fake only, but keep it out of
        // debug output anyway, like a real one.
        f.debug_struct("FakePortal")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}
