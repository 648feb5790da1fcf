//! Write intents (spec ExternalWriteIntent): a forge write is recorded as
//! Pending before it is sent, InFlight while it is on the wire, and
//! Succeeded or Failed after. A run killed at any instant leaves at most one
//! open intent per idempotency key; the rerun finds it and resolves it by
//! reading the forge before it sends anything again.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::postgres::PgRow;

use kradle_compiler::forge_plan::{Backend, Operation};

use super::{Store, StoreError};
use crate::text_enum::text_enum;

text_enum! {
    /// Where a write intent is in its life.
    pub enum Phase {
        /// Recorded, not sent yet.
        Pending = "Pending",
        /// Being sent: the request may or may not have reached the forge.
        InFlight = "InFlight",
        Succeeded = "Succeeded",
        /// Gave up after its retries; `last_error` says why.
        Failed = "Failed",
        /// A destructive write waiting for `kradle intents approve`.
        PendingApproval = "PendingApproval",
        /// A later run found the forge already in the wanted state, or the plan
        /// no longer has the write.
        Superseded = "Superseded",
        /// Refused by `kradle intents reject`: never sent.
        Rejected = "Rejected",
    }
}

impl Phase {
    pub const OPEN: [Phase; 3] = [Phase::Pending, Phase::InFlight, Phase::PendingApproval];

    pub fn is_open(self) -> bool {
        Phase::OPEN.contains(&self)
    }
}

/// A write about to be recorded: an operation of a compiled plan, or a
/// removal kradle decided on.
#[derive(Debug, Clone)]
pub struct NewIntent<'a> {
    pub org: &'a str,
    pub backend: Backend,
    pub operation_id: &'a str,
    pub idempotency_key: &'a str,
    pub action: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// `sha256:<hex>` of the body as planned.
    pub body_digest: String,
    /// Destructive writes that need approval start as PendingApproval.
    pub needs_approval: bool,
}

impl<'a> NewIntent<'a> {
    /// The intent of one operation of a plan.
    pub fn of(org: &'a str, backend: Backend, op: &'a Operation) -> NewIntent<'a> {
        NewIntent {
            org,
            backend,
            operation_id: &op.id,
            idempotency_key: &op.idempotency_key,
            action: op.action.as_str(),
            method: op.method.as_str(),
            path: op.path.as_str(),
            body_digest: body_digest(&op.body),
            needs_approval: false,
        }
    }
}

/// A recorded write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Intent {
    pub id: i64,
    pub idempotency_key: String,
    pub org: String,
    pub backend: String,
    pub operation_id: String,
    pub action: String,
    pub method: String,
    pub path: String,
    pub body_digest: String,
    pub phase: Phase,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// `sha256:<hex>` of a body as planned: placeholders, never secret values.
