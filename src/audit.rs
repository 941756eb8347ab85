//! The audit run: decides *what* happens in one run. It reads the portal,
//! feeds the checks, applies policy, has the remediator act, records state
//! and writes the reports. Scheduling (*when*) lives in the daemon.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::api::wire::{Room, User};
use crate::api::{
    ApiError, DocSpaceClient, PeopleQuery, RoomId, RoomQuery, SearchArea, ShareFilter, UserId,
};
use crate::check::{self, CheckContext, CheckId, Proposal, RoomCheck, RoomSnapshot};
use crate::clock::Clock;
use crate::config::{Config, Mode};
use crate::finding::{
    ActionOutcome, ActionRecord, Finding, FindingStatus, RoomInfo, RoomState, Severity, Subject,
    SubjectKind,
};
use crate::policy::{ChangeBudget, Decision, decide};
use crate::remediate::{FixOutcome, Remediator};
use crate::report::{ReportError, ReportWriter, RunManifest};
use crate::state::{StateError, StateStore};

/// What to audit in one run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Force dry-run on (never off) for this run.
    pub dry_run: bool,
    /// Only these checks (empty: every check not `off`).
    pub checks: Vec<CheckId>,
    /// Only this room (a webhook's `room.archived`).
    pub only_room: Option<RoomId>,
    /// Only this user (a webhook's `user.updated`), for offboarding checks.
    pub only_user: Option<UserId>,
    /// A short label added to the run id (`webhook-room-42`).
    pub label: Option<String>,
}

/// How a run ended when it did end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    /// No open or failed findings.
    Clean,
    /// Open, failed or skipped-by-cap findings remain.
    Attention,
}

/// Everything a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub report_dir: PathBuf,
    pub findings: Vec<Finding>,
    pub actions: Vec<ActionRecord>,
    pub checks_run: Vec<CheckId>,
    pub rooms_audited: usize,
    pub rooms_failed: usize,
    pub warnings: Vec<String>,
    pub dry_run: bool,
    pub result: RunResult,
    /// The key's user.
    pub key_user: Option<UserId>,
}

impl RunOutcome {
    /// Findings by check and status, for summaries and metrics.
    pub fn counts(&self) -> BTreeMap<(CheckId, FindingStatus), usize> {
        let mut m = BTreeMap::new();
        for f in &self.findings {
            *m.entry((f.check, f.status)).or_default() += 1;
        }
        m
    }
}

/// A failure of the whole run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("portal: {0}")]
    Api(#[from] ApiError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("every room failed to be audited ({failed} rooms); first error: {first}")]
    AllRoomsFailed { failed: usize, first: String },
    #[error("the run was cancelled before it started auditing")]
    Cancelled,
    #[error("notifications: {0}")]
    Notify(#[from] crate::notify::NotifyError),
}

/// Runs audits against one portal. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    client: DocSpaceClient,
    state: Arc<StateStore>,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
    notifier: Option<crate::notify::Notifier>,
}

/// A room to audit and where it sits.
struct Target {
    room: Room,
    state: RoomState,
}

/// The room checks of this build, in report order.
fn room_checks() -> [(CheckId, RoomCheck); 3] {
    [
        (
            CheckId::ArchivedRoomGuests,
            check::archived_room_guests::check,
        ),
        (
            CheckId::ArchivedRoomLinks,
            check::archived_room_links::check,
        ),
        (
            CheckId::ArchiveAccessDrift,
            check::archive_access_drift::check,
        ),
    ]
}

impl Auditor {
    pub fn new(
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        cancel: CancellationToken,
    ) -> Result<Auditor, RunError> {
        let client = DocSpaceClient::new(config.portal.clone())?;
        let state = Arc::new(StateStore::open(&config.state_path)?);
        let notifier = if config.notify.enabled {
            Some(crate::notify::Notifier::new(&config.notify)?)
        } else {
            None
        };
        Ok(Auditor {
            inner: Arc::new(Inner {
                config,
                client,
                state,
                clock,
                cancel,
                notifier,
            }),
        })
    }

    pub fn state(&self) -> &Arc<StateStore> {
        &self.inner.state
    }

