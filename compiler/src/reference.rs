//! The kind reference, read from the JSON Schemas of the kinds: what
//! `kradle explain KIND[.field.path]` prints (as `kubectl explain` does for
//! a resource: type, required, description, values, default and bounds) and
//! the Markdown pages of `docs/reference/`, generated from the same schemas
//! so they cannot drift from what `validate` accepts.

use serde_json::{Map, Value};

use crate::diagnostics::did_you_mean;
use crate::model::{Kind, KindInfo, Scope, Storage};

/// The kind `name` names: its kind, lowercased, or its plural.
pub fn find_kind(name: &str) -> Option<&'static KindInfo> {
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

/// The values of a schema that is a choice of constants, each with its
/// description: how an enum whose variants are documented is written.
fn constants<'a>(
    schema: &'a Value,
    defs: &'a Map<String, Value>,
) -> Option<Vec<(&'a Value, Option<&'a str>)>> {
    let variants = schema["oneOf"].as_array().or(schema["anyOf"].as_array())?;
    let values: Option<Vec<_>> = variants
        .iter()
        .map(|v| resolve(v, defs))
        .filter(|v| v["type"] != "null")
        .map(|v| Some((v.get("const")?, v["description"].as_str())))
        .collect();
    values.filter(|v| !v.is_empty())
}

