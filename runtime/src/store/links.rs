//! Object links (spec ExternalObjectLink): what kradle manages on a forge,
//! with the forge's native id, who created it and the digest last applied.
//! A link says "kradle owns this", which is what lets a later run remove it
//! when the config no longer has it, and never touch what it does not own.

use sqlx::Row;
use sqlx::postgres::PgRow;

use kradle_compiler::forge_plan::Backend;

use super::{Store, StoreError};

/// Who brought an object under kradle's management.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CreatedBy {
    /// kradle created it.
    Kradle,
    /// It existed, matched the config, and was adopted.
    Adopted,
}

impl CreatedBy {
    fn as_str(self) -> &'static str {
        match self {
            CreatedBy::Kradle => "kradle",
            CreatedBy::Adopted => "adopted",
        }
    }
}

/// One managed forge object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub org: String,
    pub backend: String,
    /// organization, repository, team, hook, deploy-key, ...
    pub kind: String,
    pub name: String,
    pub native_id: Option<String>,
    pub created_by: CreatedBy,
    pub applied_digest: Option<String>,
}

fn link(row: &PgRow) -> Result<Link, sqlx::Error> {
    let created_by: String = row.try_get("created_by")?;
    Ok(Link {
        org: row.try_get("org")?,
        backend: row.try_get("backend")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        native_id: row.try_get("native_id")?,
        created_by: if created_by == "adopted" {
            CreatedBy::Adopted
        } else {
            CreatedBy::Kradle
        },
        applied_digest: row.try_get("applied_digest")?,
    })
}

impl Store {
    /// Records (or updates) that kradle manages `link`. The first creator
    /// is kept: an object kradle created stays "kradle" when re-applied.
    pub async fn upsert_link(&self, l: &Link) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO kradle_object_links
                 (org, backend, kind, name, native_id, created_by, applied_digest)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (org, backend, kind, name) DO UPDATE
             SET native_id = COALESCE(EXCLUDED.native_id, kradle_object_links.native_id),
                 applied_digest = EXCLUDED.applied_digest,
                 updated_at = now()",
        )
        .bind(&l.org)
        .bind(&l.backend)
        .bind(&l.kind)
        .bind(&l.name)
        .bind(&l.native_id)
        .bind(l.created_by.as_str())
        .bind(&l.applied_digest)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(())
    }

    /// Forgets a link (after kradle removed the object).
    pub async fn delete_link(
        &self,
        org: &str,
        backend: Backend,
        kind: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM kradle_object_links WHERE org = $1 AND backend = $2 AND kind = $3 AND name = $4",
        )
        .bind(org)
        .bind(backend.to_string())
        .bind(kind)
        .bind(name)
        .execute(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every link of `org` on `backend`, by kind and name.
    pub async fn links(&self, org: &str, backend: Backend) -> Result<Vec<Link>, StoreError> {
        let rows = sqlx::query(
            "SELECT org, backend, kind, name, native_id, created_by, applied_digest
             FROM kradle_object_links WHERE org = $1 AND backend = $2 ORDER BY kind, name",
        )
        .bind(org)
        .bind(backend.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        rows.iter()
            .map(link)
            .collect::<Result<_, _>>()
            .map_err(|e| self.query_error(e))
    }
}
