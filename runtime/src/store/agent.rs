//! The agent's writes (docs/dispatch.md, "The agent's side"): a comment,
//! pull request or commit status a run asks for is a write intent of the
//! forge journal tied to its run, recorded with its job (or its approval)
//! in one transaction; the `agent` loop sends it.

use serde_json::Value;
use sqlx::Row;

use super::intents::{COLUMNS, intent};
use super::queue::enqueue_on;
use super::{Intent, Phase, Store, StoreError};
use crate::agent::{Gate, Planned};
use crate::dispatch::run::{ApprovalPhase, Step};

/// The queue the agent's writes go to.
pub const AGENT_QUEUE: &str = "agent-writes";

/// Tries of one write before it is Failed.
pub const AGENT_WRITE_ATTEMPTS: i32 = 6;

/// The approval action that gates a run's writes.
pub const WRITE_BACK: &str = "write-back";

/// The run a callback token belongs to, as the agent API needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub run: i64,
    pub org: String,
    pub name: String,
    pub git_ref: Option<String>,
    /// The stack's `approvalMode`, as the run's review froze it.
    pub approval_mode: Option<String>,
    /// The tool profile of the run's context bundle (`null` without one).
    pub tools: Value,
    /// The delivery that made the run: (source, payload). `None` for a run
    /// by hand or by schedule.
    pub delivery: Option<(String, Value)>,
}

/// Who a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Calling {
    /// No run of that name has an attempt with that token.
    Unauthorized,
    /// The token was the run's, which has ended (its phase).
    Ended(String),
    Caller(Box<Caller>),
}

/// A write to record: the plan of what `caller`'s run asked.
#[derive(Debug, Clone)]
pub struct NewAgentWrite<'a> {
    pub caller: &'a Caller,
    pub planned: &'a Planned,
}

/// A recorded write of an agent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentWrite {
    pub intent: Intent,
    pub run: i64,
    pub payload: Value,
    /// Where to see it on the forge, once sent.
    pub result: Option<Value>,
}

fn agent_write(row: &sqlx::postgres::PgRow) -> Result<AgentWrite, sqlx::Error> {
    Ok(AgentWrite {
        intent: intent(row)?,
        run: row.try_get("run")?,
        payload: row
            .try_get::<Option<Value>, _>("payload")?
            .unwrap_or(Value::Null),
        result: row.try_get("result")?,
    })
}

impl Store {
    /// The run `name` of `org` whose current attempt holds the token of
    /// hash `token_hash`.
    pub async fn agent_caller(
        &self,
        org: &str,
        name: &str,
        token_hash: &str,
    ) -> Result<Calling, StoreError> {
        let row = sqlx::query(
            "SELECT r.id, r.phase, r.step, r.token_hash, r.ref,
                    r.permission ->> 'approvalMode' AS approval_mode,
                    b.content -> 'tools' AS tools, d.source, d.payload
               FROM kradle_dispatch_runs r
               LEFT JOIN kradle_context_bundles b ON b.run = r.id
               LEFT JOIN kradle_trigger_executions x ON x.id = r.execution
               LEFT JOIN kradle_webhook_deliveries d ON d.id = x.delivery
              WHERE r.org = $1 AND r.name = $2",
        )
        .bind(org)
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        let Some(row) = row else {
            return Ok(Calling::Unauthorized);
        };
        let get = |row: &sqlx::postgres::PgRow| -> Result<Calling, sqlx::Error> {
            let hash: Option<String> = row.try_get("token_hash")?;
            if hash.as_deref() != Some(token_hash) {
                return Ok(Calling::Unauthorized);
            }
            let step: Step = row.try_get("step")?;
            if !step.has_attempt() {
                let phase: String = row.try_get("phase")?;
                return Ok(Calling::Ended(phase));
            }
            let source: Option<String> = row.try_get("source")?;
            let payload: Option<Value> = row.try_get("payload")?;
            Ok(Calling::Caller(Box::new(Caller {
                run: row.try_get("id")?,
                org: org.to_string(),
                name: name.to_string(),
                git_ref: row.try_get("ref")?,
                approval_mode: row.try_get("approval_mode")?,
                tools: row
                    .try_get::<Option<Value>, _>("tools")?
                    .unwrap_or(Value::Null),
                delivery: source.zip(payload),
            })))
        };
        get(&row).map_err(|e| self.query_error(e))
    }

