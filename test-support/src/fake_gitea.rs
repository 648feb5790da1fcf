//! A stateful fake of Gitea's REST API (`/api/v1`), served by axum on a
//! local port, for the apply tests.
//!
//! It answers as Gitea's router and handlers do (the public go-gitea/gitea
//! source; each route below names the file it follows):
//! - the middleware of `routers/api/v1/api.go` runs before any handler:
//!   `orgAssignment` answers 404 to every `/orgs/{org}/…` route of an
//!   organization that does not exist, `repoAssignment` to every
//!   `/repos/{owner}/{repo}/…` of a repository that does not, the team
//!   assignment of `/teams/{teamid}/…` to a team that does not, and
//!   `UserAssignmentAPI` to `/users/{username}/…` and
//!   `/admin/users/{username}/…` of a user that does not (`missing_parent`);
//! - a new organization has an `Owners` team holding its creator
//!   (`models/organization/org.go`, `CreateOrganization`);
//! - lists paginate (`page`, `limit` ≤ 50, `X-Total-Count`);
//! - duplicates are refused the way Gitea refuses them (organization 422,
//!   repository 409, team 422, deploy key 422, branch protection 403) except
//!   hooks, which Gitea accepts twice;
//! - a collaborator who is not a user is a 422, not a 404
//!   (`repo/collaborators.go`); a PATCH changes only the fields it is sent;
//! - a hook's secret is never returned.
//!
//! Every request is checked against the official swagger (`violations`).
//! Faults can be injected: 500s before or after the write is applied, 429s
//! with `Retry-After`, and connections closed without an answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use super::fake_http::Faults;
use super::fake_http::{
    json_body, json_response, latency, material, merge, message, percent_decode, query_of,
    slice_page,
};
use super::upstream::Api;

pub const TOKEN: &str = "token fake-gitea-admin-token";
/// The site administrator the token belongs to.
pub const ADMIN: &str = "gitea-admin";

#[derive(Debug, Default)]
pub struct World {
    pub orgs: BTreeMap<String, Value>,
    pub users: BTreeSet<String>,
    /// (org, repo) → repository.
    pub repos: BTreeMap<(String, String), Value>,
    /// id → (org, team, members, repos).
    pub teams: BTreeMap<i64, Team>,
    /// (org, repo) → user → permission.
    pub collaborators: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// (org, repo) → deploy keys.
    pub keys: BTreeMap<(String, String), Vec<Value>>,
    pub user_keys: BTreeMap<String, Vec<Value>>,
    /// "org" or "org/repo" → hooks (with their secret, which is never shown).
    pub hooks: BTreeMap<String, Vec<Value>>,
    /// (org, repo) → protections.
    pub protections: BTreeMap<(String, String), Vec<Value>>,
    /// (org, repo) → its issues, as `GET …/issues/{index}` answers them.
    pub issues: BTreeMap<(String, String), Vec<Value>>,
    /// (org, repo) → the names of the labels it defines.
    pub labels: BTreeMap<(String, String), Vec<String>>,
    /// (org, repo) → branch → its head commit (`push`).
    pub branches: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// (org, repo) → its pull requests (which share issues' numbers).
    pub pulls: BTreeMap<(String, String), Vec<Value>>,
    /// (org, repo, issue or pull number) → its comments.
    pub comments: BTreeMap<(String, String, i64), Vec<Value>>,
    /// (org, repo, sha) → the commit's statuses, oldest first.
    pub statuses: BTreeMap<(String, String, String), Vec<Value>>,
    pub next_id: i64,
    /// Every write that changed something: "METHOD /path".
    pub writes: Vec<String>,
    pub requests: usize,
    pub violations: Vec<String>,
    pub faults: Faults,
    /// Faults injected so far.
    pub injected: usize,
    /// Latency added to every request.
    pub delay: std::time::Duration,
    rng: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Team {
    pub org: String,
    pub value: Value,
    pub members: BTreeSet<String>,
    pub repos: BTreeSet<String>,
}

impl World {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn team_named(&self, org: &str, name: &str) -> Option<(i64, &Team)> {
        self.teams
            .iter()
            .find(|(_, t)| t.org == org && t.value["name"] == name)
            .map(|(id, t)| (*id, t))
    }

