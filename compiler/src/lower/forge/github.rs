//! The GitHub plan (spec §2.2) for repositories bound to a GitHub
//! ExternalBackendProvider: permissions map read→pull, write→push, admin→admin.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::lower::report::Notes;
use crate::model::Model;
use crate::model::identity::TeamSpec;
use crate::model::repository::{
    KeyScope, RepositoryPermissionSpec, RepositorySpec, SSHKeySpec, SubjectKind, Visibility,
};

use crate::forge_plan::{Action, Backend, Method};

use super::{
    Builder, Plan, Target, forge_username, github_permission, plan_protections, plan_webhooks,
    skipped, specs, team_grants, user_active,
};

pub fn plan(
    model: &Model,
    org: &str,
    github: &BTreeMap<String, (String, super::Provider)>,
    notes: &mut Notes,
) -> Plan {
    let mut b = Builder::default();
    let owner_of = |repo: &str| github.get(repo).map(|(o, _)| o.clone());
    let mut skip = |id: String, reason: String| skipped(notes, org, id, reason);

    for (r, s) in specs::<RepositorySpec>(model, org) {
        let Some(owner) = owner_of(&r.name) else {
            continue;
        };
        let visibility = match s.visibility {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
            Visibility::Private => "private",
        };
        let body = json!({
            "name": r.name,
            "private": s.visibility != Visibility::Public,
            "visibility": visibility,
            "auto_init": false,
        });
        b.push_repository(
            Target::owner(&owner).repo(&r.name),
            &s,
            body,
            format!("/orgs/{owner}/repos"),
            vec![],
        );
        let branch = s.default_branch.clone().unwrap_or_else(|| "main".into());
        if branch != "main" {
            b.push(
                format!("repo-settings:{}", r.name),
                Target::owner(&owner).repo(&r.name),
                Action::UpdateRepository,
                Method::Patch,
                format!("/repos/{owner}/{}", r.name),
                json!({ "default_branch": branch }),
                vec![format!("repo:{}", r.name)],
            );
        }
    }

    // Teams that hold grants on GitHub repositories, their members and grants.
    let grants = team_grants(model, org, &|repo: &str| github.contains_key(repo));
    for (team, repos) in &grants {
        let Some(owner) = repos.keys().next().and_then(|repo| owner_of(repo)) else {
            continue;
        };
        let Some((_, t)) = model.get::<TeamSpec>(Some(org), team) else {
            continue;
        };
        b.push(
            format!("team:{team}"),
            Target::owner(&owner).team(team),
            Action::CreateTeam,
            Method::Post,
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
            if !user_active(model, org, m) {
                skip(
                    format!("team-member:{team}:{m}"),
                    format!("user `{m}` is disabled"),
                );
                continue;
            }
            b.push(
                format!("team-member:{team}:{m}"),
                Target::owner(&owner)
                    .team(team)
                    .user(&forge_username(model, org, m)),
                Action::AddTeamMember,
                Method::Put,
                format!(
                    "/orgs/{owner}/teams/${{op:team:{team}.slug}}/memberships/{}",
                    forge_username(model, org, m)
                ),
                json!({ "role": role }),
                vec![format!("team:{team}")],
            );
        }
        for (repo, &p) in repos {
            let owner = owner_of(repo).unwrap_or_else(|| owner.clone());
            b.push(
                format!("team-repo:{team}:{repo}"),
                Target::owner(&owner).team(team).repo(repo),
                Action::AddTeamRepository,
                Method::Put,
                format!("/orgs/{owner}/teams/${{op:team:{team}.slug}}/repos/{owner}/{repo}"),
                json!({ "permission": github_permission(p) }),
                vec![format!("team:{team}"), format!("repo:{repo}")],
            );
        }
    }

    for (r, k) in specs::<SSHKeySpec>(model, org) {
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
                    Target::owner(&owner).repo(&repo.0),
                    Action::AddDeployKey,
                    Method::Post,
                    format!("/repos/{owner}/{}/keys", repo.0),
                    json!({
                        "title": k.title.clone().unwrap_or_else(|| r.name.clone()),
                        "key": k.key.trim(),
                        "read_only": k.read_only != Some(false),
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

    for (r, p) in specs::<RepositoryPermissionSpec>(model, org) {
        if p.revoked == Some(true) || p.subject_kind == Some(SubjectKind::Team) {
            continue;
        }
        let Some(owner) = owner_of(&p.repository.0) else {
            continue;
        };
        if !user_active(model, org, &p.subject.0) {
            skip(
                format!("collaborator:{}", r.name),
                format!("user `{}` is disabled", p.subject.0),
            );
            continue;
        }
        b.push(
            format!("collaborator:{}", r.name),
            Target::owner(&owner)
                .repo(&p.repository.0)
                .user(&forge_username(model, org, &p.subject.0)),
            Action::AddCollaborator,
            Method::Put,
            format!(
                "/repos/{owner}/{}/collaborators/{}",
                p.repository.0,
                forge_username(model, org, &p.subject.0)
            ),
            json!({ "permission": github_permission(p.permission) }),
            vec![format!("repo:{}", p.repository.0)],
        );
    }

    let all_repos: Vec<String> = github.keys().cloned().collect();
    let on_github = |repo: &str| github.contains_key(repo);
    plan_protections(model, org, notes, &all_repos, &on_github, |rule, notes| {
        let (p, repo, branch) = (rule.spec, rule.repo, rule.pattern);
        let Some(owner) = owner_of(repo) else {
            return false;
        };
        if branch.contains(['*', '?', '[']) {
            skipped(
                notes,
                org,
                rule.id(),
                format!(
                    "GitHub branch protection needs a branch name; `{branch}` is a pattern (use a ruleset)"
                ),
            );
            return false;
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
            rule.id(),
            Target::owner(&owner).repo(repo).branch(branch),
            Action::ProtectBranch,
            Method::Put,
            format!("/repos/{owner}/{repo}/branches/{branch}/protection"),
            body,
            vec![format!("repo:{repo}")],
        );
        if rule.signed {
            b.push(
                format!("signing:{}:{repo}:{branch}", rule.name),
                Target::owner(&owner).repo(repo).branch(branch),
                Action::RequireSignedCommits,
                Method::Post,
                format!("/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"),
                Value::Null,
                vec![rule.id()],
            );
        }
        true
    });

    // Webhooks: on repositories only (organization hooks stay on Gitea).
    let place = |repo: Option<&str>| {
        let repo = repo?;
        let owner = owner_of(repo)?;
        Some((
            Target::owner(&owner).repo(repo),
            format!("/repos/{owner}/{repo}/hooks"),
            vec![format!("repo:{repo}")],
        ))
    };
    plan_webhooks(
        &mut b,
        model,
        org,
        place,
        |w, config| json!({ "name": "web", "active": w.active.unwrap_or(true), "events": w.events, "config": config }),
    );

    let provider = github.values().next().map(|(_, info)| info.clone());
    b.finish(org, Backend::Github, provider)
}
