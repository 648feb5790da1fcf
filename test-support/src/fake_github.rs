//! A stateful fake of GitHub's REST API, served by axum on a local port,
//! for the apply tests.
//!
//! It behaves like GitHub where kradle can notice, checked against the
//! exchanges recorded with the real api.github.com
//! (`testdata/upstream/github/octokit-fixtures`, replayed by
//! `runtime/tests/github_fixtures.rs`):
//! - lists paginate (`per_page` ≤ 100, default 30) with absolute `Link`
//!   URLs under `/repositories/{id}/…` for a repository's lists, as GitHub
//!   gives them, with `prev`, `next`, `last` and `first` where they apply;
//!   they answer `ETag`s: a read with a matching `If-None-Match` gets
//!   `304 Not Modified`;
//! - errors are `{"message", "documentation_url"}`;
//! - a repository's collaborators include the organization's owners
//!   unless `affiliation=direct` is asked;
//! - duplicates are refused with 422 (repository, team, deploy key, a hook
//!   with the same URL);
//! - a repository created without `auto_init` has no branch: its default
//!   branch cannot be changed and no branch of it can be protected until a
//!   branch is pushed ([`FakeGitHub::push`]);
//! - a user outside the organization is invited: a team membership is
//!   `pending` and not listed among the members, a collaborator becomes a
//!   repository invitation (201), which the invitee accepts with `PATCH
//!   /user/repository_invitations/{id}` (204);
//! - a hook's secret is answered as `********`.
//!
//! Every request is checked against GitHub's OpenAPI description
//! (`violations`). Faults can be injected as in the Gitea fake, plus
//! primary rate limits (403 with `x-ratelimit-remaining: 0`).
//!
//! Authentication: `Authorization: Bearer <TOKEN>` (or `token <TOKEN>`),
//! or an installation token obtained at `POST
//! /app/installations/{id}/access_tokens` with any well-formed App JWT (the
//! JWT itself is verified in `github_app.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use super::fake_http::Faults;
use super::fake_http::{
    json_body, json_response, latency, material, merge, message, percent_decode, query_of,
    slice_page,
};
use super::upstream::Api;

/// The personal access token the fake accepts.
pub const TOKEN: &str = "ghp_fakeGitHubToken0123456789";
/// The installation token it hands out for an App JWT.
pub const INSTALLATION_TOKEN: &str = "ghs_fakeInstallationToken0123456789";

#[derive(Debug, Default, Clone)]
pub struct Repo {
    pub value: Value,
    pub branches: BTreeSet<String>,
    /// login → permission (`pull`, `push`, `admin`, …).
    pub collaborators: BTreeMap<String, String>,
    /// Open invitations: `{id, invitee: {login}, permissions}`.
    pub invitations: Vec<Value>,
    pub keys: Vec<Value>,
    /// With their secret, which is never shown.
    pub hooks: Vec<Value>,
    /// branch → protection (in the shape GET answers).
    pub protections: BTreeMap<String, Value>,
    /// Issues and pull requests, as `GET /repos/{o}/{r}/issues` lists them
    /// (a pull request has a `pull_request` field).
    pub issues: Vec<Value>,
    /// branch → its head commit (`push_commit`).
    pub heads: BTreeMap<String, String>,
    /// Pull requests, as `GET /repos/{o}/{r}/pulls` lists them.
    pub pulls: Vec<Value>,
    /// issue or pull number → its comments.
    pub comments: BTreeMap<u64, Vec<Value>>,
    /// sha → the commit's statuses, oldest first.
    pub statuses: BTreeMap<String, Vec<Value>>,
}

#[derive(Debug, Default, Clone)]
pub struct Team {
    pub org: String,
    pub value: Value,
    /// login → role, active members.
    pub members: BTreeMap<String, String>,
    /// login → role, invited and not yet in the organization.
    pub pending: BTreeMap<String, String>,
    /// repository → permission.
    pub repos: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct World {
    /// organization → its members.
    pub orgs: BTreeMap<String, BTreeSet<String>>,
    /// organization → its owners (members with the admin role): admins of
    /// every repository of it.
    pub owners: BTreeMap<String, BTreeSet<String>>,
    /// login → id.
    pub users: BTreeMap<String, i64>,
    pub repos: BTreeMap<(String, String), Repo>,
    pub teams: BTreeMap<i64, Team>,
    /// Display names of users and organizations (`name`).
    pub profiles: BTreeMap<String, String>,
    pub next_id: i64,
    /// Every write that changed something: "METHOD /path".
    pub writes: Vec<String>,
    pub requests: usize,
    /// Reads answered 304.
    pub not_modified: usize,
    /// Installation tokens handed out.
    pub exchanges: usize,
    pub violations: Vec<String>,
    pub faults: Faults,
    /// The next this many requests hit the primary rate limit (403).
    pub rate_limited: usize,
    pub injected: usize,
    pub delay: std::time::Duration,
    /// How long a write that changed something waits, once applied,
    /// before it is answered (a process killed meanwhile never hears).
    pub answer_delay: std::time::Duration,
    rng: u64,
}

impl World {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn org(&mut self, org: &str) {
        self.orgs.entry(org.to_string()).or_default();
    }

