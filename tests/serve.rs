//! `kradle serve` from the command line: the bundled example's receivers,
//! webhooks signed and posted as GitHub and Gitea post them, every answer
//! checked against what PostgreSQL then holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../runtime/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::TestDb;
use support::upstream::workspace;

const GITHUB_SECRET: &str = "globex-webhook-secret-never-logged";
const GITEA_SECRET: &str = "acme-api-hook-secret-never-logged";
const MUX_TOKEN: &str = "acme-mux-token-never-logged";

struct Server {
    child: Child,
    url: String,
    /// stderr lines after `listening on`.
    lines: mpsc::Receiver<String>,
    db: Arc<TestDb>,
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

/// The example, served without workers: jobs stay queued, to be counted.
async fn start() -> Server {
    start_with(&example(), &["--workers", "0"]).await
}

async fn start_on(config: &std::path::Path) -> Server {
    start_with(config, &["--workers", "0"]).await
}

async fn start_with(config: &std::path::Path, args: &[&str]) -> Server {
    start_again(Arc::new(TestDb::new().await), config, args).await
}

/// A server on an existing database.
async fn start_again(db: Arc<TestDb>, config: &std::path::Path, args: &[&str]) -> Server {
    start_in(db, config, args, None).await
}

/// A server on an existing database, with the cluster of `kubeconfig`
/// (without one, no cluster: agent runs wait in Queued).
async fn start_in(
    db: Arc<TestDb>,
    config: &std::path::Path,
    args: &[&str],
    kubeconfig: Option<&std::path::Path>,
) -> Server {
    let secrets = secrets_file();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--secrets"])
        .arg(secrets.path())
        .args(args)
        .arg(config)
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KRADLE_GITEA_TOKEN", "fake-gitea-admin-token")
        .env_remove("KRADLE_GITEA_HTTP_URL")
        // The fakes the configs point at (GitHub, the gateway) listen there.
        .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1")
        .env(
            "KUBECONFIG",
            kubeconfig.unwrap_or(std::path::Path::new("/nonexistent/kubeconfig")),
        )
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KRADLE_CALLBACK_URL")
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
    let url = url_after(&wait_for(&lines, "listening on "), "listening on ");
    Server {
        child,
        url,
        lines,
        db,
        _secrets: secrets,
    }
}

/// The example's Secrets, as a `--secrets` file.
fn secrets_file() -> tempfile::NamedTempFile {
    let secrets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets.path(),
        format!(
            "kradle-org-globex/github-app:\n  webhook-secret: {GITHUB_SECRET}\n\
             kradle-org-globex/doomsday-webhook:\n  hmac: unused\n\
             kradle-org-acme/api-webhook:\n  hmac: {GITEA_SECRET}\n\
             kradle-org-globex/github-token:\n  token: {}\n\
             kradle-org-acme/mux-auth:\n  token: {MUX_TOKEN}\n",
            support::fake_github::TOKEN
        ),
    )
    .unwrap();
    secrets
}

/// The URL a log line gives after `marker`: it ends at a space (text) or
/// a quote (JSON).
fn url_after(line: &str, marker: &str) -> String {
    let rest = line.split(marker).nth(1).unwrap();
    rest.chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
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

/// Sends SIGTERM and waits for the exit: its code.
async fn terminated(server: &mut Server) -> Option<i32> {
    signal(server, "TERM");
    let child = &mut server.child;
    let mut exit = None;
    assert!(
        support::until("kradle serve to exit after SIGTERM", || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        })
        .await
    );
    exit.unwrap().code()
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
    gitea_event(server, subscription, "issues", id, body, secret).await
}

/// A Gitea delivery of `event`.
async fn gitea_event(
    server: &Server,
    subscription: &str,
    event: &str,
    id: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/webhooks/gitea/acme/{subscription}", server.url))
        .header("x-gitea-event", event)
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
    let dir = workspace().join("testdata/upstream/github/webhook-examples");
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
    // Too big: refused from its Content-Length, before a byte is read.
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    let head = format!(
        "POST /webhooks/github/globex/{hook} HTTP/1.1\r\nHost: kradle\r\n\
         X-GitHub-Event: issues\r\nX-GitHub-Delivery: f\r\n\
         X-Hub-Signature-256: sha256={}\r\nContent-Length: {}\r\n\r\n",
        sign(GITHUB_SECRET, &huge),
        huge.len()
    );
    let line = answer_to_headers(&server, &head).await;
    assert!(line.starts_with("HTTP/1.1 413 "), "{line}");
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

/// Valid JSON may hold `\u0000`, which PostgreSQL's jsonb refuses: such a
/// delivery is stored with U+FFFD in its place (and said in the log), not
/// answered 503 for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_holding_nul_characters_is_stored_not_lost() {
    let server = start_with(&example(), &[]).await;
    let mut body = example_body("issues.opened");
    body["repository"]["full_name"] = "globex/doomsday".into();
    body["repository"]["name"] = "doomsday".into();
    body["issue"]["number"] = 9.into();
    body["issue"]["title"] = "null\u{0}byte".into();
    body["action"] = "opened".into();
    let body = serde_json::to_vec(&body).unwrap();
    assert!(
        body.windows(6).any(|w| w == b"\\u0000"),
        "the body holds \\u0000"
    );
    let send = || {
        github(
            &server,
            "github-doomsday",
            "issues",
            "nul1",
            &body,
            GITHUB_SECRET,
        )
    };
    assert_eq!(send().await.as_u16(), 202);
    wait_for(&server.lines, "holds NUL characters");
    until_title(&server.db, "Issue", 9, "null\u{fffd}byte").await;
    assert_eq!(rows(&server.db, "kradle_webhook_deliveries").await, 1);
    // Sent again, it is the same delivery.
    assert_eq!(send().await.as_u16(), 200);
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
    // The probe needs no token: it says nothing of the database; the log
    // says why.
    let said = ready.text().await.unwrap();
    assert_eq!(said, "the database does not answer (the log says why)");
    assert!(
        !said.contains(name.as_str()) && !said.contains("5432"),
        "{said}"
    );
    wait_for(&server.lines, "readyz: the database does not answer");

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
    // With its workers running (they stop too), logging JSON lines.
    let mut server = start_with(&example(), &["--log-format", "json"]).await;
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

    assert_eq!(terminated(&mut server).await, Some(0));
    // Everything it logged, up to the end of its stderr.
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match server.lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr never closed"),
        }
    }
    // One JSON object per line, each with a level and a message.
    let messages: Vec<String> = log
        .iter()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(event["level"].is_string(), "{line}");
            event["message"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("draining")),
        "{messages:?}"
    );
    assert_eq!(messages.last().map(String::as_str), Some("stopped"));
    let log = log.join("\n");
    for secret in [GITHUB_SECRET, GITEA_SECRET] {
        assert!(!log.contains(secret), "{log}");
    }
}

/// Writes `head` on a new connection to `server` and returns the status
/// line of the answer, read before any body is sent.
async fn answer_to_headers(server: &Server, head: &str) -> String {
    answer_to(server, head.as_bytes()).await
}

