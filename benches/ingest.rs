//! Load test of `kradle serve` webhook ingest, against the real binary.
//!
//! Starts `kradle serve` on the bundled example with a fresh database,
//! then posts signed GitHub `issues` deliveries, each with a unique
//! delivery id, at a fixed rate (open loop: a request's latency counts from
//! when it was due, so a stall is not hidden by sending less). At the end
//! it checks that every 2xx has its row, and times the workers draining
//! the backlog.
//!
//! `cargo bench --bench ingest -- --rate 500 --seconds 30 --workers 2`
//! (PostgreSQL must be up). A tool such as `oha` cannot be used as is:
//! every delivery needs its own id, and a repeated id is a redelivery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "globex-webhook-secret-never-logged";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rate = support::bench_arg("--rate", 500).max(1);
    let seconds = support::bench_arg("--seconds", 30).max(1);
    let workers = support::bench_arg("--workers", 2);
    let db = support::TestDb::new().await;
    let secrets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets.path(),
        format!(
            "kradle-org-globex/github-app:\n  webhook-secret: {SECRET}\n\
             kradle-org-globex/doomsday-webhook:\n  hmac: unused\n\
             kradle-org-acme/api-webhook:\n  hmac: unused\n"
        ),
    )
    .unwrap();
    let example = support::upstream::workspace().join("examples/acme-platform");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--workers"])
        .arg(workers.to_string())
        .arg("--secrets")
        .arg(secrets.path())
        .arg(&example)
        .env("KRADLE_DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("kradle serve stopped").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let endpoint = format!("{url}/webhooks/github/globex/github-doomsday");

    let template: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            support::upstream::workspace()
                .join("../shared/upstream/github/webhook-examples/issues.opened.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let total = rate * seconds;
    // Bodies are made and signed before the clock starts.
    let requests: Vec<(String, Vec<u8>, String)> = (0..total)
        .map(|i| {
            let mut body = template.clone();
            body["issue"]["number"] = (i % 1000 + 1).into();
            body["issue"]["title"] = format!("load {i}").into();
            let body = serde_json::to_vec(&body).unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(&body);
            let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            (format!("load-{i}"), body, signature)
        })
        .collect();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    for (i, (id, body, signature)) in requests.into_iter().enumerate() {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let client = client.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let sent = client
                .post(&endpoint)
                .header("content-type", "application/json")
                .header("x-github-event", "issues")
                .header("x-github-delivery", id)
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
            (status, due.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut accepted = 0u64;
    let mut failed = 0u64;
    for task in tasks {
        let (status, latency) = task.await.unwrap();
        latencies.push(latency);
        if (200..300).contains(&status) {
            accepted += 1;
        } else {
            failed += 1;
        }
    }
    let sending = start.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_webhook_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    let backlog: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    let draining = Instant::now();
    let drained = loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break draining.elapsed();
        }
        if draining.elapsed() > Duration::from_secs(600) {
            panic!("the backlog did not drain in 10 minutes: {left} left");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kradle_webhook_deliveries WHERE outcome = 'processed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let _ = child.kill();
    let _ = child.wait();

    println!(
        "ingest: {total} deliveries at {rate}/s for {seconds} s ({workers} workers), sent in {:.1} s",
        sending.as_secs_f64()
    );
    println!(
        "latency from due time: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.90).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "answers: {accepted} 2xx, {failed} other; rows stored: {stored}; lost (2xx without a row): {}",
        accepted.saturating_sub(u64::try_from(stored).unwrap_or(0))
    );
    println!(
        "backlog when sending stopped: {backlog} jobs; drained in {:.2} s; processed: {processed}",
        drained.as_secs_f64()
    );
    assert_eq!(
        u64::try_from(stored).unwrap(),
        accepted,
        "every 2xx has its row, and nothing else is stored"
    );
}