/// What is said of a field besides its description: enum, default, bounds.
fn facts(schema: &Value, defs: &Map<String, Value>) -> Vec<String> {
    let resolved = resolve(schema, defs);
    let mut out = Vec::new();
    let items = resolve(&resolved["items"], defs);
    let values = resolved["enum"].as_array().or(items["enum"].as_array());
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if let Some(values) = values {
        let names: Vec<String> = values.iter().map(text).collect();
        out.push(format!("Possible values: {}", names.join(", ")));
    } else if let Some(values) = constants(resolved, defs).or_else(|| constants(items, defs)) {
        // Values documented one by one (`oneOf` of constants).
        let mut lines = vec!["Possible values:".to_string()];
        for (value, doc) in values {
            let doc = doc.map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "));
            lines.push(match doc {
                Some(d) => format!("  {}: {d}", text(value)),
                None => format!("  {}", text(value)),
            });
        }
        out.push(lines.join("\n"));
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

/// Why `kradle explain` has nothing to print, with the nearest name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("kind `{name}` is not a kradle kind; did you mean `{nearest}`?")]
    KindNear { name: String, nearest: String },
    #[error("kind `{name}` is not a kradle kind (`kradle schema` lists them)")]
    Kind { name: String },
    #[error("`{at}` has no fields: `{part}` is not one")]
    NoFields { at: String, part: String },
    #[error("`{at}` has no field `{part}`; did you mean `{nearest}`?")]
    FieldNear {
        at: String,
        part: String,
        nearest: String,
    },
    #[error("`{at}` has no field `{part}`; its fields: {known}")]
    Field {
        at: String,
        part: String,
        known: String,
    },
}

/// The text of `kradle explain target`, or why there is none.
pub fn explain(target: &str, recursive: bool) -> Result<String, ExplainError> {
    let mut parts = target.split('.');
    let name = parts.next().unwrap_or_default();
    let Some(kind) = find_kind(name) else {
        let kinds: Vec<&str> = Kind::all().map(|k| k.info().kind).collect();
        let name = name.to_string();
        return Err(match did_you_mean(&name, kinds.iter().copied()) {
            Some(k) => ExplainError::KindNear {
                name,
                nearest: k.to_string(),
            },
            None => ExplainError::Kind { name },
        });
    };
    let doc = kind.document_schema();
    let empty = Map::new();
    let defs = doc["$defs"].as_object().unwrap_or(&empty);
    let mut schema = &doc;
    let mut path = Vec::new();
    for part in parts {
        let part_name = part.to_string();
        let Some(props) = fields(schema, defs) else {
            return Err(ExplainError::NoFields {
                at: path.join("."),
                part: part_name,
            });
        };
        let Some(next) = props.get(part) else {
            let known = props.keys().map(String::as_str);
            let at = if path.is_empty() {
                kind.kind.to_string()
            } else {
                path.join(".")
            };
            return Err(match did_you_mean(part, known) {
                Some(f) => ExplainError::FieldNear {
                    at,
                    part: part_name,
                    nearest: f.to_string(),
                },
                None => ExplainError::Field {
                    at,
                    part: part_name,
                    known: props.keys().cloned().collect::<Vec<_>>().join(", "),
                },
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

/// Where a kind lives, in words.
fn stored(kind: &KindInfo) -> &'static str {
    match (kind.storage, kind.scope) {
        (Storage::Config, Scope::Platform) => {
            "config kind: a CRD, declared in the config repository, in the platform namespace"
        }
        (Storage::Config, Scope::Org) => {
            "config kind: a CRD, declared in the config repository, in its organization's namespace"
        }
        (Storage::Config, Scope::OrgOrPlatform) => {
            "config kind: a CRD, declared in the config repository, in its organization's namespace (or the platform namespace when it names no organization)"
        }
        (Storage::Aggregated, _) => {
            "runtime record: written by `kradle serve`, served through the aggregated API (read with `kubectl get`), never declared"
        }
        (Storage::Foreign, _) => {
            "another project's kind kradle accepts in the config and passes through, in its organization's namespace"
        }
    }
}

/// One line of `text`, safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The rows of the field table below `schema`, depth first, each path from
/// the document's root.
fn rows(out: &mut String, schema: &Value, defs: &Map<String, Value>, path: &str, depth: usize) {
    let Some(props) = fields(schema, defs) else {
        return;
    };
    if depth > 12 {
        return;
    }
    let required = required(schema, defs);
    for (name, field) in props {
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let mut text = description(field, defs).unwrap_or_default();
        for fact in facts(field, defs) {
            if !text.is_empty() {
                text.push(' ');
            }
            // A value per line (`  value: what it means`): one `<br>` each.
            let mut lines = fact.lines();
            text.push_str(lines.next().unwrap_or_default());
            for line in lines {
                let line = line.trim();
                match line.split_once(": ") {
                    Some((value, doc)) => text.push_str(&format!("<br>`{value}`: {doc}")),
                    None => text.push_str(&format!("<br>`{line}`")),
                }
            }
        }
        let flag = if required.contains(&name.as_str()) {
            " (required)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{here}`{flag} | `{}` | {} |\n",
            type_of(field, defs).replace('|', "\\|"),
            cell(&text)
        ));
        rows(out, field, defs, &here, depth + 1);
    }
}

/// The description of a kind: its spec type's, else where it lives.
fn kind_description(kind: &KindInfo) -> String {
    if kind.storage == Storage::Foreign {
        return format!(
            "A KubeVela {} (`{}`), written by hand: kradle checks it and places it in its organization's namespace as written.",
            kind.kind, kind.api_version
        );
    }
    let doc = kind.document_schema();
    let empty = Map::new();
    let defs = doc["$defs"].as_object().unwrap_or(&empty);
    let spec = &doc["properties"]["spec"];
    let own = spec["$ref"]
        .as_str()
        .and_then(|r| defs.get(r.trim_start_matches("#/$defs/")))
        .and_then(|d| d["description"].as_str());
    own.map_or_else(
        || format!("{} of the {} domain.", kind.kind, kind.domain),
        str::to_string,
    )
}

/// `docs/reference/<Kind>.md`: a kind's page, generated from its schema.
pub fn kind_page(kind: &KindInfo) -> String {
    let doc = kind.document_schema();
    let empty = Map::new();
    let defs = doc["$defs"].as_object().unwrap_or(&empty);
    let mut out = format!(
        "<!-- Generated from the kind's schema; `KRADLE_UPDATE=1 cargo test --test generated` rewrites it. -->\n\n# {}\n\n`apiVersion: {}`, plural `{}`, {} domain.\n\nA {}.\n\n{}\n\n",
        kind.kind,
        kind.api_version,
        kind.plural,
        kind.domain,
        stored(kind),
        kind_description(kind),
    );
    out.push_str(&format!(
        "`kradle explain {}` prints the same, field by field; its JSON Schema is `schemas/json/{}.json`.\n\n",
        kind.plural, kind.kind
    ));
    out.push_str("| Field | Type | Description |\n|---|---|---|\n");
    rows(&mut out, &doc, defs, "", 0);
    out
}

/// `docs/reference/README.md`: every kind, by domain.
pub fn index_page() -> String {
    let mut out = String::from(
        "<!-- Generated from the kinds' schemas; `KRADLE_UPDATE=1 cargo test --test generated` rewrites it. -->\n\n# Kind reference\n\nEvery kind kradle knows, with each field's type, whether it is required, what it means, its values, default and bounds, generated from the schemas `kradle validate` checks against (so it cannot drift from them). `kradle explain KIND[.field]` prints the same in a terminal.\n\n- **Config** kinds are declared in the config repository and compiled into CRD objects.\n- **Runtime records** are written by `kradle serve` and read with `kubectl get` through the aggregated API; they are never declared.\n\nThe project file has [a page of its own](kradle.yaml.md).\n\n",
    );
    let mut domains: Vec<&str> = Kind::all().map(|k| k.info().domain).collect();
    domains.sort_unstable();
    domains.dedup();
    for domain in domains {
        out.push_str(&format!(
            "## {domain}\n\n| Kind | Stored | Description |\n|---|---|---|\n"
        ));
        let mut kinds: Vec<&KindInfo> = Kind::all()
            .map(Kind::info)
            .filter(|k| k.domain == domain)
            .collect();
        kinds.sort_by_key(|k| k.kind);
        for kind in kinds {
            let what = match kind.storage {
                Storage::Config => "config",
                Storage::Aggregated => "runtime record",
                Storage::Foreign => "passed through",
            };
            let description = kind_description(kind);
            let first = description
                .split_once(". ")
                .map_or(description.as_str(), |(first, _)| first)
                .trim_end_matches('.');
            out.push_str(&format!(
                "| [{}]({}.md) | {what} | {}. |\n",
                kind.kind,
                kind.kind,
                cell(first)
            ));
        }
        out.push('\n');
    }
    out
}

/// `docs/reference/kradle.yaml.md`: every key of the project file.
pub fn project_page() -> String {
    let doc = crate::project::ProjectConfig::schema();
    let empty = Map::new();
    let defs = doc["$defs"].as_object().unwrap_or(&empty);
    let mut out = String::from(
        "<!-- Generated from the project file's schema; `KRADLE_UPDATE=1 cargo test --test generated` rewrites it. -->\n\n# The project file `kradle.yaml`\n\nOptional, at the root of the config repository; every key is optional and an unknown key is an error. Its JSON Schema is `schemas/json/kradle.yaml.json`; the user guide explains each part.\n\n| Key | Type | Description |\n|---|---|---|\n",
    );
    rows(&mut out, &doc, defs, "", 0);
    out
}

/// Every page of `docs/reference/`, by file name.
pub fn pages() -> Vec<(String, String)> {
    let mut out = vec![
        ("README.md".to_string(), index_page()),
        ("kradle.yaml.md".to_string(), project_page()),
    ];
    for kind in Kind::all().map(Kind::info) {
        out.push((format!("{}.md", kind.kind), kind_page(kind)));
    }
    out
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
        // Values documented one by one are listed with what each means.
        let mode = explain("agentstack.spec.approvalMode", false).unwrap();
        assert!(
            mode.contains("Possible values:\n       never: Runs start without approval."),
            "{mode}"
        );
        let deep = explain("agentstack.spec", true).unwrap();
        assert!(deep.contains("      maxAttempts\t<integer>"), "{deep}");
    }

    /// Walks every field below `schema`, collecting the paths of those with
    /// no description.
    fn undescribed(
        schema: &Value,
        defs: &Map<String, Value>,
        path: &str,
        depth: usize,
        out: &mut Vec<String>,
    ) {
        let Some(props) = fields(schema, defs) else {
            return;
        };
        if depth > 12 {
            return;
        }
        for (name, field) in props {
            let here = format!("{path}.{name}");
            if description(field, defs).is_none_or(|d| d.trim().is_empty()) {
                out.push(here.clone());
            }
            undescribed(field, defs, &here, depth + 1, out);
        }
    }

    /// `kradle explain` and docs/reference/ never show a field with nothing
    /// to say: a new field needs its doc comment.
    #[test]
    fn every_field_of_every_kind_is_described() {
        let mut missing = Vec::new();
        for kind in Kind::all().map(Kind::info) {
            let doc = kind.document_schema();
            let empty = Map::new();
            let defs = doc["$defs"].as_object().unwrap_or(&empty);
            undescribed(&doc, defs, kind.kind, 0, &mut missing);
        }
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:#?}"
        );
        // And the page of a kind says what its enum values mean.
        let page = kind_page(Kind::AgentStack.info());
        assert!(
            page.contains("<br>`always`: Every run waits for approval."),
            "{page}"
        );
        assert!(
            index_page()
                .contains("| [AgentStack](AgentStack.md) | config | The recipe of an agent"),
            "{}",
            index_page()
        );
    }

    #[test]
    fn unknown_kinds_and_fields_say_the_nearest_name() {
        assert_eq!(
            explain("agentstak", false).unwrap_err().to_string(),
            "kind `agentstak` is not a kradle kind; did you mean `AgentStack`?"
        );
        assert_eq!(
            explain("agentstack.spec.budjet", false)
                .unwrap_err()
                .to_string(),
            "`spec` has no field `budjet`; did you mean `budget`?"
        );
        assert!(explain("agentstack.spec.budget.maxAttempts.x", false).is_err());
    }
}
