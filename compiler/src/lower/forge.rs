//! forge: ordered, idempotent REST plans per organization.
//!
//! Gitea is the default backend (spec §2.1, the repository integration plan:
//! createOrganization, createRepository, ensureUserMappings, addDeployKey,
//! addUserSshKey, addCollaborator, addTeamRepository, protectBranch,
//! createWebhook; plus teams, members and the issue-sync repository
//! `_<org>_`). Repositories in the scope of an ExternalBackendBinding whose
//! provider is GitHub follow §2.2 instead.
//!
//! Values known only at apply time are symbolic: `${op:<id>.<field>}` is a
//! field of an earlier operation's response (a Gitea team id), and
//! `${secret:<namespace>/<name>/<key>}` a key of a Kubernetes Secret. Secrets
//! never appear in a plan. Idempotency keys are
//! `idem-gitForge-<action>-<hash>`, the hash of the operation's action,
//! method, path and body, so they are stable across builds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::check::{Model, Resource};
use crate::model::external::ProviderType;
use crate::model::identity::Permission;
use crate::model::repository::{KeyScope, SubjectKind, Visibility};
use crate::model::{Spec, org_namespace};

use super::report::{Notes, SkippedOperation};
use super::resources::with_defaults;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: String,
    pub action: String,
    pub method: String,
    pub path: String,
    pub body: Value,
    pub idempotency_key: String,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub org: String,
    pub backend: &'static str,
    /// For GitHub: the ExternalBackendProvider used and its API endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Value>,
    pub operations: Vec<Operation>,
    /// File name under `plans/`.
    #[serde(skip)]
    pub file: String,
}

fn idempotency_key(action: &str, method: &str, path: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&json!([action, method, path, body])).unwrap_or_default());
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("idem-gitForge-{action}-{hex}")
}

struct Builder {
    ops: Vec<Operation>,
    ids: BTreeSet<String>,
}

impl Builder {
    fn push(
        &mut self,
        id: String,
        action: &str,
        method: &str,
        path: String,
        body: Value,
        deps: Vec<String>,
    ) {
        if !self.ids.insert(id.clone()) {
            return;
        }
        let depends_on = deps.into_iter().filter(|d| self.ids.contains(d)).collect();
        self.ops.push(Operation {
            idempotency_key: idempotency_key(action, method, &path, &body),
            id,
            action: action.into(),
            method: method.into(),
            path,
            body,
            depends_on,
        });
    }
}

fn permission(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::Write => "write",
        Permission::Admin => "admin",
    }
}

/// GitHub's names for the permission levels: read→pull, write→push, admin→admin.
fn github_permission(p: Permission) -> &'static str {
    match p {
        Permission::Read => "pull",
        Permission::Write => "push",
        Permission::Admin => "admin",
    }
}

/// The forge username of a User: its IdentityMapping's repository identity,
/// else its username, else its name.
pub fn forge_username(model: &Model, org: &str, user: &str) -> String {
    let mapped = model
        .of_kind("IdentityMapping")
        .find_map(|m| match &m.spec {
            Some(Spec::IdentityMapping(s)) if m.org.as_deref() == Some(org) && s.user.0 == user => {
                s.repository_identity.as_ref().map(|i| i.username.clone())
            }
            _ => None,
        });
    mapped.unwrap_or_else(|| {
        match model
            .lookup(Some(org), "User", user)
            .and_then(|r| r.spec.as_ref())
        {
            Some(Spec::User(u)) => u.username.clone().unwrap_or_else(|| user.to_string()),
            _ => user.to_string(),
        }
    })
}

