//! rbac: agent identities as native Kubernetes RBAC.
//!
//! AgentServiceAccount → ServiceAccount; AgentRoleBinding → RoleBinding in
//! the organization's namespace (never a ClusterRoleBinding: spec §4.2, and
//! the check refuses `scope: cluster`); AgentSecretGrant / AgentConfigGrant → a Role that
//! allows `get` on exactly the named Secret/ConfigMap, bound to the subject's
//! ServiceAccount.

use serde_json::{Value, json};

use crate::model::common::ObjectKeysRef;
use crate::model::identity::{AgentServiceAccountSpec, BindingScope, RoleKind, UserSpec};
use crate::model::{Model, Resource};
use crate::model::{Spec, org_namespace};

use super::{InOrg, Object, Origin, Wave, base_labels, in_orgs, object, wave_annotation};

const RBAC: &str = "rbac.authorization.k8s.io/v1";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The Kubernetes ServiceAccount name of an AgentServiceAccount.
pub fn service_account_name(model: &Model, org: &str, agent_sa: &str) -> String {
    match model.get::<AgentServiceAccountSpec>(Some(org), agent_sa) {
        Some((_, s)) => s.service_account_name.clone(),
        None => agent_sa.to_string(),
    }
}

fn sa_subject(model: &Model, org: &str, agent_sa: &str) -> Value {
    json!({
        "kind": "ServiceAccount",
        "name": service_account_name(model, org, agent_sa),
        "namespace": org_namespace(org),
    })
}

fn user_subject(model: &Model, org: &str, user: &str) -> Value {
    let name = model
        .get::<UserSpec>(Some(org), user)
        .and_then(|(_, u)| u.username.clone())
        .unwrap_or_else(|| user.to_string());
    json!({ "kind": "User", "apiGroup": RBAC_GROUP, "name": name })
}

fn role_kind(k: RoleKind) -> &'static str {
    match k {
        RoleKind::Role => "Role",
        RoleKind::ClusterRole => "ClusterRole",
    }
}

fn dir(org: &str) -> String {
    format!("orgs/{org}/rbac")
}

pub fn lower(model: &Model) -> Vec<Object> {
    let mut out = Vec::new();
    let wave = wave_annotation(Wave::Rbac);
    for InOrg {
        r,
        org,
        spec,
        ns,
        labels,
        ..
    } in in_orgs(model, "rbac")
    {
        match spec {
            Spec::AgentServiceAccount(s) => out.push(Object {
                origin: Origin::of(r),
                dir: dir(org),
                value: object(
                    "v1",
                    "ServiceAccount",
                    &s.service_account_name,
                    Some(&ns),
                    &labels,
                    &wave,
                    vec![],
                ),
            }),
            Spec::AgentRoleBinding(s) => {
                // A disabled User keeps no binding (KR519 warns).
                if s.subject.kind.as_deref() == Some("User")
                    && !super::forge::user_active(model, org, &s.subject.name)
                {
                    continue;
                }
                let subject = match s.subject.kind.as_deref() {
                    Some("User") => user_subject(model, org, &s.subject.name),
                    _ => sa_subject(model, org, &s.subject.name),
                };
                let role_ref = json!({ "apiGroup": RBAC_GROUP, "kind": role_kind(s.role_ref.kind), "name": s.role_ref.name });
                let body = vec![("roleRef", role_ref), ("subjects", json!([subject]))];
                // The check refuses `scope: cluster` (KR516); an organization
                // never gets a ClusterRoleBinding, even from a model that skipped it.
                if s.scope != BindingScope::Namespace {
                    continue;
                }
                out.push(Object {
                    origin: Origin::of(r),
                    dir: dir(org),
                    value: object(
                        RBAC,
                        "RoleBinding",
                        &r.name,
                        Some(&ns),
                        &labels,
                        &wave,
                        body,
                    ),
                });
            }
            Spec::AgentSecretGrant(s) => out.extend(grant(
                model,
                r,
                org,
                "secret",
                "secrets",
                &s.secret_ref,
                s.subject.name(),
            )),
            Spec::AgentConfigGrant(s) => out.extend(grant(
                model,
                r,
                org,
                "config",
                "configmaps",
                &s.config_map_ref,
                s.subject.name(),
            )),
            _ => {}
        }
    }
    out.extend(runtime_bindings(model));
    out
}

/// The RoleBinding `kradle-runtime` in each org namespace, when
/// `kradle.yaml` names the runtime's ServiceAccount: its rights (the
/// chart's ClusterRole) there and nowhere else.
fn runtime_bindings(model: &Model) -> Vec<Object> {
    let Some(runtime) = &model.project.runtime else {
        return Vec::new();
    };
    let Some(sa) = &runtime.service_account else {
        return Vec::new();
    };
    let role = runtime.cluster_role.as_deref().unwrap_or("kradle-org");
    model
        .organizations()
        .map(|(slug, org)| Object {
            origin: Origin::of(org),
            dir: dir(&slug),
            value: object(
                RBAC,
                "RoleBinding",
                "kradle-runtime",
                Some(&org_namespace(&slug)),
                &base_labels(Some(&slug)),
                &wave_annotation(Wave::Rbac),
                vec![
                    (
                        "roleRef",
                        json!({ "apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role }),
                    ),
                    (
                        "subjects",
                        json!([{ "kind": "ServiceAccount", "name": sa.name, "namespace": sa.namespace }]),
                    ),
                ],
            ),
        })
        .collect()
}

/// A Role allowing `get` on exactly one object, and its RoleBinding.
fn grant(
    model: &Model,
    r: &Resource,
    org: &str,
    prefix: &str,
    resource: &str,
    target: &ObjectKeysRef,
    subject: &str,
) -> Vec<Object> {
    let ns = org_namespace(org);
    let name = super::object_name(&format!("kradle-{prefix}-{}", r.name));
    let labels = base_labels(Some(org));
    let wave = wave_annotation(Wave::Rbac);
    let rules = json!([{
        "apiGroups": [""],
        "resources": [resource],
        "resourceNames": [target.name],
        "verbs": ["get"],
    }]);
    let role = object(
        RBAC,
        "Role",
        &name,
        Some(&ns),
        &labels,
        &wave,
        vec![("rules", rules)],
    );
    let binding = object(
        RBAC,
        "RoleBinding",
        &name,
        Some(&ns),
        &labels,
        &wave,
        vec![
            (
                "roleRef",
                json!({ "apiGroup": RBAC_GROUP, "kind": "Role", "name": name }),
            ),
            ("subjects", json!([sa_subject(model, org, subject)])),
        ],
    );
    vec![
        Object {
            dir: dir(org),
            value: role,
            origin: Origin::of(r),
        },
        Object {
            dir: dir(org),
            value: binding,
            origin: Origin::of(r),
        },
    ]
}
