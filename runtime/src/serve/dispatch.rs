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
use axum::response::IntoResponse as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::AppState;
use super::workers::{hostname, listen};
use crate::dispatch::catalog::{Catalog, Review};
use crate::dispatch::executor::{ExecError, Executor, JobState, Launched, Target};
use crate::dispatch::job::{Launch, launch_of};
use crate::dispatch::memory::MemoryGit;
use crate::dispatch::mux::AgentMux;
use crate::dispatch::outcome::outcome_of;
use crate::store::{
    AfterFailure, Binding, Called, DISPATCH_QUEUE, Failed, Job, Outcome, Pinned, Run, Store,
};

/// The stacks the dispatch worker reads, swapped on SIGHUP.
pub type SharedCatalog = Arc<RwLock<Arc<Catalog>>>;

pub(super) fn current(shared: &SharedCatalog) -> Arc<Catalog> {
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
    /// Where attempts run as Kubernetes Jobs; without one, those runs
    /// wait in Queued.
    pub executor: Option<Arc<E>>,
    /// Where the attempts of stacks without a runner pool run, in an org
    /// with an AgentGatewayConfig.
    pub mux: Arc<AgentMux>,
    /// How memory repositories are read; without it, runs are not pinned
    /// to a memory commit.
    pub memory: Option<MemoryGit>,
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
            mux: self.mux.clone(),
            memory: self.memory.clone(),
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
            // Until the next look at a Running run (`--job-poll-ms`) or a
            // held launch is due, not a fixed second.
            let idle = d
                .store
                .idle_for(DISPATCH_QUEUE, Duration::from_secs(1))
                .await;
            tokio::select! {
                _ = wake.changed() => {}
                _ = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(idle) => {}
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

/// One job: advance its run, then settle the job. A run whose job ran out
/// of tries ends Failed (`DispatchGaveUp`, with the last error) and frees its
/// workspace, instead of staying in its phase for ever.
pub async fn attempt<E: Executor>(d: &Dispatcher<E>, job: &Job, worker: &str) {
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
                    tracing::error!(run = id, %error, "dispatch step gave up: the run fails");
                    if let Err(e) = give_up(d, id, &error).await {
                        tracing::warn!(run = id, error = %e, "cannot fail the run");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(job = job.id, error = %e, "cannot record the failure"),
            }
        }
    }
}

