//! Import from GitHub: the repositories of a GitHub organization, bound to
//! it through an ExternalBackendProvider and an ExternalBackendBinding, so
//! that the compiled plan is a GitHub plan for exactly these repositories.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Draft, Imported, resource_name, text};
use crate::forge::github::{GitHub, role_of};
use crate::forge::http::HttpError;

/// The Secret (in the org's namespace) the binding's `credentialRef`
/// names by default, and its key.
pub const CREDENTIAL_SECRET: &str = "github-token";
pub const CREDENTIAL_KEY: &str = "token";

/// The Secret the written binding's `credentialRef` names: a key holding a
/// token, or no key for a GitHub App (`appId`, `installationId`,
/// `privateKey`). `import` reads with the same Secret when it is given one,
/// so the credential is put in one place for both `import` and `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub name: String,
    pub key: Option<String>,
}

impl Default for Credential {
    fn default() -> Credential {
        Credential {
            name: CREDENTIAL_SECRET.into(),
            key: Some(CREDENTIAL_KEY.into()),
        }
    }
}

/// A role read from GitHub in kradle's terms (`read`, `write`, `admin`),
/// and the note to give when GitHub's is one kradle does not write.
fn permission(item: &Value, what: &str) -> (&'static str, Option<String>) {
    match role_of(item) {
        Some("admin") => ("admin", None),
        Some("push") => ("write", None),
        Some("maintain") => (
            "write",
            Some(format!(
                "{what} has the `maintain` role; kradle writes read, write and admin, so it is imported as write and the first apply changes it"
            )),
        ),
        Some("triage") => (
            "read",
            Some(format!(
                "{what} has the `triage` role; kradle writes read, write and admin, so it is imported as read and the first apply changes it"
            )),
        ),
        _ => ("read", None),
    }
}

fn enabled(v: &Value) -> bool {
    v["enabled"] == Value::Bool(true)
}

