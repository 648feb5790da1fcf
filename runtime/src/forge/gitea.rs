//! Gitea: what the forge has, and the writes that bring it to a plan.
//!
//! For each operation of a compiled plan, [`Gitea::decide`] reads the live
//! state (lists are read to the end and cached for the run) and answers:
//! it already matches (then the object is adopted, never re-created), this
//! write creates or updates it, or it cannot be done. Only the fields the
//! plan sets are compared, with server defaults normalized (a missing list,
//! `null` and `[]` are the same; lists compare as sets).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{Map, Value, json};

use kradle_compiler::forge_plan::{Action, Operation};

use super::http::{Http, HttpError};

/// What kind of write a decision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Create,
    Update,
    /// Delete, then create (what cannot be edited: a deploy key's access).
    Replace,
    Remove,
    Archive,
}

/// One request of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// `${secret:…}` placeholders are still in it.
    pub body: Option<Value>,
}

/// What an operation needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The forge already has it: its live state.
    Matches(Value),
    /// Send these requests, in order; the last answer is the object.
    Write(Change, Vec<Request>),
    /// It cannot be done, and why.
    Fail(String),
}

/// A managed object: what a link records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub kind: &'static str,
    pub name: String,
}

/// The link key of an operation: what it manages, in kradle's terms.
pub fn key_of(op: &Operation) -> Option<Key> {
    let t = &op.target;
    let part = |v: &Option<String>| v.clone().unwrap_or_default();
    let (kind, name) = match op.action {
        Action::CreateOrganization => ("organization", t.owner.clone()),
        Action::CreateRepository | Action::EnsureOrgMemoryRepository => {
            ("repository", part(&t.repository))
        }
        Action::CreateTeam => ("team", part(&t.team)),
        Action::AddTeamMember => (
            "team-member",
            format!("{}/{}", part(&t.team), part(&t.user)),
        ),
        Action::AddTeamRepository => (
            "team-repository",
            format!("{}/{}", part(&t.team), part(&t.repository)),
        ),
        Action::AddCollaborator => (
            "collaborator",
            format!("{}/{}", part(&t.repository), part(&t.user)),
        ),
        Action::AddDeployKey => (
            "deploy-key",
            format!("{}/{}", part(&t.repository), key_material(&op.body["key"])),
        ),
        Action::AddUserSshKey => (
            "user-key",
            format!("{}/{}", part(&t.user), key_material(&op.body["key"])),
        ),
        Action::ProtectBranch => (
            "branch-protection",
            format!("{}/{}", part(&t.repository), part(&t.branch)),
        ),
        Action::CreateWebhook => (
            "hook",
            format!(
                "{}/{}",
                t.repository.as_deref().unwrap_or("-"),
                op.body["config"]["url"].as_str().unwrap_or_default()
            ),
        ),
        Action::EnsureUserMapping | Action::UpdateRepository | Action::RequireSignedCommits => {
            return None;
        }
    };
    Some(Key { kind, name })
}

