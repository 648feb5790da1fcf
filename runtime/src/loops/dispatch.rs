//! The dispatch loop of `kradle serve` (docs/dispatch.md): it moves each
//! run through its steps — review, workspace, launch, watch, cleanup — one
//! transaction per transition, as [`next`] decides. (The agent's callback
//! is `serve::callback`.)
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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{Handler, Settle, Shared, Worker, WorkerConfig, current};
use crate::dispatch::catalog::Catalog;
use crate::dispatch::catalog::Gateway;
use crate::dispatch::executor::{ExecError, Executor, JobState, Launched, Target};
use crate::dispatch::job::{Launch, launch_of};
use crate::dispatch::memory::MemoryGit;
use crate::dispatch::mux::AgentMux;
use crate::dispatch::outcome::Outcome;
use crate::dispatch::run::{Backend, Env, Facts, FailReason, Need, Run, Step, Transition, next};
use crate::names::job_name;
use crate::store::{AfterFailure, Binding, Called, DISPATCH_QUEUE, Job, Store};

/// The stacks the dispatch worker reads, swapped on SIGHUP.
pub type SharedCatalog = Shared<Catalog>;

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
    /// kradle's own image: agent pods get its binary and a checkout.
    pub tools_image: Option<String>,
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
            tools_image: self.tools_image.clone(),
            poll: self.poll,
            lease: self.lease,
            concurrency: self.concurrency,
            stats: self.stats.clone(),
        }
    }
}

/// Runs the dispatch worker until `stop` turns true.
pub async fn run<E: Executor>(d: Dispatcher<E>, stop: watch::Receiver<bool>) {
    if d.executor.is_some() {
        match d.store.requeue_queued().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "launching the runs queued without a backend"),
            Err(error) => tracing::warn!(%error, "cannot requeue the queued runs"),
        }
    }
    let config = WorkerConfig {
        // Up to `concurrency` runs advance at once.
        slots: d.concurrency,
        lease: d.lease,
        // Until the next look at a Running run (`--job-poll-ms`) or a held
        // launch is due, at most a second.
        idle: Duration::from_secs(1),
        ..WorkerConfig::new(DISPATCH_QUEUE)
    };
    let worker = Worker {
        store: d.store.clone(),
        handler: Arc::new(d),
        config,
    };
    worker.run(stop).await;
}

/// One claimed job, handled and settled as the worker does, as `worker`.
pub async fn attempt<E: Executor>(d: &Dispatcher<E>, job: &Job, worker: &str) {
    let config = WorkerConfig {
        name: worker.into(),
        lease: d.lease,
        ..WorkerConfig::new(DISPATCH_QUEUE)
    };
    let (_running, stop) = watch::channel(false);
    super::work(&d.store, d, &config, std::slice::from_ref(job), &stop).await;
}

impl<E: Executor> Handler for Dispatcher<E> {
    /// A job advances its run (`{"run": id}`); the runs in hand finish
    /// their step on shutdown (each is one transaction at a time), the rest
    /// of the queue waits for the next worker.
    async fn handle_one(&self, job: &Job, _worker: &str) -> Settle {
        let id = job.payload["run"].as_i64().unwrap_or_default();
        match advance(self, id).await {
            Ok(()) => Settle::Done,
            Err(error) => {
                tracing::warn!(run = id, %error, "dispatch step failed; retrying");
                Settle::Failed {
                    error: error.to_string(),
                    backoff: Duration::from_secs(1),
                }
            }
        }
    }

    /// A run whose job ran out of tries ends Failed (`DispatchGaveUp`, with
    /// the last error) and frees its workspace, instead of staying in its
    /// phase for ever.
    async fn buried(&self, job: &Job, error: &str) {
        let id = job.payload["run"].as_i64().unwrap_or_default();
        tracing::error!(run = id, %error, "dispatch step gave up: the run fails");
        if let Err(e) = give_up(self, id, error).await {
            tracing::warn!(run = id, error = %e, "cannot fail the run");
        }
    }
}

/// Why a dispatch step stopped short: the job is retried after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The backend failed in a way worth trying again.
    #[error(transparent)]
    Backend(#[from] ExecError),
    #[error("no {0} backend")]
    NoBackend(Backend),
    #[error("no randomness for a token: {0}")]
    Randomness(getrandom::Error),
    /// The state machine asked to try again later.
    #[error("{0}")]
    Retry(String),
}