    pub fn client(&self) -> &DocSpaceClient {
        &self.inner.client
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// The notifier, when notifications are enabled.
    pub fn notifier(&self) -> Option<&crate::notify::Notifier> {
        self.inner.notifier.as_ref()
    }

    /// The checks a request runs: those not `off`, narrowed by the request.
    pub fn checks_for(&self, request: &RunRequest) -> Vec<CheckId> {
        CheckId::ALL
            .into_iter()
            .filter(|c| self.inner.config.policy.check(*c).mode != Mode::Off)
            .filter(|c| request.checks.is_empty() || request.checks.contains(c))
            .collect()
    }

    /// One audit run. Only a failure of the whole run is an `Err`; a room
    /// that cannot be audited becomes a `failed` finding.
    pub async fn run(&self, request: RunRequest) -> Result<RunOutcome, RunError> {
        let cfg = &self.inner.config;
        let started = self.inner.clock.now();
        let run_id = crate::report::new_run_id(started, request.label.as_deref());
        let dry_run = request.dry_run || cfg.policy.dry_run;
        let checks = self.checks_for(&request);
        let mut manifest = RunManifest {
            run_id: run_id.clone(),
            status: "running".into(),
            started,
            finished: None,
            dry_run,
            checks: checks.iter().map(|c| c.name().to_string()).collect(),
            rooms_audited: 0,
            rooms_failed: 0,
            findings: 0,
            actions: 0,
            warnings: Vec::new(),
            note: Some("the run has not finished; if this stays, the process died and the next run says so".into()),
        };
        let writer = ReportWriter::create(&cfg.reports.dir, &run_id, &manifest)?;
        self.inner.state.begin_run(&run_id, started, writer.dir())?;
        tracing::info!(run_id = %run_id, dry_run, checks = ?manifest.checks, "audit run started");
        self.mark_dead_runs(&run_id);

        let result = self.audit(&run_id, &request, &checks, dry_run).await;
        let finished = self.inner.clock.now();
        let mut body = match result {
            Ok(b) => b,
            Err(e) => {
                manifest.status = "failed".into();
                manifest.finished = Some(finished);
                manifest.note = Some(crate::report::safe::one_line(&e.to_string(), 500));
                let _ = writer.write_manifest(&manifest);
                let _ = self.inner.state.finish_run(&run_id, finished, "failed");
                tracing::error!(run_id = %run_id, error = %e, "audit run failed");
                return Err(e);
            }
        };

        let unaudited: HashSet<String> = body
            .findings
            .iter()
            .filter(|f| f.check == CheckId::RoomAudit)
            .filter_map(|f| f.room.as_ref().map(|r| r.id.to_string()))
            .collect();
        // A stopped run or a targeted run saw only part of the portal:
        // absence there proves nothing about the rest, so nothing is marked
        // resolved.
        let stopped = self.inner.cancel.is_cancelled();
        if stopped {
            body.warnings.push(
                "the run was stopped before it finished: rooms it did not reach were not audited, and earlier findings stay open".into(),
            );
        }
        // The reports before the state: a report that cannot be written
        // (disk full, folder not writable) fails the run before the state
        // store moves on, and its changes stay in the journal for the next
        // run's report.
        let written = (|| -> Result<(), ReportError> {
            writer.write_findings(&body.findings, finished)?;
            writer.write_actions(&body.actions)?;
            if !body.audit_events.is_empty() {
                writer.write_audit_events(&body.audit_events)?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            manifest.status = "failed".into();
            manifest.finished = Some(finished);
            manifest.note = Some(crate::report::safe::one_line(&e.to_string(), 500));
            let _ = writer.write_manifest(&manifest);
            let _ = self.inner.state.finish_run(&run_id, finished, "failed");
            tracing::error!(run_id = %run_id, error = %e, "audit run failed");
            return Err(e.into());
        }
        if let Err(e) = self
            .inner
            .state
            .journal_mark_reported(&run_id, &body.journal_reported)
        {
            tracing::warn!(run_id = %run_id, error = %e, "cannot record which changes were reported; the next run may report them again");
        }
        if request.only_room.is_none() && request.only_user.is_none() && !stopped {
            self.inner.state.record_findings(
                &run_id,
                finished,
                &body.findings,
                &checks,
                &unaudited,
                &body.unaudited_checks,
            )?;
        }
        let attention = body.findings.iter().any(|f| f.status.needs_attention());
        let result = if attention {
            RunResult::Attention
        } else {
            RunResult::Clean
        };
        manifest.status = if stopped { "stopped" } else { "complete" }.into();
        manifest.finished = Some(finished);
        manifest.rooms_audited = body.rooms_audited;
        manifest.rooms_failed = body.rooms_failed;
        manifest.findings = body.findings.len();
        manifest.actions = body.actions.len();
        manifest.warnings = body.warnings.clone();
        manifest.note = None;
        writer.write_manifest(&manifest)?;
        self.inner.state.finish_run(
            &run_id,
            finished,
            match (stopped, attention) {
                (true, _) => "stopped",
                (false, true) => "findings",
                (false, false) => "clean",
            },
        )?;
        if let Err(e) = crate::report::prune(&cfg.reports.dir, cfg.reports.keep_runs) {
            body.warnings
                .push(format!("old reports were not pruned: {e}"));
        }
        let outcome = RunOutcome {
            run_id: run_id.clone(),
            started,
            finished,
            report_dir: writer.dir().to_path_buf(),
            findings: body.findings,
            actions: body.actions,
            checks_run: checks,
            rooms_audited: body.rooms_audited,
            rooms_failed: body.rooms_failed,
            warnings: body.warnings,
            dry_run,
            result,
            key_user: body.key_user,
        };
        let mut outcome = outcome;
        // Mail never fails a run: undelivered messages stay queued in the
        // state store and are retried by the next run.
        if let Some(notifier) = &self.inner.notifier {
            match notifier
                .after_run(&self.inner.state, &outcome, self.inner.clock.now())
                .await
            {
                Ok(report) => {
                    if report.failed > 0 {
                        outcome.warnings.push(format!(
                            "{} messages could not be delivered and stay queued for the next run",
                            report.failed
                        ));
                    }
                    for a in report.invalid_addresses {
                        outcome
                            .warnings
                            .push(format!("invalid email address not mailed: {a}"));
                    }
                }
                Err(e) => {
                    tracing::error!(run_id = %run_id, error = %e, "notifications failed");
                    outcome.warnings.push(format!("notifications failed: {e}"));
                }
            }
        }
        let counts = outcome.counts();
        let count = |s: FindingStatus| {
            counts
                .iter()
                .filter(|((_, st), _)| *st == s)
                .map(|(_, n)| n)
                .sum::<usize>()
        };
        tracing::info!(
            run_id = %run_id,
            rooms_audited = outcome.rooms_audited,
            rooms_failed = outcome.rooms_failed,
            open = count(FindingStatus::Open),
            fixed = count(FindingStatus::Fixed),
            failed = count(FindingStatus::Failed),
            exempt = count(FindingStatus::Exempt),
            in_grace = count(FindingStatus::InGrace),
            skipped_by_cap = count(FindingStatus::SkippedByCap),
            actions = outcome.actions.len(),
            elapsed_ms = (finished - started).num_milliseconds(),
            report = %outcome.report_dir.display(),
            "audit run finished"
        );
        Ok(outcome)
    }

    /// Marks the report folders of runs that never finished as incomplete.
    fn mark_dead_runs(&self, current: &str) {
        let Ok(runs) = self.inner.state.unfinished_runs() else {
            return;
        };
        for (id, dir) in runs.into_iter().filter(|(id, _)| id != current) {
            let path = dir.join("run.json");
            let mut manifest: serde_json::Value = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| serde_json::json!({"run_id": id}));
            manifest["status"] = "incomplete".into();
            manifest["note"] = format!(
                "the process stopped before this run finished; changes it made are reported by run {current} (recover-* actions)"
            )
            .into();
            // A write cut short by the kill leaves its temporary file.
            for tmp in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = tmp.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.contains(".tmp-") {
                    let _ = std::fs::remove_file(tmp.path());
                }
            }
            if dir.exists()
                && let Ok(bytes) = serde_json::to_vec_pretty(&manifest)
            {
                let _ = crate::report::atomic_write(&path, &bytes);
            }
            let _ = self
                .inner
                .state
                .finish_run(&id, self.inner.clock.now(), "incomplete");
            tracing::warn!(run_id = %id, "an earlier run did not finish; marked incomplete");
        }
    }

    async fn audit(
        &self,
        run_id: &str,
        request: &RunRequest,
        checks: &[CheckId],
        dry_run: bool,
    ) -> Result<AuditBody, RunError> {
        let cfg = &self.inner.config;
        let client = &self.inner.client;
        let state = &self.inner.state;
        let mut body = AuditBody::default();

        let me = client.whoami().await?;
        body.key_user = Some(me.id.clone());
        if !(me.is_admin || me.is_owner) {
            let w = format!(
                "the API key's user {} ({}) is not a DocSpace admin: the scan sees only the rooms that user belongs to",
                crate::report::safe::one_line(&me.name(), 100),
                me.id
            );
            tracing::warn!("{w}");
            body.warnings.push(w);
        }
        let remediator = Remediator {
            client,
            state,
            run_id,
            clock: self.inner.clock.as_ref(),
        };
        // Changes of runs that died before writing their report go into
        // this one; open entries are settled by `recover` below.
        let (late, mut reported) =
            crate::remediate::recovery::unreported_changes(state, run_id, self.inner.clock.now());
        body.actions.extend(late);
        if !dry_run {
            reported.extend(state.journal_open()?.into_iter().map(|e| e.id));
        }
        body.journal_reported = reported;
        if dry_run {
            if !state.open_transactions()?.is_empty() {
                let w = "a room was left outside the Archive by an earlier run; it is re-archived by the next run that is not a dry-run".to_string();
                tracing::warn!("{w}");
                body.warnings.push(w);
            }
        } else {
            body.actions.extend(remediator.recover().await);
        }

        let room_checks: Vec<_> = room_checks()
            .into_iter()
            .filter(|(id, _)| checks.contains(id))
            .collect();
        let user_checks: Vec<CheckId> = checks
            .iter()
            .copied()
            .filter(|c| {
                matches!(
                    c,
                    CheckId::DisabledUserContent
                        | CheckId::OrphanedGuests
                        | CheckId::DisabledUserAccess
                )
            })
            .collect();
        // The room scan and the user scan are independent: run them side by
        // side so the portal's latency is paid once, within the client's
        // concurrency bound.
        let rooms = async {
            if room_checks.is_empty() || request.only_user.is_some() {
                return Ok(None);
            }
            self.scan_rooms(request, &room_checks, me.id.clone())
                .await
                .map(Some)
        };
        let users = async {
            if user_checks.is_empty() || request.only_room.is_some() {
                return Ok(None);
            }
            crate::offboarding::scan(
                client,
                cfg,
                state,
                &user_checks,
                request.only_user.as_ref(),
                &me,
                self.inner.clock.now(),
            )
            .await
            .map(Some)
        };
        let (rooms, users) = tokio::join!(rooms, users);
        let mut proposals: Vec<Proposal> = Vec::new();
        if let Some(scan) = rooms? {
            proposals.extend(scan.proposals);
            body.findings.extend(scan.body.findings);
            body.warnings.extend(scan.body.warnings);
            body.rooms_audited = scan.body.rooms_audited;
            body.rooms_failed = scan.body.rooms_failed;
            body.first_error = scan.body.first_error;
        }
        if let Some(scan) = users? {
            proposals.extend(scan.proposals);
            body.findings.extend(scan.failures);
            body.warnings.extend(scan.warnings);
            body.unaudited_checks.extend(scan.unaudited_checks);
            body.audit_events = scan.audit_events;
        }

        self.decide_and_remediate(proposals, &remediator, dry_run, &mut body)
            .await?;
        Ok(body)
    }

    /// Reads every room in scope and runs the room checks on it.
    async fn scan_rooms(
        &self,
        request: &RunRequest,
        room_checks: &[(CheckId, RoomCheck)],
        key_user: UserId,
    ) -> Result<RoomScan, RunError> {
        let cfg = &self.inner.config;
        let mut scan = RoomScan::default();
        let body = &mut scan.body;
        let targets = self.collect_targets(request, body).await?;
        let owners = self.resolve_owners(&targets).await;
        let now = self.inner.clock.now();
        let archived_ids: Vec<String> = targets
            .iter()
            .filter(|t| t.state == RoomState::Archived)
            .map(|t| t.room.id.to_string())
            .collect();
        let first_seen = self
            .inner
            .state
            .rooms_first_seen_archived(&archived_ids, now)?;
        let first_seen = &first_seen;
        let concurrency = cfg.portal.max_concurrency.max(1);
        let cancel = self.inner.cancel.clone();
        let mut scans = futures_util::stream::iter(targets)
            .take_while(|_| futures_util::future::ready(!cancel.is_cancelled()))
            .map(|t| self.snapshot(t, &owners, first_seen))
            .buffer_unordered(concurrency);
        let ctx = CheckContext {
            archive_owner: cfg.archive.owner_id.clone(),
            hr_group: cfg.archive.hr_group_id.clone(),
            key_user: Some(key_user),
        };
        // Each snapshot is checked as soon as it arrives and then dropped:
        // only findings outlive the scan, which keeps memory flat on
        // portals with tens of thousands of rooms.
        while let Some(result) = scans.next().await {
            match result {
                Ok(s) => {
                    body.rooms_audited += 1;
                    for (_, check) in room_checks {
                        scan.proposals.extend(check(&s, &ctx));
                    }
                }
                Err((info, e)) => {
                    if e.is_fatal_for_run() {
                        return Err(RunError::Api(e));
                    }
                    tracing::warn!(room_id = %info.id, error = %e, "room could not be audited");
                    body.rooms_failed += 1;
                    body.first_error.get_or_insert_with(|| e.to_string());
                    body.findings.push(room_failure(info, &e));
                }
            }
        }
        if body.rooms_audited == 0 && body.rooms_failed > 0 {
            return Err(RunError::AllRoomsFailed {
                failed: body.rooms_failed,
                first: body.first_error.clone().unwrap_or_default(),
            });
        }
        Ok(scan)
    }

    /// The rooms to audit: the Archive section, the designated archive
    /// rooms, or the one room a request names.
    async fn collect_targets(
        &self,
        request: &RunRequest,
        body: &mut AuditBody,
    ) -> Result<Vec<Target>, RunError> {
        let cfg = &self.inner.config;
        let client = &self.inner.client;
        let designated = &cfg.archive.designated_rooms;
        let mut targets: Vec<Target> = Vec::new();
        let classify_state = |room: &Room| {
            if room.is_archived() {
                RoomState::Archived
            } else if designated.contains(&room.id) {
                RoomState::ActiveArchive
            } else {
                RoomState::Active
            }
        };
        if let Some(id) = &request.only_room {
            match client.room(id).await {
                Ok(room) => {
                    let state = classify_state(&room);
                    if state == RoomState::Active {
                        body.warnings.push(format!(
                            "room {id} is neither archived nor a designated archive room; nothing to audit"
                        ));
                    } else {
                        targets.push(Target { room, state });
                    }
                }
                Err(e) if e.is_fatal_for_run() => return Err(e.into()),
                Err(e) => {
                    body.rooms_failed += 1;
                    body.first_error.get_or_insert_with(|| e.to_string());
                    body.findings
                        .push(room_failure(placeholder_room(id, RoomState::Archived), &e));
                }
            }
            return Ok(targets);
        }
        if cfg.archive.include_archive_section {
            let listing = client
                .room_listing(&RoomQuery::area(SearchArea::Archive))
                .await?;
            for room in listing.rooms {
                targets.push(Target {
                    state: RoomState::Archived,
                    room,
                });
            }
            for bad in listing.unreadable {
                let finding = unreadable_room(&bad);
                tracing::warn!(detail = %finding.detail, "room could not be audited");
                body.rooms_failed += 1;
                body.first_error
                    .get_or_insert_with(|| finding.detail.clone());
                body.findings.push(finding);
            }
        }
        for id in designated {
            if targets.iter().any(|t| &t.room.id == id) {
                continue;
            }
            match client.room(id).await {
                Ok(room) => targets.push(Target {
                    state: classify_state(&room),
                    room,
                }),
                Err(e) if e.is_fatal_for_run() => return Err(e.into()),
                Err(e) => {
                    body.rooms_failed += 1;
                    body.first_error.get_or_insert_with(|| e.to_string());
                    body.findings.push(room_failure(
                        placeholder_room(id, RoomState::ActiveArchive),
                        &e,
                    ));
                }
            }
        }
        Ok(targets)
    }

    /// Looks up each room owner once (for the email and whether they are
    /// still active).
    async fn resolve_owners(&self, targets: &[Target]) -> HashMap<UserId, User> {
        let ids: HashSet<UserId> = targets
            .iter()
            .filter_map(|t| t.room.owner_id().cloned())
            .filter(|id| id.is_well_formed())
            .collect();
        let client = &self.inner.client;
        // Past a few dozen owners one paged listing of everybody is far
        // cheaper than a lookup per owner.
        if ids.len() > 50 {
            let everyone = PeopleQuery {
                status: Some(7),
                employee_type: None,
            };
            match client.people(&everyone).await {
                Ok(users) => {
                    return users
                        .into_iter()
                        .filter(|u| ids.contains(&u.id))
                        .map(|u| (u.id.clone(), u))
                        .collect();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "listing people failed; looking owners up one by one")
                }
            }
        }
        futures_util::stream::iter(ids)
            .map(|id| async move { (id.clone(), client.user(&id).await) })
            .buffer_unordered(self.inner.config.portal.max_concurrency.max(1))
            .filter_map(|(id, r)| async move {
                match r {
                    Ok(u) => Some((id, u)),
                    Err(e) => {
                        tracing::debug!(user_id = %id, error = %e, "room owner could not be looked up");
                        None
                    }
                }
            })
            .collect()
            .await
    }

