//! workspaces: KradleWorkspace → PersistentVolumeClaim `kradle-ws-<name>`
//! (spec §1.6 PVC Generation), with the spec's defaults: storage class
//! `standard`, `10Gi`, `ReadWriteOnce`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::model::Model;
use crate::model::workspace::KradleWorkspaceSpec;
use crate::model::{Kind, KindSpec, org_namespace};

use super::resources::with_defaults;
use super::{Object, Origin, Wave, base_labels, object, wave_annotation};

pub fn lower(model: &Model) -> Vec<Object> {
    let mut out = Vec::new();
    for r in model.of_kind(Kind::KradleWorkspace) {
        let (Some(org), Some(spec)) = (r.org.as_deref(), &r.spec) else {
            continue;
        };
        let Some(s) = KradleWorkspaceSpec::from_spec(with_defaults(r, spec)) else {
            continue;
        };
        let mut labels: BTreeMap<String, String> = base_labels(Some(org));
        labels.insert(
            "kradle.a5c.ai/workspace".into(),
            super::label_value(&r.name),
        );
        labels.insert(
            "kradle.a5c.ai/repository".into(),
            super::label_value(&s.repository.0),
        );
        let v = &s.volume_spec;
        let pvc = object(
            "v1",
            "PersistentVolumeClaim",
            s.pvc_name.as_deref().unwrap_or_default(),
            Some(&org_namespace(org)),
            &labels,
            &wave_annotation(Wave::Resources),
            vec![(
                "spec",
                json!({
                    "accessModes": v.access_modes,
                    "storageClassName": v.storage_class_name,
                    "resources": { "requests": { "storage": v.capacity } },
                }),
            )],
        );
        out.push(Object {
            origin: Origin::of(r),
            dir: format!("orgs/{org}/workspaces"),
            value: pvc,
        });
    }
    out
}
