//! Drain benchmark of the job queue, in the method of
//! `../shared/bench/queue` (README, sections 2–4): enqueue N no-op jobs in
//! batches of 1,000, `VACUUM ANALYZE`, then time workers until every job
//! is recorded complete (the queue table is empty). Also prints the claim
//! rate per 5-second window, to show whether it decays.
//!
//! `cargo bench -p kradle-runtime --bench queue` (PostgreSQL must be up).
//! Options: `-- --jobs N --workers N --batch N --keys N` (`--keys 0`: a key
//! per job, as the peers have none).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;

const Q: &str = "bench";

fn arg(name: &str, default: usize) -> usize {
    usize::try_from(support::bench_arg(name, default as u64)).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs = arg("--jobs", 100_000);
    let workers = arg("--workers", 4);
    let batch = arg("--batch", 100);
    let keys = arg("--keys", 0);
    let db = support::TestDb::new().await;
    let store = db.store().await;

    let started = Instant::now();
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<(String, serde_json::Value)> = chunk
            .iter()
            .map(|i| {
                let key = if keys == 0 {
                    i.to_string()
                } else {
                    (i % keys).to_string()
                };
                (key, json!({ "n": i }))
            })
            .collect();
        store.enqueue_many(Q, &items, 5).await.unwrap();
    }
    let enqueue = started.elapsed();
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("VACUUM ANALYZE kradle_jobs")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
    let _ = conn.close().await;

    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_snapshot();
    let started = Instant::now();
    let windows = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let (done, windows) = (done.clone(), windows.clone());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = done.load(Ordering::Relaxed);
                windows.lock().unwrap().push((now - last) / 5);
                last = now;
            }
        })
    };
    // The upkeep `kradle serve` runs beside its workers.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let upkeep = (!args_flag("--no-vacuum"))
        .then(|| tokio::spawn(kradle_runtime::loops::sync::vacuum(store.clone(), stop)));
    let mut handles = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        let done = done.clone();
        handles.push(tokio::spawn(async move {
            let name = format!("bench-{w}");
            loop {
                let claimed = store
                    .claim(Q, &name, batch as i64, Duration::from_secs(60))
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    if store.queue_depth(Q).await.unwrap() == 0 {
                        return;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                let completed = store.complete_many(&claimed, &name).await.unwrap();
                done.fetch_add(completed.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let drain = started.elapsed();
    let cpu_after = cpu_snapshot();
    let _ = stop_tx.send(true);
    if let Some(upkeep) = upkeep {
        let _ = upkeep.await;
    }
    sampler.abort();
    let total = done.load(Ordering::Relaxed);
    assert_eq!(total as usize, jobs, "every job completed once");
    println!(
        "queue drain: {jobs} jobs, {workers} workers, batch {batch}, keys {}",
        if keys == 0 {
            "one per job".to_string()
        } else {
            keys.to_string()
        }
    );
    println!(
        "  enqueue {:.0} jobs/s ({:.2} s); drain {:.0} jobs/s ({:.2} s)",
        jobs as f64 / enqueue.as_secs_f64(),
        enqueue.as_secs_f64(),
        jobs as f64 / drain.as_secs_f64(),
        drain.as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // The line ../shared/bench/queue/run_drains.sh collects (EXTRA_CONFIGS).
    println!(
        "{}",
        json!({
            "system": "kradle",
            "jobs": jobs,
            "workers": workers,
            "batch_size": batch,
            "enqueue_s": (enqueue.as_secs_f64() * 1e3).round() / 1e3,
            "enqueue_jobs_per_s": (jobs as f64 / enqueue.as_secs_f64()).round(),
            "drain_s": (drain.as_secs_f64() * 1e3).round() / 1e3,
            "jobs_per_s": (jobs as f64 / drain.as_secs_f64()).round(),
            "client_cpu_s": ((cpu_after.0 - cpu_before.0) * 100.0).round() / 100.0,
            "system_busy_cores": (((cpu_after.1 - cpu_before.1) as f64
                / (cpu_after.2 - cpu_before.2).max(1) as f64)
                * cores
                * 100.0)
                .round()
                / 100.0,
            "remaining_in_queue": store.queue_depth(Q).await.unwrap(),
        })
    );
    let windows: Vec<String> = windows.lock().unwrap().iter().map(u64::to_string).collect();
    if !windows.is_empty() {
        println!(
            "  completions per second, per 5 s window: {}",
            windows.join(" → ")
        );
    }
}

/// (this process's user+system CPU seconds, busy jiffies, total jiffies),
/// from /proc, as the peers' benchmarks take it (getrusage and /proc/stat).
fn cpu_snapshot() -> (f64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field of the line, stime the 15th; both in clock ticks (100/s).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let process = (ticks(11) + ticks(12)) as f64 / 100.0;
    let system = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = system
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (process, total - idle, total)
}

fn args_flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
