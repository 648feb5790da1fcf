//! Webhook deliveries and the jobs they queue (spec ExternalWebhookDelivery).

use serde_json::Value;

use super::{Store, StoreError};

/// A verified delivery, to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub org: &'a str,
    /// `github` or `gitea`.
    pub source: &'a str,
    /// The binding or subscription it was addressed to.
    pub receiver: &'a str,
    pub delivery_id: &'a str,
    pub event: &'a str,
    pub action: Option<&'a str>,
    pub payload: &'a Value,
    /// sha256 (hex) of the raw body.
    pub body_digest: String,
    /// The job's ordering key: deliveries about the same object share it.
    pub key: String,
    /// Tries before the job is a dead letter.
    pub max_attempts: i32,
    /// The first retry's wait, in milliseconds.
    pub backoff_ms: u64,
}

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored, and its job queued (row id).
    New(i64),
    /// This receiver already has this delivery id with the same body.
    Duplicate(i64),
    /// This receiver already has this delivery id with another body.
    Conflict(i64),
}

/// The queue sync jobs go to.
pub const SYNC_QUEUE: &str = "sync";

impl Store {
    /// Records a delivery and queues its job, in one transaction, unless
    /// the receiver has it already. Workers listening are notified.
    pub async fn record_delivery(&self, d: &NewDelivery<'_>) -> Result<Recorded, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let recorded = record_delivery_on(&mut tx, d).await.map_err(q)?;
        if matches!(recorded, Recorded::New(_)) {
            tx.commit().await.map_err(q)?;
        } else {
            tx.rollback().await.map_err(q)?;
        }
        Ok(recorded)
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map(|_| ())
            .map_err(|e| self.query_error(e))
    }
}

/// `value` with every NUL character of its strings and keys replaced by
/// U+FFFD: valid JSON may hold `\u0000`, PostgreSQL's `jsonb` refuses it.
/// `None` when there is none (the common case, no copy).
pub fn without_nul(value: &Value) -> Option<Value> {
    fn has(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has),
            Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has(v)),
            _ => false,
        }
    }
    fn clean(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(s.replace('\0', "\u{fffd}")),
            Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.replace('\0', "\u{fffd}"), clean(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    has(value).then(|| clean(value))
}

/// Records a delivery and queues its job on `conn` (inside the caller's
/// transaction), unless the receiver has it already. A payload holding NUL
/// characters is stored with them replaced (the raw body's digest is kept).
pub(super) async fn record_delivery_on(
    conn: &mut sqlx::PgConnection,
    d: &NewDelivery<'_>,
) -> Result<Recorded, sqlx::Error> {
    let cleaned = without_nul(d.payload);
    if cleaned.is_some() {
        tracing::warn!(
            org = d.org,
            receiver = d.receiver,
            delivery = d.delivery_id,
            "the delivery's payload holds NUL characters, which PostgreSQL cannot store: they are stored as U+FFFD"
        );
    }
    let payload = cleaned.as_ref().unwrap_or(d.payload);
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO kradle_webhook_deliveries
             (org, source, receiver, delivery_id, event, action, payload, body_digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (org, source, receiver, delivery_id) DO NOTHING
         RETURNING id",
    )
    .bind(d.org)
    .bind(d.source)
    .bind(d.receiver)
    .bind(d.delivery_id)
    .bind(d.event)
    .bind(d.action.map(|a| a.replace('\0', "\u{fffd}")))
    .bind(payload)
    .bind(&d.body_digest)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = inserted else {
        let (id, digest): (i64, String) = sqlx::query_as(
            "SELECT id, body_digest FROM kradle_webhook_deliveries
             WHERE org = $1 AND source = $2 AND receiver = $3 AND delivery_id = $4",
        )
        .bind(d.org)
        .bind(d.source)
        .bind(d.receiver)
        .bind(d.delivery_id)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(if digest == d.body_digest {
            Recorded::Duplicate(id)
        } else {
            Recorded::Conflict(id)
        });
    };
    let job = serde_json::json!({ "delivery": id, "backoffMs": d.backoff_ms });
    super::queue::enqueue_on(conn, SYNC_QUEUE, &d.key, &job, d.max_attempts).await?;
    Ok(Recorded::New(id))
}
