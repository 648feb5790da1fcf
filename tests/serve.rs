//! `kradle serve` from the command line: the bundled example's receivers,
//! webhooks signed and posted as GitHub and Gitea post them, every answer
//! checked against what PostgreSQL then holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../runtime/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::TestDb;
use support::upstream::workspace;

const GITHUB_SECRET: &str = "globex-webhook-secret-never-logged";
const GITEA_SECRET: &str = "acme-api-hook-secret-never-logged";

struct Server {
    child: Child,
    url: String,
    /// stderr lines after `listening on`.
    lines: mpsc::Receiver<String>,
    db: TestDb,
    _secrets: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example() -> PathBuf {
    workspace().join("examples/acme-platform")
}

async fn start() -> Server {
    start_on(&example()).await
}

async fn start_on(config: &std::path::Path) -> Server {
    let db = TestDb::new().await;
    let secrets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets.path(),
        format!(
            "kradle-org-globex/github-app:\n  webhook-secret: {GITHUB_SECRET}\n\
             kradle-org-globex/doomsday-webhook:\n  hmac: unused\n\
             kradle-org-acme/api-webhook:\n  hmac: {GITEA_SECRET}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--secrets"])
        .arg(secrets.path())
        .arg(config)
        .env("KRADLE_DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = wait_for(&lines, "listening on ");
    let url = line.split("listening on ").nth(1).unwrap();
    let url = url.split_whitespace().next().unwrap().to_string();
    Server {
        child,
        url,
        lines,
        db,
        _secrets: secrets,
    }
}

/// The next stderr line holding `text`, waiting up to a deadline.
fn wait_for(lines: &mpsc::Receiver<String>, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("kradle serve never said `{text}`"));
        if line.contains(text) {
            return line;
        }
    }
}

