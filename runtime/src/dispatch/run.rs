//! The dispatch run as a state machine (docs/dispatch.md, "The dispatch
//! lifecycle"): its phases and steps as types, and [`next`], the pure
//! function that decides a run's next transition from the run, the
//! compiled stacks, what this server has, and the facts observed so far.
//!
//! `next` does no I/O. When it needs a fact (runs started today, the
//! memory commit, the attempt's Job, runs Running) it returns
//! [`Transition::Observe`]; the worker reads the fact, records it in
//! [`Facts`], and asks again. So every transition of the diagram is tested
//! here without PostgreSQL or Kubernetes, and the worker only carries out
//! what `next` decided, one transaction per transition, in the store.

use serde_json::Value;

use super::catalog::{Catalog, Review, Stack};
use super::executor::{ExecError, JobState};
use super::outcome::Outcome;
use crate::text_enum::text_enum;

text_enum! {
    /// The spec's phase of an AgentDispatchRun (`kradle_dispatch_runs.phase`).
    pub enum Phase {
        /// Being reviewed, bound to a workspace, or launched.
        Pending = "Pending",
        /// Waiting for a person (`kradle approvals`).
        AwaitingApproval = "AwaitingApproval",
        /// Admitted, waiting for a server with an execution backend.
        Queued = "Queued",
        /// Its attempt's Job (or gateway session) exists.
        Running = "Running",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Cancelled = "Cancelled",
    }
}

impl Phase {
    /// The phases a run ends in.
    pub const TERMINAL: [Phase; 3] = [Phase::Succeeded, Phase::Failed, Phase::Cancelled];

    /// Whether a run in this phase is over.
    pub fn is_terminal(self) -> bool {
        Phase::TERMINAL.contains(&self)
    }
}

text_enum! {
    /// What the worker does next within a phase (`kradle_dispatch_runs.step`).
    pub enum Step {
        /// The permission review and the budgets.
        Review = "review",
        /// The memory pin, the workspace, the context bundle, the first attempt.
        Workspace = "workspace",
        /// The attempt's Job (or gateway session) is created.
        Launch = "launch",
        /// The attempt's Job is looked at until it ends.
        Watch = "watch",
        /// A cancelled run's Job is deleted.
        Cleanup = "cleanup",
        /// Nothing is left to do.
        Done = "done",
    }
}

impl Step {
    /// The steps during which an attempt exists and can report.
    pub fn has_attempt(self) -> bool {
        matches!(self, Step::Launch | Step::Watch)
    }
}

text_enum! {
    /// Where an attempt runs (`kradle_dispatch_attempts.backend`).
    pub enum Backend {
        /// A Kubernetes Job.
        Kubernetes = "kubernetes",
        /// A session on the org's Agent Mux gateway.
        AgentMux = "agent-mux",
    }
}

text_enum! {
    /// An attempt's phase (`kradle_dispatch_attempts.phase`).
    pub enum AttemptPhase {
        /// Recorded; its Job is being created.
        Starting = "Starting",
        Running = "Running",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Cancelled = "Cancelled",
    }
}

text_enum! {
    /// An AgentApproval's phase (`kradle_approvals.phase`).
    pub enum ApprovalPhase {
        Pending = "Pending",
        Approved = "Approved",
        Denied = "Denied",
    }
}

text_enum! {
    /// A run workspace's phase (`kradle_workspaces.phase`).
    pub enum WorkspacePhase {
        /// Bound to its first run; its PVC is created with that run's Job.
        Provisioning = "Provisioning",
        /// Free for the next run of its repository and branch.
        Ready = "Ready",
        /// Bound to a run.
        InUse = "InUse",
    }
}

text_enum! {
    /// Why a run ended Failed before any attempt could (`reason`).
    pub enum FailReason {
        StackNotFound = "StackNotFound",
        StackNotReady = "StackNotReady",
        BudgetExceeded = "BudgetExceeded",
        PermissionDenied = "PermissionDenied",
        MemorySnapshotFailed = "MemorySnapshotFailed",
        /// A person denied its approval.
        Denied = "Denied",
        /// Its dispatch job ran out of tries.
        DispatchGaveUp = "DispatchGaveUp",
    }
}

