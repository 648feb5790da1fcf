//! Applying a sync job: the delivery's normalized event, its projection
//! and the watermark, written in the transaction that completes the job.
//! A worker that dies before the commit leaves nothing behind, and the job
//! is claimed again when its lease expires: each delivery is applied once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgConnection;

use super::queue::Job;
use super::{Store, StoreError};
use crate::dispatch::ExecutionPhase;
use crate::dispatch::{TriggerEvent, Triggers};
use crate::sync::{Change, NormalizeError, Projection, SyncEvent, Target, normalize};

/// What became of a sync event (`kradle_sync_events.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The projection was written.
    Applied,
    /// The projection already held a newer state of the object.
    Superseded,
    /// A status update for an object kradle does not have.
    Unmatched,
    /// kradle keeps no projection of this kind; the event is recorded.
    Recorded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Superseded => "superseded",
            Outcome::Unmatched => "unmatched",
            Outcome::Recorded => "recorded",
        }
    }
}

/// What processing a sync job did.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// Applied, and the job completed.
    Done(Outcome),
    /// The payload could not be normalized: nothing was written; the job
    /// is the caller's to fail.
    Invalid(NormalizeError),
    /// The worker no longer holds the job: nothing was written.
    LostLease,
}

#[derive(sqlx::FromRow)]
struct Delivery {
    /// The job that carries it.
    job: i64,
    id: i64,
    org: String,
    source: String,
    receiver: String,
    /// The forge's delivery id (`writeback:<intent>` for write-back's own
    /// replay of what the forge answered).
    delivery_id: String,
    event: String,
    payload: Value,
    received_at: DateTime<Utc>,
}

