//! The job queue on a real PostgreSQL: batches, per-key order, leases that
//! expire, backoff, dead letters, and concurrent workers that never share a
//! job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::collections::BTreeSet;
use std::time::Duration;

use kradle_runtime::store::{Failed, Job, Store};
use serde_json::json;
use support::TestDb;

const Q: &str = "test";
const LEASE: Duration = Duration::from_secs(60);

async fn queued(store: &Store, keys: &[&str], max_attempts: i32) -> Vec<i64> {
    let mut ids = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        ids.push(
            store
                .enqueue(Q, key, &json!({ "n": i }), max_attempts)
                .await
                .unwrap(),
        );
    }
    ids
}

fn ids(jobs: &[Job]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

/// Polls `probe` until it gives `Some`, up to a deadline.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Claims for `worker` until it gets a job, up to a deadline.
async fn claim_one(store: &Store, worker: &str, lease: Duration) -> Job {
    eventually("a claimable job", || async {
        store.claim(Q, worker, 1, lease).await.unwrap().pop()
    })
    .await
}

#[tokio::test]
async fn workers_claim_in_batches_and_never_the_same_job() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let all = queued(&store, &["a", "b", "c", "d", "e", "f"], 5).await;
    let first = store.claim(Q, "w1", 4, LEASE).await.unwrap();
    let second = store.claim(Q, "w2", 4, LEASE).await.unwrap();
    assert_eq!(ids(&first), all[..4].to_vec());
    assert_eq!(ids(&second), all[4..].to_vec());
    assert!(store.claim(Q, "w3", 4, LEASE).await.unwrap().is_empty());
    assert!(first.iter().all(|j| j.attempts == 1));
    for job in &first {
        assert!(store.complete(job, "w1").await.unwrap());
    }
    // Not w1's: nothing happens.
    assert!(!store.complete(&second[0], "w1").await.unwrap());
    assert_eq!(store.queue_depth(Q).await.unwrap(), 2);
}

#[tokio::test]
async fn jobs_of_one_key_run_in_order_one_at_a_time() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let all = queued(&store, &["issue#1", "issue#1", "issue#2", "issue#1"], 5).await;
    let batch = store.claim(Q, "w1", 10, LEASE).await.unwrap();
    assert_eq!(
        ids(&batch),
        vec![all[0], all[2]],
        "the head of each key only"
    );
    assert!(store.claim(Q, "w2", 10, LEASE).await.unwrap().is_empty());
    // A failed head holds its key back while it waits to be retried.
    let failed = store
        .fail(&batch[0], "w1", "boom", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(matches!(failed, Failed::Retry(_)));
    assert!(store.claim(Q, "w2", 10, LEASE).await.unwrap().is_empty());
    store.complete(&batch[1], "w1").await.unwrap();
    assert!(store.claim(Q, "w2", 10, LEASE).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dead_workers_job_is_claimed_again_when_its_lease_expires() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let all = queued(&store, &["k"], 5).await;
    let short = Duration::from_millis(200);
    let held = store.claim(Q, "dies", 1, short).await.unwrap();
    assert_eq!(ids(&held), all);
    // A heartbeat keeps it; then the worker "dies" and stops beating.
    assert_eq!(store.heartbeat("dies", &all, short).await.unwrap(), 1);
    let again = claim_one(&store, "lives", LEASE).await;
    assert_eq!(again.id, all[0]);
    assert_eq!(again.attempts, 2);
    // The dead worker's late completion does not count; the new one's does.
    assert!(!store.complete(&held[0], "dies").await.unwrap());
    assert_eq!(store.heartbeat("dies", &all, short).await.unwrap(), 0);
    assert!(store.complete(&again, "lives").await.unwrap());
    assert_eq!(store.queue_depth(Q).await.unwrap(), 0);
}

#[tokio::test]
async fn a_job_that_always_fails_becomes_a_dead_letter() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let all = queued(&store, &["poison", "poison"], 3).await;
    let mut outcomes = Vec::new();
    for attempt in 1..=3 {
        let job = claim_one(&store, "w", LEASE).await;
        assert_eq!((job.id, job.attempts), (all[0], attempt));
        outcomes.push(
            store
                .fail(&job, "w", "always", Duration::from_millis(1))
                .await
                .unwrap(),
        );
    }
    assert!(matches!(outcomes[0], Failed::Retry(_)));
    assert!(matches!(outcomes[1], Failed::Retry(_)));
    assert_eq!(outcomes[2], Failed::Dead);
    // The next of its key is free to run.
    let next = claim_one(&store, "w", LEASE).await;
    assert_eq!(next.id, all[1]);

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM kradle_dead_jobs WHERE id = $1")
            .bind(all[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((attempts, error.as_deref()), (3, Some("always")));
    pool.close().await;
}

#[tokio::test]
async fn a_job_whose_worker_died_on_its_last_attempt_is_buried() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let all = queued(&store, &["crashes"], 1).await;
    let short = Duration::from_millis(100);
    store.claim(Q, "dies", 1, short).await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    eventually("the job to be buried", || async {
        assert!(store.claim(Q, "other", 1, LEASE).await.unwrap().is_empty());
        let buried: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_dead_jobs WHERE id = $1")
            .bind(all[0])
            .fetch_one(&pool)
            .await
            .unwrap();
        (buried == 1).then_some(())
    })
    .await;
    assert_eq!(store.queue_depth(Q).await.unwrap(), 0);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_share_the_work_without_overlap() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let keys: Vec<String> = (0..300).map(|i| format!("k{}", i % 50)).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let all: BTreeSet<i64> = queued(&store, &keys, 5).await.into_iter().collect();
    let order = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let order = order.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let mut done = Vec::new();
            loop {
                let batch = store.claim(Q, &name, 7, LEASE).await.unwrap();
                if batch.is_empty() {
                    if store.queue_depth(Q).await.unwrap() == 0 {
                        break;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                // Numbered when claimed: a job of a key can only be claimed
                // once the one before it is complete, so claim order is the
                // order that matters.
                let claimed: Vec<(usize, Job)> = batch
                    .into_iter()
                    .map(|job| (order.fetch_add(1, std::sync::atomic::Ordering::SeqCst), job))
                    .collect();
                for (at, job) in claimed {
                    assert!(store.complete(&job, &name).await.unwrap());
                    done.push((at, job));
                }
            }
            done
        }));
    }
    let mut seen = Vec::new();
    for w in workers {
        seen.extend(w.await.unwrap());
    }
    let unique: BTreeSet<i64> = seen.iter().map(|(_, j)| j.id).collect();
    assert_eq!(seen.len(), all.len(), "each job done exactly once");
    assert_eq!(unique, all);
    assert!(seen.iter().all(|(_, j)| j.attempts == 1));
    // Within a key, jobs were claimed in the order they were queued.
    seen.sort_by_key(|(at, _)| *at);
    let mut last: std::collections::BTreeMap<String, i64> = Default::default();
    for (_, job) in &seen {
        if let Some(before) = last.insert(job.key.clone(), job.id) {
            assert!(before < job.id, "{}: {before} after {}", job.key, job.id);
        }
    }
}

