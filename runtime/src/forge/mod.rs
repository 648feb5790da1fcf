//! Forge clients, and what each forge needs to converge to a compiled plan.
//!
//! - `http`: REST with retries, rate limits, pagination and (GitHub) ETags.
//! - `gitea`, `github`: implement [`Forge`]: for each operation of a plan,
//!   [`Forge::decide`] reads the live state and answers whether it already
//!   matches (the object is adopted, never re-created), which writes bring
//!   it there, or why it cannot be done; [`Forge::scan`] finds what kradle
//!   manages that the plan dropped, and what nobody declared (drift).
//! - `github_app`: GitHub App installation tokens.
//!
//! Only the fields a plan sets are compared, with server defaults
//! normalized (a missing list, `null` and `[]` are the same; lists compare
//! as sets).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{Map, Value};

use kradle_compiler::forge_plan::{Action, Backend, Operation, Plan};

use http::{Http, HttpError};

pub mod clients;
pub mod gitea;
pub mod github;
pub mod github_app;
pub mod hosts;
pub mod http;

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

impl Request {
    pub fn new(method: Method, path: impl Into<String>, body: Option<Value>) -> Request {
        Request {
            method,
            path: path.into(),
            body,
        }
    }
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

/// Something to take away: a managed object the plan no longer has, or a
/// drifted one.
#[derive(Debug, Clone)]
pub struct Removal {
    pub kind: String,
    pub name: String,
    pub request: Request,
    pub change: Change,
    /// The link to forget afterwards (none for drift).
    pub linked: bool,
    /// Other links to forget with it: what is inside a repository being
    /// archived, which kradle stops managing.
    pub let_go: Vec<(String, String)>,
}

impl Removal {
    /// The removal (or archive) of an object kradle manages.
    pub fn managed(kind: &str, name: &str, request: Request, change: Change) -> Removal {
        Removal {
            kind: kind.to_string(),
            name: name.to_string(),
            request,
            change,
            linked: true,
            let_go: Vec::new(),
        }
    }

    /// A DELETE of something nobody declared.
    pub fn drift(kind: &str, name: String, path: String) -> Removal {
        Removal {
            kind: kind.to_string(),
            name,
            request: Request::new(Method::DELETE, path, None),
            change: Change::Remove,
            linked: false,
            let_go: Vec::new(),
        }
    }
}

/// What a forge has in a plan's scope, beyond the plan.
#[derive(Debug, Default)]
pub struct Scan {
    /// Linked objects the plan no longer has.
    pub stale: Vec<Removal>,
    /// Live objects in scope that nobody declared.
    pub drift: Vec<Removal>,
    /// Permission grants on the forge now, in scope.
    pub grants: usize,
}

/// An object kradle manages on a forge, as a scan needs it: its id there.
/// (The journal's object link, `store::Link`, is the apply's; the forge
/// never reads the store.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    pub native_id: Option<String>,
}

/// The objects kradle manages in one organization, by (kind, name).
pub type Links = BTreeMap<(String, String), Managed>;

/// A forge that a plan can be applied to. One value serves one apply run
/// and is shared by the operations that run at once.
pub trait Forge: Sync {
    /// The backend of the plans it applies.
    fn backend(&self) -> Backend;

    fn http(&self) -> &Http;

    /// What `op` needs. `path` is the operation's path with `${op:…}`
    /// resolved, or `None` when an earlier operation has not created what it
    /// names yet (a dry run): then nothing under it can exist.
    fn decide(
        &self,
        op: &Operation,
        path: Option<&str>,
    ) -> impl Future<Output = Result<Decision, HttpError>> + Send;

    /// The removals and drift in the plan's scope, and the grants there.
    /// `desired` holds the (kind, name) of every object the plan declares.
    fn scan(
        &self,
        plan: &Plan,
        links: &Links,
        desired: &BTreeSet<(String, String)>,
        concurrency: usize,
    ) -> impl Future<Output = Result<Scan, HttpError>> + Send;

