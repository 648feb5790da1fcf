//! GitHub: what the forge has, and the writes that bring it to a plan
//! (spec §2.2).
//!
//! Lists are read to the end (`per_page=100`, `Link: rel="next"`) with
//! conditional requests, and cached for the run. Where GitHub differs from
//! Gitea:
//! - teams are addressed by their slug (`${op:team:<name>.slug}`), members
//!   by a membership with a role (`member` or `maintainer`), and a user who
//!   is not in the organization yet is invited: the membership is
//!   `pending`, and a pending membership with the right role matches;
//! - a collaborator outside the organization is invited too: an open
//!   invitation with the right permission matches, a different one is
//!   updated;
//! - permissions are read from `role_name` (or the `permissions` flags) and
//!   compared in the plan's terms (`pull`, `push`, `admin`);
//! - a branch protection is one object per branch, replaced whole by a PUT,
//!   and needs the branch to exist: a repository created by kradle has no
//!   branch until someone pushes, so its protection fails with a message
//!   saying so, and the next apply after the push sets it.

use std::collections::{BTreeSet, HashMap};

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value, json};

use kradle_compiler::forge_plan::{Action, Backend, Operation, Plan};

use super::http::{Http, HttpError};
use super::{
    Change, Decision, Forge, Links, ReadCache, Removal, Request, Scan, decide_deploy_key,
    decide_hook, equivalent, find, key_material, method_of, parent, update,
};

/// A GitHub API endpoint, for one apply run.
#[derive(Debug)]
pub struct GitHub {
    pub http: Http,
    cache: ReadCache,
}

/// A role in the plan's terms: `pull`, `triage`, `push`, `maintain`, `admin`.
pub(crate) fn role_of(item: &Value) -> Option<&'static str> {
    let from_name = |name: &str| match name {
        "read" | "pull" => Some("pull"),
        "triage" => Some("triage"),
        "write" | "push" => Some("push"),
        "maintain" => Some("maintain"),
        "admin" => Some("admin"),
        _ => None,
    };
    if let Some(role) = item["role_name"].as_str().and_then(from_name) {
        return Some(role);
    }
    // An invitation's `permissions` is a string.
    if let Some(role) = item["permissions"].as_str().and_then(from_name) {
        return Some(role);
    }
    let p = &item["permissions"];
    ["admin", "maintain", "push", "triage", "pull"]
        .into_iter()
        .find(|r| p[*r] == Value::Bool(true))
}

/// A live protection in the shape of the PUT that sets it.
fn protection_as_put(live: &Value) -> Value {
    let enabled = |v: &Value| v["enabled"].as_bool().unwrap_or(false);
    let checks = &live["required_status_checks"];
    let reviews = &live["required_pull_request_reviews"];
    json!({
        "required_status_checks": if checks.is_object() {
            json!({ "strict": checks["strict"].as_bool().unwrap_or(false), "contexts": checks["contexts"] })
        } else {
            Value::Null
        },
        "enforce_admins": enabled(&live["enforce_admins"]),
        "required_pull_request_reviews": if reviews.is_object() {
            json!({
                "dismiss_stale_reviews": reviews["dismiss_stale_reviews"].as_bool().unwrap_or(false),
                "required_approving_review_count": reviews["required_approving_review_count"],
            })
        } else {
            Value::Null
        },
        "restrictions": live["restrictions"].clone(),
        "allow_force_pushes": enabled(&live["allow_force_pushes"]),
    })
}

/// Whether every field the plan sets agrees with the live value (objects
/// field by field, the rest after normalizing server defaults).
fn agrees(live: &Value, want: &Value) -> bool {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| agrees(l.get(k).unwrap_or(&Value::Null), v)),
        _ => equivalent(live, want),
    }
}

