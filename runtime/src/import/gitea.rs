//! Import from Gitea.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Draft, Imported, resource_name, text};
use crate::forge::gitea::Gitea;
use crate::forge::http::HttpError;

/// Reads organization `org` from Gitea.
pub async fn import_gitea(gitea: &Gitea, org: &str, source: &str) -> Result<Imported, HttpError> {
    let mut d = Draft::new(org, source);

    // The organization.
    let live = gitea.http.get(&format!("/orgs/{org}")).await?.body;
    let visibility = match live["visibility"].as_str() {
        Some("limited") => "limited",
        Some("private") => "private",
        _ => "public",
    };
    d.organization(&text(&live["full_name"]), visibility);

    // Repositories.
    let memory = format!("_{org}_");
    let mut repo_names: BTreeMap<String, String> = BTreeMap::new();
    for r in gitea.list(&format!("/orgs/{org}/repos")).await? {
        let forge = text(&r["name"]);
        if forge == memory {
            continue;
        }
        if r["archived"] == Value::Bool(true) {
            d.note(format!(
                "repository `{forge}` is archived: not imported (declaring it would unarchive it)"
            ));
            continue;
        }
        if resource_name(&forge) != forge {
            d.note(format!(
                "repository `{forge}`: kradle names repositories as on the forge, and `{forge}` is not a valid resource name; not imported"
            ));
            continue;
        }
        let mut spec = json!({
            "visibility": if r["private"] == Value::Bool(true) { "private" } else { "public" },
            "defaultBranch": r["default_branch"].as_str().unwrap_or("main"),
        });
        if !text(&r["description"]).is_empty() {
            spec["description"] = r["description"].clone();
        }
        d.add("repositories.yaml", "Repository", &forge, spec);
        repo_names.insert(forge.clone(), forge);
    }

    // Teams, their members and repository grants. A team `<t>-read` or
    // `<t>-write` beside `<t>` with the same members is one Team with
    // grants at several levels (how kradle writes such a Team).
    struct LiveTeam {
        name: String,
        description: String,
        permission: String,
        members: BTreeSet<String>,
        repos: Vec<String>,
    }
    let mut teams: Vec<LiveTeam> = Vec::new();
    for t in gitea.list(&format!("/orgs/{org}/teams")).await? {
        let name = text(&t["name"]);
        let permission = text(&t["permission"]);
        if !matches!(permission.as_str(), "read" | "write" | "admin") {
            d.note(format!(
                "team `{name}` has permission `{permission}`: not imported (kradle manages read, write and admin teams; the Owners team stays as it is)"
            ));
            continue;
        }
        let id = &t["id"];
        let members = gitea
            .list(&format!("/teams/{id}/members"))
            .await?
            .iter()
            .map(|m| text(&m["login"]))
            .collect();
        let team_repos = gitea
            .list(&format!("/teams/{id}/repos"))
            .await?
            .iter()
            .map(|r| text(&r["name"]))
            .filter(|r| repo_names.contains_key(r))
            .collect();
        if t["includes_all_repositories"] == Value::Bool(true)
            || t["can_create_org_repo"] == Value::Bool(true)
        {
            d.note(format!(
                "team `{name}`: kradle gives each team its repositories one by one and no right to create repositories; the first apply turns those settings off"
            ));
        }
        teams.push(LiveTeam {
            name,
            description: text(&t["description"]),
            permission,
            members,
            repos: team_repos,
        });
    }
    let rank = |p: &str| match p {
        "admin" => 3,
        "write" => 2,
        _ => 1,
    };
    // Which lower-level teams fold into which Team, decided before any
    // Team is written (the list order must not matter).
    let mut folded: BTreeMap<&str, Vec<&LiveTeam>> = BTreeMap::new();
    let mut merged: BTreeSet<&str> = BTreeSet::new();
    for t in &teams {
        for level in ["read", "write"] {
            let lower = format!("{}-{level}", t.name);
            if let Some(l) = teams.iter().find(|x| {
                x.name == lower
                    && x.permission == level
                    && x.members == t.members
                    && rank(level) < rank(&t.permission)
            }) {
                merged.insert(&l.name);
                folded.entry(&t.name).or_default().push(l);
            }
        }
    }
    for t in &teams {
        if merged.contains(t.name.as_str()) {
            continue;
        }
        let mut grants: Vec<Value> = t
            .repos
            .iter()
            .map(|r| json!({ "repository": r, "permission": t.permission }))
            .collect();
        for l in folded.get(t.name.as_str()).into_iter().flatten() {
            grants.extend(
                l.repos
                    .iter()
                    .map(|r| json!({ "repository": r, "permission": l.permission })),
            );
        }
        if t.repos.is_empty() && t.permission != "read" {
            d.note(format!(
                "team `{}` has `{}` permission and no repository: kradle gives a team without grants `read`; the first apply changes it",
                t.name, t.permission
            ));
        }
        let members: Vec<String> = t.members.iter().map(|m| d.user(m)).collect();
        let mut spec = json!({ "displayName": t.description });
        if !members.is_empty() {
            spec["members"] = json!(members);
        }
        if !grants.is_empty() {
            spec["repositoryGrants"] = Value::Array(grants);
        }
        let name = d.unique("Team", &t.name);
        if name != t.name {
            d.note(format!(
                "team `{}` is named `{name}` in the config: kradle names Gitea teams after their Team",
                t.name
            ));
        }
        d.add("teams.yaml", "Team", &name, spec);
    }
    if teams.iter().any(|t| t.description.is_empty()) {
        d.note(
            "teams without a description get an empty displayName: the description is what kradle writes there"
                .into(),
        );
    }

    // Per repository: collaborators, deploy keys, protections, hooks.
    for repo in repo_names.keys() {
        let base = format!("/repos/{org}/{repo}");
        for c in gitea.list(&format!("{base}/collaborators")).await? {
            let login = text(&c["login"]);
            let live = gitea
                .get_once(&format!("{base}/collaborators/{login}/permission"))
                .await?;
            let permission = match live["permission"].as_str() {
                Some("admin" | "owner") => "admin",
                Some("write") => "write",
                _ => "read",
            };
            d.collaborator(repo, &login, permission);
        }
        for k in gitea.list(&format!("{base}/keys")).await? {
            d.deploy_key(repo, &k);
        }
        let mut signed = BTreeSet::new();
        for p in gitea
            .plain_list(&format!("{base}/branch_protections"))
            .await?
        {
            let rule = match text(&p["rule_name"]) {
                r if r.is_empty() => text(&p["branch_name"]),
                r => r,
            };
            let name = d.unique("BranchProtection", &format!("{repo}-{rule}"));
            let mut spec = json!({
                "repository": repo,
                "refs": rule,
                "requiredReviews": p["required_approvals"].as_u64().unwrap_or(0),
                "allowForcePush": p["enable_force_push"] == Value::Bool(true),
                "dismissStaleReviews": p["dismiss_stale_approvals"] == Value::Bool(true),
                "enforceAdmins": p["block_admin_merge_override"] == Value::Bool(true),
            });
            let checks: Vec<Value> = p["status_check_contexts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !checks.is_empty() {
                spec["statusChecks"] = Value::Array(checks);
            }
            if p["enable_push"] == Value::Bool(true)
                || p["enable_push_whitelist"] != Value::Bool(true)
            {
                d.note(format!(
                    "branch protection `{rule}` of `{repo}`: kradle allows pushes only by merging reviewed pull requests (push disabled, an empty push whitelist); the first apply sets that"
                ));
            }
            signed.insert(p["require_signed_commits"] == Value::Bool(true));
            d.add("protections.yaml", "BranchProtection", &name, spec);
        }
        d.signing(repo, &signed);
        for h in gitea.list(&format!("{base}/hooks")).await? {
            hook(&mut d, Some(repo), &h);
        }
    }
    for h in gitea.list(&format!("/orgs/{org}/hooks")).await? {
        hook(&mut d, None, &h);
    }

    // The users named above.
    for login in d.users.keys().cloned().collect::<Vec<_>>() {
        let live = gitea.http.get_opt(&format!("/users/{login}")).await?;
        let live = live.unwrap_or(Value::Null);
        d.user_resource(&login, &text(&live["full_name"]), &text(&live["email"]));
    }
    Ok(d.finish())
}

/// A WebhookSubscription for a Gitea hook, with a reference for its secret.
fn hook(d: &mut Draft, repo: Option<&str>, h: &Value) {
    let url = text(&h["config"]["url"]);
    let scope = repo.unwrap_or("org");
    if h["type"].as_str().is_some_and(|t| t != "gitea") {
        d.note(format!(
            "hook {url} of `{scope}` is of type `{}`: not imported (kradle writes Gitea hooks)",
            text(&h["type"])
        ));
        return;
    }
    let name = d.unique("WebhookSubscription", &format!("{scope}-hook"));
    let secret = d.hook_secret(&name, &url, scope);
    let mut spec = json!({
        "url": url,
        "events": h["events"],
        "contentType": if h["config"]["content_type"] == "form" { "form" } else { "json" },
        "active": h["active"] == Value::Bool(true),
        "secretRef": secret,
    });
    if let Some(repo) = repo {
        spec["repository"] = json!(repo);
    }
    d.add("webhooks.yaml", "WebhookSubscription", &name, spec);
}
