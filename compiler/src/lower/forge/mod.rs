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

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::diagnostics::Diagnostic;
use crate::model::identity::{IdentityMappingSpec, Permission, TeamSpec, UserSpec};
use crate::model::repository::{
    BranchProtectionSpec, RefPolicySpec, RepositoryPermissionSpec, RepositorySpec, SigningPolicy,
    SubjectKind, WebhookSubscriptionSpec,
};
use crate::model::{Kind, KindSpec, Model, Resource, org_namespace};

mod gitea;
mod github;

use super::report::{Notes, SkippedOperation};
use super::resources::with_defaults;

pub use crate::forge_plan::{
    Action, Backend, Method, Operation, Plan, PlanCredentialRef, Provider, Target, Template,
};

fn idempotency_key(action: Action, method: Method, path: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(
        serde_json::to_vec(&json!([action.as_str(), method.as_str(), path, body]))
            .unwrap_or_default(),
    );
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("idem-gitForge-{action}-{hex}")
}

#[derive(Default)]
struct Builder {
    ops: Vec<Operation>,
    ids: BTreeSet<String>,
}

/// One branch-protection rule to plan: a BranchProtection, applied to one
/// repository and one ref pattern.
struct ProtectionRule<'a> {
    /// The BranchProtection's name.
    name: &'a str,
    spec: &'a BranchProtectionSpec,
    repo: &'a str,
    pattern: &'a str,
    /// A RefPolicy requires signed commits on the repository.
    signed: bool,
}

impl ProtectionRule<'_> {
    fn id(&self) -> String {
        format!("protect:{}:{}:{}", self.name, self.repo, self.pattern)
    }
}

