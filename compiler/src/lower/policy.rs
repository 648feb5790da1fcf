//! policy: Kyverno policies from templates and bindings.
//!
//! Each PolicyBinding — and each default template of a PolicyProfile, bound
//! with the profile's mode — becomes a Kyverno `Policy` in the org namespace
//! (a `ClusterPolicy` when the template says `clusterScoped: true`). The
//! template's body is rendered with `[[ params.NAME ]]` from the binding's
//! parameters over the template's defaults. Mode `audit`/`enforce` sets every
//! validate rule's `failureAction` (the field of the upstream Kyverno schema;
//! the policy-level `validationFailureAction` is deprecated); `disabled`
//! produces nothing. The binding's scope narrows every rule's match.
//!
//! A ClusterPolicy (needed for cluster-scoped kinds) is still confined to the
//! binding's organization: its match filters name only the org namespace.
//!
//! A PolicyExceptionRequest with an Approved decision whose `expiresAt` is
//! after now becomes a Kyverno PolicyException (kyverno.io/v2) for the
//! binding's policy and rules; the others are listed in the report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::diagnostics::{Code, Diagnostic};
use crate::model::org_namespace;
use crate::model::policy::{
    DecisionPhase, PolicyBindingSpec, PolicyExceptionRequestSpec, PolicyMode, PolicyProfileSpec,
    PolicyScope, PolicyTemplateSpec,
};
use crate::model::{Model, Resource};

use super::report::{Notes, SkippedException};
use super::{BuildOptions, Object, Origin, Wave, base_labels, object, wave_annotation};

const KYVERNO_V1: &str = "kyverno.io/v1";
const KYVERNO_V2: &str = "kyverno.io/v2";

/// A policy this pass produced, so exceptions can name it.
struct Produced {
    name: String,
    namespace: Option<String>,
    rule_names: Vec<String>,
    target_kinds: Vec<String>,
}

fn template<'m>(model: &'m Model, org: &str, name: &str) -> Option<&'m PolicyTemplateSpec> {
    model
        .get::<PolicyTemplateSpec>(Some(org), name)
        .or_else(|| model.get::<PolicyTemplateSpec>(None, name))
        .map(|(_, t)| t)
}

fn failure_action(mode: PolicyMode) -> Option<&'static str> {
    match mode {
        PolicyMode::Audit => Some("Audit"),
        PolicyMode::Enforce => Some("Enforce"),
        PolicyMode::Disabled => None,
    }
}

/// Adds the binding scope to every match block of every rule.
fn apply_scope(rules: &mut [Value], scope: &PolicyScope) {
    let mut expressions = Vec::new();
    if !scope.repositories.is_empty() {
        let mut repos: Vec<String> = scope
            .repositories
            .iter()
            .map(|r| super::label_value(&r.0))
            .collect();
        repos.sort();
        expressions
            .push(json!({ "key": "kradle.a5c.ai/repository", "operator": "In", "values": repos }));
    }
    if !scope.environments.is_empty() {
        let mut envs = scope.environments.clone();
        envs.sort();
        expressions
            .push(json!({ "key": "kradle.a5c.ai/environment", "operator": "In", "values": envs }));
    }
    if expressions.is_empty() && scope.labels.is_empty() {
        return;
    }
    for rule in rules {
        for block in ["any", "all"] {
            if let Some(Value::Array(filters)) = rule.pointer_mut(&format!("/match/{block}")) {
                for f in filters {
                    narrow(f, &expressions, &scope.labels);
                }
            }
        }
        if let Some(resources) = rule.pointer_mut("/match/resources") {
            let mut wrapper = json!({ "resources": resources.take() });
            narrow(&mut wrapper, &expressions, &scope.labels);
            *resources = wrapper["resources"].take();
        }
    }
}

/// A ClusterPolicy bound by one organization must not reach the others:
/// every match filter is limited to the organization's namespace (for the
/// Namespace kind itself, Kyverno matches the namespace's own name).
fn confine_to_namespace(rules: &mut [Value], namespace: &str) {
    for rule in rules {
        for block in ["any", "all"] {
            if let Some(Value::Array(filters)) = rule.pointer_mut(&format!("/match/{block}")) {
                for f in filters {
                    if let Some(res) = f.get_mut("resources").and_then(Value::as_object_mut) {
                        res.insert("namespaces".into(), json!([namespace]));
                    }
                }
            }
        }
        if let Some(res) = rule
            .pointer_mut("/match/resources")
            .and_then(Value::as_object_mut)
        {
            res.insert("namespaces".into(), json!([namespace]));
        }
    }
}

