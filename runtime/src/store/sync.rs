//! The sync pipeline's reads and writes: a [`SyncTx`] is the transaction
//! that completes a batch of sync jobs, and its methods are what the
//! pipeline (`loops::sync`) needs of the database. It decides nothing: what
//! a delivery means, which rules it triggers and whether a match is
//! dispatched are the pipeline's. A worker that dies before the commit
//! leaves nothing behind, and the job is claimed again when its lease
//! expires: each delivery is applied once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgConnection;

use super::dispatch::{NewRun, create_run};
use super::{Store, StoreError};
use crate::dispatch::ExecutionPhase;
use crate::sync::{Change, Outcome, Projection, SyncEvent, Target};

/// A delivery a claimed sync job carries.
#[derive(Debug, sqlx::FromRow)]
pub struct Delivery {
    /// The job that carries it.
    pub job: i64,
    pub id: i64,
    pub org: String,
    pub source: String,
    pub receiver: String,
    /// The forge's delivery id (`writeback:<intent>` for write-back's own
    /// replay of what the forge answered).
    pub delivery_id: String,
    pub event: String,
    pub payload: Value,
    pub received_at: DateTime<Utc>,
}

/// A receiver's watermark row: (org, source, receiver, kind).
pub type StateKey = (String, String, String, &'static str);

/// What a batch adds to one watermark row.
#[derive(Debug, Default)]
pub struct StateChange {
    pub watermark: Option<DateTime<Utc>>,
    pub applied: i64,
    pub superseded: i64,
}

/// What one rule decided about an event (an AgentTriggerExecution).
#[derive(Debug, Clone)]
pub struct Execution {
    pub rule: String,
    pub agent_stack: String,
    pub task_kind: String,
    pub decision: ExecutionPhase,
    pub reason: Option<String>,
    /// What the rule's dedupWindow compares.
    pub match_key: String,
}

/// The transaction of a sync batch.
pub struct SyncTx<'c> {
    conn: &'c mut PgConnection,
    store: &'c Store,
}

impl Store {
    /// Runs `work` in one transaction, committed when it returns `Ok`.
    pub async fn sync_tx<T>(
        &self,
        work: impl AsyncFnOnce(&mut SyncTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let out = work(&mut SyncTx {
            conn: &mut tx,
            store: self,
        })
        .await?;
        tx.commit().await.map_err(q)?;
        Ok(out)
    }
}

impl SyncTx<'_> {
    fn error(&self, e: sqlx::Error) -> StoreError {
        self.store.query_error(e)
    }

    /// The deliveries of the jobs among `jobs` that `worker` holds, in job
    /// id order, locked until the commit.
    pub async fn claimed(
        &mut self,
        jobs: &[i64],
        worker: &str,
    ) -> Result<Vec<Delivery>, StoreError> {
        sqlx::query_as(
            "SELECT j.id AS job, d.id, d.org, d.source, d.receiver, d.delivery_id, d.event, d.payload,
                    d.received_at
               FROM kradle_jobs j
               JOIN kradle_webhook_deliveries d ON d.id = (j.payload ->> 'delivery')::bigint
              WHERE j.id = ANY($1) AND j.locked_by = $2
              ORDER BY j.id
                FOR UPDATE OF j",
        )
        .bind(jobs)
        .bind(worker)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(|e| self.error(e))
    }

    /// Writes the event's change; returns its outcome and the projection's
    /// name.
    pub async fn apply(
        &mut self,
        d: &Delivery,
        event: &SyncEvent,
    ) -> Result<(Outcome, Option<String>), StoreError> {
        let out = apply_change(&mut *self.conn, d, event).await;
        out.map_err(|e| self.error(e))
    }

