//! The dispatch lifecycle's rows (migration 0007, docs/dispatch.md): runs,
//! attempts, approvals, workspaces, artifacts and transcripts.
//!
//! Every transition is one transaction, guarded by the (phase, step) it
//! leaves: two workers (or a worker and a person cancelling) never both
//! move a run, and a transition that lost the race changes nothing.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row as _;
use sqlx::postgres::{PgConnection, PgRow};

use super::deliveries::JOBS_CHANNEL;
use super::{Store, StoreError};
use crate::dispatch::job::{job_name, workspace_name, workspace_pvc};
use crate::dispatch::outcome::Outcome;
use crate::dispatch::run::{
    ApprovalPhase, AttemptPhase, Backend, FailReason, Phase, Pinned, Run, Step, WorkspacePhase,
};

/// The queue of dispatch steps; jobs are keyed `run:<id>`.
pub const DISPATCH_QUEUE: &str = "dispatch";

/// The workspace a run was bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub workspace: String,
    pub pvc: String,
    /// Its PVC is still to be created.
    pub new: bool,
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
    NotFound,
    /// Decided already: by whom, and how.
    Already(String),
}

const RUN_COLUMNS: &str = "r.id, r.org, r.name, r.agent_stack, r.task_kind, r.repository, r.ref,
    r.requested_by, r.phase, r.step, r.attempts, r.max_attempts, r.deadline_seconds, r.workspace,
    w.pvc, w.phase AS workspace_phase, a.job_name,
    (r.token_hash IS NOT NULL) AS launch_begun, r.source_refs, a.backend, a.mux_run_id,
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
const LAUNCHING: [Phase; 2] = [Phase::Pending, Phase::Queued];

/// Queues the run's next step, `delay` from now, when the caller's
/// transaction commits.
pub(super) async fn enqueue_step(
    conn: &mut PgConnection,
    run: i64,
    delay: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO kradle_jobs (queue, key, payload, max_attempts, run_at)
         VALUES ($1, 'run:' || $2, jsonb_build_object('run', $2::bigint), 20,
                 now() + make_interval(secs => $3::float8 / 1000))",
    )
    .bind(DISPATCH_QUEUE)
    .bind(run)
    .bind(delay.as_millis() as f64)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOBS_CHANNEL)
        .bind(DISPATCH_QUEUE)
        .execute(conn)
        .await?;
    Ok(())
}

