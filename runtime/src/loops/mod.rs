//! The loops of `kradle serve`, apart from its HTTP: the queue workers
//! (sync, dispatch, write-back), the scheduler and backfill.
//!
//! Every queue is drained by one [`Worker`]: it listens for `NOTIFY
//! kradle_jobs` (and polls, so a lost notification only delays), claims
//! jobs under a lease, renews the lease while their [`Handler`] works,
//! and completes, retries with backoff, or buries each job as the handler
//! says. A loop is a `Handler`: what it does with a job, and what it does
//! when one is retried or buried. A new loop is a new module here with a
//! handler (see docs/architecture.md).

pub mod agent;
pub mod backfill;
pub mod dispatch;
pub mod schedule;
pub mod sync;
pub mod writeback;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::{Failed, Job, Store, StoreError};

/// The first retry's wait when the sync policy says nothing.
pub const DEFAULT_BACKOFF_MS: u64 = 1000;

/// A value of the current config that SIGHUP swaps (the trigger rules, the
/// agent stacks): readers take the `Arc` of the moment.
pub type Shared<T> = Arc<RwLock<Arc<T>>>;

/// What `shared` holds now.
pub fn current<T>(shared: &Shared<T>) -> Arc<T> {
    match shared.read() {
        Ok(t) => t.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// The host part of a worker's name: `$HOSTNAME` (the pod's name).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kradle".into())
}

/// What became of a job its handler was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Done: the worker completes it.
    Done,
    /// Done, and completed by the handler in its own transaction.
    Completed,
    /// Failed: tried again after a backoff from `backoff`, or buried after
    /// its last try.
    Failed { error: String, backoff: Duration },
    /// Another worker holds it now (its lease ran out): nothing to settle.
    LostLease,
    /// Given back unprocessed by the handler (the worker is stopping).
    Released,
}

/// What a queue's jobs are done with.
pub trait Handler: Send + Sync + 'static {
    /// Handles one job, as `worker`.
    fn handle_one(&self, job: &Job, worker: &str) -> impl Future<Output = Settle> + Send;

    /// Handles `jobs`, claimed together (at most the worker's `batch`), as
    /// `worker`; says what became of each, by job id (a job the answer
    /// leaves out stays claimed until its lease ends). By default, one by
    /// one.
    fn handle(
        &self,
        jobs: &[Job],
        worker: &str,
        _stop: &watch::Receiver<bool>,
    ) -> impl Future<Output = Vec<(i64, Settle)>> + Send {
        async move {
            let mut settled = Vec::with_capacity(jobs.len());
            for job in jobs {
                settled.push((job.id, self.handle_one(job, worker).await));
            }
            settled
        }
    }

    /// A failed job will be tried again in `wait`.
    fn retrying(&self, _job: &Job, _wait: Duration, _error: &str) {}

    /// A failed job ran out of tries: it is kept as a dead letter.
    fn buried(&self, _job: &Job, _error: &str) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Another worker took the job over while this one worked on it.
    fn lost_lease(&self, _job: &Job) {}

    /// A claim took `took`.
    fn claimed(&self, _took: Duration) {}
}

/// How a worker drains its queue.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub queue: &'static str,
    /// Its name in the queue's `locked_by`: host, pid and queue.
    pub name: String,
    /// Claims worked on at once.
    pub slots: usize,
    /// Jobs handed to the handler together.
    pub batch: i64,
    /// How long a claimed job is this worker's before another may take it;
    /// renewed every third of it while the handler works.
    pub lease: Duration,
    /// The longest an idle worker sleeps without a notification.
    pub idle: Duration,
}

impl WorkerConfig {
    /// A worker of `queue` named after this host and process.
    pub fn new(queue: &'static str) -> WorkerConfig {
        WorkerConfig {
            queue,
            name: format!("{}-{}-{queue}", hostname(), std::process::id()),
            slots: 1,
            batch: 1,
            lease: Duration::from_secs(60),
            idle: Duration::from_secs(1),
        }
    }
}

/// One queue's worker: claims, heartbeats, settles; `H` does the work.
pub struct Worker<H> {
    pub store: Store,
    pub handler: Arc<H>,
    pub config: WorkerConfig,
}

