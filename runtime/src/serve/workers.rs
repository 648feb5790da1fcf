//! The sync workers of `kradle serve`: they drain the `sync` queue.
//!
//! - Each worker claims a batch, processes its jobs one by one (each in
//!   the transaction that completes it, [`Store::process_sync`]) and renews
//!   the batch's leases while it works.
//! - Workers sleep until a `NOTIFY kradle_jobs` says there is work, and
//!   poll as well, so a lost notification (or a listener that is
//!   reconnecting) only delays work by one poll interval.
//! - On shutdown a worker finishes the job in hand and gives the rest of
//!   its batch back, uncounted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{Failed, Job, Processed, SYNC_QUEUE, Store, StoreError, SyncOutcome};

/// How the workers run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub workers: usize,
    /// How long a claimed job is a worker's before another may take it.
    pub lease: Duration,
    /// How often an idle worker looks for work without a notification.
    pub poll: Duration,
    /// Jobs per claim.
    pub batch: i64,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            workers: 2,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(2),
            batch: 20,
        }
    }
}

/// Counters the workers keep (served by `/metrics`).
#[derive(Debug, Default)]
pub struct WorkerStats {
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

/// Runs `config.workers` workers until `stop` turns true; returns when
/// all have stopped.
pub async fn run(
    store: Store,
    config: WorkerConfig,
    stats: Arc<WorkerStats>,
    triggers: super::SharedTriggers,
    stop: watch::Receiver<bool>,
) {
    let (wake_tx, wake_rx) = watch::channel(0u64);
    let listener = tokio::spawn(listen(store.clone(), SYNC_QUEUE, wake_tx, stop.clone()));
    let pid = std::process::id();
    let mut workers = Vec::new();
    for n in 0..config.workers.max(1) {
        let worker = Worker {
            id: format!("{}-{pid}-{n}", hostname()),
            store: store.clone(),
            config: config.clone(),
            stats: stats.clone(),
            triggers: triggers.clone(),
        };
        workers.push(tokio::spawn(worker.run(wake_rx.clone(), stop.clone())));
    }
    let upkeep = tokio::spawn(vacuum(store.clone(), stop.clone()));
    for w in workers {
        let _ = w.await;
    }
    listener.abort();
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

pub(super) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kradle".into())
}

/// Turns `NOTIFY kradle_jobs` for `queue` into wake-ups, reconnecting
/// when the connection drops.
pub(super) async fn listen(
    store: Store,
    queue: &'static str,
    wake: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let connected = forward(&store, queue, &wake);
        tokio::select! {
            _ = connected => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Forwards notifications for `queue` until the connection fails.
async fn forward(
    store: &Store,
    queue: &str,
    wake: &watch::Sender<u64>,
) -> Result<std::convert::Infallible, StoreError> {
    let mut listener = store.listen_jobs().await?;
    // Work queued while the listener was away is found by this wake.
    wake.send_modify(|n| *n += 1);
    loop {
        if listener.next().await? == queue {
            wake.send_modify(|n| *n += 1);
        }
    }
}

struct Worker {
    id: String,
    store: Store,
    config: WorkerConfig,
    stats: Arc<WorkerStats>,
    /// The trigger rules of the current config (swapped on SIGHUP).
    triggers: super::SharedTriggers,
}

impl Worker {
    async fn run(self, mut wake: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            // Seen before the claim: a notification after it wakes us.
            wake.borrow_and_update();
            let started = std::time::Instant::now();
            let claimed = self
                .store
                .claim(SYNC_QUEUE, &self.id, self.config.batch, self.config.lease)
                .await;
            self.stats.claims.fetch_add(1, Ordering::Relaxed);
            self.stats.claim_micros.fetch_add(
                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(worker = %self.id, error = %e, "claim failed");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                let idle = self.store.idle_for(SYNC_QUEUE, self.config.poll).await;
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(idle) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            self.batch(jobs, &stop).await;
        }
    }

    /// Processes a claimed batch, renewing its leases meanwhile: in one
    /// transaction, or, when that fails, job by job (so one job's database
    /// error fails that job alone), giving back what is left when asked to
    /// stop.
    async fn batch(&self, jobs: Vec<Job>, stop: &watch::Receiver<bool>) {
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let triggers = super::current(&self.triggers);
        let work = async {
            match self
                .store
                .process_sync_batch(&jobs, &self.id, &triggers)
                .await
            {
                Ok(results) => {
                    for (id, processed) in results {
                        if let Some(job) = jobs.iter().find(|j| j.id == id) {
                            self.settle(job, Ok(processed)).await;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(worker = %self.id, %error, "batch failed; processing its jobs one by one");
                    for (i, job) in jobs.iter().enumerate() {
                        if *stop.borrow() {
                            let rest: Vec<i64> = ids[i..].to_vec();
                            let _ = self.store.release(&self.id, &rest).await;
                            break;
                        }
                        let processed = self.store.process_sync(job, &self.id, &triggers).await;
                        self.settle(job, processed).await;
                    }
                }
            }
        };
        tokio::pin!(work);
        let mut heartbeat = tokio::time::interval(self.config.lease / 3);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = &mut work => break,
                _ = heartbeat.tick() => {
                    let _ = self.store.heartbeat(&self.id, &ids, self.config.lease).await;
                }
            }
        }
    }

    /// Counts what became of `job`, and fails it when it was not done.
    async fn settle(&self, job: &Job, processed: Result<Processed, StoreError>) {
        let error = match processed {
            Ok(Processed::Done(outcome)) => {
                let counter = match outcome {
                    SyncOutcome::Applied => &self.stats.applied,
                    SyncOutcome::Superseded => &self.stats.superseded,
                    SyncOutcome::Unmatched => &self.stats.unmatched,
                    SyncOutcome::Recorded => &self.stats.recorded,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Processed::LostLease) => {
                self.stats.lost_leases.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Processed::Invalid(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        let base = job.payload["backoffMs"]
            .as_u64()
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_BACKOFF);
        match self.store.fail(job, &self.id, &error, base).await {
            Ok(Failed::Retry(wait)) => {
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
            Ok(Failed::Dead) => {
                self.stats.dead.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    job = job.id,
                    attempt = job.attempts,
                    %error,
                    "sync job failed its last attempt; it is a dead letter"
                );
            }
            Ok(Failed::LostLease) => {
                self.stats.lost_leases.fetch_add(1, Ordering::Relaxed);
            }
            // The lease runs out and the job is claimed again.
            Err(e) => tracing::warn!(job = job.id, error = %e, "cannot record the job's failure"),
        }
    }
}