    /// Records a write of `new.caller`'s run, as its gate says: queued
    /// (Pending), held for the run's `write-back` approval
    /// (PendingApproval, the approval requested once per run), or
    /// Rejected (denied by the tool profile or by the approval's
    /// decision). A write recorded before under the same key is returned
    /// instead (`false`), unless it Failed: a retried call never writes
    /// twice.
    pub async fn record_agent_write(
        &self,
        new: &NewAgentWrite<'_>,
    ) -> Result<(AgentWrite, bool), StoreError> {
        let q = |e| self.query_error(e);
        let planned = new.planned;
        if let Some(earlier) = self.last_agent_write(&planned.key).await?
            && earlier.intent.phase != Phase::Failed
        {
            return Ok((earlier, false));
        }
        let caller = new.caller;
        let mut tx = self.pool().begin().await.map_err(q)?;
        let (phase, why): (Phase, Option<String>) = match &planned.gate {
            Gate::Send => (Phase::Pending, None),
            Gate::Denied(why) => (Phase::Rejected, Some(why.clone())),
            Gate::Approval(why) => {
                let decided: Option<(ApprovalPhase, Option<String>)> = sqlx::query_as(
                    "SELECT phase, decided_by FROM kradle_approvals
                      WHERE run = $1 AND action = $2",
                )
                .bind(caller.run)
                .bind(WRITE_BACK)
                .fetch_optional(&mut *tx)
                .await
                .map_err(q)?;
                match decided {
                    Some((ApprovalPhase::Approved, _)) => (Phase::Pending, None),
                    Some((ApprovalPhase::Denied, by)) => (
                        Phase::Rejected,
                        Some(format!(
                            "the run's write-back approval was denied by {}",
                            by.unwrap_or_default()
                        )),
                    ),
                    _ => {
                        sqlx::query(
                            "INSERT INTO kradle_approvals (org, name, run, action, requested_by, description)
                             VALUES ($1, $2 || '-' || $3, $4, $3, 'agent', $5)
                             ON CONFLICT (run, action) DO NOTHING",
                        )
                        .bind(&caller.org)
                        .bind(&caller.name)
                        .bind(WRITE_BACK)
                        .bind(caller.run)
                        .bind(why)
                        .execute(&mut *tx)
                        .await
                        .map_err(q)?;
                        (Phase::PendingApproval, None)
                    }
                }
            }
        };
        let inserted = sqlx::query(&format!(
            "INSERT INTO kradle_write_intents
                 (idempotency_key, org, backend, operation_id, action, method, path, body_digest,
                  phase, last_error, run, payload)
             VALUES ($1, $2, $3, 'agent/' || $4, $4, $5, $6, $7, $8, $9, $10, $11)
             -- The partial index's predicate, as written in the migration.
             ON CONFLICT (idempotency_key) WHERE phase IN ('Pending', 'InFlight', 'PendingApproval')
             DO NOTHING
             RETURNING {COLUMNS}, run, payload, result"
        ))
        .bind(&planned.key)
        .bind(&caller.org)
        .bind(&planned.origin.backend)
        .bind(planned.op)
        .bind(planned.call.method)
        .bind(&planned.call.path)
        .bind(super::body_digest(&planned.payload))
        .bind(phase)
        .bind(why)
        .bind(caller.run)
        .bind(&planned.payload)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some(row) = inserted else {
            // The same call, recorded meanwhile by another request.
            tx.rollback().await.map_err(q)?;
            let open = self
                .last_agent_write(&planned.key)
                .await?
                .ok_or_else(|| q(sqlx::Error::RowNotFound))?;
            return Ok((open, false));
        };
        let write = agent_write(&row).map_err(q)?;
        if write.intent.phase == Phase::Pending {
            queue_write(&mut tx, write.intent.id).await.map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok((write, true))
    }

    /// The newest write recorded under `key`.
    async fn last_agent_write(&self, key: &str) -> Result<Option<AgentWrite>, StoreError> {
        self.fetch_agent_write(
            sqlx::query(&format!(
                "SELECT {COLUMNS}, run, payload, result FROM kradle_write_intents
                  WHERE idempotency_key = $1 AND run IS NOT NULL ORDER BY id DESC LIMIT 1"
            ))
            .bind(key),
        )
        .await
    }

    /// The agent's write `id`, if it is one.
    pub async fn agent_write(&self, id: i64) -> Result<Option<AgentWrite>, StoreError> {
        self.fetch_agent_write(
            sqlx::query(&format!(
                "SELECT {COLUMNS}, run, payload, result FROM kradle_write_intents
                  WHERE id = $1 AND run IS NOT NULL"
            ))
            .bind(id),
        )
        .await
    }

    /// The write of run `run` the agent keyed `key` (its newest).
    pub async fn agent_write_keyed(
        &self,
        run: i64,
        key: &str,
    ) -> Result<Option<AgentWrite>, StoreError> {
        self.fetch_agent_write(
            sqlx::query(&format!(
                "SELECT {COLUMNS}, run, payload, result FROM kradle_write_intents
                  WHERE run = $1 AND payload ->> 'key' = $2 ORDER BY id DESC LIMIT 1"
            ))
            .bind(run)
            .bind(key),
        )
        .await
    }

    async fn fetch_agent_write(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Option<AgentWrite>, StoreError> {
        let row = query
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(e))?;
        row.map(|r| agent_write(&r))
            .transpose()
            .map_err(|e| self.query_error(e))
    }

    /// Records how an attempt of write `id` ended.
    pub async fn settle_agent_write(
        &self,
        id: i64,
        phase: Phase,
        error: Option<&str>,
        result: Option<&Value>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE kradle_write_intents
                SET phase = $2, last_error = $3, result = coalesce($4, result), updated_at = now()
              WHERE id = $1 AND run IS NOT NULL",
        )
        .bind(id)
        .bind(phase)
        .bind(error)
        .bind(result)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(())
    }
}

