//! Write-back intents and sync conflicts (spec ExternalWriteIntent,
//! ExternalSyncConflict).
//!
//! A write-back is an intent in the forge journal (the one `kradle apply`
//! keeps) that also carries its change and the projection it is about,
//! recorded with its job in one transaction: the `serve` workers send it.
//! A conflict is recorded in the transaction that settles the attempt that
//! found it; resolving one by hand queues the write again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::deliveries::record_delivery_on;
use super::intents::{COLUMNS, intent};
use super::queue::enqueue_on;
use super::{Intent, NewDelivery, Phase, Store, StoreError};
use crate::writeback::{FieldConflict, IssueEdit, Resolution};

/// The queue write-backs go to.
pub const WRITEBACK_QUEUE: &str = "writeback";

/// A write-back to record.
#[derive(Debug, Clone)]
pub struct NewWriteBack<'a> {
    pub org: &'a str,
    /// `github` or `gitea`.
    pub backend: &'a str,
    pub resource_kind: &'a str,
    pub resource_name: &'a str,
    /// The binding whose deliveries write the projection: the forge's
    /// answer is synced as one of its deliveries.
    pub receiver: &'a str,
    /// The forge path it writes (`/repos/{owner}/{repo}/issues/{number}`).
    pub path: String,
    pub edit: &'a IssueEdit,
    /// The projection's values of the fields the edit sets.
    pub base: serde_json::Map<String, Value>,
    /// The ordering key of the object's sync jobs: the write waits for the
    /// deliveries queued before it, and those after it wait for it.
    pub job_key: String,
    pub max_attempts: i32,
}

/// A recorded write-back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WriteBack {
    pub intent: Intent,
    pub resource_kind: String,
    pub resource_name: String,
    pub edit: IssueEdit,
    pub base: serde_json::Map<String, Value>,
    pub receiver: String,
    /// The ordering key of the object's jobs.
    pub job_key: String,
    /// The forge's answer, in short, once sent.
    pub result: Option<Value>,
}

/// A sync conflict, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub id: i64,
    pub org: String,
    pub backend: String,
    pub resource_kind: String,
    pub resource_name: String,
    pub intent_id: i64,
    pub field_path: String,
    pub base_value: Option<Value>,
    pub local_value: Option<Value>,
    pub external_value: Option<Value>,
    pub phase: String,
    pub resolution: Option<String>,
    pub resolved_value: Option<Value>,
    pub resolved_by: Option<String>,
    pub detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

const CONFLICT_COLUMNS: &str = "id, org, backend, resource_kind, resource_name, intent_id, field_path, base_value, local_value, external_value, phase, resolution, resolved_value, resolved_by, detected_at, resolved_at";

/// How an attempt ended, to record in one transaction.
#[derive(Debug, Clone)]
pub struct Settlement<'a> {
    pub phase: Phase,
    pub error: Option<&'a str>,
    pub result: Option<&'a Value>,
    /// Conflicts found (open, or settled by the policy).
    pub conflicts: &'a [FieldConflict],
    /// The forge's new state of the object, to sync like a delivery.
    pub delivery: Option<NewDelivery<'a>>,
}

