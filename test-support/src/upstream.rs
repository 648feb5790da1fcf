//! The official API descriptions in `testdata/upstream` (Gitea's swagger,
//! GitHub's OpenAPI, trimmed to the paths kradle uses; see
//! `testdata/upstream/trim.py`), to check requests against: the method and
//! path exist, and the JSON body matches the documented schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The workspace root (this crate's parent directory).
pub fn workspace() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap().to_path_buf()
}

/// The upstream test oracles the repository carries (`testdata/upstream`).
pub fn upstream() -> PathBuf {
    workspace().join("testdata/upstream")
}

fn load_json(path: &std::path::Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Turns an OpenAPI 3.0 / Swagger 2.0 schema into JSON Schema: `nullable`
/// becomes a null type, and `$ref`s point where the root keeps the components.
pub fn openapi_to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                if k == "nullable" || k == "example" || k == "x-github" {
                    continue;
                }
                out.insert(k.clone(), openapi_to_json_schema(x));
            }
            if m.get("nullable") == Some(&json!(true)) {
                let inner = Value::Object(out);
                return json!({ "anyOf": [inner, { "type": "null" }] });
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(openapi_to_json_schema).collect()),
        other => other.clone(),
    }
}

/// Whether `path` (no query) fits the description's `template`.
pub fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
}

/// One API description.
#[derive(Clone)]
pub struct Api {
    spec: Arc<Value>,
    github: bool,
    validators: Arc<Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>>,
}

impl Api {
    pub fn gitea() -> Api {
        Api::new(load_json(&upstream().join("gitea/swagger.v1.json")), false)
    }

    pub fn github() -> Api {
        Api::new(
            load_json(&upstream().join("github/api.github.com.json")),
            true,
        )
    }

    fn new(spec: Value, github: bool) -> Api {
        Api {
            spec: Arc::new(spec),
            github,
            validators: Arc::default(),
        }
    }

    pub fn spec(&self) -> &Value {
        &self.spec
    }

    /// The path template and operation of `method path`, preferring the
    /// template with the fewest parameters.
    fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let method = method.to_ascii_lowercase();
        let mut candidates: Vec<(&String, &Value)> = self.spec["paths"]
            .as_object()?
            .iter()
            .filter(|(t, item)| path_matches(t, path) && item.get(&method).is_some())
            .collect();
        candidates.sort_by_key(|(t, _)| t.matches('{').count());
        candidates
            .into_iter()
            .next()
            .map(|(t, item)| (t.as_str(), &item[&method]))
    }

    pub fn has(&self, method: &str, path: &str) -> bool {
        self.operation(method, path).is_some()
    }

    /// The JSON Schema of the request body of `method path`.
    pub fn body_schema(&self, method: &str, path: &str) -> Option<Value> {
        let (_, op) = self.operation(method, path)?;
        if self.github {
            let schema = op.pointer("/requestBody/content/application~1json/schema")?;
            let mut root = openapi_to_json_schema(schema);
            root["components"] =
                json!({ "schemas": openapi_to_json_schema(&self.spec["components"]["schemas"]) });
            Some(root)
        } else {
            let body = op["parameters"]
                .as_array()?
                .iter()
                .find(|p| p["in"] == "body")?;
            let mut root = openapi_to_json_schema(&body["schema"]);
            root["definitions"] = openapi_to_json_schema(&self.spec["definitions"]);
            Some(root)
        }
    }

    /// Checks one request; the problems, if any.
    pub fn check(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(), String> {
        let Some((template, _)) = self.operation(method, path) else {
            return Err(format!("{method} {path} is not in the API description"));
        };
        let Some(body) = body.filter(|b| !b.is_null()) else {
            return Ok(());
        };
        let key = format!("{method} {template}");
        let validator = {
            let mut cache = self.validators.lock().unwrap();
            cache
                .entry(key)
                .or_insert_with(|| {
                    self.body_schema(method, path)
                        .map(|s| Arc::new(jsonschema::validator_for(&s).unwrap()))
                })
                .clone()
        };
        let Some(validator) = validator else {
            return Err(format!("{method} {path} takes no JSON body"));
        };
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{method} {path}: {}", errors.join("; ")))
        }
    }
}
