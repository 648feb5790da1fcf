//! Secret values: read from a `--secrets` file or from the cluster's
//! Secrets ([`kubernetes`]), held in a type that never prints its value,
//! and substituted for the `${secret:<namespace>/<name>/<key>}` placeholders
//! of a plan only at the moment a request is built. Errors name the
//! reference, never a value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use kradle_compiler::forge_plan::{Placeholder, substitute};

/// A secret value. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> SecretValue {
        SecretValue(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("cannot read the secrets file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the secrets file {path} is not valid: {reason}")]
    Invalid { path: String, reason: String },
    #[error("secret `{reference}` is not in the secrets given (--secrets, or the cluster's)")]
    Missing { reference: String },
}

/// Why a secrets file does not parse. Names secrets and keys, never a
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSecrets {
    #[error("YAML error at line {line}, column {column}")]
    Yaml { line: usize, column: usize },
    #[error("expected a mapping of \"<namespace>/<name>\" to keys")]
    NotAMapping,
    #[error("`{0}` is not \"<namespace>/<name>\"")]
    Name(String),
    #[error("`{0}` must map keys to values")]
    Keys(String),
    #[error("`{secret}` key `{key}` is not a scalar")]
    NotScalar { secret: String, key: String },
}

/// Secrets by `"<namespace>/<name>"`, then key.
#[derive(Default, Clone, Debug)]
pub struct Secrets {
    by_secret: BTreeMap<String, BTreeMap<String, SecretValue>>,
}

impl Secrets {
    /// Reads a YAML file of the shape
    /// `"<namespace>/<name>": { <key>: <value>, ... }`.
    pub fn from_file(path: &Path) -> Result<Secrets, SecretError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::Unreadable {
            path: shown.clone(),
            reason: e.kind().to_string(),
        })?;
        Secrets::from_yaml(&text).map_err(|e| SecretError::Invalid {
            path: shown,
            reason: e.to_string(),
        })
    }

    /// Parses the file's text; the error never quotes a value.
    pub fn from_yaml(text: &str) -> Result<Secrets, BadSecrets> {
        let (docs, errors) = kradle_compiler::yaml::parse(text);
        if let Some(e) = errors.first() {
            return Err(BadSecrets::Yaml {
                line: e.span.line,
                column: e.span.column,
            });
        }
        let mut secrets = Secrets::default();
        for doc in docs {
            let Value::Object(map) = doc.root.to_json() else {
                if doc.root.to_json().is_null() {
                    continue;
                }
                return Err(BadSecrets::NotAMapping);
            };
            for (secret, keys) in map {
                let valid = secret.split('/').count() == 2 && !secret.contains(char::is_whitespace);
                if !valid {
                    return Err(BadSecrets::Name(secret));
                }
                let Value::Object(keys) = keys else {
                    return Err(BadSecrets::Keys(secret));
                };
                let entry = secrets.by_secret.entry(secret.clone()).or_default();
                for (key, value) in keys {
                    let value = match value {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(BadSecrets::NotScalar { secret, key }),
                    };
                    entry.insert(key, SecretValue(value));
                }
            }
        }
        Ok(secrets)
    }

    pub fn insert(&mut self, namespace: &str, name: &str, key: &str, value: SecretValue) {
        self.by_secret
            .entry(format!("{namespace}/{name}"))
            .or_default()
            .insert(key.to_string(), value);
    }

    pub fn get(&self, namespace: &str, name: &str, key: &str) -> Result<&SecretValue, SecretError> {
        self.by_secret
            .get(&format!("{namespace}/{name}"))
            .and_then(|keys| keys.get(key))
            .ok_or_else(|| SecretError::Missing {
                reference: format!("{namespace}/{name}/{key}"),
            })
    }

    /// Adds the Secrets of `other` that this one does not have (a
    /// `--secrets` file wins over the cluster).
    pub fn fill_from(&mut self, other: Secrets) {
        for (secret, keys) in other.by_secret {
            self.by_secret.entry(secret).or_insert(keys);
        }
    }

    /// The Secrets (namespace, name) that `plans` name: the `${secret:…}`
    /// placeholders of their operations and their providers' credentials.
    pub fn referenced_by<'a>(
        plans: impl IntoIterator<Item = &'a kradle_compiler::forge_plan::Plan>,
    ) -> std::collections::BTreeSet<(String, String)> {
        let mut out = std::collections::BTreeSet::new();
        for plan in plans {
            for op in &plan.operations {
                for p in op.placeholders() {
                    if let Placeholder::Secret {
                        namespace, name, ..
                    } = p
                    {
                        out.insert((namespace, name));
                    }
                }
            }
            if let Some(c) = plan
                .provider
                .as_ref()
                .and_then(|p| p.credential_ref.as_ref())
            {
                out.insert((c.namespace.clone(), c.name.clone()));
            }
        }
        out
    }

    /// Every secret value, for tests that check none leaked.
    pub fn values(&self) -> impl Iterator<Item = &SecretValue> {
        self.by_secret.values().flat_map(|k| k.values())
    }

    /// `body` with each `${secret:…}` placeholder replaced by its value.
    /// Other placeholders are left for the caller.
    pub fn resolve(&self, body: &Value) -> Result<Value, SecretError> {
        Ok(match body {
            Value::String(s) => Value::String(substitute(s, |p| match p {
                Placeholder::Secret {
                    namespace,
                    name,
                    key,
                } => Ok(self.get(namespace, name, key)?.expose().to_string()),
                other => Ok(other.to_string()),
            })?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|v| self.resolve(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<_, SecretError>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_never_print() {
        let s = Secrets::from_yaml("ns-acme/hooks:\n  token: t0p-s3cret\n").unwrap();
        let v = s.get("ns-acme", "hooks", "token").unwrap();
        assert_eq!(v.expose(), "t0p-s3cret");
        assert_eq!(format!("{v} {v:?} {s:?}").matches("t0p").count(), 0);
    }

    #[test]
    fn placeholders_resolve_and_missing_ones_name_the_reference() {
        let s = Secrets::from_yaml("ns-acme/hooks: { token: abc }").unwrap();
        let body =
            json!({ "config": { "url": "https://x", "secret": "${secret:ns-acme/hooks/token}" } });
        assert_eq!(s.resolve(&body).unwrap()["config"]["secret"], "abc");
        let missing = json!({ "secret": "${secret:ns-acme/other/token}" });
        let err = s.resolve(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret `ns-acme/other/token` is not in the secrets given (--secrets, or the cluster's)"
        );
    }

    #[test]
    fn a_bad_file_is_refused_without_quoting_values() {
        let err = Secrets::from_yaml("acme/hooks:\n  token: [sup3r]\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("sup3r"), "{err}");
        let err = Secrets::from_yaml("no-slash: { a: b }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("<namespace>/<name>"), "{err}");
    }
}
