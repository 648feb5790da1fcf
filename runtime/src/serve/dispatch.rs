//! The dispatch worker of `kradle serve` (docs/dispatch.md): it moves each
//! run through its steps — review, workspace, launch, watch, cleanup — one
//! transaction per transition, and the agent's callback.
//!
//! A run's steps are jobs on the `dispatch` queue, keyed by the run, so a
//! run never has two workers. A job advances its run until the run waits
//! (for a person, a Job, a backend) or a transition queues the next job.
//! A worker killed anywhere leaves its job to be claimed again when its
//! lease ends, and the run resumes at the step its last commit recorded:
//! - before a launch, the Job's existence is checked first, so a Job
//!   created just before the crash is adopted, never made twice;
//! - the callback token's hash is committed before the Secret that holds
//!   the token is written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::AppState;
use super::workers::{hostname, listen};
use crate::dispatch::catalog::{Catalog, Review};
use crate::dispatch::executor::{ExecError, Executor, JobState};
use crate::dispatch::job::launch_of;
use crate::store::{AfterFailure, Called, DISPATCH_QUEUE, Failed, Job, Outcome, Run, Store};

/// The stacks the dispatch worker reads, swapped on SIGHUP.
pub type SharedCatalog = Arc<RwLock<Arc<Catalog>>>;

fn current(shared: &SharedCatalog) -> Arc<Catalog> {
    match shared.read() {
        Ok(c) => c.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub launched: AtomicU64,
    pub attempts_failed: AtomicU64,
    pub succeeded: AtomicU64,
    pub awaiting_approval: AtomicU64,
}

/// What the worker needs.
pub struct Dispatcher<E> {
    pub store: Store,
    pub catalog: SharedCatalog,
    /// Where attempts run; without one, runs wait in Queued.
    pub executor: Option<Arc<E>>,
    /// The base URL agents call back (`http://kradle.kradle-system:8080`).
    pub callback_base: String,
    /// How often a Running run's Job is looked at.
    pub poll: Duration,
    pub lease: Duration,
    /// Runs advanced at once.
    pub concurrency: usize,
    pub stats: Arc<Stats>,
}

impl<E> Clone for Dispatcher<E> {
    fn clone(&self) -> Self {
        Dispatcher {
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            executor: self.executor.clone(),
            callback_base: self.callback_base.clone(),
            poll: self.poll,
            lease: self.lease,
            concurrency: self.concurrency,
            stats: self.stats.clone(),
        }
    }
}

/// Runs the dispatch worker until `stop` turns true.
pub async fn run<E: Executor>(d: Dispatcher<E>, mut stop: watch::Receiver<bool>) {
    if d.executor.is_some() {
        match d.store.requeue_queued().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "launching the runs queued without a backend"),
            Err(error) => tracing::warn!(%error, "cannot requeue the queued runs"),
        }
    }
    let (wake_tx, mut wake) = watch::channel(0u64);
    let listener = tokio::spawn(listen(
        d.store.clone(),
        DISPATCH_QUEUE,
        wake_tx,
        stop.clone(),
    ));
    let worker: Arc<str> = format!("{}-{}-dispatch", hostname(), std::process::id()).into();
    // Up to `concurrency` runs advance at once; a free slot claims more
    // at once, without waiting for the rest of a batch.
    let slots = Arc::new(tokio::sync::Semaphore::new(d.concurrency.max(1)));
    let mut running = tokio::task::JoinSet::new();
    while !*stop.borrow() {
        wake.borrow_and_update();
        while running.try_join_next().is_some() {}
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = running.join_next() => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            continue;
        }
        let limit = i64::try_from(free).unwrap_or(1);
        let jobs = match d.store.claim(DISPATCH_QUEUE, &worker, limit, d.lease).await {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::warn!(%error, "dispatch claim failed");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = wake.changed() => {}
                _ = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            continue;
        }
        for job in jobs {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let (d, worker) = (d.clone(), worker.clone());
            running.spawn(async move {
                attempt(&d, &job, &worker).await;
                drop(permit);
            });
        }
    }
    // The runs in hand finish their step (each is one transaction at a
    // time); the rest of the queue waits for the next worker.
    while running.join_next().await.is_some() {}
    listener.abort();
}

