//! The subset of Kyverno's `validate.pattern` semantics the built-in
//! templates use, to test them on Pods without a cluster (docs/policies.md).
//!
//! - Maps: every key of the pattern must be in the resource and match, but
//!   `=(key)` (equality anchor) only when the key is there, and `X(key)`
//!   (negation anchor) when it must not be there at all.
//! - Arrays: every element of the resource matches the pattern's first
//!   element.
//! - Strings: `a | b` matches either; `!p` matches what `p` does not; `*`
//!   any run of characters and `?` one. A scalar of the resource matches by
//!   its text (`false` matches `"false"`); numbers compare as numbers.
//! - `anyPattern`: one of the patterns matches.
//!
//! Anything else in a pattern (other anchors, operators such as `>`) is a
//! test failure, not a silent pass.

use serde_json::Value;

/// `Ok` when `resource` matches `pattern`; else the path where it does not.
pub fn matches(pattern: &Value, resource: &Value) -> Result<(), String> {
    at(pattern, Some(resource), "")
}

fn at(pattern: &Value, value: Option<&Value>, path: &str) -> Result<(), String> {
    match pattern {
        Value::Object(fields) => {
            let Some(Value::Object(object)) = value else {
                return Err(format!("{path}: a map is required"));
            };
            for (key, sub) in fields {
                if let Some(name) = anchored(key, "=(") {
                    if let Some(v) = object.get(name) {
                        at(sub, Some(v), &format!("{path}/{name}"))?;
                    }
                } else if let Some(name) = anchored(key, "X(") {
                    if object.contains_key(name) {
                        return Err(format!("{path}/{name}: must not be set"));
                    }
                } else {
                    assert!(
                        !key.contains('(') || !key.ends_with(')'),
                        "the evaluator does not know the anchor of `{key}`"
                    );
                    at(sub, object.get(key), &format!("{path}/{key}"))?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            let Some(Value::Array(values)) = value else {
                return Err(format!("{path}: a list is required"));
            };
            let first = items.first().expect("an empty list pattern");
            for (i, v) in values.iter().enumerate() {
                at(first, Some(v), &format!("{path}/{i}"))?;
            }
            Ok(())
        }
        Value::String(text) => {
            let Some(v) = value else {
                return Err(format!("{path}: is required"));
            };
            let actual = scalar(v).ok_or_else(|| format!("{path}: a value is required"))?;
            if text.split(" | ").any(|alt| one(alt.trim(), &actual)) {
                Ok(())
            } else {
                Err(format!("{path}: `{actual}` does not match `{text}`"))
            }
        }
        Value::Number(n) => match value.and_then(Value::as_f64) {
            Some(v) if Some(v) == n.as_f64() => Ok(()),
            _ => Err(format!("{path}: must be {n}")),
        },
        Value::Bool(b) => match value.and_then(scalar) {
            Some(v) if v == b.to_string() => Ok(()),
            _ => Err(format!("{path}: must be {b}")),
        },
        Value::Null => Ok(()),
    }
}

fn anchored<'a>(key: &'a str, open: &str) -> Option<&'a str> {
    key.strip_prefix(open)?.strip_suffix(')')
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn one(pattern: &str, actual: &str) -> bool {
    assert!(
        !pattern.starts_with(['>', '<']) && !pattern.contains(".."),
        "the evaluator does not know the operator of `{pattern}`"
    );
    match pattern.strip_prefix('!') {
        Some(negated) => !wildcard(negated.as_bytes(), actual.as_bytes()),
        None => wildcard(pattern.as_bytes(), actual.as_bytes()),
    }
}

/// `*` any run of bytes, `?` exactly one.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// Whether `rule` (a Kyverno rule) passes on `resource`: `pattern`, or one
/// of `anyPattern`.
pub fn rule_passes(rule: &Value, resource: &Value) -> Result<(), String> {
    let validate = &rule["validate"];
    if let Some(pattern) = validate.get("pattern") {
        return matches(pattern, resource);
    }
    let patterns = validate["anyPattern"]
        .as_array()
        .expect("a validate rule has pattern or anyPattern");
    let mut why = Vec::new();
    for p in patterns {
        match matches(p, resource) {
            Ok(()) => return Ok(()),
            Err(e) => why.push(e),
        }
    }
    Err(why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The evaluator follows Kyverno's documented examples.
    #[test]
    fn anchors_wildcards_and_alternatives() {
        let p = json!({ "spec": { "=(hostNetwork)": "false" } });
        assert!(matches(&p, &json!({ "spec": {} })).is_ok());
        assert!(matches(&p, &json!({ "spec": { "hostNetwork": false } })).is_ok());
        assert!(matches(&p, &json!({ "spec": { "hostNetwork": true } })).is_err());

        let p = json!({ "spec": { "=(volumes)": [{ "X(hostPath)": "null" }] } });
        assert!(matches(&p, &json!({ "spec": { "volumes": [{ "emptyDir": {} }] } })).is_ok());
        assert!(
            matches(
                &p,
                &json!({ "spec": { "volumes": [{ "hostPath": { "path": "/" } }] } })
            )
            .is_err()
        );

        let p = json!({ "image": "!*:latest" });
        assert!(matches(&p, &json!({ "image": "nginx:1.27" })).is_ok());
        assert!(matches(&p, &json!({ "image": "nginx:latest" })).is_err());
        let p = json!({ "type": "RuntimeDefault | Localhost" });
        assert!(matches(&p, &json!({ "type": "Localhost" })).is_ok());
        assert!(matches(&p, &json!({ "type": "Unconfined" })).is_err());
        let p = json!({ "cpu": "?*" });
        assert!(matches(&p, &json!({ "cpu": "100m" })).is_ok());
        assert!(matches(&p, &json!({ "cpu": "" })).is_err());
        assert!(matches(&p, &json!({})).is_err());
        let p = json!({ "containers": [{ "=(ports)": [{ "=(hostPort)": 0 }] }] });
        assert!(
            matches(
                &p,
                &json!({ "containers": [{ "ports": [{ "containerPort": 80 }] }] })
            )
            .is_ok()
        );
        assert!(
            matches(
                &p,
                &json!({ "containers": [{ "ports": [{ "hostPort": 80 }] }] })
            )
            .is_err()
        );
        assert!(wildcard(
            b"registry.acme.example/*",
            b"registry.acme.example/api:1"
        ));
        assert!(!wildcard(
            b"registry.acme.example/*",
            b"docker.io/registry.acme.example/x"
        ));
    }
}