/// An SSH key's type and base64 body, without its comment: how forges
/// compare keys.
pub fn key_material(key: &Value) -> String {
    let text = key.as_str().unwrap_or_default();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Gitea server, for one apply run. Shared by the operations that run at
/// once: the lists it read are cached behind a lock.
#[derive(Debug)]
pub struct Gitea {
    pub http: Http,
    lists: Mutex<HashMap<String, Vec<Value>>>,
}

impl Gitea {
    pub fn new(http: Http) -> Gitea {
        Gitea {
            http,
            lists: Mutex::default(),
        }
    }

    fn cached(&self, path: &str) -> Option<Vec<Value>> {
        self.lists.lock().ok()?.get(path).cloned()
    }

    fn remember(&self, path: &str, items: &[Value]) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(path.to_string(), items.to_vec());
        }
    }

    /// Every item of the list at `path`, read once per run.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        if let Some(items) = self.cached(path) {
            return Ok(items);
        }
        let items = self.http.list_gitea(path).await?;
        self.remember(path, &items);
        Ok(items)
    }

    /// Keeps the cache true after a write: an object created in a list that
    /// was read is added to it (so creating 500 repositories does not read
    /// the list 500 times); anything else under `path` is read again.
    pub fn wrote(&self, method: &Method, path: &str, created: &Value) {
        // A repository created now has no collaborator, hook, key or
        // protection yet: nothing to read.
        if *method == Method::POST && path.starts_with("/orgs/") && path.ends_with("/repos") {
            if let (Some(owner), Some(name)) = (path.split('/').nth(2), created["name"].as_str()) {
                for list in ["collaborators", "hooks", "keys", "branch_protections"] {
                    self.remember(&format!("/repos/{owner}/{name}/{list}"), &[]);
                }
            }
        }
        if *method == Method::POST && created.is_object() {
            if let Ok(mut lists) = self.lists.lock() {
                if let Some(items) = lists.get_mut(path) {
                    items.push(created.clone());
                    return;
                }
            }
        }
        self.forget(path);
    }

    /// Forgets what was read under `path` (after a write there).
    pub fn forget(&self, path: &str) {
        let path = path.split('?').next().unwrap_or(path);
        if let Ok(mut lists) = self.lists.lock() {
            lists.retain(|k, _| !k.starts_with(path) && !path.starts_with(k.as_str()));
        }
    }

    /// `GET path` (an object), read once per run.
    pub async fn get_once(&self, path: &str) -> Result<Value, HttpError> {
        if let Some(mut one) = self.cached(path) {
            return Ok(one.pop().unwrap_or_default());
        }
        let value = self.http.get(path).await?.body;
        self.remember(path, std::slice::from_ref(&value));
        Ok(value)
    }

    /// A list that is not paginated (branch protections).
    pub async fn plain_list(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        if let Some(items) = self.cached(path) {
            return Ok(items);
        }
        let items = self
            .http
            .get_opt(path)
            .await?
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        self.remember(path, &items);
        Ok(items)
    }

    /// What `op` needs. `path` is the operation's path with `${op:…}`
    /// resolved, or `None` when an earlier operation has not created what it
    /// names yet (a dry run): then nothing under it can exist.
    pub async fn decide(&self, op: &Operation, path: Option<&str>) -> Result<Decision, HttpError> {
        let t = &op.target;
        let org = t.owner.as_str();
        let body = &op.body;
        let create = || {
            Decision::Write(
                Change::Create,
                vec![Request {
                    method: method_of(op),
                    path: path.unwrap_or(op.path.as_str()).to_string(),
                    body: (!body.is_null()).then(|| body.clone()),
                }],
            )
        };
        let Some(path) = path else {
            return Ok(create());
        };
        let name = |v: &Option<String>| v.clone().unwrap_or_default();
        Ok(match op.action {
            Action::CreateOrganization => match self.http.get_opt(&format!("/orgs/{org}")).await? {
                None => create(),
                Some(live) => update(
                    live,
                    body,
                    &["full_name", "visibility"],
                    &format!("/orgs/{org}"),
                    Map::new(),
                ),
            },
            Action::CreateRepository | Action::EnsureOrgMemoryRepository => {
                let repo = name(&t.repository);
                let live = find(
                    &self.list(&format!("/orgs/{org}/repos")).await?,
                    "name",
                    &repo,
                );
                match live {
                    None => create(),
                    Some(live) if op.action == Action::EnsureOrgMemoryRepository => {
                        Decision::Matches(live)
                    }
                    Some(live) => {
                        let mut extra = Map::new();
                        if live["archived"] == Value::Bool(true) {
                            // Declared again: bring it back.
                            extra.insert("archived".into(), Value::Bool(false));
                        }
                        update(
                            live,
                            body,
                            &["private", "description", "default_branch"],
                            &format!("/repos/{org}/{repo}"),
                            extra,
                        )
                    }
                }
            }
            Action::EnsureUserMapping => match self.http.get_opt(path).await? {
                Some(user) => Decision::Matches(user),
                None => Decision::Fail(format!(
                    "user `{}` does not exist on Gitea; kradle does not create users: create the account (or fix the User's username or IdentityMapping)",
                    path.rsplit('/').next().unwrap_or_default()
                )),
            },
            Action::CreateTeam => {
                let team = name(&t.team);
                match find(
                    &self.list(&format!("/orgs/{org}/teams")).await?,
                    "name",
                    &team,
                ) {
                    None => create(),
                    Some(mut live) => {
                        let id = live["id"].clone();
                        // Newer Gitea versions answer `units_map` and leave
                        // `units` empty: compare the units either way.
                        if equivalent(&live["units"], &Value::Null) {
                            if let Some(map) = live["units_map"].as_object() {
                                let units: Vec<Value> = map.keys().map(|k| json!(k)).collect();
                                live["units"] = Value::Array(units);
                            }
                        }
                        let mut extra = Map::new();
                        extra.insert("name".into(), json!(team));
                        update(
                            live,
                            body,
                            &[
                                "description",
                                "permission",
                                "units",
                                "includes_all_repositories",
                                "can_create_org_repo",
                            ],
                            &format!("/teams/{id}"),
                            extra,
                        )
                    }
                }
            }
            Action::AddTeamMember => {
                let members = parent(path, "/members/");
                let user = name(&t.user);
                match find(&self.list(&members).await?, "login", &user) {
                    Some(live) => Decision::Matches(live),
                    None => create(),
                }
            }
            Action::AddTeamRepository => {
                let repos = format!("{}/repos", path.split("/repos/").next().unwrap_or(path));
                let repo = name(&t.repository);
                match find(&self.list(&repos).await?, "name", &repo) {
                    Some(live) => Decision::Matches(live),
                    None => create(),
                }
            }
            Action::AddCollaborator => {
                let list = parent(path, "/collaborators/");
                let user = name(&t.user);
                if find(&self.list(&list).await?, "login", &user).is_none() {
                    create()
                } else {
                    let live = self.get_once(&format!("{path}/permission")).await?;
                    if live["permission"] == body["permission"] {
                        Decision::Matches(live)
                    } else {
                        create()
                    }
                }
            }
            Action::AddDeployKey | Action::AddUserSshKey => {
                let list = if op.action == Action::AddUserSshKey {
                    format!("/users/{}/keys", name(&t.user))
                } else {
                    path.to_string()
                };
                let material = key_material(&body["key"]);
                let live = self
                    .list(&list)
                    .await?
                    .into_iter()
                    .find(|k| key_material(&k["key"]) == material);
                match live {
                    None => create(),
                    Some(live)
                        if op.action == Action::AddUserSshKey
                            || live["read_only"] == body["read_only"] =>
                    {
                        Decision::Matches(live)
                    }
                    // A key's access cannot be edited: delete it, add it again.
                    Some(live) => Decision::Write(
                        Change::Replace,
                        vec![
                            Request {
                                method: Method::DELETE,
                                path: format!("{path}/{}", live["id"]),
                                body: None,
                            },
                            Request {
                                method: Method::POST,
                                path: path.to_string(),
                                body: Some(body.clone()),
                            },
                        ],
                    ),
                }
            }
            Action::ProtectBranch => {
                let rule = body["rule_name"].as_str().unwrap_or_default().to_string();
                let live =
                    self.plain_list(path).await?.into_iter().find(|p| {
                        p["rule_name"] == rule.as_str() || p["branch_name"] == rule.as_str()
                    });
                match live {
                    None => create(),
                    Some(live) => {
                        let fields: Vec<&str> = body
                            .as_object()
                            .map(|m| {
                                m.keys()
                                    .map(String::as_str)
                                    .filter(|k| *k != "rule_name")
                                    .collect()
                            })
                            .unwrap_or_default();
                        update(
                            live,
                            body,
                            &fields,
                            &format!("{path}/{}", encode(&rule)),
                            Map::new(),
                        )
                    }
                }
            }
            Action::CreateWebhook => {
                let url = body["config"]["url"].clone();
                let live = self
                    .list(path)
                    .await?
                    .into_iter()
                    .find(|h| h["config"]["url"] == url);
                match live {
                    None => create(),
                    Some(live) => {
                        let same = same_set(&live["events"], &body["events"])
                            && live["active"] == body["active"]
                            && equivalent(
                                &live["config"]["content_type"],
                                &body["config"]["content_type"],
                            );
                        if same {
                            Decision::Matches(live)
                        } else {
                            Decision::Write(
                                Change::Update,
                                vec![Request {
                                    method: Method::PATCH,
                                    path: format!("{path}/{}", live["id"]),
                                    body: Some(json!({
                                        "config": body["config"],
                                        "events": body["events"],
                                        "active": body["active"],
                                    })),
                                }],
                            )
                        }
                    }
                }
            }
            Action::UpdateRepository | Action::RequireSignedCommits => Decision::Fail(format!(
                "{} is a GitHub operation, not a Gitea one",
                op.action
            )),
        })
    }
}

