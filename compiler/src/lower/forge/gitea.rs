//! The Gitea plan (spec §2.1): the repository integration plan, teams and
//! members, and the issue-sync repository `_<org>_`.
//!
//! A Gitea team has one permission for all its repositories, so a Team with
//! grants at several levels becomes one Gitea team per level: `core` with
//! the highest, and `core-read` / `core-write` for the lower ones, each with
//! the same members and only the repositories granted at that level. Nobody
//! gets more than the config grants (docs/decisions.md).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::diagnostics::{Code, Diagnostic};
use crate::lower::report::Notes;
use crate::lower::resources::org_visibility;
use crate::model::identity::{OrgVisibility, OrganizationSpec, Permission, TeamSpec};
use crate::model::repository::{
    KeyScope, RepositoryPermissionSpec, RepositorySpec, SSHKeySpec, SubjectKind, Visibility,
};
use crate::model::{Kind, Model, Resource};

use crate::forge_plan::{Action, Backend, Method};

use super::{
    Builder, Plan, Target, forge_username, permission, plan_protections, plan_webhooks, skipped,
    specs, team_grants, user_active,
};

/// The Gitea team holding a Team's grants at `level` when the Team's
/// highest level is `top`.
fn level_team(team: &str, level: Permission, top: Permission) -> String {
    if level == top {
        team.to_string()
    } else {
        format!("{team}-{}", permission(level))
    }
}