/// A run, as the dispatch worker reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: i64,
    pub org: String,
    pub name: String,
    pub agent_stack: String,
    pub task_kind: String,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub requested_by: Option<String>,
    pub phase: Phase,
    pub step: Step,
    pub attempts: i32,
    pub max_attempts: i32,
    pub deadline_seconds: i32,
    pub workspace: Option<String>,
    /// The workspace's PVC.
    pub pvc: Option<String>,
    /// The workspace's phase: Provisioning while its PVC is to be created.
    pub workspace_phase: Option<WorkspacePhase>,
    /// The current attempt's Job.
    pub job_name: Option<String>,
    /// Whether a launch of the current attempt began (its token's hash is
    /// recorded): only then can its Job exist already.
    pub launch_begun: bool,
    pub source_refs: Value,
    /// Where its checkout clones from, when the event said.
    pub clone_url: Option<String>,
    /// Where the current attempt runs, once it was launched.
    pub backend: Option<Backend>,
    /// The gateway's run id of the current attempt.
    pub mux_run_id: Option<String>,
    /// How long the current attempt has been running.
    pub attempt_seconds: Option<f64>,
}

impl Run {
    /// Whether the run's workspace PVC is still to be created (with the
    /// attempt's Job).
    pub fn pvc_new(&self) -> bool {
        self.workspace_phase == Some(WorkspacePhase::Provisioning)
    }
}

/// What the server advancing the run has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Env {
    /// A cluster to create Jobs in.
    pub cluster: bool,
    /// A reader of memory repositories (`--memory-git-url`).
    pub memory: bool,
}

/// A fact [`next`] needs before it can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Runs of the run's stack started in the last 24 hours.
    StartedByStack,
    /// Runs of the run's org started in the last 24 hours.
    StartedByOrg,
    /// The commit the org's memory repository's branch points at.
    Memory,
    /// The state of the current attempt's Job (or session) on `Backend`.
    Job(Backend),
    /// Runs of the org Running now.
    Running,
}

/// The facts observed for one decision; each is read when [`next`] asks
/// for it ([`Need`]), at most once per step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub started_by_stack: Option<i64>,
    pub started_by_org: Option<i64>,
    /// The memory commit, or why it could not be read.
    pub memory: Option<Result<String, super::memory::MemoryError>>,
    pub job: Option<Result<JobState, ExecError>>,
    pub running: Option<i64>,
    /// This worker made the attempt's token just now (with the workspace):
    /// no launch of the attempt began before, so its Job cannot exist.
    pub fresh_token: bool,
}

/// A memory repository's commit, pinned for a run (AgentMemorySnapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub memory_repository: String,
    pub requested_ref: String,
    pub commit: String,
}

/// What [`next`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// A fact is needed first.
    Observe(Need),
    /// The run fails before any attempt (`review`: the frozen review,
    /// when there was one).
    Fail {
        reason: FailReason,
        message: String,
        review: Option<Value>,
    },
    /// Pending → AwaitingApproval, with one AgentApproval for `action`.
    Hold {
        review: Value,
        action: &'static str,
        why: String,
    },
    /// The review allowed the run: on to its workspace, recorded with the
    /// binding (nothing is written yet).
    Admit {
        review: Value,
        /// The stack's limits, frozen on the run.
        max_attempts: i32,
        deadline_seconds: i32,
    },
    /// Bind a workspace, the context bundle and the first attempt, pinned
    /// to `memory`: on to the launch.
    Bind { memory: Option<Pinned> },
    /// No execution backend: Pending → Queued.
    Park { message: String },
    /// The attempt's Job exists already (a launch that died): Running.
    Adopt,
    /// The launch waits (`reason`, `message`), tried again later.
    LaunchLater {
        reason: &'static str,
        message: String,
    },
    /// Create the attempt's Job (or session) on `backend`: Running.
    Launch { backend: Backend },
    /// The attempt failed with `code`: a new attempt, or the run fails.
    /// With `cancel`, the attempt's session is cancelled first.
    AttemptFailed {
        code: String,
        message: String,
        cancel: Option<Backend>,
    },
    /// The backend brought the attempt's result, recorded as a callback.
    Report(Box<Outcome>),
    /// The attempt goes on: look again later.
    WatchAgain,
    /// Delete the cancelled run's Job (when this server has its backend)
    /// and free its workspace.
    Cleanup { backend: Option<Backend> },
    /// A transient failure: the step is tried again after a backoff.
    Retry(String),
    /// Nothing to do: the run waits for a person or its Job, or is over.
    Stay,
}

