//! inference (spec Part 10): KradleInferenceService → KServe InferenceService
//! (`serving.kserve.io/v1beta1`), KradleServingRuntime → ServingRuntime
//! (`serving.kserve.io/v1alpha1`), in the org namespace.

use serde_json::{Map, json};

use crate::model::Model;
use crate::model::Spec;
use crate::model::inference::ProtocolVersion;

use super::{InOrg, Object, Origin, Wave, in_orgs, object, wave_annotation};

fn protocol(p: ProtocolVersion) -> &'static str {
    match p {
        ProtocolVersion::V1 => "v1",
        ProtocolVersion::V2 => "v2",
    }
}

pub fn lower(model: &Model) -> Vec<Object> {
    let mut out = Vec::new();
    let wave = wave_annotation(Wave::Resources);
    for InOrg {
        r,
        spec,
        ns,
        labels,
        dir,
        ..
    } in in_orgs(model, "inference")
    {
        match spec {
            Spec::KradleInferenceService(s) => {
                let m = &s.predictor.model;
                let mut model_json = Map::new();
                let mut format = Map::new();
                format.insert("name".into(), json!(m.model_format.name));
                if let Some(v) = &m.model_format.version {
                    format.insert("version".into(), json!(v));
                }
                model_json.insert("modelFormat".into(), format.into());
                if let Some(rt) = &m.runtime {
                    model_json.insert("runtime".into(), json!(rt.0));
                }
                if let Some(uri) = &m.storage_uri {
                    model_json.insert("storageUri".into(), json!(uri));
                }
                if let Some(p) = m.protocol_version {
                    model_json.insert("protocolVersion".into(), json!(protocol(p)));
                }
                if let Some(res) = &m.resources {
                    model_json.insert("resources".into(), res.clone());
                }
                let mut predictor = Map::new();
                if let Some(n) = s.predictor.min_replicas {
                    predictor.insert("minReplicas".into(), json!(n));
                }
                if let Some(n) = s.predictor.max_replicas {
                    predictor.insert("maxReplicas".into(), json!(n));
                }
                predictor.insert("model".into(), model_json.into());
                out.push(Object {
                    origin: Origin::of(r),
                    dir: dir.clone(),
                    value: object(
                        "serving.kserve.io/v1beta1",
                        "InferenceService",
                        &r.name,
                        Some(&ns),
                        &labels,
                        &wave,
                        vec![("spec", json!({ "predictor": predictor }))],
                    ),
                });
            }
            Spec::KradleServingRuntime(s) => {
                let mut spec = Map::new();
                spec.insert(
                    "supportedModelFormats".into(),
                    json!(s.supported_model_formats),
                );
                if !s.protocol_versions.is_empty() {
                    let p: Vec<&str> = s.protocol_versions.iter().map(|p| protocol(*p)).collect();
                    spec.insert("protocolVersions".into(), json!(p));
                }
                if let Some(mm) = s.multi_model {
                    spec.insert("multiModel".into(), json!(mm));
                }
                spec.insert("containers".into(), json!(s.containers));
                out.push(Object {
                    origin: Origin::of(r),
                    dir: dir.clone(),
                    value: object(
                        "serving.kserve.io/v1alpha1",
                        "ServingRuntime",
                        &r.name,
                        Some(&ns),
                        &labels,
                        &wave,
                        vec![("spec", spec.into())],
                    ),
                });
            }
            _ => {}
        }
    }
    out
}
