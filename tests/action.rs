//! The GitHub Action's comment step (`action/comment.mjs`, run by `action.yml`)
//! against a stateful fake of GitHub's issue-comment API: one comment per pull
//! request, updated and never duplicated, within 65,536 characters. Every
//! request is checked against GitHub's OpenAPI description in
//! `testdata/upstream`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_fake-action-token";
const READ_ONLY: &str = "ghs_fake-read-only-fork-token";
const MARKER: &str = "<!-- kradle-plan -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone)]
struct Comment {
    id: u64,
    login: String,
    bot: bool,
    body: String,
}

#[derive(Default)]
struct Fake {
    comments: Vec<Comment>,
    next_id: u64,
    /// Answer this many listings with a 502 first.
    fail_listings: usize,
    /// Every request: (method, path).
    requests: Vec<(String, String)>,
    base: String,
}

type Shared = Arc<Mutex<Fake>>;

fn record(fake: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    fake.lock()
        .unwrap()
        .requests
        .push((method.to_string(), uri.path().to_string()));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    // A fork's pull request: the token reads, and may not write (GitHub's
    // answer to a GITHUB_TOKEN without `pull-requests: write`).
    if auth == Some(&format!("Bearer {READ_ONLY}")) && method != Method::GET {
        return Some(
            (
                StatusCode::FORBIDDEN,
                Json(json!({"message": "Resource not accessible by integration"})),
            )
                .into_response(),
        );
    }
    if auth != Some(&format!("Bearer {TOKEN}")) && auth != Some(&format!("Bearer {READ_ONLY}")) {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            )
                .into_response(),
        );
    }
    None
}

fn view(c: &Comment) -> Value {
    json!({ "id": c.id, "body": c.body,
            "user": { "login": c.login, "type": if c.bot { "Bot" } else { "User" } } })
}

async fn list(
    State(fake): State<Shared>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    Query(q): Query<BTreeMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = record(&fake, &method, &uri, &headers) {
        return r;
    }
    assert_eq!(
        (owner.as_str(), repo.as_str(), number),
        ("acme", "platform", 7)
    );
    let mut f = fake.lock().unwrap();
    if f.fail_listings > 0 {
        f.fail_listings -= 1;
        return (StatusCode::BAD_GATEWAY, "upstream").into_response();
    }
    // GitHub's pagination: per_page at most 100 (default 30), page from 1, Link rel="next".
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .min(100);
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let items: Vec<Value> = f
        .comments
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(view)
        .collect();
    let mut response = Json(Value::Array(items)).into_response();
    if page * per_page < f.comments.len() {
        let next = format!(
            "<{}/repos/acme/platform/issues/7/comments?per_page={per_page}&page={}>; rel=\"next\"",
            f.base,
            page + 1
        );
        response.headers_mut().insert("link", next.parse().unwrap());
    }
    response
}

async fn create(
    State(fake): State<Shared>,
    Path((_, _, number)): Path<(String, String, u64)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = record(&fake, &method, &uri, &headers) {
        return r;
    }
    assert_eq!(number, 7);
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let mut f = fake.lock().unwrap();
    f.next_id += 1;
    let comment = Comment {
        id: f.next_id,
        login: "github-actions[bot]".into(),
        bot: true,
        body: body["body"].as_str().unwrap().to_string(),
    };
    f.comments.push(comment.clone());
    (StatusCode::CREATED, Json(view(&comment))).into_response()
}

async fn update(
    State(fake): State<Shared>,
    Path((_, _, id)): Path<(String, String, u64)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(r) = record(&fake, &method, &uri, &headers) {
        return r;
    }
    let mut f = fake.lock().unwrap();
    let Some(i) = f.comments.iter().position(|c| c.id == id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    };
    // The token's account may only change its own comments.
    if f.comments[i].login != "github-actions[bot]" {
        return (StatusCode::FORBIDDEN, Json(json!({"message": "Forbidden"}))).into_response();
    }
    if method == Method::DELETE {
        f.comments.remove(i);
        return StatusCode::NO_CONTENT.into_response();
    }
    let Json(body) = body.unwrap();
    f.comments[i].body = body["body"].as_str().unwrap().to_string();
    Json(view(&f.comments[i])).into_response()
}

struct Server {
    fake: Shared,
    base: String,
    _runtime: tokio::runtime::Runtime,
}