    /// The removals that must not be sent, by index, and why: taken in
    /// order, the one that would remove the last admin of a repository (or
    /// the last owner of an organization) is refused.
    fn last_admins(
        &self,
        org: &str,
        removals: &[Removal],
    ) -> impl Future<Output = Result<HashMap<usize, String>, HttpError>> + Send;

    /// Keeps what was read true after a write to `path` that answered `answer`.
    fn wrote(&self, method: &Method, path: &str, answer: &Value);

    /// Forgets what was read under `path` (after a failed write there).
    fn forget(&self, path: &str);
}

/// The link key of an operation: what it manages, in kradle's terms (the
/// same on both forges).
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

/// The lists (and objects) read from a forge during one run, shared by the
/// operations that run at once.
#[derive(Debug, Default)]
pub struct ReadCache {
    lists: Mutex<HashMap<String, Vec<Value>>>,
}

impl ReadCache {
    /// Every item of the list at `path`, read once per run.
    pub async fn list(&self, http: &Http, path: &str) -> Result<Vec<Value>, HttpError> {
        if let Some(items) = self.get(path) {
            return Ok(items);
        }
        let items = http.list(path).await?;
        self.put(path, &items);
        Ok(items)
    }

    /// The item of the list at `path` whose `field` is `value` (without
    /// case), searched in place: the list is read once, never copied.
    pub async fn find_in(
        &self,
        http: &Http,
        path: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Value>, HttpError> {
        if let Some(found) = self.find(path, field, value) {
            return Ok(found);
        }
        Ok(find(&self.list(http, path).await?, field, value))
    }

    /// `GET path` (an object), or `None` on 404; read once per run.
    pub async fn get_opt(&self, http: &Http, path: &str) -> Result<Option<Value>, HttpError> {
        if let Some(mut one) = self.get(path) {
            return Ok(one.pop());
        }
        let value = http.get_opt(path).await?;
        self.put(path, value.as_slice());
        Ok(value)
    }

    /// After a POST to `path` answered with `created`: a repository created
    /// now has none of `sublists` yet (nothing to read), and an object
    /// created in a list that was read joins it. Whether it joined; if not,
    /// the caller forgets what the write made stale.
    pub fn created(&self, method: &Method, path: &str, created: &Value, sublists: &[&str]) -> bool {
        if *method != Method::POST {
            return false;
        }
        if path.starts_with("/orgs/") && path.ends_with("/repos") {
            if let (Some(owner), Some(name)) = (path.split('/').nth(2), created["name"].as_str()) {
                for list in sublists {
                    self.put(&format!("/repos/{owner}/{name}/{list}"), &[]);
                }
            }
        }
        created.is_object() && self.push(path, created)
    }

    pub fn get(&self, path: &str) -> Option<Vec<Value>> {
        self.lists.lock().ok()?.get(path).cloned()
    }

    pub fn put(&self, path: &str, items: &[Value]) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(path.to_string(), items.to_vec());
        }
    }

    /// The item of the list at `path` whose `field` is `value` (without
    /// case), searched without copying the list; `None` when it was not read.
    pub fn find(&self, path: &str, field: &str, value: &str) -> Option<Option<Value>> {
        let lists = self.lists.lock().ok()?;
        let items = lists.get(path)?;
        Some(items.iter().find(|i| named(i, field, value)).cloned())
    }

    /// Adds `item` to the list at `path` if it was read; whether it was.
    pub fn push(&self, path: &str, item: &Value) -> bool {
        if let Ok(mut lists) = self.lists.lock() {
            if let Some(items) = lists.get_mut(path) {
                items.push(item.clone());
                return true;
            }
        }
        false
    }

    /// Forgets the list at `path`, whatever query it was read with.
    pub fn forget_exact(&self, path: &str) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.retain(|k, _| k.split('?').next().unwrap_or(k) != path);
        }
    }

    /// Forgets what was read under (or above) `path`.
    pub fn forget(&self, path: &str) {
        let path = path.split('?').next().unwrap_or(path);
        if let Ok(mut lists) = self.lists.lock() {
            lists.retain(|k, _| {
                let k = k.split('?').next().unwrap_or(k);
                !k.starts_with(path) && !path.starts_with(k)
            });
        }
    }
}