pub fn body_digest(body: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

pub(super) const COLUMNS: &str = "id, idempotency_key, org, backend, operation_id, action, method, path, body_digest, phase, attempts, last_error";

pub(super) fn intent(row: &PgRow) -> Result<Intent, sqlx::Error> {
    let phase: String = row.try_get("phase")?;
    Ok(Intent {
        id: row.try_get("id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        org: row.try_get("org")?,
        backend: row.try_get("backend")?,
        operation_id: row.try_get("operation_id")?,
        action: row.try_get("action")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        body_digest: row.try_get("body_digest")?,
        phase: Phase::parse(&phase).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "phase".into(),
            source: format!("unknown phase `{phase}`").into(),
        })?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl Store {
    /// The intent `query` returns, if any.
    async fn fetch_intent(&self, query: Query<'_>) -> Result<Option<Intent>, StoreError> {
        let row = query
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(e))?;
        row.map(|r| intent(&r))
            .transpose()
            .map_err(|e| self.query_error(e))
    }

    /// The intents `query` returns.
    async fn fetch_intents(&self, query: Query<'_>) -> Result<Vec<Intent>, StoreError> {
        let rows = query
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.query_error(e))?;
        rows.iter()
            .map(intent)
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(e))
    }

    /// Records `new` as an open intent, or returns the open intent a
    /// previous run left for the same idempotency key (whatever its phase),
    /// so a rerun never records, or sends, the same write twice.
    pub async fn record_intent(&self, new: NewIntent<'_>) -> Result<Intent, StoreError> {
        let phase = if new.needs_approval {
            Phase::PendingApproval
        } else {
            Phase::Pending
        };
        // The insert and the read race with another run closing the open
        // intent in between; a few rounds settle it.
        for _ in 0..3 {
            let inserted = sqlx::query(&format!(
                "INSERT INTO kradle_write_intents
                     (idempotency_key, org, backend, operation_id, action, method, path, body_digest, phase)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (idempotency_key) WHERE phase IN ('Pending', 'InFlight', 'PendingApproval')
                 DO NOTHING
                 RETURNING {COLUMNS}"
            ))
            .bind(new.idempotency_key)
            .bind(new.org)
            .bind(new.backend.to_string())
            .bind(new.operation_id)
            .bind(new.action)
            .bind(new.method)
            .bind(new.path)
            .bind(&new.body_digest)
            .bind(phase.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.query_error(e))?;
            if let Some(row) = inserted {
                return intent(&row).map_err(|e| self.query_error(e));
            }
            if let Some(open) = self.open_intent(new.idempotency_key).await? {
                return Ok(open);
            }
        }
        Err(self.query_error(sqlx::Error::Protocol(format!(
            "the intent of operation {} kept closing while it was recorded",
            new.operation_id
        ))))
    }

    /// The open intent (Pending, InFlight or PendingApproval) for `key`.
    pub async fn open_intent(&self, key: &str) -> Result<Option<Intent>, StoreError> {
        self.fetch_intent(
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM kradle_write_intents
             WHERE idempotency_key = $1 AND phase = ANY($2)"
            ))
            .bind(key)
            .bind(&Phase::OPEN[..]),
        )
        .await
    }

    /// Marks an intent as being sent, counting the attempt. Committed before
    /// the request leaves, so a crash during it is found as InFlight.
    pub async fn start_intent(&self, id: i64) -> Result<Intent, StoreError> {
        self.set_phase(id, Phase::InFlight, None, true).await
    }

    /// Records the outcome of an intent.
    pub async fn finish_intent(
        &self,
        id: i64,
        phase: Phase,
        error: Option<&str>,
    ) -> Result<Intent, StoreError> {
        self.set_phase(id, phase, error, false).await
    }

    async fn set_phase(
        &self,
        id: i64,
        phase: Phase,
        error: Option<&str>,
        attempt: bool,
    ) -> Result<Intent, StoreError> {
        let updated = self
            .fetch_intent(
                sqlx::query(&format!(
                    "UPDATE kradle_write_intents
                     SET phase = $2, last_error = $3, attempts = attempts + $4, updated_at = now()
                     WHERE id = $1
                     RETURNING {COLUMNS}"
                ))
                .bind(id)
                .bind(phase.as_str())
                .bind(error)
                .bind(i32::from(attempt)),
            )
            .await?;
        updated.ok_or_else(|| self.query_error(sqlx::Error::RowNotFound))
    }

    /// The newest intent recorded for `key`, open or closed.
    pub async fn last_intent(&self, key: &str) -> Result<Option<Intent>, StoreError> {
        self.fetch_intent(
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM kradle_write_intents
                 WHERE idempotency_key = $1 ORDER BY id DESC LIMIT 1"
            ))
            .bind(key),
        )
        .await
    }

    /// Approves (`Pending`) or rejects (`Rejected`) an intent waiting for
    /// approval. `None` when no intent `id` waits for approval.
    pub async fn decide_intent(
        &self,
        id: i64,
        approve: bool,
    ) -> Result<Option<Intent>, StoreError> {
        let phase = if approve {
            Phase::Pending
        } else {
            Phase::Rejected
        };
        self.fetch_intent(
            sqlx::query(&format!(
                "UPDATE kradle_write_intents SET phase = $2, updated_at = now()
             WHERE id = $1 AND phase = 'PendingApproval'
             RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(phase.as_str()),
        )
        .await
    }

    /// Intents in one of `phases` (of `org` when given), oldest first.
    pub async fn list_intents(
        &self,
        org: Option<&str>,
        phases: &[Phase],
    ) -> Result<Vec<Intent>, StoreError> {
        let phases: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
        self.fetch_intents(
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM kradle_write_intents
             WHERE ($1::text IS NULL OR org = $1) AND phase = ANY($2)
             ORDER BY id"
            ))
            .bind(org)
            .bind(&phases),
        )
        .await
    }
}