/// Ends run `id`, whose dispatch job ran out of tries, Failed with `error`.
async fn give_up<E: Executor>(d: &Dispatcher<E>, id: i64, error: &str) -> Result<(), StepError> {
    let Some(run) = d.store.dispatch_run(id).await? else {
        return Ok(());
    };
    if run.phase.is_terminal() {
        return Ok(());
    }
    let message = format!(
        "kradle gave up advancing the run from {}/{}: {error}",
        run.phase, run.step
    );
    d.store
        .fail_run(&run, FailReason::DispatchGaveUp, &message, None)
        .await?;
    Ok(())
}

/// A fresh callback token and its hash (hex sha256).
fn token() -> Result<(String, String), StepError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(StepError::Randomness)?;
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
        || crate::names::org_namespace(&run.org),
        |s| s.namespace.clone(),
    )
}

/// What one call of [`advance`] carries from a transition to the next, so
/// the next step need not read back what the last one wrote.
#[derive(Default)]
struct Carried {
    /// The run as it now is.
    run: Option<Run>,
    /// The review's snapshot, when the run was admitted by this call: it is
    /// recorded with the workspace binding (the stored run is still at its
    /// review).
    admitted: Option<Value>,
    /// A token whose hash was committed with the workspace, and the context
    /// bundle (content, digest) committed then.
    prepared: Option<(String, Option<(String, String)>)>,
}

/// Advances run `id` until it waits: asks [`next`] what to do, reads the
/// facts it needs, and carries out each transition in the store, one
/// transaction each. `Err` (a store or transient backend failure) retries
/// the job after a backoff.
pub async fn advance<E: Executor>(d: &Dispatcher<E>, id: i64) -> Result<(), StepError> {
    let store = &d.store;
    let env = Env {
        cluster: d.executor.is_some(),
        memory: d.memory.is_some(),
    };
    let mut carried = Carried::default();
    'run: loop {
        let run = match carried.run.take() {
            Some(run) => run,
            None => match store.dispatch_run(id).await? {
                Some(run) => run,
                None => return Ok(()),
            },
        };
        let catalog = current(&d.catalog);
        let mut facts = Facts {
            fresh_token: carried.prepared.is_some(),
            ..Facts::default()
        };
        // Asks again after each fact it needed, until it decides; a
        // transition either ends the call or carries the run on.
        'decide: loop {
            match next(&run, &catalog, env, &facts) {
                Transition::Observe(need) => observe(d, &run, &catalog, need, &mut facts).await?,
                Transition::Fail {
                    reason,
                    message,
                    review,
                } => {
                    // Admitted by this call, the stored run is still at its
                    // review, and the review is recorded with the failure.
                    let admitted = carried.admitted.take();
                    let stored = Run {
                        step: if admitted.is_some() {
                            Step::Review
                        } else {
                            run.step
                        },
                        ..run
                    };
                    let review = review.or(admitted);
                    store
                        .fail_run(&stored, reason, &message, review.as_ref())
                        .await?;
                    return Ok(());
                }
                Transition::Hold {
                    review,
                    action,
                    why,
                } => {
                    if store.hold_for_approval(&run, &review, action, &why).await? {
                        d.stats.awaiting_approval.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(run = %run.name, org = %run.org, "run awaits approval: see `kradle approvals list`");
                    }
                    return Ok(());
                }
                Transition::Admit {
                    review,
                    max_attempts,
                    deadline_seconds,
                } => {
                    // Straight on to the workspace: the review is recorded with
                    // the binding, in one transaction.
                    carried.admitted = Some(review);
                    carried.run = Some(Run {
                        step: Step::Workspace,
                        max_attempts,
                        deadline_seconds,
                        ..run
                    });
                    break 'decide;
                }
                Transition::Bind { memory } => {
                    let Some(stack) = catalog.stack(&run.org, &run.agent_stack) else {
                        return Ok(());
                    };
                    let mut task = json!({
                        "taskKind": run.task_kind, "repository": run.repository, "ref": run.git_ref,
                        "requestedBy": run.requested_by, "stack": run.agent_stack,
                    });
                    if let Some(pin) = &memory {
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
                    let admitted = carried.admitted.take();
                    let binding = Binding {
                        storage_class: stack.storage_class.as_deref(),
                        capacity: &stack.capacity,
                        stack_snapshot: &stack.spec,
                        bundle: &bundle,
                        token_hash: &hash,
                        admitted: admitted.as_ref(),
                        memory: memory.as_ref(),
                    };
                    let Some(b) = store.bind_workspace(&run, &binding).await? else {
                        return Ok(());
                    };
                    carried.prepared =
                        Some((token, Some((bundle.content.to_string(), bundle.digest))));
                    carried.run = Some(Run {
                        step: Step::Launch,
                        attempts: 1,
                        workspace: Some(b.workspace),
                        pvc: Some(b.pvc),
                        workspace_phase: Some(b.phase),
                        job_name: Some(job_name(&run.name, 1)),
                        launch_begun: true,
                        ..run
                    });
                    break 'decide;
                }
                Transition::Park { message } => {
                    store.park_queued(&run, &message).await?;
                    return Ok(());
                }
                Transition::Adopt => {
                    store.started(&run, d.poll, None).await?;
                    return Ok(());
                }
                Transition::LaunchLater { reason, message } => {
                    store.launch_later(&run, reason, &message, d.poll).await?;
                    return Ok(());
                }
                Transition::Launch { backend } => {
                    let (token, context) = match carried.prepared.take() {
                        Some(prepared) => prepared,
                        None => {
                            let (token, hash) = token()?;
                            if !store.set_token(&run, &hash).await? {
                                continue 'run;
                            }
                            (token, None)
                        }
                    };
                    return launch(d, &catalog, &run, backend, &token, context).await;
                }
                Transition::AttemptFailed {
                    code,
                    message,
                    cancel,
                } => {
                    if let Some(backend) = cancel {
                        let target = watch_target(&catalog, &run);
                        backend_for(d, backend)
                            .ok_or(StepError::NoBackend(backend))?
                            .cancel(target.as_target())
                            .await?;
                    }
                    failed_attempt(d, &run, &code, &message).await?;
                    return Ok(());
                }
                Transition::Report(outcome) => {
                    reported(d, &run, &outcome).await?;
                    return Ok(());
                }
                Transition::WatchAgain => {
                    store.watch_again(&run, d.poll).await?;
                    return Ok(());
                }
                Transition::Cleanup { backend } => {
                    let job = run.job_name.clone().unwrap_or_default();
                    match backend.and_then(|b| backend_for(d, b)) {
                        Some(backend) => {
                            let target = watch_target(&catalog, &run);
                            backend.cancel(target.as_target()).await?;
                            store.cleaned_up(&run).await?;
                            tracing::info!(run = %run.name, org = %run.org, job = %job, "cancelled run's Job deleted");
                        }
                        None => {
                            tracing::warn!(run = %run.name, org = %run.org, job = %job, "no execution backend: if the cancelled run's Job exists, delete it by hand");
                            store.cleaned_up(&run).await?;
                        }
                    }
                    return Ok(());
                }
                Transition::Retry(message) => return Err(StepError::Retry(message)),
                Transition::Stay => return Ok(()),
            }
        }
    }
}