fn narrow(filter: &mut Value, expressions: &[Value], labels: &BTreeMap<String, String>) {
    let Some(f) = filter.as_object_mut() else {
        return;
    };
    let resources = f.entry("resources").or_insert_with(|| json!({}));
    let Some(resources) = resources.as_object_mut() else {
        return;
    };
    let selector = resources.entry("selector").or_insert_with(|| json!({}));
    let Some(selector) = selector.as_object_mut() else {
        return;
    };
    if !labels.is_empty() {
        let ml = selector.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(ml) = ml.as_object_mut() {
            for (k, v) in labels {
                ml.insert(k.clone(), json!(v));
            }
        }
    }
    if !expressions.is_empty() {
        let me = selector
            .entry("matchExpressions")
            .or_insert_with(|| json!([]));
        if let Some(me) = me.as_array_mut() {
            me.extend(expressions.iter().cloned());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn policy(
    r: &Resource,
    org: &str,
    name: &str,
    t: &PolicyTemplateSpec,
    template_name: &str,
    mode: PolicyMode,
    scope: Option<&PolicyScope>,
    given: &BTreeMap<String, Value>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Object, Produced)> {
    let action = failure_action(mode)?;
    let mut params: BTreeMap<String, Value> = t
        .parameters
        .iter()
        .filter_map(|(k, p)| {
            p.default
                .clone()
                .filter(|v| !v.is_null())
                .map(|v| (k.clone(), v))
        })
        .collect();
    params.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut body = match crate::template::render(&t.kyverno, &params) {
        Ok(b) => b,
        Err(e) => {
            diags.push(
                Diagnostic::new(
                    Code::PolicyParameter,
                    format!("PolicyTemplate `{template_name}` does not render for `{name}`: {e}"),
                )
                .at(r.file, r.span_of("/metadata/name"))
                .help("every `[[ params.NAME ]]` needs a template default or a binding parameter"),
            );
            return None;
        }
    };
    let mut rule_names = Vec::new();
    if let Some(Value::Array(rules)) = body.get_mut("rules") {
        for rule in rules.iter_mut() {
            if let Some(n) = rule.get("name").and_then(Value::as_str) {
                rule_names.push(n.to_string());
            }
            if let Some(v) = rule.get_mut("validate").and_then(Value::as_object_mut) {
                v.insert("failureAction".into(), json!(action));
            }
        }
        if let Some(scope) = scope {
            apply_scope(rules, scope);
        }
        if t.cluster_scoped == Some(true) {
            confine_to_namespace(rules, &org_namespace(org));
        }
    }
    if let Some(b) = body.as_object_mut() {
        // The deprecated policy-level field would override nothing but confuse readers.
        b.remove("validationFailureAction");
    }
    let cluster = t.cluster_scoped == Some(true);
    let (kind, obj_name, namespace, dir) = if cluster {
        (
            "ClusterPolicy",
            // Kyverno policy names are also label values in its reports.
            super::label_value(&format!("kradle-{org}-{name}")),
            None,
            "platform/cluster".to_string(),
        )
    } else {
        (
            "Policy",
            super::label_value(name),
            Some(org_namespace(org)),
            format!("orgs/{org}/policy"),
        )
    };
    let mut labels = base_labels(Some(org));
    labels.insert(
        "kradle.a5c.ai/policy-template".into(),
        super::label_value(template_name),
    );
    labels.insert(
        "kradle.a5c.ai/policy-mode".into(),
        format!("{mode:?}").to_ascii_lowercase(),
    );
    let mut annotations = wave_annotation(Wave::Policies);
    annotations.insert("policies.kyverno.io/title".into(), t.display_name.clone());
    if let Some(sev) = t.severity {
        annotations.insert(
            "policies.kyverno.io/severity".into(),
            format!("{sev:?}").to_ascii_lowercase(),
        );
    }
    if let Some(rem) = &t.remediation {
        annotations.insert("policies.kyverno.io/description".into(), rem.clone());
    }
    annotations.insert(
        "policies.kyverno.io/subject".into(),
        t.target_kinds.join(", "),
    );
    let value = object(
        KYVERNO_V1,
        kind,
        &obj_name,
        namespace.as_deref(),
        &labels,
        &annotations,
        vec![("spec", body)],
    );
    Some((
        Object {
            dir,
            value,
            origin: Origin::of(r),
        },
        Produced {
            name: obj_name,
            namespace,
            rule_names,
            target_kinds: t.target_kinds.clone(),
        },
    ))
}

pub fn lower(
    model: &Model,
    options: &BuildOptions,
    notes: &mut Notes,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Object> {
    let mut out = Vec::new();
    // (org, binding name) → the policy produced for it.
    let mut produced: BTreeMap<(String, String), Produced> = BTreeMap::new();

    for (r, b) in model.all::<PolicyBindingSpec>() {
        let Some(org) = r.org.as_deref() else {
            continue;
        };
        let Some(t) = template(model, org, b.template_ref.name()) else {
            continue;
        };
        if b.mode == PolicyMode::Enforce {
            notes.enforce_orgs.insert(org.to_string());
        }
        if let Some((o, p)) = policy(
            r,
            org,
            &r.name,
            t,
            b.template_ref.name(),
            b.mode,
            b.scope.as_ref(),
            &b.parameters,
            diags,
        ) {
            out.push(o);
            produced.insert((org.to_string(), r.name.clone()), p);
        }
    }

    for (r, p) in model.all::<PolicyProfileSpec>() {
        let Some(org) = r.org.as_deref() else {
            continue;
        };
        if p.mode == PolicyMode::Enforce && !p.default_templates.is_empty() {
            notes.enforce_orgs.insert(org.to_string());
        }
        for tref in &p.default_templates {
            let Some(t) = template(model, org, tref.name()) else {
                continue;
            };
            let name = format!("{}-{}", r.name, tref.name());
            if let Some((o, _)) = policy(
                r,
                org,
                &name,
                t,
                tref.name(),
                p.mode,
                None,
                &BTreeMap::new(),
                diags,
            ) {
                out.push(o);
            }
        }
    }

    for (r, e) in model.all::<PolicyExceptionRequestSpec>() {
        let Some(org) = r.org.as_deref() else {
            continue;
        };
        let expires = DateTime::parse_from_rfc3339(&e.expires_at)
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let reason = match (&e.decision, expires) {
            (None, _) => Some("pending"),
            (Some(d), _) if d.phase == DecisionPhase::Denied => Some("denied"),
            (Some(d), _) if d.phase == DecisionPhase::Revoked => Some("revoked"),
            (_, Some(t)) if t <= options.now => Some("expired"),
            (_, None) => Some("invalid-expiry"),
            _ => None,
        };
        let policy = produced.get(&(org.to_string(), e.policy_ref.0.clone()));
        let reason = reason.or(if policy.is_none() {
            Some("binding-produces-no-policy")
        } else {
            None
        });
        match (reason, policy) {
            (None, Some(p)) => {
                let policy_name = match &p.namespace {
                    Some(ns) => format!("{ns}/{}", p.name),
                    None => p.name.clone(),
                };
                let rules = if e.rules.is_empty() {
                    p.rule_names.clone()
                } else {
                    e.rules.clone()
                };
                let mut labels = base_labels(Some(org));
                labels.insert(
                    "kradle.a5c.ai/policy-binding".into(),
                    super::label_value(&e.policy_ref.0),
                );
                // Kyverno's cleanup controller deletes the exception at its expiry,
                // even before the next render drops it (Go layout 2006-01-02T150405Z).
                if let Some(t) = expires {
                    labels.insert(
                        "cleanup.kyverno.io/ttl".into(),
                        t.format("%Y-%m-%dT%H%M%SZ").to_string(),
                    );
                }
                let mut annotations = wave_annotation(Wave::Policies);
                annotations.insert("kradle.a5c.ai/expires-at".into(), e.expires_at.clone());
                if let Some(d) = &e.decision {
                    annotations.insert("kradle.a5c.ai/approved-by".into(), d.decided_by.clone());
                }
                let spec = json!({
                    "exceptions": [{ "policyName": policy_name, "ruleNames": rules }],
                    "match": { "any": [{ "resources": {
                        "kinds": p.target_kinds,
                        "namespaces": [org_namespace(org)],
                    }}]},
                });
                out.push(Object {
                    origin: Origin::of(r),
                    dir: format!("orgs/{org}/policy"),
                    value: object(
                        KYVERNO_V2,
                        "PolicyException",
                        &r.name,
                        Some(&org_namespace(org)),
                        &labels,
                        &annotations,
                        vec![("spec", spec)],
                    ),
                });
            }
            (reason, _) => notes.skipped_exceptions.push(SkippedException {
                organization: org.to_string(),
                name: r.name.clone(),
                binding: e.policy_ref.0.clone(),
                reason: reason.unwrap_or("binding-produces-no-policy").to_string(),
            }),
        }
    }
    out
}