/// Reads GitHub organization `owner` through `github` (whose API is at
/// `endpoint`). The kradle organization is named after it.
pub async fn import_github(
    github: &GitHub,
    owner: &str,
    endpoint: &str,
    credential: &Credential,
) -> Result<Imported, HttpError> {
    let org = resource_name(owner);
    let mut d = Draft::new(&org, endpoint);

    let live = github.http.get(&format!("/orgs/{owner}")).await?.body;
    d.organization(&text(&live["name"]), "public");

    // Repositories: as on GitHub, so the plan addresses the same ones.
    let mut repos: Vec<String> = Vec::new();
    for r in github.list(&format!("/orgs/{owner}/repos")).await? {
        let name = text(&r["name"]);
        if r["archived"] == Value::Bool(true) {
            d.note(format!(
                "repository `{name}` is archived: not imported (declaring it would unarchive it)"
            ));
            continue;
        }
        if resource_name(&name) != name {
            d.note(format!(
                "repository `{name}`: kradle names repositories as on the forge, and `{name}` is not a valid resource name; not imported"
            ));
            continue;
        }
        let visibility = match r["visibility"].as_str() {
            Some(v @ ("public" | "private" | "internal")) => v,
            _ if r["private"] == Value::Bool(false) => "public",
            _ => "private",
        };
        let mut spec = json!({
            "visibility": visibility,
            "defaultBranch": r["default_branch"].as_str().unwrap_or("main"),
        });
        if !text(&r["description"]).is_empty() {
            spec["description"] = r["description"].clone();
        }
        d.add("repositories.yaml", "Repository", &name, spec);
        repos.push(name);
    }
    let imported: BTreeSet<&str> = repos.iter().map(String::as_str).collect();

    // Teams: only those holding grants on imported repositories are in a
    // GitHub plan, so only those are imported.
    for t in github.list(&format!("/orgs/{owner}/teams")).await? {
        let name = text(&t["name"]);
        let slug = text(&t["slug"]);
        if resource_name(&name) != name {
            d.note(format!(
                "team `{name}`: kradle names GitHub teams after their Team, and `{name}` is not a valid resource name; not imported (rename it on GitHub, then import again)"
            ));
            continue;
        }
        let base = format!("/orgs/{owner}/teams/{slug}");
        let mut grants = Vec::new();
        for r in github.list(&format!("{base}/repos")).await? {
            let repo = text(&r["name"]);
            if !imported.contains(repo.as_str()) {
                continue;
            }
            let (p, note) = permission(&r, &format!("team `{name}` on `{repo}`"));
            if let Some(note) = note {
                d.note(note);
            }
            grants.push(json!({ "repository": repo, "permission": p }));
        }
        if grants.is_empty() {
            d.note(format!(
                "team `{name}` holds no imported repository: not imported (kradle manages the GitHub teams that hold repository grants)"
            ));
            continue;
        }
        // Members, maintainers, and those invited and not yet in the org
        // (their membership is pending, with its role).
        let mut roles: BTreeMap<String, String> = BTreeMap::new();
        for role in ["maintainer", "member"] {
            for m in github.list(&format!("{base}/members?role={role}")).await? {
                roles.insert(text(&m["login"]), role.into());
            }
        }
        for i in github.list(&format!("{base}/invitations")).await? {
            let login = text(&i["login"]);
            if login.is_empty() {
                continue; // invited by email: no account to name yet
            }
            let membership = github
                .get_once(&format!("{base}/memberships/{login}"))
                .await?
                .unwrap_or(Value::Null);
            let role = match membership["role"].as_str() {
                Some("maintainer") => "maintainer",
                _ => "member",
            };
            roles.insert(login, role.into());
        }
        let mut spec =
            json!({ "displayName": text(&t["description"]), "repositoryGrants": grants });
        let members: Vec<String> = roles.keys().map(|m| d.user(m)).collect();
        let maintainers: Vec<String> = roles
            .iter()
            .filter(|(_, r)| *r == "maintainer")
            .map(|(m, _)| d.user(m))
            .collect();
        if !members.is_empty() {
            spec["members"] = json!(members);
        }
        if !maintainers.is_empty() {
            spec["maintainers"] = json!(maintainers);
        }
        if t["privacy"] == "secret" {
            d.note(format!(
                "team `{name}` is secret; kradle makes its teams visible to the organization (closed), and the first apply changes it"
            ));
        }
        if t["parent"].is_object() {
            d.note(format!(
                "team `{name}` is nested under `{}`; kradle leaves the nesting as it is",
                text(&t["parent"]["name"])
            ));
        }
        let resource = d.unique("Team", &name);
        d.add("teams.yaml", "Team", &resource, spec);
    }

    // Per repository: collaborators (and invitations), deploy keys,
    // protected branches, hooks.
    for repo in &repos {
        let base = format!("/repos/{owner}/{repo}");
        let mut access: Vec<(String, Value, String)> = Vec::new();
        for c in github
            .list(&format!("{base}/collaborators?affiliation=direct"))
            .await?
        {
            access.push((text(&c["login"]), c, "collaborator".into()));
        }
        for i in github.list(&format!("{base}/invitations")).await? {
            let login = text(&i["invitee"]["login"]);
            if !login.is_empty() {
                access.push((login, i, "invited collaborator".into()));
            }
        }
        for (login, item, what) in access {
            let (p, note) = permission(&item, &format!("{what} `{login}` on `{repo}`"));
            if let Some(note) = note {
                d.note(note);
            }
            d.collaborator(repo, &login, p);
        }
        for k in github.list(&format!("{base}/keys")).await? {
            d.deploy_key(repo, &k);
        }
        let mut signed = BTreeSet::new();
        for b in github
            .list(&format!("{base}/branches?protected=true"))
            .await?
        {
            let branch = text(&b["name"]);
            let Some(p) = github
                .get_once(&format!("{base}/branches/{branch}/protection"))
                .await?
            else {
                continue; // unprotected since it was listed
            };
            protection(&mut d, repo, &branch, &p);
            signed.insert(enabled(&p["required_signatures"]));
        }
        d.signing(repo, &signed);
        for h in github.list(&format!("{base}/hooks")).await? {
            hook(&mut d, repo, &h);
        }
    }

    // The users named above.
    for login in d.users.keys().cloned().collect::<Vec<_>>() {
        let live = github
            .http
            .get_opt(&format!("/users/{login}"))
            .await?
            .unwrap_or(Value::Null);
        d.user_resource(&login, &text(&live["name"]), &text(&live["email"]));
    }

    // How kradle reaches GitHub: the provider, and a binding of the
    // imported repositories with a credential the user provides.
    let mut provider =
        json!({ "providerType": "github", "endpoint": endpoint, "displayName": "GitHub" });
    if org != owner {
        provider["config"] = json!({ "organization": owner });
    }
    d.add(
        "backend.yaml",
        "ExternalBackendProvider",
        "github",
        provider,
    );
    let binding = d.unique("ExternalBackendBinding", &format!("github-{org}"));
    d.add(
        "backend.yaml",
        "ExternalBackendBinding",
        &binding,
        json!({
            "providerRef": "github",
            "credentialRef": match &credential.key {
                Some(key) => json!({ "name": credential.name, "key": key }),
                None => json!({ "name": credential.name }),
            },
            "syncEnabled": true,
            "scope": { "repositories": repos },
        }),
    );
    d.note(match &credential.key {
        Some(key) => format!(
            "`kradle apply` reads the GitHub token from Secret `{}/{}`, key `{key}`; for a GitHub App instead, drop `key` from the binding's credentialRef and put `appId`, `installationId` and `privateKey` in that Secret",
            d.namespace, credential.name
        ),
        None => format!(
            "`kradle apply` reads the GitHub App (`appId`, `installationId`, `privateKey`) from Secret `{}/{}`",
            d.namespace, credential.name
        ),
    });
    if repos.is_empty() {
        d.note(
            "no repository was imported: with no repository bound to GitHub, kradle would manage this organization on Gitea; add repositories before applying"
                .into(),
        );
    }
    Ok(d.finish())
}