/// Frees the run's workspace for the next run of its repository and
/// branch. A workspace whose PVC was never created stays Provisioning.
async fn release_workspace(conn: &mut PgConnection, run: i64) -> Result<(), sqlx::Error> {
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

/// Records the result of attempt `attempt` of run `id` (authorized by
/// the caller): the run's phase, its artifacts and its transcript.
async fn record_outcome(
    conn: &mut PgConnection,
    org: &str,
    id: i64,
    attempt: i32,
    outcome: &Outcome,
) -> Result<Called, sqlx::Error> {
    let called = if outcome.succeeded {
        sqlx::query(
            "UPDATE kradle_dispatch_runs
                    SET phase = $4, step = $5, reason = 'Completed', message = $2,
                        result = $3, token_hash = NULL, finished_at = now(), updated_at = now(),
                        resource_version = nextval('kradle_resource_version')
                  WHERE id = $1",
        )
        .bind(id)
        .bind(&outcome.message)
        .bind(
            json!({ "phase": Phase::Succeeded, "message": outcome.message,
                          "artifacts": outcome.artifacts.len() }),
        )
        .bind(Phase::Succeeded)
        .bind(Step::Done)
        .execute(&mut *conn)
        .await?;
        settle_attempt(
            &mut *conn,
            id,
            AttemptPhase::Succeeded,
            None,
            outcome.message.as_deref(),
        )
        .await?;
        release_workspace(&mut *conn, id).await?;
        Called::Succeeded
    } else {
        let message = outcome
            .message
            .clone()
            .unwrap_or_else(|| "the agent reported a failure".into());
        Called::Failed(attempt_failed_on(&mut *conn, id, attempt, "AgentFailed", &message).await?)
    };
    for a in &outcome.artifacts {
        sqlx::query(
            "INSERT INTO kradle_artifacts (org, run, attempt, kind, digest, size, mime_type, uri)
                 VALUES ($1, $2, $3, $4 ->> 'kind', $4 ->> 'digest', ($4 ->> 'size')::bigint,
                         $4 ->> 'mimeType', $4 ->> 'uri')
                 ON CONFLICT (run, digest) DO NOTHING",
        )
        .bind(org)
        .bind(id)
        .bind(attempt)
        .bind(a)
        .execute(&mut *conn)
        .await?;
    }
    if let Some((events, digest)) = &outcome.transcript {
        sqlx::query(
            "INSERT INTO kradle_transcripts (run, org, attempt, events, digest)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run) DO UPDATE SET attempt = $3, events = $4, digest = $5",
        )
        .bind(id)
        .bind(org)
        .bind(attempt)
        .bind(events)
        .bind(digest)
        .execute(&mut *conn)
        .await?;
    }
    Ok(called)
}

/// Settles the current attempt of `run` in `phase`.
async fn settle_attempt(
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

    /// Moves `run` from (`phase`, `step`) to (`to_phase`, `to_step`), with
    /// a reason; false when it was not there (anymore).
    #[allow(clippy::too_many_arguments)]
    async fn move_run(
        &self,
        conn: &mut PgConnection,
        run: i64,
        from: (Phase, Step),
        to: (Phase, Step),
        reason: Option<&str>,
        message: Option<&str>,
        permission: Option<&Value>,
    ) -> Result<bool, sqlx::Error> {
        let moved = sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET phase = $4, step = $5, reason = $6, message = $7,
                    permission = coalesce($8, permission),
                    -- The review freezes the stack's budget on the run.
                    max_attempts = coalesce(($8 -> 'limits' ->> 'maxAttempts')::int, max_attempts),
                    deadline_seconds = coalesce(($8 -> 'limits' ->> 'deadlineSeconds')::int,
                                                deadline_seconds),
                    finished_at = CASE WHEN $9 THEN now() END,
                    updated_at = now(), resource_version = nextval('kradle_resource_version')
              WHERE id = $1 AND phase = $2 AND step = $3",
        )
        .bind(run)
        .bind(from.0)
        .bind(from.1)
        .bind(to.0)
        .bind(to.1)
        .bind(reason)
        .bind(message)
        .bind(permission)
        .bind(to.0.is_terminal())
        .execute(conn)
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Fails `run` (from where it is) for `reason`; its workspace is freed.
    pub async fn fail_run(
        &self,
        run: &Run,
        reason: FailReason,
        message: &str,
        permission: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let reason = reason.as_str();
        let moved = self
            .move_run(
                &mut tx,
                run.id,
                (run.phase, run.step),
                (Phase::Failed, Step::Done),
                Some(reason),
                Some(message),
                permission,
            )
            .await
            .map_err(q)?;
        if moved {
            settle_attempt(
                &mut tx,
                run.id,
                AttemptPhase::Failed,
                Some(reason),
                Some(message),
            )
            .await
            .map_err(q)?;
            release_workspace(&mut tx, run.id).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(moved)
    }

    /// Moves `run` from where it is to `to`, alone in a transaction.
    async fn transit(
        &self,
        run: &Run,
        to: (Phase, Step),
        reason: &str,
        message: Option<&str>,
        permission: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let moved = self
            .move_run(
                &mut tx,
                run.id,
                (run.phase, run.step),
                to,
                Some(reason),
                message,
                permission,
            )
            .await
            .map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(moved)
    }

    /// The review requires a person: the run waits in AwaitingApproval,
    /// with one AgentApproval (no second one for the same action).
    pub async fn hold_for_approval(
        &self,
        run: &Run,
        permission: &Value,
        action: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let moved = self
            .move_run(
                &mut tx,
                run.id,
                (run.phase, run.step),
                (Phase::AwaitingApproval, Step::Review),
                Some("ApprovalRequired"),
                Some(description),
                Some(permission),
            )
            .await
            .map_err(q)?;
        if moved {
            sqlx::query(
                "INSERT INTO kradle_approvals (org, name, run, action, requested_by, description)
                 VALUES ($1, $2 || '-' || $3, $4, $3, $5, $6)
                 ON CONFLICT (run, action) DO NOTHING",
            )
            .bind(&run.org)
            .bind(&run.name)
            .bind(action)
            .bind(run.id)
            .bind(run.requested_by.as_deref().unwrap_or("kradle"))
            .bind(description)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(moved)
    }

    /// Approves or denies `name` (an AgentApproval of `org`). Approving
    /// sends its run on to its workspace; denying fails it.
    pub async fn decide_approval(
        &self,
        org: &str,
        name: &str,
        approve: bool,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Decided, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let row: Option<(i64, ApprovalPhase, Option<String>)> = sqlx::query_as(
            "SELECT run, phase, decided_by FROM kradle_approvals
              WHERE org = $1 AND name = $2 FOR UPDATE",
        )
        .bind(org)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((run, phase, decided_by)) = row else {
            return Ok(Decided::NotFound);
        };
        if phase != ApprovalPhase::Pending {
            return Ok(Decided::Already(format!(
                "{} by {}",
                phase.as_str().to_lowercase(),
                decided_by.unwrap_or_default()
            )));
        }
        let phase = if approve {
            ApprovalPhase::Approved
        } else {
            ApprovalPhase::Denied
        };
        sqlx::query(
            "UPDATE kradle_approvals
                SET phase = $3, decided_by = $4, reason = $5, decided_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE org = $1 AND name = $2",
        )
        .bind(org)
        .bind(name)
        .bind(phase)
        .bind(by)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        let (to, why, message) = if approve {
            (
                (Phase::Pending, Step::Workspace),
                phase.as_str(),
                format!("approved by {by}"),
            )
        } else {
            (
                (Phase::Failed, Step::Done),
                FailReason::Denied.as_str(),
                format!(
                    "denied by {by}{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            )
        };
        let moved = self
            .move_run(
                &mut tx,
                run,
                (Phase::AwaitingApproval, Step::Review),
                to,
                Some(why),
                Some(&message),
                None,
            )
            .await
            .map_err(q)?;
        if moved && approve {
            enqueue_step(&mut tx, run, Duration::ZERO)
                .await
                .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(if approve {
            Decided::Approved
        } else {
            Decided::Denied
        })
    }

    /// Binds `run` to a workspace — a free one of its org, repository and
    /// branch, or a new one — records its context bundle, its first
    /// attempt and the hash of that attempt's token: on to launch. With
    /// `admitted` (the review's snapshot), the run comes straight from an
    /// allowed review, recorded in the same transaction. `None` when the
    /// run had moved on.
    pub async fn bind_workspace(
        &self,
        run: &Run,
        binding: &Binding<'_>,
    ) -> Result<Option<Bound>, StoreError> {
        let Binding {
            storage_class,
            capacity,
            stack_snapshot,
            bundle,
            token_hash,
            admitted,
            memory,
        } = *binding;
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let repository = run.repository.clone().unwrap_or_default();
        let branch = run.git_ref.clone().unwrap_or_else(|| "main".into());
        let claimed: Option<(String, String, WorkspacePhase)> = sqlx::query_as(
            "UPDATE kradle_workspaces
                SET phase = CASE WHEN phase = $5 THEN $6 ELSE phase END,
                    claimed_by = $4, updated_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE id = (SELECT id FROM kradle_workspaces
                           WHERE org = $1 AND repository = $2 AND branch = $3
                             AND claimed_by IS NULL
                           ORDER BY (phase = $5) DESC, id
                           LIMIT 1 FOR UPDATE SKIP LOCKED)
              RETURNING name, pvc, phase",
        )
        .bind(&run.org)
        .bind(&repository)
        .bind(&branch)
        .bind(run.id)
        .bind(WorkspacePhase::Ready)
        .bind(WorkspacePhase::InUse)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let bound = match claimed {
            Some((workspace, pvc, phase)) => Bound {
                workspace,
                pvc,
                new: phase == WorkspacePhase::Provisioning,
            },
            None => {
                let name = workspace_name(&run.name);
                let pvc = workspace_pvc(&name);
                sqlx::query(
                    "INSERT INTO kradle_workspaces
                         (org, name, repository, branch, pvc, storage_class, capacity, phase, claimed_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&run.org)
                .bind(&name)
                .bind(&repository)
                .bind(&branch)
                .bind(&pvc)
                .bind(storage_class)
                .bind(capacity)
                .bind(WorkspacePhase::Provisioning)
                .bind(run.id)
                .execute(&mut *tx)
                .await
                .map_err(q)?;
                Bound {
                    pvc,
                    workspace: name,
                    new: true,
                }
            }
        };
        let moved = sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET step = $7, workspace = $2, attempts = 1, reason = 'WorkspaceBound',
                    message = NULL, token_hash = $3,
                    permission = coalesce($5, permission),
                    max_attempts = coalesce(($5 -> 'limits' ->> 'maxAttempts')::int, max_attempts),
                    deadline_seconds = coalesce(($5 -> 'limits' ->> 'deadlineSeconds')::int,
                                                deadline_seconds),
                    updated_at = now(), resource_version = nextval('kradle_resource_version')
              WHERE id = $1 AND phase = $6 AND step = $4",
        )
        .bind(run.id)
        .bind(&bound.workspace)
        .bind(token_hash)
        .bind(if admitted.is_some() {
            Step::Review
        } else {
            Step::Workspace
        })
        .bind(admitted)
        .bind(Phase::Pending)
        .bind(Step::Launch)
        .execute(&mut *tx)
        .await
        .map_err(q)?
        .rows_affected()
            == 1;
        if !moved {
            // Lost a race: the claim is rolled back with it.
            tx.rollback().await.map_err(q)?;
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO kradle_context_bundles (run, org, digest, sources, content, redactions)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(run.id)
        .bind(&run.org)
        .bind(&bundle.digest)
        .bind(Value::Array(bundle.sources.clone()))
        .bind(&bundle.content)
        .bind(Value::Array(bundle.redactions.clone()))
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        sqlx::query(
            "INSERT INTO kradle_dispatch_attempts
                 (run, number, reason, stack_snapshot, job_name, context_digest)
             VALUES ($1, 1, 'initial', $2, $3, $4)",
        )
        .bind(run.id)
        .bind(stack_snapshot)
        .bind(job_name(&run.name, 1))
        .bind(&bundle.digest)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        if let Some(pin) = memory {
            sqlx::query(
                "WITH s AS (
                     INSERT INTO kradle_memory_snapshots
                         (org, name, run, memory_repository, requested_ref, resolved_commit)
                     VALUES ($2, $3 || '-memory', $1, $4, $5, $6)
                     RETURNING name)
                 UPDATE kradle_dispatch_runs SET memory_snapshot = (SELECT name FROM s)
                  WHERE id = $1",
            )
            .bind(run.id)
            .bind(&run.org)
            .bind(&run.name)
            .bind(&pin.memory_repository)
            .bind(&pin.requested_ref)
            .bind(&pin.commit)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(Some(bound))
    }

    /// The run's context bundle: its content and digest.
    pub async fn context_bundle(&self, run: i64) -> Result<Option<(Value, String)>, StoreError> {
        sqlx::query_as("SELECT content, digest FROM kradle_context_bundles WHERE run = $1")
            .bind(run)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(e))
    }

    /// Records the hash of the token the launch is about to hand its Job,
    /// before the Secret is written.
    pub async fn set_token(&self, run: &Run, hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE kradle_dispatch_runs SET token_hash = $3, updated_at = now()
              WHERE id = $1 AND attempts = $2 AND step = $4",
        )
        .bind(run.id)
        .bind(run.attempts)
        .bind(hash)
        .bind(Step::Launch)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// The Job (or gateway session) is created: the run is Running, and
    /// its attempt is watched every `poll`. `session` is the gateway's
    /// (run id, session id) of an attempt that runs there.
    pub async fn started(
        &self,
        run: &Run,
        poll: Duration,
        session: Option<&(String, String)>,
    ) -> Result<bool, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let moved = sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET phase = $3, step = $4, reason = 'JobCreated', message = NULL,
                    started_at = coalesce(started_at, now()), updated_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE id = $1 AND step = $5 AND attempts = $2 AND phase = ANY($6)",
        )
        .bind(run.id)
        .bind(run.attempts)
        .bind(Phase::Running)
        .bind(Step::Watch)
        .bind(Step::Launch)
        .bind(LAUNCHING)
        .execute(&mut *tx)
        .await
        .map_err(q)?
        .rows_affected()
            == 1;
        if moved {
            sqlx::query(
                "UPDATE kradle_dispatch_attempts
                    SET phase = $5, started_at = now(), backend = $6,
                        mux_run_id = $3, mux_session_id = $4,
                        resource_version = nextval('kradle_resource_version')
                  WHERE run = $1 AND number = $2",
            )
            .bind(run.id)
            .bind(run.attempts)
            .bind(session.map(|s| &s.0))
            .bind(session.map(|s| &s.1))
            .bind(AttemptPhase::Running)
            .bind(if session.is_some() {
                Backend::AgentMux
            } else {
                Backend::Kubernetes
            })
            .execute(&mut *tx)
            .await
            .map_err(q)?;
            sqlx::query(
                "UPDATE kradle_workspaces
                    SET phase = $2, updated_at = now(),
                        resource_version = nextval('kradle_resource_version')
                  WHERE claimed_by = $1 AND phase = $3",
            )
            .bind(run.id)
            .bind(WorkspacePhase::InUse)
            .bind(WorkspacePhase::Provisioning)
            .execute(&mut *tx)
            .await
            .map_err(q)?;
            enqueue_step(&mut tx, run.id, poll).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(moved)
    }

    /// There is no execution backend: the run waits in Queued until a
    /// `kradle serve` with one starts.
    pub async fn park_queued(&self, run: &Run, message: &str) -> Result<bool, StoreError> {
        self.transit(
            run,
            (Phase::Queued, Step::Launch),
            "NoExecutionBackend",
            Some(message),
            None,
        )
        .await
    }

    /// Queues a launch for every Queued run (a backend is there now).
    pub async fn requeue_queued(&self) -> Result<u64, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM kradle_dispatch_runs r WHERE phase = $1
                AND NOT EXISTS (SELECT 1 FROM kradle_jobs j WHERE j.key = 'run:' || r.id)",
        )
        .bind(Phase::Queued)
        .fetch_all(&mut *tx)
        .await
        .map_err(q)?;
        for id in &ids {
            enqueue_step(&mut tx, *id, Duration::ZERO)
                .await
                .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(ids.len() as u64)
    }

    /// Watches the Job again in `poll`.
    pub async fn watch_again(&self, run: &Run, poll: Duration) -> Result<(), StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        enqueue_step(&mut tx, run.id, poll).await.map_err(q)?;
        tx.commit().await.map_err(q)
    }

    /// The current attempt of `run` failed (`code`: `DeadlineExceeded`,
    /// `AgentFailed`, ...): a new attempt when the run has attempts left,
    /// otherwise the run fails.
    pub async fn attempt_failed(
        &self,
        run: &Run,
        code: &str,
        message: &str,
    ) -> Result<AfterFailure, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let after = attempt_failed_on(&mut tx, run.id, run.attempts, code, message)
            .await
            .map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(after)
    }

    /// A callback: `token_hash` must open the run's current attempt.
    pub async fn callback(
        &self,
        org: &str,
        name: &str,
        token_hash: &str,
        outcome: &Outcome,
    ) -> Result<Called, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let row: Option<(i64, i32, Phase, Step, Option<String>)> = sqlx::query_as(
            "SELECT id, attempts, phase, step, token_hash FROM kradle_dispatch_runs
              WHERE org = $1 AND name = $2 FOR UPDATE",
        )
        .bind(org)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((id, attempt, phase, step, hash)) = row else {
            return Ok(Called::Unauthorized);
        };
        if hash.as_deref() != Some(token_hash) {
            return Ok(Called::Unauthorized);
        }
        if !step.has_attempt() {
            return Ok(Called::NotRunning(phase.to_string()));
        }
        let called = record_outcome(&mut tx, org, id, attempt, outcome)
            .await
            .map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(called)
    }

    /// The backend brought the result of the run's current attempt (a
    /// gateway's `result` event): recorded as its callback would be.
    /// `None` when the run had moved on.
    pub async fn report(&self, run: &Run, outcome: &Outcome) -> Result<Option<Called>, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM kradle_dispatch_runs
              WHERE id = $1 AND attempts = $2 AND phase = $3 AND step = $4
                FOR UPDATE",
        )
        .bind(run.id)
        .bind(run.attempts)
        .bind(Phase::Running)
        .bind(Step::Watch)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        if open.is_none() {
            return Ok(None);
        }
        let called = record_outcome(&mut tx, &run.org, run.id, run.attempts, outcome)
            .await
            .map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(Some(called))
    }

    /// Cancels run `name` of `org`: Cancelled at once; its Job (if it has
    /// one) is deleted by the next step, which then frees the workspace.
    pub async fn cancel_run(
        &self,
        org: &str,
        name: &str,
        by: &str,
    ) -> Result<Cancelled, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let row: Option<(i64, Phase, i32)> = sqlx::query_as(
            "SELECT id, phase, attempts FROM kradle_dispatch_runs
              WHERE org = $1 AND name = $2 FOR UPDATE",
        )
        .bind(org)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some((id, phase, attempts)) = row else {
            return Ok(Cancelled::NotFound);
        };
        if phase.is_terminal() {
            return Ok(Cancelled::Finished(phase.to_string()));
        }
        let step = if attempts > 0 {
            Step::Cleanup
        } else {
            Step::Done
        };
        sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET phase = $4, step = $2, reason = $4, message = $3,
                    token_hash = NULL, finished_at = now(), updated_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE id = $1",
        )
        .bind(id)
        .bind(step)
        .bind(format!("cancelled by {by}"))
        .bind(Phase::Cancelled)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        let cancelled = Some(AttemptPhase::Cancelled.as_str());
        settle_attempt(&mut tx, id, AttemptPhase::Cancelled, cancelled, None)
            .await
            .map_err(q)?;
        sqlx::query(
            "UPDATE kradle_approvals SET phase = $3, decided_by = $2, reason = 'run cancelled',
                    decided_at = now(), resource_version = nextval('kradle_resource_version')
              WHERE run = $1 AND phase = $4",
        )
        .bind(id)
        .bind(by)
        .bind(ApprovalPhase::Denied)
        .bind(ApprovalPhase::Pending)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        if attempts > 0 {
            enqueue_step(&mut tx, id, Duration::ZERO).await.map_err(q)?;
        } else {
            release_workspace(&mut tx, id).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(Cancelled::Cancelled)
    }

    /// The cancelled run's Job is deleted: its workspace is free.
    pub async fn cleaned_up(&self, run: &Run) -> Result<bool, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let moved = sqlx::query(
            "UPDATE kradle_dispatch_runs SET step = $2, updated_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE id = $1 AND step = $3",
        )
        .bind(run.id)
        .bind(Step::Done)
        .bind(Step::Cleanup)
        .execute(&mut *tx)
        .await
        .map_err(q)?
        .rows_affected()
            == 1;
        if moved {
            release_workspace(&mut tx, run.id).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(moved)
    }

    /// A manual dispatch (`kradle dispatch`, `POST .../agents/dispatch`):
    /// a Pending run, its first step queued. Returns its name.
    #[allow(clippy::too_many_arguments)]
    pub async fn dispatch_manually(
        &self,
        org: &str,
        stack: &str,
        task_kind: &str,
        repository: Option<&str>,
        git_ref: Option<&str>,
        actor: &str,
        max_attempts: i32,
        deadline_seconds: i32,
    ) -> Result<String, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let (id, name): (i64, String) = sqlx::query_as(&format!(
            "WITH n AS (SELECT nextval('kradle_dispatch_runs_id_seq') AS id)
             INSERT INTO kradle_dispatch_runs
                 (id, org, name, agent_stack, task_kind, repository, ref, source_refs,
                  requested_by, max_attempts, deadline_seconds)
             SELECT n.id, $1, {}, $2, $3, $4, $5,
                    jsonb_build_array('manual:' || $6), $6, $7, $8
               FROM n
             RETURNING id, name",
            crate::dispatch::catalog::run_name_sql("$2", "n.id")
        ))
        .bind(org)
        .bind(stack)
        .bind(task_kind)
        .bind(repository)
        .bind(git_ref)
        .bind(actor)
        .bind(max_attempts)
        .bind(deadline_seconds)
        .fetch_one(&mut *tx)
        .await
        .map_err(q)?;
        enqueue_step(&mut tx, id, Duration::ZERO).await.map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(name)
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

    /// The launch of `run` waits (`reason` and `message` say why): tried
    /// again in `delay`.
    pub async fn launch_later(
        &self,
        run: &Run,
        reason: &str,
        message: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let moved = sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET reason = $2, message = $3, updated_at = now(),
                    resource_version = CASE WHEN reason IS DISTINCT FROM $2
                        THEN nextval('kradle_resource_version') ELSE resource_version END
              WHERE id = $1 AND step = $4 AND phase = ANY($5)",
        )
        .bind(run.id)
        .bind(reason)
        .bind(message)
        .bind(Step::Launch)
        .bind(LAUNCHING)
        .execute(&mut *tx)
        .await
        .map_err(q)?
        .rows_affected()
            == 1;
        if moved {
            enqueue_step(&mut tx, run.id, delay).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)
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