    async fn snapshot(
        &self,
        target: Target,
        owners: &HashMap<UserId, User>,
        first_seen: &HashMap<String, DateTime<Utc>>,
    ) -> Result<RoomSnapshot, (RoomInfo, ApiError)> {
        let client = &self.inner.client;
        let room = &target.room;
        let owner = room.owner_id().and_then(|id| owners.get(id));
        let archived_since = if target.state == RoomState::Archived {
            room.updated
                .or_else(|| first_seen.get(&room.id.to_string()).copied())
        } else {
            None
        };
        let info = RoomInfo {
            id: room.id.clone(),
            title: room.title().to_string(),
            state: target.state,
            owner_id: room.owner_id().cloned(),
            owner_name: owner.map(User::name).or_else(|| {
                room.created_by
                    .as_ref()
                    .and_then(|c| c.display_name.clone())
            }),
            owner_email: owner.and_then(|o| o.email.clone()),
            owner_active: owner.map(User::is_active),
            archived_since,
        };
        tracing::debug!(room_id = %room.id, state = target.state.as_str(), "auditing room");
        let (members, links) = tokio::join!(
            client.room_shares(&room.id, ShareFilter::UsersAndGroups),
            client.room_shares(&room.id, ShareFilter::ExternalLinks)
        );
        let members = members.map_err(|e| (info.clone(), e))?;
        let links = links.map_err(|e| (info.clone(), e))?;
        let can_edit_access = room
            .security
            .as_ref()
            .and_then(|s| s.edit_access)
            .unwrap_or(target.state != RoomState::Archived);
        Ok(RoomSnapshot {
            info,
            members,
            links,
            can_edit_access,
            room_type: room.room_type,
            designated: self
                .inner
                .config
                .archive
                .designated_rooms
                .contains(&room.id),
        })
    }

