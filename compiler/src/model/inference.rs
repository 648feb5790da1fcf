//! Inference domain (spec Part 10): wrappers around KServe.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelFormat {
    /// e.g. sklearn, pytorch, onnx, huggingface.
    pub name: String,
    /// Format version.
    pub version: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PredictorModel {
    /// Format of the model; it picks the serving runtime when none is named.
    pub model_format: ModelFormat,
    /// KradleServingRuntime of the organization.
    pub runtime: Option<Ref>,
    /// Where the model is stored (`s3://`, `gs://`, `pvc://`, `hf://`...).
    pub storage_uri: Option<String>,
    /// Inference protocol the model is served with.
    pub protocol_version: Option<ProtocolVersion>,
    /// Pod resources of the model server, in Kubernetes shape.
    pub resources: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolVersion {
    V1,
    V2,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Predictor {
    /// The model served.
    pub model: PredictorModel,
    /// Replicas kept at least (0 scales to zero).
    pub min_replicas: Option<u32>,
    /// Replicas at most.
    pub max_replicas: Option<u32>,
}

/// A model served in the cluster; lowered to a KServe InferenceService.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleInferenceServiceSpec {
    pub organization_ref: Option<Ref>,
    /// The model and how it scales; lowered to a KServe InferenceService.
    pub predictor: Predictor,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupportedModelFormat {
    /// Model format name (e.g. `sklearn`, `onnx`).
    pub name: String,
    /// Format version.
    pub version: Option<String>,
    /// Pick this runtime automatically for models of this format.
    pub auto_select: Option<bool>,
}

/// A model server for some model formats; lowered to a KServe
/// ServingRuntime.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleServingRuntimeSpec {
    pub organization_ref: Option<Ref>,
    /// Model formats the runtime serves; lowered to a KServe ServingRuntime.
    pub supported_model_formats: Vec<SupportedModelFormat>,
    /// Serving containers, in Kubernetes container shape.
    pub containers: Vec<Any>,
    /// Inference protocols the runtime speaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol_versions: Vec<ProtocolVersion>,
    /// Serves several models per server (ModelMesh).
    pub multi_model: Option<bool>,
}
