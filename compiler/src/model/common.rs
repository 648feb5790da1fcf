//! Shapes shared by many kinds: references, metadata, small policies.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A reference to a resource of the same organization: a plain name, or `{ name }`.
/// Written back in canonical form (a plain name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref(pub String);

impl Ref {
    pub fn name(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RefRepr {
    Name(String),
    Object { name: String },
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match RefRepr::deserialize(d)? {
            RefRepr::Name(n) | RefRepr::Object { name: n } => Ref(n),
        })
    }
}

impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl JsonSchema for Ref {
    fn schema_name() -> Cow<'static, str> {
        "Ref".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reference by name: `name` or `{ name: name }`.",
            "x-kradle-ref": true,
            "anyOf": [
                { "type": "string", "minLength": 1 },
                {
                    "type": "object",
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "description": "Name of the referenced object, in the same organization."
                        }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A reference whose target kind varies: `{ kind, name }`, or a plain name when
/// the field has a default kind.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TypedRef {
    pub kind: Option<String>,
    pub name: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TypedRefRepr {
    Name(String),
    Object {
        #[serde(default)]
        kind: Option<String>,
        name: String,
    },
}

impl<'de> Deserialize<'de> for TypedRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match TypedRefRepr::deserialize(d)? {
            TypedRefRepr::Name(name) => TypedRef { kind: None, name },
            TypedRefRepr::Object { kind, name } => TypedRef { kind, name },
        })
    }
}

impl JsonSchema for TypedRef {
    fn schema_name() -> Cow<'static, str> {
        "TypedRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reference `{ kind, name }` (or a plain name where the field has a default kind).",
            "x-kradle-typed-ref": true,
            "anyOf": [
                { "type": "string", "minLength": 1 },
                {
                    "type": "object",
                    "properties": {
                        "kind": {
                            "type": "string",
                            "minLength": 1,
                            "description": "Kind of the referenced object; the field's default kind when omitted."
                        },
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "description": "Name of the referenced object, in the same organization."
                        }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A key of a Kubernetes Secret: `{ name, key }`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret in the organization namespace.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
}

/// A Secret or ConfigMap, optionally limited to some keys.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectKeysRef {
    /// Name of the Secret or ConfigMap.
    pub name: String,
    /// Its namespace; the organization's namespace when omitted.
    pub namespace: Option<String>,
    /// The keys granted; every key when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// `{ maxRetries, backoffMs }`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts after the first before giving up.
    pub max_retries: Option<u32>,
    /// Wait before the first retry, in milliseconds; doubled on each further retry.
    pub backoff_ms: Option<u64>,
}

/// Pod resource quantities.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceQuantities {
    /// CPU as a Kubernetes quantity (`500m`, `2`).
    pub cpu: Option<String>,
    /// Memory as a Kubernetes quantity (`512Mi`, `4Gi`).
    pub memory: Option<String>,
}

/// `metadata` of a config document.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Name of the resource (DNS-1123 subdomain).
    pub name: String,
    /// Must be the organization's namespace (or the platform namespace) when set.
    pub namespace: Option<String>,
    /// Kubernetes labels, copied to the lowered objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Kubernetes annotations, copied to the lowered objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Free-form JSON (Kyverno bodies, provider config, ...).
pub type Any = serde_json::Value;

/// Labels as a string map.
pub type Labels = BTreeMap<String, String>;