    /// Applies policy to every proposal, remediates the approved ones room
    /// by room, and turns the outcomes into final findings and actions.
    async fn decide_and_remediate(
        &self,
        mut proposals: Vec<Proposal>,
        remediator: &Remediator<'_>,
        dry_run: bool,
        body: &mut AuditBody,
    ) -> Result<(), RunError> {
        let cfg = &self.inner.config;
        let now = self.inner.clock.now();
        // A stable order decides which findings the change cap lets through:
        // the most severe first.
        proposals.sort_by(|a, b| {
            b.finding
                .severity
                .cmp(&a.finding.severity)
                .then_with(|| room_key(a).cmp(&room_key(b)))
                .then_with(|| a.finding.subject.id.cmp(&b.finding.subject.id))
        });
        let mut budget = ChangeBudget::new(cfg.policy.max_changes_per_run);
        let mut plans: Vec<(RoomInfo, Vec<crate::remediate::PlannedFix>)> = Vec::new();
        let mut other_fixes = Vec::new();
        let base = body.findings.len();
        for (i, p) in proposals.into_iter().enumerate() {
            let index = base + i;
            let since = match p.room_state() {
                _ if p.grace_since.is_some() => p.grace_since,
                Some(RoomState::Archived) => p.finding.room.as_ref().and_then(|r| r.archived_since),
                _ => self
                    .inner
                    .state
                    .finding_first_seen(&p.finding.key())?
                    .or(Some(now)),
            };
            let policy = cfg.policy.check(p.finding.check);
            let mut finding = p.finding.clone();
            match decide(
                &p,
                &policy,
                &cfg.policy.exemptions,
                now,
                since,
                dry_run,
                &mut budget,
            ) {
                Decision::Settled { status, note } => {
                    finding.status = status;
                    append(&mut finding.detail, note);
                }
                Decision::Planned { note } => {
                    finding.status = FindingStatus::Open;
                    append(&mut finding.detail, Some(note));
                    if let Some(fix) = &p.fix {
                        body.actions.push(ActionRecord {
                            time: now,
                            check: finding.check,
                            room_id: fix.room().cloned(),
                            subject: subject_label(&finding.subject),
                            action: fix.action_name().to_string(),
                            dry_run: true,
                            outcome: ActionOutcome::Planned,
                            verified: false,
                            error: None,
                        });
                    }
                }
                Decision::Remediate { note } => {
                    append(&mut finding.detail, note);
                    if let Some(fix) = p.fix.clone() {
                        let planned = crate::remediate::PlannedFix {
                            finding: index,
                            check: finding.check,
                            fix,
                            subject: subject_label(&finding.subject),
                        };
                        match &finding.room {
                            Some(room) if planned.fix.room().is_some() => {
                                match plans.iter_mut().find(|(r, _)| r.id == room.id) {
                                    Some((_, v)) => v.push(planned),
                                    None => plans.push((room.clone(), vec![planned])),
                                }
                            }
                            _ => other_fixes.push(planned),
                        }
                    }
                }
            }
            body.findings.push(finding);
        }

        // Rooms one after another: a transaction is never interrupted, and
        // cancellation is honoured only between rooms.
        for (room, fixes) in plans {
            if self.inner.cancel.is_cancelled() {
                for f in &fixes {
                    let finding = &mut body.findings[f.finding];
                    finding.status = FindingStatus::Open;
                    append(
                        &mut finding.detail,
                        Some("not remediated: the run was stopped".into()),
                    );
                }
                continue;
            }
            let outcomes = remediator
                .remediate_room(&room, fixes, &mut body.actions)
                .await;
            apply_outcomes(&mut body.findings, outcomes);
        }
        if !other_fixes.is_empty() && !self.inner.cancel.is_cancelled() {
            let reassigns: Vec<(usize, UserId, UserId)> = other_fixes
                .iter()
                .filter_map(|f| match &f.fix {
                    check::Fix::Reassign { from, to } => {
                        Some((f.finding, from.clone(), to.clone()))
                    }
                    _ => None,
                })
                .collect();
            let outcomes =
                crate::offboarding::remediate(remediator, cfg, other_fixes, &mut body.actions)
                    .await;
            let moved: Vec<(UserId, UserId)> = reassigns
                .into_iter()
                .filter(|(i, _, _)| {
                    outcomes
                        .iter()
                        .any(|(j, o)| j == i && matches!(o, FixOutcome::Fixed(_)))
                })
                .map(|(_, from, to)| (from, to))
                .collect();
            apply_outcomes(&mut body.findings, outcomes);
            self.move_room_owners(&moved, &mut body.findings).await;
        }
        Ok(())
    }

