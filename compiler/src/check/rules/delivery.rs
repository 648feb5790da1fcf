//! `repository-delivery` (KR518): KubeVela delivery specs.
//!
//! What it checks: a Repository's `spec.delivery`, and a hand-written
//! KubeVela Application's `spec`, have KubeVela's application shape: a
//! mapping of `components` (non-empty, each with `name` and `type`),
//! `policies` and `workflow`. An Application may not have the name of a
//! Repository whose delivery already generates it.
//!
//! Why: KubeVela rejects the Application otherwise, after Argo CD has
//! synced it; two sources for one Application would replace each other.
//!
//! Example:
//! ```yaml
//! kind: Repository
//! spec:
//!   delivery: { components: [{ name: api }] }   # KR518: no `type`
//! ```

use crate::diagnostics::{Code, Diagnostic};
use crate::model::repository::RepositorySpec;

use super::{Ctx, Model};

pub(super) fn repository(d: &mut Ctx<'_, '_>, s: &RepositorySpec) {
    if let Some(delivery) = &s.delivery {
        shape(d, delivery, "/spec/delivery");
    }
}

pub(super) fn application(model: &Model, d: &mut Ctx<'_, '_>, spec: &serde_json::Value) {
    shape(d, spec, "/spec");
    // The Application a Repository's delivery generates has the repository's name.
    let generated = model
        .get::<RepositorySpec>(d.r.org.as_deref(), &d.r.name)
        .filter(|(_, s)| s.delivery.is_some());
    if let Some((repo, _)) = generated {
        let r = d.r;
        d.push(
            Diagnostic::new(
                Code::RepositoryDelivery,
                format!(
                    "Application `{}` is also generated from Repository `{}`'s delivery",
                    r.name, repo.name
                ),
            )
            .at(r.file, r.span_of("/metadata/name"))
            .related(
                repo.file,
                repo.span_of("/spec/delivery"),
                "the repository's delivery",
            )
            .help("keep one: remove spec.delivery from the repository, or this document"),
        );
    }
}

/// `delivery` is KubeVela's application spec: components with name and type.
fn shape(d: &mut Ctx<'_, '_>, delivery: &serde_json::Value, at: &str) {
    let help = "write KubeVela's shape, e.g. `components: [{ name: api, type: webservice, properties: { image: ... } }]`";
    let Some(map) = delivery.as_object() else {
        d.err(
            Code::RepositoryDelivery,
            at,
            "a delivery spec must be a mapping",
            help,
        );
        return;
    };
    for key in map.keys() {
        if !["components", "policies", "workflow"].contains(&key.as_str()) {
            d.err(
                Code::RepositoryDelivery,
                &format!("{at}/{key}"),
                &format!("unknown field `{key}` in the KubeVela application spec"),
                "a KubeVela application spec takes components, policies and workflow",
            );
        }
    }
    match map.get("components").and_then(|c| c.as_array()) {
        Some(components) if !components.is_empty() => {
            for (i, c) in components.iter().enumerate() {
                for field in ["name", "type"] {
                    if c.get(field)
                        .and_then(|v| v.as_str())
                        .is_none_or(str::is_empty)
                    {
                        d.err(
                            Code::RepositoryDelivery,
                            &format!("{at}/components/{i}"),
                            &format!("delivery component {i} has no `{field}`"),
                            help,
                        );
                    }
                }
            }
        }
        _ => d.err(
            Code::RepositoryDelivery,
            at,
            "a KubeVela application spec needs a non-empty `components` list",
            help,
        ),
    }
}
