//! The dispatch lifecycle's rows (migration 0007, docs/dispatch.md): runs,
//! attempts, approvals, workspaces, artifacts and transcripts.
//!
//! Every transition is one transaction, guarded by the (phase, step) it
//! leaves: two workers (or a worker and a person cancelling) never both
//! move a run, and a transition that lost the race changes nothing.

use std::time::Duration;

use serde_json::Value;
use sqlx::Row as _;
use sqlx::postgres::{PgConnection, PgRow};

mod by_hand;
mod results;
mod schedules;
mod transitions;

pub use schedules::Scheduled;

use super::queue::JOBS_CHANNEL;
use super::{Store, StoreError};
use crate::dispatch::catalog::{DEFAULT_DEADLINE_SECONDS, DEFAULT_MAX_ATTEMPTS};
use crate::dispatch::run::{ApprovalPhase, AttemptPhase, Phase, Pinned, Run, Step, WorkspacePhase};

/// The queue of dispatch steps; jobs are keyed `run:<id>`.
pub const DISPATCH_QUEUE: &str = "dispatch";

/// Tries of one dispatch step before the run gives up (`DispatchGaveUp`).
const STEP_MAX_ATTEMPTS: i32 = 20;

/// The workspace a run was bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub workspace: String,
    pub pvc: String,
    /// Provisioning while its PVC is still to be created, else InUse.
    pub phase: WorkspacePhase,
}

/// What [`Store::bind_workspace`] records with the binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub storage_class: Option<&'a str>,
    pub capacity: &'a str,
    /// The stack's spec, frozen into the first attempt.
    pub stack_snapshot: &'a Value,
    pub bundle: &'a crate::dispatch::bundle::Bundle,
    /// The hash of the first attempt's callback token.
    pub token_hash: &'a str,
    /// The review's snapshot, when the run comes straight from it.
    pub admitted: Option<&'a Value>,
    /// The memory commit the run is pinned to.
    pub memory: Option<&'a Pinned>,
}

/// A run about to be born. The three ways a run is born (a trigger's
/// match, a schedule's tick, a manual dispatch) all go through
/// [`create_run`], which names it ([`crate::names::run_name`]).
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    pub org: &'a str,
    pub agent_stack: &'a str,
    pub task_kind: &'a str,
    pub repository: Option<&'a str>,
    pub git_ref: Option<&'a str>,
    /// What caused it: the run's one source ref (`issues:Issue:42`,
    /// `schedule:…`, `manual:<actor>`).
    pub source: &'a str,
    /// The trigger execution that decided it, and its rule.
    pub execution: Option<(i64, &'a str)>,
    pub requested_by: Option<&'a str>,
    /// (maxAttempts, deadlineSeconds) until the run is admitted, which
    /// takes the stack's; the catalog's defaults when `None`.
    pub limits: Option<(i32, i32)>,
    /// Where its checkout clones from (checked: `dispatch::clone_url_of`).
    pub clone_url: Option<&'a str>,
}

/// Creates a Pending run, its first step queued; returns its id and name.
pub(crate) async fn create_run(
    conn: &mut PgConnection,
    run: &NewRun<'_>,
) -> Result<(i64, String), sqlx::Error> {
    let id: i64 = sqlx::query_scalar("SELECT nextval('kradle_dispatch_runs_id_seq')")
        .fetch_one(&mut *conn)
        .await?;
    let name = crate::names::run_name(run.agent_stack, id);
    let (max_attempts, deadline_seconds) = run
        .limits
        .unwrap_or((DEFAULT_MAX_ATTEMPTS, DEFAULT_DEADLINE_SECONDS));
    // One statement: the run, its first step queued, and the workers woken
    // (as `enqueue_step` does), so a trigger batch pays one round trip per
    // run besides its id.
    sqlx::query(
        "WITH run AS (
             INSERT INTO kradle_dispatch_runs
                 (id, org, name, agent_stack, task_kind, repository, ref, source_refs, execution,
                  trigger_rule, requested_by, max_attempts, deadline_seconds, clone_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, jsonb_build_array($8::text), $9, $10, $11, $12,
                     $13, $17)
             RETURNING id),
         job AS (
             INSERT INTO kradle_jobs (queue, key, payload, max_attempts)
             SELECT $14, 'run:' || id, jsonb_build_object('run', id), $16 FROM run)
         SELECT pg_notify($15, $14)",
    )
    .bind(id)
    .bind(run.org)
    .bind(&name)
    .bind(run.agent_stack)
    .bind(run.task_kind)
    .bind(run.repository)
    .bind(run.git_ref)
    .bind(run.source)
    .bind(run.execution.map(|(id, _)| id))
    .bind(run.execution.map(|(_, rule)| rule))
    .bind(run.requested_by)
    .bind(max_attempts)
    .bind(deadline_seconds)
    .bind(DISPATCH_QUEUE)
    .bind(JOBS_CHANNEL)
    .bind(STEP_MAX_ATTEMPTS)
    .bind(run.clone_url)
    .execute(&mut *conn)
    .await?;
    Ok((id, name))
}

