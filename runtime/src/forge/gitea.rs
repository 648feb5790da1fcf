//! Gitea: what the forge has, and the writes that bring it to a plan.
//!
//! Lists are read to the end (`page`/`limit`) and cached for the run.
//! Teams, members and team repositories are addressed by the team's id;
//! hooks are answered without their secret; branch protections are one
//! unpaginated list per repository.

use std::collections::{BTreeSet, HashMap};

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value, json};

use kradle_compiler::forge_plan::{Action, Backend, Operation, Plan};

use super::http::{Http, HttpError};
use super::{
    Change, Decision, Forge, Links, ReadCache, Removal, Request, Scan, decide_deploy_key,
    decide_hook, encode, equivalent, key_material, method_of, parent, update,
};

/// A Gitea server, for one apply run. Shared by the operations that run at
/// once: the lists it read are cached behind a lock.
#[derive(Debug)]
pub struct Gitea {
    pub http: Http,
    cache: ReadCache,
}

impl Gitea {
    pub fn new(http: Http) -> Gitea {
        Gitea {
            http,
            cache: ReadCache::default(),
        }
    }

    pub async fn find_in(
        &self,
        path: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Value>, HttpError> {
        self.cache.find_in(&self.http, path, field, value).await
    }

    /// Every item of the list at `path`, read once per run.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        self.cache.list(&self.http, path).await
    }

    /// `GET path` (an object), read once per run; `null` when it is gone.
    pub async fn get_once(&self, path: &str) -> Result<Value, HttpError> {
        Ok(self
            .cache
            .get_opt(&self.http, path)
            .await?
            .unwrap_or_default())
    }

    /// A list that is not paginated (branch protections).
    pub async fn plain_list(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        if let Some(items) = self.cache.get(path) {
            return Ok(items);
        }
        let items = self
            .http
            .get_opt(path)
            .await?
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        self.cache.put(path, &items);
        Ok(items)
    }

    async fn decide_op(&self, op: &Operation, path: Option<&str>) -> Result<Decision, HttpError> {
        let t = &op.target;
        let org = t.owner.as_str();
        let body = &op.body;
        let create = || {
            Decision::Write(
                Change::Create,
                vec![Request::new(
                    method_of(op),
                    path.unwrap_or(op.path.as_str()),
                    (!body.is_null()).then(|| body.clone()),
                )],
            )
        };
        let Some(path) = path else {
            return Ok(create());
        };
        let name = |v: &Option<String>| v.clone().unwrap_or_default();
        // Nothing can exist in a repository that does not (a dry run).
        if !matches!(
            op.action,
            Action::CreateRepository | Action::EnsureOrgMemoryRepository
        ) {
            if let Some(repo) = &t.repository {
                if self
                    .find_in(&format!("/orgs/{org}/repos"), "name", repo)
                    .await?
                    .is_none()
                {
                    return Ok(create());
                }
            }
        }
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
                let live = self
                    .find_in(&format!("/orgs/{org}/repos"), "name", &repo)
                    .await?;
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
                match self
                    .find_in(&format!("/orgs/{org}/teams"), "name", &team)
                    .await?
                {
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
                match self.find_in(&members, "login", &user).await? {
                    Some(live) => Decision::Matches(live),
                    None => create(),
                }
            }
            Action::AddTeamRepository => {
                let repos = format!("{}/repos", path.split("/repos/").next().unwrap_or(path));
                let repo = name(&t.repository);
                match self.find_in(&repos, "name", &repo).await? {
                    Some(live) => Decision::Matches(live),
                    None => create(),
                }
            }
            Action::AddCollaborator => {
                let list = parent(path, "/collaborators/");
                let user = name(&t.user);
                if self.find_in(&list, "login", &user).await?.is_none() {
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
                if op.action == Action::AddUserSshKey {
                    return Ok(live.map_or_else(create, Decision::Matches));
                }
                decide_deploy_key(live, path, body).unwrap_or_else(create)
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
                decide_hook(live, path, body).unwrap_or_else(create)
            }
            Action::UpdateRepository | Action::RequireSignedCommits => Decision::Fail(format!(
                "{} is a GitHub operation, not a Gitea one",
                op.action
            )),
        })
    }
}

impl Forge for Gitea {
    fn backend(&self) -> Backend {
        Backend::Gitea
    }