fn method_of(op: &Operation) -> Method {
    Method::from_bytes(op.method.as_str().as_bytes()).unwrap_or(Method::POST)
}

/// `/a/b/members/x` → `/a/b/members`.
fn parent(path: &str, marker: &str) -> String {
    match path.rsplit_once(marker) {
        Some((head, _)) => format!("{head}{}", marker.trim_end_matches('/')),
        None => path.to_string(),
    }
}

/// The item of `items` whose `field` is `value` (names compare without case,
/// as Gitea's do).
fn find(items: &[Value], field: &str, value: &str) -> Option<Value> {
    items
        .iter()
        .find(|i| {
            i[field]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(value))
        })
        .cloned()
}

/// Matches when every field in `fields` that the plan sets equals the live
/// one; otherwise a PATCH of the differing fields (plus `extra`) to `path`.
fn update(
    live: Value,
    planned: &Value,
    fields: &[&str],
    path: &str,
    mut extra: Map<String, Value>,
) -> Decision {
    let forced = extra.keys().any(|k| k != "name");
    let mut patch = Map::new();
    for field in fields {
        let Some(want) = planned.get(*field) else {
            continue;
        };
        if !equivalent(&live[*field], want) {
            patch.insert((*field).to_string(), want.clone());
        }
    }
    if patch.is_empty() && !forced {
        return Decision::Matches(live);
    }
    patch.append(&mut extra);
    Decision::Write(
        Change::Update,
        vec![Request {
            method: Method::PATCH,
            path: path.to_string(),
            body: Some(Value::Object(patch)),
        }],
    )
}

