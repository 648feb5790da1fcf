//! The GitHub plan (spec §2.2) for repositories bound to a GitHub
//! ExternalBackendProvider: permissions map read→pull, write→push, admin→admin.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::lower::report::Notes;
use crate::model::Model;
use crate::model::identity::TeamSpec;
use crate::model::repository::{
    BranchProtectionSpec, KeyScope, RepositoryPermissionSpec, RepositorySpec, SSHKeySpec,
    SubjectKind, Visibility, WebhookSubscriptionSpec,
};

use crate::forge_plan::{Action, Method};

use super::{
    Builder, Plan, forge_username, github_permission, note_unprotected_signing,
    signed_repositories, skipped, specs, team_grants, user_active, webhook_config,
};

pub fn plan(
    model: &Model,
    org: &str,
    github: &BTreeMap<String, (String, super::Provider)>,
    notes: &mut Notes,
) -> Plan {
    let mut b = Builder {
        ops: Vec::new(),
        ids: BTreeSet::new(),
    };
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
            Action::CreateRepository,
            Method::Post,
            format!("/orgs/{owner}/repos"),
            body,
            vec![],
        );
        let branch = s.default_branch.clone().unwrap_or_else(|| "main".into());
        if branch != "main" {
            b.push(
                format!("repo-settings:{}", r.name),
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

    let signed = signed_repositories(model, org);
    let mut protected: BTreeSet<String> = BTreeSet::new();
    for (r, p) in specs::<BranchProtectionSpec>(model, org) {
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
                    Action::ProtectBranch,
                    Method::Put,
                    format!("/repos/{owner}/{repo}/branches/{branch}/protection"),
                    body,
                    vec![format!("repo:{repo}")],
                );
                if signed.contains(&repo) {
                    b.push(
                        format!("signing:{}:{repo}:{branch}", r.name),
                        Action::RequireSignedCommits,
                        Method::Post,
                        format!(
                            "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"
                        ),
                        Value::Null,
                        vec![format!("protect:{}:{repo}:{branch}", r.name)],
                    );
                }
                protected.insert(repo.clone());
            }
        }
    }

    note_unprotected_signing(notes, org, &signed, &protected, &|r| github.contains_key(r));

    for (r, w) in specs::<WebhookSubscriptionSpec>(model, org) {
        let Some(repo) = &w.repository else { continue };
        let Some(owner) = owner_of(&repo.0) else {
            continue;
        };
        let config = webhook_config(org, &w);
        b.push(
            format!("webhook:{}", r.name),
            Action::CreateWebhook,
            Method::Post,
            format!("/repos/{owner}/{}/hooks", repo.0),
            json!({ "name": "web", "active": w.active.unwrap_or(true), "events": w.events, "config": config }),
            vec![format!("repo:{}", repo.0)],
        );
    }

    let provider = github.values().next().map(|(_, info)| info.clone());
    Plan {
        format_version: crate::forge_plan::FORMAT_VERSION,
        org: org.to_string(),
        backend: crate::forge_plan::Backend::Github,
        provider,
        operations: b.ops,
        file: String::new(),
    }
}