impl GitHub {
    pub fn new(http: Http) -> GitHub {
        GitHub {
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

    /// `GET path` (an object), or `None` on 404; read once per run.
    pub async fn get_once(&self, path: &str) -> Result<Option<Value>, HttpError> {
        self.cache.get_opt(&self.http, path).await
    }

    async fn decide_op(&self, op: &Operation, path: Option<&str>) -> Result<Decision, HttpError> {
        let t = &op.target;
        let owner = t.owner.as_str();
        let body = &op.body;
        let write = |change: Change| {
            Decision::Write(
                change,
                vec![Request::new(
                    method_of(op),
                    path.unwrap_or(op.path.as_str()),
                    (!body.is_null()).then(|| body.clone()),
                )],
            )
        };
        let create = || write(Change::Create);
        let Some(path) = path else {
            return Ok(create());
        };
        let name = |v: &Option<String>| v.clone().unwrap_or_default();
        let repo = name(&t.repository);
        // Nothing can exist in a repository that does not (a dry run).
        if op.action != Action::CreateRepository
            && t.repository.is_some()
            && self
                .find_in(&format!("/orgs/{owner}/repos"), "name", &repo)
                .await?
                .is_none()
        {
            return Ok(match op.action {
                Action::UpdateRepository => write(Change::Update),
                _ => create(),
            });
        }
        Ok(match op.action {
            Action::CreateRepository => {
                match self
                    .find_in(&format!("/orgs/{owner}/repos"), "name", &repo)
                    .await?
                {
                    None => create(),
                    Some(live) => {
                        let mut extra = Map::new();
                        if live["archived"] == Value::Bool(true) {
                            // Declared again: bring it back.
                            extra.insert("archived".into(), Value::Bool(false));
                        }
                        update(
                            live,
                            body,
                            &["private", "visibility", "description"],
                            &format!("/repos/{owner}/{repo}"),
                            extra,
                        )
                    }
                }
            }
            Action::UpdateRepository => {
                let live = self
                    .find_in(&format!("/orgs/{owner}/repos"), "name", &repo)
                    .await?
                    .unwrap_or(Value::Null);
                let branch = body["default_branch"].as_str().unwrap_or_default();
                if live["default_branch"] == branch {
                    Decision::Matches(live)
                } else if self
                    .get_once(&format!("/repos/{owner}/{repo}/branches/{branch}"))
                    .await?
                    .is_none()
                {
                    Decision::Fail(format!(
                        "branch `{branch}` does not exist in `{owner}/{repo}` yet, so it cannot be the default branch: push it, then apply again"
                    ))
                } else {
                    write(Change::Update)
                }
            }
            Action::CreateTeam => {
                let team = name(&t.team);
                match self
                    .find_in(&format!("/orgs/{owner}/teams"), "name", &team)
                    .await?
                {
                    None => create(),
                    Some(live) => {
                        let slug = live["slug"].as_str().unwrap_or(&team).to_string();
                        update(
                            live,
                            body,
                            &["description", "privacy"],
                            &format!("/orgs/{owner}/teams/{slug}"),
                            Map::new(),
                        )
                    }
                }
            }
            Action::AddTeamMember => {
                // `/orgs/o/teams/<slug>/memberships/<user>`
                let team = parent(path, "/memberships/").replace("/memberships", "");
                let user = name(&t.user);
                let role = body["role"].as_str().unwrap_or("member");
                let mut other = false;
                for listed in ["maintainer", "member"] {
                    let members = self.list(&format!("{team}/members?role={listed}")).await?;
                    if let Some(live) = find(&members, "login", &user) {
                        if listed == role {
                            return Ok(Decision::Matches(live));
                        }
                        other = true;
                    }
                }
                if other {
                    write(Change::Update)
                } else {
                    // Invited, not yet accepted: the membership is pending.
                    match self.get_once(path).await? {
                        Some(m) if m["role"] == role => Decision::Matches(m),
                        Some(_) => write(Change::Update),
                        None => create(),
                    }
                }
            }
            Action::AddTeamRepository => {
                // `/orgs/o/teams/<slug>/repos/<owner>/<repo>`
                let repos = match path.rsplitn(3, '/').nth(2) {
                    Some(head) => head.to_string(),
                    None => path.to_string(),
                };
                match self.find_in(&repos, "name", &repo).await? {
                    Some(live) if role_of(&live) == body["permission"].as_str() => {
                        Decision::Matches(live)
                    }
                    Some(_) => write(Change::Update),
                    None => create(),
                }
            }
            Action::AddCollaborator => {
                let user = name(&t.user);
                let want = body["permission"].as_str();
                let list = format!("{}?affiliation=direct", parent(path, "/collaborators/"));
                if let Some(live) = self.find_in(&list, "login", &user).await? {
                    return Ok(if role_of(&live) == want {
                        Decision::Matches(live)
                    } else {
                        write(Change::Update)
                    });
                }
                let invitations = self
                    .list(&format!("/repos/{owner}/{repo}/invitations"))
                    .await?;
                let invited = invitations.into_iter().find(|i| {
                    i["invitee"]["login"]
                        .as_str()
                        .is_some_and(|l| l.eq_ignore_ascii_case(&user))
                });
                match invited {
                    None => create(),
                    Some(i) if role_of(&i) == want => Decision::Matches(i),
                    // The invitation is updated in GitHub's words.
                    Some(i) => Decision::Write(
                        Change::Update,
                        vec![Request::new(
                            Method::PATCH,
                            format!("/repos/{owner}/{repo}/invitations/{}", i["id"]),
                            Some(json!({ "permissions": invitation_permission(want) })),
                        )],
                    ),
                }
            }
            Action::AddDeployKey => {
                let material = key_material(&body["key"]);
                let live = self
                    .list(path)
                    .await?
                    .into_iter()
                    .find(|k| key_material(&k["key"]) == material);
                decide_deploy_key(live, path, body).unwrap_or_else(create)
            }
            Action::ProtectBranch => match self.get_once(path).await? {
                Some(live) if agrees(&protection_as_put(&live), body) => Decision::Matches(live),
                Some(_) => write(Change::Update),
                None => {
                    let branch = path.trim_end_matches("/protection");
                    if self.get_once(branch).await?.is_none() {
                        Decision::Fail(format!(
                            "branch `{}` does not exist in `{owner}/{repo}` yet (a new repository has no branch until the first push): push it, then apply again",
                            name(&t.branch)
                        ))
                    } else {
                        create()
                    }
                }
            },
            Action::RequireSignedCommits => match self.get_once(path).await? {
                Some(live) if live["enabled"] == Value::Bool(true) => Decision::Matches(live),
                _ => create(),
            },
            Action::CreateWebhook => {
                let url = body["config"]["url"].clone();
                let live = self
                    .list(path)
                    .await?
                    .into_iter()
                    .find(|h| h["config"]["url"] == url);
                decide_hook(live, path, body).unwrap_or_else(create)
            }
            Action::CreateOrganization
            | Action::EnsureOrgMemoryRepository
            | Action::EnsureUserMapping
            | Action::AddUserSshKey => Decision::Fail(format!(
                "{} is a Gitea operation, not a GitHub one",
                op.action
            )),
        })
    }

    /// The lists a write to `path` makes stale.
    fn stale_after(&self, path: &str) {
        let path = path.split('?').next().unwrap_or(path);
        self.cache.forget_exact(path);
        self.cache.forget_exact(&parent_of(path));
        let s: Vec<&str> = path.trim_matches('/').split('/').collect();
        match s.as_slice() {
            ["repos", owner, _] => self.cache.forget_exact(&format!("/orgs/{owner}/repos")),
            ["orgs", owner, "teams", _] => {
                self.cache.forget_exact(&format!("/orgs/{owner}/teams"));
            }
            ["repos", owner, repo, "collaborators", _] => {
                self.cache
                    .forget_exact(&format!("/repos/{owner}/{repo}/invitations"));
            }
            ["orgs", owner, "teams", team, "memberships", _] => {
                self.cache
                    .forget_exact(&format!("/orgs/{owner}/teams/{team}/members"));
            }
            ["repos", _, _, "branches", _, "protection"] => {
                self.cache
                    .forget_exact(&format!("{path}/required_signatures"));
            }
            _ => {}
        }
    }
}

/// `/a/b/c` → `/a/b`.
fn parent_of(path: &str) -> String {
    path.rsplit_once('/')
        .map_or_else(String::new, |(head, _)| head.to_string())
}

/// A repository invitation's permission, for a plan's `pull`/`push`/`admin`.
fn invitation_permission(plan: Option<&str>) -> &'static str {
    match plan {
        Some("push") => "write",
        Some("admin") => "admin",
        Some("maintain") => "maintain",
        Some("triage") => "triage",
        _ => "read",
    }
}

impl Forge for GitHub {
    fn backend(&self) -> Backend {
        Backend::Github
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
        scan(self, plan, links, desired, concurrency).await
    }