/// What a failed attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// A new attempt is to be launched.
    Retrying(i32),
    /// The run failed: no attempts are left.
    Failed,
    /// The run had moved on (cancelled, or already settled).
    Moved,
}

/// What a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Called {
    Succeeded,
    Failed(AfterFailure),
    /// The token does not open this run (wrong, or not its current
    /// attempt's).
    Unauthorized,
    /// The run is not waiting for a result.
    NotRunning(String),
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled; its Job is deleted next.
    Cancelled,
    NotFound,
    /// Already over: the phase it ended in.
    Finished(String),
}

/// What deciding an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Approved,
    Denied,
    /// A `write-back` approval: the run's writes held for it were queued
    /// (approved) or Rejected; how many.
    Writes {
        approved: bool,
        writes: usize,
    },
    NotFound,
    /// Decided already: by whom, and how.
    Already(String),
}

const RUN_COLUMNS: &str = "r.id, r.org, r.name, r.agent_stack, r.task_kind, r.repository, r.ref,
    r.requested_by, r.phase, r.step, r.attempts, r.max_attempts, r.deadline_seconds, r.workspace,
    w.pvc, w.phase AS workspace_phase, a.job_name,
    (r.token_hash IS NOT NULL) AS launch_begun, r.source_refs, r.clone_url, a.backend, a.mux_run_id,
    extract(epoch FROM now() - a.started_at)::float8 AS attempt_seconds";

impl sqlx::FromRow<'_, PgRow> for Run {
    fn from_row(row: &PgRow) -> Result<Run, sqlx::Error> {
        Ok(Run {
            id: row.try_get("id")?,
            org: row.try_get("org")?,
            name: row.try_get("name")?,
            agent_stack: row.try_get("agent_stack")?,
            task_kind: row.try_get("task_kind")?,
            repository: row.try_get("repository")?,
            git_ref: row.try_get("ref")?,
            requested_by: row.try_get("requested_by")?,
            phase: row.try_get("phase")?,
            step: row.try_get("step")?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            deadline_seconds: row.try_get("deadline_seconds")?,
            workspace: row.try_get("workspace")?,
            pvc: row.try_get("pvc")?,
            workspace_phase: row.try_get("workspace_phase")?,
            job_name: row.try_get("job_name")?,
            launch_begun: row.try_get("launch_begun")?,
            source_refs: row.try_get("source_refs")?,
            clone_url: row.try_get("clone_url")?,
            backend: row.try_get("backend")?,
            mux_run_id: row.try_get("mux_run_id")?,
            attempt_seconds: row.try_get("attempt_seconds")?,
        })
    }
}

const RUN_FROM: &str = "kradle_dispatch_runs r
    LEFT JOIN kradle_workspaces w ON w.org = r.org AND w.name = r.workspace
    LEFT JOIN kradle_dispatch_attempts a ON a.run = r.id AND a.number = r.attempts";

/// The phases a run is launched from.
pub(super) const LAUNCHING: [Phase; 2] = [Phase::Pending, Phase::Queued];

/// Queues the run's next step, `delay` from now, when the caller's
/// transaction commits.
pub(super) async fn enqueue_step(
    conn: &mut PgConnection,
    run: i64,
    delay: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO kradle_jobs (queue, key, payload, max_attempts, run_at)
         VALUES ($1, 'run:' || $2, jsonb_build_object('run', $2::bigint), $4,
                 now() + make_interval(secs => $3::float8 / 1000))",
    )
    .bind(DISPATCH_QUEUE)
    .bind(run)
    .bind(delay.as_millis() as f64)
    .bind(STEP_MAX_ATTEMPTS)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOBS_CHANNEL)
        .bind(DISPATCH_QUEUE)
        .execute(conn)
        .await?;
    Ok(())
}

/// How a run ends, as [`end_run`] records it.
pub(super) struct Ending<'a> {
    pub phase: Phase,
    /// `Done`, or `Cleanup` when a cancelled run's Job is to be deleted.
    pub step: Step,
    pub reason: &'a str,
    pub message: Option<&'a str>,
    /// The run's result, when the agent reported one.
    pub result: Option<&'a Value>,
}

/// Ends run `id`: its phase, step, reason and message, the result if any;
/// its callback token is dropped (no later callback is taken).
pub(super) async fn end_run(
    conn: &mut PgConnection,
    id: i64,
    e: &Ending<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE kradle_dispatch_runs
            SET phase = $2, step = $3, reason = $4, message = $5,
                result = coalesce($6, result), token_hash = NULL, finished_at = now(),
                updated_at = now(), resource_version = nextval('kradle_resource_version')
          WHERE id = $1",
    )
    .bind(id)
    .bind(e.phase)
    .bind(e.step)
    .bind(e.reason)
    .bind(e.message)
    .bind(e.result)
    .execute(conn)
    .await?;
    Ok(())
}

