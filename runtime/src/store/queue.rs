//! The job queue (docs/serve.md, "The queue").
//!
//! - Workers claim in batches with `FOR UPDATE SKIP LOCKED` and hold a
//!   lease, renewed by [`Store::heartbeat`]. A job whose lease expired (its
//!   worker died) is claimed again.
//! - Jobs with the same key run in id order, never two at once: only the
//!   oldest job of a key can be claimed, and it stays in the table until it
//!   is done (or dead).
//! - Each claim counts an attempt. A failure waits a jittered exponential
//!   backoff; after `max_attempts` the job is a dead letter, moved to
//!   `kradle_dead_jobs`.
//! - Only live work stays in `kradle_jobs`: a finished job is deleted in the
//!   transaction that records its outcome, so claims never wade through
//!   finished rows.

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnection, PgListener};

use super::{Store, StoreError};

/// The channel workers LISTEN on; the payload is the queue's name.
pub const JOBS_CHANNEL: &str = "kradle_jobs";

/// A claimed job.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub queue: String,
    pub key: String,
    pub payload: Value,
    /// Counting this claim.
    pub attempts: i32,
    pub max_attempts: i32,
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// It runs again after this wait.
    Retry(Duration),
    /// It used its last attempt: it is a dead letter now.
    Dead,
    /// The worker no longer held it (its lease expired and another worker
    /// claimed it): nothing was changed.
    LostLease,
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The wait after attempt `attempts` of job `id`: `base` doubled per
/// attempt, capped at an hour, then jittered into its upper half, so jobs
/// that failed together do not come back together. The jitter is derived
/// from the job and attempt, so it is spread without a random source.
pub fn backoff(base: Duration, attempts: i32, id: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = base.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    let mix = (id as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(u64::from(doublings).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let fraction = (mix >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    full.mul_f64(0.5 + fraction / 2.0)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Queues a job on `conn` (inside the caller's transaction) and notifies
/// the workers of `queue` when it commits.
pub(super) async fn enqueue_on(
    conn: &mut PgConnection,
    queue: &str,
    key: &str,
    payload: &Value,
    max_attempts: i32,
) -> Result<i64, sqlx::Error> {
    let id = sqlx::query_scalar(
        "INSERT INTO kradle_jobs (queue, key, payload, max_attempts)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(queue)
    .bind(key)
    .bind(payload)
    .bind(max_attempts.max(1))
    .fetch_one(&mut *conn)
    .await?;
    notify(conn, queue).await?;
    Ok(id)
}

/// Wakes the workers of `queue` when the caller's transaction commits.
async fn notify(conn: &mut PgConnection, queue: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOBS_CHANNEL)
        .bind(queue)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Queues a job.
    pub async fn enqueue(
        &self,
        queue: &str,
        key: &str,
        payload: &Value,
        max_attempts: i32,
    ) -> Result<i64, StoreError> {
        self.in_tx(async |tx| {
            let id = enqueue_on(&mut *tx, queue, key, payload, max_attempts).await?;
            Ok(id)
        })
        .await
    }

    /// Queues `jobs` (key, payload) in one statement, in order.
    pub async fn enqueue_many(
        &self,
        queue: &str,
        jobs: &[(String, Value)],
        max_attempts: i32,
    ) -> Result<u64, StoreError> {
        let items: Vec<Value> = jobs
            .iter()
            .map(|(key, payload)| serde_json::json!({ "key": key, "payload": payload }))
            .collect();
        self.in_tx(async |tx| {
            let inserted = sqlx::query(
                "INSERT INTO kradle_jobs (queue, key, payload, max_attempts)
                 SELECT $1, e ->> 'key', e -> 'payload', $3
                   FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n)
                  ORDER BY n",
            )
            .bind(queue)
            .bind(Value::Array(items))
            .bind(max_attempts.max(1))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            notify(&mut *tx, queue).await?;
            Ok(inserted)
        })
        .await
    }

    /// Claims up to `batch` ready jobs of `queue` for `worker`, each the
    /// oldest of its key, leased for `lease`. Jobs whose worker died on
    /// their last attempt become dead letters in the same statement: one
    /// round trip per claim.
    pub async fn claim(
        &self,
        queue: &str,
        worker: &str,
        batch: i64,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        let bury = bury_ctes(
            "queue = $1 AND lease_until < now() AND attempts >= max_attempts",
            "'its worker stopped during its last attempt'",
        );
        let mut jobs = sqlx::query_as::<_, Job>(&format!(
            "WITH {bury}, ready AS (
                 SELECT j.id FROM kradle_jobs j
                 WHERE j.queue = $1 AND j.run_at <= now()
                   AND (j.lease_until IS NULL
                        OR (j.lease_until < now() AND j.attempts < j.max_attempts))
                   AND NOT EXISTS (SELECT 1 FROM kradle_jobs e WHERE e.key = j.key AND e.id < j.id)
                 ORDER BY j.run_at, j.id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE kradle_jobs j
                SET locked_by = $2,
                    lease_until = now() + make_interval(secs => $4::float8 / 1000),
                    attempts = j.attempts + 1
               FROM ready WHERE j.id = ready.id
             RETURNING j.id, j.queue, j.key, j.payload, j.attempts, j.max_attempts"
        ))
        .bind(queue)
        .bind(worker)
        .bind(batch.max(1))
        .bind(millis(lease) as f64)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// How long a worker of `queue` that found nothing to claim may sleep:
    /// until the earliest job enqueued to run later is due, at most `max`.
    /// (A job is announced when it is enqueued, not when it is due: a worker
    /// woken then finds it not yet due, and must not sleep past it.)
    pub async fn idle_for(&self, queue: &str, max: Duration) -> Duration {
        let due: Result<Option<f64>, _> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM min(run_at) - now())::float8
               FROM kradle_jobs WHERE queue = $1 AND run_at > now()",
        )
        .bind(queue)
        .fetch_one(self.pool())
        .await;
        match due {
            Ok(Some(secs)) if secs.is_finite() && secs >= 0.0 => {
                Duration::from_secs_f64(secs).min(max)
            }
            _ => max,
        }
    }

    /// Renews the lease of the jobs `worker` holds among `ids`; returns how
    /// many it still holds.
    pub async fn heartbeat(
        &self,
        worker: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<u64, StoreError> {
        sqlx::query(
            "UPDATE kradle_jobs SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
             WHERE id = ANY($1) AND locked_by = $2",
        )
        .bind(ids)
        .bind(worker)
        .bind(millis(lease) as f64)
        .execute(self.pool())
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.query_error(e))
    }

    /// Gives back jobs `worker` claimed but will not run (it is stopping):
    /// they are claimable again at once, and the claim is not counted as
    /// an attempt. Returns how many it still held.
    pub async fn release(&self, worker: &str, ids: &[i64]) -> Result<u64, StoreError> {
        sqlx::query(
            "UPDATE kradle_jobs
                SET locked_by = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0)
              WHERE id = ANY($1) AND locked_by = $2",
        )
        .bind(ids)
        .bind(worker)
        .execute(self.pool())
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.query_error(e))
    }

    /// Records `job` as done: deletes it and marks its delivery processed,
    /// in one transaction. `false` when `worker` no longer held it.
    pub async fn complete(&self, job: &Job, worker: &str) -> Result<bool, StoreError> {
        Ok(!self
            .complete_many(std::slice::from_ref(job), worker)
            .await?
            .is_empty())
    }

    /// Records `jobs` as done in one statement: deletes those `worker`
    /// still holds and marks their deliveries processed. Returns the ids
    /// completed (those whose lease was lost are left to their new holder).
    pub async fn complete_many(&self, jobs: &[Job], worker: &str) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        sqlx::query_scalar(
            "WITH done AS (
                 DELETE FROM kradle_jobs WHERE id = ANY($1) AND locked_by = $2
                 RETURNING id, payload
             ), marked AS (
                 UPDATE kradle_webhook_deliveries SET processed_at = now(), outcome = 'processed'
                  WHERE id IN (SELECT (payload ->> 'delivery')::bigint FROM done)
             )
             SELECT id FROM done ORDER BY id",
        )
        .bind(&ids)
        .bind(worker)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))
    }

    /// Records a failed attempt of `job`: it runs again after a backoff
    /// from `base`, or, on its last attempt, becomes a dead letter.
    pub async fn fail(
        &self,
        job: &Job,
        worker: &str,
        error: &str,
        base: Duration,
    ) -> Result<Failed, StoreError> {
        let error: String = error.chars().take(2000).collect();
        self.in_tx(async |tx| {
            let held: Option<(i32, i32)> = sqlx::query_as(
                "SELECT attempts, max_attempts FROM kradle_jobs
                 WHERE id = $1 AND locked_by = $2 FOR UPDATE",
            )
            .bind(job.id)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((attempts, max_attempts)) = held else {
                return Ok(Failed::LostLease);
            };
            let outcome = if attempts >= max_attempts {
                sqlx::query("UPDATE kradle_jobs SET last_error = $2 WHERE id = $1")
                    .bind(job.id)
                    .bind(&error)
                    .execute(&mut *tx)
                    .await?;
                bury(&mut *tx, job.id).await?;
                Failed::Dead
            } else {
                let wait = backoff(base, attempts, job.id);
                sqlx::query(
                    "UPDATE kradle_jobs
                        SET locked_by = NULL, lease_until = NULL, last_error = $2,
                            run_at = now() + make_interval(secs => $3::float8 / 1000)
                      WHERE id = $1",
                )
                .bind(job.id)
                .bind(&error)
                .bind(millis(wait) as f64)
                .execute(&mut *tx)
                .await?;
                Failed::Retry(wait)
            };
            Ok(outcome)
        })
        .await
    }

    /// The depth of `queue`, and per receiver the age in seconds of the
    /// oldest delivery not yet processed (the sync lag).
    #[allow(clippy::type_complexity)]
    pub async fn sync_backlog(
        &self,
        queue: &str,
    ) -> Result<(i64, Vec<((String, String, String), f64)>), StoreError> {
        let depth = self.queue_depth(queue).await?;
        let lag: Vec<(String, String, String, f64)> = sqlx::query_as(
            "SELECT org, source, receiver,
                    EXTRACT(EPOCH FROM now() - min(received_at))::float8
               FROM kradle_webhook_deliveries WHERE processed_at IS NULL
              GROUP BY org, source, receiver ORDER BY org, source, receiver",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        Ok((
            depth,
            lag.into_iter()
                .map(|(o, s, r, lag)| ((o, s, r), lag))
                .collect(),
        ))
    }

    /// Vacuums the queue table when finished jobs have left more than
    /// `threshold` dead rows (PostgreSQL's count, which lags a little).
    /// Claims read the queue's index from its head, so dead entries there
    /// slow every claim until a vacuum removes them; autovacuum wakes at
    /// most once a minute, too late for a queue draining thousands of
    /// jobs a second. Returns whether it vacuumed.
    pub async fn vacuum_queue_if_needed(&self, threshold: i64) -> Result<bool, StoreError> {
        let dead: Option<i64> = sqlx::query_scalar(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'kradle_jobs'",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.query_error(e))?;
        if dead.unwrap_or(0) <= threshold {
            return Ok(false);
        }
        sqlx::query("VACUUM kradle_jobs")
            .execute(self.pool())
            .await
            .map_err(|e| self.query_error(e))?;
        Ok(true)
    }

    /// Jobs waiting or running in `queue` (the queue depth).
    pub async fn queue_depth(&self, queue: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT count(*) FROM kradle_jobs WHERE queue = $1")
            .bind(queue)
            .fetch_one(self.pool())
            .await
            .map_err(|e| self.query_error(e))
    }
}

