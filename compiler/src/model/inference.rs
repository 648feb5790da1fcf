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
    pub version: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PredictorModel {
    pub model_format: ModelFormat,
    /// KradleServingRuntime of the organization.
    pub runtime: Option<Ref>,
    pub storage_uri: Option<String>,
    pub protocol_version: Option<ProtocolVersion>,
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
    pub model: PredictorModel,
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleInferenceServiceSpec {
    pub organization_ref: Option<Ref>,
    pub predictor: Predictor,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupportedModelFormat {
    pub name: String,
    pub version: Option<String>,
    pub auto_select: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleServingRuntimeSpec {
    pub organization_ref: Option<Ref>,
    pub supported_model_formats: Vec<SupportedModelFormat>,
    /// Serving containers, in Kubernetes container shape.
    pub containers: Vec<Any>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol_versions: Vec<ProtocolVersion>,
    pub multi_model: Option<bool>,
}