    /// A verified reassignment moved the rooms of `from` to `to`: the
    /// findings of those rooms name the owner the rooms have now, so their
    /// digest goes to the new owner in this run rather than to the fallback
    /// address now and to the new owner again in the next run.
    async fn move_room_owners(&self, moved: &[(UserId, UserId)], findings: &mut [Finding]) {
        for (from, to) in moved {
            let owner = match self.inner.client.user(to).await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(user_id = %to, error = %e, "new room owner could not be looked up");
                    continue;
                }
            };
            for room in findings.iter_mut().filter_map(|f| f.room.as_mut()) {
                if room.owner_id.as_ref() == Some(from) {
                    room.owner_id = Some(to.clone());
                    room.owner_name = Some(owner.name());
                    room.owner_email = owner.email.clone();
                    room.owner_active = Some(owner.is_active());
                }
            }
        }
    }
}

/// What the room scan produced.
#[derive(Debug, Default)]
struct RoomScan {
    proposals: Vec<Proposal>,
    body: AuditBody,
}

/// What the audit phase collected before the reports are written.
#[derive(Debug, Default)]
struct AuditBody {
    findings: Vec<Finding>,
    actions: Vec<ActionRecord>,
    rooms_audited: usize,
    rooms_failed: usize,
    warnings: Vec<String>,
    first_error: Option<String>,
    key_user: Option<UserId>,
    /// Checks that could not run completely this time.
    unaudited_checks: Vec<CheckId>,
    audit_events: Vec<crate::report::AuditEventRow>,
    /// Journal entries of earlier runs this run's `actions.csv` reports.
    journal_reported: Vec<i64>,
}

