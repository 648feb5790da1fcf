//! A policy bound by an organization that targets cluster-scoped kinds.
//!
//! What it checks: a PolicyBinding or PolicyProfile of an organization whose
//! PolicyTemplate names a cluster-scoped kind (Namespace, ClusterRole,
//! Node, ...) in `targetKinds` or in the `kinds` of a rule's match.
//!
//! Why: a policy from an organization's binding is confined to the
//! organization's namespace, so one tenant never constrains another. A
//! cluster-scoped object has no namespace: the confined policy would match
//! nothing and enforce nothing, while the config says it does.
//!
//! Example:
//! ```yaml
//! kind: PolicyTemplate
//! metadata: { name: ns-labels }
//! spec: { targetKinds: [Namespace], clusterScoped: true, ... }
//! ---
//! kind: PolicyBinding
//! spec: { templateRef: ns-labels }   # KR521
//! ```

use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic};
use crate::model::Spec;
use crate::model::policy::PolicyTemplateSpec;

use super::references::{edges, resolve};
use super::{Model, Resource};

/// Kubernetes kinds that have no namespace (core, RBAC, storage, admission,
/// API registration, scheduling, and the cluster-wide kinds of Kyverno).
pub const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterPolicy",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// The kinds a template acts on: `targetKinds` and every rule's match kinds.
fn kinds(t: &PolicyTemplateSpec) -> Vec<String> {
    let mut out: Vec<String> = t.target_kinds.clone();
    let mut todo = vec![&t.kyverno];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(ks)) = m.get("kinds") {
                    out.extend(ks.iter().filter_map(Value::as_str).map(str::to_string));
                }
                todo.extend(m.values());
            }
            Value::Array(a) => todo.extend(a.iter()),
            _ => {}
        }
    }
    out
}

fn is_cluster_scoped(kind: &str) -> bool {
    // `Group/Version/Kind` and `Version/Kind` forms name the kind last.
    let kind = kind.rsplit('/').next().unwrap_or(kind);
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

pub fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for r in &model.resources {
        let (Some(spec), Some(_)) = (&r.spec, &r.org) else {
            continue;
        };
        if !matches!(spec, Spec::PolicyBinding(_) | Spec::PolicyProfile(_)) {
            continue;
        }
        for edge in edges(spec) {
            let Some(t) = resolve(model, r, &edge) else {
                continue;
            };
            let Some(ts) = t.spec_as::<PolicyTemplateSpec>() else {
                continue;
            };
            if let Some(kind) = kinds(ts).into_iter().find(|k| is_cluster_scoped(k)) {
                diags.push(report(r, &edge.pointer, t, &kind));
            }
        }
    }
}

fn report(r: &Resource, pointer: &str, t: &Resource, kind: &str) -> Diagnostic {
    Diagnostic::new(
        Code::ClusterScopedPolicyTarget,
        format!(
            "PolicyTemplate `{}` targets {kind}, a cluster-scoped kind, which a policy of an organization can never match",
            t.name
        ),
    )
    .at(r.file, r.span_of(pointer))
    .label("bound by an organization")
    .related(t.file, t.span_of("/spec/targetKinds"), "template targets defined here")
    .help("an organization's policies are confined to its namespace; bind templates for namespaced kinds only (cluster-wide policies need a platform-level binding, which kradle does not have yet)")
}