fn serve(comments: Vec<Comment>) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let next_id = comments.iter().map(|c| c.id).max().unwrap_or(0);
    let fake: Shared = Arc::new(Mutex::new(Fake {
        comments,
        next_id,
        ..Fake::default()
    }));
    let app = Router::new()
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list).post(create),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            patch(update).delete(update),
        )
        .with_state(fake.clone());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    fake.lock().unwrap().base = base.clone();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        fake,
        base,
        _runtime: runtime,
    }
}

fn human(id: u64, body: &str) -> Comment {
    Comment {
        id,
        login: "grace".into(),
        bot: false,
        body: body.into(),
    }
}

/// Runs the step as action.yml does; returns (exit code, stdout, stderr).
fn comment(server: &Server, body: &str) -> (i32, String, String) {
    comment_with(server, body, TOKEN)
}

/// The step with `token` as GITHUB_TOKEN.
fn comment_with(server: &Server, body: &str, token: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.md");
    std::fs::write(&file, body).unwrap();
    let o = Command::new("node")
        .arg(root().join("action/comment.mjs"))
        .env("GITHUB_TOKEN", token)
        .env("GITHUB_API_URL", &server.base)
        .env("GITHUB_REPOSITORY", "acme/platform")
        .env("KRADLE_PR", "7")
        .env("KRADLE_COMMENT_FILE", &file)
        .env_remove("KRADLE_COMMENT_AUTHOR")
        .output()
        .expect("node (Node.js 20) must be installed to test the action");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ours(server: &Server) -> Vec<Comment> {
    let f = server.fake.lock().unwrap();
    f.comments.iter().filter(|c| c.bot).cloned().collect()
}

/// Every request names an operation of GitHub's REST description.
fn check_against_openapi(server: &Server) {
    let spec: Value = serde_json::from_slice(
        &std::fs::read(root().join("testdata/upstream/github/api.github.com.json")).unwrap(),
    )
    .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for (method, path) in &server.fake.lock().unwrap().requests {
        let segments: Vec<&str> = path.split('/').collect();
        let matched = paths.iter().find(|(template, ops)| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(a, b)| a.starts_with('{') || a == b)
                && ops.get(method.to_lowercase()).is_some()
        });
        assert!(
            matched.is_some(),
            "{method} {path} is not in GitHub's API description"
        );
    }
}

#[test]
fn the_plan_comment_is_created_once_then_updated_across_pages() {
    // 230 comments of people first: the bot's comment is on the third page.
    let server = serve((1..=230).map(|i| human(i, "looks good")).collect());
    server.fake.lock().unwrap().fail_listings = 1;
    let plan = format!("{MARKER}\n### kradle plan\n\n2 objects to add\n");
    let (code, out, err) = comment(&server, &plan);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("created comment 231"), "{out}");
    assert_eq!(ours(&server).len(), 1);

    // The next push: the same comment, updated.
    let plan2 = format!("{MARKER}\n### kradle plan\n\n3 objects to add\n");
    let (code, out, err) = comment(&server, &plan2);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("updated comment 231"), "{out}");
    let mine = ours(&server);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].body, plan2);
    // The same plan again writes nothing.
    let writes = |s: &Server| {
        s.fake
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(m, _)| m != "GET")
            .count()
    };
    let before = writes(&server);
    let (code, out, _) = comment(&server, &plan2);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(writes(&server), before);
    // Three listings of three pages, plus the 502 retried.
    let gets = server
        .fake
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(m, _)| m == "GET")
        .count();
    assert_eq!(gets, 10);
    check_against_openapi(&server);
}

#[test]
fn duplicates_are_removed_and_other_peoples_comments_are_left_alone() {
    let mut comments = vec![
        human(1, &format!("{MARKER}\nI pasted a plan by hand")),
        Comment {
            id: 2,
            login: "github-actions[bot]".into(),
            bot: true,
            body: format!("{MARKER}\nold"),
        },
        human(3, "nice"),
        Comment {
            id: 4,
            login: "github-actions[bot]".into(),
            bot: true,
            body: format!("{MARKER}\nracing run"),
        },
    ];
    comments.push(Comment {
        id: 5,
        login: "github-actions[bot]".into(),
        bot: true,
        body: "a bot's other comment".into(),
    });
    let server = serve(comments);
    let (code, out, err) = comment(&server, "### kradle plan\n\nno marker in this file\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("updated comment 2") && out.contains("deleted duplicate comment 4"),
        "{out}"
    );
    let f = server.fake.lock().unwrap();
    let ids: Vec<u64> = f.comments.iter().map(|c| c.id).collect();
    assert_eq!(ids, [1, 2, 3, 5]);
    assert_eq!(
        f.comments[0].body,
        format!("{MARKER}\nI pasted a plan by hand")
    );
    assert!(
        f.comments[1]
            .body
            .starts_with(&format!("{MARKER}\n### kradle plan")),
        "the marker is added"
    );
    drop(f);
    check_against_openapi(&server);
}