/// Frees the run's workspace for the next run of its repository and
/// branch. A workspace whose PVC was never created stays Provisioning.
pub(super) async fn release_workspace(
    conn: &mut PgConnection,
    run: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE kradle_workspaces
            SET phase = CASE WHEN phase = $2 THEN $3 ELSE phase END,
                claimed_by = NULL, runs = runs + 1, updated_at = now(),
                resource_version = nextval('kradle_resource_version')
          WHERE claimed_by = $1",
    )
    .bind(run)
    .bind(WorkspacePhase::InUse)
    .bind(WorkspacePhase::Ready)
    .execute(conn)
    .await?;
    Ok(())
}

/// Settles the current attempt of `run` in `phase`.
pub(super) async fn settle_attempt(
    conn: &mut PgConnection,
    run: i64,
    phase: AttemptPhase,
    code: Option<&str>,
    message: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE kradle_dispatch_attempts a
            SET phase = $2, reason_code = $3, message = $4, finished_at = now(),
                resource_version = nextval('kradle_resource_version')
           FROM kradle_dispatch_runs r
          WHERE r.id = $1 AND a.run = r.id AND a.number = r.attempts
            AND a.phase = ANY($5)",
    )
    .bind(run)
    .bind(phase)
    .bind(code)
    .bind(message)
    .bind([AttemptPhase::Starting, AttemptPhase::Running])
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The run with id `id`.
    pub async fn dispatch_run(&self, id: i64) -> Result<Option<Run>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// The run `name` of `org`.
    /// The organizations that have a run (or, with `approvals`, an
    /// approval) named `name`, sorted: a command given a name alone finds
    /// its organization when there is one.
    pub async fn orgs_naming(
        &self,
        approvals: bool,
        name: &str,
    ) -> Result<Vec<String>, StoreError> {
        let table = if approvals {
            "kradle_approvals"
        } else {
            "kradle_dispatch_runs"
        };
        sqlx::query_scalar(&format!(
            "SELECT DISTINCT org FROM {table} WHERE name = $1 ORDER BY org"
        ))
        .bind(name)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    pub async fn dispatch_run_named(
        &self,
        org: &str,
        name: &str,
    ) -> Result<Option<Run>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.org = $1 AND r.name = $2"
        ))
        .bind(org)
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// The run's context bundle: its content and digest.
    pub async fn context_bundle(&self, run: i64) -> Result<Option<(Value, String)>, StoreError> {
        sqlx::query_as("SELECT content, digest FROM kradle_context_bundles WHERE run = $1")
            .bind(run)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(e))
    }
}

impl Store {
    /// Runs of `org` Running now.
    pub async fn org_runs_running(&self, org: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT count(*) FROM kradle_dispatch_runs WHERE org = $1 AND phase = $2",
        )
        .bind(org)
        .bind(Phase::Running)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// Runs of `org` (of `stack` only, when given) whose Job was created
    /// in the last 24 hours.
    pub async fn runs_started_today(
        &self,
        org: &str,
        stack: Option<&str>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT count(*) FROM kradle_dispatch_runs
              WHERE org = $1 AND ($2::text IS NULL OR agent_stack = $2)
                AND started_at > now() - interval '24 hours'",
        )
        .bind(org)
        .bind(stack)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }
}

/// What `/metrics` shows of the runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchGauges {
    /// (org, phase, runs, seconds the oldest open one has been in it).
    pub by_phase: Vec<(String, String, i64, Option<f64>)>,
    pub approvals_pending: i64,
}

impl Store {
    /// Runs by org and phase, and the approvals waiting.
    pub async fn dispatch_gauges(&self) -> Result<DispatchGauges, StoreError> {
        let q = |e| self.query_error(e);
        let by_phase = sqlx::query_as(
            "SELECT org, phase, count(*),
                    max(extract(epoch FROM now() - updated_at)::float8)
                        FILTER (WHERE phase <> ALL($1))
               FROM kradle_dispatch_runs GROUP BY org, phase ORDER BY org, phase",
        )
        .bind(Phase::TERMINAL)
        .fetch_all(self.pool())
        .await
        .map_err(q)?;
        let approvals_pending =
            sqlx::query_scalar("SELECT count(*) FROM kradle_approvals WHERE phase = $1")
                .bind(ApprovalPhase::Pending)
                .fetch_one(self.pool())
                .await
                .map_err(q)?;
        Ok(DispatchGauges {
            by_phase,
            approvals_pending,
        })
    }
}