    fn http(&self) -> &Http {
        &self.http
    }

    async fn decide(&self, op: &Operation, path: Option<&str>) -> Result<Decision, HttpError> {
        self.decide_op(op, path).await
    }

    async fn scan(
        &self,
        plan: &Plan,
        links: &Links,
        desired: &BTreeSet<(String, String)>,
        concurrency: usize,
    ) -> Result<Scan, HttpError> {
        scan(self, concurrency, plan, links, desired).await
    }

    async fn last_admins(
        &self,
        org: &str,
        removals: &[Removal],
    ) -> Result<HashMap<usize, String>, HttpError> {
        let gitea = self;
        let mut refused = HashMap::new();
        // Admins (or members of owners teams) left, by repository or team.
        let mut left: HashMap<String, BTreeSet<String>> = HashMap::new();
        let admin = |p: &Value| matches!(p["permission"].as_str(), Some("admin" | "owner"));
        for (i, r) in removals.iter().enumerate() {
            let (scope, user, message) = match r.kind.as_str() {
                "collaborator" => {
                    let Some((repo, user)) = r.name.split_once('/') else {
                        continue;
                    };
                    let list = format!("/repos/{org}/{repo}/collaborators");
                    if !admin(&gitea.get_once(&format!("{list}/{user}/permission")).await?) {
                        continue;
                    }
                    if !left.contains_key(&list) {
                        let mut admins = BTreeSet::new();
                        for c in gitea.list(&list).await? {
                            let login = c["login"].as_str().unwrap_or_default().to_string();
                            if admin(
                                &gitea
                                    .get_once(&format!("{list}/{login}/permission"))
                                    .await?,
                            ) {
                                admins.insert(login);
                            }
                        }
                        left.insert(list.clone(), admins);
                    }
                    (
                        list,
                        user.to_string(),
                        format!(
                            "`{user}` is the last admin collaborator of `{repo}`; kradle never removes the last admin: grant admin to someone else first"
                        ),
                    )
                }
                "team-member" => {
                    let Some(id) = r.request.path.split('/').nth(2) else {
                        continue;
                    };
                    let Some(user) = r.request.path.rsplit('/').next() else {
                        continue;
                    };
                    let owners = gitea
                        .list(&format!("/orgs/{org}/teams"))
                        .await?
                        .iter()
                        .any(|t| {
                            t["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id)
                                && t["permission"] == "owner"
                        });
                    if !owners {
                        continue;
                    }
                    let list = format!("/teams/{id}/members");
                    if !left.contains_key(&list) {
                        let members = gitea.list(&list).await?;
                        left.insert(
                            list.clone(),
                            members
                                .iter()
                                .filter_map(|m| m["login"].as_str().map(String::from))
                                .collect(),
                        );
                    }
                    (
                        list,
                        user.to_string(),
                        format!(
                            "`{user}` is the last member of an owners team of `{org}`; kradle never removes the last owner"
                        ),
                    )
                }
                _ => continue,
            };
            let admins = left.entry(scope).or_default();
            if admins.len() <= 1 && admins.contains(&user) {
                refused.insert(i, message);
            } else {
                admins.remove(&user);
            }
        }
        Ok(refused)
    }

    /// Keeps the cache true after a write: an object created in a list that
    /// was read is added to it (so creating 500 repositories does not read
    /// the list 500 times); anything else under `path` is read again.
    fn wrote(&self, method: &Method, path: &str, created: &Value) {
        // A repository created now has no collaborator, hook, key or
        // protection yet: nothing to read.
        if *method == Method::POST && path.starts_with("/orgs/") && path.ends_with("/repos") {
            if let (Some(owner), Some(name)) = (path.split('/').nth(2), created["name"].as_str()) {
                for list in ["collaborators", "hooks", "keys", "branch_protections"] {
                    self.cache
                        .put(&format!("/repos/{owner}/{name}/{list}"), &[]);
                }
            }
        }
        if *method == Method::POST && created.is_object() && self.cache.push(path, created) {
            return;
        }
        self.cache.forget(path);
    }

    fn forget(&self, path: &str) {
        self.cache.forget(path);
    }
}

/// The lists under `/orgs/{org}` kradle reads.
const ORG_LISTS: [&str; 3] = ["teams", "repos", "hooks"];

/// Reads what is in scope: the collaborators, hooks and keys of the
/// repositories the plan manages, and the members of its teams.
async fn scan(
    gitea: &Gitea,
    concurrency: usize,
    plan: &Plan,
    links: &Links,
    desired: &BTreeSet<(String, String)>,
) -> Result<Scan, HttpError> {
    let org = plan.org.as_str();
    let mut stale = Vec::new();
    let mut drift = Vec::new();
    let mut grants = 0;
    // Gitea answers 404 to every route under an organization that does not
    // exist (`orgAssignment`). A new organization has nothing under it: its
    // lists are empty until it is created, when `wrote` forgets them (Gitea
    // gives a new organization an `Owners` team, read then).
    if gitea.get_once(&format!("/orgs/{org}")).await?.is_null() {
        for list in ORG_LISTS {
            gitea.cache.put(&format!("/orgs/{org}/{list}"), &[]);
        }
    }
    let teams: Vec<Value> = gitea.list(&format!("/orgs/{org}/teams")).await?.to_vec();
    let team_id = |name: &str| {
        teams
            .iter()
            .find(|t| {
                t["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|t| t["id"].to_string())
    };
    let known = |kind: &str, name: &str| {
        desired.contains(&(kind.to_string(), name.to_string()))
            || links.contains_key(&(kind.to_string(), name.to_string()))
    };

    // Managed objects the plan dropped.
    for ((kind, name), link) in links {
        if desired.contains(&(kind.clone(), name.clone())) {
            continue;
        }
        let (first, second) = name.split_once('/').unwrap_or((name.as_str(), ""));
        let native = link.native_id.clone().unwrap_or_default();
        let (change, method, path, body) = if kind == "repository" {
            (
                Change::Archive,
                Method::PATCH,
                format!("/repos/{org}/{name}"),
                Some(json!({ "archived": true })),
            )
        } else {
            // Team members and repositories are addressed by the team's id.
            let scope = match kind.as_str() {
                "team-member" | "team-repository" => match team_id(first) {
                    Some(id) => id,
                    None => continue,
                },
                _ => first.to_string(),
            };
            // Organizations are never removed.
            let Some(path) = delete_path(org, kind, &scope, second, &native) else {
                continue;
            };
            (Change::Remove, Method::DELETE, path, None)
        };
        stale.push(Removal::managed(
            kind,
            name,
            Request::new(method, path, body),
            change,
        ));
    }

    // Live objects in scope nobody declared.
    let repos: BTreeSet<String> = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::CreateRepository)
        .filter_map(|o| o.target.repository.clone())
        .collect();
    let existing: BTreeSet<String> = gitea
        .list(&format!("/orgs/{org}/repos"))
        .await?
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    let planned_teams: BTreeSet<String> = plan
        .operations
        .iter()
        .filter(|o| o.action == Action::CreateTeam)
        .filter_map(|o| o.target.team.clone())
        .collect();
    // Read every list in scope up front, many at a time; the walk below and
    // the decisions then read the cache.
    let mut lists: Vec<String> = Vec::new();
    for repo in repos.iter().filter(|r| existing.contains(*r)) {
        for list in ["collaborators", "hooks", "keys", "branch_protections"] {
            lists.push(format!("/repos/{org}/{repo}/{list}"));
        }
    }
    for team in &planned_teams {
        if let Some(id) = team_id(team) {
            lists.push(format!("/teams/{id}/members"));
            lists.push(format!("/teams/{id}/repos"));
        }
    }
    // Reads run at twice the write concurrency: they change nothing.
    let read: Vec<Result<Vec<Value>, HttpError>> = futures_util::stream::iter(lists)
        .map(|path| async move {
            if path.ends_with("/branch_protections") {
                gitea.plain_list(&path).await
            } else {
                gitea.list(&path).await
            }
        })
        .buffer_unordered(concurrency.max(1) * 2)
        .collect()
        .await;
    if let Some(Err(e)) = read.into_iter().find(Result::is_err) {
        return Err(e);
    }
    // The permission of each declared collaborator found, the same way.
    let mut permissions = Vec::new();
    for repo in repos.iter().filter(|r| existing.contains(*r)) {
        let path = format!("/repos/{org}/{repo}/collaborators");
        for c in gitea.list(&path).await? {
            let user = c["login"].as_str().unwrap_or_default();
            if desired.contains(&("collaborator".to_string(), format!("{repo}/{user}"))) {
                permissions.push(format!("{path}/{user}/permission"));
            }
        }
    }
    let read: Vec<Result<Value, HttpError>> = futures_util::stream::iter(permissions)
        .map(|path| async move { gitea.get_once(&path).await })
        .buffer_unordered(concurrency.max(1) * 2)
        .collect()
        .await;
    if let Some(Err(e)) = read.into_iter().find(Result::is_err) {
        return Err(e);
    }
    for repo in repos.iter().filter(|r| existing.contains(*r)) {
        let base = format!("/repos/{org}/{repo}");
        grants += drift_in(
            gitea,
            &mut drift,
            &known,
            "collaborator",
            &format!("{base}/collaborators"),
            |c| {
                let user = c["login"].as_str().unwrap_or_default();
                let path = delete_path(org, "collaborator", repo, user, "");
                (format!("{repo}/{user}"), path)
            },
        )
        .await?;
        drift_in(
            gitea,
            &mut drift,
            &known,
            "hook",
            &format!("{base}/hooks"),
            |h| {
                let url = h["config"]["url"].as_str().unwrap_or_default();
                let path = delete_path(org, "hook", repo, url, &h["id"].to_string());
                (format!("{repo}/{url}"), path)
            },
        )
        .await?;
        drift_in(
            gitea,
            &mut drift,
            &known,
            "deploy-key",
            &format!("{base}/keys"),
            |k| {
                let material = key_material(&k["key"]);
                let path = delete_path(org, "deploy-key", repo, &material, &k["id"].to_string());
                (format!("{repo}/{material}"), path)
            },
        )
        .await?;
    }
    for team in &planned_teams {
        let Some(id) = team_id(team) else { continue };
        grants += drift_in(
            gitea,
            &mut drift,
            &known,
            "team-member",
            &format!("/teams/{id}/members"),
            |m| {
                let user = m["login"].as_str().unwrap_or_default();
                let path = delete_path(org, "team-member", &id, user, "");
                (format!("{team}/{user}"), path)
            },
        )
        .await?;
        grants += gitea.list(&format!("/teams/{id}/repos")).await?.len();
    }
    Ok(Scan {
        stale,
        drift,
        grants,
    })
}

/// The DELETE path of a managed object of `kind`: `scope` is its
/// repository (`-` for the organization's hooks), its user (user keys) or
/// its team's id (team members and repositories); `item` the user,
/// repository or rule it names; `native` the forge's id of the object.
/// `None` for what kradle never deletes (organizations, repositories).
fn delete_path(org: &str, kind: &str, scope: &str, item: &str, native: &str) -> Option<String> {
    Some(match kind {
        "team" => format!("/teams/{native}"),
        "team-member" => format!("/teams/{scope}/members/{item}"),
        "team-repository" => format!("/teams/{scope}/repos/{org}/{item}"),
        "collaborator" => format!("/repos/{org}/{scope}/collaborators/{item}"),
        "deploy-key" => format!("/repos/{org}/{scope}/keys/{native}"),
        "user-key" => format!("/admin/users/{scope}/keys/{native}"),
        "branch-protection" => {
            format!("/repos/{org}/{scope}/branch_protections/{}", encode(item))
        }
        "hook" if scope == "-" => format!("/orgs/{org}/hooks/{native}"),
        "hook" => format!("/repos/{org}/{scope}/hooks/{native}"),
        _ => return None,
    })
}

/// Adds to `drift` each item of the list at `list` that nobody declared;
/// `identify` gives an item's link name and its DELETE path. Returns how
/// many items the list has.
async fn drift_in(
    gitea: &Gitea,
    drift: &mut Vec<Removal>,
    known: &(dyn Fn(&str, &str) -> bool + Sync),
    kind: &'static str,
    list: &str,
    identify: impl Fn(&Value) -> (String, Option<String>),
) -> Result<usize, HttpError> {
    let items = gitea.list(list).await?.to_vec();
    for item in &items {
        let (name, path) = identify(item);
        if let (false, Some(path)) = (known(kind, &name), path) {
            drift.push(Removal::drift(kind, name, path));
        }
    }
    Ok(items.len())
}

#[cfg(test)]
mod tests;