pub fn plan(
    model: &Model,
    org: &str,
    org_r: &Resource,
    in_scope: &dyn Fn(&str) -> bool,
    notes: &mut Notes,
    diags: &mut Vec<Diagnostic>,
) -> Plan {
    let mut b = Builder::default();
    let (display, visibility) = match org_r.spec_as::<OrganizationSpec>() {
        Some(o) => (o.display_name.clone(), org_visibility(model, org, o)),
        None => (org.to_string(), OrgVisibility::Private),
    };
    let visibility = match visibility {
        OrgVisibility::Public => "public",
        OrgVisibility::Limited => "limited",
        OrgVisibility::Private => "private",
    };
    b.push(
        "org".into(),
        Target::owner(org),
        Action::CreateOrganization,
        Method::Post,
        "/orgs".into(),
        json!({ "username": org, "full_name": display, "visibility": visibility }),
        vec![],
    );

    // Repositories, then the issue-sync repository `_<org>_`.
    let mut repo_names = Vec::new();
    for (r, s) in specs::<RepositorySpec>(model, org) {
        if !in_scope(&r.name) {
            continue;
        }
        repo_names.push(r.name.clone());
        let body = json!({
            "name": r.name,
            "private": s.visibility != Visibility::Public,
            "default_branch": s.default_branch,
            "auto_init": false,
        });
        b.push_repository(
            Target::owner(org).repo(&r.name),
            &s,
            body,
            format!("/orgs/{org}/repos"),
            vec!["org".into()],
        );
    }
    b.push(
        "repo:_issues_".into(),
        Target::owner(org).repo(&format!("_{org}_")),
        Action::EnsureOrgMemoryRepository,
        Method::Post,
        format!("/orgs/{org}/repos"),
        json!({ "name": format!("_{org}_"), "private": true, "auto_init": true, "description": "kradle issue sync and memory" }),
        vec!["org".into()],
    );

    // User mappings: every active user that a later operation names must exist.
    let users: BTreeSet<&str> = model
        .names_in(Some(org), Kind::User)
        .filter(|u| user_active(model, org, u))
        .collect();
    for user in users {
        let name = forge_username(model, org, user);
        b.push(
            format!("user:{user}"),
            Target::owner(org).user(&name),
            Action::EnsureUserMapping,
            Method::Get,
            format!("/users/{name}"),
            Value::Null,
            vec![],
        );
    }

    // Teams, one Gitea team per permission level, and their members.
    let grants = team_grants(model, org, in_scope);
    let declared: BTreeSet<&str> = model.names_in(Some(org), Kind::Team).collect();
    // (team, repository) → the Gitea team that gets it.
    let mut team_repos: BTreeMap<(String, String), String> = BTreeMap::new();
    for (r, t) in specs::<TeamSpec>(model, org) {
        let repos = grants.get(&r.name).cloned().unwrap_or_default();
        let levels: BTreeSet<Permission> = repos.values().copied().collect();
        let top = levels.iter().max().copied().unwrap_or(Permission::Read);
        let mut members: BTreeSet<&str> = t.members.iter().map(|m| m.0.as_str()).collect();
        members.extend(t.maintainers.iter().map(|m| m.0.as_str()));
        let teams: Vec<(String, Permission)> = if levels.is_empty() {
            vec![(r.name.clone(), top)]
        } else {
            levels
                .iter()
                .map(|&l| (level_team(&r.name, l, top), l))
                .collect()
        };
        for (gitea_team, level) in &teams {
            if gitea_team != &r.name && declared.contains(gitea_team.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::OutputCollision,
                        format!(
                            "Team `{}` needs a Gitea team `{gitea_team}` for its {} grants, but a Team of that name is declared",
                            r.name,
                            permission(*level)
                        ),
                    )
                    .at(r.file, r.span_of("/metadata/name"))
                    .help("a Gitea team has one permission for all its repositories, so kradle gives each level of a Team its own Gitea team `<team>-<level>`; rename one of the two Teams"),
                );
            }
            b.push(
                format!("team:{gitea_team}"),
                Target::owner(org).team(gitea_team),
                Action::CreateTeam,
                Method::Post,
                format!("/orgs/{org}/teams"),
                json!({
                    "name": gitea_team,
                    "description": t.display_name,
                    "permission": permission(*level),
                    "units": ["repo.code", "repo.pulls", "repo.issues"],
                    "includes_all_repositories": false,
                    "can_create_org_repo": false,
                }),
                vec!["org".into()],
            );
            for m in &members {
                let id = format!("team-member:{gitea_team}:{m}");
                if !user_active(model, org, m) {
                    skipped(notes, org, id, format!("user `{m}` is disabled"));
                    continue;
                }
                b.push(
                    id,
                    Target::owner(org)
                        .team(gitea_team)
                        .user(&forge_username(model, org, m)),
                    Action::AddTeamMember,
                    Method::Put,
                    format!(
                        "/teams/${{op:team:{gitea_team}.id}}/members/{}",
                        forge_username(model, org, m)
                    ),
                    Value::Null,
                    vec![format!("team:{gitea_team}"), format!("user:{m}")],
                );
            }
        }
        for (repo, level) in repos {
            team_repos.insert((r.name.clone(), repo), level_team(&r.name, level, top));
        }
    }

    // Keys.
    for (r, k) in specs::<SSHKeySpec>(model, org) {
        if k.revoked == Some(true) {
            continue;
        }
        let title = k.title.clone().unwrap_or_else(|| r.name.clone());
        let body =
            json!({ "title": title, "key": k.key.trim(), "read_only": k.read_only != Some(false) });
        match (&k.repository, k.scope, &k.user) {
            (Some(repo), _, _) if in_scope(&repo.0) => b.push(
                format!("deploy-key:{}", r.name),
                Target::owner(org).repo(&repo.0),
                Action::AddDeployKey,
                Method::Post,
                format!("/repos/{org}/{}/keys", repo.0),
                body,
                vec![format!("repo:{}", repo.0)],
            ),
            // On GitHub: the GitHub plan adds it.
            (Some(_), _, _) => {}
            (None, KeyScope::User, Some(user)) if user_active(model, org, &user.0) => b.push(
                format!("user-key:{}", r.name),
                Target::owner(org).user(&forge_username(model, org, &user.0)),
                Action::AddUserSshKey,
                Method::Post,
                format!("/admin/users/{}/keys", forge_username(model, org, &user.0)),
                body,
                vec![format!("user:{}", user.0)],
            ),
            (None, KeyScope::User, Some(user)) => skipped(
                notes,
                org,
                format!("user-key:{}", r.name),
                format!("user `{}` is disabled", user.0),
            ),
            (None, scope, _) => skipped(
                notes,
                org,
                format!("key:{}", r.name),
                format!(
                    "a{} key without a repository{} has nowhere to go on the forge",
                    if scope == KeyScope::Automation {
                        "n automation"
                    } else {
                        " user"
                    },
                    if scope == KeyScope::User {
                        " or user"
                    } else {
                        ""
                    }
                ),
            ),
        }
    }

    // Collaborators and team repositories.
    for (r, p) in specs::<RepositoryPermissionSpec>(model, org) {
        if p.revoked == Some(true)
            || !in_scope(&p.repository.0)
            || p.subject_kind == Some(SubjectKind::Team)
        {
            continue;
        }
        let id = format!("collaborator:{}", r.name);
        if !user_active(model, org, &p.subject.0) {
            skipped(
                notes,
                org,
                id,
                format!("user `{}` is disabled", p.subject.0),
            );
            continue;
        }
        b.push(
            id,
            Target::owner(org)
                .repo(&p.repository.0)
                .user(&forge_username(model, org, &p.subject.0)),
            Action::AddCollaborator,
            Method::Put,
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
        );
    }
    for ((team, repo), gitea_team) in team_repos {
        b.push(
            format!("team-repo:{team}:{repo}"),
            Target::owner(org).team(&gitea_team).repo(&repo),
            Action::AddTeamRepository,
            Method::Put,
            format!("/teams/${{op:team:{gitea_team}.id}}/repos/{org}/{repo}"),
            Value::Null,
            vec![format!("team:{gitea_team}"), format!("repo:{repo}")],
        );
    }

    // Branch protection: one rule per pattern, per repository; signed
    // commits where a RefPolicy requires them.
    plan_protections(model, org, notes, &repo_names, in_scope, |rule, _| {
        let p = rule.spec;
        let (repo, pattern) = (rule.repo, rule.pattern);
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
            "require_signed_commits": rule.signed,
        });
        b.push(
            rule.id(),
            Target::owner(org).repo(repo).branch(pattern),
            Action::ProtectBranch,
            Method::Post,
            format!("/repos/{org}/{repo}/branch_protections"),
            body,
            vec![format!("repo:{repo}")],
        );
        true
    });

    // Webhooks: on a repository, or on the organization.
    let place = |repo: Option<&str>| match repo {
        Some(repo) if in_scope(repo) => Some((
            Target::owner(org).repo(repo),
            format!("/repos/{org}/{repo}/hooks"),
            vec![format!("repo:{repo}")],
        )),
        Some(_) => None,
        None => Some((
            Target::owner(org),
            format!("/orgs/{org}/hooks"),
            vec!["org".into()],
        )),
    };
    plan_webhooks(
        &mut b,
        model,
        org,
        place,
        |w, config| json!({ "type": "gitea", "config": config, "events": w.events, "active": w.active.unwrap_or(true) }),
    );
    b.finish(org, Backend::Gitea, None)
}
