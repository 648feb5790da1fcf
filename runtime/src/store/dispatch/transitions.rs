//! The worker's transitions of a run (docs/dispatch.md): each one
//! transaction, guarded by the (phase, step) it leaves, so a transition
//! that lost a race (to another worker, or a person cancelling) changes
//! nothing.

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgConnection;

use super::{
    AfterFailure, Binding, Bound, Ending, LAUNCHING, end_run, enqueue_step, release_workspace,
    settle_attempt,
};
use crate::dispatch::run::{AttemptPhase, Backend, FailReason, Phase, Run, Step, WorkspacePhase};
use crate::names::{job_name, workspace_name, workspace_pvc};
use crate::store::{Store, StoreError};

impl Store {
    /// Moves `run` from (`phase`, `step`) to (`to_phase`, `to_step`), with
    /// a reason; false when it was not there (anymore).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn move_run(
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
        self.in_tx(async |tx| {
            let reason = reason.as_str();
            let moved = self
                .move_run(
                    &mut *tx,
                    run.id,
                    (run.phase, run.step),
                    (Phase::Failed, Step::Done),
                    Some(reason),
                    Some(message),
                    permission,
                )
                .await?;
            if moved {
                settle_attempt(
                    &mut *tx,
                    run.id,
                    AttemptPhase::Failed,
                    Some(reason),
                    Some(message),
                )
                .await?;
                release_workspace(&mut *tx, run.id).await?;
            }
            Ok(moved)
        })
        .await
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
        self.in_tx(async |tx| {
            let moved = self
                .move_run(
                    &mut *tx,
                    run.id,
                    (run.phase, run.step),
                    to,
                    Some(reason),
                    message,
                    permission,
                )
                .await?;
            Ok(moved)
        })
        .await
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
        self.in_tx(async |tx| {
            let moved = self
                .move_run(
                    &mut *tx,
                    run.id,
                    (run.phase, run.step),
                    (Phase::AwaitingApproval, Step::Review),
                    Some("ApprovalRequired"),
                    Some(description),
                    Some(permission),
                )
                .await?;
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
                .await?;
            }
            Ok(moved)
        })
        .await
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
                phase,
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
                    phase: WorkspacePhase::Provisioning,
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
        self.in_tx(async |tx| {
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
            .await?
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
                .await?;
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
                .await?;
                enqueue_step(&mut *tx, run.id, poll).await?;
            }
            Ok(moved)
        })
        .await
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
        self.in_tx(async |tx| {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM kradle_dispatch_runs r WHERE phase = $1
                    AND NOT EXISTS (SELECT 1 FROM kradle_jobs j WHERE j.key = 'run:' || r.id)",
            )
            .bind(Phase::Queued)
            .fetch_all(&mut *tx)
            .await?;
            for id in &ids {
                enqueue_step(&mut *tx, *id, Duration::ZERO).await?;
            }
            Ok(ids.len() as u64)
        })
        .await
    }

    /// Watches the Job again in `poll`.
    pub async fn watch_again(&self, run: &Run, poll: Duration) -> Result<(), StoreError> {
        self.in_tx(async |tx| enqueue_step(tx, run.id, poll).await)
            .await
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
        self.in_tx(async |tx| {
            let after = attempt_failed_on(&mut *tx, run.id, run.attempts, code, message).await?;
            Ok(after)
        })
        .await
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
        self.in_tx(async |tx| {
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
            .await?
            .rows_affected()
                == 1;
            if moved {
                enqueue_step(&mut *tx, run.id, delay).await?;
            }
            Ok(())
        })
        .await
    }

    /// The cancelled run's Job is deleted: its workspace is free.
    pub async fn cleaned_up(&self, run: &Run) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let moved = sqlx::query(
                "UPDATE kradle_dispatch_runs SET step = $2, updated_at = now(),
                        resource_version = nextval('kradle_resource_version')
                  WHERE id = $1 AND step = $3",
            )
            .bind(run.id)
            .bind(Step::Done)
            .bind(Step::Cleanup)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if moved {
                release_workspace(&mut *tx, run.id).await?;
            }
            Ok(moved)
        })
        .await
    }
}

/// [`Store::attempt_failed`] on the caller's transaction.
pub(super) async fn attempt_failed_on(
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
        let message = format!("attempt {attempts} of {max} failed: {message}");
        let ending = Ending {
            phase: Phase::Failed,
            step: Step::Done,
            reason: code,
            message: Some(&message),
            result: None,
        };
        end_run(&mut *conn, run, &ending).await?;
        release_workspace(conn, run).await?;
        Ok(AfterFailure::Failed)
    }
}
