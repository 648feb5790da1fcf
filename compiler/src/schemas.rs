//! Generated schemas: a JSON Schema per kind (for validation and editors) and
//! the CustomResourceDefinition of each config kind (for the cluster).
//!
//! Both come from the kind's Rust type. The CRD schema is the *structural*
//! form Kubernetes requires: references are written in their canonical form
//! (a plain name), untyped or multi-typed values preserve unknown fields, and
//! `$ref`s are inlined.

use serde_json::{Map, Value, json};

use crate::emit::to_yaml;
use crate::model::{GROUP, KINDS, KindInfo, VERSION};

/// Inline `$ref`s of `schema` using `defs`.
fn inline(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    if depth > 64 {
        return json!({ "x-kubernetes-preserve-unknown-fields": true });
    }
    match schema {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r.trim_start_matches("#/$defs/");
                let mut target = defs
                    .get(name)
                    .map(|t| inline(t, defs, depth + 1))
                    .unwrap_or(json!({}));
                if let (Some(desc), Some(t)) = (m.get("description"), target.as_object_mut()) {
                    t.insert("description".into(), desc.clone());
                }
                return target;
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), inline(v, defs, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline(v, defs, depth + 1)).collect()),
        other => other.clone(),
    }
}

fn preserve() -> Value {
    json!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Rewrites an inlined schemars schema into a structural OpenAPI v3 schema.
fn structural(schema: &Value) -> Value {
    let Value::Object(m) = schema else {
        return preserve();
    };
    let description = m.get("description").cloned();
    // The field's own description wins over its type's.
    let with_desc = |mut v: Value| {
        if let (Some(d), Some(o)) = (&description, v.as_object_mut()) {
            o.insert("description".into(), d.clone());
        }
        v
    };
    if m.contains_key("x-kradle-ref") {
        return with_desc(json!({ "type": "string" }));
    }
    if m.contains_key("x-kradle-typed-ref") {
        return with_desc(json!({
            "type": "object",
            "properties": { "kind": { "type": "string" }, "name": { "type": "string" } },
            "required": ["name"],
        }));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = m.get(key) {
            let non_null: Vec<&Value> = branches
                .iter()
                .filter(|b| b.get("type") != Some(&json!("null")))
                .collect();
            if non_null.len() == 1 {
                return with_desc(structural(non_null[0]));
            }
            // All branches constants: an enum.
            let consts: Option<Vec<Value>> =
                non_null.iter().map(|b| b.get("const").cloned()).collect();
            if let Some(values) = consts {
                return with_desc(json!({ "type": "string", "enum": values }));
            }
            // A string-or-list (e.g. one or many branch patterns): canonical form is the list.
            if let Some(list) = non_null
                .iter()
                .find(|b| b.get("type") == Some(&json!("array")))
            {
                if non_null.len() == 2
                    && non_null
                        .iter()
                        .any(|b| b.get("type") == Some(&json!("string")))
                {
                    return with_desc(structural(list));
                }
            }
            return with_desc(preserve());
        }
    }
    let ty = match m.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => {
            let non_null: Vec<&str> = ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            if non_null.len() == 1 {
                Some(non_null[0].to_string())
            } else {
                None
            }
        }
        _ => None,
    };
    let Some(ty) = ty else {
        if let Some(values) = m.get("enum") {
            return with_desc(json!({ "type": "string", "enum": values }));
        }
        if let Some(c) = m.get("const") {
            return with_desc(json!({ "type": "string", "enum": [c] }));
        }
        return with_desc(preserve());
    };
    let mut out = Map::new();
    if let Some(d) = &description {
        out.insert("description".into(), d.clone());
    }
    out.insert("type".into(), json!(ty));
    match ty.as_str() {
        "object" => {
            if let Some(Value::Object(props)) = m.get("properties") {
                let props: Map<String, Value> = props
                    .iter()
                    .map(|(k, v)| (k.clone(), structural(v)))
                    .collect();
                out.insert("properties".into(), Value::Object(props));
                if let Some(req) = m.get("required") {
                    out.insert("required".into(), req.clone());
                }
            } else if let Some(extra @ Value::Object(_)) = m.get("additionalProperties") {
                out.insert("additionalProperties".into(), structural(extra));
            } else {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            }
        }
        "array" => {
            let items = m.get("items").map_or_else(preserve, structural);
            out.insert("items".into(), items);
            if let Some(v) = m.get("minItems") {
                out.insert("minItems".into(), v.clone());
            }
        }
        "integer" | "number" => {
            for k in ["minimum", "maximum"] {
                if let Some(v) = m.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            if ty == "integer" {
                out.insert("format".into(), json!("int64"));
            }
        }
        "string" => {
            for k in ["enum", "minLength", "pattern"] {
                if let Some(v) = m.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
        }
        _ => {}
    }
    Value::Object(out)
}

/// The apiextensions.k8s.io/v1 CustomResourceDefinition of a config kind.
pub fn crd(kind: &KindInfo) -> Value {
    let doc = kind.document_schema();
    let defs = doc
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let spec = structural(&inline(&doc["properties"]["spec"], &defs, 0));
    let singular = kind.kind.to_ascii_lowercase();
    let scope = "Namespaced";
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{GROUP}", kind.plural),
            "labels": { "app.kubernetes.io/part-of": "kradle" },
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": format!("{}List", kind.kind),
                "plural": kind.plural,
                "singular": singular,
                "categories": ["kradle", format!("kradle-{}", kind.domain)],
            },
            "scope": scope,
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "description": format!("{} (kradle.a5c.ai, {} domain).", kind.kind, kind.domain),
                    "properties": {
                        "apiVersion": { "type": "string" },
                        "kind": { "type": "string" },
                        "metadata": { "type": "object" },
                        "spec": spec,
                        "status": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    },
                    "required": ["spec"],
                }},
                "subresources": { "status": {} },
            }],
        },
    })
}