fn signal(server: &Server, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A GitHub delivery: (event, delivery id, body), signed with `secret`.
async fn github(
    server: &Server,
    binding: &str,
    event: &str,
    id: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/webhooks/github/globex/{binding}", server.url))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", id)
        .header(
            "x-hub-signature-256",
            format!("sha256={}", sign(secret, body)),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

/// A Gitea `issues` delivery to subscription `subscription` of `acme`,
/// signed with `secret`.
async fn gitea(
    server: &Server,
    subscription: &str,
    id: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/webhooks/gitea/acme/{subscription}", server.url))
        .header("x-gitea-event", "issues")
        .header("x-gitea-delivery", id)
        .header("x-gitea-signature", sign(secret, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

async fn rows(db: &TestDb, table: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let n = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_github_example_is_stored_once() {
    let server = start().await;
    let dir = workspace().join("../shared/upstream/github/webhook-examples");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    assert_eq!(examples.len(), 53);
    for round in ["first", "again"] {
        for (i, path) in examples.iter().enumerate() {
            let body = std::fs::read(path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let event = name.split('.').next().unwrap();
            let status = github(
                &server,
                "github-doomsday",
                event,
                &format!("d-{i}"),
                &body,
                GITHUB_SECRET,
            )
            .await;
            let expected = if round == "first" { 202 } else { 200 };
            assert_eq!(status.as_u16(), expected, "{round}: {name}");
        }
    }
    assert_eq!(rows(&server.db, "kradle_webhook_deliveries").await, 53);
    assert_eq!(rows(&server.db, "kradle_jobs").await, 53);
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let (event, action, org, receiver): (String, Option<String>, String, String) = sqlx::query_as(
        "SELECT event, action, org, receiver FROM kradle_webhook_deliveries
         WHERE payload -> 'issue' ->> 'number' IS NOT NULL AND action = 'opened'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (
            event.as_str(),
            action.as_deref(),
            org.as_str(),
            receiver.as_str()
        ),
        ("issues", Some("opened"), "globex", "github-doomsday")
    );
    // A comment on an issue is ordered with the issue: its key is one of
    // the issues' keys.
    let keys = |event: &'static str| {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT j.key FROM kradle_jobs j JOIN kradle_webhook_deliveries d
               ON d.id = (j.payload ->> 'delivery')::bigint
             WHERE d.event = $1",
        )
        .bind(event)
        .fetch_all(&pool)
    };
    let issues = keys("issues").await.unwrap();
    let comments = keys("issue_comment").await.unwrap();
    assert!(!comments.is_empty());
    for key in &comments {
        assert!(
            key.contains('#') && issues.contains(key),
            "{key} not in {issues:?}"
        );
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_verified_is_refused_and_not_stored() {
    let server = start().await;
    let body =
        br#"{"action":"opened","issue":{"number":3},"repository":{"full_name":"globex/doomsday"}}"#;
    let status = |s: reqwest::StatusCode| s.as_u16();
    let hook = "github-doomsday";

    // Signed with another secret, or not at all.
    assert_eq!(
        status(github(&server, hook, "issues", "a", body, "guess").await),
        401
    );
    let unsigned = reqwest::Client::new()
        .post(format!("{}/webhooks/github/globex/{hook}", server.url))
        .header("x-github-event", "issues")
        .header("x-github-delivery", "b")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    // Unknown receivers.
    assert_eq!(
        status(github(&server, "nope", "issues", "c", body, GITHUB_SECRET).await),
        404
    );
    // Signed, but not a delivery.
    assert_eq!(
        status(github(&server, hook, "", "d", body, GITHUB_SECRET).await),
        400
    );
    assert_eq!(
        status(github(&server, hook, "issues", "e", b"not json", GITHUB_SECRET).await),
        400
    );
    // Too big: refused before it is read whole.
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    assert_eq!(
        status(github(&server, hook, "issues", "f", &huge, GITHUB_SECRET).await),
        413
    );
    assert_eq!(rows(&server.db, "kradle_webhook_deliveries").await, 0);

    // Stored: a JSON delivery, a form-encoded one, and Gitea's.
    assert_eq!(
        status(github(&server, hook, "issues", "g", body, GITHUB_SECRET).await),
        202
    );
    // The same id with another body is not a redelivery.
    let other = br#"{"action":"closed","issue":{"number":3}}"#;
    assert_eq!(
        status(github(&server, hook, "issues", "g", other, GITHUB_SECRET).await),
        409
    );
    let form = format!(
        "payload={}",
        form_encode(std::str::from_utf8(body).unwrap())
    );
    let posted = reqwest::Client::new()
        .post(format!("{}/webhooks/github/globex/{hook}", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "h")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", sign(GITHUB_SECRET, form.as_bytes())),
        )
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 202);
    let id = "6f1c1a7e-0000-4000-8000-000000000001";
    let wrong = gitea(&server, "api-events", id, body, GITHUB_SECRET).await;
    assert_eq!(wrong.as_u16(), 401);
    let right = gitea(&server, "api-events", id, body, GITEA_SECRET).await;
    assert_eq!(right.as_u16(), 202);
    assert_eq!(rows(&server.db, "kradle_webhook_deliveries").await, 3);
    assert_eq!(rows(&server.db, "kradle_jobs").await, 3);
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let number: Option<String> = sqlx::query_scalar(
        "SELECT payload -> 'issue' ->> 'number' FROM kradle_webhook_deliveries WHERE delivery_id = 'h'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        number.as_deref(),
        Some("3"),
        "the form's payload is stored as JSON"
    );
    pool.close().await;
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_away_deliveries_get_503_then_are_taken_again() {
    let server = start().await;
    let body = br#"{"action":"opened","issue":{"number":4}}"#;
    let hook = "github-doomsday";
    assert_eq!(
        github(&server, hook, "issues", "1", body, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );

    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let name = &server.db.name;
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(
        github(&server, hook, "issues", "2", body, GITHUB_SECRET)
            .await
            .as_u16(),
        503
    );
    let ready = reqwest::get(format!("{}/readyz", server.url))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    // The forge retries the same delivery: now it is stored, once.
    assert_eq!(
        github(&server, hook, "issues", "2", body, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    assert_eq!(rows(&server.db, "kradle_webhook_deliveries").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_then_sigterm_exits_zero_and_no_secret_is_logged() {
    let mut server = start().await;
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = reqwest::get(format!("{}/readyz", server.url))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let bad = github(&server, "github-doomsday", "issues", "x", b"{}", "wrong").await;
    assert_eq!(bad.as_u16(), 401);

    signal(&server, "TERM");
    let child = &mut server.child;
    let mut exit = None;
    assert!(
        support::until("kradle serve to exit", || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        })
        .await
    );
    assert_eq!(exit.unwrap().code(), Some(0));
    let log: Vec<String> = server.lines.try_iter().collect();
    let log = log.join("\n");
    assert!(log.contains("stopped"), "{log}");
    for secret in [GITHUB_SECRET, GITEA_SECRET] {
        assert!(!log.contains(secret), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_config_that_does_not_compile_keeps_the_old_one() {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let server = start_on(config.path()).await;
    let body = br#"{"action":"opened","issue":{"number":5}}"#;
    let extra = config.path().join("orgs/acme/extra-hook.yaml");

    std::fs::write(&extra, "apiVersion: kradle.a5c.ai/v1alpha1\nkind: WebhookSubscription\nmetadata: { name: extra }\nspec: { nonsense: true }\n").unwrap();
    signal(&server, "HUP");
    wait_for(&server.lines, "reload refused: the config does not compile");
    let kept = github(
        &server,
        "github-doomsday",
        "issues",
        "r1",
        body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(kept.as_u16(), 202, "the old receivers still serve");

    std::fs::write(
        &extra,
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: WebhookSubscription\nmetadata: { name: extra }\n\
         spec:\n  repository: api\n  url: https://kradle.acme.example/webhooks/gitea/acme/extra\n\
         \x20 events: [issues]\n  secretRef: { name: api-webhook, key: hmac }\n",
    )
    .unwrap();
    signal(&server, "HUP");
    wait_for(&server.lines, "reloaded:");
    let posted = gitea(&server, "extra", "r2", body, GITEA_SECRET).await;
    assert_eq!(posted.as_u16(), 202);
}