/// Ends run `id`, whose dispatch job ran out of tries, Failed with `error`.
async fn give_up<E: Executor>(d: &Dispatcher<E>, id: i64, error: &str) -> Result<(), String> {
    let Some(run) = d.store.dispatch_run(id).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if matches!(run.phase.as_str(), "Succeeded" | "Failed" | "Cancelled") {
        return Ok(());
    }
    let message = format!(
        "kradle gave up advancing the run from {}/{}: {error}",
        run.phase, run.step
    );
    d.store
        .fail_run(&run, "DispatchGaveUp", &message, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
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
        || kradle_compiler::model::org_namespace(&run.org),
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
                // The budgets: refused when the stack's, or the org's, runs
                // of the last 24 hours reached its limit.
                let denied = matches!(review, Review::Denied(_));
                let budgets = [
                    (
                        stack.max_runs_per_day,
                        Some(run.agent_stack.as_str()),
                        format!("stack `{}`", run.agent_stack),
                        "budget.maxRunsPerDay",
                    ),
                    (
                        catalog.org_budget(&run.org).max_runs_per_day,
                        None,
                        format!("organization `{}`", run.org),
                        "agentBudget.maxRunsPerDay",
                    ),
                ];
                for (limit, of_stack, who, field) in budgets {
                    let Some(limit) = limit.filter(|_| !denied) else {
                        continue;
                    };
                    let started = store
                        .runs_started_today(&run.org, of_stack)
                        .await
                        .map_err(e)?;
                    if started >= limit {
                        let why = format!(
                            "{who} started {started} runs in the last 24 hours, its budget ({field}: {limit})"
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
                // The memory commit the run is pinned to, read before
                // anything is recorded: a run whose memory cannot be read
                // fails, rather than run against memory nobody can name.
                let pinned = match (catalog.memory(&run.org), &d.memory) {
                    (Some(memory), Some(git)) => match git.resolve(memory).await {
                        Ok(commit) => Some(Pinned {
                            memory_repository: memory.name.clone(),
                            requested_ref: memory.branch.clone(),
                            commit,
                        }),
                        Err(why) => {
                            let why = format!(
                                "memory repository `{}` (branch `{}`): {why}",
                                memory.name, memory.branch
                            );
                            // Straight from the review, the stored run is
                            // still at it.
                            let stored = Run {
                                step: if admitted.is_some() {
                                    "review".into()
                                } else {
                                    run.step.clone()
                                },
                                ..run.clone()
                            };
                            store
                                .fail_run(&stored, "MemorySnapshotFailed", &why, admitted.as_ref())
                                .await
                                .map_err(e)?;
                            return Ok(());
                        }
                    },
                    _ => None,
                };
                let mut task = json!({
                    "taskKind": run.task_kind, "repository": run.repository, "ref": run.git_ref,
                    "requestedBy": run.requested_by, "stack": run.agent_stack,
                });
                if let Some(pin) = &pinned {
                    task["memory"] = json!({ "repository": pin.memory_repository,
                        "ref": pin.requested_ref, "commit": pin.commit });
                }
                let bundle = crate::dispatch::bundle::assemble(
                    &stack.context,
                    &stack.context_sources,
                    &task,
                    &run.source_refs,
                );
                // The first attempt's token: its hash commits with the
                // workspace, before anything is sent.
                let (token, hash) = token()?;
                let admitted = admitted.take();
                let binding = Binding {
                    storage_class: stack.storage_class.as_deref(),
                    capacity: &stack.capacity,
                    stack_snapshot: &stack.spec,
                    bundle: &bundle,
                    token_hash: &hash,
                    admitted: admitted.as_ref(),
                    memory: pinned.as_ref(),
                };
                let bound = store.bind_workspace(&run, &binding).await.map_err(e)?;
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
                let gateway = catalog.gateway_for(stack);
                let backend = match (gateway, d.executor.as_deref()) {
                    (Some(_), _) => Backend::Mux(&d.mux),
                    (None, Some(jobs)) => Backend::Jobs(jobs),
                    (None, None) => {
                        store
                        .park_queued(
                            &run,
                            "no execution backend: `kradle serve` has no cluster to create Jobs in",
                        )
                            .await
                            .map_err(e)?;
                        return Ok(());
                    }
                };
                let job = run.job_name.clone().unwrap_or_default();
                // A launch of this attempt began before (and died): its Job
                // may exist, and is adopted. Without one, or with the token
                // this call prepared, it cannot. (A gateway session is
                // adopted by launching again: its idempotency key finds it.)
                let fresh = prepared.take();
                let state = if run.launch_begun && fresh.is_none() {
                    let target = Target {
                        namespace: &stack.namespace,
                        job: &job,
                        gateway,
                        session: None,
                    };
                    backend.state(target).await
                } else {
                    Ok(JobState::Missing)
                };
                match state {
                    Ok(JobState::Missing) => {}
                    Ok(_) => {
                        store.started(&run, d.poll, None).await.map_err(e)?;
                        return Ok(());
                    }
                    Err(ExecError::Transient(m)) => return Err(m),
                    Err(ExecError::Refused(m)) => {
                        failed_attempt(d, &run, "LaunchRefused", &m).await?;
                        return Ok(());
                    }
                }
                // The org's concurrency: a launch past it waits for a run
                // to end (counted before the launch: two workers launching
                // at the same instant may both pass).
                if let Some(limit) = catalog.org_budget(&run.org).max_concurrent_runs {
                    let running = store.org_runs_running(&run.org).await.map_err(e)?;
                    if running >= limit {
                        let why = format!(
                            "organization `{}` has {running} runs Running, its limit (agentBudget.maxConcurrentRuns: {limit}): the launch waits",
                            run.org
                        );
                        store
                            .launch_later(&run, "OrgConcurrencyLimit", &why, d.poll)
                            .await
                            .map_err(e)?;
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
                launch.gateway = gateway.cloned();
                launch.context = match context {
                    Some(context) => Some(context),
                    None => store
                        .context_bundle(run.id)
                        .await
                        .map_err(e)?
                        .map(|(content, digest)| (content.to_string(), digest)),
                };
                match backend.launch(&launch, &token).await {
                    Ok(Launched { session }) => {
                        if store
                            .started(&run, d.poll, session.as_ref())
                            .await
                            .map_err(e)?
                        {
                            d.stats.launched.fetch_add(1, Ordering::Relaxed);
                            match &session {
                                None => {
                                    tracing::info!(run = %run.name, org = %run.org, job = %job, attempt = run.attempts, "agent Job created")
                                }
                                Some((mux_run, _)) => {
                                    tracing::info!(run = %run.name, org = %run.org, mux_run = %mux_run, attempt = run.attempts, "agent session launched on the gateway")
                                }
                            }
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
                let Some(backend) = backend_of(d, &run) else {
                    store.watch_again(&run, d.poll).await.map_err(e)?;
                    return Ok(());
                };
                let ns = namespace_of(&catalog, &run);
                let job = run.job_name.clone().unwrap_or_default();
                let target = Target {
                    namespace: &ns,
                    job: &job,
                    gateway: catalog.gateway(&run.org),
                    session: run.mux_run_id.as_deref(),
                };
                // A Job's deadline is Kubernetes' (activeDeadlineSeconds);
                // a gateway session's is kradle's.
                let over = run
                    .attempt_seconds
                    .is_some_and(|s| s > f64::from(run.deadline_seconds));
                if matches!(backend, Backend::Mux(_)) && over {
                    backend.cancel(target).await.map_err(|e| e.to_string())?;
                    let message = format!(
                        "the gateway session ran past its deadline ({} s)",
                        run.deadline_seconds
                    );
                    failed_attempt(d, &run, "DeadlineExceeded", &message).await?;
                    return Ok(());
                }
                let (code, message) = match backend.state(target).await {
                    Ok(JobState::Reported(outcome)) => {
                        reported(d, &run, &outcome).await?;
                        return Ok(());
                    }
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
                let Some(backend) = backend_of(d, &run) else {
                    tracing::warn!(run = %run.name, org = %run.org, job = %job, "no execution backend: if the cancelled run's Job exists, delete it by hand");
                    store.cleaned_up(&run).await.map_err(e)?;
                    return Ok(());
                };
                let target = Target {
                    namespace: &ns,
                    job: &job,
                    gateway: catalog.gateway(&run.org),
                    session: run.mux_run_id.as_deref(),
                };
                backend.cancel(target).await.map_err(|e| e.to_string())?;
                store.cleaned_up(&run).await.map_err(e)?;
                tracing::info!(run = %run.name, org = %run.org, job = %job, "cancelled run's Job deleted");
                return Ok(());
            }
            // Waiting (for a person, or its Job), or over.
            _ => return Ok(()),
        }
    }
}

/// Where an attempt runs.
enum Backend<'a, E> {
    Jobs(&'a E),
    Mux(&'a AgentMux),
}

impl<E: Executor> Backend<'_, E> {
    async fn launch(&self, launch: &Launch, token: &str) -> Result<Launched, ExecError> {
        match self {
            Backend::Jobs(jobs) => jobs.launch(launch, token).await,
            Backend::Mux(mux) => mux.launch(launch, token).await,
        }
    }

    async fn state(&self, target: Target<'_>) -> Result<JobState, ExecError> {
        match self {
            Backend::Jobs(jobs) => jobs.state(target).await,
            Backend::Mux(mux) => mux.state(target).await,
        }
    }

    async fn cancel(&self, target: Target<'_>) -> Result<(), ExecError> {
        match self {
            Backend::Jobs(jobs) => jobs.cancel(target).await,
            Backend::Mux(mux) => mux.cancel(target).await,
        }
    }
}

/// The backend the run's current attempt runs on, if this server has it.
fn backend_of<'a, E>(d: &'a Dispatcher<E>, run: &Run) -> Option<Backend<'a, E>> {
    if run.backend.as_deref() == Some("agent-mux") {
        Some(Backend::Mux(&d.mux))
    } else {
        d.executor.as_deref().map(Backend::Jobs)
    }
}

/// The backend brought the attempt's result (a gateway's `result`
/// event): recorded as a callback.
async fn reported<E>(d: &Dispatcher<E>, run: &Run, outcome: &Outcome) -> Result<(), String> {
    match d
        .store
        .report(run, outcome)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(Called::Succeeded) => {
            d.stats.succeeded.fetch_add(1, Ordering::Relaxed);
            tracing::info!(run = %run.name, org = %run.org, "run succeeded");
        }
        Some(Called::Failed(_)) => {
            d.stats.attempts_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(run = %run.name, org = %run.org, "the agent reported a failure");
        }
        _ => {}
    }
    Ok(())
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

fn bad(message: String) -> (StatusCode, Json<Value>) {
    (StatusCode::BAD_REQUEST, Json(json!({ "message": message })))
}

/// `POST /api/orgs/{org}/agents/runs/{name}/callback`: the agent's
/// result, with `Authorization: Bearer <token>` (the token of the run's
/// current attempt). 401 for a wrong token or an unknown run alike.
pub async fn callback(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return unauthorized().into_response();
    };
    // The body is read only from a caller that holds a token.
    let body = match super::listen::read_body(body, super::MAX_CALL_BODY).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    record_callback(&state, &org, &name, token, &body)
        .await
        .into_response()
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "message": "a valid run token is required" })),
    )
}

async fn record_callback(
    state: &AppState,
    org: &str,
    name: &str,
    token: &str,
    body: &[u8],
) -> (StatusCode, Json<Value>) {
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(format!("the body is not JSON: {e}")),
    };
    let outcome = match outcome_of(&body) {
        Ok(o) => o,
        Err(why) => return bad(why),
    };
    match state
        .store()
        .callback(org, name, &token_hash(token), &outcome)
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
    fn tokens_are_random_and_stored_as_their_hash() {
        assert_eq!(token_hash("t").len(), 64);
        let (t1, h1) = token().unwrap();
        let (t2, _) = token().unwrap();
        assert_ne!(t1, t2);
        assert_eq!(token_hash(&t1), h1);
    }
}