/// Repositories of `org` bound to a GitHub provider, with the owner to use.
fn github_repos(model: &Model, org: &str) -> BTreeMap<String, (String, Value)> {
    let mut out = BTreeMap::new();
    for b in model
        .of_kind("ExternalBackendBinding")
        .filter(|b| b.org.as_deref() == Some(org))
    {
        let Some(Spec::ExternalBackendBinding(binding)) = &b.spec else {
            continue;
        };
        let provider = model.lookup(
            Some(org),
            "ExternalBackendProvider",
            binding.provider_ref.name(),
        );
        let Some(Spec::ExternalBackendProvider(p)) = provider.and_then(|p| p.spec.as_ref()) else {
            continue;
        };
        if p.provider_type != ProviderType::Github || binding.sync_enabled == Some(false) {
            continue;
        }
        let owner = p
            .config
            .as_ref()
            .and_then(|c| c.get("organization"))
            .and_then(Value::as_str)
            .unwrap_or(org)
            .to_string();
        let info =
            json!({ "name": binding.provider_ref.0, "endpoint": p.endpoint, "owner": owner });
        for repo in binding.scope.iter().flat_map(|s| s.repositories.iter()) {
            out.insert(repo.0.clone(), (owner.clone(), info.clone()));
        }
    }
    out
}

fn secret_placeholder(org: &str, name: &str, key: &str) -> String {
    format!("${{secret:{}/{name}/{key}}}", org_namespace(org))
}

/// The hook `config` both forges take: url, content type, and the signing
/// secret as a reference the runtime resolves.
fn webhook_config(org: &str, w: &crate::model::repository::WebhookSubscriptionSpec) -> Value {
    let form = w.content_type == Some(crate::model::repository::ContentType::Form);
    let mut config = json!({ "url": w.url, "content_type": if form { "form" } else { "json" } });
    if let Some(s) = &w.secret_ref {
        config["secret"] = json!(secret_placeholder(org, &s.name, &s.key));
    }
    config
}

