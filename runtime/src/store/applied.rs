//! The plan each organization was last converged to (`kradle_applied_plans`),
//! for the staleness check of saved plans.

use kradle_compiler::forge_plan::Backend;

use super::{Store, StoreError};

/// The plan an organization was last converged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedPlan {
    pub digest: String,
    pub source: String,
    pub applied_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// The plan `org` was last converged to on `backend`, if any.
    pub async fn applied_plan(
        &self,
        org: &str,
        backend: Backend,
    ) -> Result<Option<AppliedPlan>, StoreError> {
        let row: Option<(String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT plan_digest, source, applied_at FROM kradle_applied_plans
              WHERE org = $1 AND backend = $2",
        )
        .bind(org)
        .bind(backend.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(row.map(|(digest, source, applied_at)| AppliedPlan {
            digest,
            source,
            applied_at,
        }))
    }

    /// Records that `org` on `backend` converged to the plan of `digest`.
    pub async fn record_applied_plan(
        &self,
        org: &str,
        backend: Backend,
        digest: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO kradle_applied_plans (org, backend, plan_digest, source)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (org, backend) DO UPDATE
                SET plan_digest = excluded.plan_digest, source = excluded.source,
                    applied_at = now()",
        )
        .bind(org)
        .bind(backend.to_string())
        .bind(digest)
        .bind(source)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(())
    }
}