impl<H: Handler> Worker<H> {
    /// Runs until `stop` turns true; the claims in hand are finished
    /// first (their handler decides what it gives back).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let Worker {
            store,
            handler,
            config,
        } = self;
        let config = Arc::new(config);
        let (wake_tx, mut wake) = watch::channel(0u64);
        let listener = tokio::spawn(listen(store.clone(), config.queue, wake_tx, stop.clone()));
        let batch = config.batch.max(1);
        let slots = Arc::new(tokio::sync::Semaphore::new(config.slots.max(1)));
        let mut running = tokio::task::JoinSet::new();
        while !*stop.borrow() {
            // Seen before the claim: a notification after it wakes us.
            wake.borrow_and_update();
            while running.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            // A free slot claims at once, without waiting for the rest.
            let limit = i64::try_from(free).unwrap_or(1).saturating_mul(batch);
            let started = Instant::now();
            let claimed = store
                .claim(config.queue, &config.name, limit, config.lease)
                .await;
            handler.claimed(started.elapsed());
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(queue = config.queue, worker = %config.name, %error, "claim failed");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                // Until the next job is due (a retry, a delayed step), at
                // most `idle`, or a notification.
                let idle = store.idle_for(config.queue, config.idle).await;
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = running.join_next(), if !running.is_empty() => {}
                    _ = tokio::time::sleep(idle) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            let size = usize::try_from(batch).unwrap_or(1);
            for chunk in jobs.chunks(size) {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    // Claimed no more than the free slots hold; were it
                    // otherwise, the rest goes back to the queue.
                    let rest: Vec<i64> = chunk.iter().map(|j| j.id).collect();
                    let _ = store.release(&config.name, &rest).await;
                    continue;
                };
                let (store, handler, config) = (store.clone(), handler.clone(), config.clone());
                let (chunk, stop) = (chunk.to_vec(), stop.clone());
                running.spawn(async move {
                    work(&store, &*handler, &config, &chunk, &stop).await;
                    drop(permit);
                });
            }
        }
        while running.join_next().await.is_some() {}
        listener.abort();
    }
}

/// Hands `jobs` to the handler, renewing their leases meanwhile, then
/// settles each as the handler said.
async fn work<H: Handler>(
    store: &Store,
    handler: &H,
    config: &WorkerConfig,
    jobs: &[Job],
    stop: &watch::Receiver<bool>,
) {
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let handled = handler.handle(jobs, &config.name, stop);
    tokio::pin!(handled);
    let mut heartbeat = tokio::time::interval(config.lease / 3);
    heartbeat.tick().await;
    let settled = loop {
        tokio::select! {
            settled = &mut handled => break settled,
            _ = heartbeat.tick() => {
                let _ = store.heartbeat(&config.name, &ids, config.lease).await;
            }
        }
    };
    for (id, settle) in settled {
        let Some(job) = jobs.iter().find(|j| j.id == id) else {
            continue;
        };
        match settle {
            Settle::Done => {
                if let Err(error) = store.complete(job, &config.name).await {
                    tracing::warn!(queue = config.queue, job = job.id, %error, "cannot complete the job");
                }
            }
            Settle::Failed { error, backoff } => {
                fail(store, handler, config, job, &error, backoff).await;
            }
            Settle::LostLease => handler.lost_lease(job),
            Settle::Completed | Settle::Released => {}
        }
    }
}

/// Records that `job` failed: retried after a backoff, or buried.
async fn fail<H: Handler>(
    store: &Store,
    handler: &H,
    config: &WorkerConfig,
    job: &Job,
    error: &str,
    backoff: Duration,
) {
    match store.fail(job, &config.name, error, backoff).await {
        Ok(Failed::Retry(wait)) => handler.retrying(job, wait, error),
        Ok(Failed::Dead) => handler.buried(job, error).await,
        Ok(Failed::LostLease) => handler.lost_lease(job),
        // The lease runs out and the job is claimed again.
        Err(e) => {
            tracing::warn!(queue = config.queue, job = job.id, error = %e, "cannot record the job's failure")
        }
    }
}

/// Turns `NOTIFY kradle_jobs` for `queue` into wake-ups, reconnecting
/// when the connection drops.
pub async fn listen(
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
