//! Applying a sync job: the delivery's normalized event, its projection
//! and the watermark, written in the transaction that completes the job.
//! A worker that dies before the commit leaves nothing behind, and the job
//! is claimed again when its lease expires: each delivery is applied once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgConnection;

use super::queue::Job;
use super::{Store, StoreError};
use crate::sync::{Change, NormalizeError, Projection, SyncEvent, normalize};

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
    id: i64,
    org: String,
    source: String,
    receiver: String,
    event: String,
    payload: Value,
    received_at: DateTime<Utc>,
}

impl Store {
    /// Processes sync job `job`, which `worker` holds: normalizes its
    /// delivery, writes the projection, the sync event and the watermark,
    /// deletes the job and marks the delivery processed, all in one
    /// transaction.
    pub async fn process_sync(&self, job: &Job, worker: &str) -> Result<Processed, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let delivery: Option<Delivery> = sqlx::query_as(
            "SELECT d.id, d.org, d.source, d.receiver, d.event, d.payload, d.received_at
               FROM kradle_jobs j
               JOIN kradle_webhook_deliveries d ON d.id = (j.payload ->> 'delivery')::bigint
              WHERE j.id = $1 AND j.locked_by = $2
                FOR UPDATE OF j",
        )
        .bind(job.id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let Some(d) = delivery else {
            return Ok(Processed::LostLease);
        };
        let event = match normalize(&d.source, &d.org, &d.event, &d.payload) {
            Ok(event) => event,
            Err(e) => return Ok(Processed::Invalid(e)),
        };
        let (outcome, name) = apply_change(&mut tx, &d, &event).await.map_err(q)?;
        // Last, so the receiver's state row (which every job of the
        // receiver updates) is locked only until the commit that follows.
        finish(&mut tx, job.id, &d, &event, outcome, name.as_deref())
            .await
            .map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(Processed::Done(outcome))
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
            let outcome = if written {
                Outcome::Applied
            } else {
                Outcome::Superseded
            };
            Ok((outcome, Some(p.name.clone())))
        }
        Some(Change::UpdateStatus {
            kind,
            field,
            value,
            status,
        }) => {
            let by_native_id = *field == "nativeId";
            let name: Option<String> = sqlx::query_scalar(
                "UPDATE kradle_projections
                    SET status = status || $5, last_synced_at = now(),
                        resource_version = nextval('kradle_resource_version')
                  WHERE org = $1 AND kind = $2 AND source = $6
                    AND CASE WHEN $3 THEN native_id = $4 ELSE status ->> $7 = $4 END
                  RETURNING name",
            )
            .bind(&d.org)
            .bind(kind)
            .bind(by_native_id)
            .bind(value)
            .bind(status)
            .bind(&d.source)
            .bind(field)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match name {
                Some(name) => (Outcome::Applied, Some(name)),
                None => (Outcome::Unmatched, None),
            })
        }
    }
}

/// Creates or updates a projection, unless it holds a state newer than
/// `updated_at`. Fields are merged, so an event that carries less (a
/// comment's view of its pull request) keeps what a fuller one wrote.
async fn upsert(
    conn: &mut PgConnection,
    d: &Delivery,
    p: &Projection,
    updated_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let written: Option<i64> = sqlx::query_scalar(
        "INSERT INTO kradle_projections
             (org, kind, name, source, receiver, native_id, labels, spec, status, external_updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (org, kind, source, native_id) DO UPDATE
            SET labels = kradle_projections.labels || EXCLUDED.labels,
                spec = kradle_projections.spec || EXCLUDED.spec,
                status = kradle_projections.status || EXCLUDED.status,
                receiver = EXCLUDED.receiver,
                external_updated_at = COALESCE(EXCLUDED.external_updated_at,
                                               kradle_projections.external_updated_at),
                last_synced_at = now(),
                resource_version = nextval('kradle_resource_version')
          WHERE kradle_projections.external_updated_at IS NULL
             OR EXCLUDED.external_updated_at IS NULL
             OR EXCLUDED.external_updated_at >= kradle_projections.external_updated_at
         RETURNING id",
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
    .fetch_optional(&mut *conn)
    .await?;
    Ok(written.is_some())
}

/// In one statement: records the sync event, moves the watermark of its
/// receiver and kind (only forward), deletes the job and marks the
/// delivery processed.
async fn finish(
    conn: &mut PgConnection,
    job: i64,
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
         ), delivery AS (
             UPDATE kradle_webhook_deliveries SET processed_at = now(), outcome = 'processed'
              WHERE id = $4
         )
         INSERT INTO kradle_sync_states AS s
             (org, source, receiver, resource_kind, watermark, applied, superseded)
         VALUES ($1, $2, $3, $7, CASE WHEN $12 = 'applied' THEN $10 END,
                 ($12 = 'applied')::int, ($12 = 'superseded')::int)
         ON CONFLICT (org, source, receiver, resource_kind) DO UPDATE
            SET watermark = CASE WHEN $12 = 'applied'
                                 THEN GREATEST(s.watermark, EXCLUDED.watermark)
                                 ELSE s.watermark END,
                last_synced_at = now(),
                applied = s.applied + EXCLUDED.applied,
                superseded = s.superseded + EXCLUDED.superseded",
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
    .bind(job)
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
