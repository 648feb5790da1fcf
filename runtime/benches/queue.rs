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

#[path = "../tests/support/mod.rs"]
mod support;

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
    let windows: Vec<String> = windows.lock().unwrap().iter().map(u64::to_string).collect();
    if !windows.is_empty() {
        println!(
            "  completions per second, per 5 s window: {}",
            windows.join(" → ")
        );
    }
}
