//! The PostgreSQL store: the only module that uses sqlx.
//!
//! It holds the forge journal (write intents and object links, spec
//! ExternalWriteIntent and ExternalObjectLink) and the per-organization
//! apply lock. Migrations are embedded in the binary (`runtime/migrations/`)
//! and applied by `kradle db migrate`, and at the start of `kradle apply`.
//!
//! Nothing stored is secret: intents keep the path and a digest of the body
//! as planned, with `${secret:…}` placeholders unresolved.

mod agent;
mod applied;
mod deliveries;
mod dispatch;
mod intents;
mod links;
mod lock;
mod projections;
mod queue;
mod sync;
mod text;
mod writeback;

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

pub use agent::{AGENT_QUEUE, AgentWrite, Caller, Calling, NewAgentWrite, WRITE_BACK};
pub use applied::AppliedPlan;
pub use deliveries::{NewDelivery, Recorded, SYNC_QUEUE};
pub use dispatch::{
    AfterFailure, Binding, Bound, Called, Cancelled, DISPATCH_QUEUE, Decided, NewRun, Scheduled,
};
pub use intents::{Intent, NewIntent, Phase, body_digest};
pub use links::{CreatedBy, Link};
pub use lock::OrgLock;
pub use projections::{LabelSelector, ListQuery, MAX_PAGE, Page, ProjectionRef, StoredObject};
pub use queue::{Failed, JOBS_CHANNEL, Job, JobListener, backoff};
pub use sync::{Delivery, Execution, StateChange, StateKey, SyncTx};
pub use writeback::{Conflict, NewWriteBack, ResolveError, Settlement, WRITEBACK_QUEUE, WriteBack};

/// The environment variable that holds the database URL.
pub const DATABASE_URL_ENV: &str = "KRADLE_DATABASE_URL";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Why the store could not do what was asked. Messages name the server
/// (host, port, database), never the URL: it may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database: give --database-url or set {DATABASE_URL_ENV}")]
    NoUrl,
    #[error("the database URL does not parse ({0}); expected postgres://USER@HOST:PORT/DATABASE")]
    BadUrl(String),
    #[error("cannot reach the database {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error(
        "the database {server} has migration {version}, which this kradle does not know: it was migrated by a newer kradle"
    )]
    NewerSchema { server: String, version: i64 },
    #[error("the database {server} is not migrated: run `kradle db migrate`")]
    NotMigrated { server: String },
    #[error(
        "organization `{org}` is being applied by another run ({holder}); wait for it, or run without --no-wait"
    )]
    Locked { org: String, holder: String },
    #[error("database error on {server}: {source}")]
    Query {
        server: String,
        #[source]
        source: sqlx::Error,
    },
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, in order.
    pub applied: Vec<i64>,
    /// The newest version the database now has.
    pub current: i64,
}

/// A connection pool to kradle's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    server: String,
}

impl Store {
    /// Connects to `url`, or fails with a message that names the server but
    /// not the URL (which may hold a password).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_waiting(url, Duration::from_secs(30)).await
    }

    /// [`Store::connect`], with a pool that gives up on a connection after
    /// `acquire`: a server answering webhooks must say 503 before the
    /// forge's own timeout when the database is away.
    pub async fn connect_waiting(url: &str, acquire: Duration) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(redact_error(&e.to_string(), url)))?
            .application_name(&format!("kradle/{}", std::process::id()));
        let server = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("postgres")
        );
        let unreachable = |e: sqlx::Error| StoreError::Unreachable {
            server: server.clone(),
            reason: redact_error(&e.to_string(), url),
        };
        // One direct connection first: a pool would retry a refused
        // connection until its timeout, and a wrong URL should fail at once.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(unreachable)?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        Ok(Store { pool, server })
    }

    /// Connects to `url`, or fails with [`StoreError::NoUrl`] when none (or a
    /// blank one) is given. The CLI reads `--database-url` and
    /// `KRADLE_DATABASE_URL`; the library reads no environment.
    pub async fn connect_from(url: Option<&str>) -> Result<Store, StoreError> {
        match url.filter(|u| !u.trim().is_empty()) {
            Some(url) => Store::connect(url).await,
            None => Err(StoreError::NoUrl),
        }
    }

    /// The server, as messages name it: `host:port/database`.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `work` in one transaction: committed when it returns `Ok`,
    /// rolled back when it fails (or when it decides nothing is to change
    /// and the caller returns early on its own connection instead).
    pub(crate) async fn in_tx<T>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        let q = |e| self.query_error(e);
        let mut tx = self.pool().begin().await.map_err(q)?;
        let out = work(&mut tx).await.map_err(q)?;
        tx.commit().await.map_err(q)?;
        Ok(out)
    }

    pub(crate) fn query_error(&self, source: sqlx::Error) -> StoreError {
        StoreError::Query {
            server: self.server.clone(),
            source,
        }
    }

    /// Applies the migrations this kradle embeds and the database lacks.
    /// Safe to run concurrently and repeatedly.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        // One migrating kradle at a time, so each reports what it applied.
        let lock = self.lock_named("kradle:migrate", true).await?;
        let report = self.migrate_locked().await;
        lock.release().await;
        report
    }

    async fn migrate_locked(&self) -> Result<MigrationReport, StoreError> {
        let before = self.applied_versions().await?;
        if let Some(&version) = before.iter().find(|v| !known(**v)) {
            return Err(StoreError::NewerSchema {
                server: self.server.clone(),
                version,
            });
        }
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::NewerSchema {
                server: self.server.clone(),
                version,
            },
            other => self.query_error(sqlx::Error::Migrate(Box::new(other))),
        })?;
        let after = self.applied_versions().await?;
        Ok(MigrationReport {
            applied: after
                .iter()
                .copied()
                .filter(|v| !before.contains(v))
                .collect(),
            current: after.iter().copied().max().unwrap_or(0),
        })
    }

    /// Whether every migration this kradle embeds is applied (`/readyz`).
    pub async fn is_current(&self) -> Result<bool, StoreError> {
        let applied = self.applied_versions().await?;
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
    }

    /// Fails with [`StoreError::NotMigrated`] unless the schema is current.
    pub async fn require_current(&self) -> Result<(), StoreError> {
        if self.is_current().await? {
            Ok(())
        } else {
            Err(StoreError::NotMigrated {
                server: self.server.clone(),
            })
        }
    }

    /// Versions recorded as applied; empty on a fresh database.
    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema())",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.query_error(e))?;
        if !exists {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.query_error(e))
    }
}

/// Whether this kradle embeds migration `version`.
fn known(version: i64) -> bool {
    MIGRATOR.iter().any(|m| m.version == version)
}

/// The newest migration this kradle embeds.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// `message` with the URL and its password removed, should a driver quote them.
fn redact_error(message: &str, url: &str) -> String {
    let mut out = message.replace(url, "<database url>");
    if let Some(password) = password_of(url) {
        if !password.is_empty() {
            out = out.replace(&password, "***");
        }
    }
    out
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    userinfo.split_once(':').map(|(_, p)| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_quote_a_password() {
        let url = "postgres://kradle:s3cr3t-pw@db.example:5432/kradle";
        let msg = redact_error(
            &format!("failed to connect to {url}: password s3cr3t-pw rejected"),
            url,
        );
        assert!(!msg.contains("s3cr3t-pw"), "{msg}");
        assert!(msg.contains("<database url>"), "{msg}");
    }

    #[test]
    fn the_embedded_migrations_are_numbered_from_one() {
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert_eq!(versions.first(), Some(&1));
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(latest_migration(), *versions.last().unwrap_or(&0));
    }
}