/// Plans every branch protection of `org` through `rule`, one call per
/// (protection, repository, pattern): a protection without `repository`
/// covers `all_repos`. `rule` returns whether it protected the repository.
/// Repositories whose RefPolicy requires signing but that no rule protects
/// are reported, since both forges attach signing to a protection.
fn plan_protections(
    model: &Model,
    org: &str,
    notes: &mut Notes,
    all_repos: &[String],
    in_scope: &dyn Fn(&str) -> bool,
    mut rule: impl FnMut(&ProtectionRule<'_>, &mut Notes) -> bool,
) {
    let signed = signed_repositories(model, org);
    let mut protected: BTreeSet<String> = BTreeSet::new();
    for (r, p) in specs::<BranchProtectionSpec>(model, org) {
        let targets: Vec<String> = match &p.repository {
            Some(repo) => vec![repo.0.clone()],
            None => all_repos.to_vec(),
        };
        for repo in targets.iter().filter(|x| in_scope(x)) {
            for pattern in p.refs.to_vec() {
                let target = ProtectionRule {
                    name: &r.name,
                    spec: &p,
                    repo,
                    pattern: &pattern,
                    signed: signed.contains(repo),
                };
                if rule(&target, notes) {
                    protected.insert(repo.clone());
                }
            }
        }
    }
    note_unprotected_signing(notes, org, &signed, &protected, in_scope);
}

/// Plans every webhook of `org`: `place` says where a hook goes (the hooks
/// path and what it depends on) given its repository, or `None` to skip it;
/// `body` builds the backend's body from the subscription and its config.
fn plan_webhooks(
    b: &mut Builder,
    model: &Model,
    org: &str,
    place: impl Fn(Option<&str>) -> Option<(Target, String, Vec<String>)>,
    body: impl Fn(&WebhookSubscriptionSpec, Value) -> Value,
) {
    for (r, w) in specs::<WebhookSubscriptionSpec>(model, org) {
        let Some((target, path, deps)) = place(w.repository.as_ref().map(|x| x.0.as_str())) else {
            continue;
        };
        let config = webhook_config(org, &w);
        b.push(
            format!("webhook:{}", r.name),
            target,
            Action::CreateWebhook,
            Method::Post,
            path,
            body(&w, config),
            deps,
        );
    }
}

impl Builder {
    /// Plans creating a repository: `body` with the repository's
    /// description, posted to `path`.
    fn push_repository(
        &mut self,
        target: Target,
        spec: &RepositorySpec,
        mut body: Value,
        path: String,
        deps: Vec<String>,
    ) {
        if let Some(d) = &spec.description {
            body["description"] = json!(d);
        }
        let name = target.repository.clone().unwrap_or_default();
        self.push(
            format!("repo:{name}"),
            target,
            Action::CreateRepository,
            Method::Post,
            path,
            body,
            deps,
        );
    }

    /// The plan of `org` on `backend`, with the planned operations.
    fn finish(self, org: &str, backend: Backend, provider: Option<Provider>) -> Plan {
        Plan {
            format_version: crate::forge_plan::FORMAT_VERSION,
            org: org.to_string(),
            backend,
            provider,
            operations: self.ops,
            file: String::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: String,
        target: Target,
        action: Action,
        method: Method,
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
            target,
            action,
            method,
            path: Template::new(path),
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
        .all::<IdentityMappingSpec>()
        .filter(|(m, s)| m.org.as_deref() == Some(org) && s.user.0 == user)
        .find_map(|(_, s)| s.repository_identity.as_ref().map(|i| i.username.clone()));
    mapped
        .or_else(|| model.get::<UserSpec>(Some(org), user)?.1.username.clone())
        .unwrap_or_else(|| user.to_string())
}

/// Whether `user` of `org` may hold grants: declared and not disabled.
/// A disabled (suspended) User keeps no team membership, collaborator
/// access or key.
pub fn user_active(model: &Model, org: &str, user: &str) -> bool {
    model
        .get::<UserSpec>(Some(org), user)
        .is_some_and(|(_, u)| u.disabled != Some(true))
}

/// Records an operation kradle did not plan, and why, in `report.json`.
pub fn skipped(notes: &mut Notes, org: &str, id: String, reason: String) {
    notes.skipped_operations.push(SkippedOperation {
        organization: org.to_string(),
        id,
        reason,
    });
}

/// Repositories of `org` whose RefPolicy requires signed commits.
pub fn signed_repositories(model: &Model, org: &str) -> BTreeSet<String> {
    let all: Vec<String> = model
        .names_in(Some(org), Kind::Repository)
        .map(str::to_string)
        .collect();
    let mut out = BTreeSet::new();
    for (_, p) in specs::<RefPolicySpec>(model, org) {
        if p.signing_policy == Some(SigningPolicy::Required) {
            match &p.repository {
                Some(r) => {
                    out.insert(r.0.clone());
                }
                None => out.extend(all.iter().cloned()),
            }
        }
    }
    out
}

/// Reports the repositories (in scope) whose RefPolicy requires signed
/// commits but that no BranchProtection covers: both forges attach signing
/// to a protection rule.
pub fn note_unprotected_signing(
    notes: &mut Notes,
    org: &str,
    signed: &BTreeSet<String>,
    protected: &BTreeSet<String>,
    in_scope: &dyn Fn(&str) -> bool,
) {
    for repo in signed
        .iter()
        .filter(|r| in_scope(r) && !protected.contains(*r))
    {
        skipped(
            notes,
            org,
            format!("signing:{repo}"),
            format!(
                "a RefPolicy requires signed commits on `{repo}`, but no BranchProtection covers it: add one so the forge can enforce signing"
            ),
        );
    }
}

/// A team's grants, merged: the highest permission per repository, from the
/// Team's `repositoryGrants` and from RepositoryPermissions naming the team.
pub fn team_grants(
    model: &Model,
    org: &str,
    in_scope: &dyn Fn(&str) -> bool,
) -> BTreeMap<String, BTreeMap<String, Permission>> {
    let mut out: BTreeMap<String, BTreeMap<String, Permission>> = BTreeMap::new();
    let mut grant = |team: &str, repo: &str, p: Permission| {
        if in_scope(repo) {
            let e = out
                .entry(team.to_string())
                .or_default()
                .entry(repo.to_string())
                .or_insert(p);
            *e = (*e).max(p);
        }
    };
    for (r, t) in specs::<TeamSpec>(model, org) {
        for g in &t.repository_grants {
            grant(&r.name, &g.repository.0, g.permission);
        }
    }
    for (_, p) in specs::<RepositoryPermissionSpec>(model, org) {
        if p.subject_kind == Some(SubjectKind::Team) && p.revoked != Some(true) {
            grant(&p.subject.0, &p.repository.0, p.permission);
        }
    }
    out
}

/// Repositories of `org` on GitHub, with the owner to use: those in the
/// scope of a binding to a GitHub provider, and, under `defaultBackend:
/// github`, those no binding names, on the org's one GitHub binding (the
/// check `default-backend`, KR523, refuses a config where there is not
/// exactly one).
fn github_repos(model: &Model, org: &str) -> BTreeMap<String, (String, Provider)> {
    let mut out = BTreeMap::new();
    let mut providers = Vec::new();
    for (_, binding, p) in model.github_bindings(org) {
        let owner = p
            .config
            .as_ref()
            .and_then(|c| c.get("organization"))
            .and_then(Value::as_str)
            .unwrap_or(org)
            .to_string();
        let auth = |field: &str| {
            p.auth_config
                .as_ref()
                .and_then(|c| c.get(field))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        };
        let info = Provider {
            name: binding.provider_ref.0.clone(),
            endpoint: p.endpoint.clone(),
            owner: owner.clone(),
            credential_ref: Some(PlanCredentialRef {
                namespace: org_namespace(org),
                name: binding.credential_ref.name.clone(),
                key: binding.credential_ref.key.clone(),
            }),
            app_id: auth("appId"),
            installation_id: auth("installationId"),
        };
        for repo in binding.scope.iter().flat_map(|s| s.repositories.iter()) {
            out.insert(repo.0.clone(), (owner.clone(), info.clone()));
        }
        providers.push((owner, info));
    }
    // The unbound ones under `defaultBackend: github`, on the one binding.
    if let [only] = providers.as_slice() {
        for repo in model.github_repositories(org) {
            out.entry(repo.to_string()).or_insert_with(|| only.clone());
        }
    }
    out
}

fn secret_placeholder(org: &str, name: &str, key: &str) -> String {
    format!("${{secret:{}/{name}/{key}}}", org_namespace(org))
}

/// The hook `config` both forges take: url, content type, and the signing
/// secret as a reference the runtime resolves.
fn webhook_config(org: &str, w: &WebhookSubscriptionSpec) -> Value {
    let form = w.content_type == Some(crate::model::repository::ContentType::Form);
    let mut config = json!({ "url": w.url, "content_type": if form { "form" } else { "json" } });
    if let Some(s) = &w.secret_ref {
        config["secret"] = json!(secret_placeholder(org, &s.name, &s.key));
    }
    config
}

/// The resources of `org` of `T`'s kind with their defaulted specs.
fn specs<'m, T: KindSpec + 'm>(
    model: &'m Model,
    org: &'m str,
) -> impl Iterator<Item = (&'m Resource, T)> + 'm {
    model
        .of_kind(T::KIND)
        .filter(move |r| r.org.as_deref() == Some(org))
        .filter_map(|r| {
            let spec = with_defaults(r, r.spec.as_ref()?);
            T::from_spec(spec).map(|s| (r, s))
        })
}

pub fn lower(model: &Model, notes: &mut Notes, diags: &mut Vec<Diagnostic>) -> Vec<Plan> {
    let mut plans = Vec::new();
    for (org, org_r) in model.organizations() {
        let github = github_repos(model, &org);
        let repos: Vec<String> = specs::<RepositorySpec>(model, &org)
            .map(|(r, _)| r.name.clone())
            .collect();
        let on_github = |repo: &str| github.contains_key(repo);
        // Under `defaultBackend: github` an org without repositories has
        // nothing on Gitea either.
        let github_default = model.project.default_backend == Some(crate::project::Backend::Github);
        let all_github =
            (github_default || !repos.is_empty()) && repos.iter().all(|r| on_github(r));
        // An organization whose repositories all live on GitHub needs no Gitea plan.
        if !all_github {
            let mut gitea = gitea::plan(model, &org, org_r, &|r: &str| !on_github(r), notes, diags);
            gitea.file = format!("{org}.json");
            plans.push(gitea);
        }
        if all_github {
            // GitHub plans hooks on repositories only; with no Gitea plan an
            // organization's hook has nowhere to go, which the report says.
            for (r, w) in specs::<WebhookSubscriptionSpec>(model, &org) {
                if w.repository.is_none() {
                    skipped(
                        notes,
                        &org,
                        format!("webhook:{}", r.name),
                        "an organization webhook is not planned on GitHub (kradle manages repository webhooks there): set `spec.repository`, or create it on the organization by hand".into(),
                    );
                }
            }
        }
        if !github.is_empty() {
            let mut gh = github::plan(model, &org, &github, notes);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_stable_and_content_addressed() {
        let a = idempotency_key(
            Action::CreateRepository,
            Method::Post,
            "/orgs/acme/repos",
            &json!({"name": "api"}),
        );
        let b = idempotency_key(
            Action::CreateRepository,
            Method::Post,
            "/orgs/acme/repos",
            &json!({"name": "api"}),
        );
        let c = idempotency_key(
            Action::CreateRepository,
            Method::Post,
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