    fn issue_mut(&mut self, org: &str, repo: &str, index: &str) -> Option<&mut Value> {
        self.issues
            .get_mut(&(org.to_string(), repo.to_string()))?
            .iter_mut()
            .find(|i| i["number"].as_i64().is_some_and(|n| index.parse() == Ok(n)))
    }

    /// The next number of `org/repo`'s issues and pull requests.
    fn next_index(&self, key: &(String, String)) -> i64 {
        let numbers = self
            .issues
            .get(key)
            .into_iter()
            .flatten()
            .chain(self.pulls.get(key).into_iter().flatten())
            .filter_map(|i| i["number"].as_i64());
        numbers.max().unwrap_or(0) + 1
    }

    /// Whether `org/repo` has an issue or pull request `index`.
    fn has_index(&self, key: &(String, String), index: &str) -> bool {
        let Ok(n) = index.parse::<i64>() else {
            return false;
        };
        self.issues
            .get(key)
            .into_iter()
            .flatten()
            .chain(self.pulls.get(key).into_iter().flatten())
            .any(|i| i["number"].as_i64() == Some(n))
    }

    /// The names of the labels `org/repo` defines.
    fn defined_labels(&self, org: &str, repo: &str) -> Vec<String> {
        self.labels
            .get(&(org.to_string(), repo.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Every comment of `org/repo`, over its issues and pull requests.
    pub fn comments_of(&self, org: &str, repo: &str) -> Vec<Value> {
        self.comments
            .iter()
            .filter(|((o, r, _), _)| o == org && r == repo)
            .flat_map(|(_, c)| c.iter().cloned())
            .collect()
    }

    pub fn hooks_of(&self, scope: &str) -> usize {
        self.hooks.get(scope).map_or(0, Vec::len)
    }
}

/// A running fake; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct FakeGitea {
    pub url: String,
    pub world: Arc<Mutex<World>>,
}

impl FakeGitea {
    pub async fn start(api: Api) -> FakeGitea {
        let world = Arc::new(Mutex::new(World {
            rng: 0x2545_f491_4f6c_dd1d,
            users: BTreeSet::from([ADMIN.to_string()]),
            ..World::default()
        }));
        let app = Router::new()
            .fallback(handle)
            .with_state((world.clone(), api));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitea {
            url: format!("http://{addr}"),
            world,
        }
    }

    /// A client of the fake, with quick retries.
    pub fn client(&self) -> kradle_runtime::forge::gitea::Gitea {
        use kradle_runtime::forge::http::{Http, RetryPolicy};
        use std::time::Duration;
        let policy = RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(1),
            max_wait: Duration::from_millis(20),
            max_total: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        };
        let auth = kradle_runtime::secrets::SecretValue::new(TOKEN);
        let http = Http::new(&format!("{}/api/v1", self.url), Some(auth), policy).unwrap();
        kradle_runtime::forge::gitea::Gitea::new(http)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }

    /// Issue `issue` in `org/repo`, with the organization and repository it
    /// lives in (Gitea answers 404 under either when it is missing), and the
    /// labels the repository defines.
    pub fn issue(&self, org: &str, repo: &str, issue: Value, labels: &[&str]) {
        self.with(|w| {
            w.repo_in(org, repo);
            let key = (org.to_string(), repo.to_string());
            w.issues.entry(key.clone()).or_default().push(issue);
            w.labels
                .entry(key)
                .or_default()
                .extend(labels.iter().map(|l| l.to_string()));
        });
    }

    /// Someone pushed `sha` to `branch` of `org/repo` (made with its
    /// organization when missing).
    pub fn push(&self, org: &str, repo: &str, branch: &str, sha: &str) {
        self.with(|w| {
            w.repo_in(org, repo);
            w.branches
                .entry((org.to_string(), repo.to_string()))
                .or_default()
                .insert(branch.to_string(), sha.to_string());
        });
    }
}

impl World {
    /// `org/repo`, made with its organization when missing.
    fn repo_in(&mut self, org: &str, repo: &str) {
        if !self.orgs.contains_key(org) {
            let id = self.id();
            self.orgs
                .insert(org.into(), json!({ "id": id, "username": org }));
        }
        let key = (org.to_string(), repo.to_string());
        if !self.repos.contains_key(&key) {
            let id = self.id();
            self.repos.insert(
                key,
                json!({ "id": id, "name": repo, "full_name": format!("{org}/{repo}"),
                        "private": false, "default_branch": "main" }),
            );
        }
    }
}

type AppState = (Arc<Mutex<World>>, Api);

async fn handle(
    State((world, api)): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/api/v1") else {
        return message(StatusCode::NOT_FOUND, "not the API");
    };
    let path = percent_decode(path);
    let query = query_of(uri.query());
    let body = match json_body(&body, "body is not JSON") {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let delay = world.lock().unwrap().delay;
    latency(delay).await;
    let mut w = world.lock().unwrap();
    w.requests += 1;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return message(StatusCode::UNAUTHORIZED, "token is required");
    }
    if let Err(v) = api.check(
        method.as_str(),
        uri.path().trim_start_matches("/api/v1"),
        body.as_ref(),
    ) {
        w.violations.push(v.clone());
        return message(StatusCode::UNPROCESSABLE_ENTITY, &v);
    }
    let write = method != Method::GET;
    let faults = w.faults;
    let World { rng, injected, .. } = &mut *w;
    let injection = match faults.roll(rng, injected, write) {
        Ok(injection) => injection,
        Err(response) => return *response,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let response = route(
        &mut w,
        &method,
        &segments,
        &query,
        body.unwrap_or(Value::Null),
    );
    if write && response.status().is_success() {
        w.writes.push(format!("{method} {path}"));
        if injection.hits() {
            w.injected += 1;
        }
    }
    drop(w);
    injection.deliver(response)
}

/// A page of `items` as Gitea pages: `limit` ≤ 50 (default 30).
fn page(items: Vec<Value>, query: &BTreeMap<String, String>) -> Response {
    let (slice, _, _, total) = slice_page(items, query, "limit", 50);
    (
        StatusCode::OK,
        [("x-total-count", total.to_string())],
        axum::Json(Value::Array(slice)),
    )
        .into_response()
}

/// Gitea's `APIErrorNotFound` (`services/context/api.go`).
fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({ "message": "The target couldn't be found.", "url": "/api/swagger", "errors": [] }),
    )
}

