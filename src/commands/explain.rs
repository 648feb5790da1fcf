//! `kradle explain KIND[.field.path]`: a kind's fields, as `kubectl
//! explain` shows a resource's — type, required, description, enum,
//! default and bounds — read from the JSON Schemas `kradle schema` writes.

use std::io::Write;

use kradle_compiler::diagnostics::did_you_mean;
use kradle_compiler::model::{Kind, KindInfo};
use serde_json::{Map, Value};

use crate::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// A kind (`AgentStack`, `agentstack` or `agentstacks`), then a path of fields:
    /// `agentstack.spec.budget`.
    #[arg(value_name = "KIND[.FIELD...]")]
    target: String,
    /// Every field below, nested, instead of one level.
    #[arg(long)]
    recursive: bool,
}

/// The kind `name` names: its kind, lowercased, or its plural.
fn find_kind(name: &str) -> Option<&'static KindInfo> {
    let lower = name.to_ascii_lowercase();
    Kind::all()
        .map(Kind::info)
        .find(|k| k.kind.to_ascii_lowercase() == lower || k.plural == lower)
}

/// `schema` with its `$ref` (into `defs`) followed, and an optional
/// value's `anyOf [T, null]` unwrapped.
fn resolve<'a>(mut schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    for _ in 0..32 {
        if let Some(name) = schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            match defs.get(name) {
                Some(next) => {
                    schema = next;
                    continue;
                }
                None => return schema,
            }
        }
        let variants = schema["anyOf"].as_array().or(schema["oneOf"].as_array());
        if let Some(variants) = variants {
            let real: Vec<&Value> = variants.iter().filter(|v| v["type"] != "null").collect();
            if real.len() == 1 {
                schema = real[0];
                continue;
            }
        }
        return schema;
    }
    schema
}

/// `<string>`, `<[]Object>`, `<map[string]string>`...
fn type_of(schema: &Value, defs: &Map<String, Value>) -> String {
    let schema = resolve(schema, defs);
    // One or many (`refs: main` or `refs: [main, release/*]`): both shown.
    if let Some(variants) = schema["anyOf"].as_array() {
        let variants: Vec<&Value> = variants.iter().map(|v| resolve(v, defs)).collect();
        let one = variants.iter().find(|v| v["type"] == "string");
        let many = variants.iter().find(|v| v["type"] == "array");
        if let (Some(_), Some(many)) = (one, many) {
            let item = type_of(&many["items"], defs);
            return format!("{item} | []{item}");
        }
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("Object")
            .to_string(),
        _ if schema["enum"].is_array() => "string".into(),
        // A reference: a name, or `{ name }`. Shown as what one writes.
        _ if schema["anyOf"]
            .as_array()
            .or(schema["oneOf"].as_array())
            .is_some_and(|vs| vs.iter().any(|v| resolve(v, defs)["type"] == "string")) =>
        {
            "string".into()
        }
        _ if schema.get("const").is_some() => "string".into(),
        _ => "Object".into(),
    };
    match ty.as_str() {
        "array" => format!("[]{}", type_of(&schema["items"], defs)),
        "object" if schema["properties"].is_object() => "Object".into(),
        "object" => match schema.get("additionalProperties") {
            Some(v @ Value::Object(_)) => format!("map[string]{}", type_of(v, defs)),
            _ => "Object".into(),
        },
        other => other.to_string(),
    }
}

/// The fields of an object schema (through an array's items).
fn fields<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> Option<&'a Map<String, Value>> {
    let schema = resolve(schema, defs);
    if schema["type"] == "array" {
        return fields(&schema["items"], defs);
    }
    schema["properties"].as_object()
}

fn required<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> Vec<&'a str> {
    let mut schema = resolve(schema, defs);
    if schema["type"] == "array" {
        schema = resolve(&schema["items"], defs);
    }
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// What is said of a field besides its description: enum, default, bounds.
fn facts(schema: &Value, defs: &Map<String, Value>) -> Vec<String> {
    let resolved = resolve(schema, defs);
    let mut out = Vec::new();
    let items = resolve(&resolved["items"], defs);
    let values = resolved["enum"].as_array().or(items["enum"].as_array());
    if let Some(values) = values {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        out.push(format!("Possible values: {}", names.join(", ")));
    }
    for s in [schema, resolved] {
        if let Some(d) = s.get("default") {
            out.push(format!("Default: {d}"));
            break;
        }
    }
    match (resolved.get("minimum"), resolved.get("maximum")) {
        (Some(min), Some(max)) => out.push(format!("Range: {min} to {max}")),
        (Some(min), None) => out.push(format!("Minimum: {min}")),
        (None, Some(max)) => out.push(format!("Maximum: {max}")),
        _ => {}
    }
    out
}