fn apply_outcomes(findings: &mut [Finding], outcomes: Vec<(usize, FixOutcome)>) {
    for (index, outcome) in outcomes {
        let Some(f) = findings.get_mut(index) else {
            continue;
        };
        match outcome {
            FixOutcome::Fixed(note) => {
                f.status = FindingStatus::Fixed;
                append(&mut f.detail, Some(note));
            }
            FixOutcome::Failed(why) => {
                f.status = FindingStatus::Failed;
                append(&mut f.detail, Some(why));
            }
        }
    }
}

fn append(detail: &mut String, note: Option<String>) {
    if let Some(n) = note.filter(|n| !n.is_empty()) {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&n);
    }
}

fn room_key(p: &Proposal) -> String {
    p.finding
        .room
        .as_ref()
        .map(|r| r.id.to_string())
        .unwrap_or_default()
}

/// `kind:id (name)` for `actions.csv`.
pub fn subject_label(s: &Subject) -> String {
    if s.name.is_empty() {
        format!("{}:{}", s.kind.as_str(), s.id)
    } else {
        format!("{}:{} ({})", s.kind.as_str(), s.id, s.name)
    }
}

fn placeholder_room(id: &RoomId, state: RoomState) -> RoomInfo {
    RoomInfo {
        id: id.clone(),
        title: String::new(),
        state,
        owner_id: None,
        owner_name: None,
        owner_email: None,
        owner_active: None,
        archived_since: None,
    }
}