/// A receiver's watermark row: (org, source, receiver, kind).
type StateKey = (String, String, String, &'static str);

/// What a batch adds to one watermark row.
#[derive(Default)]
struct StateChange {
    watermark: Option<DateTime<Utc>>,
    applied: i64,
    superseded: i64,
}

impl Store {
    /// Processes sync job `job`, which `worker` holds (a batch of one).
    pub async fn process_sync(
        &self,
        job: &Job,
        worker: &str,
        triggers: &Triggers,
    ) -> Result<Processed, StoreError> {
        let mut done = self
            .process_sync_batch(std::slice::from_ref(job), worker, triggers)
            .await?;
        Ok(done.pop().map_or(Processed::LostLease, |(_, p)| p))
    }

    /// Processes the sync jobs `worker` holds among `jobs`, in id order,
    /// in one transaction: for each, normalizes its delivery, writes the
    /// projection and the sync event, deletes the job and marks the
    /// delivery processed; then moves each receiver's watermark once,
    /// last, so its row is locked only until the commit. Returns what
    /// became of each job. A job whose payload cannot be normalized is left
    /// as it is, for the caller to fail. On a database error nothing is
    /// written, and the caller can process the jobs one by one.
    pub async fn process_sync_batch(
        &self,
        jobs: &[Job],
        worker: &str,
        triggers: &Triggers,
    ) -> Result<Vec<(i64, Processed)>, StoreError> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        self.in_tx(async |tx| {
            let deliveries: Vec<Delivery> = sqlx::query_as(
                "SELECT j.id AS job, d.id, d.org, d.source, d.receiver, d.delivery_id, d.event, d.payload,
                        d.received_at
                   FROM kradle_jobs j
                   JOIN kradle_webhook_deliveries d ON d.id = (j.payload ->> 'delivery')::bigint
                  WHERE j.id = ANY($1) AND j.locked_by = $2
                  ORDER BY j.id
                    FOR UPDATE OF j",
            )
            .bind(&ids)
            .bind(worker)
            .fetch_all(&mut *tx)
            .await?;
            let mut results: Vec<(i64, Processed)> = ids
                .iter()
                .filter(|id| !deliveries.iter().any(|d| d.job == **id))
                .map(|id| (*id, Processed::LostLease))
                .collect();
            let mut states: std::collections::BTreeMap<StateKey, StateChange> = Default::default();
            for d in &deliveries {
                let event = match normalize(&d.source, &d.org, &d.event, &d.payload) {
                    Ok(event) => event,
                    Err(e) => {
                        results.push((d.job, Processed::Invalid(e)));
                        continue;
                    }
                };
                // A Gitea label update says the labels after it: what changed
                // is told from the projection's labels before it.
                let labels_before = if crate::dispatch::is_label_update(&d.source, &event) {
                    Some(stored_labels(&mut *tx, d, &event).await?)
                } else {
                    None
                };
                let (outcome, name) = apply_change(&mut *tx, d, &event).await?;
                record_done(&mut *tx, d, &event, outcome, name.as_deref())
                    .await?;
                // A backfilled listing is a state, not an event: it triggers
                // nothing. Nor does write-back's replay of the forge's answer:
                // the forge sends its own webhooks for the change kradle made,
                // and those are the events rules see (once each).
                if event.action.as_deref() != Some("backfilled")
                    && !d.delivery_id.starts_with("writeback:")
                {
                    record_triggers(&mut *tx, d, &event, triggers, labels_before.as_deref())
                        .await?;
                }
                let key = (
                    d.org.clone(),
                    d.source.clone(),
                    d.receiver.clone(),
                    event.resource_kind,
                );
                let state = states.entry(key).or_default();
                match outcome {
                    Outcome::Applied => {
                        state.applied += 1;
                        state.watermark = state.watermark.max(event.updated_at);
                    }
                    Outcome::Superseded => state.superseded += 1,
                    Outcome::Unmatched | Outcome::Recorded => {}
                }
                results.push((d.job, Processed::Done(outcome)));
            }
            for (key, change) in &states {
                advance_state(&mut *tx, key, change).await?;
            }
            results.sort_by_key(|(id, _)| *id);
            Ok(results)
        })
        .await
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
             (org, kind, name, source, receiver, native_id, labels, spec, status, external_updated_at)
         VALUES ($1, $2,
                 CASE WHEN EXISTS (SELECT 1 FROM kradle_projections o
                                    WHERE o.org = $1 AND o.kind = $2 AND o.name = $3
                                      AND (o.source, o.native_id) <> ($4, $6))
                      THEN $11 ELSE $3 END,
                 $4, $5, $6, $7, $8, $9, $10)
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

/// The labels of the projection `event` is about, before it is applied
/// (none when kradle has no projection of it yet).
async fn stored_labels(
    conn: &mut PgConnection,
    d: &Delivery,
    event: &SyncEvent,
) -> Result<Vec<String>, sqlx::Error> {
    let labels: Option<Value> = sqlx::query_scalar(
        "SELECT spec -> 'labels' FROM kradle_projections
          WHERE org = $1 AND source = $2 AND kind = $3 AND native_id = $4",
    )
    .bind(&d.org)
    .bind(&d.source)
    .bind(event.resource_kind)
    .bind(&event.native_id)
    .fetch_optional(conn)
    .await?
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

/// How long ago `rule` dispatched a match with `key`, when that was within
/// `window`.
async fn earlier_match(
    conn: &mut PgConnection,
    org: &str,
    rule: &str,
    key: &str,
    window: std::time::Duration,
) -> Result<Option<String>, sqlx::Error> {
    if window.is_zero() {
        return Ok(None);
    }
    let ago: Option<f64> = sqlx::query_scalar(
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
    .fetch_one(conn)
    .await?;
    Ok(ago.map(|s| format!("{} s", s.max(0.0).round())))
}

/// Records what each of the org's rules about this event decided; a rule
/// already recorded for this delivery is left as it is. `labels_before`
/// (a Gitea label update): each label added or removed is evaluated as a
/// `labeled` or `unlabeled` event.
async fn record_triggers(
    conn: &mut PgConnection,
    d: &Delivery,
    event: &SyncEvent,
    triggers: &Triggers,
    labels_before: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    let base = TriggerEvent::of(event, &d.payload);
    let changes = match labels_before {
        Some(before) => {
            let item = if d.payload["pull_request"].is_object() {
                &d.payload["pull_request"]
            } else {
                &d.payload["issue"]
            };
            let after: Vec<String> = item["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str())
                .map(str::to_string)
                .collect();
            crate::dispatch::label_changes(before, &after)
        }
        None => Vec::new(),
    };
    let views: Vec<TriggerEvent<'_>> = if changes.is_empty() {
        vec![base.clone()]
    } else {
        changes
            .iter()
            .map(|(label, action)| TriggerEvent {
                action: Some(action),
                label: Some(label.as_str()),
                ..base.clone()
            })
            .collect()
    };
    let decisions = triggers.evaluate_all(&d.org, &views);
    if decisions.is_empty() {
        return Ok(());
    }
    let source_event = format!(
        "{}:{}:{}",
        event.event_type, event.resource_kind, event.native_id
    );
    let (repository, git_ref) = crate::dispatch::target_of(&d.payload);
    let unrunnable = crate::dispatch::unrunnable(repository.as_deref(), git_ref.as_deref());
    let mut rows: Vec<Value> = Vec::new();
    for (rule, decision, view) in &decisions {
        let key = crate::dispatch::match_key(&source_event, &views[*view], &d.payload);
        let (mut phase, mut reason) = (decision.phase(), decision.reason().map(str::to_string));
        if *decision == crate::dispatch::Decision::Dispatching {
            if let Some(why) = &unrunnable {
                // A match that cannot become a run (the event names a ref
                // no checkout may take): recorded, never dispatched.
                (phase, reason) = (
                    ExecutionPhase::Failed,
                    Some(format!("cannot dispatch: {why}")),
                );
            } else if let Some(earlier) =
                earlier_match(&mut *conn, &d.org, &rule.name, &key, rule.dedup_window).await?
            {
                (phase, reason) = (
                    ExecutionPhase::Deduplicated,
                    Some(format!(
                        "the same match was dispatched {earlier} ago, within the rule's dedupWindow"
                    )),
                );
            }
        }
        rows.push(serde_json::json!({
            "rule": rule.name, "stack": rule.agent_stack, "task": rule.task_kind,
            "decision": phase, "reason": reason, "key": key,
        }));
    }
    // Each new match is a Pending run, its first step queued: in this
    // transaction, so a match is dispatched once or not at all.
    let actor = base.actor.map(str::to_string);
    let dispatching = rows
        .iter()
        .any(|r| r["decision"] == ExecutionPhase::Dispatching.as_str());
    sqlx::query(&format!(
        "WITH x AS (
             INSERT INTO kradle_trigger_executions
                 (org, rule, agent_stack, task_kind, delivery, source_event, decision, reason,
                  match_key)
             SELECT $1, r ->> 'rule', r ->> 'stack', r ->> 'task', $2, $3, r ->> 'decision',
                    r ->> 'reason', r ->> 'key'
               FROM jsonb_array_elements($4::jsonb) AS t(r)
             ON CONFLICT (org, rule, delivery) DO NOTHING
             RETURNING id, org, rule, agent_stack, task_kind, decision),
         n AS (SELECT nextval('kradle_dispatch_runs_id_seq') AS run_id, x.* FROM x
                WHERE decision = $9),
         runs AS (
             INSERT INTO kradle_dispatch_runs
                 (id, org, name, agent_stack, task_kind, repository, ref, source_refs,
                  execution, trigger_rule, requested_by)
             SELECT run_id, org, {}, agent_stack,
                    task_kind, $5, $6, jsonb_build_array($3), id, rule, $7
               FROM n
             RETURNING id)
         INSERT INTO kradle_jobs (queue, key, payload, max_attempts)
         SELECT $8, 'run:' || id, jsonb_build_object('run', id), 20 FROM runs",
        crate::dispatch::catalog::run_name_sql("agent_stack", "run_id")
    ))
    .bind(&d.org)
    .bind(d.id)
    .bind(&source_event)
    .bind(Value::Array(rows))
    .bind(repository)
    .bind(git_ref)
    .bind(actor)
    .bind(crate::store::DISPATCH_QUEUE)
    .bind(ExecutionPhase::Dispatching)
    .execute(&mut *conn)
    .await?;
    if dispatching {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::deliveries::JOBS_CHANNEL)
            .bind(crate::store::DISPATCH_QUEUE)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// In one statement: records the sync event, deletes the job and marks
/// the delivery processed.
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
    .bind(outcome.as_str())
    .bind(d.job)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a receiver's watermark for a kind (only forward) and adds to its
/// counts.
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
