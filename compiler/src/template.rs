//! Policy template parameters: `[[ params.NAME ]]` inside a PolicyTemplate's
//! Kyverno body, rendered with minijinja using custom delimiters so Kyverno's
//! own `{{ request.object... }}` variables pass through untouched.
//!
//! Substitution happens in keys and values. A string that is exactly one
//! `[[ expression ]]` takes the parameter's value with its type (a list stays
//! a list); anywhere else the value is rendered as text.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde_json::{Map, Value};

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    if let Ok(syntax) = SyntaxConfig::builder()
        .block_delimiters("[%", "%]")
        .variable_delimiters("[[", "]]")
        .comment_delimiters("[#", "#]")
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(environment);

static PARAM_USE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\[\[[^\]]*?\bparams\.([A-Za-z_][A-Za-z0-9_]*)").ok());

static WHOLE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\s*\[\[(.*)\]\]\s*$").ok());

fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k);
                strings(v, out);
            }
        }
        _ => {}
    }
}

/// Names used as `params.NAME` inside `[[ ]]`, in keys and values.
pub fn referenced_params(body: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    strings(body, &mut all);
    let mut names = BTreeSet::new();
    if let Some(re) = PARAM_USE.as_ref() {
        for s in all {
            for c in re.captures_iter(s) {
                names.insert(c[1].to_string());
            }
        }
    }
    names
}

/// The first string of `body` that does not compile as a template, with the error.
pub fn syntax_error(body: &Value) -> Option<String> {
    let mut all = Vec::new();
    strings(body, &mut all);
    all.into_iter()
        .filter(|s| s.contains("[[") || s.contains("[%"))
        .find_map(|s| {
            ENV.template_from_str(s)
                .err()
                .map(|e| format!("`{s}`: {}", e.detail().unwrap_or("syntax error")))
        })
}

fn render_str(s: &str, ctx: &minijinja::Value) -> Result<Value, String> {
    if !s.contains("[[") && !s.contains("[%") {
        return Ok(Value::String(s.to_string()));
    }
    if let Some(expr) = WHOLE
        .as_ref()
        .and_then(|re| re.captures(s))
        .map(|c| c[1].to_string())
    {
        if !expr.contains("]]") {
            let compiled = ENV.compile_expression(&expr).map_err(|e| e.to_string())?;
            let v = compiled.eval(ctx).map_err(|e| e.to_string())?;
            if v.is_undefined() {
                return Err(format!("`{}` is undefined", expr.trim()));
            }
            return serde_json::to_value(&v).map_err(|e| e.to_string());
        }
    }
    ENV.render_str(s, ctx)
        .map(Value::String)
        .map_err(|e| e.to_string())
}

/// Renders every key and value of `body` with `params`.
pub fn render(body: &Value, params: &BTreeMap<String, Value>) -> Result<Value, String> {
    let ctx =
        minijinja::context! { params => minijinja::Value::from(minijinja::value::Serde(params)) };
    walk(body, &ctx)
}

fn walk(v: &Value, ctx: &minijinja::Value) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => render_str(s, ctx)?,
        Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, ctx)).collect::<Result<_, _>>()?),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let key = match render_str(k, ctx)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, walk(x, ctx)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn substitutes_keys_and_values_and_keeps_kyverno_variables() {
        let body = json!({
            "message": "label [[ params.label ]] is required on {{ request.object.metadata.name }}",
            "pattern": { "metadata": { "labels": { "[[ params.label ]]": "?*" } } },
            "kinds": "[[ params.kinds ]]",
        });
        let out = render(
            &body,
            &params(json!({"label": "team", "kinds": ["Pod", "Job"]})),
        )
        .unwrap();
        assert_eq!(
            out["message"],
            "label team is required on {{ request.object.metadata.name }}"
        );
        assert_eq!(out["pattern"]["metadata"]["labels"]["team"], "?*");
        assert_eq!(out["kinds"], json!(["Pod", "Job"]));
    }

    #[test]
    fn undefined_parameters_are_errors() {
        assert!(render(&json!({"a": "[[ params.nope ]]"}), &BTreeMap::new()).is_err());
        assert!(render(&json!({"a": "x [[ params.nope ]] y"}), &BTreeMap::new()).is_err());
    }

    #[test]
    fn finds_referenced_parameters_and_syntax_errors() {
        let body = json!({"[[ params.a ]]": ["[[ params.b | upper ]]", "{{ request.x }}"]});
        assert_eq!(
            referenced_params(&body).into_iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(syntax_error(&json!({"x": "[[ params.a "})).is_some());
        assert!(syntax_error(&body).is_none());
    }
}