/// Queues the job that sends write `id`.
async fn queue_write(conn: &mut sqlx::PgConnection, id: i64) -> Result<i64, sqlx::Error> {
    let job = serde_json::json!({ "intent": id });
    enqueue_on(
        conn,
        AGENT_QUEUE,
        &format!("intent:{id}"),
        &job,
        AGENT_WRITE_ATTEMPTS,
    )
    .await
}

/// The writes of run `run` held for its `write-back` approval, decided:
/// approved ones are queued, denied ones Rejected. How many.
pub(super) async fn decide_writes(
    conn: &mut sqlx::PgConnection,
    run: i64,
    approve: bool,
    by: &str,
) -> Result<usize, sqlx::Error> {
    let (phase, why) = if approve {
        (Phase::Pending, None)
    } else {
        (
            Phase::Rejected,
            Some(format!("the run's write-back approval was denied by {by}")),
        )
    };
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE kradle_write_intents SET phase = $2, last_error = $3, updated_at = now()
          WHERE run = $1 AND phase = $4
          RETURNING id",
    )
    .bind(run)
    .bind(phase)
    .bind(why)
    .bind(Phase::PendingApproval)
    .fetch_all(&mut *conn)
    .await?;
    if approve {
        for id in &ids {
            queue_write(conn, *id).await?;
        }
    }
    Ok(ids.len())
}