/// Equal after normalizing server defaults: `null`, `""` and `[]` are one
/// "empty"; lists compare as sets.
pub fn equivalent(live: &Value, want: &Value) -> bool {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if empty(live) && empty(want) {
        return true;
    }
    match (live, want) {
        (Value::Array(_), Value::Array(_)) => same_set(live, want),
        _ => live == want,
    }
}

fn same_set(a: &Value, b: &Value) -> bool {
    let set = |v: &Value| {
        let mut items: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(Value::to_string).collect())
            .unwrap_or_default();
        items.sort();
        items.dedup();
        items
    };
    set(a) == set(b)
}

/// A path segment, percent-encoded (branch rule names may hold `/` or `*`).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_defaults_are_not_differences() {
        assert!(equivalent(&Value::Null, &json!([])));
        assert!(equivalent(&json!(""), &Value::Null));
        assert!(equivalent(&json!(["b", "a"]), &json!(["a", "b", "a"])));
        assert!(!equivalent(&json!(false), &Value::Null));
        assert!(!equivalent(&json!("write"), &json!("read")));
    }

    #[test]
    fn only_the_fields_the_plan_sets_are_compared() {
        let live = json!({ "private": true, "description": "", "website": "https://x" });
        let planned = json!({ "name": "api", "private": true });
        assert!(matches!(
            update(
                live.clone(),
                &planned,
                &["private", "description"],
                "/repos/a/api",
                Map::new()
            ),
            Decision::Matches(_)
        ));
        let planned = json!({ "private": false });
        match update(live, &planned, &["private"], "/repos/a/api", Map::new()) {
            Decision::Write(Change::Update, reqs) => {
                assert_eq!(reqs[0].body, Some(json!({ "private": false })));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_team_answered_with_units_map_only_matches() {
        // No server: the list is already cached.
        let gitea =
            Gitea::new(Http::new("http://127.0.0.1:1/api/v1", None, Default::default()).unwrap());
        gitea.remember(
            "/orgs/acme/teams",
            &[
                json!({ "id": 7, "name": "core", "description": "Core", "permission": "write",
                      "units": null, "units_map": { "repo.code": "write", "repo.pulls": "write" },
                      "includes_all_repositories": false, "can_create_org_repo": false }),
            ],
        );
        let op: Operation = serde_json::from_value(json!({
            "id": "team:core", "target": { "owner": "acme", "team": "core" },
            "action": "createTeam", "method": "POST", "path": "/orgs/acme/teams",
            "body": { "name": "core", "description": "Core", "permission": "write",
                      "units": ["repo.pulls", "repo.code"], "includes_all_repositories": false,
                      "can_create_org_repo": false },
            "idempotencyKey": "k", "dependsOn": []
        }))
        .unwrap();
        let decision = gitea.decide(&op, Some("/orgs/acme/teams")).await.unwrap();
        assert!(matches!(decision, Decision::Matches(_)), "{decision:?}");
    }

    #[test]
    fn keys_compare_without_their_comment() {
        assert_eq!(
            key_material(&json!("ssh-ed25519 AAAAC3 ada@laptop")),
            key_material(&json!("ssh-ed25519 AAAAC3 other")),
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode("release/*"), "release%2F%2A");
        assert_eq!(encode("main"), "main");
    }
}