/// Every generated file: `(relative path, contents)`, sorted by path.
pub fn generated_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for k in KINDS {
        let schema = serde_json::to_string_pretty(&k.document_schema()).unwrap_or_default();
        files.push((format!("json/{}.json", k.kind), schema + "\n"));
        if k.is_config() {
            files.push((format!("crds/{}.{GROUP}.yaml", k.plural), to_yaml(&crd(k))));
        }
    }
    let project =
        serde_json::to_string_pretty(&crate::project::ProjectConfig::schema()).unwrap_or_default();
    files.push(("json/kradle.yaml.json".into(), project + "\n"));
    let plan = serde_json::to_string_pretty(&crate::forge_plan::Plan::schema()).unwrap_or_default();
    files.push(("forge-plan.json".into(), plan + "\n"));
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node of a structural schema has a type, or preserves unknown fields;
    /// no anyOf/oneOf/$ref remain.
    fn assert_structural(v: &Value, path: &str) {
        let m = v
            .as_object()
            .unwrap_or_else(|| panic!("{path}: not an object"));
        assert!(
            !m.contains_key("anyOf") && !m.contains_key("oneOf") && !m.contains_key("$ref"),
            "{path}"
        );
        assert!(
            m.contains_key("type")
                || m.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)),
            "{path}: no type"
        );
        if let Some(Value::Object(props)) = m.get("properties") {
            for (k, p) in props {
                assert_structural(p, &format!("{path}.{k}"));
            }
        }
        if let Some(items) = m.get("items") {
            assert_structural(items, &format!("{path}[]"));
        }
        if let Some(extra @ Value::Object(_)) = m.get("additionalProperties") {
            assert_structural(extra, &format!("{path}{{}}"));
        }
    }

    #[test]
    fn every_config_kind_has_a_structural_crd() {
        for k in KINDS.iter().filter(|k| k.is_config()) {
            let c = crd(k);
            assert_eq!(c["spec"]["names"]["kind"], k.kind);
            assert_structural(
                &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
                k.kind,
            );
        }
    }

    #[test]
    fn references_are_plain_strings_in_crds() {
        let k = crate::model::kind_info("Team").unwrap();
        let c = crd(k);
        let members = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["members"];
        assert_eq!(members["items"]["type"], "string");
    }
}
