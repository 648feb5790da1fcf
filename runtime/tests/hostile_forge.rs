//! The forge client against a forge that does not answer as a forge should:
//! a huge answer, an answer that is not JSON, a body cut off, redirects to
//! another server (on a read and on a write), and the same-origin redirect
//! GitHub documents for a renamed repository. And `apply` against a Gitea
//! whose writes are answered 200 with an error page: the operations fail,
//! their dependents are skipped, and no placeholder is ever sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kradle_compiler::forge_plan::{Action, Backend};
use kradle_runtime::apply::{ApplyOptions, Outcome, apply};
use kradle_runtime::forge::http::{Http, HttpError, RetryPolicy};
use reqwest::Method;
use serde_json::{Value, json};
use support::TestDb;
use support::fake_gitea::{FakeGitea, Faults};
use support::upstream::Api;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// A server that counts what reaches it: where a redirect would send the
/// request (and its credentials).
async fn elsewhere() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!([{ "name": "from elsewhere" }]))
        }
    });
    (serve(app).await, hits)
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(1),
        max_wait: Duration::from_millis(5),
        max_total: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
    }
}

/// 1 GiB of a JSON array, made as it is sent (never held).
fn huge() -> Response {
    let chunk = axum::body::Bytes::from(vec![b' '; 1 << 20]);
    let chunks = std::iter::once(axum::body::Bytes::from_static(b"["))
        .chain(std::iter::repeat_n(chunk, 1024))
        .chain(std::iter::once(axum::body::Bytes::from_static(b"]")))
        .map(Ok::<_, std::io::Error>);
    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

#[tokio::test]
async fn answers_that_are_not_what_a_forge_answers_fail_their_request() {
    let (other, hits) = elsewhere().await;
    let cut_hits = Arc::new(AtomicUsize::new(0));
    let counted = cut_hits.clone();
    let to = other.clone();
    let app = Router::new()
        .route("/api/v1/huge", get(|| async { huge() }))
        .route(
            "/api/v1/announced",
            get(|| async { ([(header::CONTENT_LENGTH, "4096")], vec![b' '; 4096]) }),
        )
        .route(
            "/api/v1/garbage",
            get(|| async { (StatusCode::OK, "<html>Bad gateway</html>") }),
        )
        .route("/api/v1/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/api/v1/cut",
            get(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    // Announces more than it sends, then ends.
                    let chunks = vec![
                        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"[1,")),
                        Err(std::io::Error::other("the connection broke")),
                    ];
                    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
                }
            }),
        )
        .route(
            "/api/v1/away",
            get({
                let to = to.clone();
                move || async move {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, format!("{to}/api/v1/x"))],
                    )
                }
            }),
        )
        .route(
            "/api/v1/hooks",
            post({
                let to = to.clone();
                move || async move {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(header::LOCATION, format!("{to}/api/v1/hooks"))],
                    )
                }
            }),
        )
        .route(
            "/api/v1/repos/o/old",
            get(|| async {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [(header::LOCATION, "/api/v1/repositories/7")],
                )
            }),
        )
        .route(
            "/api/v1/repositories/7",
            get(|| async { axum::Json(json!({ "id": 7, "name": "new" })) }),
        )
        .route(
            "/api/v1/loop",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/api/v1/loop")]) }),
        );
    let base = format!("{}/api/v1", serve(app).await);
    let token = kradle_runtime::secrets::SecretValue::new("token never-elsewhere");
    let http = Http::new(&base, Some(token), quick()).unwrap();
    let invalid = |r: Result<kradle_runtime::forge::http::Response, HttpError>| match r {
        Err(HttpError::Invalid { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };

    // 1 GiB: refused once past the cap, not held.
    let why = invalid(http.get("/huge").await);
    assert!(why.contains("larger than 67108864 bytes"), "{why}");
    // An announced length past the cap: refused before reading.
    let small = Http::new(&base, None, quick()).unwrap().with_max_body(1024);
    let why = invalid(small.get("/announced").await);
    assert!(why.contains("larger than 1024 bytes"), "{why}");
    // A 200 that is not JSON.
    let why = invalid(http.get("/garbage").await);
    assert!(why.contains("not JSON"), "{why}");
    // An empty answer is null.
    assert_eq!(http.get("/empty").await.unwrap().body, Value::Null);
    // A body cut off is a transport error, retried as one.
    match http.get("/cut").await {
        Err(HttpError::Exhausted { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(cut_hits.load(Ordering::SeqCst), 3);

    // A redirect to another server, on a read and on a write: not followed,
    // nothing (and no credential) reaches it.
    let why = invalid(http.get("/away").await);
    assert!(why.contains("not followed"), "{why}");
    assert!(why.contains(&other), "{why}");
    let written = http
        .send(
            Method::POST,
            "/hooks",
            Some(&json!({ "config": { "secret": "s3cret" } })),
        )
        .await;
    let why = invalid(written);
    assert!(why.contains("HTTP 307"), "{why}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the other server"
    );

    // GitHub's renamed repository: a GET redirected within the API's origin.
    assert_eq!(http.get("/repos/o/old").await.unwrap().body["name"], "new");
    // A redirect loop ends.
    let why = invalid(http.get("/loop").await);
    assert!(why.contains("not followed"), "{why}");
}

/// The scenario of the hardening review: every write answered 200 with an
/// error page. Before, apply counted them created and then sent PUTs to
/// `/orgs/…/teams/${op:…}`; now each fails, its dependents are skipped, and
/// no request carries a placeholder.
#[tokio::test]
async fn writes_answered_with_an_error_page_fail_and_their_dependents_are_skipped() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeGitea::start(Api::gitea()).await;
    let plan = support::example_plan("acme", Backend::Gitea);
    fake.with(|w| {
        for op in &plan.operations {
            if op.action == Action::EnsureUserMapping {
                w.users.insert(op.target.user.clone().unwrap());
            }
        }
        w.faults = Faults {
            garbage: 1.0,
            ..Faults::default()
        };
    });
    let secrets = support::secrets_for(&plan);
    let report = apply(
        &store,
        &fake.client(),
        &plan,
        &secrets,
        &ApplyOptions::default(),
        &mut |_| {},
    )
    .await;
    // The organization's create is answered with garbage: it fails, and
    // everything under it is skipped.
    let report = report.expect("the run reports");
    {
        let failed = report
            .operations
            .iter()
            .filter(|o| o.result == Outcome::Failed)
            .count();
        assert!(failed >= 1, "{:?}", report.operations);
        assert_eq!(
            report
                .operations
                .iter()
                .filter(|o| matches!(o.result, Outcome::Created | Outcome::Updated))
                .count(),
            0,
            "nothing counts as done: {:?}",
            report.operations
        );
        let skipped = report
            .operations
            .iter()
            .filter(|o| o.result == Outcome::Skipped)
            .count();
        assert!(skipped > 5, "{:?}", report.operations);
    }
    let sent = fake.with(|w| w.writes.clone());
    assert!(
        sent.iter().all(|w| !w.contains("${") && !w.contains("%7B")),
        "{sent:?}"
    );
    let placeholders: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kradle_write_intents WHERE path LIKE '%${%' AND phase = 'Succeeded'",
    )
    .fetch_one(&sqlx::PgPool::connect(&db.url).await.unwrap())
    .await
    .unwrap();
    assert_eq!(placeholders, 0);
}