    async fn last_admins(
        &self,
        _org: &str,
        removals: &[Removal],
    ) -> Result<HashMap<usize, String>, HttpError> {
        // Organization owners are org memberships, which kradle does not
        // manage: only repository admins are guarded here.
        let mut refused = HashMap::new();
        let mut left: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (i, r) in removals.iter().enumerate() {
            if r.kind != "collaborator" {
                continue;
            }
            let Some((repo, user)) = r.name.split_once('/') else {
                continue;
            };
            let list = format!("{}?affiliation=direct", parent_of(&r.request.path));
            let collaborators = self.list(&list).await?;
            let admins = left.entry(list).or_insert_with(|| {
                collaborators
                    .iter()
                    .filter(|c| role_of(c) == Some("admin"))
                    .filter_map(|c| c["login"].as_str().map(String::from))
                    .collect()
            });
            if !admins.contains(user) {
                continue;
            }
            if admins.len() <= 1 {
                refused.insert(
                    i,
                    format!(
                        "`{user}` is the last admin collaborator of `{repo}`; kradle never removes the last admin: grant admin to someone else first"
                    ),
                );
            } else {
                admins.remove(user);
            }
        }
        Ok(refused)
    }

    /// A repository or team created now is added to the list it was read
    /// in (its own lists start empty); other writes forget what they change.
    fn wrote(&self, method: &Method, path: &str, answer: &Value) {
        let lists = [
            "collaborators?affiliation=direct",
            "hooks",
            "keys",
            "invitations",
        ];
        if !self.cache.created(method, path, answer, &lists) {
            self.stale_after(path);
        }
    }