/// The backend an attempt of `stack` is launched on, if this server has
/// one: the org's gateway when it has one, else a cluster.
fn launch_backend(catalog: &Catalog, stack: &Stack, env: Env) -> Option<Backend> {
    if catalog.gateway_for(stack).is_some() {
        Some(Backend::AgentMux)
    } else {
        env.cluster.then_some(Backend::Kubernetes)
    }
}

/// The backend the run's current attempt runs on, if this server has it.
pub fn watch_backend(run: &Run, env: Env) -> Option<Backend> {
    if run.backend == Some(Backend::AgentMux) {
        Some(Backend::AgentMux)
    } else {
        env.cluster.then_some(Backend::Kubernetes)
    }
}

/// Decides what happens next to `run`. Pure: the same inputs give the
/// same transition.
pub fn next(run: &Run, catalog: &Catalog, env: Env, facts: &Facts) -> Transition {
    let stack = catalog.stack(&run.org, &run.agent_stack);
    let before_launch = matches!(run.step, Step::Review | Step::Workspace | Step::Launch)
        && matches!(run.phase, Phase::Pending | Phase::Queued);
    if before_launch {
        let Some(stack) = stack else {
            return fail(
                FailReason::StackNotFound,
                format!(
                    "organization `{}` has no AgentStack `{}`",
                    run.org, run.agent_stack
                ),
                None,
            );
        };
        if let Err(why) = &stack.ready {
            return fail(FailReason::StackNotReady, why.to_string(), None);
        }
        return match (run.phase, run.step) {
            (Phase::Pending, Step::Review) => review(run, catalog, stack, facts),
            (Phase::Pending, Step::Workspace) => workspace(run, catalog, env, facts),
            (_, Step::Launch) => launch(run, catalog, stack, env, facts),
            _ => Transition::Stay,
        };
    }
    match (run.phase, run.step) {
        (Phase::Running, Step::Watch) => watch(run, env, facts),
        (Phase::Cancelled, Step::Cleanup) => Transition::Cleanup {
            backend: watch_backend(run, env),
        },
        // Waiting (for a person, or its Job), or over.
        _ => Transition::Stay,
    }
}

fn fail(reason: FailReason, message: String, review: Option<Value>) -> Transition {
    Transition::Fail {
        reason,
        message,
        review,
    }
}

/// The permission review, then the budgets: refused when the stack's, or
/// the org's, runs of the last 24 hours reached its limit.
fn review(run: &Run, catalog: &Catalog, stack: &Stack, facts: &Facts) -> Transition {
    let actor = run.requested_by.as_deref().unwrap_or("kradle");
    let review = catalog.review(stack, run.repository.as_deref(), actor);
    let snapshot = review.snapshot(stack);
    if !matches!(review, Review::Denied(_)) {
        let budgets = [
            (
                stack.max_runs_per_day,
                facts.started_by_stack,
                Need::StartedByStack,
                format!("stack `{}`", run.agent_stack),
                "budget.maxRunsPerDay",
            ),
            (
                catalog.org_budget(&run.org).max_runs_per_day,
                facts.started_by_org,
                Need::StartedByOrg,
                format!("organization `{}`", run.org),
                "agentBudget.maxRunsPerDay",
            ),
        ];
        for (limit, started, need, who, field) in budgets {
            let Some(limit) = limit else { continue };
            let Some(started) = started else {
                return Transition::Observe(need);
            };
            if started >= limit {
                return fail(
                    FailReason::BudgetExceeded,
                    format!(
                        "{who} started {started} runs in the last 24 hours, its budget ({field}: {limit})"
                    ),
                    Some(snapshot),
                );
            }
        }
    }
    match review {
        Review::Allowed => Transition::Admit {
            review: snapshot,
            max_attempts: stack.max_attempts,
            deadline_seconds: stack.deadline_seconds,
        },
        Review::Denied(why) => fail(FailReason::PermissionDenied, why, Some(snapshot)),
        Review::RequiresApproval { action, why } => Transition::Hold {
            review: snapshot,
            action,
            why,
        },
    }
}