fn description(schema: &Value, defs: &Map<String, Value>) -> Option<String> {
    schema["description"]
        .as_str()
        .or_else(|| resolve(schema, defs)["description"].as_str())
        .map(str::to_string)
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

fn list(out: &mut String, schema: &Value, defs: &Map<String, Value>, depth: usize, deep: bool) {
    let Some(props) = fields(schema, defs) else {
        return;
    };
    let required = required(schema, defs);
    let pad = "   ".repeat(depth + 1);
    for (name, field) in props {
        let flag = if required.contains(&name.as_str()) {
            " -required-"
        } else {
            ""
        };
        out.push_str(&format!("{pad}{name}\t<{}>{flag}\n", type_of(field, defs)));
        if deep {
            list(out, field, defs, depth + 1, deep);
        } else if let Some(d) = description(field, defs) {
            out.push_str(&indent(&d, pad.len() + 2));
        }
    }
}

/// The text of `kradle explain target`, or why there is none.
pub fn explain(target: &str, recursive: bool) -> Result<String, String> {
    let mut parts = target.split('.');
    let name = parts.next().unwrap_or_default();
    let Some(kind) = find_kind(name) else {
        let kinds: Vec<&str> = Kind::all().map(|k| k.info().kind).collect();
        return Err(match did_you_mean(name, kinds.iter().copied()) {
            Some(k) => format!("kind `{name}` is not a kradle kind; did you mean `{k}`?"),
            None => format!("kind `{name}` is not a kradle kind (`kradle schema` lists them)"),
        });
    };
    let doc = kind.document_schema();
    let empty = Map::new();
    let defs = doc["$defs"].as_object().unwrap_or(&empty);
    let mut schema = &doc;
    let mut path = Vec::new();
    for part in parts {
        let Some(props) = fields(schema, defs) else {
            return Err(format!(
                "`{}` has no fields: `{part}` is not one",
                path.join(".")
            ));
        };
        let Some(next) = props.get(part) else {
            let known = props.keys().map(String::as_str);
            let at = if path.is_empty() {
                kind.kind.to_string()
            } else {
                path.join(".")
            };
            return Err(match did_you_mean(part, known) {
                Some(f) => format!("`{at}` has no field `{part}`; did you mean `{f}`?"),
                None => format!(
                    "`{at}` has no field `{part}`; its fields: {}",
                    props.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        path.push(part.to_string());
        schema = next;
    }
    let mut out = format!(
        "KIND:     {}\nVERSION:  {}\n\n",
        kind.kind, kind.api_version
    );
    if let Some(field) = path.last() {
        out.push_str(&format!(
            "FIELD:    {field} <{}>\n\n",
            type_of(schema, defs)
        ));
    }
    out.push_str("DESCRIPTION:\n");
    let text = match (path.is_empty(), description(schema, defs)) {
        (_, Some(d)) => d,
        (true, None) => format!(
            "{} ({}, {} domain; {}).",
            kind.kind,
            kind.api_version,
            kind.domain,
            if kind.is_config() {
                "config, a CRD"
            } else {
                "runtime record, served by `kradle serve`"
            }
        ),
        (false, None) => "<empty>".into(),
    };
    out.push_str(&indent(&text, 5));
    for fact in facts(schema, defs) {
        out.push_str(&indent(&fact, 5));
    }
    if fields(schema, defs).is_some() {
        out.push_str("\nFIELDS:\n");
        list(&mut out, schema, defs, 0, recursive);
    }
    Ok(out)
}

pub fn run(args: Args) -> Result<u8, Failure> {
    match explain(&args.target, args.recursive) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            Ok(0)
        }
        Err(why) => {
            super::say(&format!("kradle: error: {why}"));
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_explained_with_its_type_bounds_and_required_fields() {
        let text = explain("agentstack.spec.budget", false).unwrap();
        assert!(
            text.starts_with("KIND:     AgentStack\nVERSION:  kradle.a5c.ai/v1alpha1\n"),
            "{text}"
        );
        assert!(text.contains("FIELD:    budget <Object>"), "{text}");
        assert!(text.contains("maxRunSeconds\t<integer>"), "{text}");
        let deadline = explain("AgentStacks.spec.budget.maxRunSeconds", false).unwrap();
        assert!(deadline.contains("Range: 60 to 86400"), "{deadline}");
        assert!(deadline.contains("activeDeadlineSeconds"), "{deadline}");
        let spec = explain("AgentTriggerRule.spec", false).unwrap();
        assert!(spec.contains("agentStack\t<string> -required-"), "{spec}");
        assert!(spec.contains("sources\t<[]string> -required-"), "{spec}");
        // One or many: both forms shown; a reference stays what one writes.
        let refs = explain("branchprotection.spec.refs", false).unwrap();
        assert!(
            refs.contains("FIELD:    refs <string | []string>"),
            "{refs}"
        );
        let protection = explain("branchprotection.spec", false).unwrap();
        assert!(protection.contains("repository\t<string>"), "{protection}");
        let sources = explain("AgentTriggerRule.spec.sources", false).unwrap();
        assert!(
            sources.contains("Possible values: push, pull_request"),
            "{sources}"
        );
        let conclusions =
            explain("AgentTriggerRule.spec.webhookTrigger.conclusions", false).unwrap();
        assert!(conclusions.contains("failure"), "{conclusions}");
        let deep = explain("agentstack.spec", true).unwrap();
        assert!(deep.contains("      maxAttempts\t<integer>"), "{deep}");
    }

    #[test]
    fn unknown_kinds_and_fields_say_the_nearest_name() {
        assert_eq!(
            explain("agentstak", false).unwrap_err(),
            "kind `agentstak` is not a kradle kind; did you mean `AgentStack`?"
        );
        assert_eq!(
            explain("agentstack.spec.budjet", false).unwrap_err(),
            "`spec` has no field `budjet`; did you mean `budget`?"
        );
        assert!(explain("agentstack.spec.budget.maxAttempts.x", false).is_err());
    }
}