/// Notifications of queued work (`LISTEN kradle_jobs`).
pub struct JobListener {
    listener: PgListener,
    store: Store,
}

impl JobListener {
    /// Waits for the next notification; returns the queue it names.
    pub async fn next(&mut self) -> Result<String, StoreError> {
        self.listener
            .recv()
            .await
            .map(|n| n.payload().to_string())
            .map_err(|e| self.store.query_error(e))
    }
}

impl Store {
    /// Listens for queued work on its own connection.
    pub async fn listen_jobs(&self) -> Result<JobListener, StoreError> {
        let q = |e| self.query_error(e);
        let mut listener = PgListener::connect_with(self.pool()).await.map_err(q)?;
        listener.listen(JOBS_CHANNEL).await.map_err(q)?;
        Ok(JobListener {
            listener,
            store: self.clone(),
        })
    }
}

/// The CTEs that move the jobs matching `condition` to the dead letters,
/// with `why` (SQL) as their last error when they have none, and mark their
/// deliveries dead.
fn bury_ctes(condition: &str, why: &str) -> String {
    format!(
        "dead AS (
             DELETE FROM kradle_jobs WHERE {condition}
             RETURNING id, queue, key, payload, attempts, last_error, created_at
         ), buried AS (
             INSERT INTO kradle_dead_jobs (id, queue, key, payload, attempts, last_error, created_at)
             SELECT id, queue, key, payload, attempts, COALESCE(last_error, {why}), created_at
               FROM dead
             RETURNING payload
         ), marked AS (
             UPDATE kradle_webhook_deliveries SET processed_at = now(), outcome = 'dead'
              WHERE id IN (SELECT (payload ->> 'delivery')::bigint FROM buried)
         )"
    )
}

/// Moves job `id` to the dead letters.
async fn bury(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    let ctes = bury_ctes("id = $1", "NULL");
    sqlx::query(&format!("WITH {ctes} SELECT 1"))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        for id in 0..50 {
            for attempt in 1..=8 {
                let full = Duration::from_secs(1 << (attempt - 1));
                let wait = backoff(base, attempt, id);
                assert!(wait >= full / 2 && wait <= full, "{id} {attempt}: {wait:?}");
            }
            assert!(backoff(base, 40, id) <= MAX_BACKOFF);
        }
        let spread: std::collections::BTreeSet<_> =
            (0..50).map(|id| backoff(base, 3, id).as_millis()).collect();
        assert!(spread.len() > 40, "jobs failing together come back apart");
    }
}
