//! Backfill: what a forge never delivered, recovered from its listings.

use super::*;

/// A local HTTP proxy to `upstream` that adds `Authorization: Bearer
/// <token>` to every GET; returns its URL.
pub(crate) async fn token_proxy(upstream: &str, token: &'static str) -> String {
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

pub(crate) fn fake_issue(
    number: u64,
    title: &str,
    updated_at: &str,
    pull: bool,
) -> serde_json::Value {
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

pub(crate) async fn projection_title(db: &TestDb, kind: &str, number: u64) -> Option<String> {
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
pub(crate) async fn until_title(db: &TestDb, kind: &str, number: u64, title: &str) {
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
