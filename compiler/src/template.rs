//! Policy template parameters: `[[ params.NAME ]]` inside a PolicyTemplate's
//! Kyverno body, rendered with minijinja using custom delimiters so Kyverno's
//! own `{{ request.object... }}` variables pass through untouched.
//!
//! Substitution happens in keys and values. A string that is exactly one
//! `[[ expression ]]` takes the parameter's value with its type (a list stays
//! a list); anywhere else the value is rendered as text.
//!
//! Templates come from pull requests, so rendering is bounded
//! (docs/security.md): every string gets [`FUEL`] steps of the engine (a loop
//! of 10^10 iterations stops at once), nesting is limited to
//! [`RECURSION_LIMIT`], and each rendered string to [`MAX_OUTPUT`] bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde_json::{Map, Value};

/// Engine steps one string may take to render.
pub const FUEL: u64 = 100_000;
/// Deepest nesting of blocks and calls while rendering.
pub const RECURSION_LIMIT: usize = 64;
/// Largest rendered string, in bytes.
pub const MAX_OUTPUT: usize = 1 << 20;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
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
            let compiled = ENV.compile_expression(&expr).map_err(message)?;
            let v = compiled.eval(ctx).map_err(message)?;
            if v.is_undefined() {
                return Err(format!("`{}` is undefined", expr.trim()));
            }
            let json = serde_json::to_value(&v).map_err(|e| e.to_string())?;
            if serde_json::to_vec(&json).map_or(0, |b| b.len()) > MAX_OUTPUT {
                return Err(too_large());
            }
            return Ok(json);
        }
    }
    let template = ENV.template_from_str(s).map_err(message)?;
    let mut out = Capped::default();
    template.render_captured_to(ctx, &mut out).map_err(|e| {
        if out.overflowed {
            too_large()
        } else {
            message(e)
        }
    })?;
    Ok(Value::String(
        String::from_utf8_lossy(&out.bytes).into_owned(),
    ))
}

fn too_large() -> String {
    format!("renders to more than {} KiB", MAX_OUTPUT >> 10)
}

/// A render error in words a policy author can act on.
fn message(e: minijinja::Error) -> String {
    match e.kind() {
        minijinja::ErrorKind::OutOfFuel => format!(
            "needs more than {FUEL} steps to render (a loop that is too large?); templates are limited so a pull request cannot hang CI"
        ),
        _ => e.to_string(),
    }
}

/// A writer that refuses to grow past [`MAX_OUTPUT`] bytes.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.overflowed = true;
            return Err(std::io::Error::other("output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    fn runaway_templates_stop_with_a_clear_error() {
        let huge_loop = json!({"a": "[% for a in range(100000) %][% for b in range(100000) %]x[% endfor %][% endfor %]"});
        let e = render(&huge_loop, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("steps to render"), "{e}");
        let big = json!({"a": "x [[ 'y' * 2000000 ]]"});
        assert!(
            render(&big, &BTreeMap::new())
                .unwrap_err()
                .contains("more than 1024 KiB")
        );
        let big_whole = json!({"a": "[[ 'y' * 2000000 ]]"});
        assert!(
            render(&big_whole, &BTreeMap::new())
                .unwrap_err()
                .contains("more than 1024 KiB")
        );
        // Macros, includes and imports are not compiled in: nothing can recurse.
        let recursive = json!({"a": "[% macro m(n) %][[ m(n) ]][% endmacro %][[ m(1) ]]"});
        assert!(render(&recursive, &BTreeMap::new()).is_err());
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