/// The 404 the middleware of `routers/api/v1/api.go` answers before any
/// handler runs, when the route's parent does not exist.
fn missing_parent(w: &World, s: &[&str]) -> Option<Response> {
    let missing = match s {
        // `m.Group("/orgs/{org}", …, orgAssignment(true))`: GetOrgByName.
        ["orgs", org, ..] => !w.orgs.contains_key(*org),
        // `m.Group("/repos/{username}/{reponame}", …, repoAssignment())`:
        // GetUserByName, then GetRepositoryByName.
        ["repos", owner, repo, ..] => !w.repos.contains_key(&(owner.to_string(), repo.to_string())),
        // `m.Group("/teams/{teamid}", …, orgAssignment(false, true))`: GetTeamByID.
        ["teams", id, ..] => !w.teams.contains_key(&id.parse().unwrap_or(-1)),
        // `m.Group("/users/{username}", …, context.UserAssignmentAPI())`
        // and `/admin/users/{username}`.
        ["users", name, ..] | ["admin", "users", name, ..] => !w.users.contains(*name),
        _ => false,
    };
    missing.then(not_found)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn now() -> Value {
    json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn user(login: &str) -> Value {
    json!({ "login": login, "username": login })
}

fn public_hook(h: &Value) -> Value {
    let mut h = h.clone();
    if let Some(c) = h["config"].as_object_mut() {
        c.remove("secret");
    }
    h
}

fn route(
    w: &mut World,
    method: &Method,
    s: &[&str],
    query: &BTreeMap<String, String>,
    body: Value,
) -> Response {
    if let Some(response) = missing_parent(w, s) {
        return response;
    }
    let m = method.as_str();
    match (m, s) {
        // org/org.go: Get (the organization itself; orgAssignment 404s).
        ("GET", ["orgs", org]) => match w.orgs.get(*org) {
            Some(o) => json_response(StatusCode::OK, o.clone()),
            None => not_found(),
        },
        // org/org.go: Create. A name taken by a user or an organization is
        // a 422; the new organization gets its `Owners` team, holding the
        // creator (models/organization/org.go: CreateOrganization).
        ("POST", ["orgs"]) => {
            let name = body["username"].as_str().unwrap_or_default().to_string();
            if w.orgs.contains_key(&name) || w.users.contains(&name) {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("user already exists [name: {name}]"),
                );
            }
            let id = w.id();
            let mut o =
                json!({ "id": id, "username": name, "full_name": "", "visibility": "public" });
            merge(&mut o, &body);
            w.orgs.insert(name.clone(), o.clone());
            let team = w.id();
            w.teams.insert(
                team,
                Team {
                    org: name,
                    value: json!({ "id": team, "name": "Owners", "description": "",
                        "permission": "owner", "units": [], "includes_all_repositories": true,
                        "can_create_org_repo": true }),
                    members: BTreeSet::from([ADMIN.to_string()]),
                    repos: BTreeSet::new(),
                },
            );
            json_response(StatusCode::CREATED, o)
        }
        // org/org.go: Edit (only the fields sent change).
        ("PATCH", ["orgs", org]) => match w.orgs.get_mut(*org) {
            Some(o) => {
                merge(o, &body);
                json_response(StatusCode::OK, o.clone())
            }
            None => not_found(),
        },
        // user/repo.go: ListOrgRepos.
        ("GET", ["orgs", org, "repos"]) => {
            let items = w
                .repos
                .iter()
                .filter(|((o, _), _)| o == org)
                .map(|(_, r)| r.clone())
                .collect();
            page(items, query)
        }
        // repo/repo.go: CreateOrgRepo; a name taken is a 409.
        ("POST", ["orgs", org, "repos"]) => {
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let key = (org.to_string(), name.clone());
            if w.repos.contains_key(&key) {
                return message(
                    StatusCode::CONFLICT,
                    "The repository with the same name already exists.",
                );
            }
            let id = w.id();
            let mut r = json!({
                "id": id, "name": name, "full_name": format!("{org}/{name}"),
                "private": false, "description": "", "default_branch": "main",
                "archived": false, "empty": true,
            });
            merge(&mut r, &body);
            r.as_object_mut().unwrap().remove("auto_init");
            w.repos.insert(key, r.clone());
            json_response(StatusCode::CREATED, r)
        }
        // repo/repo.go: Edit (only the fields sent change).
        ("PATCH", ["repos", org, repo]) => {
            match w.repos.get_mut(&(org.to_string(), repo.to_string())) {
                Some(r) => {
                    merge(r, &body);
                    json_response(StatusCode::OK, r.clone())
                }
                None => not_found(),
            }
        }
        // user/user.go: GetInfo (UserAssignmentAPI 404s a missing user).
        ("GET", ["users", name]) => json_response(StatusCode::OK, user(name)),
        // org/team.go: ListTeams.
        ("GET", ["orgs", org, "teams"]) => {
            let items = w
                .teams
                .values()
                .filter(|t| t.org == *org)
                .map(|t| t.value.clone())
                .collect();
            page(items, query)
        }
        // org/team.go: CreateTeam; a name taken is a 422.
        ("POST", ["orgs", org, "teams"]) => {
            let name = body["name"].as_str().unwrap_or_default();
            if w.team_named(org, name).is_some() {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "team already exists");
            }
            let id = w.id();
            let mut v = json!({ "id": id, "name": name, "description": "", "permission": "none",
                "units": [], "includes_all_repositories": false, "can_create_org_repo": false });
            merge(&mut v, &body);
            w.teams.insert(
                id,
                Team {
                    org: org.to_string(),
                    value: v.clone(),
                    ..Team::default()
                },
            );
            json_response(StatusCode::CREATED, v)
        }
        // org/team.go: EditTeam, DeleteTeam.
        ("PATCH", ["teams", id]) => match w.teams.get_mut(&id.parse().unwrap_or(-1)) {
            Some(t) => {
                merge(&mut t.value, &body);
                json_response(StatusCode::OK, t.value.clone())
            }
            None => not_found(),
        },
        ("DELETE", ["teams", id]) => match w.teams.remove(&id.parse().unwrap_or(-1)) {
            Some(_) => no_content(),
            None => not_found(),
        },
        // org/team.go: GetTeamMembers.
        ("GET", ["teams", id, "members"]) => match w.teams.get(&id.parse().unwrap_or(-1)) {
            Some(t) => page(t.members.iter().map(|m| user(m)).collect(), query),
            None => not_found(),
        },
        // org/team.go: AddTeamMember, RemoveTeamMember; a user that does not
        // exist is a 404 (GetUserByParams).
        ("PUT" | "DELETE", ["teams", id, "members", name]) => {
            if !w.users.contains(*name) {
                return not_found();
            }
            match w.teams.get_mut(&id.parse().unwrap_or(-1)) {
                Some(t) => {
                    if m == "PUT" {
                        t.members.insert(name.to_string());
                    } else {
                        t.members.remove(*name);
                    }
                    no_content()
                }
                None => not_found(),
            }
        }
        // org/team.go: GetTeamRepos.
        ("GET", ["teams", id, "repos"]) => {
            let Some(t) = w.teams.get(&id.parse().unwrap_or(-1)) else {
                return not_found();
            };
            let items = t
                .repos
                .iter()
                .filter_map(|r| w.repos.get(&(t.org.clone(), r.clone())).cloned())
                .collect();
            page(items, query)
        }
        // org/team.go: AddTeamRepository, RemoveTeamRepository; a repository
        // that does not exist is a 404 (getRepositoryByParams), one of
        // another organization is refused (services/org/team.go).
        ("PUT" | "DELETE", ["teams", id, "repos", org, repo]) => {
            if !w.repos.contains_key(&(org.to_string(), repo.to_string())) {
                return not_found();
            }
            match w.teams.get_mut(&id.parse().unwrap_or(-1)) {
                Some(t) if t.org != *org => message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "repository does not belong to team's organization",
                ),
                Some(t) => {
                    if m == "PUT" {
                        t.repos.insert(repo.to_string());
                    } else {
                        t.repos.remove(*repo);
                    }
                    no_content()
                }
                None => not_found(),
            }
        }
        // repo/issue.go: GetIssue.
        ("GET", ["repos", org, repo, "issues", index]) => match w.issue_mut(org, repo, index) {
            Some(issue) => json_response(StatusCode::OK, issue.clone()),
            None => not_found(),
        },
        // repo/issue.go: EditIssue, answered with 201.
        ("PATCH", ["repos", org, repo, "issues", index]) => {
            let users = w.users.clone();
            let Some(issue) = w.issue_mut(org, repo, index) else {
                return not_found();
            };
            for field in ["title", "body", "state"] {
                if let Some(v) = body.get(field) {
                    issue[field] = v.clone();
                }
            }
            if let Some(assignees) = body["assignees"].as_array() {
                for login in assignees.iter().filter_map(Value::as_str) {
                    if !users.contains(login) {
                        return message(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            &format!("user does not exist [name: {login}]"),
                        );
                    }
                }
                issue["assignees"] = assignees
                    .iter()
                    .filter_map(Value::as_str)
                    .map(user)
                    .collect();
            }
            issue["updated_at"] = now();
            json_response(StatusCode::CREATED, issue.clone())
        }
        // repo/issue_label.go: ReplaceIssueLabels; names the repository does
        // not define are dropped.
        ("PUT", ["repos", org, repo, "issues", index, "labels"]) => {
            let defined = w.defined_labels(org, repo);
            let Some(issue) = w.issue_mut(org, repo, index) else {
                return not_found();
            };
            let labels: Vec<Value> = body["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|name| defined.iter().any(|d| d == name))
                .map(|name| json!({ "name": name }))
                .collect();
            issue["labels"] = json!(labels);
            issue["updated_at"] = now();
            json_response(StatusCode::OK, json!(labels))
        }
        // repo/issue_comment.go: ListIssueComments (every comment, with
        // X-Total-Count), CreateIssueComment (201); the issue (or pull
        // request: both are issues to Gitea) must exist.
        ("GET" | "POST", ["repos", org, repo, "issues", index, "comments"]) => {
            let key = (org.to_string(), repo.to_string());
            if !w.has_index(&key, index) {
                return not_found();
            }
            let number = index.parse::<i64>().unwrap_or_default();
            let ckey = (org.to_string(), repo.to_string(), number);
            if m == "GET" {
                let all = w.comments.get(&ckey).cloned().unwrap_or_default();
                let total = all.len();
                return (
                    StatusCode::OK,
                    [("x-total-count", total.to_string())],
                    axum::Json(Value::Array(all)),
                )
                    .into_response();
            }
            let id = w.id();
            let c = json!({
                "id": id, "body": body["body"], "user": user(ADMIN),
                "html_url": format!("http://gitea.local/{org}/{repo}/issues/{index}#issuecomment-{id}"),
                "issue_url": format!("http://gitea.local/{org}/{repo}/issues/{index}"),
                "created_at": now(), "updated_at": now(),
            });
            w.comments.entry(ckey).or_default().push(c.clone());
            json_response(StatusCode::CREATED, c)
        }
        // repo/pull.go: ListPullRequests (`state`, default open; paged),
        // CreatePullRequest: 404 when a branch is missing
        // (parseCompareInfo), 409 for a second open pull request of the
        // same head and base (ErrPullRequestAlreadyExists), 201.
        ("GET", ["repos", org, repo, "pulls"]) => {
            let state = query.get("state").map_or("open", String::as_str);
            let mut pulls: Vec<Value> = w
                .pulls
                .get(&(org.to_string(), repo.to_string()))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|p| state == "all" || p["state"] == state)
                .collect();
            pulls.reverse();
            page(pulls, query)
        }
        ("POST", ["repos", org, repo, "pulls"]) => {
            let key = (org.to_string(), repo.to_string());
            let (head, base) = (
                body["head"].as_str().unwrap_or_default(),
                body["base"].as_str().unwrap_or_default(),
            );
            let branches = w.branches.get(&key).cloned().unwrap_or_default();
            let (Some(head_sha), Some(base_sha)) = (branches.get(head), branches.get(base)) else {
                return not_found();
            };
            if let Some(p) = w.pulls.get(&key).into_iter().flatten().find(|p| {
                p["state"] == "open" && p["head"]["ref"] == head && p["base"]["ref"] == base
            }) {
                return message(
                    StatusCode::CONFLICT,
                    &format!(
                        "pull request already exists for these targets [id: {}, issue_id: {}, head_repo_id: 0, base_repo_id: 0, head_branch: {head}, base_branch: {base}]",
                        p["id"], p["number"]
                    ),
                );
            }
            let (id, number) = (w.id(), w.next_index(&key));
            let p = json!({
                "id": id, "number": number, "title": body["title"], "body": body["body"],
                "state": "open", "user": user(ADMIN), "merged": false,
                "html_url": format!("http://gitea.local/{org}/{repo}/pulls/{number}"),
                "head": { "label": head, "ref": head, "sha": head_sha },
                "base": { "label": base, "ref": base, "sha": base_sha },
                "created_at": now(), "updated_at": now(),
            });
            w.pulls.entry(key).or_default().push(p.clone());
            json_response(StatusCode::CREATED, p)
        }
        // repo/status.go: NewCommitStatus; a commit the repository does
        // not have fails in GetCommit, which the handler answers with 500
        // (services/repository/files/commit.go). GetCommitStatuses: paged.
        ("POST", ["repos", org, repo, "statuses", sha]) => {
            let key = (org.to_string(), repo.to_string());
            let known = w
                .branches
                .get(&key)
                .is_some_and(|b| b.values().any(|s| s == sha));
            if !known {
                return message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("GetCommit[{sha}]: object does not exist"),
                );
            }
            let id = w.id();
            let st = json!({
                "id": id, "state": body["state"], "context": body["context"],
                "description": body.get("description").cloned().unwrap_or(json!("")),
                "target_url": body.get("target_url").cloned().unwrap_or(json!("")),
                "creator": user(ADMIN), "created_at": now(), "updated_at": now(),
            });
            w.statuses
                .entry((org.to_string(), repo.to_string(), sha.to_string()))
                .or_default()
                .push(st.clone());
            json_response(StatusCode::CREATED, st)
        }
        ("GET", ["repos", org, repo, "statuses", sha]) => {
            let mut all = w
                .statuses
                .get(&(org.to_string(), repo.to_string(), sha.to_string()))
                .cloned()
                .unwrap_or_default();
            all.reverse();
            page(all, query)
        }
        // repo/label.go: ListLabels (paged); a label's id is its place
        // among the repository's (1000, 1001, …).
        ("GET", ["repos", org, repo, "labels"]) => {
            let defined = w.defined_labels(org, repo);
            let items = defined
                .iter()
                .enumerate()
                .map(|(i, name)| json!({ "id": 1000 + i, "name": name }))
                .collect();
            page(items, query)
        }
        // repo/issue_label.go: ListIssueLabels; AddIssueLabels (names the
        // repository does not define are dropped, GetLabelIDsInRepoByNames),
        // 200 with the issue's labels; DeleteIssueLabel by id: 422 for a
        // label that does not exist (IsErrLabelNotExist), 204.
        ("GET" | "POST", ["repos", org, repo, "issues", index, "labels"]) => {
            let defined = w.defined_labels(org, repo);
            let Some(issue) = w.issue_mut(org, repo, index) else {
                return not_found();
            };
            if m == "POST" {
                let mut names: Vec<String> = issue["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l["name"].as_str().map(str::to_string))
                    .collect();
                for name in body["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if defined.iter().any(|d| d == name) && !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
                issue["labels"] = names.iter().map(|n| json!({ "name": n })).collect();
                issue["updated_at"] = now();
            }
            let with_ids: Vec<Value> = issue["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str())
                .map(|n| {
                    let id = defined.iter().position(|d| d == n).map_or(0, |i| 1000 + i);
                    json!({ "id": id, "name": n })
                })
                .collect();
            json_response(StatusCode::OK, Value::Array(with_ids))
        }
        ("DELETE", ["repos", org, repo, "issues", index, "labels", id]) => {
            let defined = w.defined_labels(org, repo);
            let name = id
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1000))
                .and_then(|i| defined.get(i).cloned());
            let Some(name) = name else {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("label does not exist [id: {id}]"),
                );
            };
            let Some(issue) = w.issue_mut(org, repo, index) else {
                return not_found();
            };
            let kept: Vec<Value> = issue["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["name"] != name.as_str())
                .cloned()
                .collect();
            issue["labels"] = json!(kept);
            issue["updated_at"] = now();
            no_content()
        }
        // repo/collaborators.go: ListCollaborators.
        ("GET", ["repos", org, repo, "collaborators"]) => {
            let items = w
                .collaborators
                .get(&(org.to_string(), repo.to_string()))
                .map(|c| c.keys().map(|u| user(u)).collect())
                .unwrap_or_default();
            page(items, query)
        }
        // repo/collaborators.go: GetRepoPermissions. A user that does not
        // exist is a 404; any user has a permission, collaborator or not
        // (read on a public repository, none on a private one).
        ("GET", ["repos", org, repo, "collaborators", name, "permission"]) => {
            if !w.users.contains(*name) {
                return not_found();
            }
            let key = (org.to_string(), repo.to_string());
            let p = match w.collaborators.get(&key).and_then(|c| c.get(*name)) {
                Some(p) => p.clone(),
                None if w.repos[&key]["private"] == true => "none".to_string(),
                None => "read".to_string(),
            };
            json_response(
                StatusCode::OK,
                json!({ "permission": p, "role_name": p, "user": user(name) }),
            )
        }
        // repo/collaborators.go: AddOrUpdateCollaborator, DeleteCollaborator;
        // a user that does not exist is a 422 (IsErrUserNotExist).
        ("PUT" | "DELETE", ["repos", org, repo, "collaborators", name]) => {
            let key = (org.to_string(), repo.to_string());
            if !w.users.contains(*name) {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("user does not exist [uid: 0, name: {name}]"),
                );
            }
            let c = w.collaborators.entry(key).or_default();
            if m == "PUT" {
                let p = body["permission"].as_str().unwrap_or("write").to_string();
                c.insert(name.to_string(), p);
            } else {
                c.remove(*name);
            }
            no_content()
        }
        // repo/key.go: ListDeployKeys, CreateDeployKey (a key in use is a
        // 422, HandleAddKeyError), DeleteDeploykey.
        ("GET", ["repos", org, repo, "keys"]) => page(
            w.keys
                .get(&(org.to_string(), repo.to_string()))
                .cloned()
                .unwrap_or_default(),
            query,
        ),
        ("POST", ["repos", org, repo, "keys"]) => {
            let key = (org.to_string(), repo.to_string());
            let wanted = material(&body["key"]);
            if w.keys
                .get(&key)
                .is_some_and(|ks| ks.iter().any(|k| material(&k["key"]) == wanted))
            {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Key content has been used as non-deploy key",
                );
            }
            let id = w.id();
            let mut k = json!({ "id": id, "read_only": false });
            merge(&mut k, &body);
            w.keys.entry(key).or_default().push(k.clone());
            json_response(StatusCode::CREATED, k)
        }
        ("DELETE", ["repos", org, repo, "keys", id]) => {
            let keys = w
                .keys
                .entry((org.to_string(), repo.to_string()))
                .or_default();
            let before = keys.len();
            keys.retain(|k| k["id"].as_i64().map(|n| n.to_string()).as_deref() != Some(*id));
            if keys.len() < before {
                no_content()
            } else {
                not_found()
            }
        }
        // user/key.go: ListPublicKeys.
        ("GET", ["users", name, "keys"]) => {
            page(w.user_keys.get(*name).cloned().unwrap_or_default(), query)
        }
        // admin/user.go: CreatePublicKey.
        ("POST", ["admin", "users", name, "keys"]) => {
            let id = w.id();
            let mut k = json!({ "id": id });
            merge(&mut k, &body);
            w.user_keys
                .entry(name.to_string())
                .or_default()
                .push(k.clone());
            json_response(StatusCode::CREATED, k)
        }
        // org/hook.go, repo/hook.go: ListHooks, CreateHook, EditHook,
        // DeleteHook; the secret is never answered.
        ("GET", ["orgs", org, "hooks"]) => page(
            w.hooks
                .get(*org)
                .map(|h| h.iter().map(public_hook).collect())
                .unwrap_or_default(),
            query,
        ),
        ("GET", ["repos", org, repo, "hooks"]) => page(
            w.hooks
                .get(&format!("{org}/{repo}"))
                .map(|h| h.iter().map(public_hook).collect())
                .unwrap_or_default(),
            query,
        ),
        ("POST", ["orgs", org, "hooks"]) | ("POST", ["repos", org, _, "hooks"]) => {
            let scope = if s[0] == "orgs" {
                org.to_string()
            } else {
                format!("{org}/{}", s[2])
            };
            // Gitea accepts the same hook twice.
            let id = w.id();
            let mut h = json!({ "id": id, "active": false, "events": [] });
            merge(&mut h, &body);
            w.hooks.entry(scope).or_default().push(h.clone());
            json_response(StatusCode::CREATED, public_hook(&h))
        }
        ("PATCH" | "DELETE", ["orgs", org, "hooks", id])
        | ("PATCH" | "DELETE", ["repos", org, _, "hooks", id]) => {
            let scope = if s[0] == "orgs" {
                org.to_string()
            } else {
                format!("{org}/{}", s[2])
            };
            let hooks = w.hooks.entry(scope).or_default();
            let Some(i) = hooks
                .iter()
                .position(|h| h["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(*id))
            else {
                return not_found();
            };
            if m == "DELETE" {
                hooks.remove(i);
                return no_content();
            }
            merge(&mut hooks[i], &body);
            json_response(StatusCode::OK, public_hook(&hooks[i]))
        }
        // repo/branch.go: ListBranchProtections (not paginated),
        // CreateBranchProtection (a rule taken is a 403), EditBranchProtection,
        // DeleteBranchProtection.
        ("GET", ["repos", org, repo, "branch_protections"]) => json_response(
            StatusCode::OK,
            Value::Array(
                w.protections
                    .get(&(org.to_string(), repo.to_string()))
                    .cloned()
                    .unwrap_or_default(),
            ),
        ),
        ("POST", ["repos", org, repo, "branch_protections"]) => {
            let key = (org.to_string(), repo.to_string());
            let rule = body["rule_name"].clone();
            let list = w.protections.entry(key).or_default();
            if list.iter().any(|p| p["rule_name"] == rule) {
                return message(StatusCode::FORBIDDEN, "Branch protection already exist");
            }
            let mut p =
                json!({ "rule_name": rule, "branch_name": rule, "status_check_contexts": null });
            merge(&mut p, &body);
            list.push(p.clone());
            json_response(StatusCode::CREATED, p)
        }
        ("PATCH" | "DELETE", ["repos", org, repo, "branch_protections", name]) => {
            let list = w
                .protections
                .entry((org.to_string(), repo.to_string()))
                .or_default();
            let Some(i) = list.iter().position(|p| p["rule_name"] == *name) else {
                return not_found();
            };
            if m == "DELETE" {
                list.remove(i);
                return no_content();
            }
            merge(&mut list[i], &body);
            json_response(StatusCode::OK, list[i].clone())
        }
        _ => message(StatusCode::NOT_FOUND, "the fake does not serve this"),
    }
}