    /// The labels of the projection of `kind` with `native_id` before the
    /// delivery is applied (none when kradle has no projection of it yet).
    pub async fn stored_labels(
        &mut self,
        d: &Delivery,
        kind: &str,
        native_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let labels: Option<Value> = sqlx::query_scalar(
            "SELECT spec -> 'labels' FROM kradle_projections
              WHERE org = $1 AND source = $2 AND kind = $3 AND native_id = $4",
        )
        .bind(&d.org)
        .bind(&d.source)
        .bind(kind)
        .bind(native_id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(|e| self.error(e))?
        .flatten();
        Ok(labels
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect())
    }

    /// How many seconds ago `rule` dispatched a match with `key`, when that
    /// was within `window`.
    pub async fn dispatched_within(
        &mut self,
        org: &str,
        rule: &str,
        key: &str,
        window: std::time::Duration,
    ) -> Result<Option<f64>, StoreError> {
        if window.is_zero() {
            return Ok(None);
        }
        sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM now() - max(evaluated_at))::float8
               FROM kradle_trigger_executions
              WHERE org = $1 AND rule = $2 AND match_key = $3
                AND decision = ANY($5)
                AND evaluated_at > now() - make_interval(secs => $4)",
        )
        .bind(org)
        .bind(rule)
        .bind(key)
        .bind(window.as_secs_f64())
        .bind(ExecutionPhase::DISPATCHED)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(|e| self.error(e))
    }

    /// Records what the rules decided about the delivery; a rule already
    /// recorded for it is left as it is. Returns the executions recorded
    /// now, as (id, index into `executions`).
    pub async fn record_executions(
        &mut self,
        d: &Delivery,
        source_event: &str,
        executions: &[Execution],
    ) -> Result<Vec<(i64, usize)>, StoreError> {
        let rows: Vec<Value> = executions
            .iter()
            .map(|x| {
                serde_json::json!({
                    "rule": x.rule, "stack": x.agent_stack, "task": x.task_kind,
                    "decision": x.decision, "reason": x.reason, "key": x.match_key,
                })
            })
            .collect();
        let recorded: Vec<(i64, String)> = sqlx::query_as(
            "INSERT INTO kradle_trigger_executions
                 (org, rule, agent_stack, task_kind, delivery, source_event, decision, reason,
                  match_key)
             SELECT $1, r ->> 'rule', r ->> 'stack', r ->> 'task', $2, $3, r ->> 'decision',
                    r ->> 'reason', r ->> 'key'
               FROM jsonb_array_elements($4::jsonb) AS t(r)
             ON CONFLICT (org, rule, delivery) DO NOTHING
             RETURNING id, rule",
        )
        .bind(&d.org)
        .bind(d.id)
        .bind(source_event)
        .bind(Value::Array(rows))
        .fetch_all(&mut *self.conn)
        .await
        .map_err(|e| self.error(e))?;
        Ok(recorded
            .into_iter()
            .filter_map(|(id, rule)| Some((id, executions.iter().position(|x| x.rule == rule)?)))
            .collect())
    }

    /// A Pending run, its first step queued ([`Store::create_run`]).
    pub async fn create_run(&mut self, run: &NewRun<'_>) -> Result<(i64, String), StoreError> {
        let out = create_run(&mut *self.conn, run).await;
        out.map_err(|e| self.error(e))
    }

    /// In one statement: records the sync event, deletes the job and marks
    /// the delivery processed.
    pub async fn record_event(
        &mut self,
        d: &Delivery,
        event: &SyncEvent,
        outcome: Outcome,
        name: Option<&str>,
    ) -> Result<(), StoreError> {
        let out = record_done(&mut *self.conn, d, event, outcome, name).await;
        out.map_err(|e| self.error(e))
    }

    /// Moves a receiver's watermark for a kind (only forward) and adds to
    /// its counts.
    pub async fn advance_state(
        &mut self,
        key: &StateKey,
        change: &StateChange,
    ) -> Result<(), StoreError> {
        let out = advance_state(&mut *self.conn, key, change).await;
        out.map_err(|e| self.error(e))
    }
}

/// Writes the event's change; returns its outcome and the projection's
/// name.
async fn apply_change(
    conn: &mut PgConnection,
    d: &Delivery,
    event: &SyncEvent,
) -> Result<(Outcome, Option<String>), sqlx::Error> {
    match &event.change {
        None => Ok((Outcome::Recorded, None)),
        Some(Change::Upsert(p)) => {
            let written = upsert(conn, d, p, event.updated_at).await?;
            Ok(match written {
                Some(name) => (Outcome::Applied, Some(name)),
                None => (Outcome::Superseded, Some(p.name.clone())),
            })
        }
        Some(Change::UpdateStatus {
            kind,
            target,
            status,
        }) => {
            let (native_id, field, value) = match target {
                Target::NativeId(id) => (Some(id.as_str()), None, None),
                Target::Status { field, value } => (None, Some(*field), Some(value.as_str())),
            };
            let name: Option<String> = sqlx::query_scalar(
                "UPDATE kradle_projections
                    SET status = status || $4, last_synced_at = now(),
                        resource_version = nextval('kradle_resource_version')
                  WHERE org = $1 AND kind = $2 AND source = $3
                    AND ($5::text IS NULL OR native_id = $5)
                    AND ($6::text IS NULL OR status ->> $6 = $7)
                  RETURNING name",
            )
            .bind(&d.org)
            .bind(kind)
            .bind(&d.source)
            .bind(status)
            .bind(native_id)
            .bind(field)
            .bind(value)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match name {
                Some(name) => (Outcome::Applied, Some(name)),
                None => (Outcome::Unmatched, None),
            })
        }
    }
}

/// The name of a projection whose plain name another object holds (two
/// repositories whose names fold alike, `wid_get` and `wid-get`): the
/// plain name and the first 8 hex digits of the sha256 of its native id.
fn suffixed(name: &str, native_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(native_id.as_bytes());
    let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let base: String = name.chars().take(253 - 9).collect();
    format!("{}-{hex}", base.trim_end_matches(['-', '.']))
}