pub(crate) fn method_of(op: &Operation) -> Method {
    Method::from_bytes(op.method.as_str().as_bytes()).unwrap_or(Method::POST)
}

/// `/a/b/members/x` → `/a/b/members`.
pub(crate) fn parent(path: &str, marker: &str) -> String {
    match path.rsplit_once(marker) {
        Some((head, _)) => format!("{head}{}", marker.trim_end_matches('/')),
        None => path.to_string(),
    }
}

/// The item of `items` whose `field` is `value` (names compare without
/// case, as both forges compare them).
pub(crate) fn find(items: &[Value], field: &str, value: &str) -> Option<Value> {
    items.iter().find(|i| named(i, field, value)).cloned()
}

fn named(item: &Value, field: &str, value: &str) -> bool {
    item[field]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case(value))
}

/// Matches when every field in `fields` that the plan sets equals the live
/// one; otherwise a PATCH of the differing fields (plus `extra`) to `path`.
pub(crate) fn update(
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
        vec![Request::new(
            Method::PATCH,
            path,
            Some(Value::Object(patch)),
        )],
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

pub(crate) fn same_set(a: &Value, b: &Value) -> bool {
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

/// The hook whose `config.url` is the plan's, and whether its events,
/// `active` and content type match: else a PATCH of the three to
/// `{list}/{id}`. The secret cannot be compared: no forge shows it.
pub(crate) fn decide_hook(live: Option<Value>, list: &str, body: &Value) -> Option<Decision> {
    let live = live?;
    let same = same_set(&live["events"], &body["events"])
        && live["active"] == body["active"]
        && equivalent(
            &live["config"]["content_type"],
            &body["config"]["content_type"],
        );
    Some(if same {
        Decision::Matches(live)
    } else {
        hook_update(list, &live, body)
    })
}

/// The PATCH that sets a live hook (in the list at `list`) to the plan's
/// config, secret included, events and `active`.
pub fn hook_update(list: &str, live: &Value, body: &Value) -> Decision {
    Decision::Write(
        Change::Update,
        vec![Request::new(
            Method::PATCH,
            format!("{list}/{}", live["id"]),
            Some(serde_json::json!({
                "config": body["config"],
                "events": body["events"],
                "active": body["active"],
            })),
        )],
    )
}

/// A deploy key decision: the live key with the plan's material, matched
/// when its access agrees; a key's access cannot be edited, so a different
/// one is deleted and added again.
pub(crate) fn decide_deploy_key(live: Option<Value>, list: &str, body: &Value) -> Option<Decision> {
    let live = live?;
    Some(if live["read_only"] == body["read_only"] {
        Decision::Matches(live)
    } else {
        Decision::Write(
            Change::Replace,
            vec![
                Request::new(Method::DELETE, format!("{list}/{}", live["id"]), None),
                Request::new(Method::POST, list, Some(body.clone())),
            ],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn forgetting_a_path_forgets_its_queries_and_parents() {
        let cache = ReadCache::default();
        cache.put("/orgs/a/teams/x/members?role=member", &[json!(1)]);
        cache.put("/orgs/a/teams", &[json!(2)]);
        cache.put("/repos/a/b/hooks", &[json!(3)]);
        cache.forget("/orgs/a/teams/x/members/ada");
        assert!(cache.get("/orgs/a/teams/x/members?role=member").is_none());
        assert!(cache.get("/orgs/a/teams").is_none());
        assert!(cache.get("/repos/a/b/hooks").is_some());
    }
}