/// A BranchProtection for GitHub's protection of `branch`, with a note for
/// each setting the config cannot say.
fn protection(d: &mut Draft, repo: &str, branch: &str, p: &Value) {
    let name = d.unique("BranchProtection", &format!("{repo}-{branch}"));
    let reviews = &p["required_pull_request_reviews"];
    let checks = &p["required_status_checks"];
    let mut spec = json!({
        "repository": repo,
        "refs": branch,
        "requiredReviews": reviews["required_approving_review_count"].as_u64().unwrap_or(0),
        "allowForcePush": enabled(&p["allow_force_pushes"]),
        "dismissStaleReviews": reviews["dismiss_stale_reviews"] == Value::Bool(true),
        "enforceAdmins": enabled(&p["enforce_admins"]),
    });
    let contexts: Vec<Value> = checks["contexts"].as_array().cloned().unwrap_or_default();
    if !contexts.is_empty() {
        spec["statusChecks"] = Value::Array(contexts);
    }
    let rule = format!("branch protection of `{repo}` `{branch}`");
    let mut changes = Vec::new();
    if !reviews.is_object() {
        changes.push("pull requests become required");
    }
    if checks.is_object() && checks["strict"] != Value::Bool(true) {
        changes.push("branches must be up to date before merging");
    }
    if !p["restrictions"].is_null() {
        changes.push("the push restrictions are lifted");
    }
    for (field, what) in [
        (
            "required_linear_history",
            "linear history is no longer required",
        ),
        (
            "required_conversation_resolution",
            "conversation resolution is no longer required",
        ),
        ("allow_deletions", "the branch can no longer be deleted"),
        ("lock_branch", "the branch is unlocked"),
    ] {
        if enabled(&p[field]) {
            changes.push(what);
        }
    }
    if reviews["require_code_owner_reviews"] == Value::Bool(true) {
        changes.push("code owner reviews are no longer required");
    }
    if !changes.is_empty() {
        d.note(format!(
            "{rule}: kradle replaces a protection whole, so the first apply that changes it also changes this: {}",
            changes.join("; ")
        ));
    }
    d.add("protections.yaml", "BranchProtection", &name, spec);
}

/// A WebhookSubscription for a repository hook.
fn hook(d: &mut Draft, repo: &str, h: &Value) {
    let url = text(&h["config"]["url"]);
    if h["name"].as_str().is_some_and(|n| n != "web") {
        d.note(format!(
            "hook `{}` of `{repo}` is not a web hook: not imported",
            text(&h["name"])
        ));
        return;
    }
    let name = d.unique("WebhookSubscription", &format!("{repo}-hook"));
    let mut spec = json!({
        "repository": repo,
        "url": url,
        "events": h["events"],
        "contentType": if h["config"]["content_type"] == "form" { "form" } else { "json" },
        "active": h["active"] != Value::Bool(false),
    });
    // GitHub answers a hook's secret as `********` when it has one.
    if h["config"]["secret"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        spec["secretRef"] = d.hook_secret(&name, &url, repo);
    }
    d.add("webhooks.yaml", "WebhookSubscription", &name, spec);
}
