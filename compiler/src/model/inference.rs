//! Inference domain (spec Part 10): wrappers around KServe.

use super::common::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelFormat {
    /// e.g. sklearn, pytorch, onnx, huggingface.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PredictorModel {
    pub model_format: ModelFormat,
    /// KradleServingRuntime of the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Any>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolVersion {
    V1,
    V2,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Predictor {
    pub model: PredictorModel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleInferenceServiceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub predictor: Predictor,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupportedModelFormat {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_select: Option<bool>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KradleServingRuntimeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<Ref>,
    pub supported_model_formats: Vec<SupportedModelFormat>,
    /// Serving containers, in Kubernetes container shape.
    pub containers: Vec<Any>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol_versions: Vec<ProtocolVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_model: Option<bool>,
}