/// Writes `request` whole on a new connection to `server`, then reads the
/// status line of the answer.
async fn answer_to(server: &Server, request: &[u8]) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let addr = server.url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut stream = tokio::io::BufReader::new(stream);
    stream.get_mut().write_all(request).await.unwrap();
    let head = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_line(&mut line))
        .await
        .unwrap_or_else(|_| panic!("no answer before the body to {head:?}"))
        .unwrap();
    line.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_refused_before_its_body_and_a_slow_client_does_not_hold_up_sigterm() {
    let mut server = start_with(&example(), &["--workers", "0", "--shutdown-timeout", "1"]).await;
    let post = |path: &str, extra: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: kradle\r\nContent-Type: application/json\r\n{extra}Content-Length: {length}\r\n\r\n"
        )
    };
    // No receiver, no signature, no token, too big: each answered from the
    // headers alone, the body never sent.
    for (head, status) in [
        (
            post(
                "/webhooks/github/globex/nobody",
                "X-Hub-Signature-256: sha256=00\r\n",
                1000,
            ),
            404,
        ),
        (
            post("/webhooks/github/globex/github-doomsday", "", 1000),
            401,
        ),
        (post("/webhooks/gitea/acme/api-events", "", 1000), 401),
        (post("/api/orgs/acme/agents/dispatch", "", 1000), 401),
        (
            post("/api/orgs/acme/agents/runs/r-1/callback", "", 1000),
            401,
        ),
        (
            post("/webhooks/github/globex/github-doomsday", "", 30 << 20),
            413,
        ),
        (
            post(
                "/api/orgs/acme/agents/runs/r-1/callback",
                "Authorization: Bearer t\r\n",
                2 << 20,
            ),
            413,
        ),
    ] {
        let line = answer_to_headers(&server, &head).await;
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{head:?} → {line}"
        );
    }

    // A forge posting a whole delivery to a wrong address still reads the
    // 404 (hyper reads what has arrived before it closes).
    let size = 200_000;
    let mut wrong = post(
        "/webhooks/gitea/acme/nobody",
        "X-Gitea-Signature: 00\r\n",
        size,
    )
    .into_bytes();
    wrong.extend(std::iter::repeat_n(b' ', size));
    let line = answer_to(&server, &wrong).await;
    assert!(line.starts_with("HTTP/1.1 404 "), "{line}");

    // A signed delivery whose body never finishes keeps its request in
    // flight; SIGTERM still stops the server, past --shutdown-timeout.
    use tokio::io::AsyncWriteExt;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = post(
        "/webhooks/github/globex/github-doomsday",
        "X-GitHub-Event: issues\r\nX-GitHub-Delivery: slow\r\nX-Hub-Signature-256: sha256=00\r\n",
        1000,
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(b"{").await.unwrap();
    // Idle connections too.
    let mut _idle = Vec::new();
    for _ in 0..20 {
        _idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    assert_eq!(terminated(&mut server).await, Some(0));
    assert_eq!(rows(&server.db, "kradle_webhook_deliveries").await, 0);
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
    // The log line says why, as validate would.
    let refused = wait_for(&server.lines, "reload refused: the config does not compile");
    assert!(refused.contains("KR207"), "{refused}");
    assert!(refused.contains("nonsense"), "{refused}");
    assert!(refused.contains("extra-hook.yaml"), "{refused}");
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
    wait_for(&server.lines, "reloaded the config");
    let posted = gitea(&server, "extra", "r2", body, GITEA_SECRET).await;
    assert_eq!(posted.as_u16(), 202);
}

/// `--watch-config`: a config that changes — git-sync swapping its `current`
/// link to a new checkout, or a file edited in place — is reloaded without a
/// signal; one that does not compile is refused and the old one kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_is_reloaded_without_a_signal() {
    let root = tempfile::tempdir().unwrap();
    let v1 = root.path().join("rev-1");
    support::copy_dir(&example(), &v1);
    let current = root.path().join("current");
    std::os::unix::fs::symlink(&v1, &current).unwrap();
    let server = start_with(&current, &["--workers", "0", "--watch-config", "1"]).await;
    let body = br#"{"action":"opened","issue":{"number":5}}"#;
    let refused = gitea(&server, "extra", "r1", body, GITEA_SECRET).await;
    assert_eq!(refused.as_u16(), 404, "no such subscription yet");

    // git-sync: a new checkout, and the link swapped atomically.
    let v2 = root.path().join("rev-2");
    support::copy_dir(&v1, &v2);
    std::fs::write(
        v2.join("orgs/acme/extra-hook.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: WebhookSubscription\nmetadata: { name: extra }\n\
         spec:\n  repository: api\n  url: https://kradle.acme.example/webhooks/gitea/acme/extra\n\
         \x20 events: [issues]\n  secretRef: { name: api-webhook, key: hmac }\n",
    )
    .unwrap();
    let next = root.path().join("next");
    std::os::unix::fs::symlink(&v2, &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    let line = wait_for(&server.lines, "reloaded the config");
    assert!(line.contains("the config changed"), "{line}");
    let posted = gitea(&server, "extra", "r2", body, GITEA_SECRET).await;
    assert_eq!(posted.as_u16(), 202);

    // Edited in place into something that does not compile: refused, kept.
    std::fs::write(
        v2.join("orgs/acme/extra-hook.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: WebhookSubscription\nmetadata: { name: extra }\nspec: { nonsense: true }\n",
    )
    .unwrap();
    wait_for(&server.lines, "reload refused: the config does not compile");
    let kept = gitea(&server, "extra", "r3", body, GITEA_SECRET).await;
    assert_eq!(kept.as_u16(), 202, "the old receivers still serve");
}

// ---------------------------------------------------------------------------
// Sync: the workers turn deliveries into sync events and projections.

/// Waits until every job is done or dead.
async fn drained(db: &TestDb) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never drained: {left} jobs left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
}

fn example_body(name: &str) -> serde_json::Value {
    let path = workspace().join(format!(
        "testdata/upstream/github/webhook-examples/{name}.json"
    ));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The kind each of the spec's twelve GitHub events is about.
fn expected_kind(event: &str, payload: &serde_json::Value) -> &'static str {
    match event {
        // A pull request is an issue too: events about it as one are
        // about the pull request.
        "issues" | "issue_comment" if payload["issue"]["pull_request"].is_object() => "PullRequest",
        "issues" | "issue_comment" => "Issue",
        "pull_request" => "PullRequest",
        "pull_request_review" => "Review",
        "workflow_run" | "check_suite" => "Pipeline",
        "workflow_job" | "check_run" => "Job",
        "push" => "Repository",
        "deployment" | "deployment_status" => "Deployment",
        "label" => "Label",
        other => panic!("an event the spec does not list: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_github_example_is_synced_once_into_valid_projections() {
    let server = start_with(&example(), &[]).await;
    let dir = workspace().join("testdata/upstream/github/webhook-examples");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    let mut expected = std::collections::BTreeMap::new();
    for round in ["first", "again"] {
        for (i, path) in examples.iter().enumerate() {
            let body = std::fs::read(path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let event = name.split('.').next().unwrap().to_string();
            let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = format!("d-{i}");
            expected.insert(id.clone(), (event.clone(), expected_kind(&event, &payload)));
            let status = github(
                &server,
                "github-doomsday",
                &event,
                &id,
                &body,
                GITHUB_SECRET,
            )
            .await;
            assert!(status.is_success(), "{round}: {name}: {status}");
        }
        drained(&server.db).await;
    }

    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    // One sync event per delivery, about the object the spec says.
    let events: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT d.delivery_id, e.event_type, e.resource_kind, e.outcome
           FROM kradle_sync_events e JOIN kradle_webhook_deliveries d ON d.id = e.delivery",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        events.len(),
        53,
        "each delivery once, redeliveries not again"
    );
    for (delivery, event, kind, outcome) in &events {
        let (want_event, want_kind) = &expected[delivery];
        assert_eq!(
            (event, kind.as_str()),
            (want_event, *want_kind),
            "{delivery}"
        );
        let projected = !matches!(kind.as_str(), "Repository" | "Deployment" | "Label");
        match (projected, outcome.as_str()) {
            (true, "applied" | "superseded" | "unmatched") | (false, "recorded") => {}
            other => panic!("{delivery} {event}: {other:?}"),
        }
    }
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kradle_webhook_deliveries WHERE outcome = 'processed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(processed, 53);
    assert_eq!(rows(&server.db, "kradle_dead_jobs").await, 0);

    // /metrics counts the same.
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metric = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        metric("kradle_webhook_deliveries_total{result=\"accepted\"}"),
        53
    );
    assert_eq!(
        metric("kradle_webhook_deliveries_total{result=\"duplicate\"}"),
        53
    );
    assert_eq!(metric("kradle_queue_depth{queue=\"sync\"}"), 0);
    let finished: u64 = ["applied", "superseded", "unmatched", "recorded"]
        .iter()
        .map(|o| metric(&format!("kradle_sync_jobs_total{{outcome=\"{o}\"}}")))
        .sum();
    assert_eq!(finished, 53);
    assert!(
        !metrics.contains("kradle_sync_lag_seconds{"),
        "nothing left unprocessed"
    );

    // Every projection is a valid object of its kind's schema.
    let projections: Vec<(String, String, serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT kind, name, labels, spec FROM kradle_projections")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (kind, name, labels, spec) in &projections {
        let schema_path = workspace().join(format!("schemas/json/{kind}.json"));
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(schema_path).unwrap()).unwrap();
        let object = serde_json::json!({
            "apiVersion": "data.kradle.a5c.ai/v1alpha1",
            "kind": kind,
            "metadata": { "name": name, "namespace": "kradle-org-globex", "labels": labels },
            "spec": spec,
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&object)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{kind} {name}: {errors:?}\n{object:#}");
        kinds.insert(kind.clone());
    }
    let all = ["Issue", "Job", "Pipeline", "PullRequest", "Review"];
    assert_eq!(kinds.iter().map(String::as_str).collect::<Vec<_>>(), all);

    // The workflow run's Pipeline follows the spec's phase mapping, and
    // its job is a Job of that Pipeline.
    let run = example_body("workflow_run.completed");
    let (name, spec, status): (String, serde_json::Value, serde_json::Value) = sqlx::query_as(
        "SELECT name, spec, status FROM kradle_projections WHERE kind = 'Pipeline' AND native_id = $1",
    )
    .bind(format!(
        "{}/runs/{}",
        run["repository"]["full_name"].as_str().unwrap(),
        run["workflow_run"]["id"]
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(spec["ref"], run["workflow_run"]["head_branch"]);
    assert_eq!(spec["trustTier"], "trusted");
    let job = example_body("workflow_job.completed");
    let pipeline: String = sqlx::query_scalar(
        "SELECT spec ->> 'pipeline' FROM kradle_projections WHERE kind = 'Job' AND native_id = $1",
    )
    .bind(format!(
        "{}/jobs/{}",
        job["repository"]["full_name"].as_str().unwrap(),
        job["workflow_job"]["id"]
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        pipeline.ends_with(&format!("-run-{}", job["workflow_job"]["run_id"])),
        "{pipeline} {name}"
    );

    // The watermark is the newest updated_at applied, per kind.
    let watermark: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT watermark FROM kradle_sync_states
          WHERE org = 'globex' AND receiver = 'github-doomsday' AND resource_kind = 'Pipeline'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        watermark.map(|w| w.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        run["workflow_run"]["updated_at"]
            .as_str()
            .map(str::to_string)
    );
    pool.close().await;
}

/// `issues` deliveries about issue 7 of globex/doomsday: `action`, its
/// title and updated_at.
fn issue_event(action: &str, title: &str, updated_at: &str) -> Vec<u8> {
    let mut body = example_body(&format!("issues.{action}"));
    body["repository"]["full_name"] = "globex/doomsday".into();
    body["repository"]["name"] = "doomsday".into();
    body["issue"]["number"] = 7.into();
    body["issue"]["title"] = title.into();
    body["issue"]["updated_at"] = updated_at.into();
    serde_json::to_vec(&body).unwrap()
}

async fn issue_title(db: &TestDb) -> (String, String) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let row = sqlx::query_as(
        "SELECT spec ->> 'title', name FROM kradle_projections
          WHERE kind = 'Issue' AND native_id = 'globex/doomsday/issues/7'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_delivered_before_the_open_is_not_undone_by_it() {
    let server = start_with(&example(), &[]).await;
    let hook = "github-doomsday";
    let edited = issue_event("edited", "Final title", "2026-01-02T10:00:05Z");
    let opened = issue_event("opened", "First title", "2026-01-02T10:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "e", &edited, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;
    assert_eq!(
        github(&server, hook, "issues", "o", &opened, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;

    let (title, name) = issue_title(&server.db).await;
    assert_eq!(title, "Final title");
    assert_eq!(name, "github-doomsday-7");
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let outcomes: Vec<(String, String)> =
        sqlx::query_as("SELECT action, outcome FROM kradle_sync_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let outcomes: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|(a, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(outcomes, [("edited", "applied"), ("opened", "superseded")]);
    let (watermark, applied, superseded): (chrono::DateTime<chrono::Utc>, i64, i64) =
        sqlx::query_as(
            "SELECT watermark, applied, superseded FROM kradle_sync_states WHERE resource_kind = 'Issue'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(watermark.to_rfc3339(), "2026-01-02T10:00:05+00:00");
    assert_eq!((applied, superseded), (1, 1));

    // A newer edit still applies.
    let later = issue_event("edited", "Later title", "2026-01-02T11:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "l", &later, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;
    assert_eq!(issue_title(&server.db).await.0, "Later title");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_leaves_it_to_the_next_which_applies_it_once() {
    let mut first = start_with(&example(), &["--workers", "1", "--job-lease", "1"]).await;
    let db = first.db.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();

    // Hold the projections table, so the worker stops inside its
    // transaction: it has claimed the job and begun applying it.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE kradle_projections IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let body = issue_event("opened", "Survives a crash", "2026-01-02T10:00:00Z");
    let hook = "github-doomsday";
    assert_eq!(
        github(&first, hook, "issues", "k", &body, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'
                AND query LIKE '%kradle_projections%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never reached the job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    blocker.rollback().await.unwrap();

    let held: (i32, Option<String>) = sqlx::query_as("SELECT attempts, locked_by FROM kradle_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held.0, 1, "the dead worker's attempt counts");
    assert!(
        held.1.is_some(),
        "the job is still leased to the dead worker"
    );
    assert_eq!(
        rows(&db, "kradle_projections").await,
        0,
        "nothing half-applied"
    );

    let second = start_again(
        db.clone(),
        &example(),
        &["--workers", "1", "--job-lease", "1"],
    )
    .await;
    drained(&db).await;
    assert_eq!(issue_title(&db).await.0, "Survives a crash");
    assert_eq!(rows(&db, "kradle_sync_events").await, 1);
    assert_eq!(rows(&db, "kradle_dead_jobs").await, 0);
    let outcome: Option<String> =
        sqlx::query_scalar("SELECT outcome FROM kradle_webhook_deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(outcome.as_deref(), Some("processed"));
    drop(second);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_cannot_be_synced_is_a_dead_letter_after_its_retries() {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let globex = config.path().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex).unwrap();
    let policy = "retryPolicy: { maxRetries: 3, backoffMs: 1000 }";
    assert!(text.contains(policy));
    std::fs::write(
        &globex,
        text.replace(policy, "retryPolicy: { maxRetries: 2, backoffMs: 10 }"),
    )
    .unwrap();
    let server = start_with(config.path(), &[]).await;
    let hook = "github-doomsday";

    // Signed and JSON, but an `issues` event without its issue.
    let broken =
        br#"{"action":"opened","repository":{"full_name":"globex/doomsday","name":"doomsday"}}"#;
    assert_eq!(
        github(&server, hook, "issues", "b", broken, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    let fine = issue_event("opened", "Fine", "2026-01-02T10:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "f", &fine, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;

    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM kradle_dead_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 3, "the first try and the policy's 2 retries");
    assert_eq!(error.as_deref(), Some("issues payload without issue"));
    let outcomes: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT delivery_id, outcome FROM kradle_webhook_deliveries ORDER BY delivery_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            ("b".into(), Some("dead".into())),
            ("f".into(), Some("processed".into()))
        ]
    );
    assert_eq!(issue_title(&server.db).await.0, "Fine");

    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_database_refuses_fails_alone_and_folded_names_both_get_one() {
    let queued = start_on(&example()).await; // no workers: the jobs wait
    let db = queued.db.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // A row the database refuses, wherever it comes in a batch.
    sqlx::query(
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.spec ->> 'title' = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF;
           RETURN NEW;
         END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON kradle_projections
         FOR EACH ROW EXECUTE FUNCTION poison()",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Two repositories whose names fold to the same object name
    // (`github-wid-get-1`), another, and the poison.
    for (id, repo, number, title) in [
        ("c1", "wid_get", 1, "first"),
        ("c2", "wid-get", 1, "second"),
        ("c3", "other", 2, "other"),
        ("c4", "other", 3, "poison"),
    ] {
        let mut body = example_body("issues.opened");
        body["repository"]["full_name"] = format!("globex/{repo}").into();
        body["repository"]["name"] = repo.into();
        body["issue"]["number"] = number.into();
        body["issue"]["title"] = title.into();
        let body = serde_json::to_vec(&body).unwrap();
        let status = github(
            &queued,
            "github-doomsday",
            "issues",
            id,
            &body,
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202);
    }
    // One worker claims all four in one batch. The batch fails on the
    // poison; its jobs are redone one by one, so only the poison fails.
    drop(queued);
    let workers = start_again(db.clone(), &example(), &["--workers", "1"]).await;
    drained(&db).await;
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, spec ->> 'title' FROM kradle_projections WHERE kind = 'Issue' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<(&str, &str)> = names
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], ("github-other-2", "other"));
    assert_eq!(names[1], ("github-wid-get-1", "first"));
    // The second keeps its own object, under a name its native id decides.
    let (suffixed, title) = names[2];
    assert_eq!(title, "second");
    let rest = suffixed.strip_prefix("github-wid-get-1-").unwrap();
    assert!(
        rest.len() == 8 && rest.chars().all(|c| c.is_ascii_hexdigit()),
        "{suffixed}"
    );
    let event_names: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT e.resource_name FROM kradle_sync_events e
           JOIN kradle_webhook_deliveries d ON d.id = e.delivery WHERE d.delivery_id = 'c2'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(event_names, [Some(suffixed.to_string())]);
    let dead: Vec<String> = sqlx::query_scalar("SELECT last_error FROM kradle_dead_jobs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("poisoned row"), "{dead:?}");
    drop(workers);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_issues_and_reviews_are_synced_under_githubs_names() {
    let server = start_with(&example(), &[]).await;
    let repo = serde_json::json!({ "id": 3, "name": "api", "full_name": "acme/api" });
    // Gitea's payloads: `pull_request: null` on a plain issue, the review's
    // verdict in the event name.
    let issue = serde_json::json!({
        "action": "label_updated", "number": 4, "repository": repo,
        "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                   "user": { "login": "alice" }, "labels": [{ "name": "bug" }],
                   "assignees": null, "pull_request": null,
                   "updated_at": "2026-01-02T10:00:00Z",
                   "html_url": "https://gitea.acme.example/acme/api/issues/4" }
    });
    let review = serde_json::json!({
        "action": "reviewed", "number": 5, "repository": repo,
        "pull_request": { "id": 50, "number": 5, "title": "Fix it", "state": "open",
                          "user": { "login": "bob" }, "merged": false,
                          "head": { "ref": "fix", "sha": "abc" }, "base": { "ref": "main" },
                          "updated_at": "2026-01-02T11:00:00Z" },
        "review": { "type": "pull_request_review_approved", "content": "LGTM" }
    });
    for (event, id, body) in [
        ("issue_label", "g1", &issue),
        ("pull_request_approved", "g2", &review),
    ] {
        let body = serde_json::to_vec(body).unwrap();
        let status = gitea_event(&server, "api-events", event, id, &body, GITEA_SECRET).await;
        assert_eq!(status.as_u16(), 202, "{event}");
    }
    drained(&server.db).await;
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let rows: Vec<(String, String, serde_json::Value)> =
        sqlx::query_as("SELECT kind, name, spec FROM kradle_projections ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (kind, name, spec) = &rows[0];
    assert_eq!((kind.as_str(), name.as_str()), ("Issue", "gitea-api-4"));
    assert_eq!(spec["labels"], serde_json::json!(["bug"]));
    assert_eq!(spec["organizationRef"], "acme");
    let (kind, name, spec) = &rows[1];
    assert_eq!(kind, "Review");
    assert!(name.starts_with("gitea-api-5-review-"), "{name}");
    assert_eq!(spec["state"], "approved");
    assert_eq!(spec["body"], "LGTM");
    assert_eq!(spec["pullRequest"], "gitea-api-5");
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM kradle_sync_events ORDER BY delivery")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(events, ["issues", "pull_request_review"]);
    pool.close().await;
}

// ---------------------------------------------------------------------------
// The aggregated API.

const API_TOKEN: &str = "reader-token-never-logged";

/// A GET of the API with `token`: (status, JSON body).
async fn api_get(server: &Server, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregated_api_lists_and_gets_what_sync_wrote() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("# readers\n{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(&example(), &["--api-token-file", token_file]).await;
    let hook = "github-doomsday";
    for n in 1..=5u64 {
        let mut body = example_body("issues.opened");
        body["repository"]["full_name"] = "globex/doomsday".into();
        body["repository"]["name"] = if n <= 3 { "doomsday" } else { "other" }.into();
        body["issue"]["number"] = n.into();
        let body = serde_json::to_vec(&body).unwrap();
        let status = github(
            &server,
            hook,
            "issues",
            &format!("i{n}"),
            &body,
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202);
    }
    drained(&server.db).await;
    let base = "/apis/data.kradle.a5c.ai/v1alpha1";
    let ns = format!("{base}/namespaces/kradle-org-globex");

    // Every request needs a token the file holds.
    for token in [None, Some("guess")] {
        let (status, body) = api_get(&server, base, token).await;
        assert_eq!(status, 401);
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "Unauthorized");
    }
    let token = Some(API_TOKEN);
    let (status, discovery) = api_get(&server, base, token).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["kind"], "APIResourceList");
    let plurals: Vec<&str> = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for plural in [
        "issues",
        "pullrequests",
        "reviews",
        "pipelines",
        "jobs",
        "externalsyncevents",
    ] {
        assert!(plurals.contains(&plural), "{plural} in {plurals:?}");
    }

    // A list is a Kubernetes List of objects with full metadata.
    let (status, list) = api_get(&server, &format!("{ns}/issues"), token).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "IssueList");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let first = &items[0];
    assert_eq!(first["apiVersion"], "data.kradle.a5c.ai/v1alpha1");
    assert_eq!(first["kind"], "Issue");
    assert_eq!(first["metadata"]["namespace"], "kradle-org-globex");
    for field in [
        "name",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "labels",
    ] {
        assert!(
            !first["metadata"][field].is_null(),
            "metadata.{field}: {first:#}"
        );
    }
    assert_eq!(first["spec"]["organizationRef"], "globex");
    assert_eq!(
        first["status"]["external"]["nativeId"],
        format!("globex/doomsday/issues/{}", first["spec"]["number"])
    );

    // labelSelector, equality and inequality.
    let srv = &server;
    let selected = |selector: &str| {
        let path = format!("{ns}/issues?labelSelector={selector}");
        async move {
            let (status, list) = api_get(srv, &path, token).await;
            assert_eq!(status, 200, "{list}");
            list["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(selected("kradle.a5c.ai/repository=doomsday").await, 3);
    assert_eq!(selected("kradle.a5c.ai/repository!=doomsday").await, 2);
    assert_eq!(
        selected("kradle.a5c.ai/source=github,kradle.a5c.ai/repository=other").await,
        2
    );
    assert_eq!(selected("!kradle.a5c.ai/source").await, 0);
    let (status, refused) = api_get(
        &server,
        &format!("{ns}/issues?labelSelector=a%20in%20(b)"),
        token,
    )
    .await;
    assert_eq!(
        (status, refused["reason"].as_str()),
        (400, Some("BadRequest"))
    );

    // limit and continue walk every item once.
    let mut seen = Vec::new();
    let mut next = String::new();
    loop {
        let path = format!("{ns}/issues?limit=2&continue={next}");
        let (status, page) = api_get(&server, &path, token).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(token) => next = token.to_string(),
            None => break,
        }
    }
    let all: Vec<String> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, all);

    // Get by name; what is not there is a NotFound Status.
    let (status, one) = api_get(&server, &format!("{ns}/issues/github-doomsday-2"), token).await;
    assert_eq!(status, 200);
    assert_eq!(one["spec"]["number"], 2);
    let (status, missing) = api_get(&server, &format!("{ns}/issues/nope"), token).await;
    assert_eq!(
        (status, missing["reason"].as_str()),
        (404, Some("NotFound"))
    );
    let other_ns = format!("{base}/namespaces/default/issues");
    assert_eq!(
        api_get(&server, &other_ns, token).await.1["items"],
        serde_json::json!([])
    );
    let (_, events) = api_get(&server, &format!("{ns}/externalsyncevents"), token).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 5);
    assert_eq!(events["items"][0]["status"]["phase"], "Applied");
    let (_, all_ns) = api_get(&server, &format!("{base}/issues"), token).await;
    assert_eq!(all_ns["items"].as_array().unwrap().len(), 5);

    // kubectl itself, when this machine has it. kubectl sends no token over
    // plain HTTP, so it talks through a proxy that adds it, as the API
    // server's aggregation layer would add its own credentials.
    let proxy = token_proxy(&server.url, API_TOKEN).await;
    let kubectl = tokio::task::spawn_blocking(move || {
        Command::new("kubectl")
            .args(["--server", &proxy])
            .args(["get", "issues", "-n", "kradle-org-globex"])
            .args(["-l", "kradle.a5c.ai/repository=other"])
            .args(["-o", "custom-columns=NAME:.metadata.name,TITLE:.spec.title"])
            .env("KUBECONFIG", "/dev/null")
            .output()
    })
    .await
    .unwrap();
    match kubectl {
        Err(e) => eprintln!("kubectl is not installed ({e}); its part of this test is skipped"),
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut names: Vec<&str> = stdout
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            names.sort_unstable();
            assert_eq!(names, ["github-other-4", "github-other-5"], "{stdout}");
        }
    }
}

/// Delivers `issues.opened` of issue `n` of `globex/<repo>`, signed.
async fn deliver_issue(server: &Server, n: u64, repo: &str) {
    let mut body = example_body("issues.opened");
    body["repository"]["full_name"] = format!("globex/{repo}").into();
    body["repository"]["name"] = repo.into();
    body["issue"]["number"] = n.into();
    let body = serde_json::to_vec(&body).unwrap();
    let id = format!("i{n}");
    let status = github(
        server,
        "github-doomsday",
        "issues",
        &id,
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
}

/// `kubectl ARGS` against `https` with `token` (kubectl sends a bearer token
/// only over TLS); `None` where this machine has no kubectl.
fn kubectl(https: &str, token: &str, args: &[&str]) -> Option<(bool, String, String)> {
    kubectl_trusting(https, token, None, args)
}

/// kubectl verifying the server against `ca` (without one, not verifying).
fn kubectl_trusting(
    https: &str,
    token: &str,
    ca: Option<&str>,
    args: &[&str],
) -> Option<(bool, String, String)> {
    let trust = match ca {
        Some(ca) => format!("--certificate-authority={ca}"),
        None => "--insecure-skip-tls-verify".to_string(),
    };
    let out = Command::new("kubectl")
        .args(["--server", https, &trust, "--token", token])
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", std::env::temp_dir())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("kubectl: {e}"),
        Ok(out) => Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
    }
}

/// `kubectl get issues -n NS --watch-only EXTRA` against `https` (8 s
/// request timeout), and its stdout, line by line.
fn kubectl_watch(
    https: &str,
    ns: &str,
    extra: &[&str],
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut watch = Command::new("kubectl")
        .args([
            "--server",
            https,
            "--insecure-skip-tls-verify",
            "--token",
            API_TOKEN,
        ])
        .args(["get", "issues.data.kradle.a5c.ai", "-n", ns, "--watch-only"])
        .args(extra)
        .args(["--request-timeout", "8s"])
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (watch, lines)
}

/// The real kubectl, over HTTPS with a bearer token, as a person would use
/// it: api-resources, get with a label selector as JSON, a watch that sees
/// one event and ends at its request timeout, explain of every served kind,
/// and a wrong token refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_kubectl_lists_watches_and_explains_every_served_kind() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl is not installed: this test is skipped (CI has it)");
        return;
    }
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    // The self-signed certificate, written for kubectl to trust: it names
    // the address listened on, so kubectl verifies it (no --insecure).
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("kradle-ca.pem");
    let ca = ca.to_str().unwrap().to_string();
    let args = [
        "--api-token-file",
        token_file,
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-write-cert",
        &ca,
    ];
    let server = start_with(&example(), &args).await;
    let (_, https) = https_of(&server);
    for (n, repo) in [(1, "doomsday"), (2, "other"), (3, "other")] {
        deliver_issue(&server, n, repo).await;
    }
    drained(&server.db).await;
    let run = |args: Vec<String>| {
        let (https, ca) = (https.clone(), ca.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl_trusting(&https, API_TOKEN, Some(&ca), &args).unwrap()
        })
    };
    let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let ns = kradle_compiler::model::org_namespace("globex");

    // Every served kind is a resource kubectl knows.
    let (ok, out, err) = run(owned(&[
        "api-resources",
        "--api-group=data.kradle.a5c.ai",
        "-o",
        "name",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    for (_, plural, _) in kradle_runtime::serve::api::kinds() {
        assert!(
            out.lines()
                .any(|l| l == format!("{plural}.data.kradle.a5c.ai")),
            "{plural} is not in\n{out}"
        );
    }

    // get, with a label selector, as JSON.
    let (ok, out, err) = run(owned(&[
        "get",
        "issues.data.kradle.a5c.ai",
        "-n",
        &ns,
        "-l",
        "kradle.a5c.ai/repository=other",
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut numbers: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["spec"]["number"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [2, 3], "{out}");
    // The deliveries as received, each with its sync job's outcome; and
    // the forge links (none: nothing was applied), whose query runs too.
    let (ok, out, err) = run(owned(&[
        "get",
        "externalwebhookdeliveries.data.kradle.a5c.ai",
        "-n",
        &ns,
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    let deliveries: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{out}");
    for d in items {
        assert_eq!(d["status"]["phase"], "Succeeded", "{d}");
        assert_eq!(d["spec"]["eventType"], "issues");
        assert!(d["spec"]["payload"]["issue"].is_object());
    }
    // Printed as a table, as kubectl prints a CRD with printer columns:
    // the phase of each, across namespaces with the namespace first.
    let (ok, out, err) = run(owned(&[
        "get",
        "externalwebhookdeliveries.data.kradle.a5c.ai",
        "-A",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "PHASE", "REASON", "AGE"],
        "{out}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    for row in &rows {
        assert_eq!(row[0], ns, "{out}");
        assert_eq!(row[2], "Succeeded", "{out}");
    }
    let (ok, out, err) = run(owned(&[
        "get",
        "externalobjectlinks.data.kradle.a5c.ai",
        "-A",
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["items"],
        serde_json::json!([])
    );

    // A watch sees the issue opened while it runs, then ends at its
    // request timeout. kubectl prints each event as one line of JSON.
    let (mut watch, events) = kubectl_watch(&https, &ns, &["--output-watch-events", "-o", "json"]);
    // The watch is open once the server has seen it; deliver until the event
    // arrives (a delivery before the watch started would not show).
    let mut event = None;
    for n in 10..40u64 {
        deliver_issue(&server, n, "doomsday").await;
        if let Ok(text) = events.recv_timeout(Duration::from_secs(1)) {
            event = Some(text);
            break;
        }
    }
    let Some(event) = event else {
        let _ = watch.kill();
        let out = watch.wait_with_output().unwrap();
        panic!("no watch event: {}", String::from_utf8_lossy(&out.stderr));
    };
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "ADDED", "{event}");
    assert_eq!(event["object"]["kind"], "Issue", "{event}");
    let ended = tokio::task::spawn_blocking(move || watch.wait().unwrap())
        .await
        .unwrap();
    // kubectl ends a watch at its request timeout (exit 0 or 1 by version);
    // what matters is that it ended, and was not killed.
    assert!(ended.code().is_some(), "{ended:?}");

    // `kubectl get -w` as people run it: the events print as rows of the
    // same table (a Table per event), not as bare objects.
    let (mut watch, lines) = kubectl_watch(&https, &ns, &[]);
    let mut printed = Vec::new();
    for n in 40..70u64 {
        deliver_issue(&server, n, "doomsday").await;
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
            printed.push(line);
            if let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
                printed.push(line);
            }
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let header: Vec<&str> = printed
        .first()
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(header, ["NAME", "PHASE", "REASON", "AGE"], "{printed:?}");
    assert!(printed.len() >= 2, "a row under the header: {printed:?}");

    // explain, for every served kind and a field.
    for (kind, plural, _) in kradle_runtime::serve::api::kinds() {
        let (ok, out, err) = run(owned(&[
            "explain",
            plural,
            "--api-version=data.kradle.a5c.ai/v1alpha1",
        ]))
        .await
        .unwrap();
        assert!(ok, "explain {plural}: {err}");
        assert!(out.contains(&format!("KIND:       {kind}")), "{out}");
        assert!(out.contains("spec"), "{out}");
    }
    let (ok, out, err) = run(owned(&[
        "explain",
        "issues.spec.title",
        "--api-version=data.kradle.a5c.ai/v1alpha1",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("FIELD: title <string>"), "{out}");

    // A wrong token is refused as Kubernetes refuses it.
    let https2 = https.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        kubectl(
            &https2,
            "guess",
            &["get", "issues.data.kradle.a5c.ai", "-A"],
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("Unauthorized") || err.contains("must be logged in"),
        "{err}"
    );
}

/// A local HTTP proxy to `upstream` that adds `Authorization: Bearer
/// <token>` to every GET; returns its URL.
async fn token_proxy(upstream: &str, token: &'static str) -> String {
    let upstream = upstream.to_string();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let target = format!("{upstream}{uri}");
        async move {
            let response = reqwest::Client::new()
                .get(target)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = axum::http::StatusCode::from_u16(response.status().as_u16()).unwrap();
            let body = response.bytes().await.unwrap();
            (status, [("content-type", "application/json")], body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

// ---------------------------------------------------------------------------
// Backfill.

fn fake_issue(number: u64, title: &str, updated_at: &str, pull: bool) -> serde_json::Value {
    let mut issue = serde_json::json!({
        "id": 1000 + number, "number": number, "title": title, "state": "open",
        "user": { "login": "hank-scorpio" }, "labels": [], "assignees": [],
        "updated_at": updated_at,
        "html_url": format!("https://github.com/globex/doomsday/issues/{number}"),
    });
    if pull {
        issue["pull_request"] = serde_json::json!({ "url": "x" });
    }
    issue
}

async fn projection_title(db: &TestDb, kind: &str, number: u64) -> Option<String> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let title = sqlx::query_scalar(
        "SELECT spec ->> 'title' FROM kradle_projections WHERE kind = $1 AND spec ->> 'number' = $2",
    )
    .bind(kind)
    .bind(number.to_string())
    .fetch_optional(&pool)
    .await
    .unwrap();
    pool.close().await;
    title
}

/// Waits until the `kind` projection of `number` has `title`.
async fn until_title(db: &TestDb, kind: &str, number: u64, title: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if projection_title(db, kind, number).await.as_deref() == Some(title) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{kind} {number} never got the title {title:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_recovers_what_was_never_delivered_and_never_goes_back() {
    use support::fake_github::{FakeGitHub, Repo};
    let fake = FakeGitHub::start(support::upstream::Api::github()).await;
    fake.with(|w| {
        w.org("globex");
        let repo = Repo {
            value: serde_json::json!({ "name": "doomsday", "full_name": "globex/doomsday" }),
            issues: vec![
                fake_issue(1, "Never delivered", "2026-01-02T10:00:00Z", false),
                fake_issue(2, "A pull request", "2026-01-02T10:01:00Z", true),
                // Older than what its webhook will say.
                fake_issue(3, "Stale listing", "2026-01-02T09:00:00Z", false),
            ],
            ..Repo::default()
        };
        w.repos.insert(("globex".into(), "doomsday".into()), repo);
    });
    // The example with its GitHub provider at the fake, a token for the
    // binding, and a backfill every second.
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let globex = config.path().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex).unwrap();
    let text = text
        .replace("https://api.github.com", &fake.url)
        .replace(
            "credentialRef: { name: github-app }",
            "credentialRef: { name: github-token, key: token }",
        )
        .replace(
            "syncInterval: 5m",
            "syncInterval: 5m\n  backfillInterval: 1s",
        );
    assert!(text.contains("backfillInterval: 1s") && text.contains("key: token"));
    std::fs::write(&globex, text).unwrap();

    let server = start_with(config.path(), &[]).await;
    until_title(&server.db, "Issue", 1, "Never delivered").await;
    until_title(&server.db, "PullRequest", 2, "A pull request").await;
    until_title(&server.db, "Issue", 3, "Stale listing").await;

    // Issue 3 is edited, and its webhook arrives; then the forge lists an
    // older state of it (a lagging replica): it must not win.
    let mut newer: serde_json::Value = serde_json::from_slice(&issue_event(
        "edited",
        "From the webhook",
        "2026-01-02T11:00:00Z",
    ))
    .unwrap();
    newer["issue"]["number"] = 3.into();
    let newer = serde_json::to_vec(&newer).unwrap();
    let hook = "github-doomsday";
    assert_eq!(
        github(&server, hook, "issues", "w3", &newer, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    until_title(&server.db, "Issue", 3, "From the webhook").await;
    fake.with(|w| {
        let repo = w
            .repos
            .get_mut(&("globex".into(), "doomsday".into()))
            .unwrap();
        repo.issues[2] = fake_issue(3, "Lagging listing", "2026-01-02T10:30:00Z", false);
        // And a change no webhook told about.
        repo.issues
            .push(fake_issue(4, "Opened later", "2026-01-02T12:00:00Z", false));
    });
    until_title(&server.db, "Issue", 4, "Opened later").await;
    drained(&server.db).await;
    assert_eq!(
        projection_title(&server.db, "Issue", 3).await.as_deref(),
        Some("From the webhook")
    );
    // Each listing is recorded once however many passes see it.
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let backfilled: Vec<(String, i64)> = sqlx::query_as(
        "SELECT delivery_id, count(*) FROM kradle_webhook_deliveries
          WHERE delivery_id LIKE 'backfill:%' GROUP BY delivery_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(backfilled.iter().all(|(_, n)| *n == 1), "{backfilled:?}");
    // Issues 1, 2, 3 (twice: two states), 4; each pass lists the newest again.
    assert_eq!(backfilled.len(), 5, "{backfilled:?}");
    let lagging: String = sqlx::query_scalar(
        "SELECT e.outcome FROM kradle_sync_events e JOIN kradle_webhook_deliveries d ON d.id = e.delivery
          WHERE d.delivery_id = 'backfill:globex/doomsday#3@2026-01-02T10:30:00Z'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(lagging, "superseded");
    pool.close().await;
    let violations = fake.with(|w| w.violations.clone());
    assert!(violations.is_empty(), "{violations:?}");
}

// ---------------------------------------------------------------------------
// Write-back: `kradle issues set`, sent by the serve workers.

/// The example with its GitHub provider at `fake`, a token for the
/// binding, and the sync policy's `conflictResolution` set to `resolution`.
fn writeback_config(
    fake: &support::fake_github::FakeGitHub,
    resolution: &str,
) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let globex = config.path().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex)
        .unwrap()
        .replace("https://api.github.com", &fake.url)
        .replace(
            "credentialRef: { name: github-app }",
            "credentialRef: { name: github-token, key: token }",
        )
        .replace(
            "conflictResolution: prefer-external",
            &format!("conflictResolution: {resolution}"),
        );
    assert!(text.contains(&format!("conflictResolution: {resolution}")));
    std::fs::write(&globex, text).unwrap();
    config
}

/// A fake GitHub whose globex/doomsday has issue 7, labelled `bug`, and
/// knows the users alice and bob.
async fn fake_with_issue_7() -> support::fake_github::FakeGitHub {
    use support::fake_github::{FakeGitHub, Repo};
    let fake = FakeGitHub::start(support::upstream::Api::github()).await;
    fake.with(|w| {
        w.org("globex");
        w.user("alice", Some("globex"));
        w.user("bob", Some("globex"));
        let mut issue = fake_issue(7, "Doomsday clock", "2026-01-02T10:00:00Z", false);
        issue["labels"] = serde_json::json!([{ "name": "bug" }]);
        let repo = Repo {
            value: serde_json::json!({ "name": "doomsday", "full_name": "globex/doomsday" }),
            issues: vec![issue],
            ..Repo::default()
        };
        w.repos.insert(("globex".into(), "doomsday".into()), repo);
    });
    fake
}

/// Delivers issue 7 as the fake has it (its `issues.edited` webhook), and
/// waits for its projection.
async fn deliver_issue_7(server: &Server, fake: &support::fake_github::FakeGitHub, id: &str) {
    let issue = fake.with(|w| w.repos[&("globex".into(), "doomsday".into())].issues[0].clone());
    let mut body: serde_json::Value =
        serde_json::from_slice(&issue_event("edited", "x", "2026-01-01T00:00:00Z")).unwrap();
    body["issue"] = issue.clone();
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        github(
            server,
            "github-doomsday",
            "issues",
            id,
            &body,
            GITHUB_SECRET
        )
        .await
        .as_u16(),
        202
    );
    until_title(&server.db, "Issue", 7, issue["title"].as_str().unwrap()).await;
}

/// Runs the kradle CLI on the server's database: (exit code, stdout, stderr).
fn kradle(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env("KRADLE_DATABASE_URL", &server.db.url)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads with `read` until `done` holds for what it returns, and returns
/// that; fails with `what` and the last value read after a deadline.
async fn poll_until<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {value:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A projection's spec, by name.
async fn spec_of(pool: &sqlx::PgPool, name: &str) -> serde_json::Value {
    sqlx::query_scalar("SELECT spec FROM kradle_projections WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `kradle issues set github-doomsday-7 --org globex ARGS…`.
fn set_issue_7(server: &Server, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["issues", "set", "github-doomsday-7", "--org", "globex"];
    all.extend_from_slice(args);
    kradle(server, &all)
}

fn patches(fake: &support::fake_github::FakeGitHub) -> usize {
    fake.with(|w| {
        w.writes
            .iter()
            .filter(|r| *r == "PATCH /repos/globex/doomsday/issues/7")
            .count()
    })
}

fn fake_issue_7(fake: &support::fake_github::FakeGitHub) -> serde_json::Value {
    fake.with(|w| w.repos[&("globex".into(), "doomsday".into())].issues[0].clone())
}

fn label_names(issue: &serde_json::Value) -> Vec<String> {
    issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_change_is_written_back_once_merged_with_what_the_forge_gained() {
    let fake = fake_with_issue_7().await;
    let config = writeback_config(&fake, "prefer-external");
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), "reader-token\n").unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(config.path(), &["--api-token-file", token_file]).await;
    deliver_issue_7(&server, &fake, "d1").await;

    // Meanwhile on GitHub: a label added, and the title changed.
    fake.with(|w| {
        let issue = &mut w
            .repos
            .get_mut(&("globex".into(), "doomsday".into()))
            .unwrap()
            .issues[0];
        issue["labels"] = serde_json::json!([{ "name": "bug" }, { "name": "p1" }]);
        issue["title"] = "Their title".into();
    });
    let set = [
        "--add-label",
        "triage",
        "--remove-label",
        "bug",
        "--add-assignee",
        "alice",
        "--state",
        "closed",
        "--workflow-state",
        "done",
        "--title",
        "Our title",
        "--wait",
    ];
    let (code, _, err) = set_issue_7(&server, &set);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("sent"), "{err}");
    assert_eq!(patches(&fake), 1);
    let issue = fake_issue_7(&fake);
    assert_eq!(label_names(&issue), ["p1", "triage", "workflow:done"]);
    assert_eq!(issue["assignees"][0]["login"], "alice");
    assert_eq!(issue["state"], "closed");
    // Changed on both sides; the policy prefers GitHub's.
    assert_eq!(issue["title"], "Their title");
    let (_, listed, _) = kradle(&server, &["conflicts", "list", "--org", "globex", "--all"]);
    assert!(
        listed.contains("title") && listed.contains("Resolved (prefer-external)"),
        "{listed}"
    );
    let (_, open, _) = kradle(&server, &["conflicts", "list"]);
    assert_eq!(open, "no conflicts\n");
    assert!(
        fake.with(|w| w.violations.is_empty()),
        "{:?}",
        fake.with(|w| w.violations.clone())
    );

    // GitHub's answer is synced into the projection, as a delivery.
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let spec = poll_until(
        "never synced",
        || spec_of(&pool, "github-doomsday-7"),
        |spec| spec["workflowState"] == "done",
    )
    .await;
    assert_eq!(spec["state"], "closed");
    assert_eq!(spec["title"], "Their title");

    // The same change again (but the title, which GitHub kept): GitHub has
    // it, so nothing is sent.
    let mut again = set[..set.len() - 3].to_vec();
    again.push("--wait");
    let (code, _, err) = set_issue_7(&server, &again);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("had it already"), "{err}");
    assert_eq!(patches(&fake), 1);

    // Both are ExternalWriteIntents, the conflict an ExternalSyncConflict.
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex";
    let (status, intents) = api_get(
        &server,
        &format!("{ns}/externalwriteintents"),
        Some("reader-token"),
    )
    .await;
    assert_eq!(status, 200, "{intents}");
    let phases: Vec<&str> = intents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"]["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["Succeeded", "Superseded"]);
    assert_eq!(
        intents["items"][0]["spec"]["resourceRef"],
        serde_json::json!({ "kind": "Issue", "name": "github-doomsday-7" })
    );
    let (status, conflicts) = api_get(
        &server,
        &format!("{ns}/externalsyncconflicts"),
        Some("reader-token"),
    )
    .await;
    assert_eq!(status, 200, "{conflicts}");
    let conflict = &conflicts["items"][0];
    assert_eq!(conflict["spec"]["fieldPath"], "title");
    assert_eq!(conflict["spec"]["externalValue"], "Their title");
    assert_eq!(conflict["status"]["resolvedBy"], "policy");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_changed_on_both_sides_is_held_until_a_person_decides() {
    let fake = fake_with_issue_7().await;
    let config = writeback_config(&fake, "manual");
    let server = start_with(config.path(), &[]).await;
    deliver_issue_7(&server, &fake, "d1").await;
    fake.with(|w| {
        w.repos
            .get_mut(&("globex".into(), "doomsday".into()))
            .unwrap()
            .issues[0]["title"] = "Their title".into();
    });

    let (code, _, err) = set_issue_7(
        &server,
        &["--title", "Our title", "--add-label", "triage", "--wait"],
    );
    assert_eq!(code, 3, "held: {err}");
    assert!(
        err.contains("\"Doomsday clock\"") && err.contains("\"Their title\""),
        "{err}"
    );
    assert_eq!(
        patches(&fake),
        0,
        "a held write sends nothing, not even its labels"
    );

    let (_, listed, _) = kradle(&server, &["conflicts", "list", "--org", "globex", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let conflict = &listed[0];
    assert_eq!(conflict["fieldPath"], "title");
    assert_eq!(conflict["phase"], "Open");
    let id = conflict["id"].to_string();

    let (code, _, err) = kradle(
        &server,
        &["conflicts", "resolve", &id, "--use", "prefer-kradle"],
    );
    assert_eq!(code, 0, "{err}");
    poll_until(
        "the resolved write was never sent",
        || async { fake_issue_7(&fake)["title"].clone() },
        |title| title == "Our title",
    )
    .await;
    assert_eq!(label_names(&fake_issue_7(&fake)), ["bug", "triage"]);
    assert_eq!(patches(&fake), 1);
    let (code, _, err) = kradle(&server, &["conflicts", "resolve", &id, "--use", "ignore"]);
    assert_eq!(code, 1, "a resolved conflict is not open: {err}");
    assert!(fake.with(|w| w.violations.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_killed_in_flight_is_not_sent_twice() {
    let fake = fake_with_issue_7().await;
    let config = writeback_config(&fake, "manual");
    let args = ["--workers", "1", "--job-lease", "1"];
    let mut first = start_with(config.path(), &args).await;
    let db = first.db.clone();
    deliver_issue_7(&first, &fake, "d1").await;
    // GitHub applies the PATCH and takes its time to answer.
    fake.with(|w| w.answer_delay = Duration::from_secs(30));
    let (code, _, err) = set_issue_7(&first, &["--add-label", "triage"]);
    assert_eq!(code, 0, "{err}");
    poll_until(
        "the PATCH never came",
        || async { patches(&fake) },
        |n| *n > 0,
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL, before GitHub answers
    first.child.wait().unwrap();
    fake.with(|w| w.answer_delay = Duration::ZERO);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let phase: String = sqlx::query_scalar("SELECT phase FROM kradle_write_intents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(phase, "InFlight");

    let second = start_again(db.clone(), config.path(), &args).await;
    let phase: String = poll_until(
        "the write-back never finished",
        || async {
            sqlx::query_scalar("SELECT phase FROM kradle_write_intents")
                .fetch_one(&pool)
                .await
                .unwrap()
        },
        |phase: &String| phase != "InFlight" && phase != "Pending",
    )
    .await;
    assert_eq!(phase, "Succeeded", "the rerun found its own write there");
    assert_eq!(patches(&fake), 1, "sent once");
    assert_eq!(label_names(&fake_issue_7(&fake)), ["bug", "triage"]);
    drop(second);
    pool.close().await;
}

/// A change kradle made is one event: write-back's own replay of the forge's
/// answer triggers no rule, the forge's webhook for that change does, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_kradle_wrote_back_triggers_a_rule_at_most_once() {
    use support::fake_gitea::FakeGitea;
    let fake = FakeGitea::start(support::upstream::Api::gitea()).await;
    let issue = serde_json::json!({
        "id": 40, "number": 4, "title": "Flaky test", "state": "open",
        "user": { "login": "alice" }, "labels": [], "assignees": [],
        "pull_request": null, "updated_at": "2026-01-02T10:00:00Z",
    });
    fake.issue("acme", "api", issue.clone(), &[]);
    // A rule on every issue event of `api`.
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let mut text = std::fs::read_to_string(&agents).unwrap();
    text.push_str(
        "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: AgentTriggerRule\nmetadata:\n  name: on-issue\n\
         spec:\n  sources: [issues]\n  agentStack: fixer\n  taskKind: fix\n  repository: api\n",
    );
    std::fs::write(&agents, text).unwrap();
    let server = start_with(config.path(), &["--gitea-url", &fake.url]).await;
    let event = |issue: &serde_json::Value| {
        serde_json::to_vec(&serde_json::json!({
            "action": "edited", "number": 4, "issue": issue,
            "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
            "sender": { "login": "alice", "username": "alice" },
        }))
        .unwrap()
    };
    let status = gitea_event(
        &server,
        "api-events",
        "issues",
        "g1",
        &event(&issue),
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    until_title(&server.db, "Issue", 4, "Flaky test").await;
    drained(&server.db).await;
    let before = runs(&server.db).await.len();
    assert_eq!(before, 1, "the first edit matched");

    let set = [
        "issues",
        "set",
        "gitea-api-4",
        "--org",
        "acme",
        "--title",
        "Fixed title",
        "--wait",
    ];
    let (code, _, err) = kradle(&server, &set);
    assert_eq!(code, 0, "{err}");
    until_title(&server.db, "Issue", 4, "Fixed title").await;
    drained(&server.db).await;
    // Gitea's own webhook for the edit kradle made.
    let edited = fake.with(|w| w.issues[&("acme".to_string(), "api".to_string())][0].clone());
    let status = gitea_event(
        &server,
        "api-events",
        "issues",
        "g2",
        &event(&edited),
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    drained(&server.db).await;
    let after = runs(&server.db).await;
    assert_eq!(
        after.len(),
        before + 1,
        "one run for the change, not two: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitea_issue_change_is_written_back_with_gitea_s_own_calls() {
    use support::fake_gitea::FakeGitea;
    let fake = FakeGitea::start(support::upstream::Api::gitea()).await;
    let issue = serde_json::json!({
        "id": 40, "number": 4, "title": "Flaky test", "state": "open",
        "user": { "login": "alice" }, "labels": [{ "name": "bug" }], "assignees": [],
        "pull_request": null, "updated_at": "2026-01-02T10:00:00Z",
        "html_url": "https://gitea.acme.example/acme/api/issues/4"
    });
    fake.with(|w| w.users.insert("alice".into()));
    fake.issue(
        "acme",
        "api",
        issue.clone(),
        &["bug", "triage", "workflow:doing"],
    );
    let server = start_with(&example(), &["--gitea-url", &fake.url]).await;
    let body = serde_json::json!({
        "action": "edited", "number": 4, "issue": issue,
        "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
    });
    let body = serde_json::to_vec(&body).unwrap();
    let status = gitea_event(&server, "api-events", "issues", "g1", &body, GITEA_SECRET).await;
    assert_eq!(status.as_u16(), 202);
    until_title(&server.db, "Issue", 4, "Flaky test").await;

    let (code, _, err) = kradle(
        &server,
        &[
            "issues",
            "set",
            "gitea-api-4",
            "--org",
            "acme",
            "--add-label",
            "triage",
            "--workflow-state",
            "doing",
            "--add-assignee",
            "alice",
            "--state",
            "closed",
            "--wait",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (writes, violations, now) = fake.with(|w| {
        (
            w.writes.clone(),
            w.violations.clone(),
            w.issues[&("acme".to_string(), "api".to_string())][0].clone(),
        )
    });
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(
        writes,
        [
            "PUT /repos/acme/api/issues/4/labels",
            "PATCH /repos/acme/api/issues/4"
        ]
    );
    let labels: Vec<&str> = now["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["bug", "triage", "workflow:doing"]);
    assert_eq!(now["state"], "closed");
    assert_eq!(now["assignees"][0]["login"], "alice");

    // Gitea's state comes back through sync, under the subscription.
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let spec = poll_until(
        "never synced",
        || spec_of(&pool, "gitea-api-4"),
        |spec| spec["state"] == "closed",
    )
    .await;
    assert_eq!(spec["workflowState"], "doing");
    pool.close().await;
}

/// Reads watch events from `response` until `want` (type, name) has come
/// by, with a deadline; returns every event read.
async fn watch_until(
    response: &mut reqwest::Response,
    buffer: &mut Vec<u8>,
    want: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !want
        .iter()
        .all(|(t, n)| seen.iter().any(|(st, sn)| st == t && sn == n))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("never saw {want:?}; saw {seen:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the watch ended; saw {seen:?}"));
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let event: serde_json::Value = serde_json::from_slice(&line).unwrap();
            seen.push((
                event["type"].as_str().unwrap().to_string(),
                event["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_streams_what_sync_writes_then_ends() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(&example(), &["--api-token-file", token_file]).await;
    let hook = "github-doomsday";
    let opened = issue_event("opened", "First", "2026-01-02T10:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "w1", &opened, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    until_title(&server.db, "Issue", 7, "First").await;

    let issues = format!(
        "{}/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex/issues",
        server.url
    );
    let client = reqwest::Client::new();
    let mut watch = client
        .get(format!("{issues}?watch=1&timeoutSeconds=120"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status().as_u16(), 200);
    let mut buffer = Vec::new();
    let first = watch_until(&mut watch, &mut buffer, &[("ADDED", "github-doomsday-7")]).await;
    assert_eq!(first.len(), 1, "the current state, once: {first:?}");

    // An edit of 7 and a new issue 8, while the watch is open.
    let edited = issue_event("edited", "Second", "2026-01-02T10:05:00Z");
    let mut eight: serde_json::Value =
        serde_json::from_slice(&issue_event("opened", "Eight", "2026-01-02T10:06:00Z")).unwrap();
    eight["issue"]["number"] = 8.into();
    let eight = serde_json::to_vec(&eight).unwrap();
    for (id, body) in [("w2", &edited), ("w3", &eight)] {
        let status = github(&server, hook, "issues", id, body, GITHUB_SECRET).await;
        assert_eq!(status.as_u16(), 202);
    }
    let changes = watch_until(
        &mut watch,
        &mut buffer,
        &[
            ("MODIFIED", "github-doomsday-7"),
            ("ADDED", "github-doomsday-8"),
        ],
    )
    .await;
    assert_eq!(changes.len(), 2, "each change once: {changes:?}");

    // From a list's resourceVersion, nothing has changed since: the watch
    // sends nothing and ends at its timeout.
    let (_, list) = api_get(
        &server,
        "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex/issues",
        Some(API_TOKEN),
    )
    .await;
    let version = list["metadata"]["resourceVersion"].as_str().unwrap();
    let quiet = client
        .get(format!(
            "{issues}?watch=true&resourceVersion={version}&timeoutSeconds=1"
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(30), quiet.bytes())
        .await
        .expect("the watch outlived its timeout")
        .unwrap();
    assert!(body.is_empty(), "{}", String::from_utf8_lossy(&body));
    // A version this server never gave: not a number, negative, or past
    // the newest of the kind.
    let past = version.parse::<i64>().unwrap() + 1;
    for given in [
        "x".to_string(),
        "-5".into(),
        past.to_string(),
        "999999999999999".into(),
    ] {
        let (status, body) = api_get(
            &server,
            &format!(
                "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/{}/issues?watch=1&resourceVersion={given}",
                kradle_compiler::model::org_namespace("globex")
            ),
            Some(API_TOKEN),
        )
        .await;
        assert_eq!(status, 400, "resourceVersion={given}: {body}");
    }
    // SIGTERM ends the open watch; the server still stops.
    signal(&server, "TERM");
    let rest = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(_)) = watch.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the watch held the server open");
}

// ---------------------------------------------------------------------------
// Triggers: each sync event evaluated against the org's AgentTriggerRules.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_evaluated_against_the_trigger_rules_once_per_delivery() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(&example(), &["--api-token-file", token_file]).await;
    // acme's `fix-on-comment`: issue comments on `api` by grace or alan
    // that start with `/kradle fix`.
    let comment = |id: u64, who: &str, body: &str| {
        serde_json::json!({
            "action": "created",
            "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
            "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                       "user": { "login": "alice" }, "labels": [], "assignees": null,
                       "pull_request": null, "updated_at": "2026-01-02T10:00:00Z" },
            "comment": { "id": id, "body": body, "user": { "login": who },
                         "updated_at": "2026-01-02T10:00:00Z" },
            "sender": { "login": who, "username": who },
            "is_pull": false,
        })
    };
    let send = |delivery: &'static str, body: serde_json::Value| {
        let server = &server;
        async move {
            let body = serde_json::to_vec(&body).unwrap();
            let status = gitea_event(
                server,
                "api-events",
                "issue_comment",
                delivery,
                &body,
                GITEA_SECRET,
            )
            .await;
            status.as_u16()
        }
    };
    for (delivery, body) in [
        ("t1", comment(1, "grace", "/kradle fix the flaky test")),
        ("t2", comment(2, "mallory", "/kradle fix it for me")),
        ("t3", comment(3, "alan", "thanks, looks good")),
    ] {
        // The second time is a redelivery, a duplicate: not evaluated again.
        assert_eq!(send(delivery, body.clone()).await, 202, "{delivery}");
        assert_eq!(send(delivery, body).await, 200, "{delivery}");
    }
    // The same comment again under another delivery id (a forge that sends
    // it twice): the same match within the rule's dedupWindow, recorded as
    // Deduplicated, no second run. A new comment asking again is a new
    // request.
    for (delivery, body) in [
        ("t4", comment(1, "grace", "/kradle fix the flaky test")),
        ("t5", comment(5, "grace", "/kradle fix it, please, again")),
    ] {
        assert_eq!(send(delivery, body).await, 202, "{delivery}");
        drained(&server.db).await;
    }
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, list) = api_get(
        &server,
        &format!("{ns}/agenttriggerexecutions"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let rows: Vec<(String, String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let reason = x["status"]["reason"].as_str().unwrap_or_default();
            // A deduplication says how long ago (it varies): its start.
            let reason = match reason.find(" dispatched ") {
                Some(at) if reason.starts_with("the same match") => &reason[..at + 11],
                _ => reason,
            };
            (
                x["spec"]["deliveryId"].as_str().unwrap().to_string(),
                x["status"]["phase"].as_str().unwrap().to_string(),
                reason.to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("t1".into(), "Dispatched".into(), String::new()),
            (
                "t2".into(),
                "Skipped".into(),
                "`mallory` is not an allowed actor".into()
            ),
            (
                "t3".into(),
                "Skipped".into(),
                "the comment does not match the pattern".into()
            ),
            (
                "t4".into(),
                "Deduplicated".into(),
                "the same match was dispatched".into()
            ),
            ("t5".into(), "Dispatched".into(), String::new()),
        ]
    );
    let first = &list["items"][0]["spec"];
    assert_eq!(first["triggerRule"], "fix-on-comment");
    assert_eq!(first["agentStack"], "fixer");
    assert_eq!(first["taskKind"], "fix");
    assert_eq!(
        first["sourceEvent"],
        "issue_comment:Issue:acme/api/issues/4"
    );
}

// ---------------------------------------------------------------------------
// Dispatch: a matching comment becomes a run, the run a Job on the cluster
// (a fake API server, every body checked against the upstream schemas),
// and the agent's callback its result.

/// A fake cluster served over HTTP, and a kubeconfig for it.
async fn cluster(hang: &[&str]) -> (support::fake_kube::FakeKube, tempfile::NamedTempFile) {
    let fake = support::fake_kube::FakeKube::new();
    fake.state.lock().unwrap().hang = hang.iter().map(|h| h.to_string()).collect();
    let url = fake.serve().await;
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        kubeconfig.path(),
        support::fake_kube::FakeKube::kubeconfig(&url),
    )
    .unwrap();
    (fake, kubeconfig)
}

/// grace's `/kradle fix` on acme/api issue 4, which acme's
/// `fix-on-comment` rule dispatches the `fixer` stack for.
fn fix_comment(id: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "repository": { "id": 3, "name": "api", "full_name": "acme/api", "default_branch": "main" },
        "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                   "user": { "login": "alice" }, "labels": [], "assignees": null,
                   "pull_request": null, "updated_at": "2026-01-02T10:00:00Z" },
        "comment": { "id": id, "body": "/kradle fix the flaky test", "user": { "login": "grace" },
                     "updated_at": "2026-01-02T10:00:00Z" },
        "sender": { "login": "grace", "username": "grace" },
        "is_pull": false,
    }))
    .unwrap()
}

/// The runs: (name, phase, attempts).
async fn runs(db: &TestDb) -> Vec<(String, String, i32)> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows = sqlx::query_as("SELECT name, phase, attempts FROM kradle_dispatch_runs ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

async fn callback(
    server: &Server,
    run: &str,
    token: &str,
    body: serde_json::Value,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!(
            "{}/api/orgs/acme/agents/runs/{run}/callback",
            server.url
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

fn succeeded() -> serde_json::Value {
    serde_json::json!({
        "phase": "Succeeded",
        "message": "the flaky test is fixed",
        "artifacts": [{ "kind": "patch", "digest": format!("sha256:{}", "c".repeat(64)),
                        "size": 1234, "mimeType": "text/x-diff" }],
        "transcript": [{ "type": "text", "text": "Reading the failing job log first." }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_comment_runs_its_stack_as_a_job_until_the_callback() {
    let (kube, kubeconfig) = cluster(&[]).await;
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let server = start_in(
        Arc::new(TestDb::new().await),
        &example(),
        &[
            "--api-token-file",
            tokens.path().to_str().unwrap(),
            "--job-poll-ms",
            "50",
        ],
        Some(kubeconfig.path()),
    )
    .await;
    let body = fix_comment(1);
    // Delivered, then redelivered: one run.
    for expected in [202, 200] {
        let status = gitea_event(
            &server,
            "api-events",
            "issue_comment",
            "d1",
            &body,
            GITEA_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), expected);
    }
    let jobs = poll_until(
        "the agent Job",
        || async { kube.names("jobs") },
        |j| !j.is_empty(),
    )
    .await;
    let all = runs(&server.db).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let run = all[0].0.clone();
    assert_eq!(jobs, [format!("agent-{run}-1")]);
    let job = kube.get("jobs", "kradle-org-acme", &jobs[0]).unwrap();
    let env = &job["spec"]["template"]["spec"]["containers"][0]["env"];
    let var = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
            .unwrap()
    };
    assert_eq!(
        var("KRADLE_CALLBACK_URL"),
        format!("{}/api/orgs/acme/agents/runs/{run}/callback", server.url)
    );
    assert_eq!(var("KRADLE_REPOSITORY"), "api");
    assert_eq!(var("KRADLE_REF"), "main");
    assert_eq!(var("KRADLE_TASK_KIND"), "fix");
    poll_until("Running", || runs(&server.db), |r| r[0].1 == "Running").await;

    let token = kube.token("kradle-org-acme", &jobs[0]).unwrap();
    assert_eq!(
        callback(&server, &run, "wrong-token", succeeded())
            .await
            .as_u16(),
        401
    );
    assert_eq!(
        callback(&server, "nope-1", &token, succeeded())
            .await
            .as_u16(),
        401
    );
    assert_eq!(
        callback(
            &server,
            &run,
            &token,
            serde_json::json!({ "phase": "Done" })
        )
        .await
        .as_u16(),
        400
    );
    assert_eq!(
        callback(&server, &run, &token, succeeded()).await.as_u16(),
        200
    );
    assert_eq!(runs(&server.db).await[0].1, "Succeeded");
    assert_eq!(
        callback(&server, &run, &token, succeeded()).await.as_u16(),
        401,
        "the token is spent"
    );
    assert_eq!(
        rows(
            &server.db,
            "kradle_workspaces WHERE phase = 'Ready' AND claimed_by IS NULL"
        )
        .await,
        1
    );
    assert_eq!(rows(&server.db, "kradle_artifacts").await, 1);

    // Read back: the API and the CLI.
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, got) = api_get(
        &server,
        &format!("{ns}/agentdispatchruns/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"]["phase"], "Succeeded");
    assert_eq!(got["spec"]["triggerRule"], "fix-on-comment");
    assert_eq!(got["spec"]["requestedBy"], "grace");
    assert_eq!(got["status"]["transcriptRef"], run.as_str());
    let (_, executions) = api_get(
        &server,
        &format!("{ns}/agenttriggerexecutions"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(executions["items"][0]["status"]["phase"], "Dispatched");
    assert_eq!(
        executions["items"][0]["status"]["dispatchRunRef"],
        run.as_str()
    );
    let (_, artifacts) = api_get(&server, &format!("{ns}/kradleartifacts"), Some(API_TOKEN)).await;
    assert_eq!(artifacts["items"][0]["spec"]["kind"], "patch");
    let (_, bundle) = api_get(
        &server,
        &format!("{ns}/agentcontextbundles/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert!(
        bundle["spec"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{bundle}"
    );
    assert_eq!(got["spec"]["contextBundleRef"], run.as_str());
    let (code, list, _) = kradle(&server, &["runs", "list", "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(
        list.contains(&run) && list.contains("Succeeded") && list.contains("1/3"),
        "{list}"
    );
    let (code, text, _) = kradle(&server, &["runs", "get", &run, "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("initial") && text.contains(&jobs[0]),
        "{text}"
    );
    // The agent's log, from its pod.
    kube.state.lock().unwrap().logs.insert(
        jobs[0].clone(),
        "Reading the failing job log first.\n".into(),
    );
    let logs = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["runs", "logs", &run, "--org", "acme"])
        .env("KRADLE_DATABASE_URL", &server.db.url)
        .env("KUBECONFIG", kubeconfig.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        "Reading the failing job log first.\n"
    );
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
    // No token in the log, nor in any row: kradle keeps its hash.
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains(&token)),
        "the token was logged"
    );
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.contains(&"kradle_dispatch_runs".to_string()));
    for table in tables {
        let holding: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0"
        ))
        .bind(&token)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(holding, 0, "the token is in {table}");
    }
    pool.close().await;
}

/// A completed workflow run of acme/api on `main`, ended `conclusion`.
fn workflow_run(id: u64, conclusion: &str) -> Vec<u8> {
    let mut run = example_body("workflow_run.completed");
    run["repository"]["name"] = "api".into();
    run["repository"]["full_name"] = "acme/api".into();
    run["workflow_run"]["id"] = id.into();
    run["workflow_run"]["head_branch"] = "main".into();
    run["workflow_run"]["conclusion"] = conclusion.into();
    serde_json::to_vec(&run).unwrap()
}

/// A matching event whose ref no checkout may take (a webhook body is
/// hostile input) is recorded as Failed with the reason, and runs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_naming_a_ref_no_run_may_take_is_recorded_failed() {
    let server = start_with(&example(), &[]).await;
    let mut body: serde_json::Value =
        serde_json::from_slice(&workflow_run(903, "failure")).unwrap();
    body["workflow_run"]["head_branch"] = "../../etc/passwd".into();
    let body = serde_json::to_vec(&body).unwrap();
    let status = gitea_event(
        &server,
        "api-events",
        "workflow_run",
        "w9",
        &body,
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let decision: (String, String) = poll_until(
        "the evaluation",
        || async {
            sqlx::query_as::<_, (String, String)>(
                "SELECT decision, coalesce(reason, '') FROM kradle_trigger_executions
                  WHERE rule = 'fix-failed-ci'",
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        },
        |d| d.is_some(),
    )
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(decision.0, "Failed");
    assert!(decision.1.contains("is not a git ref"), "{}", decision.1);
    assert!(runs(&server.db).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_workflow_run_dispatches_its_fixer_and_a_passing_one_does_not() {
    let (kube, kubeconfig) = cluster(&[]).await;
    let server = start_in(
        Arc::new(TestDb::new().await),
        &example(),
        &["--job-poll-ms", "50"],
        Some(kubeconfig.path()),
    )
    .await;
    // acme's `fix-failed-ci`: completed workflow runs of `api` that
    // ended in failure or timed out.
    for (delivery, body) in [
        ("w1", workflow_run(901, "failure")),
        ("w2", workflow_run(902, "success")),
    ] {
        for expected in [202, 200] {
            let status = gitea_event(
                &server,
                "api-events",
                "workflow_run",
                delivery,
                &body,
                GITEA_SECRET,
            )
            .await;
            assert_eq!(status.as_u16(), expected, "{delivery}");
        }
    }
    let jobs = poll_until(
        "the agent Job",
        || async { kube.names("jobs") },
        |j| !j.is_empty(),
    )
    .await;
    poll_until(
        "both deliveries evaluated",
        || {
            rows(
                &server.db,
                "kradle_trigger_executions WHERE rule = 'fix-failed-ci'",
            )
        },
        |n| *n == 2,
    )
    .await;
    let all = runs(&server.db).await;
    assert_eq!(all.len(), 1, "one run, for the failure only: {all:?}");
    let run = all[0].0.clone();
    assert_eq!(jobs, [format!("agent-{run}-1")]);
    poll_until("Running", || runs(&server.db), |r| r[0].1 == "Running").await;
    let token = kube.token("kradle-org-acme", &jobs[0]).unwrap();
    assert_eq!(
        callback(&server, &run, &token, succeeded()).await.as_u16(),
        200
    );
    assert_eq!(runs(&server.db).await[0].1, "Succeeded");
    assert_eq!(
        rows(
            &server.db,
            "kradle_workspaces WHERE phase = 'Ready' AND claimed_by IS NULL"
        )
        .await,
        1,
        "the workspace is released"
    );
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let decisions: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT d.delivery_id, x.decision, x.reason FROM kradle_trigger_executions x
           JOIN kradle_webhook_deliveries d ON d.id = x.delivery
          WHERE x.rule = 'fix-failed-ci' ORDER BY d.delivery_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert_eq!(decisions[0].1, "Dispatching");
    assert_eq!(decisions[1].1, "Skipped");
    assert_eq!(
        decisions[1].2.as_deref(),
        Some("the webhook trigger is for runs that ended failure or timed_out (this one: success)")
    );
    let (ref_, repo) = {
        let job = kube.get("jobs", "kradle-org-acme", &jobs[0]).unwrap();
        let env = job["spec"]["template"]["spec"]["containers"][0]["env"].clone();
        let var = |name: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .unwrap()["value"]
                .clone()
        };
        (var("KRADLE_REF"), var("KRADLE_REPOSITORY"))
    };
    assert_eq!((ref_.as_str(), repo.as_str()), (Some("main"), Some("api")));
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_launch_is_rerun_into_exactly_one_job() {
    for hang in [
        "POST /api/v1/namespaces/kradle-org-acme/secrets",
        "POST /api/v1/namespaces/kradle-org-acme/persistentvolumeclaims",
        "POST /apis/batch/v1/namespaces/kradle-org-acme/jobs",
    ] {
        let (kube, kubeconfig) = cluster(&[hang]).await;
        let db = Arc::new(TestDb::new().await);
        let args = ["--job-lease", "1", "--job-poll-ms", "50"];
        let first = start_in(db.clone(), &example(), &args, Some(kubeconfig.path())).await;
        let status = gitea_event(
            &first,
            "api-events",
            "issue_comment",
            "d1",
            &fix_comment(1),
            GITEA_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202);
        poll_until(hang, || async { kube.count(hang) }, |n| *n > 0).await;
        drop(first); // SIGKILL, with the answer still held back
        let second = start_in(db.clone(), &example(), &args, Some(kubeconfig.path())).await;
        let all = poll_until(
            "Running",
            || runs(&db),
            |r| r.first().is_some_and(|r| r.1 == "Running"),
        )
        .await;
        let run = &all[0].0;
        assert_eq!(kube.names("jobs"), [format!("agent-{run}-1")], "{hang}");
        assert_eq!(kube.names("persistentvolumeclaims").len(), 1, "{hang}");
        // The Secret the Job reads holds the token kradle has the hash of.
        let token = kube
            .token("kradle-org-acme", &format!("agent-{run}-1"))
            .unwrap();
        assert_eq!(
            callback(&second, run, &token, succeeded()).await.as_u16(),
            200,
            "{hang}"
        );
        assert_eq!(runs(&db).await, [(run.clone(), "Succeeded".to_string(), 1)]);
        assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_runs_and_approvals_from_the_command_line() {
    // No cluster: runs wait in Queued.
    let server = start().await;
    let (code, name, err) = kradle(
        &server,
        &[
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
            "--repository",
            "api",
            "--as",
            "ada",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not checked against a config"), "{err}");
    let name = name.trim().to_string();
    assert!(name.starts_with("fixer-"), "{name}");
    // Against the config serve runs, a typo is refused before anything is
    // stored, with what was meant.
    let config = example();
    let config = config.to_str().unwrap();
    for (flags, said) in [
        (
            ["--stack", "fixr", "--repository", "api"],
            "did you mean `fixer`?",
        ),
        (
            ["--stack", "fixer", "--repository", "apy"],
            "did you mean `api`?",
        ),
    ] {
        let mut args = vec![
            "dispatch",
            "--config",
            config,
            "--org",
            "acme",
            "--task-kind",
            "fix",
        ];
        args.extend(flags);
        let (code, _, err) = kradle(&server, &args);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(said), "{err}");
    }
    let (code, _, err) = kradle(
        &server,
        &[
            "dispatch",
            "--config",
            config,
            "--org",
            "nope",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("organization `nope` is not in the config"),
        "{err}"
    );
    assert_eq!(
        runs(&server.db).await.len(),
        1,
        "nothing stored for a refused run"
    );
    let (code, text, _) = kradle(&server, &["runs", "get", &name, "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(text.contains("Pending") && text.contains("ada"), "{text}");
    // The name alone is enough when one organization has it.
    let (code, alone, err) = kradle(&server, &["runs", "get", &name]);
    assert_eq!((code, alone.as_str()), (0, text.as_str()), "{err}");
    // As kubectl: -o json and -o yaml print the same records; --json is -o json.
    let (code, json, err) = kradle(&server, &["runs", "get", &name, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let records: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(records[0]["metadata"]["name"], name.as_str(), "{json}");
    let (_, old_flag, _) = kradle(&server, &["runs", "get", &name, "--json"]);
    assert_eq!(old_flag, json);
    let (code, yaml, err) = kradle(&server, &["runs", "get", &name, "--output", "yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        yaml.starts_with("- metadata:\n") && yaml.contains(&format!("    name: {name}\n")),
        "{yaml}"
    );
    let (code, _, err) = kradle(&server, &["runs", "get", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no organization has run `nope`"), "{err}");
    // Without --as and without $USER, the record names `kradle-cli`, and
    // the command says so.
    let as_nobody = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args([
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
        ])
        .env("KRADLE_DATABASE_URL", &server.db.url)
        .env_remove("USER")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&as_nobody.stderr);
    assert!(as_nobody.status.success(), "{said}");
    assert!(said.contains("$USER is not set"), "{said}");
    // A run that has not started has no log, and says so (no cluster error).
    let (code, _, err) = kradle(&server, &["runs", "logs", &name, "--org", "acme"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is Pending: its attempt has not started"),
        "{err}"
    );
    let (code, _, err) = kradle(&server, &["runs", "cancel", &name, "--org", "acme"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kradle(&server, &["runs", "cancel", &name, "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("over (Cancelled)"), "{err}");
    let (code, _, err) = kradle(&server, &["runs", "get", "nope", "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no run"), "{err}");
    let (code, text, _) = kradle(&server, &["approvals", "list"]);
    assert_eq!((code, text.as_str()), (0, "no approvals\n"));
    let (code, _, err) = kradle(
        &server,
        &[
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer;drop",
            "--task-kind",
            "fix",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("is not a name"), "{err}");
    let (code, _, err) = kradle(&server, &["approvals", "approve", "nope", "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no approval"), "{err}");
}

/// The index of the first server whose log says `text`, waiting up to a
/// deadline.
fn first_saying(servers: &[&Server], text: &str) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        for (i, s) in servers.iter().enumerate() {
            if s.lines.try_iter().any(|l| l.contains(text)) {
                return i;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no server said {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_servers_fires_a_missed_schedule_once_and_another_takes_over() {
    // acme's `nightly-review` runs at 03:00 UTC on weekdays.
    let db = Arc::new(TestDb::new().await);
    let servers = vec![
        start_again(db.clone(), &example(), &[]).await,
        start_again(db.clone(), &example(), &[]).await,
        start_again(db.clone(), &example(), &[]).await,
    ];
    let refs: Vec<&Server> = servers.iter().collect();
    let leader = first_saying(&refs, "scheduler: leading");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // The schedule was last fired 8 days ago: several ticks were missed
    // (downtime). They fire once, for the latest.
    let seed = "INSERT INTO kradle_schedules (org, rule, last_tick)
                VALUES ('acme', 'nightly-review', now() - interval '8 days')
                ON CONFLICT (org, rule) DO UPDATE SET last_tick = now() - interval '8 days'";
    sqlx::query(seed).execute(&pool).await.unwrap();
    let fired = poll_until(
        "the missed schedule to fire",
        || runs(&db),
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (source, requested_by): (serde_json::Value, String) =
        sqlx::query_as("SELECT source_refs, requested_by FROM kradle_dispatch_runs")
            .fetch_one(&pool)
            .await
            .unwrap();
    let source = source[0].as_str().unwrap().to_string();
    assert!(
        source.starts_with("schedule:") && source.ends_with("T03:00:00Z"),
        "{source}"
    );
    assert_eq!(requested_by, "kradle-scheduler");
    let tick: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT last_tick FROM kradle_schedules")
            .fetch_one(&pool)
            .await
            .unwrap();

    // The leader dies; another server leads. Seeded back to the same
    // missed ticks, it reaches the same latest tick, which fired already.
    let mut servers = servers;
    drop(servers.remove(leader)); // SIGKILL
    let refs: Vec<&Server> = servers.iter().collect();
    first_saying(&refs, "scheduler: leading");
    sqlx::query(seed).execute(&pool).await.unwrap();
    poll_until(
        "the new leader's pass",
        || async {
            sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                "SELECT last_tick FROM kradle_schedules",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        },
        |t| *t == tick,
    )
    .await;
    assert_eq!(runs(&db).await.len(), 1, "a tick fires once");
    let executions: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_trigger_executions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(executions, 1);
}

/// The example, its fixer stack made to ask for approval of every run.
fn asking_for_approval() -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let text = std::fs::read_to_string(&agents).unwrap();
    std::fs::write(
        &agents,
        text.replace("approvalMode: write-back", "approvalMode: always"),
    )
    .unwrap();
    config
}

/// grace's `kradle dispatch` of acme's fixer on `api`: the run's name.
fn dispatch_fix(server: &Server) -> String {
    let (code, run, err) = kradle(
        server,
        &[
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
            "--repository",
            "api",
            "--as",
            "grace",
        ],
    );
    assert_eq!(code, 0, "{err}");
    run.trim().to_string()
}

/// The example with acme's fixer without its runner pool, and acme's
/// gateway at `mux`.
fn on_the_gateway(mux: &support::fake_mux::FakeMux) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let text = std::fs::read_to_string(&agents).unwrap();
    let text = text
        .replace("  runnerPolicy:\n    runnerPoolRef: default\n", "")
        .replace(
            "  gatewayUrl: https://mux.acme.example\n",
            &format!(
                "  gatewayUrl: {}\n  auth:\n    secretRef: {{ name: mux-auth, key: token }}\n",
                mux.url
            ),
        )
        .replace("backoffMs: 1000", "backoffMs: 10");
    std::fs::write(&agents, text).unwrap();
    config
}

/// The gateway URL comes from the config: on a host the operator did not
/// allow, no launch is sent (it would carry the gateway's token and the
/// run's callback token); the attempts fail saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_the_operator_did_not_allow_gets_no_launch() {
    let mux = support::fake_mux::FakeMux::start(MUX_TOKEN).await;
    let config = on_the_gateway(&mux);
    let args = ["--allow-host", "mux.acme.example", "--job-poll-ms", "20"];
    let server = start_in(Arc::new(TestDb::new().await), config.path(), &args, None).await;
    dispatch_fix(&server);
    poll_until("Failed", || runs(&server.db), |r| r[0].1 == "Failed").await;
    assert!(
        mux.seen("POST", "/v1/sessions").is_empty(),
        "nothing was launched"
    );
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let why: String = sqlx::query_scalar(
        "SELECT reason_code || ': ' || message FROM kradle_dispatch_attempts ORDER BY id LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(why.starts_with("LaunchRefused: gateway"), "{why}");
    assert!(
        why.contains("is not an allowed host for credentials"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_without_a_runner_pool_runs_on_the_gateway_pinned_to_its_memory() {
    let mux = support::fake_mux::FakeMux::start(MUX_TOKEN).await;
    mux.script_events(&["reading the log", "pushed a fix"], succeeded());
    mux.script_connections(&[support::fake_mux::Plan::Drop(1)]);
    let config = on_the_gateway(&mux);
    // acme's memory repository, `agent-memory`, as a git repository.
    let memory = tempfile::tempdir().unwrap();
    let commit = support::MemoryRepo::new(memory.path()).commit("restart the runner\n");

    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let template = format!("file://{}/{{org}}/{{repo}}.git", memory.path().display());
    let server = start_in(
        Arc::new(TestDb::new().await),
        config.path(),
        &[
            "--api-token-file",
            tokens.path().to_str().unwrap(),
            "--job-poll-ms",
            "20",
            "--memory-git-url",
            &template,
        ],
        None,
    )
    .await;
    let run = dispatch_fix(&server);
    poll_until("Succeeded", || runs(&server.db), |r| r[0].1 == "Succeeded").await;

    let launched = mux.seen("POST", "/v1/sessions");
    assert_eq!(launched.len(), 1);
    assert_eq!(
        launched[0].authorization.as_deref(),
        Some(format!("Bearer {MUX_TOKEN}").as_str())
    );
    assert_eq!(
        launched[0].body["contextBundle"]["task"]["memory"]["commit"],
        commit.as_str()
    );
    let streams = mux.seen("GET", "/v1/runs/mux-1/events");
    assert_eq!(streams.len(), 2, "the dropped stream was reopened");
    assert_eq!(streams[1].last_event_id.as_deref(), Some("1"));
    assert!(mux.invalid().is_empty(), "{:?}", mux.invalid());

    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, attempts) = api_get(
        &server,
        &format!("{ns}/agentdispatchattempts"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{attempts}");
    let attempt = &attempts["items"][0]["status"];
    assert_eq!(attempt["backend"], "agent-mux");
    assert_eq!(attempt["agentMuxRunId"], "mux-1");
    assert_eq!(attempt["agentMuxSessionId"], "s-mux-1");
    let (_, got) = api_get(
        &server,
        &format!("{ns}/agentdispatchruns/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(got["spec"]["memorySnapshotRef"], format!("{run}-memory"));
    let (status, snapshot) = api_get(
        &server,
        &format!("{ns}/agentmemorysnapshots/{run}-memory"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{snapshot}");
    assert_eq!(snapshot["spec"]["resolvedCommit"], commit.as_str());
    assert_eq!(snapshot["spec"]["memoryRepository"], "brain");
    let (_, transcript) = api_get(
        &server,
        &format!("{ns}/agentsessiontranscripts/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(transcript["status"]["eventCount"], 2);
    let (code, _, err) = kradle(&server, &["runs", "logs", &run, "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("runs on the Agent Mux gateway"), "{err}");
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains(MUX_TOKEN)),
        "the gateway token was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_its_approval_which_a_person_gives_from_the_command_line() {
    let config = asking_for_approval();
    let server = start_with(config.path(), &[]).await;
    let run = dispatch_fix(&server);
    poll_until(
        "AwaitingApproval",
        || runs(&server.db),
        |r| r[0].1 == "AwaitingApproval",
    )
    .await;
    let (code, list, _) = kradle(&server, &["approvals", "list", "--org", "acme"]);
    assert_eq!(code, 0);
    let approval = format!("{run}-secret-access");
    assert!(
        list.contains(&approval) && list.contains("Pending") && list.contains("grace"),
        "{list}"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kradle_dispatch_approvals_pending 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kradle_dispatch_runs{org=\"acme\",phase=\"AwaitingApproval\"} 1"),
        "{metrics}"
    );
    let (code, _, err) = kradle(
        &server,
        &[
            "approvals",
            "approve",
            &approval,
            "--org",
            "acme",
            "--as",
            "ada",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Approved, it goes on: no cluster here, so it waits in Queued.
    poll_until("Queued", || runs(&server.db), |r| r[0].1 == "Queued").await;
    let (code, _, err) = kradle(&server, &["approvals", "deny", &approval, "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("approved by ada"), "{err}");
    let (_, all, _) = kradle(&server, &["approvals", "list", "--all", "--json"]);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all[0]["status"]["decidedBy"], "ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitea_label_added_dispatches_and_removed_does_not() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let server = start_with(
        &example(),
        &["--api-token-file", tokens.path().to_str().unwrap()],
    )
    .await;
    // acme's `label-fix`: the label `agent-fix` added to an issue. Gitea
    // says only the labels after each change.
    let labeled = |labels: &[&str], at: &str| {
        let labels: Vec<serde_json::Value> = labels
            .iter()
            .map(|l| serde_json::json!({ "name": l }))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "action": "label_updated", "number": 4,
            "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
            "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                       "user": { "login": "alice" }, "labels": labels,
                       "assignees": null, "pull_request": null, "updated_at": at },
            "sender": { "login": "ada", "username": "ada" },
        }))
        .unwrap()
    };
    for (id, labels, at) in [
        ("l1", vec!["bug"], "2026-01-02T10:00:00Z"),
        ("l2", vec!["bug", "agent-fix"], "2026-01-02T10:01:00Z"),
        ("l3", vec!["bug"], "2026-01-02T10:02:00Z"),
    ] {
        let status = gitea_event(
            &server,
            "api-events",
            "issue_label",
            id,
            &labeled(&labels, at),
            GITEA_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202, "{id}");
        drained(&server.db).await;
    }
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, list) = api_get(
        &server,
        &format!("{ns}/agenttriggerexecutions"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let rows: Vec<(String, String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["spec"]["triggerRule"] == "label-fix")
        .map(|x| {
            (
                x["spec"]["deliveryId"].as_str().unwrap().to_string(),
                x["status"]["phase"].as_str().unwrap().to_string(),
                x["status"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "l1".into(),
                "Skipped".into(),
                "label `bug` is not one of the trigger's".into()
            ),
            ("l2".into(), "Dispatched".into(), String::new()),
            (
                "l3".into(),
                "Skipped".into(),
                "the label trigger is for `labeled`".into()
            ),
        ]
    );
    assert_eq!(runs(&server.db).await.len(), 1);
}

async fn post_as(
    server: &Server,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_dispatches_approves_and_cancels_for_write_tokens_only() {
    let config = asking_for_approval();
    let read = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(read.path(), format!("{API_TOKEN}\n")).unwrap();
    let write = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        write.path(),
        "# people who may act\nops-token-never-logged ada\n",
    )
    .unwrap();
    let server = start_with(
        config.path(),
        &[
            "--api-token-file",
            read.path().to_str().unwrap(),
            "--api-write-token-file",
            write.path().to_str().unwrap(),
        ],
    )
    .await;
    let dispatch = "/api/orgs/acme/agents/dispatch";
    let request =
        serde_json::json!({ "agentStack": "fixer", "taskKind": "fix", "repository": "api" });
    let (status, _) = post_as(&server, dispatch, API_TOKEN, request.clone()).await;
    assert_eq!(status, 403, "a read token is known, and does not act");
    let (status, body) = post_as(
        &server,
        dispatch,
        "ops-token-never-logged",
        serde_json::json!({ "agentStack": "Fixer!", "taskKind": "fix" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // What the config does not have is refused before anything is stored:
    // an org, a stack, a repository (with the name it likely meant).
    for (path, body, code, says) in [
        (
            "/api/orgs/nosuch/agents/dispatch",
            request.clone(),
            404,
            "organization `nosuch` is not in the config",
        ),
        (
            dispatch,
            serde_json::json!({ "agentStack": "fixr", "taskKind": "fix" }),
            422,
            "did you mean `fixer`?",
        ),
        (
            dispatch,
            serde_json::json!({ "agentStack": "fixer", "taskKind": "fix", "repository": "apii" }),
            422,
            "did you mean `api`?",
        ),
    ] {
        let (status, answer) = post_as(&server, path, "ops-token-never-logged", body).await;
        assert_eq!(status, code, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert!(runs(&server.db).await.is_empty());
    let (status, created) =
        post_as(&server, dispatch, "ops-token-never-logged", request.clone()).await;
    assert_eq!(status, 201, "{created}");
    let run = created["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(created["spec"]["requestedBy"], "ada");
    poll_until(
        "AwaitingApproval",
        || runs(&server.db),
        |r| r[0].1 == "AwaitingApproval",
    )
    .await;
    // The read token reads it.
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, approvals) =
        api_get(&server, &format!("{ns}/agentapprovals"), Some(API_TOKEN)).await;
    assert_eq!(status, 200);
    let approval = approvals["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(approvals["items"][0]["spec"]["requestedBy"], "ada");
    let decide = |verb: &str| format!("/api/orgs/acme/agents/approvals/{approval}/{verb}");
    let (status, _) = post_as(
        &server,
        &decide("approve"),
        API_TOKEN,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = post_as(
        &server,
        &decide("deny"),
        "ops-token-never-logged",
        serde_json::json!({ "reason": "not today" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_as(
        &server,
        &decide("approve"),
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(runs(&server.db).await[0].1, "Failed");
    let (status, _) = post_as(
        &server,
        "/api/orgs/acme/agents/approvals/nope/approve",
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 404);

    // A second run, cancelled through the API.
    let (_, created) = post_as(&server, dispatch, "ops-token-never-logged", request).await;
    let second = created["metadata"]["name"].as_str().unwrap().to_string();
    let cancel = format!("/api/orgs/acme/agents/runs/{second}/cancel");
    let (status, _) = post_as(&server, &cancel, API_TOKEN, serde_json::json!({})).await;
    assert_eq!(status, 403);
    let (status, body) = post_as(
        &server,
        &cancel,
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post_as(
        &server,
        &cancel,
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 409);
    let (_, got) = api_get(
        &server,
        &format!("{ns}/agentdispatchruns/{second}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(got["status"]["phase"], "Cancelled");
    assert_eq!(got["status"]["message"], "cancelled by ada");
    assert_ne!(run, second);
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains("ops-token-never-logged")),
        "a token was logged"
    );
}

// ---------------------------------------------------------------------------
// Behind an APIService: the API server calls over TLS with its front-proxy
// client certificate and names the caller in X-Remote-* headers.

/// Certificates as a cluster has them: a serving CA and the server's
/// certificate, the front-proxy CA and the API server's client
/// certificate (`front-proxy-client`), a certificate of the same CA under
/// another name, and one of another CA under the right name.
struct Pki {
    dir: tempfile::TempDir,
    serving_ca: String,
    proxy_ca: String,
    /// PEM of certificate and key, as `reqwest::Identity::from_pem` reads them.
    proxy: String,
    other_name: String,
    other_ca: String,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        }
        fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, cn: &str, sans: &[&str]) -> String {
            let key = KeyPair::generate().unwrap();
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, issuer).unwrap();
            format!("{}{}", cert.pem(), key.serialize_pem())
        }
        let serving = ca("kradle-serving-ca");
        let proxy_ca = ca("front-proxy-ca");
        let other_ca = ca("front-proxy-ca");
        let dir = tempfile::tempdir().unwrap();
        let server = leaf(&serving, "kradle", &["localhost", "127.0.0.1"]);
        let (cert, key) = server.split_at(server.find("-----BEGIN PRIVATE KEY").unwrap());
        std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), key).unwrap();
        Pki {
            serving_ca: serving.pem(),
            proxy: leaf(&proxy_ca, "front-proxy-client", &[]),
            other_name: leaf(&proxy_ca, "someone-else", &[]),
            other_ca: leaf(&other_ca, "front-proxy-client", &[]),
            proxy_ca: proxy_ca.pem(),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// A client that trusts the server, presenting `identity` if any.
    fn client(&self, identity: Option<&str>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.serving_ca.as_bytes()).unwrap(),
            );
        if let Some(pem) = identity {
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }
}

/// The line saying where `server` serves HTTPS, and that URL.
fn https_of(server: &Server) -> (String, String) {
    let line = wait_for(&server.lines, "serving HTTPS on ");
    let url = url_after(&line, "serving HTTPS on ");
    (line, url)
}

/// GET `url` naming `user` (in groups `devs`) in the front-proxy headers.
async fn as_user(
    client: &reqwest::Client,
    url: &str,
    user: &str,
) -> reqwest::Result<(u16, serde_json::Value)> {
    let response = client
        .get(url)
        // As Kubernetes sends it: the name's UTF-8 bytes.
        .header(
            "X-Remote-User",
            reqwest::header::HeaderValue::from_bytes(user.as_bytes()).unwrap(),
        )
        .header("X-Remote-Group", "devs")
        .header("X-Remote-Group", "system:authenticated")
        .header("X-Remote-Extra-Acme.com%2Fteam", "platform")
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_an_apiservice_the_front_proxy_names_the_caller_and_rbac_decides() {
    let pki = Pki::new();
    let (kube, kubeconfig) = cluster(&[]).await;
    {
        let mut st = kube.state.lock().unwrap();
        st.access = vec!["alice list issues kradle-org-globex".into()];
        // What the API server publishes for its aggregated servers.
        st.objects.insert(
            (
                "configmaps".into(),
                "kube-system".into(),
                "extension-apiserver-authentication".into(),
            ),
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "extension-apiserver-authentication", "namespace": "kube-system" },
                "data": {
                    "requestheader-client-ca-file": pki.proxy_ca,
                    "requestheader-allowed-names": "[\"front-proxy-client\"]",
                    "requestheader-username-headers": "[\"X-Remote-User\"]",
                    "requestheader-group-headers": "[\"X-Remote-Group\"]",
                    "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]"
                }
            }),
        );
    }
    let (cert, key) = (pki.path("tls.crt"), pki.path("tls.key"));
    let args = [
        "--workers",
        "0",
        "--dispatch",
        "off",
        "--api-token-review",
        "--requestheader-from-cluster",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ];
    let db = Arc::new(TestDb::new().await);
    let server = start_in(db, &example(), &args, Some(kubeconfig.path())).await;
    let (line, https) = https_of(&server);
    assert!(line.contains("front_proxy=true"), "{line}");
    let issues = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex/issues";
    let reviews = || kube.state.lock().unwrap().reviews.len();

    // The front proxy names alice: the cluster's RBAC lets her list.
    let proxy = pki.client(Some(&pki.proxy));
    let (status, list) = as_user(&proxy, &format!("{https}{issues}"), "alice")
        .await
        .unwrap();
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "IssueList");
    let review = kube.state.lock().unwrap().reviews[0].clone();
    assert_eq!(review["spec"]["user"], "alice");
    assert_eq!(
        review["spec"]["groups"],
        serde_json::json!(["devs", "system:authenticated"])
    );
    assert_eq!(
        review["spec"]["extra"],
        serde_json::json!({ "acme.com/team": ["platform"] })
    );
    assert_eq!(
        review["spec"]["resourceAttributes"],
        serde_json::json!({ "group": "data.kradle.a5c.ai", "version": "v1alpha1",
                            "resource": "issues", "namespace": "kradle-org-globex", "verb": "list" })
    );

    // The API server's availability check: discovery as
    // system:kube-aggregator must answer 2xx, or the APIService is not
    // Available. Discovery needs no SubjectAccessReview.
    let aggregator = |path: String| {
        proxy
            .get(format!("{https}{path}"))
            .header("X-Remote-User", "system:kube-aggregator")
            .header("X-Remote-Group", "system:masters")
            .send()
    };
    let before = reviews();
    let check = aggregator("/apis/data.kradle.a5c.ai/v1alpha1".into())
        .await
        .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    let discovery: serde_json::Value = check.json().await.unwrap();
    assert_eq!(discovery["kind"], "APIResourceList");
    assert_eq!(reviews(), before);

    // The API server then fetches the OpenAPI v3 document, which `kubectl
    // explain` reads kinds from by their group/version/kind.
    let index: serde_json::Value = aggregator("/openapi/v3".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = index["paths"]["apis/data.kradle.a5c.ai/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("?hash="), "{url}");
    let response = aggregator(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let openapi: serde_json::Value = response.json().await.unwrap();
    assert_eq!(openapi["openapi"], "3.0.0");
    let schemas = openapi["components"]["schemas"].as_object().unwrap();
    for (kind, plural, _) in kradle_runtime::serve::api::kinds() {
        let found = schemas.values().any(|s| {
            s["x-kubernetes-group-version-kind"]
                == serde_json::json!([{ "group": "data.kradle.a5c.ai", "version": "v1alpha1", "kind": kind }])
        });
        assert!(found, "{kind} has no schema");
        let path = format!("/apis/data.kradle.a5c.ai/v1alpha1/namespaces/{{namespace}}/{plural}");
        assert!(openapi["paths"].get(&path).is_some(), "{path}");
    }
    let issue = &schemas["ai.a5c.kradle.data.v1alpha1.Issue"];
    assert_eq!(
        issue["properties"]["spec"]["properties"]["title"]["type"],
        "string"
    );
    // Every reference resolves.
    let text = openapi.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "{name} is referenced, not defined"
        );
    }
    assert_eq!(reviews(), before, "the document needs no access review");

    // Bob is authenticated, not allowed: 403, worded as Kubernetes words it.
    let (status, denied) = as_user(&proxy, &format!("{https}{issues}"), "bob")
        .await
        .unwrap();
    assert_eq!(status, 403, "{denied}");
    assert_eq!(denied["reason"], "Forbidden");
    assert_eq!(
        denied["message"],
        "issues.data.kradle.a5c.ai is forbidden: User \"bob\" cannot list resource \"issues\" \
         in API group \"data.kradle.a5c.ai\" in the namespace \"kradle-org-globex\""
    );
    assert_eq!(reviews(), 2);
    // A name need not be ASCII: it reaches the review as sent.
    let (status, _) = as_user(&proxy, &format!("{https}{issues}"), "zoë")
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(kube.state.lock().unwrap().reviews[2]["spec"]["user"], "zoë");

    // Anyone else who writes the headers is nobody: no certificate, one of
    // the CA under another name, the plain HTTP listener.
    let asked = reviews();
    for (client, base) in [
        (pki.client(None), &https),
        (pki.client(Some(&pki.other_name)), &https),
        (reqwest::Client::new(), &server.url),
    ] {
        let (status, body) = as_user(&client, &format!("{base}{issues}"), "alice")
            .await
            .unwrap();
        assert_eq!(status, 401, "{base}: {body}");
        assert_eq!(body["reason"], "Unauthorized");
    }
    assert_eq!(reviews(), asked, "headers not believed are never reviewed");

    // A certificate of another CA does not get through the handshake.
    let rogue = pki.client(Some(&pki.other_ca));
    assert!(
        as_user(&rogue, &format!("{https}{issues}"), "alice")
            .await
            .is_err()
    );

    // Forges and probes need no certificate on the HTTPS port either.
    let health = pki
        .client(None)
        .get(format!("{https}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(kube.state.lock().unwrap().invalid.is_empty());
}

/// `/metrics` is open by default (Prometheus scrapes in-cluster); with
/// --metrics-require-token it answers API readers only, on both listeners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_an_api_token() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let open = start().await;
    let answer = reqwest::get(format!("{}/metrics", open.url)).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let args = [
        "--workers",
        "0",
        "--api-token-file",
        token_file,
        "--metrics-require-token",
        "--tls-listen",
        "127.0.0.1:0",
    ];
    let server = start_with(&example(), &args).await;
    let (_, https) = https_of(&server);
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    for base in [&server.url, &https] {
        for (token, expected) in [(None, 401), (Some("guess"), 401), (Some(API_TOKEN), 200)] {
            let mut request = client.get(format!("{base}/metrics"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status().as_u16(), expected, "{base} {token:?}");
            if expected == 200 {
                let text = answer.text().await.unwrap();
                assert!(text.contains("kradle_webhook_deliveries_total"), "{text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_https_is_self_signed_and_a_bad_ca_stops_the_start() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let args = [
        "--workers",
        "0",
        "--api-token-file",
        token_file,
        "--tls-listen",
        "127.0.0.1:0",
    ];
    let server = start_with(&example(), &args).await;
    let (line, https) = https_of(&server);
    assert!(line.contains("self_signed=true"), "{line}");
    assert!(line.contains("front_proxy=false"), "{line}");
    let base = "/apis/data.kradle.a5c.ai/v1alpha1";
    // A client that verifies refuses the certificate; one told not to reads
    // the API with a token, as on the plain port.
    assert!(reqwest::get(format!("{https}/healthz")).await.is_err());
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let discovery = insecure
        .get(format!("{https}{base}"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status().as_u16(), 200);
    // The OpenAPI document, like discovery, needs an authenticated caller.
    for (token, expected) in [(None, 401), (Some(API_TOKEN), 200)] {
        let mut request = insecure.get(format!("{https}/openapi/v3"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), expected);
    }
    // Without a front proxy, the headers name nobody.
    let anonymous = insecure
        .get(format!("{https}{base}"))
        .header("X-Remote-User", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    drop(server);

    // A front-proxy CA that is not PEM: refused at start, naming the file.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "not a certificate\n").unwrap();
    let db = TestDb::new().await;
    let (_kube, kubeconfig) = cluster(&[]).await;
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .args(["--dispatch", "off", "--api-token-review", "--secrets"])
        .arg(secrets_file().path())
        .arg("--requestheader-client-ca-file")
        .arg(bad.path())
        .arg(example())
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KUBECONFIG", kubeconfig.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&bad.path().display().to_string())
            && stderr.contains("the front-proxy CA holds no certificate"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_refused() {
    let (first, renewed) = (Pki::new(), Pki::new());
    let (cert, key) = (first.path("tls.crt"), first.path("tls.key"));
    let args = [
        "--workers",
        "0",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-reload",
        "1",
    ];
    let server = start_with(&example(), &args).await;
    let (_, https) = https_of(&server);
    let healthy = |pki: &Pki| {
        let client = pki.client(None);
        let url = format!("{https}/healthz");
        async move { client.get(url).send().await.is_ok() }
    };
    assert!(healthy(&first).await);
    assert!(!healthy(&renewed).await, "the renewed CA is not in use yet");

    // cert-manager renews the Secret: the files change in place.
    for name in ["tls.crt", "tls.key"] {
        std::fs::copy(renewed.dir.path().join(name), first.dir.path().join(name)).unwrap();
    }
    wait_for(&server.lines, "the TLS certificate changed");
    assert!(healthy(&renewed).await);
    assert!(
        !healthy(&first).await,
        "the old certificate is no longer served"
    );

    // A certificate whose key does not match is refused; the last good one stays.
    let other = Pki::new();
    std::fs::copy(
        other.dir.path().join("tls.key"),
        first.dir.path().join("tls.key"),
    )
    .unwrap();
    let refused = wait_for(&server.lines, "the TLS certificate is refused");
    assert!(!refused.contains("PRIVATE KEY"), "{refused}");
    assert!(healthy(&renewed).await);
}