/// Reads the fact [`next`] asked for into `facts`.
async fn observe<E: Executor>(
    d: &Dispatcher<E>,
    run: &Run,
    catalog: &Catalog,
    need: Need,
    facts: &mut Facts,
) -> Result<(), StepError> {
    match need {
        Need::StartedByStack => {
            let started = d.store.runs_started_today(&run.org, Some(&run.agent_stack));
            facts.started_by_stack = Some(started.await?);
        }
        Need::StartedByOrg => {
            let started = d.store.runs_started_today(&run.org, None);
            facts.started_by_org = Some(started.await?);
        }
        Need::Memory => {
            let read = match (catalog.memory(&run.org), &d.memory) {
                (Some(memory), Some(git)) => git.resolve(memory).await,
                _ => Err(crate::dispatch::memory::MemoryError::NoRepository),
            };
            facts.memory = Some(read);
        }
        Need::Job(backend) => {
            let target = if run.step == Step::Launch {
                launch_target(catalog, run)
            } else {
                watch_target(catalog, run)
            };
            let state = match backend_for(d, backend) {
                Some(b) => b.state(target.as_target()).await,
                None => Err(ExecError::Transient(format!("no {backend} backend"))),
            };
            facts.job = Some(state);
        }
        Need::Running => facts.running = Some(d.store.org_runs_running(&run.org).await?),
    }
    Ok(())
}

/// The attempt a backend call is about, owned.
struct OwnedTarget<'a> {
    namespace: String,
    job: String,
    gateway: Option<&'a Gateway>,
    session: Option<&'a str>,
}

impl OwnedTarget<'_> {
    fn as_target(&self) -> Target<'_> {
        Target {
            namespace: &self.namespace,
            job: &self.job,
            gateway: self.gateway,
            session: self.session,
        }
    }
}

