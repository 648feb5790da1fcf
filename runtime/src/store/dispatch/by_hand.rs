//! What people do to runs: dispatch one by hand, decide an approval,
//! cancel a run.

use std::time::Duration;

use super::{
    Cancelled, Decided, Ending, NewRun, create_run, end_run, enqueue_step, release_workspace,
    settle_attempt,
};
use crate::dispatch::run::{ApprovalPhase, AttemptPhase, FailReason, Phase, Step};
use crate::store::agent::{WRITE_BACK, decide_writes};
use crate::store::{Store, StoreError};

impl Store {
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
        self.in_tx(async |tx| {
            let row: Option<(i64, ApprovalPhase, Option<String>, String)> = sqlx::query_as(
                "SELECT run, phase, decided_by, action FROM kradle_approvals
                  WHERE org = $1 AND name = $2 FOR UPDATE",
            )
            .bind(org)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((run, phase, decided_by, action)) = row else {
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
            .await?;
            if action == WRITE_BACK {
                // The run's writes wait for it, not the run.
                let writes = decide_writes(&mut *tx, run, approve, by).await?;
                return Ok(Decided::Writes {
                    approved: approve,
                    writes,
                });
            }
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
                    &mut *tx,
                    run,
                    (Phase::AwaitingApproval, Step::Review),
                    to,
                    Some(why),
                    Some(&message),
                    None,
                )
                .await?;
            if moved && approve {
                enqueue_step(&mut *tx, run, Duration::ZERO).await?;
            }
            Ok(if approve {
                Decided::Approved
            } else {
                Decided::Denied
            })
        })
        .await
    }

    /// Cancels run `name` of `org`: Cancelled at once; its Job (if it has
    /// one) is deleted by the next step, which then frees the workspace.
    pub async fn cancel_run(
        &self,
        org: &str,
        name: &str,
        by: &str,
    ) -> Result<Cancelled, StoreError> {
        self.in_tx(async |tx| {
            let row: Option<(i64, Phase, i32)> = sqlx::query_as(
                "SELECT id, phase, attempts FROM kradle_dispatch_runs
                  WHERE org = $1 AND name = $2 FOR UPDATE",
            )
            .bind(org)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
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
            let message = format!("cancelled by {by}");
            let ending = Ending {
                phase: Phase::Cancelled,
                step,
                reason: Phase::Cancelled.as_str(),
                message: Some(&message),
                result: None,
            };
            end_run(&mut *tx, id, &ending).await?;
            let cancelled = Some(AttemptPhase::Cancelled.as_str());
            settle_attempt(&mut *tx, id, AttemptPhase::Cancelled, cancelled, None).await?;
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
            .await?;
            if attempts > 0 {
                enqueue_step(&mut *tx, id, Duration::ZERO).await?;
            } else {
                release_workspace(&mut *tx, id).await?;
            }
            Ok(Cancelled::Cancelled)
        })
        .await
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
        let source = format!("manual:{actor}");
        let run = NewRun {
            org,
            agent_stack: stack,
            task_kind,
            repository,
            git_ref,
            source: &source,
            execution: None,
            requested_by: Some(actor),
            limits: Some((max_attempts, deadline_seconds)),
            clone_url: None,
        };
        self.in_tx(async |tx| {
            let (_, name) = create_run(tx, &run).await?;
            Ok(name)
        })
        .await
    }
}