/// A schedule's rule, as [`Store::fire_schedule`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled<'a> {
    pub org: &'a str,
    pub rule: &'a str,
    pub agent_stack: &'a str,
    pub task_kind: &'a str,
    pub repository: Option<&'a str>,
}

impl Store {
    /// The latest tick `rule` of `org` fired; a rule seen for the first
    /// time starts at `now` (it fires at its next tick, not for the past).
    pub async fn schedule_last(
        &self,
        org: &str,
        rule: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        sqlx::query_scalar(
            "WITH s AS (INSERT INTO kradle_schedules (org, rule, last_tick) VALUES ($1, $2, $3)
                        ON CONFLICT (org, rule) DO NOTHING RETURNING last_tick)
             SELECT last_tick FROM s
             UNION ALL SELECT last_tick FROM kradle_schedules WHERE org = $1 AND rule = $2
             LIMIT 1",
        )
        .bind(org)
        .bind(rule)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// Fires `rule` for `tick`: in one transaction, the schedule moves to
    /// `tick`, and an AgentTriggerExecution and a Pending run are
    /// recorded, the run's first step queued. False when the tick was
    /// fired already (by this replica or another).
    pub async fn fire_schedule(
        &self,
        s: &Scheduled<'_>,
        tick: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let moved = sqlx::query(
            "UPDATE kradle_schedules SET last_tick = $3, updated_at = now()
              WHERE org = $1 AND rule = $2 AND last_tick < $3",
        )
        .bind(s.org)
        .bind(s.rule)
        .bind(tick)
        .execute(&mut *tx)
        .await
        .map_err(q)?
        .rows_affected()
            == 1;
        if !moved {
            return Ok(false);
        }
        let run: Option<i64> = sqlx::query_scalar(&format!(
            "WITH x AS (
                 INSERT INTO kradle_trigger_executions
                     (org, rule, agent_stack, task_kind, tick, source_event, decision)
                 VALUES ($1, $2, $3, $4, $5,
                         'schedule:' || to_char($5 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                         'Dispatching')
                 ON CONFLICT (org, rule, tick) WHERE tick IS NOT NULL DO NOTHING
                 RETURNING id, source_event),
             n AS (SELECT nextval('kradle_dispatch_runs_id_seq') AS run_id, x.* FROM x)
             INSERT INTO kradle_dispatch_runs
                 (id, org, name, agent_stack, task_kind, repository, source_refs, execution,
                  trigger_rule, requested_by)
             SELECT run_id, $1, {}, $3, $4, $6,
                    jsonb_build_array(source_event), id, $2, 'kradle-scheduler'
               FROM n
             RETURNING id",
            crate::dispatch::catalog::run_name_sql("$3", "run_id")
        ))
        .bind(s.org)
        .bind(s.rule)
        .bind(s.agent_stack)
        .bind(s.task_kind)
        .bind(tick)
        .bind(s.repository)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        if let Some(id) = run {
            enqueue_step(&mut tx, id, Duration::ZERO).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(run.is_some())
    }
}

/// [`Store::attempt_failed`] on the caller's transaction.
async fn attempt_failed_on(
    conn: &mut PgConnection,
    run: i64,
    attempt: i32,
    code: &str,
    message: &str,
) -> Result<AfterFailure, sqlx::Error> {
    let row: Option<(Step, i32, i32, String)> = sqlx::query_as(
        "SELECT step, attempts, max_attempts, name FROM kradle_dispatch_runs
          WHERE id = $1 AND attempts = $2 AND phase <> ALL($3) FOR UPDATE",
    )
    .bind(run)
    .bind(attempt)
    .bind(Phase::TERMINAL)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((step, attempts, max, name)) = row else {
        return Ok(AfterFailure::Moved);
    };
    if !step.has_attempt() {
        return Ok(AfterFailure::Moved);
    }
    settle_attempt(conn, run, AttemptPhase::Failed, Some(code), Some(message)).await?;
    if attempts < max {
        let next = attempts + 1;
        sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET phase = $4, step = $5, attempts = $2, reason = 'Retrying',
                    message = $3, token_hash = NULL, updated_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE id = $1",
        )
        .bind(run)
        .bind(next)
        .bind(format!("attempt {attempts} failed ({code}): {message}"))
        .bind(Phase::Pending)
        .bind(Step::Launch)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO kradle_dispatch_attempts
                 (run, number, reason, stack_snapshot, job_name, context_digest)
             SELECT a.run, $2, 'retry', a.stack_snapshot, $4, a.context_digest
               FROM kradle_dispatch_attempts a
              WHERE a.run = $1 AND a.number = $3",
        )
        .bind(run)
        .bind(next)
        .bind(attempts)
        .bind(job_name(&name, next))
        .execute(&mut *conn)
        .await?;
        enqueue_step(conn, run, Duration::ZERO).await?;
        Ok(AfterFailure::Retrying(next))
    } else {
        sqlx::query(
            "UPDATE kradle_dispatch_runs
                SET phase = $4, step = $5, reason = $2, message = $3, token_hash = NULL,
                    finished_at = now(), updated_at = now(),
                    resource_version = nextval('kradle_resource_version')
              WHERE id = $1",
        )
        .bind(run)
        .bind(code)
        .bind(format!("attempt {attempts} of {max} failed: {message}"))
        .bind(Phase::Failed)
        .bind(Step::Done)
        .execute(&mut *conn)
        .await?;
        release_workspace(conn, run).await?;
        Ok(AfterFailure::Failed)
    }
}