/// The memory commit the run is pinned to, read before anything is
/// recorded: a run whose memory cannot be read fails, rather than run
/// against memory nobody can name.
fn workspace(run: &Run, catalog: &Catalog, env: Env, facts: &Facts) -> Transition {
    let Some(memory) = catalog.memory(&run.org).filter(|_| env.memory) else {
        return Transition::Bind { memory: None };
    };
    match &facts.memory {
        None => Transition::Observe(Need::Memory),
        Some(Ok(commit)) => Transition::Bind {
            memory: Some(Pinned {
                memory_repository: memory.name.clone(),
                requested_ref: memory.branch.clone(),
                commit: commit.clone(),
            }),
        },
        Some(Err(why)) => fail(
            FailReason::MemorySnapshotFailed,
            format!(
                "memory repository `{}` (branch `{}`): {why}",
                memory.name, memory.branch
            ),
            None,
        ),
    }
}

fn launch(run: &Run, catalog: &Catalog, stack: &Stack, env: Env, facts: &Facts) -> Transition {
    let Some(backend) = launch_backend(catalog, stack, env) else {
        return Transition::Park {
            message: "no execution backend: `kradle serve` has no cluster to create Jobs in".into(),
        };
    };
    // A launch of this attempt began before (and died): its Job may exist,
    // and is adopted. Without one, or with the token this worker just
    // made, it cannot. (A gateway session is adopted by launching again:
    // its idempotency key finds it.)
    if run.launch_begun && !facts.fresh_token {
        match &facts.job {
            None => return Transition::Observe(Need::Job(backend)),
            Some(Ok(JobState::Missing)) => {}
            Some(Ok(_)) => return Transition::Adopt,
            Some(Err(ExecError::Transient(m))) => return Transition::Retry(m.clone()),
            Some(Err(ExecError::Refused(m))) => return attempt_failed("LaunchRefused", m, None),
        }
    }
    // The org's concurrency: a launch past it waits for a run to end
    // (counted before the launch: two workers launching at the same
    // instant may both pass).
    if let Some(limit) = catalog.org_budget(&run.org).max_concurrent_runs {
        let Some(running) = facts.running else {
            return Transition::Observe(Need::Running);
        };
        if running >= limit {
            return Transition::LaunchLater {
                reason: "OrgConcurrencyLimit",
                message: format!(
                    "organization `{}` has {running} runs Running, its limit (agentBudget.maxConcurrentRuns: {limit}): the launch waits",
                    run.org
                ),
            };
        }
    }
    Transition::Launch { backend }
}

fn attempt_failed(code: &str, message: &str, cancel: Option<Backend>) -> Transition {
    Transition::AttemptFailed {
        code: code.into(),
        message: message.into(),
        cancel,
    }
}

/// A Running attempt: its Job's deadline is Kubernetes'
/// (activeDeadlineSeconds); a gateway session's is kradle's.
fn watch(run: &Run, env: Env, facts: &Facts) -> Transition {
    let Some(backend) = watch_backend(run, env) else {
        return Transition::WatchAgain;
    };
    let over = run
        .attempt_seconds
        .is_some_and(|s| s > f64::from(run.deadline_seconds));
    if backend == Backend::AgentMux && over {
        let message = format!(
            "the gateway session ran past its deadline ({} s)",
            run.deadline_seconds
        );
        return attempt_failed("DeadlineExceeded", &message, Some(backend));
    }
    let job = run.job_name.as_deref().unwrap_or_default();
    match &facts.job {
        None => Transition::Observe(Need::Job(backend)),
        Some(Ok(JobState::Reported(outcome))) => Transition::Report(outcome.clone()),
        Some(Ok(JobState::Active)) => Transition::WatchAgain,
        Some(Ok(JobState::Succeeded)) => attempt_failed(
            "NoCallback",
            &format!("Job {job} completed without calling back"),
            None,
        ),
        Some(Ok(JobState::Failed { reason, message })) => attempt_failed(reason, message, None),
        Some(Ok(JobState::Missing)) => attempt_failed(
            "JobMissing",
            &format!("Job {job} is gone (deleted outside kradle?)"),
            None,
        ),
        Some(Err(ExecError::Transient(m))) => Transition::Retry(m.clone()),
        Some(Err(ExecError::Refused(m))) => attempt_failed("JobUnreadable", m, None),
    }
}

#[cfg(test)]
mod tests;