/// The finding for an entry of the Archive's room list that could not be
/// read. Its id is not trusted (it may not even be a valid id), so the
/// finding names no room: nothing is ever requested or changed for it.
fn unreadable_room(bad: &crate::api::UnreadableEntry) -> Finding {
    let id = crate::report::safe::one_line(bad.id.as_deref().unwrap_or(""), 256);
    Finding {
        check: CheckId::RoomAudit,
        severity: Severity::High,
        subject: Subject {
            kind: SubjectKind::Room,
            id: id.clone(),
            name: bad
                .title
                .as_deref()
                .map(|t| crate::report::safe::one_line(t, 500))
                .unwrap_or_default(),
            email: None,
        },
        room: None,
        access: None,
        status: FindingStatus::Failed,
        detail: format!(
            "room could not be audited: its entry in the Archive list could not be read (id {id:?}): {}",
            crate::report::safe::one_line(&bad.error, 300)
        ),
    }
}

/// The finding written for a room that could not be audited.
fn room_failure(info: RoomInfo, error: &ApiError) -> Finding {
    Finding {
        check: CheckId::RoomAudit,
        severity: Severity::High,
        subject: Subject {
            kind: SubjectKind::Room,
            id: info.id.to_string(),
            name: info.title.clone(),
            email: None,
        },
        room: Some(info),
        access: None,
        status: FindingStatus::Failed,
        detail: format!("room could not be audited: {error}"),
    }
}