    /// A user; `member_of` an organization, or outside any.
    pub fn user(&mut self, login: &str, member_of: Option<&str>) {
        let id = self.id();
        self.users.entry(login.to_string()).or_insert(id);
        if let Some(org) = member_of {
            self.orgs
                .entry(org.to_string())
                .or_default()
                .insert(login.to_string());
        }
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&(owner.to_string(), name.to_string()))
    }

    pub fn team_named(&self, org: &str, name: &str) -> Option<&Team> {
        self.teams
            .values()
            .find(|t| t.org == org && t.value["name"] == name)
    }

    fn team_by_slug(&mut self, org: &str, slug: &str) -> Option<&mut Team> {
        self.teams
            .values_mut()
            .find(|t| t.org == org && t.value["slug"] == slug)
    }

    fn user_json(&self, login: &str) -> Value {
        json!({ "login": login, "id": self.users.get(login).copied().unwrap_or(0), "type": "User" })
    }
}

/// A running fake; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct FakeGitHub {
    pub url: String,
    pub world: Arc<Mutex<World>>,
}

impl FakeGitHub {
    pub async fn start(api: Api) -> FakeGitHub {
        let world = Arc::new(Mutex::new(World {
            rng: 0x9e37_79b9_7f4a_7c15,
            ..World::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(handle)
            .with_state((world.clone(), api, url.clone()));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitHub { url, world }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }

    /// Someone pushed `sha` to `branch` of `owner/repo`.
    pub fn push_commit(&self, owner: &str, repo: &str, branch: &str, sha: &str) {
        self.with(|w| {
            if let Some(r) = w.repos.get_mut(&(owner.to_string(), repo.to_string())) {
                r.branches.insert(branch.to_string());
                r.heads.insert(branch.to_string(), sha.to_string());
            }
        });
    }

    /// Someone pushed `branch` to `owner/repo`.
    pub fn push(&self, owner: &str, repo: &str, branch: &str) {
        self.with(|w| {
            if let Some(r) = w.repos.get_mut(&(owner.to_string(), repo.to_string())) {
                r.branches.insert(branch.to_string());
            }
        });
    }
}

type AppState = (Arc<Mutex<World>>, Api, String);

async fn handle(
    State((world, api, base)): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = percent_decode(uri.path());
    let query = query_of(uri.query());
    let body = match json_body(&body, "Problems parsing JSON") {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let delay = world.lock().unwrap().delay;
    latency(delay).await;
    let (response, injection, answer_delay) = {
        let mut w = world.lock().unwrap();
        w.requests += 1;
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // `/repositories/{id}/…` (the form of GitHub's `Link` URLs) is the
        // repository of that id.
        let path = match path
            .trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["repositories", id, rest @ ..] => match w.repos.iter().find(|(_, r)| {
                r.value["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(*id)
            }) {
                Some(((o, r), _)) => format!("/repos/{o}/{r}/{}", rest.join("/")),
                None => return message(StatusCode::NOT_FOUND, "Not Found"),
            }
            .trim_end_matches('/')
            .to_string(),
            _ => path,
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if method == Method::POST
            && matches!(
                segments.as_slice(),
                ["app", "installations", _, "access_tokens"]
            )
        {
            // An App JWT: three base64url parts.
            let jwt = auth.strip_prefix("Bearer ").unwrap_or_default();
            if jwt.split('.').count() != 3 {
                return message(
                    StatusCode::UNAUTHORIZED,
                    "A JSON web token could not be decoded",
                );
            }
            w.exchanges += 1;
            let expires = chrono::Utc::now() + chrono::Duration::hours(1);
            return json_response(
                StatusCode::CREATED,
                json!({ "token": INSTALLATION_TOKEN, "expires_at": expires.to_rfc3339() }),
            );
        }
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("token "));
        if !matches!(token, Some(TOKEN | INSTALLATION_TOKEN)) {
            return message(StatusCode::UNAUTHORIZED, "Bad credentials");
        }
        if headers.get("x-github-api-version").is_none()
            || headers.get("accept").and_then(|v| v.to_str().ok())
                != Some("application/vnd.github+json")
        {
            let v = format!("{method} {path}: no GitHub media type or API version header");
            w.violations.push(v.clone());
            return message(StatusCode::BAD_REQUEST, &v);
        }
        if let Err(v) = api.check(method.as_str(), &path, body.as_ref()) {
            w.violations.push(v.clone());
            return message(StatusCode::UNPROCESSABLE_ENTITY, &v);
        }
        if w.rate_limited > 0 {
            w.rate_limited -= 1;
            w.injected += 1;
            let reset = chrono::Utc::now().timestamp().to_string();
            return (
                StatusCode::FORBIDDEN,
                [
                    ("x-ratelimit-remaining", "0".to_string()),
                    ("x-ratelimit-reset", reset),
                ],
                axum::Json(json!({ "message": "API rate limit exceeded" })),
            )
                .into_response();
        }
        let write = method != Method::GET;
        let faults = w.faults;
        let World { rng, injected, .. } = &mut *w;
        let injection = match faults.roll(rng, injected, write) {
            Ok(injection) => injection,
            Err(response) => return *response,
        };
        let answer = route(
            &mut w,
            &method,
            &segments,
            &query,
            body.unwrap_or(Value::Null),
        );
        let response = match answer {
            Answer::List(items) => {
                let page = page(&w, &base, &path, &query, items);
                let etag = format!(
                    "W/\"{}\"",
                    hex(&Sha256::digest(page.0.to_string().as_bytes())[..8])
                );
                if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str())
                {
                    w.not_modified += 1;
                    return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
                }
                let mut r = (StatusCode::OK, [("etag", etag)], axum::Json(page.0)).into_response();
                if let Some(link) = page.1 {
                    r.headers_mut().insert("link", link.parse().unwrap());
                }
                r
            }
            Answer::Done(r) => r,
        };
        let mut answer_delay = std::time::Duration::ZERO;
        if write && response.status().is_success() {
            w.writes.push(format!("{method} {path}"));
            if injection.hits() {
                w.injected += 1;
            }
            answer_delay = w.answer_delay;
        }
        (response, injection, answer_delay)
    };
    if !answer_delay.is_zero() {
        tokio::time::sleep(answer_delay).await;
    }
    injection.deliver(response)
}

/// Whether a JSON id is the one in a path.
fn same_id(v: &Value, id: &str) -> bool {
    v.as_i64().is_some_and(|n| id.parse() == Ok(n))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Answer {
    List(Vec<Value>),
    Done(Response),
}

/// A page of `items` (`per_page` ≤ 100, default 30) and its `Link` header,
/// as GitHub gives it (recorded in `octokit-fixtures/paginate-issues`):
/// `prev`, `next`, `last`, `first`, each where it applies, a repository's
/// lists addressed as `/repositories/{id}/…`.
fn page(
    w: &World,
    base: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    items: Vec<Value>,
) -> (Value, Option<String>) {
    let (slice, page, per_page, total) = slice_page(items, query, "per_page", 100);
    let last = total.div_ceil(per_page).max(1);
    let path = match path
        .trim_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["repos", o, r, rest @ ..] if !rest.is_empty() => {
            match w.repo(o, r).and_then(|repo| repo.value["id"].as_i64()) {
                Some(id) => format!("/repositories/{id}/{}", rest.join("/")),
                None => path.to_string(),
            }
        }
        _ => path.to_string(),
    };
    let url = |n: usize| {
        let mut q = query.clone();
        q.insert("page".into(), n.to_string());
        q.insert("per_page".into(), per_page.to_string());
        let q: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("<{base}{path}?{}>", q.join("&"))
    };
    let mut rels = Vec::new();
    if page > 1 && page <= last {
        rels.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        rels.push(format!("{}; rel=\"next\"", url(page + 1)));
        rels.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        rels.push(format!("{}; rel=\"first\"", url(1)));
    }
    (
        Value::Array(slice),
        (!rels.is_empty()).then(|| rels.join(", ")),
    )
}

fn done(status: StatusCode, body: Value) -> Answer {
    Answer::Done(json_response(status, body))
}

fn no_content() -> Answer {
    Answer::Done(StatusCode::NO_CONTENT.into_response())
}

/// GitHub's 422: "Validation Failed", and what failed in `errors`
/// (recorded in `octokit-fixtures/errors`).
fn invalid(error: Value) -> Answer {
    Answer::Done(json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "message": "Validation Failed", "errors": [error],
                "documentation_url": "https://docs.github.com/rest" }),
    ))
}

