//! The sync loop of `kradle serve`: it drains the `sync` queue.
//!
//! - A [`Worker`] claims batches (up to `workers` at once); each batch is
//!   applied in the transaction that completes its jobs
//!   ([`pipeline::process_batch`]), or job by job when that fails, and
//!   its leases are renewed while it works.
//! - Workers sleep until a `NOTIFY kradle_jobs` says there is work, and
//!   poll as well, so a lost notification (or a listener that is
//!   reconnecting) only delays work by one poll interval.
//! - On shutdown a batch in hand finishes the job in hand and gives the
//!   rest back, uncounted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::{Handler, Settle, Shared, Worker, current};
use crate::store::{Job, SYNC_QUEUE, Store, StoreError};
use crate::sync::Outcome as SyncOutcome;

pub mod pipeline;

pub use pipeline::Processed;

/// How the sync workers run.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub workers: usize,
    /// How long a claimed job is a worker's before another may take it.
    pub lease: Duration,
    /// How often an idle worker looks for work without a notification.
    pub poll: Duration,
    /// Jobs per claim.
    pub batch: i64,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            workers: 2,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(2),
            batch: 20,
        }
    }
}

/// Counters the workers keep (served by `/metrics`).
#[derive(Debug, Default)]
pub struct SyncStats {
    pub applied: AtomicU64,
    pub superseded: AtomicU64,
    pub unmatched: AtomicU64,
    pub recorded: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub lost_leases: AtomicU64,
    pub claims: AtomicU64,
    /// Sum of claim round trips, in microseconds.
    pub claim_micros: AtomicU64,
}

/// The default retry wait base when the job does not carry its policy's.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

/// Runs the sync workers (`config.workers` batches at once) until `stop`
/// turns true; returns when the batches in hand are done.
pub async fn run(
    store: Store,
    config: SyncConfig,
    stats: Arc<SyncStats>,
    triggers: SharedTriggers,
    stop: watch::Receiver<bool>,
) {
    let worker = Worker {
        store: store.clone(),
        handler: Arc::new(Sync {
            store: store.clone(),
            stats,
            triggers,
        }),
        config: super::WorkerConfig {
            slots: config.workers,
            batch: config.batch,
            lease: config.lease,
            idle: config.poll,
            ..super::WorkerConfig::new(SYNC_QUEUE)
        },
    };
    let upkeep = tokio::spawn(vacuum(store, stop.clone()));
    worker.run(stop).await;
    upkeep.abort();
}

/// Dead rows in the queue table above which it is vacuumed.
pub const VACUUM_THRESHOLD: i64 = 20_000;

/// Keeps the queue's index free of finished jobs' dead entries
/// ([`Store::vacuum_queue_if_needed`]), checking every few seconds.
pub async fn vacuum(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(error) = store.vacuum_queue_if_needed(VACUUM_THRESHOLD).await {
            tracing::warn!(%error, "cannot vacuum the queue");
        }
    }
}

/// The trigger rules of the current config, swapped on SIGHUP.
pub type SharedTriggers = Shared<crate::dispatch::Triggers>;

/// The sync handler: applies deliveries to the projections.
struct Sync {
    store: Store,
    stats: Arc<SyncStats>,
    /// The trigger rules of the current config (swapped on SIGHUP).
    triggers: SharedTriggers,
}

impl Handler for Sync {
    /// A claimed batch: in one transaction, or, when that fails, job by
    /// job (so one job's database error fails that job alone), giving back
    /// what is left when asked to stop.
    async fn handle(
        &self,
        jobs: &[Job],
        worker: &str,
        stop: &watch::Receiver<bool>,
    ) -> Vec<(i64, Settle)> {
        let triggers = current(&self.triggers);
        match pipeline::process_batch(&self.store, jobs, worker, &triggers).await {
            Ok(results) => results
                .into_iter()
                .filter_map(|(id, processed)| {
                    let job = jobs.iter().find(|j| j.id == id)?;
                    Some((id, self.settle(job, Ok(processed))))
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%worker, %error, "batch failed; processing its jobs one by one");
                let mut settled = Vec::new();
                for (i, job) in jobs.iter().enumerate() {
                    if *stop.borrow() {
                        let rest: Vec<i64> = jobs[i..].iter().map(|j| j.id).collect();
                        let _ = self.store.release(worker, &rest).await;
                        settled.extend(rest.into_iter().map(|id| (id, Settle::Released)));
                        break;
                    }
                    settled.push((job.id, self.handle_one(job, worker).await));
                }
                settled
            }
        }
    }

    /// One job, in the transaction that completes it.
    async fn handle_one(&self, job: &Job, worker: &str) -> Settle {
        let triggers = current(&self.triggers);
        let processed =
            pipeline::process_batch(&self.store, std::slice::from_ref(job), worker, &triggers)
                .await
                .map(|mut done| done.pop().map_or(Processed::LostLease, |(_, p)| p));
        self.settle(job, processed)
    }

    fn retrying(&self, job: &Job, wait: Duration, error: &str) {
        self.stats.retried.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            job = job.id,
            attempt = job.attempts,
            max_attempts = job.max_attempts,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            %error,
            "sync job failed; it will be retried"
        );
    }

    async fn buried(&self, job: &Job, error: &str) {
        self.stats.dead.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            job = job.id,
            attempt = job.attempts,
            %error,
            "sync job failed its last attempt; it is a dead letter"
        );
    }

    fn lost_lease(&self, _job: &Job) {
        self.stats.lost_leases.fetch_add(1, Ordering::Relaxed);
    }

    fn claimed(&self, took: Duration) {
        self.stats.claims.fetch_add(1, Ordering::Relaxed);
        self.stats.claim_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl Sync {
    /// Counts what became of `job`; a job not done fails, with the backoff
    /// its policy carries.
    fn settle(&self, job: &Job, processed: Result<Processed, StoreError>) -> Settle {
        let error = match processed {
            Ok(Processed::Done(outcome)) => {
                let counter = match outcome {
                    SyncOutcome::Applied => &self.stats.applied,
                    SyncOutcome::Superseded => &self.stats.superseded,
                    SyncOutcome::Unmatched => &self.stats.unmatched,
                    SyncOutcome::Recorded => &self.stats.recorded,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return Settle::Completed;
            }
            Ok(Processed::LostLease) => return Settle::LostLease,
            Ok(Processed::Invalid(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        let backoff = job.payload["backoffMs"]
            .as_u64()
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_BACKOFF);
        Settle::Failed { error, backoff }
    }
}
