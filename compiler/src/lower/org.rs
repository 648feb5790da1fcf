//! org: per Organization, the three objects of the spec's createOrganization():
//! the Namespace `kradle-org-<slug>` with the org labels (plus the binding's
//! `spec.labels`), and — in the platform namespace — the Organization and its
//! OrgNamespaceBinding. Declared ones are normalized by the `resources` pass;
//! this pass adds the Namespace and a binding when none is declared.

use serde_json::json;

use crate::model::Model;
use crate::model::identity::OrgNamespaceBindingSpec;
use crate::model::{API_VERSION, org_namespace};

use super::{Object, Origin, Wave, base_labels, object, wave_annotation};

pub fn lower(model: &Model) -> Vec<Object> {
    let platform_ns = model.project.platform_namespace();
    let mut out = Vec::new();
    for (slug, org) in model.organizations() {
        let binding = model
            .all::<OrgNamespaceBindingSpec>()
            .find(|(b, _)| b.org_slug().as_deref() == Some(&slug))
            .map(|(_, s)| s);
        let create = binding.and_then(|b| b.create_namespace).unwrap_or(true);
        if create {
            let mut labels = base_labels(Some(&slug));
            if let Some(b) = binding {
                for (k, v) in &b.labels {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            out.push(Object {
                origin: Origin::of(org),
                dir: "platform/namespaces".into(),
                value: object(
                    "v1",
                    "Namespace",
                    &org_namespace(&slug),
                    None,
                    &labels,
                    &wave_annotation(Wave::Namespaces),
                    vec![],
                ),
            });
        }
        if binding.is_none() {
            out.push(Object {
                origin: Origin::of(org),
                dir: "platform/resources".into(),
                value: object(
                    API_VERSION,
                    "OrgNamespaceBinding",
                    &slug,
                    Some(platform_ns),
                    &base_labels(Some(&slug)),
                    &wave_annotation(Wave::Resources),
                    vec![(
                        "spec",
                        json!({
                            "organizationRef": slug,
                            "namespace": org_namespace(&slug),
                            "createNamespace": true,
                        }),
                    )],
                ),
            });
        }
    }
    out
}
