//! The Gitea plan (spec §2.1): the repository integration plan, teams and
//! members, and the issue-sync repository `_<org>_`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::check::{Model, Resource};
use crate::model::Spec;
use crate::model::identity::Permission;
use crate::model::repository::{KeyScope, SubjectKind, Visibility};

use super::{Builder, Plan, forge_username, permission, specs, webhook_config};

pub fn plan(model: &Model, org: &str, org_r: &Resource, in_scope: &dyn Fn(&str) -> bool) -> Plan {
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