/// The attempt being launched: in its stack's namespace, on its gateway.
fn launch_target<'a>(catalog: &'a Catalog, run: &'a Run) -> OwnedTarget<'a> {
    let stack = catalog.stack(&run.org, &run.agent_stack);
    OwnedTarget {
        namespace: namespace_of(catalog, run),
        job: run.job_name.clone().unwrap_or_default(),
        gateway: stack.and_then(|s| catalog.gateway_for(s)),
        session: None,
    }
}

/// The attempt that runs: its session, on its org's gateway.
fn watch_target<'a>(catalog: &'a Catalog, run: &'a Run) -> OwnedTarget<'a> {
    OwnedTarget {
        namespace: namespace_of(catalog, run),
        job: run.job_name.clone().unwrap_or_default(),
        gateway: catalog.gateway(&run.org),
        session: run.mux_run_id.as_deref(),
    }
}

/// Creates the attempt's Job (or session) with `token`, and records that
/// the run is Running.
async fn launch<E: Executor>(
    d: &Dispatcher<E>,
    catalog: &Catalog,
    run: &Run,
    backend: Backend,
    token: &str,
    context: Option<(String, String)>,
) -> Result<(), StepError> {
    let Some(stack) = catalog.stack(&run.org, &run.agent_stack) else {
        return Ok(());
    };
    let Some(on) = backend_for(d, backend) else {
        return Err(StepError::NoBackend(backend));
    };
    let mut launch = launch_of(
        stack,
        &run.name,
        run.attempts,
        &run.task_kind,
        run.repository.as_deref(),
        run.git_ref.as_deref(),
        run.pvc.as_deref().unwrap_or_default(),
        run.pvc_new(),
        &d.callback_base,
    );
    // The deadline the review froze on the run.
    launch.deadline_seconds = run.deadline_seconds;
    launch.gateway = catalog.gateway_for(stack).cloned();
    launch.tools_image = d.tools_image.clone();
    launch.clone_url = run.clone_url.clone();
    launch.context = match context {
        Some(context) => Some(context),
        None => d
            .store
            .context_bundle(run.id)
            .await?
            .map(|(content, digest)| (content.to_string(), digest)),
    };
    match on.launch(&launch, token).await {
        Ok(Launched { session }) => {
            if d.store.started(run, d.poll, session.as_ref()).await? {
                d.stats.launched.fetch_add(1, Ordering::Relaxed);
                let job = launch.job_name();
                match &session {
                    None => {
                        tracing::info!(run = %run.name, org = %run.org, job = %job, attempt = run.attempts, "agent Job created")
                    }
                    Some((mux_run, _)) => {
                        tracing::info!(run = %run.name, org = %run.org, mux_run = %mux_run, attempt = run.attempts, "agent session launched on the gateway")
                    }
                }
            }
            Ok(())
        }
        Err(e @ ExecError::Transient(_)) => Err(e.into()),
        Err(ExecError::Refused(m)) => failed_attempt(d, run, "LaunchRefused", &m).await,
    }
}

/// Where an attempt runs.
enum On<'a, E> {
    Jobs(&'a E),
    Mux(&'a AgentMux),
}

impl<E: Executor> On<'_, E> {
    async fn launch(&self, launch: &Launch, token: &str) -> Result<Launched, ExecError> {
        match self {
            On::Jobs(jobs) => jobs.launch(launch, token).await,
            On::Mux(mux) => mux.launch(launch, token).await,
        }
    }

    async fn state(&self, target: Target<'_>) -> Result<JobState, ExecError> {
        match self {
            On::Jobs(jobs) => jobs.state(target).await,
            On::Mux(mux) => mux.state(target).await,
        }
    }

    async fn cancel(&self, target: Target<'_>) -> Result<(), ExecError> {
        match self {
            On::Jobs(jobs) => jobs.cancel(target).await,
            On::Mux(mux) => mux.cancel(target).await,
        }
    }
}

/// `backend`, if this server has it.
fn backend_for<E>(d: &Dispatcher<E>, backend: Backend) -> Option<On<'_, E>> {
    match backend {
        Backend::AgentMux => Some(On::Mux(&d.mux)),
        Backend::Kubernetes => d.executor.as_deref().map(On::Jobs),
    }
}

/// The backend brought the attempt's result (a gateway's `result`
/// event): recorded as a callback.
async fn reported<E>(d: &Dispatcher<E>, run: &Run, outcome: &Outcome) -> Result<(), StepError> {
    match d.store.report(run, outcome).await? {
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
) -> Result<(), StepError> {
    d.stats.attempts_failed.fetch_add(1, Ordering::Relaxed);
    let after = d.store.attempt_failed(run, code, message).await?;
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
