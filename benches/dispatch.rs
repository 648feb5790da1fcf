//! Load test of agent dispatch in `kradle serve`, against the real binary
//! and a fake Kubernetes API (over HTTP, as for the tests).
//!
//! Posts N signed Gitea `issue_comment` deliveries (each a unique delivery
//! and comment) that acme's `fix-on-comment` rule matches, as fast as 64
//! connections take them, then waits until every run has its Job. Reports
//! the dispatch rate (runs with a Job per second, from the first delivery
//! to the last Job create) and the latency from a delivery's commit
//! (`received_at`) to its Job's create request.
//!
//! `cargo bench --bench dispatch -- --events 1000 --workers 2 [--rate R]`
//! (PostgreSQL must be up). With `--rate`, deliveries are sent at R per
//! second (open loop) instead of as fast as they are taken, to see the
//! latency below saturation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::fake_kube::FakeKube;

const SECRET: &str = "acme-api-hook-secret";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events = support::bench_arg("--events", 1000).max(1);
    let workers = support::bench_arg("--workers", 2);
    let rate = support::bench_arg("--rate", 0);
    let db = support::TestDb::new().await;
    let kube = FakeKube::new();
    let kube_url = kube.serve().await;
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), FakeKube::kubeconfig(&kube_url)).unwrap();
    let secrets = support::bench_secrets(SECRET);
    let example = support::upstream::workspace().join("examples/acme-platform");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--job-poll-ms",
            "600000",
            "--workers",
        ])
        .arg(workers.to_string())
        .arg("--secrets")
        .arg(secrets.path())
        .arg(&example)
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KUBECONFIG", kubeconfig.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = support::listening_url(&mut child);
    let endpoint = format!("{url}/webhooks/gitea/acme/api-events");

    let requests: Vec<(String, Vec<u8>, String)> = (0..events)
        .map(|i| {
            let body = serde_json::to_vec(&serde_json::json!({
                "action": "created",
                "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
                "issue": { "id": 40 + i, "number": 4 + i, "title": "Flaky", "state": "open",
                           "user": { "login": "alice" }, "labels": [], "assignees": null,
                           "pull_request": null, "updated_at": "2026-01-02T10:00:00Z" },
                "comment": { "id": i + 1, "body": "/kradle fix it", "user": { "login": "grace" },
                             "updated_at": "2026-01-02T10:00:00Z" },
                "sender": { "login": "grace", "username": "grace" },
                "is_pull": false,
            }))
            .unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(&body);
            (
                format!("dispatch-{i}"),
                body,
                hex::encode(mac.finalize().into_bytes()),
            )
        })
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let start = Instant::now();
    let wall_start = chrono::Utc::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for (i, (id, body, signature)) in requests.into_iter().enumerate() {
        if rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let status = client
                .post(&endpoint)
                .header("x-gitea-event", "issue_comment")
                .header("x-gitea-delivery", id)
                .header("x-gitea-signature", signature)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            drop(permit);
            status
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() == 202 {
            accepted += 1;
        }
    }
    let sent = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while kube.state.lock().unwrap().job_created.len() < accepted {
        assert!(
            Instant::now() < deadline,
            "not every run got its Job in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let created = kube.state.lock().unwrap().job_created.clone();
    let last = created.iter().map(|(_, t)| *t).max().unwrap();
    let span = (last - wall_start).to_std().unwrap();

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let committed: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT 'agent-' || r.name || '-1', d.received_at
           FROM kradle_dispatch_runs r
           JOIN kradle_trigger_executions x ON x.id = r.execution
           JOIN kradle_webhook_deliveries d ON d.id = x.delivery",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_dispatch_runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let _ = child.kill();
    let _ = child.wait();
    let committed: HashMap<String, chrono::DateTime<chrono::Utc>> = committed.into_iter().collect();
    let mut latencies: Vec<Duration> = created
        .iter()
        .filter_map(|(job, at)| Some((*at - *committed.get(job)?).to_std().unwrap_or_default()))
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "dispatch: {events} matching deliveries ({workers} sync workers, rate {}), {accepted} accepted in {:.2} s",
        if rate > 0 {
            format!("{rate}/s")
        } else {
            "unlimited".into()
        },
        sent.as_secs_f64()
    );
    println!(
        "runs: {runs}; Jobs created: {}; all Jobs {:.2} s after the first delivery: {:.0} runs/s",
        created.len(),
        span.as_secs_f64(),
        created.len() as f64 / span.as_secs_f64()
    );
    println!(
        "delivery commit to Job create: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.90).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    assert_eq!(runs as usize, accepted, "one run per matching delivery");
    assert_eq!(created.len(), accepted, "one Job per run");
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
}