/// The resources of `org` of one kind with their defaulted specs.
fn specs<'m>(
    model: &'m Model,
    org: &'m str,
    kind: &'m str,
) -> impl Iterator<Item = (&'m Resource, Spec)> + 'm {
    model
        .of_kind(kind)
        .filter(move |r| r.org.as_deref() == Some(org))
        .filter_map(|r| r.spec.as_ref().map(|s| (r, with_defaults(r, s))))
}

pub fn lower(model: &Model, notes: &mut Notes) -> Vec<Plan> {
    let mut plans = Vec::new();
    for org_r in model.of_kind("Organization") {
        let org = crate::model::normalize_org_slug(&org_r.name);
        let github = github_repos(model, &org);
        let repos: Vec<String> = specs(model, &org, "Repository")
            .map(|(r, _)| r.name.clone())
            .collect();
        let on_github = |repo: &str| github.contains_key(repo);
        let all_github = !repos.is_empty() && repos.iter().all(|r| on_github(r));
        // An organization whose repositories all live on GitHub needs no Gitea plan.
        if !all_github {
            let mut gitea = gitea_plan(model, &org, org_r, &|r: &str| !on_github(r));
            gitea.file = format!("{org}.json");
            plans.push(gitea);
        }
        if !github.is_empty() {
            let mut gh = github_plan(model, &org, &github, notes);
            gh.file = if all_github {
                format!("{org}.json")
            } else {
                format!("{org}.github.json")
            };
            plans.push(gh);
        }
    }
    plans
}

fn gitea_plan(model: &Model, org: &str, org_r: &Resource, in_scope: &dyn Fn(&str) -> bool) -> Plan {
    let mut b = Builder {
        ops: Vec::new(),
        ids: BTreeSet::new(),
    };
    let display = match &org_r.spec {
        Some(Spec::Organization(o)) => o.display_name.clone(),
        _ => org.to_string(),
    };
    b.push(
        "org".into(),
        "createOrganization",
        "POST",
        "/orgs".into(),
        json!({ "username": org, "full_name": display, "visibility": "private" }),
        vec![],
    );

    // Repositories, then the issue-sync repository `_<org>_`.
    let mut repo_names = Vec::new();
    for (r, spec) in specs(model, org, "Repository") {
        let Spec::Repository(s) = spec else { continue };
        if !in_scope(&r.name) {
            continue;
        }
        repo_names.push(r.name.clone());
        let mut body = json!({
            "name": r.name,
            "private": s.visibility != Visibility::Public,
            "default_branch": s.default_branch,
            "auto_init": false,
        });
        if let Some(d) = &s.description {
            body["description"] = json!(d);
        }
        b.push(
            format!("repo:{}", r.name),
            "createRepository",
            "POST",
            format!("/orgs/{org}/repos"),
            body,
            vec!["org".into()],
        );
    }
    b.push(
        "repo:_issues_".into(),
        "ensureOrgMemoryRepository",
        "POST",
        format!("/orgs/{org}/repos"),
        json!({ "name": format!("_{org}_"), "private": true, "auto_init": true, "description": "kradle issue sync and memory" }),
        vec!["org".into()],
    );

    // User mappings: every user that a later operation names must exist.
    let mut users: BTreeSet<String> = BTreeSet::new();
    for (r, spec) in specs(model, org, "User") {
        if let Spec::User(u) = spec {
            if u.disabled != Some(true) {
                users.insert(r.name.clone());
            }
        }
    }
    for u in &users {
        let name = forge_username(model, org, u);
        b.push(
            format!("user:{u}"),
            "ensureUserMapping",
            "GET",
            format!("/users/{name}"),
            Value::Null,
            vec![],
        );
    }

    // Teams (permission: the highest repository grant) and members.
    for (r, spec) in specs(model, org, "Team") {
        let Spec::Team(t) = spec else { continue };
        let perm = t
            .repository_grants
            .iter()
            .map(|g| g.permission)
            .max()
            .unwrap_or(Permission::Read);
        b.push(
            format!("team:{}", r.name),
            "createTeam",
            "POST",
            format!("/orgs/{org}/teams"),
            json!({
                "name": r.name,
                "description": t.display_name,
                "permission": permission(perm),
                "units": ["repo.code", "repo.pulls", "repo.issues"],
                "includes_all_repositories": false,
                "can_create_org_repo": false,
            }),
            vec!["org".into()],
        );
        let mut members: BTreeSet<&str> = t.members.iter().map(|m| m.0.as_str()).collect();
        members.extend(t.maintainers.iter().map(|m| m.0.as_str()));
        for m in members {
            b.push(
                format!("team-member:{}:{m}", r.name),
                "addTeamMember",
                "PUT",
                format!(
                    "/teams/${{op:team:{}.id}}/members/{}",
                    r.name,
                    forge_username(model, org, m)
                ),
                Value::Null,
                vec![format!("team:{}", r.name), format!("user:{m}")],
            );
        }
    }

    // Keys.
    for (r, spec) in specs(model, org, "SSHKey") {
        let Spec::SSHKey(k) = spec else { continue };
        if k.revoked == Some(true) {
            continue;
        }
        let title = k.title.clone().unwrap_or_else(|| r.name.clone());
        let body = json!({ "title": title, "key": k.key.trim(), "read_only": k.read_only.unwrap_or(false) });
        match (&k.repository, k.scope) {
            (Some(repo), _) if in_scope(&repo.0) => b.push(
                format!("deploy-key:{}", r.name),
                "addDeployKey",
                "POST",
                format!("/repos/{org}/{}/keys", repo.0),
                body,
                vec![format!("repo:{}", repo.0)],
            ),
            (None, KeyScope::User) => {
                if let Some(user) = &k.user {
                    b.push(
                        format!("user-key:{}", r.name),
                        "addUserSshKey",
                        "POST",
                        format!("/admin/users/{}/keys", forge_username(model, org, &user.0)),
                        body,
                        vec![format!("user:{}", user.0)],
                    );
                }
            }
            _ => {}
        }
    }

    // Collaborators and team repositories.
    let mut team_repos: BTreeSet<(String, String)> = BTreeSet::new();
    for (r, spec) in specs(model, org, "RepositoryPermission") {
        let Spec::RepositoryPermission(p) = spec else {
            continue;
        };
        if p.revoked == Some(true) || !in_scope(&p.repository.0) {
            continue;
        }
        match p.subject_kind.unwrap_or(SubjectKind::User) {
            SubjectKind::User => b.push(
                format!("collaborator:{}", r.name),
                "addCollaborator",
                "PUT",
                format!(
                    "/repos/{org}/{}/collaborators/{}",
                    p.repository.0,
                    forge_username(model, org, &p.subject.0)
                ),
                json!({ "permission": permission(p.permission) }),
                vec![
                    format!("repo:{}", p.repository.0),
                    format!("user:{}", p.subject.0),
                ],
            ),
            SubjectKind::Team => {
                team_repos.insert((p.subject.0.clone(), p.repository.0.clone()));
            }
        }
    }
    for (r, spec) in specs(model, org, "Team") {
        if let Spec::Team(t) = spec {
            for g in &t.repository_grants {
                if in_scope(&g.repository.0) {
                    team_repos.insert((r.name.clone(), g.repository.0.clone()));
                }
            }
        }
    }
    for (team, repo) in team_repos {
        b.push(
            format!("team-repo:{team}:{repo}"),
            "addTeamRepository",
            "PUT",
            format!("/teams/${{op:team:{team}.id}}/repos/{org}/{repo}"),
            Value::Null,
            vec![format!("team:{team}"), format!("repo:{repo}")],
        );
    }

    // Branch protection: one rule per pattern, per repository.
    for (r, spec) in specs(model, org, "BranchProtection") {
        let Spec::BranchProtection(p) = spec else {
            continue;
        };
        let targets: Vec<String> = match &p.repository {
            Some(repo) => vec![repo.0.clone()],
            None => repo_names.clone(),
        };
        for repo in targets.into_iter().filter(|x| in_scope(x)) {
            for pattern in p.refs.to_vec() {
                let body = json!({
                    "rule_name": pattern,
                    "enable_push": false,
                    "enable_push_whitelist": true,
                    "enable_force_push": p.allow_force_push.unwrap_or(false),
                    "required_approvals": p.required_reviews.unwrap_or(1),
                    "enable_status_check": !p.status_checks.is_empty(),
                    "status_check_contexts": p.status_checks,
                    "dismiss_stale_approvals": p.dismiss_stale_reviews.unwrap_or(false),
                    "block_admin_merge_override": p.enforce_admins.unwrap_or(false),
                });
                b.push(
                    format!("protect:{}:{repo}:{pattern}", r.name),
                    "protectBranch",
                    "POST",
                    format!("/repos/{org}/{repo}/branch_protections"),
                    body,
                    vec![format!("repo:{repo}")],
                );
            }
        }
    }

    // Webhooks: on a repository, or on the organization.
    for (r, spec) in specs(model, org, "WebhookSubscription") {
        let Spec::WebhookSubscription(w) = spec else {
            continue;
        };
        let config = webhook_config(org, &w);
        let body = json!({ "type": "gitea", "config": config, "events": w.events, "active": w.active.unwrap_or(true) });
        match &w.repository {
            Some(repo) if in_scope(&repo.0) => b.push(
                format!("webhook:{}", r.name),
                "createWebhook",
                "POST",
                format!("/repos/{org}/{}/hooks", repo.0),
                body,
                vec![format!("repo:{}", repo.0)],
            ),
            Some(_) => {}
            None => b.push(
                format!("webhook:{}", r.name),
                "createWebhook",
                "POST",
                format!("/orgs/{org}/hooks"),
                body,
                vec!["org".into()],
            ),
        }
    }
    Plan {
        org: org.to_string(),
        backend: "gitea",
        provider: None,
        operations: b.ops,
        file: String::new(),
    }
}

fn github_plan(
    model: &Model,
    org: &str,
    github: &BTreeMap<String, (String, Value)>,
    notes: &mut Notes,
) -> Plan {
    let mut b = Builder {
        ops: Vec::new(),
        ids: BTreeSet::new(),
    };
    let owner_of = |repo: &str| github.get(repo).map(|(o, _)| o.clone());
    let mut skip = |id: String, reason: String| {
        notes.skipped_operations.push(SkippedOperation {
            organization: org.to_string(),
            id,
            reason,
        })
    };

    for (r, spec) in specs(model, org, "Repository") {
        let Spec::Repository(s) = spec else { continue };
        let Some(owner) = owner_of(&r.name) else {
            continue;
        };
        let visibility = match s.visibility {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
            Visibility::Private => "private",
        };
        let mut body = json!({
            "name": r.name,
            "private": s.visibility != Visibility::Public,
            "visibility": visibility,
            "auto_init": false,
        });
        if let Some(d) = &s.description {
            body["description"] = json!(d);
        }
        b.push(
            format!("repo:{}", r.name),
            "createRepository",
            "POST",
            format!("/orgs/{owner}/repos"),
            body,
            vec![],
        );
        let branch = s.default_branch.clone().unwrap_or_else(|| "main".into());
        if branch != "main" {
            b.push(
                format!("repo-settings:{}", r.name),
                "updateRepository",
                "PATCH",
                format!("/repos/{owner}/{}", r.name),
                json!({ "default_branch": branch }),
                vec![format!("repo:{}", r.name)],
            );
        }
    }

    // Teams that hold grants on GitHub repositories, their members and grants.
    let mut grants: BTreeMap<String, Vec<(String, Permission)>> = BTreeMap::new();
    for (r, spec) in specs(model, org, "Team") {
        if let Spec::Team(t) = spec {
            for g in t
                .repository_grants
                .iter()
                .filter(|g| github.contains_key(&g.repository.0))
            {
                grants
                    .entry(r.name.clone())
                    .or_default()
                    .push((g.repository.0.clone(), g.permission));
            }
        }
    }
    for (_, spec) in specs(model, org, "RepositoryPermission") {
        if let Spec::RepositoryPermission(p) = spec {
            if p.subject_kind == Some(SubjectKind::Team)
                && p.revoked != Some(true)
                && github.contains_key(&p.repository.0)
            {
                grants
                    .entry(p.subject.0.clone())
                    .or_default()
                    .push((p.repository.0.clone(), p.permission));
            }
        }
    }
    for (team, repos) in &grants {
        let Some(owner) = repos.first().and_then(|(repo, _)| owner_of(repo)) else {
            continue;
        };
        let Some(Spec::Team(t)) = model
            .lookup(Some(org), "Team", team)
            .and_then(|t| t.spec.as_ref())
        else {
            continue;
        };
        b.push(
            format!("team:{team}"),
            "createTeam",
            "POST",
            format!("/orgs/{owner}/teams"),
            json!({ "name": team, "description": t.display_name, "privacy": "closed" }),
            vec![],
        );
        let maintainers: BTreeSet<&str> = t.maintainers.iter().map(|m| m.0.as_str()).collect();
        let mut members: BTreeSet<&str> = t.members.iter().map(|m| m.0.as_str()).collect();
        members.extend(maintainers.iter().copied());
        for m in members {
            let role = if maintainers.contains(m) {
                "maintainer"
            } else {
                "member"
            };
            b.push(
                format!("team-member:{team}:{m}"),
                "addTeamMember",
                "PUT",
                format!(
                    "/orgs/{owner}/teams/${{op:team:{team}.slug}}/memberships/{}",
                    forge_username(model, org, m)
                ),
                json!({ "role": role }),
                vec![format!("team:{team}")],
            );
        }
        let mut best: BTreeMap<&str, Permission> = BTreeMap::new();
        for (repo, p) in repos {
            let e = best.entry(repo.as_str()).or_insert(*p);
            *e = (*e).max(*p);
        }
        for (repo, p) in best {
            let owner = owner_of(repo).unwrap_or_else(|| owner.clone());
            b.push(
                format!("team-repo:{team}:{repo}"),
                "addTeamRepository",
                "PUT",
                format!("/orgs/{owner}/teams/${{op:team:{team}.slug}}/repos/{owner}/{repo}"),
                json!({ "permission": github_permission(p) }),
                vec![format!("team:{team}"), format!("repo:{repo}")],
            );
        }
    }

    for (r, spec) in specs(model, org, "SSHKey") {
        let Spec::SSHKey(k) = spec else { continue };
        if k.revoked == Some(true) {
            continue;
        }
        match &k.repository {
            Some(repo) => {
                let Some(owner) = owner_of(&repo.0) else {
                    continue;
                };
                b.push(
                    format!("deploy-key:{}", r.name),
                    "addDeployKey",
                    "POST",
                    format!("/repos/{owner}/{}/keys", repo.0),
                    json!({
                        "title": k.title.clone().unwrap_or_else(|| r.name.clone()),
                        "key": k.key.trim(),
                        "read_only": k.read_only.unwrap_or(true),
                    }),
                    vec![format!("repo:{}", repo.0)],
                );
            }
            None if !github.is_empty() && k.scope == KeyScope::User => skip(
                format!("user-key:{}", r.name),
                "GitHub user SSH keys belong to the user's own account; kradle cannot add them"
                    .into(),
            ),
            None => {}
        }
    }

    for (r, spec) in specs(model, org, "RepositoryPermission") {
        let Spec::RepositoryPermission(p) = spec else {
            continue;
        };
        if p.revoked == Some(true) || p.subject_kind == Some(SubjectKind::Team) {
            continue;
        }
        let Some(owner) = owner_of(&p.repository.0) else {
            continue;
        };
        b.push(
            format!("collaborator:{}", r.name),
            "addCollaborator",
            "PUT",
            format!(
                "/repos/{owner}/{}/collaborators/{}",
                p.repository.0,
                forge_username(model, org, &p.subject.0)
            ),
            json!({ "permission": github_permission(p.permission) }),
            vec![format!("repo:{}", p.repository.0)],
        );
    }

    for (r, spec) in specs(model, org, "BranchProtection") {
        let Spec::BranchProtection(p) = spec else {
            continue;
        };
        let targets: Vec<String> = match &p.repository {
            Some(repo) => vec![repo.0.clone()],
            None => github.keys().cloned().collect(),
        };
        for repo in targets {
            let Some(owner) = owner_of(&repo) else {
                continue;
            };
            for branch in p.refs.to_vec() {
                if branch.contains(['*', '?', '[']) {
                    skip(
                        format!("protect:{}:{repo}:{branch}", r.name),
                        format!(
                            "GitHub branch protection needs a branch name; `{branch}` is a pattern (use a ruleset)"
                        ),
                    );
                    continue;
                }
                let checks = if p.status_checks.is_empty() {
                    Value::Null
                } else {
                    json!({ "strict": true, "contexts": p.status_checks })
                };
                let body = json!({
                    "required_status_checks": checks,
                    "enforce_admins": p.enforce_admins.unwrap_or(false),
                    "required_pull_request_reviews": {
                        "dismiss_stale_reviews": p.dismiss_stale_reviews.unwrap_or(false),
                        "required_approving_review_count": p.required_reviews.unwrap_or(1),
                    },
                    "restrictions": Value::Null,
                    "allow_force_pushes": p.allow_force_push.unwrap_or(false),
                });
                b.push(
                    format!("protect:{}:{repo}:{branch}", r.name),
                    "protectBranch",
                    "PUT",
                    format!("/repos/{owner}/{repo}/branches/{branch}/protection"),
                    body,
                    vec![format!("repo:{repo}")],
                );
            }
        }
    }

    for (r, spec) in specs(model, org, "WebhookSubscription") {
        let Spec::WebhookSubscription(w) = spec else {
            continue;
        };
        let Some(repo) = &w.repository else { continue };
        let Some(owner) = owner_of(&repo.0) else {
            continue;
        };
        let config = webhook_config(org, &w);
        b.push(
            format!("webhook:{}", r.name),
            "createWebhook",
            "POST",
            format!("/repos/{owner}/{}/hooks", repo.0),
            json!({ "name": "web", "active": w.active.unwrap_or(true), "events": w.events, "config": config }),
            vec![format!("repo:{}", repo.0)],
        );
    }

    let provider = github.values().next().map(|(_, info)| info.clone());
    Plan {
        org: org.to_string(),
        backend: "github",
        provider,
        operations: b.ops,
        file: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_stable_and_content_addressed() {
        let a = idempotency_key(
            "createRepository",
            "POST",
            "/orgs/acme/repos",
            &json!({"name": "api"}),
        );
        let b = idempotency_key(
            "createRepository",
            "POST",
            "/orgs/acme/repos",
            &json!({"name": "api"}),
        );
        let c = idempotency_key(
            "createRepository",
            "POST",
            "/orgs/acme/repos",
            &json!({"name": "web"}),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("idem-gitForge-createRepository-"));
        assert_eq!(a.len(), "idem-gitForge-createRepository-".len() + 16);
    }

    #[test]
    fn github_permission_mapping() {
        assert_eq!(github_permission(Permission::Read), "pull");
        assert_eq!(github_permission(Permission::Write), "push");
        assert_eq!(github_permission(Permission::Admin), "admin");
    }
}