/// One job: advance its run, then settle the job.
async fn attempt<E: Executor>(d: &Dispatcher<E>, job: &Job, worker: &str) {
    let id = job.payload["run"].as_i64().unwrap_or_default();
    match advance(d, id).await {
        Ok(()) => {
            if let Err(error) = d.store.complete(job, worker).await {
                tracing::warn!(job = job.id, %error, "cannot complete the dispatch job");
            }
        }
        Err(error) => {
            tracing::warn!(run = id, %error, "dispatch step failed; retrying");
            match d
                .store
                .fail(job, worker, &error, Duration::from_secs(1))
                .await
            {
                Ok(Failed::Dead) => {
                    tracing::error!(run = id, %error, "dispatch step gave up: see `kradle runs get`")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(job = job.id, error = %e, "cannot record the failure"),
            }
        }
    }
}

/// A fresh callback token and its hash (hex sha256).
fn token() -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness for a token: {e}"))?;
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// How a token is stored: hex sha256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn namespace_of(catalog: &Catalog, run: &Run) -> String {
    catalog.stack(&run.org, &run.agent_stack).map_or_else(
        || format!("kradle-org-{}", run.org),
        |s| s.namespace.clone(),
    )
}

/// Advances run `id` until it waits. `Err` (a store or transient backend
/// failure) retries the job after a backoff.
pub async fn advance<E: Executor>(d: &Dispatcher<E>, id: i64) -> Result<(), String> {
    let store = &d.store;
    let e = |e: crate::store::StoreError| e.to_string();
    // What a transition of this call already knows, so the next step
    // need not read it back: the run as it now is, and a token whose hash
    // was committed with the workspace (and the bundle committed then).
    let mut carried: Option<Run> = None;
    let mut prepared: Option<(String, Option<(String, String)>)> = None;
    let mut admitted: Option<Value> = None;
    loop {
        let run = match carried.take() {
            Some(run) => run,
            None => match store.dispatch_run(id).await.map_err(e)? {
                Some(run) => run,
                None => return Ok(()),
            },
        };
        let catalog = current(&d.catalog);
        let stack = catalog.stack(&run.org, &run.agent_stack);
        let needs_stack = matches!(run.step.as_str(), "review" | "workspace" | "launch")
            && matches!(run.phase.as_str(), "Pending" | "Queued");
        if needs_stack {
            let Some(stack) = stack else {
                let why = format!(
                    "organization `{}` has no AgentStack `{}`",
                    run.org, run.agent_stack
                );
                store
                    .fail_run(&run, "StackNotFound", &why, None)
                    .await
                    .map_err(e)?;
                return Ok(());
            };
            if let Err(why) = &stack.ready {
                store
                    .fail_run(&run, "StackNotReady", why, None)
                    .await
                    .map_err(e)?;
                return Ok(());
            }
        }
        match (run.phase.as_str(), run.step.as_str(), stack) {
            ("Pending", "review", Some(stack)) => {
                let actor = run.requested_by.as_deref().unwrap_or("kradle");
                let review = catalog.review(stack, run.repository.as_deref(), actor);
                let snapshot = review.snapshot(stack);
                // The budget: refused when the stack's runs of the last 24
                // hours reached its limit.
                let denied = matches!(review, Review::Denied(_));
                if let (Some(limit), false) = (stack.max_runs_per_day, denied) {
                    let started = store
                        .runs_started_today(&run.org, &run.agent_stack)
                        .await
                        .map_err(e)?;
                    if started >= limit {
                        let why = format!(
                            "stack `{}` started {started} runs in the last 24 hours, its budget (budget.maxRunsPerDay: {limit})",
                            run.agent_stack
                        );
                        store
                            .fail_run(&run, "BudgetExceeded", &why, Some(&snapshot))
                            .await
                            .map_err(e)?;
                        return Ok(());
                    }
                }
                match review {
                    Review::Allowed => {
                        // Straight on to the workspace: the review is
                        // recorded with the binding, in one transaction.
                        admitted = Some(snapshot);
                        carried = Some(Run {
                            step: "workspace".into(),
                            max_attempts: stack.max_attempts,
                            deadline_seconds: stack.deadline_seconds,
                            ..run
                        });
                    }
                    Review::Denied(why) => {
                        store
                            .fail_run(&run, "PermissionDenied", &why, Some(&snapshot))
                            .await
                            .map_err(e)?;
                        return Ok(());
                    }
                    Review::RequiresApproval { action, why } => {
                        if store
                            .hold_for_approval(&run, &snapshot, action, &why)
                            .await
                            .map_err(e)?
                        {
                            d.stats.awaiting_approval.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(run = %run.name, org = %run.org, "run awaits approval: see `kradle approvals list`");
                        }
                        return Ok(());
                    }
                }
            }
            ("Pending", "workspace", Some(stack)) => {
                let task = json!({
                    "taskKind": run.task_kind, "repository": run.repository, "ref": run.git_ref,
                    "requestedBy": run.requested_by, "stack": run.agent_stack,
                });
                let bundle = crate::dispatch::bundle::assemble(
                    &stack.context,
                    &stack.context_sources,
                    &task,
                    &run.source_refs,
                );
                // The first attempt's token: its hash commits with the
                // workspace, before anything is sent.
                let (token, hash) = token()?;
                let bound = store
                    .bind_workspace(
                        &run,
                        stack.storage_class.as_deref(),
                        &stack.capacity,
                        &stack.spec,
                        &bundle,
                        &hash,
                        admitted.take().as_ref(),
                    )
                    .await
                    .map_err(e)?;
                if let Some(b) = bound {
                    prepared = Some((token, Some((bundle.content.to_string(), bundle.digest))));
                    carried = Some(Run {
                        step: "launch".into(),
                        attempts: 1,
                        workspace: Some(b.workspace),
                        pvc: Some(b.pvc),
                        pvc_new: Some(b.new),
                        job_name: Some(crate::dispatch::job::job_name(&run.name, 1)),
                        launch_begun: true,
                        ..run
                    });
                }
            }
            ("Pending" | "Queued", "launch", Some(stack)) => {
                let Some(executor) = &d.executor else {
                    store
                        .park_queued(
                            &run,
                            "no execution backend: `kradle serve` has no cluster to create Jobs in",
                        )
                        .await
                        .map_err(e)?;
                    return Ok(());
                };
                let job = run.job_name.clone().unwrap_or_default();
                // A launch of this attempt began before (and died): its Job
                // may exist, and is adopted. Without one, or with the token
                // this call prepared, it cannot.
                let fresh = prepared.take();
                let state = if run.launch_begun && fresh.is_none() {
                    executor.state(&stack.namespace, &job).await
                } else {
                    Ok(JobState::Missing)
                };
                match state {
                    Ok(JobState::Missing) => {}
                    Ok(_) => {
                        store.started(&run, d.poll).await.map_err(e)?;
                        return Ok(());
                    }
                    Err(ExecError::Transient(m)) => return Err(m),
                    Err(ExecError::Refused(m)) => {
                        failed_attempt(d, &run, "LaunchRefused", &m).await?;
                        return Ok(());
                    }
                }
                let (token, context) = match fresh {
                    Some(prepared) => prepared,
                    None => {
                        let (token, hash) = token()?;
                        if !store.set_token(&run, &hash).await.map_err(e)? {
                            continue;
                        }
                        (token, None)
                    }
                };
                let (pvc, new_pvc) = (
                    run.pvc.clone().unwrap_or_default(),
                    run.pvc_new.unwrap_or(false),
                );
                let mut launch = launch_of(
                    stack,
                    &run.name,
                    run.attempts,
                    &run.task_kind,
                    run.repository.as_deref(),
                    run.git_ref.as_deref(),
                    &pvc,
                    new_pvc,
                    &d.callback_base,
                );
                // The deadline the review froze on the run.
                launch.deadline_seconds = run.deadline_seconds;
                launch.context = match context {
                    Some(context) => Some(context),
                    None => store
                        .context_bundle(run.id)
                        .await
                        .map_err(e)?
                        .map(|(content, digest)| (content.to_string(), digest)),
                };
                match executor.launch(&launch, &token).await {
                    Ok(()) => {
                        if store.started(&run, d.poll).await.map_err(e)? {
                            d.stats.launched.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(run = %run.name, org = %run.org, job = %job, attempt = run.attempts, "agent Job created");
                        }
                        return Ok(());
                    }
                    Err(ExecError::Transient(m)) => return Err(m),
                    Err(ExecError::Refused(m)) => {
                        failed_attempt(d, &run, "LaunchRefused", &m).await?;
                        return Ok(());
                    }
                }
            }
            ("Running", "watch", _) => {
                let Some(executor) = &d.executor else {
                    store.watch_again(&run, d.poll).await.map_err(e)?;
                    return Ok(());
                };
                let ns = namespace_of(&catalog, &run);
                let job = run.job_name.clone().unwrap_or_default();
                let (code, message) = match executor.state(&ns, &job).await {
                    Ok(JobState::Active) => {
                        store.watch_again(&run, d.poll).await.map_err(e)?;
                        return Ok(());
                    }
                    Ok(JobState::Succeeded) => (
                        "NoCallback".to_string(),
                        format!("Job {job} completed without calling back"),
                    ),
                    Ok(JobState::Failed { reason, message }) => (reason, message),
                    Ok(JobState::Missing) => (
                        "JobMissing".to_string(),
                        format!("Job {job} is gone (deleted outside kradle?)"),
                    ),
                    Err(ExecError::Transient(m)) => return Err(m),
                    Err(ExecError::Refused(m)) => ("JobUnreadable".to_string(), m),
                };
                failed_attempt(d, &run, &code, &message).await?;
                return Ok(());
            }
            ("Cancelled", "cleanup", _) => {
                let ns = namespace_of(&catalog, &run);
                let job = run.job_name.clone().unwrap_or_default();
                let Some(executor) = &d.executor else {
                    tracing::warn!(run = %run.name, org = %run.org, job = %job, "no execution backend: if the cancelled run's Job exists, delete it by hand");
                    store.cleaned_up(&run).await.map_err(e)?;
                    return Ok(());
                };
                executor
                    .cancel(&ns, &job)
                    .await
                    .map_err(|e| e.to_string())?;
                store.cleaned_up(&run).await.map_err(e)?;
                tracing::info!(run = %run.name, org = %run.org, job = %job, "cancelled run's Job deleted");
                return Ok(());
            }
            // Waiting (for a person, or its Job), or over.
            _ => return Ok(()),
        }
    }
}

