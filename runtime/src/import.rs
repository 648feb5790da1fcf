//! `kradle import`: read a live Gitea organization into config YAML, so a
//! team can adopt kradle on the forge it already has.
//!
//! What is read becomes the kinds `kradle apply` converges: the
//! Organization, its Repositories, the Users its teams and collaborators
//! name, Teams (with their repository grants), RepositoryPermissions for
//! collaborators, deploy SSHKeys, BranchProtections (and a RefPolicy where
//! a rule requires signed commits) and WebhookSubscriptions. Hooks get a
//! `secretRef` to a Secret the user fills in: Gitea never shows a hook's
//! secret, and kradle never writes a secret value anyway.
//!
//! The result is shaped so that `kradle apply` right after it sends nothing
//! on an organization kradle could have written. Where the forge holds
//! something the config cannot say (a team's units, a protection's push
//! whitelist, a team with `owner` permission, an archived repository, a
//! hook of another type), the import says so in its notes: those are what
//! the first apply changes, or leaves alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use kradle_compiler::emit::to_yaml;
use kradle_compiler::model::org_namespace;

use crate::forge::gitea::Gitea;
use crate::forge::http::HttpError;

/// The files of an import (paths relative to the output directory) and
/// what the user should know.
#[derive(Debug, Default)]
pub struct Imported {
    pub files: BTreeMap<String, String>,
    pub notes: Vec<String>,
    /// Resources written.
    pub resources: usize,
}

const API_VERSION: &str = "kradle.a5c.ai/v1alpha1";

/// A resource name from a forge name: lowercase letters, digits and `-`.
pub fn resource_name(forge: &str) -> String {
    let mut out = String::new();
    for c in forge.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "x".into() } else { out }
}