/// Why a conflict could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no open conflict {0}")]
    NotOpen(i64),
    #[error("`{0}` does not resolve a conflict: use prefer-kradle, prefer-external or ignore")]
    Resolution(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn write_back(row: &sqlx::postgres::PgRow) -> Result<WriteBack, sqlx::Error> {
    let payload: Option<Value> = row.try_get("payload")?;
    let payload = payload.unwrap_or(Value::Null);
    let edit =
        serde_json::from_value(payload["edit"].clone()).map_err(|e| sqlx::Error::ColumnDecode {
            index: "payload".into(),
            source: Box::new(e),
        })?;
    Ok(WriteBack {
        intent: intent(row)?,
        resource_kind: row
            .try_get::<Option<String>, _>("resource_kind")?
            .unwrap_or_default(),
        resource_name: row
            .try_get::<Option<String>, _>("resource_name")?
            .unwrap_or_default(),
        edit,
        base: payload["base"].as_object().cloned().unwrap_or_default(),
        receiver: payload["receiver"].as_str().unwrap_or_default().to_string(),
        job_key: payload["jobKey"].as_str().unwrap_or_default().to_string(),
        result: row.try_get("result")?,
    })
}

fn idempotency_key(new: &NewWriteBack<'_>) -> String {
    let material = serde_json::json!([new.org, new.resource_kind, new.resource_name, new.edit]);
    let digest = super::body_digest(&material);
    let hex = digest.trim_start_matches("sha256:");
    format!("idem-issueTracking-update-{}", &hex[..16])
}

impl Store {
    /// Records a write-back and queues its job, in one transaction; or
    /// returns the open one recorded for the same change (`false`), which
    /// is then not queued again.
    pub async fn record_write_back(
        &self,
        new: &NewWriteBack<'_>,
    ) -> Result<(WriteBack, bool), StoreError> {
        let q = |e| self.query_error(e);
        let key = idempotency_key(new);
        let payload = serde_json::json!({
            "edit": new.edit,
            "base": new.base,
            "jobKey": new.job_key,
            "receiver": new.receiver,
            "maxAttempts": new.max_attempts,
        });
        let mut tx = self.pool().begin().await.map_err(q)?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO kradle_write_intents
                 (idempotency_key, org, backend, operation_id, action, method, path, body_digest,
                  phase, resource_kind, resource_name, payload)
             VALUES ($1, $2, $3, $4, 'updateIssue', 'PATCH', $5, $6, $10, $7, $8, $9)
             -- The partial index's predicate, as written in the migration
             -- (an ON CONFLICT target must repeat it, literally).
             ON CONFLICT (idempotency_key) WHERE phase IN ('Pending', 'InFlight', 'PendingApproval')
             DO NOTHING
             RETURNING {COLUMNS}, resource_kind, resource_name, payload, result"
        ))
        .bind(&key)
        .bind(new.org)
        .bind(new.backend)
        .bind(format!(
            "writeback/{}/{}",
            new.resource_kind.to_lowercase(),
            new.resource_name
        ))
        .bind(&new.path)
        .bind(super::body_digest(&payload))
        .bind(new.resource_kind)
        .bind(new.resource_name)
        .bind(&payload)
        .bind(Phase::Pending)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        if let Some(row) = inserted {
            let wb = write_back(&row).map_err(q)?;
            let job = serde_json::json!({ "intent": wb.intent.id });
            enqueue_on(
                &mut tx,
                WRITEBACK_QUEUE,
                &new.job_key,
                &job,
                new.max_attempts,
            )
            .await
            .map_err(q)?;
            tx.commit().await.map_err(q)?;
            return Ok((wb, true));
        }
        tx.rollback().await.map_err(q)?;
        let open = self
            .open_intent(&key)
            .await?
            .ok_or_else(|| q(sqlx::Error::RowNotFound))?;
        let wb = self
            .write_back(open.id)
            .await?
            .ok_or_else(|| q(sqlx::Error::RowNotFound))?;
        Ok((wb, false))
    }

    /// The write-back `id`, if it is one.
    pub async fn write_back(&self, id: i64) -> Result<Option<WriteBack>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, resource_kind, resource_name, payload, result
               FROM kradle_write_intents WHERE id = $1 AND resource_name IS NOT NULL"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        row.map(|r| write_back(&r))
            .transpose()
            .map_err(|e| self.query_error(e))
    }

    /// Records how an attempt of write-back `id` ended: its phase, the
    /// conflicts it found, and the object's new state to sync, in one
    /// transaction.
    pub async fn settle_write_back(
        &self,
        wb: &WriteBack,
        s: &Settlement<'_>,
    ) -> Result<(), StoreError> {
        self.in_tx(async |tx| {
            for c in s.conflicts {
                let (phase, resolved_value) = match c.settled {
                    None => ("Open", None),
                    Some(Resolution::PreferKradle) => ("Resolved", Some(&c.local)),
                    Some(Resolution::Ignore) => ("Ignored", None),
                    Some(_) => ("Resolved", Some(&c.external)),
                };
                sqlx::query(
                    "INSERT INTO kradle_sync_conflicts
                         (org, backend, resource_kind, resource_name, intent_id, field_path,
                          base_value, local_value, external_value, phase, resolution, resolved_value,
                          resolved_by, resolved_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                             CASE WHEN $11::text IS NULL THEN NULL ELSE 'policy' END,
                             CASE WHEN $11::text IS NULL THEN NULL ELSE now() END)
                     ON CONFLICT (intent_id, field_path) WHERE phase = 'Open' DO NOTHING",
                )
                .bind(&wb.intent.org)
                .bind(&wb.intent.backend)
                .bind(&wb.resource_kind)
                .bind(&wb.resource_name)
                .bind(wb.intent.id)
                .bind(c.field)
                .bind(&c.base)
                .bind(&c.local)
                .bind(&c.external)
                .bind(phase)
                .bind(c.settled.map(Resolution::as_str))
                .bind(resolved_value)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE kradle_write_intents
                    SET phase = $2, last_error = $3, result = COALESCE($4, result), updated_at = now()
                  WHERE id = $1",
            )
            .bind(wb.intent.id)
            .bind(s.phase.as_str())
            .bind(s.error)
            .bind(s.result)
            .execute(&mut *tx)
            .await?;
            if let Some(d) = &s.delivery {
                record_delivery_on(&mut *tx, d).await?;
            }
            Ok(())
        })
        .await
    }

    /// Conflicts (of `org` when given), open ones only unless `all`,
    /// oldest first.
    pub async fn list_conflicts(
        &self,
        org: Option<&str>,
        all: bool,
    ) -> Result<Vec<Conflict>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {CONFLICT_COLUMNS} FROM kradle_sync_conflicts
              WHERE ($1::text IS NULL OR org = $1) AND ($2 OR phase = 'Open')
              ORDER BY id"
        ))
        .bind(org)
        .bind(all)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// The open conflicts write-back `intent` found.
    pub async fn open_conflicts(&self, intent: i64) -> Result<Vec<Conflict>, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {CONFLICT_COLUMNS} FROM kradle_sync_conflicts
              WHERE intent_id = $1 AND phase = 'Open' ORDER BY id"
        ))
        .bind(intent)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// A person's decision on open conflict `id`:
    /// - `prefer-kradle`: kradle's value is sent, over the forge's (the
    ///   write's base for the field becomes the forge's value as found, so a
    ///   later change there is a new conflict);
    /// - `prefer-external` or `ignore`: the field is dropped from the
    ///   write, and the forge's value stays.
    ///
    /// When it was the write's last open conflict, the write is queued
    /// again, in the same transaction.
    pub async fn resolve_conflict(
        &self,
        id: i64,
        resolution: Resolution,
    ) -> Result<Conflict, ResolveError> {
        if resolution == Resolution::Manual {
            return Err(ResolveError::Resolution(resolution.as_str()));
        }
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let (phase, value_of) = match resolution {
            Resolution::PreferKradle => ("Resolved", "local_value"),
            Resolution::Ignore => ("Ignored", "NULL"),
            _ => ("Resolved", "external_value"),
        };
        let conflict: Option<Conflict> = sqlx::query_as(&format!(
            "UPDATE kradle_sync_conflicts
                SET phase = $2, resolution = $3, resolved_value = {value_of},
                    resolved_by = 'manual', resolved_at = now()
              WHERE id = $1 AND phase = 'Open'
              RETURNING {CONFLICT_COLUMNS}"
        ))
        .bind(id)
        .bind(phase)
        .bind(resolution.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(q)?;
        let conflict = conflict.ok_or(ResolveError::NotOpen(id))?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, resource_kind, resource_name, payload, result
               FROM kradle_write_intents WHERE id = $1 FOR UPDATE"
        ))
        .bind(conflict.intent_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(q)?;
        let wb = write_back(&row).map_err(q)?;
        let mut payload: Value = row.try_get("payload").map_err(q)?;
        let field = conflict.field_path.as_str();
        if resolution == Resolution::PreferKradle {
            payload["base"][field] = conflict.external_value.clone().unwrap_or(Value::Null);
        } else {
            let mut edit = wb.edit.clone();
            edit.drop_value(field);
            payload["edit"] =
                serde_json::to_value(&edit).map_err(|e| q(sqlx::Error::Decode(Box::new(e))))?;
            if let Some(base) = payload["base"].as_object_mut() {
                base.remove(field);
            }
        }
        sqlx::query(
            "UPDATE kradle_write_intents SET payload = $2, updated_at = now() WHERE id = $1",
        )
        .bind(wb.intent.id)
        .bind(&payload)
        .execute(&mut *tx)
        .await
        .map_err(q)?;
        let still_open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM kradle_sync_conflicts WHERE intent_id = $1 AND phase = 'Open'",
        )
        .bind(wb.intent.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(q)?;
        if still_open == 0 && wb.intent.phase.is_open() {
            let key = payload["jobKey"].as_str().unwrap_or_default().to_string();
            let job = serde_json::json!({ "intent": wb.intent.id });
            let max_attempts = payload["maxAttempts"]
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(4);
            enqueue_on(&mut tx, WRITEBACK_QUEUE, &key, &job, max_attempts)
                .await
                .map_err(q)?;
        }
        tx.commit().await.map_err(q)?;
        Ok(conflict)
    }
}