/// Creates or updates a projection, unless it holds a state newer than
/// `updated_at`; returns its name when written. Fields are merged, so an
/// event that carries less (a comment's view of its pull request) keeps
/// what a fuller one wrote. A new object whose name another object holds
/// gets the name [`suffixed`]; a name once given is kept.
async fn upsert(
    conn: &mut PgConnection,
    d: &Delivery,
    p: &Projection,
    updated_at: Option<DateTime<Utc>>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO kradle_projections
             (org, kind, name, source, receiver, native_id, labels, spec, status, external_updated_at,
              resource_version, created_version)
         SELECT $1, $2,
                CASE WHEN EXISTS (SELECT 1 FROM kradle_projections o
                                   WHERE o.org = $1 AND o.kind = $2 AND o.name = $3
                                     AND (o.source, o.native_id) <> ($4, $6))
                     THEN $11 ELSE $3 END,
                $4, $5, $6, $7, $8, $9, $10, v.version, v.version
           FROM (SELECT nextval('kradle_resource_version') AS version) v
         ON CONFLICT (org, kind, source, native_id) DO UPDATE
            SET labels = kradle_projections.labels || EXCLUDED.labels,
                -- An Issue's workflowState comes from its labels: new labels
                -- without a workflow label take it away.
                spec = CASE WHEN EXCLUDED.spec ? 'labels'
                            THEN kradle_projections.spec - 'workflowState'
                            ELSE kradle_projections.spec END || EXCLUDED.spec,
                status = kradle_projections.status || EXCLUDED.status,
                receiver = EXCLUDED.receiver,
                external_updated_at = COALESCE(EXCLUDED.external_updated_at,
                                               kradle_projections.external_updated_at),
                last_synced_at = now(),
                resource_version = nextval('kradle_resource_version')
          WHERE kradle_projections.external_updated_at IS NULL
             OR EXCLUDED.external_updated_at IS NULL
             OR EXCLUDED.external_updated_at >= kradle_projections.external_updated_at
         RETURNING name",
    )
    .bind(&d.org)
    .bind(p.kind)
    .bind(&p.name)
    .bind(&d.source)
    .bind(&d.receiver)
    .bind(&p.native_id)
    .bind(Value::Object(p.labels.clone()))
    .bind(&p.spec)
    .bind(&p.status)
    .bind(updated_at)
    .bind(suffixed(&p.name, &p.native_id))
    .fetch_optional(&mut *conn)
    .await
}

async fn record_done(
    conn: &mut PgConnection,
    d: &Delivery,
    event: &SyncEvent,
    outcome: Outcome,
    name: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH event AS (
             INSERT INTO kradle_sync_events
                 (org, source, receiver, delivery, event_type, action, resource_kind,
                  native_id, resource_name, external_updated_at, received_at, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ), job AS (
             DELETE FROM kradle_jobs WHERE id = $13
         )
         UPDATE kradle_webhook_deliveries SET processed_at = now(), outcome = 'processed'
          WHERE id = $4",
    )
    .bind(&d.org)
    .bind(&d.source)
    .bind(&d.receiver)
    .bind(d.id)
    .bind(&event.event_type)
    .bind(&event.action)
    .bind(event.resource_kind)
    .bind(&event.native_id)
    .bind(name)
    .bind(event.updated_at)
    .bind(d.received_at)
    .bind(outcome)
    .bind(d.job)
    .execute(conn)
    .await?;
    Ok(())
}

async fn advance_state(
    conn: &mut PgConnection,
    (org, source, receiver, kind): &StateKey,
    change: &StateChange,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO kradle_sync_states AS s
             (org, source, receiver, resource_kind, watermark, applied, superseded)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (org, source, receiver, resource_kind) DO UPDATE
            SET watermark = GREATEST(s.watermark, EXCLUDED.watermark),
                last_synced_at = now(),
                applied = s.applied + EXCLUDED.applied,
                superseded = s.superseded + EXCLUDED.superseded",
    )
    .bind(org)
    .bind(source)
    .bind(receiver)
    .bind(kind)
    .bind(change.watermark)
    .bind(change.applied)
    .bind(change.superseded)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The oldest watermark of `kinds` for a receiver, or `None` when one
    /// of them has none yet (everything must then be listed).
    pub async fn oldest_watermark(
        &self,
        org: &str,
        source: &str,
        receiver: &str,
        kinds: &[&str],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        sqlx::query_scalar(
            "SELECT CASE WHEN count(watermark) = cardinality($4::text[]) THEN min(watermark) END
               FROM kradle_sync_states
              WHERE org = $1 AND source = $2 AND receiver = $3 AND resource_kind = ANY($4)",
        )
        .bind(org)
        .bind(source)
        .bind(receiver)
        .bind(&kinds)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }
}