#[test]
fn a_body_over_githubs_limit_is_cut_to_65536_characters_with_a_notice() {
    let server = serve(Vec::new());
    // Multi-byte characters: the limit counts characters, not bytes.
    let plan = format!("{MARKER}\n{}", "é".repeat(70_000));
    let (code, _, err) = comment(&server, &plan);
    assert_eq!(code, 0, "{err}");
    let body = &ours(&server)[0].body;
    assert_eq!(body.chars().count(), 65_536);
    assert!(
        body.ends_with("run `kradle plan` for all of it.\n"),
        "{}",
        &body[body.len() - 200..]
    );
}

#[test]
fn a_refused_token_fails_the_step_without_printing_it() {
    let server = serve(Vec::new());
    let (code, _, err) = comment_with(&server, "x", "ghp_wrong-token-value");
    assert_eq!(code, 1);
    assert!(err.contains("401 Bad credentials"), "{err}");
    assert!(!err.contains("wrong-token-value"), "{err}");
    assert!(ours(&server).is_empty());
}

#[test]
fn a_read_only_token_warns_with_the_hint_and_does_not_fail_the_job() {
    let server = serve(Vec::new());
    let (code, out, err) = comment_with(&server, "the plan", READ_ONLY);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("::warning::"), "{out}");
    assert!(
        out.contains("Resource not accessible by integration"),
        "{out}"
    );
    assert!(out.contains("pull-requests: write"), "{out}");
    assert!(!out.contains(READ_ONLY) && !err.contains(READ_ONLY));
    assert!(ours(&server).is_empty());
}

#[test]
fn the_action_runs_the_script_and_the_commands_kradle_has() {
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let (docs, errors) = kradle_compiler::yaml::parse(&action);
    assert!(errors.is_empty(), "{errors:?}");
    let action = docs[0].root.to_json();
    assert_eq!(action["runs"]["using"], "composite");
    let runs: Vec<&str> = action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.iter().any(|r| r.contains("action/comment.mjs")));
    // Each kradle invocation uses flags kradle has.
    for line in runs.iter().flat_map(|r| r.lines()) {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("kradle ") else {
            continue;
        };
        let command = rest.split_whitespace().next().unwrap();
        let help = Command::new(env!("CARGO_BIN_EXE_kradle"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "kradle {command}");
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in rest.split_whitespace().filter(|w| w.starts_with("--")) {
            assert!(help.contains(flag), "kradle {command} has no {flag}");
        }
    }
}

/// The Action builds nothing when a kradle of the pinned version is already
/// on the PATH (a container image, a runner image): its "find" step, run
/// for real with bash, says so; with another version on the PATH, it does
/// not.
#[test]
fn a_kradle_of_the_pinned_version_on_the_path_is_used_as_it_is() {
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let (docs, errors) = kradle_compiler::yaml::parse(&action);
    assert!(errors.is_empty(), "{errors:?}");
    let action = docs[0].root.to_json();
    let steps = action["runs"]["steps"].as_array().unwrap();
    let find = steps.iter().find(|s| s["id"] == "find").unwrap();
    let script = find["run"].as_str().unwrap();
    // The steps that build or install are skipped when it found one.
    let skipped: Vec<&str> = steps
        .iter()
        .filter(|s| {
            s["if"]
                .as_str()
                .is_some_and(|c| c.contains("steps.find.outputs.found != 'true'"))
        })
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        skipped,
        [
            "Cache kradle ${{ inputs.version }}",
            "Install kradle ${{ inputs.version }}",
            "Put kradle on the PATH"
        ]
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kradle"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |version: &str| -> String {
        let out = tempfile::NamedTempFile::new().unwrap();
        let status = Command::new("bash")
            .args(["-c", script])
            .env("PATH", &path)
            .env("VERSION", version)
            .env("GITHUB_OUTPUT", out.path())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(out.path()).unwrap()
    };
    assert_eq!(run(env!("CARGO_PKG_VERSION")), "found=true\n");
    assert_eq!(run("9.9.9"), "found=false\n");
}
