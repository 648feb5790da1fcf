//! delivery: KubeVela `core.oam.dev/v1beta1` Applications.
//!
//! Each RunnerPool becomes an Application `runner-pool-<name>` with a `worker`
//! component running the pool image (env KRADLE_ORG, resources, service
//! account) and a `scaler` trait with `replicas = warmReplicas`. A
//! Repository's `spec.delivery` (KubeVela's own components, policies,
//! workflow) becomes an Application named after the repository.

use serde_json::{Map, Value, json};

use crate::model::Model;
use crate::model::Spec;

use super::resources::with_defaults;
use super::{InOrg, Object, Origin, Wave, base_labels, in_orgs, object, wave_annotation};

pub const VELA: &str = "core.oam.dev/v1beta1";

pub fn lower(model: &Model) -> Vec<Object> {
    let mut out = Vec::new();
    for InOrg {
        r,
        org,
        spec,
        ns,
        dir,
        ..
    } in in_orgs(model, "delivery")
    {
        match with_defaults(r, spec) {
            Spec::RunnerPool(p) => {
                let mut properties = Map::new();
                properties.insert("image".into(), json!(p.image));
                properties.insert(
                    "env".into(),
                    json!([{ "name": "KRADLE_ORG", "value": org }]),
                );
                if let Some(req) = &p.resource_requests {
                    if let Some(cpu) = &req.cpu {
                        properties.insert("cpu".into(), json!(cpu));
                    }
                    if let Some(mem) = &req.memory {
                        properties.insert("memory".into(), json!(mem));
                    }
                }
                if let Some(lim) = &p.resource_limits {
                    let mut limits = Map::new();
                    if let Some(cpu) = &lim.cpu {
                        limits.insert("cpu".into(), json!(cpu));
                    }
                    if let Some(mem) = &lim.memory {
                        limits.insert("memory".into(), json!(mem));
                    }
                    if !limits.is_empty() {
                        properties.insert("limit".into(), Value::Object(limits));
                    }
                }
                properties.insert("serviceAccountName".into(), json!(p.service_account));
                let mut labels = base_labels(Some(org));
                labels.insert("kradle.a5c.ai/pool".into(), super::label_value(&r.name));
                let spec = json!({
                    "components": [{
                        "name": "worker",
                        "type": "worker",
                        "properties": properties,
                        "traits": [{ "type": "scaler", "properties": { "replicas": p.warm_replicas } }],
                    }],
                });
                out.push(Object {
                    origin: Origin::of(r),
                    dir: dir.clone(),
                    value: object(
                        VELA,
                        "Application",
                        &super::object_name(&format!("runner-pool-{}", r.name)),
                        Some(&ns),
                        &labels,
                        &wave_annotation(Wave::Resources),
                        vec![("spec", spec)],
                    ),
                });
            }
            Spec::Repository(repo) => {
                let Some(delivery) = &repo.delivery else {
                    continue;
                };
                let mut labels = base_labels(Some(org));
                labels.insert(
                    "kradle.a5c.ai/repository".into(),
                    super::label_value(&r.name),
                );
                out.push(Object {
                    origin: Origin::of(r),
                    dir: dir.clone(),
                    value: object(
                        VELA,
                        "Application",
                        &r.name,
                        Some(&ns),
                        &labels,
                        &wave_annotation(Wave::Resources),
                        vec![("spec", delivery.clone())],
                    ),
                });
            }
            _ => {}
        }
    }
    out
}