/// An error as GitHub words it: `message` and `documentation_url`.
fn fail(status: StatusCode, text: &str) -> Answer {
    Answer::Done(json_response(
        status,
        json!({ "message": text, "documentation_url": "https://docs.github.com/rest" }),
    ))
}

fn not_found() -> Answer {
    fail(StatusCode::NOT_FOUND, "Not Found")
}

/// GitHub's role name for a permission.
fn role_name(permission: &str) -> &'static str {
    match permission {
        "admin" => "admin",
        "maintain" => "maintain",
        "push" => "write",
        "triage" => "triage",
        _ => "read",
    }
}

fn permissions(permission: &str) -> Value {
    let rank = ["pull", "triage", "push", "maintain", "admin"];
    let at = rank.iter().position(|r| *r == permission).unwrap_or(0);
    let mut p = serde_json::Map::new();
    for (i, r) in rank.iter().enumerate() {
        p.insert((*r).to_string(), json!(i <= at));
    }
    Value::Object(p)
}

fn public_hook(h: &Value) -> Value {
    let mut h = h.clone();
    if let Some(c) = h["config"].as_object_mut() {
        if c.contains_key("secret") {
            c.insert("secret".into(), json!("********"));
        }
    }
    h
}

fn slug(name: &str) -> String {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_string()
}