#[tokio::test]
async fn batches_go_in_in_order_and_complete_in_one_statement() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let items: Vec<(String, serde_json::Value)> = (0..5)
        .map(|i| (format!("k{}", i % 2), json!({ "n": i })))
        .collect();
    assert_eq!(store.enqueue_many(Q, &items, 5).await.unwrap(), 5);
    // Keys k0 (jobs 0, 2, 4) and k1 (jobs 1, 3): the heads are jobs 0 and 1.
    let heads = store.claim(Q, "w", 10, LEASE).await.unwrap();
    let n: Vec<i64> = heads
        .iter()
        .map(|j| j.payload["n"].as_i64().unwrap())
        .collect();
    assert_eq!(n, vec![0, 1]);
    // One of them is not w's to complete any more.
    let stolen = &heads[1];
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE kradle_jobs SET locked_by = 'other' WHERE id = $1")
        .bind(stolen.id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let completed = store.complete_many(&heads, "w").await.unwrap();
    assert_eq!(completed, vec![heads[0].id]);
    let next = store.claim(Q, "w", 10, LEASE).await.unwrap();
    let n: Vec<i64> = next
        .iter()
        .map(|j| j.payload["n"].as_i64().unwrap())
        .collect();
    assert_eq!(n, vec![2], "k0 moves on; k1 is still held by `other`");
}

/// A worker that found nothing sleeps until the earliest job enqueued for
/// later is due, not a fixed poll: a job due in 150 ms is not left waiting
/// a second (a sub-second `--job-poll-ms` keeps its meaning).
#[tokio::test]
async fn an_idle_worker_sleeps_until_the_next_job_is_due_not_longer() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let max = Duration::from_secs(1);
    // Nothing queued: the longest sleep.
    assert_eq!(store.idle_for(Q, max).await, max);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    queued(&store, &["later"], 3).await;
    sqlx::query("UPDATE kradle_jobs SET run_at = now() + interval '150 milliseconds'")
        .execute(&pool)
        .await
        .unwrap();
    let idle = store.idle_for(Q, max).await;
    assert!(
        idle > Duration::ZERO && idle <= Duration::from_millis(150),
        "{idle:?}"
    );
    // Due in an hour: no longer than the most a worker sleeps.
    sqlx::query("UPDATE kradle_jobs SET run_at = now() + interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(store.idle_for(Q, max).await, max);
    // Another queue's job is none of this worker's business.
    assert_eq!(store.idle_for("other", max).await, max);
    pool.close().await;
}