    fn forget(&self, path: &str) {
        self.stale_after(path);
    }
}

/// Reads what is in scope: the collaborators, hooks and keys of the
/// repositories the plan manages, and the members and repositories of its
/// teams.
async fn scan(
    github: &GitHub,
    plan: &Plan,
    links: &Links,
    desired: &BTreeSet<(String, String)>,
    concurrency: usize,
) -> Result<Scan, HttpError> {
    let owner = plan
        .provider
        .as_ref()
        .map_or(plan.org.as_str(), |p| p.owner.as_str());
    let mut out = Scan::default();
    let teams = github.list(&format!("/orgs/{owner}/teams")).await?;
    let slug_of =
        |name: &str| find(&teams, "name", name).and_then(|t| t["slug"].as_str().map(String::from));
    let known = |kind: &str, name: &str| {
        let key = (kind.to_string(), name.to_string());
        desired.contains(&key) || links.contains_key(&key)
    };

    // Managed objects the plan dropped.
    for ((kind, name), link) in links {
        if desired.contains(&(kind.clone(), name.clone())) {
            continue;
        }
        let (first, second) = name.split_once('/').unwrap_or((name.as_str(), ""));
        let native = link.native_id.clone().unwrap_or_default();
        let team = || slug_of(first);
        let path = match kind.as_str() {
            "repository" => {
                out.stale.push(Removal::managed(
                    kind,
                    name,
                    Request::new(
                        Method::PATCH,
                        format!("/repos/{owner}/{name}"),
                        Some(json!({ "archived": true })),
                    ),
                    Change::Archive,
                ));
                continue;
            }
            "team" => team().map(|s| format!("/orgs/{owner}/teams/{s}")),
            "team-member" => {
                team().map(|s| format!("/orgs/{owner}/teams/{s}/memberships/{second}"))
            }
            "team-repository" => {
                team().map(|s| format!("/orgs/{owner}/teams/{s}/repos/{owner}/{second}"))
            }
            "collaborator" => Some(format!("/repos/{owner}/{first}/collaborators/{second}")),
            "deploy-key" => Some(format!("/repos/{owner}/{first}/keys/{native}")),
            "branch-protection" => Some(format!(
                "/repos/{owner}/{first}/branches/{second}/protection"
            )),
            "hook" => Some(format!("/repos/{owner}/{first}/hooks/{native}")),
            _ => None,
        };
        // A team already gone takes its members and repositories with it.
        let Some(path) = path else { continue };
        out.stale.push(Removal::managed(
            kind,
            name,
            Request::new(Method::DELETE, path, None),
            Change::Remove,
        ));
    }

    // Live objects in scope nobody declared.
    let planned = |action: Action, field: fn(&Operation) -> Option<&String>| {
        plan.operations
            .iter()
            .filter(move |o| o.action == action)
            .filter_map(field)
            .cloned()
            .collect::<BTreeSet<String>>()
    };
    let repos = planned(Action::CreateRepository, |o| o.target.repository.as_ref());
    let existing: BTreeSet<String> = github
        .list(&format!("/orgs/{owner}/repos"))
        .await?
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    let repos: Vec<&String> = repos.iter().filter(|r| existing.contains(*r)).collect();
    let team_slugs: Vec<(String, String)> = planned(Action::CreateTeam, |o| o.target.team.as_ref())
        .into_iter()
        .filter_map(|t| slug_of(&t).map(|s| (t, s)))
        .collect();
    let mut lists = Vec::new();
    for repo in &repos {
        for list in ["collaborators?affiliation=direct", "hooks", "keys"] {
            lists.push(format!("/repos/{owner}/{repo}/{list}"));
        }
    }
    for (_, slug) in &team_slugs {
        for list in ["members?role=maintainer", "members?role=member", "repos"] {
            lists.push(format!("/orgs/{owner}/teams/{slug}/{list}"));
        }
    }
    // Reads run at twice the write concurrency: they change nothing.
    let read: Vec<Result<Vec<Value>, HttpError>> = futures_util::stream::iter(lists)
        .map(|path| async move { github.list(&path).await })
        .buffer_unordered(concurrency.max(1) * 2)
        .collect()
        .await;
    if let Some(Err(e)) = read.into_iter().find(Result::is_err) {
        return Err(e);
    }

    for repo in &repos {
        let base = format!("/repos/{owner}/{repo}");
        let collaborators = github
            .list(&format!("{base}/collaborators?affiliation=direct"))
            .await?;
        out.grants += collaborators.len();
        for c in &collaborators {
            let user = c["login"].as_str().unwrap_or_default();
            let name = format!("{repo}/{user}");
            if !known("collaborator", &name) {
                let path = format!("{base}/collaborators/{user}");
                out.drift.push(Removal::drift("collaborator", name, path));
            }
        }
        for h in github.list(&format!("{base}/hooks")).await? {
            let url = h["config"]["url"].as_str().unwrap_or_default();
            let name = format!("{repo}/{url}");
            if !known("hook", &name) {
                let path = format!("{base}/hooks/{}", h["id"]);
                out.drift.push(Removal::drift("hook", name, path));
            }
        }
        for k in github.list(&format!("{base}/keys")).await? {
            let name = format!("{repo}/{}", key_material(&k["key"]));
            if !known("deploy-key", &name) {
                let path = format!("{base}/keys/{}", k["id"]);
                out.drift.push(Removal::drift("deploy-key", name, path));
            }
        }
    }
    for (team, slug) in &team_slugs {
        let base = format!("/orgs/{owner}/teams/{slug}");
        for role in ["maintainer", "member"] {
            let members = github.list(&format!("{base}/members?role={role}")).await?;
            out.grants += members.len();
            for m in &members {
                let user = m["login"].as_str().unwrap_or_default();
                let name = format!("{team}/{user}");
                if !known("team-member", &name) {
                    let path = format!("{base}/memberships/{user}");
                    out.drift.push(Removal::drift("team-member", name, path));
                }
            }
        }
        out.grants += github.list(&format!("{base}/repos")).await?.len();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_in_the_plans_terms() {
        assert_eq!(role_of(&json!({ "role_name": "write" })), Some("push"));
        assert_eq!(role_of(&json!({ "role_name": "read" })), Some("pull"));
        assert_eq!(
            role_of(&json!({ "permissions": { "admin": false, "push": true, "pull": true } })),
            Some("push")
        );
        assert_eq!(role_of(&json!({ "permissions": "admin" })), Some("admin"));
        assert_eq!(invitation_permission(Some("push")), "write");
    }

    #[test]
    fn a_live_protection_compares_in_the_shape_of_its_put() {
        let live = json!({
            "url": "https://api.github.com/repos/o/r/branches/main/protection",
            "required_status_checks": { "strict": true, "contexts": ["build"], "checks": [{ "context": "build", "app_id": null }] },
            "enforce_admins": { "enabled": false, "url": "x" },
            "required_pull_request_reviews": { "dismiss_stale_reviews": false, "require_code_owner_reviews": false, "required_approving_review_count": 1 },
            "allow_force_pushes": { "enabled": false },
            "required_signatures": { "enabled": true },
        });
        let put = json!({
            "required_status_checks": { "strict": true, "contexts": ["build"] },
            "enforce_admins": false,
            "required_pull_request_reviews": { "dismiss_stale_reviews": false, "required_approving_review_count": 1 },
            "restrictions": null,
            "allow_force_pushes": false,
        });
        assert!(agrees(&protection_as_put(&live), &put));
        let mut stricter = put.clone();
        stricter["required_pull_request_reviews"]["required_approving_review_count"] = json!(2);
        assert!(!agrees(&protection_as_put(&live), &stricter));
        let mut no_checks = put;
        no_checks["required_status_checks"] = Value::Null;
        assert!(!agrees(&protection_as_put(&live), &no_checks));
    }
}
