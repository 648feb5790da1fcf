//! One apply per organization at a time: a PostgreSQL session advisory lock,
//! held on a connection of its own for as long as the [`OrgLock`] lives.
//! When the process dies, the server closes the session and the lock goes
//! with it; nothing is left to clean up.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::{Store, StoreError};

/// The first key of kradle's advisory locks (`'kr'`), so they do not collide
/// with another application's on the same database.
const LOCK_CLASS: i32 = 0x6b72;

/// A held apply lock on one organization.
#[derive(Debug)]
pub struct OrgLock {
    org: String,
    conn: Option<PgConnection>,
}

impl OrgLock {
    pub fn org(&self) -> &str {
        &self.org
    }

    /// Whether the lock is still held: its session answers.
    pub async fn alive(&mut self) -> bool {
        match self.conn.as_mut() {
            Some(conn) => sqlx::query("SELECT 1").execute(conn).await.is_ok(),
            None => false,
        }
    }

    /// Releases the lock now (dropping it releases it too, by closing its
    /// connection).
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(&self.org)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

impl Store {
    /// Takes the apply lock of `org`. With `wait`, waits for a run holding
    /// it to finish; without, fails at once with [`StoreError::Locked`],
    /// naming the session that holds it.
    pub async fn lock_org(&self, org: &str, wait: bool) -> Result<OrgLock, StoreError> {
        self.lock_named(org, wait).await
    }

    /// An advisory lock on `name` (organization slugs cannot contain `:`,
    /// so `kradle:…` names never collide with an organization's).
    pub async fn lock_named(&self, org: &str, wait: bool) -> Result<OrgLock, StoreError> {
        // A connection of its own: a pooled one would keep the lock after
        // it went back to the pool.
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(|e| self.query_error(e))?
            .detach();
        if wait {
            sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(org)
                .execute(&mut conn)
                .await
                .map_err(|e| self.query_error(e))?;
        } else {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(LOCK_CLASS)
                .bind(org)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| self.query_error(e))?;
            if !got {
                let holder = self.lock_holder(&mut conn, org).await;
                let _ = conn.close().await;
                return Err(StoreError::Locked {
                    org: org.to_string(),
                    holder,
                });
            }
        }
        Ok(OrgLock {
            org: org.to_string(),
            conn: Some(conn),
        })
    }

    /// "pid 123, kradle/456 on 10.0.0.5, since 12:00:00Z": who holds the lock.
    async fn lock_holder(&self, conn: &mut PgConnection, org: &str) -> String {
        let row = sqlx::query(
            "SELECT a.pid, a.application_name, COALESCE(host(a.client_addr), 'local') AS client,
                    to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS since
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted
               AND l.classid = $1::oid AND l.objid = hashtext($2)::oid AND l.objsubid = 2
             LIMIT 1",
        )
        .bind(LOCK_CLASS)
        .bind(org)
        .fetch_optional(conn)
        .await;
        match row {
            Ok(Some(r)) => {
                let pid: i32 = r.try_get("pid").unwrap_or_default();
                let app: String = r.try_get("application_name").unwrap_or_default();
                let client: String = r.try_get("client").unwrap_or_default();
                let since: String = r.try_get("since").unwrap_or_default();
                format!("database session {pid}, {app} on {client}, connected since {since}")
            }
            _ => "another session".to_string(),
        }
    }
}