async fn failed_attempt<E>(
    d: &Dispatcher<E>,
    run: &Run,
    code: &str,
    message: &str,
) -> Result<(), String> {
    d.stats.attempts_failed.fetch_add(1, Ordering::Relaxed);
    let after = d
        .store
        .attempt_failed(run, code, message)
        .await
        .map_err(|e| e.to_string())?;
    match after {
        AfterFailure::Retrying(n) => {
            tracing::warn!(run = %run.name, org = %run.org, code, attempt = run.attempts, "attempt failed; attempt {n} next")
        }
        AfterFailure::Failed => {
            tracing::warn!(run = %run.name, org = %run.org, code, "run failed: no attempts left")
        }
        AfterFailure::Moved => {}
    }
    Ok(())
}

/// The most artifacts one callback may report.
const MAX_ARTIFACTS: usize = 100;
/// The most transcript events kept.
const MAX_EVENTS: usize = 10_000;
/// The longest message kept.
const MAX_MESSAGE: usize = 4096;

fn bad(message: String) -> (StatusCode, Json<Value>) {
    (StatusCode::BAD_REQUEST, Json(json!({ "message": message })))
}

/// Validates a callback body into an [`Outcome`].
fn outcome_of(body: &Value) -> Result<Outcome, String> {
    let succeeded = match body["phase"].as_str() {
        Some("Succeeded") => true,
        Some("Failed") => false,
        _ => return Err("`phase` must be `Succeeded` or `Failed`".into()),
    };
    let message = match &body["message"] {
        Value::Null => None,
        Value::String(m) => {
            let mut end = m.len().min(MAX_MESSAGE);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            let m = &m[..end];
            // The agent's words are stored and shown: not a secret in them.
            Some(match kradle_compiler::check::looks_like_secret(m) {
                Some(what) => format!("(message withheld: it looked like {what})"),
                None => m.to_string(),
            })
        }
        _ => return Err("`message` must be a string".into()),
    };
    let artifacts = match &body["artifacts"] {
        Value::Null => Vec::new(),
        Value::Array(a) if a.len() <= MAX_ARTIFACTS => a.clone(),
        Value::Array(_) => return Err(format!("at most {MAX_ARTIFACTS} artifacts")),
        _ => return Err("`artifacts` must be a list".into()),
    };
    for (i, a) in artifacts.iter().enumerate() {
        let kind_ok = a["kind"].as_str().is_some_and(|k| {
            !k.is_empty()
                && k.len() <= 63
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        let digest_ok = a["digest"].as_str().is_some_and(|d| {
            d.strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        });
        if !kind_ok || !digest_ok {
            return Err(format!(
                "artifacts[{i}] needs a `kind` (letters, digits, `-`) and a `digest` (`sha256:<64 hex>`)"
            ));
        }
        if !(a["size"].is_null() || a["size"].is_u64()) {
            return Err(format!("artifacts[{i}].size must be a byte count"));
        }
    }
    let transcript = match &body["transcript"] {
        Value::Null => None,
        Value::Array(events) if events.len() <= MAX_EVENTS => {
            let bytes = serde_json::to_vec(events).unwrap_or_default();
            Some((
                Value::Array(events.clone()),
                format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
            ))
        }
        Value::Array(_) => return Err(format!("at most {MAX_EVENTS} transcript events")),
        _ => return Err("`transcript` must be a list of events".into()),
    };
    Ok(Outcome {
        succeeded,
        message,
        artifacts,
        transcript,
    })
}

/// `POST /api/orgs/{org}/agents/runs/{name}/callback`: the agent's
/// result, with `Authorization: Bearer <token>` (the token of the run's
/// current attempt). 401 for a wrong token or an unknown run alike.
pub async fn callback(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "a valid run token is required" })),
        )
    };
    let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return unauthorized();
    };
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("the body is not JSON: {e}")),
    };
    let outcome = match outcome_of(&body) {
        Ok(o) => o,
        Err(why) => return bad(why),
    };
    match state
        .store()
        .callback(&org, &name, &token_hash(token), &outcome)
        .await
    {
        Ok(Called::Succeeded) => {
            state.dispatch.succeeded.fetch_add(1, Ordering::Relaxed);
            tracing::info!(run = %name, %org, "run succeeded");
            (StatusCode::OK, Json(json!({ "phase": "Succeeded" })))
        }
        Ok(Called::Failed(after)) => {
            state
                .dispatch
                .attempts_failed
                .fetch_add(1, Ordering::Relaxed);
            let phase = match after {
                AfterFailure::Retrying(_) => "Pending",
                _ => "Failed",
            };
            tracing::warn!(run = %name, %org, "the agent reported a failure");
            (StatusCode::OK, Json(json!({ "phase": phase })))
        }
        Ok(Called::Unauthorized) => unauthorized(),
        Ok(Called::NotRunning(phase)) => (
            StatusCode::CONFLICT,
            Json(
                json!({ "message": format!("the run is {phase}: it is not waiting for a result") }),
            ),
        ),
        Err(error) => {
            tracing::warn!(%error, "callback not recorded");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "message": "the store is unavailable; try again" })),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_body_is_checked_and_secrets_are_withheld() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let ok = outcome_of(&json!({ "phase": "Succeeded", "message": "fixed",
            "artifacts": [{ "kind": "patch", "digest": digest, "size": 10 }],
            "transcript": [{ "type": "text", "text": "hi" }] }))
        .unwrap();
        assert!(ok.succeeded);
        assert_eq!(ok.artifacts.len(), 1);
        assert!(ok.transcript.unwrap().1.starts_with("sha256:"));
        for bad in [
            json!({ "phase": "Done" }),
            json!({ "phase": "Failed", "artifacts": [{ "kind": "patch", "digest": "md5:x" }] }),
            json!({ "phase": "Failed", "artifacts": [{ "kind": "../x", "digest": digest }] }),
            json!({ "phase": "Failed", "message": 3 }),
        ] {
            assert!(outcome_of(&bad).is_err(), "{bad}");
        }
        let leaked = outcome_of(&json!({ "phase": "Failed",
            "message": "auth failed with ghp_0123456789abcdefghijklmnopqrstuvwxyzAB" }))
        .unwrap();
        let withheld = leaked.message.unwrap();
        assert!(!withheld.contains("0123456789abcdef"), "{withheld}");
        assert!(withheld.starts_with("(message withheld"), "{withheld}");
        assert_eq!(token_hash("t").len(), 64);
        let (t1, h1) = token().unwrap();
        let (t2, _) = token().unwrap();
        assert_ne!(t1, t2);
        assert_eq!(token_hash(&t1), h1);
    }
}