fn route(
    w: &mut World,
    method: &Method,
    s: &[&str],
    query: &BTreeMap<String, String>,
    body: Value,
) -> Answer {
    let m = method.as_str();
    let repo_key = |o: &str, r: &str| (o.to_string(), r.to_string());
    match (m, s) {
        ("GET", ["orgs", org, "repos"]) => Answer::List(
            w.repos
                .iter()
                .filter(|((o, _), _)| o == org)
                .map(|(_, r)| r.value.clone())
                .collect(),
        ),
        ("POST", ["orgs", org, "repos"]) => {
            if !w.orgs.contains_key(*org) {
                return not_found();
            }
            let name = body["name"].as_str().unwrap_or_default().to_string();
            if w.repos.contains_key(&repo_key(org, &name)) {
                return Answer::Done(json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ "message": "Repository creation failed.",
                            "errors": [{ "resource": "Repository", "code": "custom",
                                         "field": "name",
                                         "message": "name already exists on this account" }],
                            "documentation_url": "https://docs.github.com/rest" }),
                ));
            }
            let id = w.id();
            let private = body["private"].as_bool().unwrap_or(false);
            let mut v = json!({
                "id": id, "name": name, "full_name": format!("{org}/{name}"),
                "owner": { "login": org }, "private": private,
                "visibility": if private { "private" } else { "public" },
                "description": null, "default_branch": "main", "archived": false,
            });
            merge(&mut v, &body);
            let auto_init = v
                .as_object_mut()
                .unwrap()
                .remove("auto_init")
                .and_then(|a| a.as_bool())
                .unwrap_or(false);
            let mut repo = Repo {
                value: v.clone(),
                ..Repo::default()
            };
            if auto_init {
                repo.branches.insert("main".into());
            }
            w.repos.insert(repo_key(org, &name), repo);
            done(StatusCode::CREATED, v)
        }
        // octokit-fixtures/get-repository.
        ("GET", ["repos", o, r]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => done(StatusCode::OK, repo.value.clone()),
            None => not_found(),
        },
        ("PATCH", ["repos", o, r]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            if let Some(b) = body["default_branch"].as_str() {
                if repo.branches.is_empty() {
                    return fail(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Cannot update default branch for an empty repository. Please init the repository and push first.",
                    );
                }
                if !repo.branches.contains(b) {
                    return fail(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
                }
            }
            merge(&mut repo.value, &body);
            if let Some(p) = body["private"].as_bool() {
                repo.value["visibility"] = json!(if p { "private" } else { "public" });
            }
            done(StatusCode::OK, repo.value.clone())
        }
        // `name` is absent when the organization has none
        // (octokit-fixtures/get-organization).
        ("GET", ["orgs", org]) => match w.orgs.contains_key(*org) {
            true => {
                let mut o = json!({ "login": org, "id": 1, "description": null });
                if let Some(name) = w.profiles.get(*org) {
                    o["name"] = json!(name);
                }
                done(StatusCode::OK, o)
            }
            false => not_found(),
        },
        ("GET", ["users", login]) => match w.users.contains_key(*login) {
            true => {
                let mut u = w.user_json(login);
                u["name"] = json!(w.profiles.get(*login).cloned());
                u["email"] = Value::Null; // no public email
                done(StatusCode::OK, u)
            }
            false => not_found(),
        },
        ("GET", ["repos", o, r, "branches"]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => {
                let only = query.get("protected").map(|p| p == "true");
                Answer::List(
                    repo.branches
                        .iter()
                        .map(|b| (b, repo.protections.contains_key(b)))
                        .filter(|(_, p)| only.is_none_or(|only| only == *p))
                        .map(|(b, p)| json!({ "name": b, "protected": p }))
                        .collect(),
                )
            }
            None => not_found(),
        },
        // Open ones by default; `state=all`; `since` keeps those updated at
        // or after it; `sort=updated&direction=asc` oldest first.
        ("GET", ["repos", o, r, "issues"]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => {
                let state = query.get("state").map_or("open", String::as_str);
                let since = query.get("since").cloned().unwrap_or_default();
                let mut items: Vec<Value> = repo
                    .issues
                    .iter()
                    .filter(|i| state == "all" || i["state"] == state)
                    .filter(|i| i["updated_at"].as_str().unwrap_or_default() >= since.as_str())
                    .cloned()
                    .collect();
                items.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
                if query.get("direction").map(String::as_str) != Some("asc") {
                    items.reverse();
                }
                Answer::List(items)
            }
            None => not_found(),
        },
        ("GET", ["repos", o, r, "issues", n]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => match repo.issues.iter().find(|i| same_id(&i["number"], n)) {
                Some(issue) => done(StatusCode::OK, issue.clone()),
                None => not_found(),
            },
            None => not_found(),
        },
        // Labels unknown to the repository are created; assignees GitHub
        // does not know are dropped silently, as GitHub does.
        ("PATCH", ["repos", o, r, "issues", n]) => {
            let users = w.users.clone();
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let Some(issue) = repo.issues.iter_mut().find(|i| same_id(&i["number"], n)) else {
                return not_found();
            };
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            for field in ["title", "body"] {
                if let Some(v) = body.get(field) {
                    issue[field] = v.clone();
                }
            }
            if let Some(state) = body["state"].as_str() {
                issue["state"] = json!(state);
                issue["closed_at"] = if state == "closed" {
                    json!(now)
                } else {
                    Value::Null
                };
            }
            if let Some(labels) = body["labels"].as_array() {
                let names = labels
                    .iter()
                    .filter_map(|l| l.as_str().or_else(|| l["name"].as_str()));
                issue["labels"] = names.map(|n| json!({ "name": n })).collect();
            }
            if let Some(assignees) = body["assignees"].as_array() {
                issue["assignees"] = assignees
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|login| {
                        users
                            .get(login)
                            .map(|id| json!({ "login": login, "id": id }))
                    })
                    .collect();
            }
            issue["updated_at"] = json!(now);
            done(StatusCode::OK, issue.clone())
        }
        // OpenAPI `issues/list-comments` (paged by Link) and
        // `issues/create-comment` (201); 404 for an issue or pull request
        // the repository does not have.
        ("GET" | "POST", ["repos", o, r, "issues", n, "comments"]) => {
            let Some(repo) = w.repos.get(&repo_key(o, r)) else {
                return not_found();
            };
            let known = repo
                .issues
                .iter()
                .chain(&repo.pulls)
                .any(|i| same_id(&i["number"], n));
            let Ok(number) = n.parse::<u64>() else {
                return not_found();
            };
            if !known {
                return not_found();
            }
            if m == "GET" {
                return Answer::List(repo.comments.get(&number).cloned().unwrap_or_default());
            }
            let id = w.id();
            let c = json!({
                "id": id, "node_id": format!("IC_{id}"), "body": body["body"],
                "user": { "login": "kradle-bot", "id": 1, "type": "Bot" },
                "html_url": format!("https://github.com/{o}/{r}/issues/{n}#issuecomment-{id}"),
                "issue_url": format!("https://api.github.com/repos/{o}/{r}/issues/{n}"),
                "author_association": "NONE",
                "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "updated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            let repo = w.repos.get_mut(&repo_key(o, r)).unwrap();
            repo.comments.entry(number).or_default().push(c.clone());
            done(StatusCode::CREATED, c)
        }
        // OpenAPI `pulls/list` (`state`, default open; `head=owner:branch`)
        // and `pulls/create`: 422 Validation Failed for a head the
        // repository lacks (`head invalid`) and for a second open pull
        // request of the same head ("A pull request already exists for
        // owner:branch."), in the `errors` shape recorded in
        // octokit-fixtures/errors.
        ("GET", ["repos", o, r, "pulls"]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => {
                let state = query.get("state").map_or("open", String::as_str);
                let head = query.get("head").cloned();
                let items = repo
                    .pulls
                    .iter()
                    .filter(|p| state == "all" || p["state"] == state)
                    .filter(|p| {
                        head.as_ref()
                            .is_none_or(|h| p["head"]["label"] == h.as_str())
                    })
                    .rev()
                    .cloned()
                    .collect();
                Answer::List(items)
            }
            None => not_found(),
        },
        ("POST", ["repos", o, r, "pulls"]) => {
            let Some(repo) = w.repos.get(&repo_key(o, r)) else {
                return not_found();
            };
            let (head, base) = (
                body["head"].as_str().unwrap_or_default().to_string(),
                body["base"].as_str().unwrap_or_default().to_string(),
            );
            let (Some(head_sha), Some(base_sha)) = (
                repo.heads.get(&head).cloned(),
                repo.heads.get(&base).cloned(),
            ) else {
                let field = if repo.heads.contains_key(&head) {
                    "base"
                } else {
                    "head"
                };
                return invalid(
                    json!({ "resource": "PullRequest", "field": field, "code": "invalid" }),
                );
            };
            let label = format!("{o}:{head}");
            if repo
                .pulls
                .iter()
                .any(|p| p["state"] == "open" && p["head"]["label"] == label)
            {
                return invalid(json!({ "resource": "PullRequest", "code": "custom",
                    "message": format!("A pull request already exists for {label}.") }));
            }
            let number = repo
                .issues
                .iter()
                .chain(&repo.pulls)
                .filter_map(|i| i["number"].as_u64())
                .max()
                .unwrap_or(0)
                + 1;
            let id = w.id();
            let p = json!({
                "id": id, "number": number, "state": "open", "title": body["title"],
                "body": body["body"], "draft": false, "merged": false,
                "user": { "login": "kradle-bot", "id": 1, "type": "Bot" },
                "html_url": format!("https://github.com/{o}/{r}/pull/{number}"),
                "head": { "label": label, "ref": head, "sha": head_sha },
                "base": { "label": format!("{o}:{base}"), "ref": base, "sha": base_sha },
            });
            let repo = w.repos.get_mut(&repo_key(o, r)).unwrap();
            repo.pulls.push(p.clone());
            done(StatusCode::CREATED, p)
        }
        // OpenAPI `repos/create-commit-status` on a commit the repository
        // has (else 422 "No commit found for SHA", which GitHub answers
        // though the description lists only 201), and
        // `repos/list-commit-statuses-for-ref`, newest first.
        ("POST", ["repos", o, r, "statuses", sha]) => {
            let id = w.id();
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            if !repo.heads.values().any(|s| s == sha) {
                return fail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("No commit found for SHA: {sha}"),
                );
            }
            let st = json!({
                "id": id, "node_id": format!("SC_{id}"), "state": body["state"],
                "context": body.get("context").cloned().unwrap_or(json!("default")),
                "description": body.get("description").cloned().unwrap_or(Value::Null),
                "target_url": body.get("target_url").cloned().unwrap_or(Value::Null),
                "creator": { "login": "kradle-bot", "id": 1, "type": "Bot" },
            });
            repo.statuses
                .entry(sha.to_string())
                .or_default()
                .push(st.clone());
            done(StatusCode::CREATED, st)
        }
        ("GET", ["repos", o, r, "commits", sha, "statuses"]) => {
            match w.repos.get(&repo_key(o, r)) {
                Some(repo) => {
                    let mut all = repo.statuses.get(*sha).cloned().unwrap_or_default();
                    all.reverse();
                    Answer::List(all)
                }
                None => not_found(),
            }
        }
        // OpenAPI `issues/list-labels-on-issue`, `issues/add-labels` (labels
        // the repository lacks are created; 200 with the issue's labels)
        // and `issues/remove-label` by name (200 with the rest; 404 "Label
        // does not exist" when the issue lacks it).
        ("GET" | "POST", ["repos", o, r, "issues", n, "labels"]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let Some(issue) = repo.issues.iter_mut().find(|i| same_id(&i["number"], n)) else {
                return not_found();
            };
            if m == "POST" {
                let mut labels = issue["labels"].as_array().cloned().unwrap_or_default();
                for name in body["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !labels.iter().any(|l| l["name"] == name) {
                        labels.push(json!({ "name": name }));
                    }
                }
                issue["labels"] = json!(labels);
                return done(StatusCode::OK, issue["labels"].clone());
            }
            Answer::List(issue["labels"].as_array().cloned().unwrap_or_default())
        }
        ("DELETE", ["repos", o, r, "issues", n, "labels", name]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let Some(issue) = repo.issues.iter_mut().find(|i| same_id(&i["number"], n)) else {
                return not_found();
            };
            let labels = issue["labels"].as_array().cloned().unwrap_or_default();
            if !labels.iter().any(|l| l["name"] == *name) {
                return fail(StatusCode::NOT_FOUND, "Label does not exist");
            }
            let kept: Vec<Value> = labels.into_iter().filter(|l| l["name"] != *name).collect();
            issue["labels"] = json!(kept);
            done(StatusCode::OK, issue["labels"].clone())
        }
        ("GET", ["orgs", org, "teams", t, "invitations"]) => {
            let Some(team) = w.team_by_slug(org, t).cloned() else {
                return not_found();
            };
            Answer::List(
                team.pending
                    .keys()
                    .map(|login| json!({ "id": w.users.get(login), "login": login, "role": "direct_member" }))
                    .collect(),
            )
        }
        ("GET", ["repos", o, r, "branches", b]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) if repo.branches.contains(*b) => done(
                StatusCode::OK,
                json!({ "name": b, "protected": repo.protections.contains_key(*b) }),
            ),
            _ => fail(StatusCode::NOT_FOUND, "Branch not found"),
        },
        ("GET", ["orgs", org, "teams"]) => Answer::List(
            w.teams
                .values()
                .filter(|t| t.org == *org)
                .map(|t| t.value.clone())
                .collect(),
        ),
        ("POST", ["orgs", org, "teams"]) => {
            let name = body["name"].as_str().unwrap_or_default();
            if !w.orgs.contains_key(*org) {
                return not_found();
            }
            if w.team_named(org, name).is_some() {
                return fail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Validation Failed: Name must be unique for this org",
                );
            }
            let id = w.id();
            let mut v = json!({ "id": id, "name": name, "slug": slug(name),
                "description": null, "privacy": "secret", "permission": "pull" });
            merge(&mut v, &body);
            w.teams.insert(
                id,
                Team {
                    org: org.to_string(),
                    value: v.clone(),
                    ..Team::default()
                },
            );
            done(StatusCode::CREATED, v)
        }
        ("PATCH", ["orgs", org, "teams", t]) => match w.team_by_slug(org, t) {
            Some(team) => {
                merge(&mut team.value, &body);
                done(StatusCode::OK, team.value.clone())
            }
            None => not_found(),
        },
        ("DELETE", ["orgs", org, "teams", t]) => {
            let id = w
                .teams
                .iter()
                .find(|(_, x)| x.org == *org && x.value["slug"] == *t)
                .map(|(id, _)| *id);
            match id {
                Some(id) => {
                    w.teams.remove(&id);
                    no_content()
                }
                None => not_found(),
            }
        }
        ("GET", ["orgs", org, "teams", t, "members"]) => {
            let Some(team) = w.team_by_slug(org, t).cloned() else {
                return not_found();
            };
            let role = query.get("role").map_or("all", String::as_str);
            Answer::List(
                team.members
                    .iter()
                    .filter(|(_, r)| role == "all" || r.as_str() == role)
                    .map(|(login, _)| w.user_json(login))
                    .collect(),
            )
        }
        ("GET", ["orgs", org, "teams", t, "memberships", user]) => {
            let Some(team) = w.team_by_slug(org, t) else {
                return not_found();
            };
            if let Some(role) = team.members.get(*user) {
                done(StatusCode::OK, json!({ "role": role, "state": "active" }))
            } else if let Some(role) = team.pending.get(*user) {
                done(StatusCode::OK, json!({ "role": role, "state": "pending" }))
            } else {
                not_found()
            }
        }
        ("PUT" | "DELETE", ["orgs", org, "teams", t, "memberships", user]) => {
            if !w.users.contains_key(*user) {
                return not_found();
            }
            let member = w.orgs.get(*org).is_some_and(|m| m.contains(*user));
            let Some(team) = w.team_by_slug(org, t) else {
                return not_found();
            };
            if m == "DELETE" {
                let had =
                    team.members.remove(*user).is_some() | team.pending.remove(*user).is_some();
                return if had { no_content() } else { not_found() };
            }
            let role = body["role"].as_str().unwrap_or("member").to_string();
            let state = if member {
                team.members.insert(user.to_string(), role.clone());
                "active"
            } else {
                team.pending.insert(user.to_string(), role.clone());
                "pending"
            };
            done(StatusCode::OK, json!({ "role": role, "state": state }))
        }
        ("GET", ["orgs", org, "teams", t, "repos"]) => {
            let Some(team) = w.team_by_slug(org, t).cloned() else {
                return not_found();
            };
            Answer::List(
                team.repos
                    .iter()
                    .filter_map(|(r, p)| {
                        let mut v = w.repos.get(&repo_key(org, r))?.value.clone();
                        v["role_name"] = json!(role_name(p));
                        v["permissions"] = permissions(p);
                        Some(v)
                    })
                    .collect(),
            )
        }
        ("PUT" | "DELETE", ["orgs", org, "teams", t, "repos", o, r]) => {
            if !w.repos.contains_key(&repo_key(o, r)) {
                return not_found();
            }
            let Some(team) = w.team_by_slug(org, t) else {
                return not_found();
            };
            if m == "PUT" {
                let p = body["permission"].as_str().unwrap_or("push").to_string();
                team.repos.insert(r.to_string(), p);
            } else {
                team.repos.remove(*r);
            }
            no_content()
        }
        // `affiliation=all` (the default) adds the organization's owners,
        // who administer every repository; `direct` is the explicit ones.
        ("GET", ["repos", o, r, "collaborators"]) => {
            let Some(repo) = w.repos.get(&repo_key(o, r)) else {
                return not_found();
            };
            let mut all = repo.collaborators.clone();
            if query.get("affiliation").map(String::as_str) != Some("direct") {
                for owner in w.owners.get(*o).into_iter().flatten() {
                    all.insert(owner.clone(), "admin".into());
                }
            }
            let items = all
                .iter()
                .map(|(login, p)| {
                    let mut u = w.user_json(login);
                    u["permissions"] = permissions(p);
                    u["role_name"] = json!(role_name(p));
                    u
                })
                .collect();
            Answer::List(items)
        }
        ("PUT", ["repos", o, r, "collaborators", user]) => {
            if !w.users.contains_key(*user) {
                return not_found();
            }
            let member = w.orgs.get(*o).is_some_and(|m| m.contains(*user));
            let id = w.id();
            let invitee = w.user_json(user);
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let p = body["permission"].as_str().unwrap_or("push").to_string();
            if member {
                repo.collaborators.insert(user.to_string(), p);
                return no_content();
            }
            if let Some(i) = repo
                .invitations
                .iter()
                .find(|i| i["invitee"]["login"] == *user)
            {
                return done(StatusCode::CREATED, i.clone());
            }
            let invitation = json!({ "id": id, "invitee": invitee, "permissions": role_name(&p) });
            repo.invitations.push(invitation.clone());
            done(StatusCode::CREATED, invitation)
        }
        ("DELETE", ["repos", o, r, "collaborators", user]) => {
            let removed = w
                .repos
                .get_mut(&repo_key(o, r))
                .and_then(|repo| repo.collaborators.remove(*user));
            if removed.is_some() {
                no_content()
            } else {
                not_found()
            }
        }
        // The invitee accepts (with their own token; the fake takes any).
        ("PATCH", ["user", "repository_invitations", id]) => {
            for repo in w.repos.values_mut() {
                if let Some(i) = repo.invitations.iter().position(|i| same_id(&i["id"], id)) {
                    let invitation = repo.invitations.remove(i);
                    let login = invitation["invitee"]["login"].as_str().unwrap_or_default();
                    let p = match invitation["permissions"].as_str() {
                        Some("read") => "pull",
                        Some("write") => "push",
                        Some(other) => other,
                        None => "push",
                    };
                    repo.collaborators.insert(login.to_string(), p.to_string());
                    return no_content();
                }
            }
            not_found()
        }
        ("GET", ["repos", o, r, "invitations"]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => Answer::List(repo.invitations.clone()),
            None => not_found(),
        },
        ("PATCH", ["repos", o, r, "invitations", id]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            match repo.invitations.iter_mut().find(|i| same_id(&i["id"], id)) {
                Some(i) => {
                    merge(i, &body);
                    done(StatusCode::OK, i.clone())
                }
                None => not_found(),
            }
        }
        ("GET", ["repos", o, r, "keys"]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => Answer::List(repo.keys.clone()),
            None => not_found(),
        },
        ("POST", ["repos", o, r, "keys"]) => {
            let id = w.id();
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let wanted = material(&body["key"]);
            if repo.keys.iter().any(|k| material(&k["key"]) == wanted) {
                return fail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Validation Failed: key is already in use",
                );
            }
            let mut k = json!({ "id": id, "read_only": false, "verified": true });
            merge(&mut k, &body);
            repo.keys.push(k.clone());
            done(StatusCode::CREATED, k)
        }
        ("DELETE", ["repos", o, r, "keys", id]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let before = repo.keys.len();
            repo.keys.retain(|k| !same_id(&k["id"], id));
            if repo.keys.len() < before {
                no_content()
            } else {
                not_found()
            }
        }
        ("GET", ["repos", o, r, "hooks"]) => match w.repos.get(&repo_key(o, r)) {
            Some(repo) => Answer::List(repo.hooks.iter().map(public_hook).collect()),
            None => not_found(),
        },
        ("POST", ["repos", o, r, "hooks"]) => {
            let id = w.id();
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let url = &body["config"]["url"];
            if repo.hooks.iter().any(|h| h["config"]["url"] == *url) {
                return fail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Validation Failed: Hook already exists on this repository",
                );
            }
            let mut h = json!({ "id": id, "type": "Repository", "name": "web", "active": true, "events": ["push"] });
            merge(&mut h, &body);
            repo.hooks.push(h.clone());
            done(StatusCode::CREATED, public_hook(&h))
        }
        ("PATCH" | "DELETE", ["repos", o, r, "hooks", id]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            let Some(i) = repo.hooks.iter().position(|h| same_id(&h["id"], id)) else {
                return not_found();
            };
            if m == "DELETE" {
                repo.hooks.remove(i);
                return no_content();
            }
            merge(&mut repo.hooks[i], &body);
            done(StatusCode::OK, public_hook(&repo.hooks[i]))
        }
        ("GET" | "PUT" | "DELETE", ["repos", o, r, "branches", b, "protection"]) => {
            let Some(repo) = w.repos.get_mut(&repo_key(o, r)) else {
                return not_found();
            };
            if !repo.branches.contains(*b) {
                return fail(StatusCode::NOT_FOUND, "Branch not found");
            }
            match m {
                "GET" => match repo.protections.get(*b) {
                    Some(p) => done(StatusCode::OK, p.clone()),
                    None => fail(StatusCode::NOT_FOUND, "Branch not protected"),
                },
                "DELETE" => match repo.protections.remove(*b) {
                    Some(_) => no_content(),
                    None => fail(StatusCode::NOT_FOUND, "Branch not protected"),
                },
                _ => {
                    let signed = repo
                        .protections
                        .get(*b)
                        .is_some_and(|p| p["required_signatures"]["enabled"] == Value::Bool(true));
                    let enabled = |v: &Value| json!({ "enabled": v.as_bool().unwrap_or(false) });
                    let checks = &body["required_status_checks"];
                    // A part set to null is absent from GitHub's answer
                    // (octokit-fixtures/branch-protection).
                    let mut p = json!({
                        "required_status_checks": if checks.is_object() {
                            json!({ "strict": checks["strict"], "contexts": checks["contexts"],
                                    "checks": checks["contexts"].as_array().map(|c| c.iter().map(|x| json!({ "context": x, "app_id": null })).collect::<Vec<_>>()) })
                        } else { Value::Null },
                        "enforce_admins": enabled(&body["enforce_admins"]),
                        "required_pull_request_reviews": body["required_pull_request_reviews"].clone(),
                        "restrictions": body["restrictions"].clone(),
                        "allow_force_pushes": enabled(&body["allow_force_pushes"]),
                        "required_signatures": { "enabled": signed },
                    });
                    if let Some(p) = p.as_object_mut() {
                        p.retain(|_, v| !v.is_null());
                    }
                    repo.protections.insert(b.to_string(), p.clone());
                    done(StatusCode::OK, p)
                }
            }
        }
        (
            "GET" | "POST" | "DELETE",
            [
                "repos",
                o,
                r,
                "branches",
                b,
                "protection",
                "required_signatures",
            ],
        ) => {
            let Some(p) = w
                .repos
                .get_mut(&repo_key(o, r))
                .and_then(|repo| repo.protections.get_mut(*b))
            else {
                return fail(StatusCode::NOT_FOUND, "Branch not protected");
            };
            match m {
                "POST" => p["required_signatures"] = json!({ "enabled": true }),
                "DELETE" => {
                    p["required_signatures"] = json!({ "enabled": false });
                    return no_content();
                }
                _ => {}
            }
            done(StatusCode::OK, p["required_signatures"].clone())
        }
        _ => fail(StatusCode::NOT_FOUND, "the fake does not serve this"),
    }
}