/// Names given so far per kind, so two forge names that sanitize alike
/// stay apart.
#[derive(Default)]
struct Names(BTreeMap<&'static str, BTreeSet<String>>);

impl Names {
    fn unique(&mut self, kind: &'static str, wanted: &str) -> String {
        let taken = self.0.entry(kind).or_default();
        let base = resource_name(wanted);
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

fn resource(kind: &str, name: &str, spec: Value) -> Value {
    json!({ "apiVersion": API_VERSION, "kind": kind, "metadata": { "name": name }, "spec": spec })
}

fn document(header: &str, resources: &[Value]) -> String {
    let mut out = format!("# {header}\n");
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(r));
    }
    out
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Reads organization `org` from Gitea.
pub async fn import_gitea(gitea: &Gitea, org: &str, source: &str) -> Result<Imported, HttpError> {
    let mut out = Imported::default();
    let mut names = Names::default();
    let header = format!("Imported from {source}, organization `{org}`, by kradle import.");
    let namespace = org_namespace(org);

    // The organization.
    let live = gitea.http.get(&format!("/orgs/{org}")).await?.body;
    let visibility = match live["visibility"].as_str() {
        Some("limited") => "limited",
        Some("private") => "private",
        _ => "public",
    };
    let display = match text(&live["full_name"]) {
        d if d.is_empty() => org.to_string(),
        d => d,
    };
    out.files.insert(
        format!("platform/organization-{org}.yaml"),
        document(
            &header,
            &[resource(
                "Organization",
                org,
                json!({ "displayName": display, "namespaceName": namespace, "visibility": visibility }),
            )],
        ),
    );
    out.resources += 1;

    // Users are named by what refers to them; their resources come last.
    let mut users: BTreeMap<String, String> = BTreeMap::new();
    let mut user = |login: &str, names: &mut Names| -> String {
        users
            .entry(login.to_string())
            .or_insert_with(|| names.unique("User", login))
            .clone()
    };

    // Repositories.
    let memory = format!("_{org}_");
    let mut repos = Vec::new();
    let mut repo_names: BTreeMap<String, String> = BTreeMap::new();
    for r in gitea.list(&format!("/orgs/{org}/repos")).await? {
        let forge = text(&r["name"]);
        if forge == memory {
            continue;
        }
        if r["archived"] == Value::Bool(true) {
            out.notes.push(format!(
                "repository `{forge}` is archived: not imported (declaring it would unarchive it)"
            ));
            continue;
        }
        if resource_name(&forge) != forge {
            out.notes.push(format!(
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
        repo_names.insert(forge.clone(), forge.clone());
        repos.push(resource("Repository", &forge, spec));
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
            out.notes.push(format!(
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
            out.notes.push(format!(
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
    let mut team_docs = Vec::new();
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
            out.notes.push(format!(
                "team `{}` has `{}` permission and no repository: kradle gives a team without grants `read`; the first apply changes it",
                t.name, t.permission
            ));
        }
        let members: Vec<String> = t.members.iter().map(|m| user(m, &mut names)).collect();
        let mut spec = json!({ "displayName": t.description });
        if !members.is_empty() {
            spec["members"] = json!(members);
        }
        if !grants.is_empty() {
            spec["repositoryGrants"] = Value::Array(grants);
        }
        let name = names.unique("Team", &t.name);
        if name != t.name {
            out.notes.push(format!(
                "team `{}` is named `{name}` in the config: kradle names Gitea teams after their Team",
                t.name
            ));
        }
        team_docs.push(resource("Team", &name, spec));
    }
    if teams.iter().any(|t| t.description.is_empty()) {
        out.notes.push(
            "teams without a description get an empty displayName: the description is what kradle writes there"
                .into(),
        );
    }

    // Per repository: collaborators, deploy keys, protections, hooks.
    let mut access = Vec::new();
    let mut keys = Vec::new();
    let mut protections = Vec::new();
    let mut hooks = Vec::new();
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
            let subject = user(&login, &mut names);
            let name = names.unique("RepositoryPermission", &format!("{repo}-{login}"));
            access.push(resource(
                "RepositoryPermission",
                &name,
                json!({ "repository": repo, "subject": subject, "permission": permission }),
            ));
        }
        for k in gitea.list(&format!("{base}/keys")).await? {
            let title = text(&k["title"]);
            let name = names.unique("SSHKey", &format!("{repo}-{title}"));
            keys.push(resource(
                "SSHKey",
                &name,
                json!({
                    "scope": "deploy",
                    "repository": repo,
                    "key": text(&k["key"]).trim(),
                    "title": title,
                    "readOnly": k["read_only"] == Value::Bool(true),
                }),
            ));
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
            let name = names.unique("BranchProtection", &format!("{repo}-{rule}"));
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
                out.notes.push(format!(
                    "branch protection `{rule}` of `{repo}`: kradle allows pushes only by merging reviewed pull requests (push disabled, an empty push whitelist); the first apply sets that"
                ));
            }
            signed.insert(p["require_signed_commits"] == Value::Bool(true));
            protections.push(resource("BranchProtection", &name, spec));
        }
        if signed.contains(&true) {
            if signed.contains(&false) {
                out.notes.push(format!(
                    "`{repo}` requires signed commits on some rules only; kradle's RefPolicy requires them on all rules of the repository"
                ));
            }
            let name = names.unique("RefPolicy", &format!("{repo}-signing"));
            protections.push(resource(
                "RefPolicy",
                &name,
                json!({ "repository": repo, "signingPolicy": "required" }),
            ));
        }
        for h in gitea.list(&format!("{base}/hooks")).await? {
            hook(&mut out, &mut names, &mut hooks, Some(repo), &h, &namespace);
        }
    }
    for h in gitea.list(&format!("/orgs/{org}/hooks")).await? {
        hook(&mut out, &mut names, &mut hooks, None, &h, &namespace);
    }

    // The users named above.
    let mut user_docs = Vec::new();
    for (login, name) in &users {
        let live = gitea.http.get_opt(&format!("/users/{login}")).await?;
        let live = live.unwrap_or(Value::Null);
        let display = match text(&live["full_name"]) {
            d if d.is_empty() => login.clone(),
            d => d,
        };
        let email = match text(&live["email"]) {
            e if e.contains('@') => e,
            _ => {
                out.notes.push(format!(
                    "user `{login}`: Gitea did not show an email; `{login}@users.invalid` stands in: fill in the real one"
                ));
                format!("{login}@users.invalid")
            }
        };
        user_docs.push(resource(
            "User",
            name,
            json!({ "displayName": display, "email": email, "username": login }),
        ));
    }

    let dir = format!("orgs/{org}");
    for (file, docs) in [
        ("users.yaml", user_docs),
        ("repositories.yaml", repos),
        ("teams.yaml", team_docs),
        ("collaborators.yaml", access),
        ("keys.yaml", keys),
        ("protections.yaml", protections),
        ("webhooks.yaml", hooks),
    ] {
        if docs.is_empty() {
            continue;
        }
        out.resources += docs.len();
        out.files
            .insert(format!("{dir}/{file}"), document(&header, &docs));
    }
    Ok(out)
}

/// A WebhookSubscription for a Gitea hook, with a reference for its secret.
fn hook(
    out: &mut Imported,
    names: &mut Names,
    hooks: &mut Vec<Value>,
    repo: Option<&str>,
    h: &Value,
    namespace: &str,
) {
    let url = text(&h["config"]["url"]);
    let scope = repo.unwrap_or("org");
    if h["type"].as_str().is_some_and(|t| t != "gitea") {
        out.notes.push(format!(
            "hook {url} of `{scope}` is of type `{}`: not imported (kradle writes Gitea hooks)",
            text(&h["type"])
        ));
        return;
    }
    let name = names.unique("WebhookSubscription", &format!("{scope}-hook"));
    let mut spec = json!({
        "url": url,
        "events": h["events"],
        "contentType": if h["config"]["content_type"] == "form" { "form" } else { "json" },
        "active": h["active"] == Value::Bool(true),
        "secretRef": { "name": name, "key": "secret" },
    });
    if let Some(repo) = repo {
        spec["repository"] = json!(repo);
    }
    out.notes.push(format!(
        "hook {url} of `{scope}`: put its secret in Secret `{namespace}/{name}`, key `secret` (Gitea never shows it)"
    ));
    hooks.push(resource("WebhookSubscription", &name, spec));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_names_become_resource_names() {
        assert_eq!(resource_name("Ada.Lovelace"), "ada-lovelace");
        assert_eq!(resource_name("__x__"), "x");
        assert_eq!(resource_name("..."), "x");
        let mut names = Names::default();
        assert_eq!(names.unique("User", "Ada"), "ada");
        assert_eq!(names.unique("User", "ada"), "ada-2");
        assert_eq!(names.unique("Team", "ada"), "ada");
    }
}
