//! Webhook ingest: deliveries verified, stored once, refused when they cannot be;
//! health, shutdown and config reloads.

use super::*;

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

pub(crate) fn form_encode(s: &str) -> String {
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
pub(crate) async fn answer_to_headers(server: &Server, head: &str) -> String {
    answer_to(server, head.as_bytes()).await
}

/// Writes `request` whole on a new connection to `server`, then reads the
/// status line of the answer.
pub(crate) async fn answer_to(server: &Server, request: &[u8]) -> String {
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
