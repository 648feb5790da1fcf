//! `kradle serve`, assembled: what runs besides HTTP is started here, from
//! a [`Loops`] the CLI fills from its flags, and drained here on stop. The
//! CLI maps flags; it does not know which loop needs which piece.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::jobs::KubeJobs;
use crate::dispatch::memory::MemoryGit;
use crate::dispatch::mux::AgentMux;
use crate::forge::github::GitHub;
use crate::loops::{backfill, dispatch, schedule, sync, writeback};
use crate::serve::AppState;

/// What the loops of `kradle serve` need besides the server's state.
pub struct Loops {
    /// Sync workers; 0 runs no loop at all (HTTP only: deliveries are
    /// recorded and wait).
    pub workers: usize,
    /// How long a claimed job is a worker's.
    pub lease: Duration,
    /// How often a Running run's Job is looked at.
    pub poll: Duration,
    /// The base URL agents call back.
    pub callback_base: String,
    /// Where attempts run as Jobs; without it they wait in Queued.
    pub executor: Option<Arc<KubeJobs>>,
    /// How memory repositories are read.
    pub memory: Option<MemoryGit>,
    /// Where write-backs go, per (org, backend).
    pub writeback: writeback::Targets,
    /// The GitHub bindings listed for what webhooks missed.
    pub backfill: Vec<(backfill::Target, GitHub)>,
}

/// Runs advanced at once by the dispatch worker.
const DISPATCH_CONCURRENCY: usize = 16;

/// The loops, running until `stop` turns true.
pub struct Running {
    /// In the order they are drained: the scheduler first (it hands its
    /// lead to another replica at once), then dispatch, write-back and
    /// sync, each finishing the job in hand.
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// Starts the loops `loops` asks for, on `state`'s store, stats and shared
/// config (swapped on SIGHUP).
pub fn start(state: &AppState, loops: Loops, stop: &watch::Receiver<bool>) -> Running {
    let mut tasks = Vec::new();
    for (target, client) in loops.backfill {
        // Stopped with the process: a pass in hand is recorded per item.
        tokio::spawn(backfill::run(
            state.store().clone(),
            client,
            target,
            stop.clone(),
        ));
    }
    if loops.workers == 0 {
        return Running { tasks };
    }
    tasks.push((
        "scheduler",
        tokio::spawn(schedule::run(
            state.store().clone(),
            state.triggers(),
            stop.clone(),
        )),
    ));
    let dispatcher = dispatch::Dispatcher {
        store: state.store().clone(),
        catalog: state.catalog(),
        executor: loops.executor,
        mux: Arc::new(AgentMux::new()),
        memory: loops.memory,
        callback_base: loops.callback_base,
        poll: loops.poll,
        lease: loops.lease,
        concurrency: DISPATCH_CONCURRENCY,
        stats: state.dispatch_stats(),
    };
    tasks.push((
        "dispatch",
        tokio::spawn(dispatch::run(dispatcher, stop.clone())),
    ));
    tasks.push((
        "write-back",
        tokio::spawn(writeback::run(
            state.store().clone(),
            Arc::new(loops.writeback),
            loops.lease,
            state.writeback_stats(),
            stop.clone(),
        )),
    ));
    let config = sync::SyncConfig {
        workers: loops.workers,
        lease: loops.lease,
        ..sync::SyncConfig::default()
    };
    tasks.push((
        "sync",
        tokio::spawn(sync::run(
            state.store().clone(),
            config,
            state.worker_stats(),
            state.triggers(),
            stop.clone(),
        )),
    ));
    Running { tasks }
}

impl Running {
    /// Waits for each loop to finish what it holds, at most `deadline`
    /// each; a loop past it leaves its leases to expire.
    pub async fn drain(self, deadline: Duration) {
        for (name, task) in self.tasks {
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::warn!(
                    loop_name = name,
                    "the loop did not stop in time; its leases will expire"
                );
            }
        }
    }
}
