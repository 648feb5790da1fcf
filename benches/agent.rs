//! Load test of the agent loop in `kradle serve`, against the real binary,
//! a fake Kubernetes API and a fake Gitea (over HTTP, as for the tests).
//!
//! Posts N signed Gitea `issue_comment` deliveries that acme's
//! `fix-on-comment` rule matches, each on its own issue. For each run, as
//! soon as its Job is there, an "agent" (a task here, with the run's token
//! from its Secret) asks the agent API for a comment on its issue and
//! reports success. Reports the loop's rate (runs whose comment reached
//! Gitea per second, from the first delivery to the last comment) and the
//! latency of one write, from its record to its send.
//!
//! `cargo bench --bench agent -- --events 300 --workers 2`
//! (PostgreSQL must be up). The fixer stack's `approvalMode` is removed,
//! so writes go without waiting for a person.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::fake_gitea::FakeGitea;
use support::fake_kube::FakeKube;

const SECRET: &str = "acme-api-hook-secret";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events = support::bench_arg("--events", 300).max(1);
    let workers = support::bench_arg("--workers", 2);
    let db = support::TestDb::new().await;
    let kube = FakeKube::new();
    let kube_url = kube.serve().await;
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), FakeKube::kubeconfig(&kube_url)).unwrap();
    let gitea = FakeGitea::start(support::upstream::Api::gitea()).await;
    for i in 0..events {
        let issue = serde_json::json!({
            "id": 40 + i, "number": 4 + i, "title": "Flaky", "state": "open",
            "user": { "login": "alice" }, "labels": [], "assignees": [],
            "updated_at": "2026-01-02T10:00:00Z",
        });
        gitea.issue("acme", "api", issue, &[]);
    }
    let secrets = support::bench_secrets(SECRET);
    let config = tempfile::tempdir().unwrap();
    let example = support::upstream::workspace().join("examples/acme-platform");
    support::copy_dir(&example, config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let text = std::fs::read_to_string(&agents).unwrap();
    std::fs::write(&agents, text.replace("  approvalMode: write-back\n", "")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--job-poll-ms",
            "600000",
            "--gitea-url",
            &gitea.url,
            "--workers",
        ])
        .arg(workers.to_string())
        .arg("--secrets")
        .arg(secrets.path())
        .arg(config.path())
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KRADLE_GITEA_TOKEN", "fake-gitea-admin-token")
        .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1")
        .env("KUBECONFIG", kubeconfig.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = support::listening_url(&mut child);
    let endpoint = format!("{url}/webhooks/gitea/acme/api-events");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    let start = Instant::now();
    // The deliveries, 64 at a time.
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut posts = Vec::new();
    for i in 0..events {
        let body = serde_json::to_vec(&serde_json::json!({
            "action": "created",
            "repository": { "id": 3, "name": "api", "full_name": "acme/api",
                            "default_branch": "main" },
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
        let signature = hex::encode(mac.finalize().into_bytes());
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let (client, endpoint) = (client.clone(), endpoint.clone());
        posts.push(tokio::spawn(async move {
            let status = client
                .post(&endpoint)
                .header("x-gitea-event", "issue_comment")
                .header("x-gitea-delivery", format!("agent-{i}"))
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
    for p in posts {
        assert_eq!(p.await.unwrap(), 202);
    }

    // The agents: each Job's, once it is there.
    let namespace = kradle_compiler::model::org_namespace("acme");
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut agents = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while started.len() < events as usize {
        assert!(Instant::now() < deadline, "not every run got its Job");
        let jobs = kube.names("jobs");
        for job in jobs {
            if !started.insert(job.clone()) {
                continue;
            }
            let Some(token) = kube.token(&namespace, &job) else {
                started.remove(&job);
                continue;
            };
            let run = job
                .strip_prefix("agent-")
                .and_then(|j| j.strip_suffix("-1"))
                .unwrap()
                .to_string();
            let base = format!("{url}/api/orgs/acme/agents/runs/{run}");
            let client = client.clone();
            agents.push(tokio::spawn(async move {
                let write = client
                    .post(format!("{base}/writes"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "key": "c", "op": "comment",
                                               "body": "Opened a pull request for this." }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                let done = client
                    .post(format!("{base}/callback"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "phase": "Succeeded" }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                (write, done)
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for a in agents {
        assert_eq!(a.await.unwrap(), (202, 200));
    }
    // Every comment on Gitea.
    while gitea.with(|w| w.comments_of("acme", "api").len()) < events as usize {
        assert!(Instant::now() < deadline, "not every comment reached Gitea");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let span = start.elapsed();

    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut sends: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM updated_at - created_at)::float8
           FROM kradle_write_intents WHERE run IS NOT NULL AND phase = 'Succeeded'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let _ = child.kill();
    let _ = child.wait();
    sends.sort_by(f64::total_cmp);
    let at = |q: f64| sends[((sends.len() as f64 * q) as usize).min(sends.len() - 1)];
    println!(
        "agent loop: {events} runs ({workers} sync workers): delivery, run, Job, agent write, comment on Gitea, callback"
    );
    println!(
        "all comments on Gitea {:.2} s after the first delivery: {:.0} runs/s",
        span.as_secs_f64(),
        events as f64 / span.as_secs_f64()
    );
    println!(
        "write recorded to sent: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.50) * 1e3,
        at(0.90) * 1e3,
        at(0.99) * 1e3,
        sends.last().copied().unwrap_or_default() * 1e3
    );
    assert_eq!(sends.len(), events as usize, "one write per run");
    assert_eq!(
        gitea.with(|w| w.comments_of("acme", "api").len()),
        events as usize,
        "one comment per run"
    );
    assert!(gitea.with(|w| w.violations.is_empty()));
}
