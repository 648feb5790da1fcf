//! Schema conformance: walks a document's span-carrying YAML tree against the
//! JSON Schema generated from the kind's Rust type.
//!
//! A general-purpose JSON Schema validator reports instance paths that we would
//! then map back to spans, and its messages are written for schema authors. We
//! only need the subset schemars emits (type, properties, required,
//! additionalProperties, items, enum/const, anyOf/oneOf, $ref, numeric and
//! string bounds), so a small walker over the tree gives exact spans and
//! messages written for the person editing the YAML.

use serde_json::Value as J;

use crate::diagnostics::{Code, Diagnostic, did_you_mean, field_path};
use crate::source::FileId;
use crate::yaml::{Node, Span, Value};

/// Validates `node` against `schema` (whose `$defs` live in `root`).
pub fn validate(root: &J, node: &Node, file: FileId, kind: &str) -> Vec<Diagnostic> {
    let mut v = Walker {
        root,
        file,
        kind,
        out: Vec::new(),
    };
    v.walk(root, node, "", None);
    v.out
}

struct Walker<'a> {
    root: &'a J,
    file: FileId,
    kind: &'a str,
    out: Vec<Diagnostic>,
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the document".to_string()
    } else {
        format!("`{}`", field_path(path))
    }
}

fn json_type_matches(ty: &str, node: &Node) -> bool {
    matches!(
        (ty, &node.value),
        ("null", Value::Null)
            | ("boolean", Value::Bool(_))
            | ("integer", Value::Int(_))
            | ("number", Value::Int(_) | Value::Float(_))
            | ("string", Value::String(_))
            | ("array", Value::Seq(_))
            | ("object", Value::Map(_))
    )
}

fn type_phrase(ty: &str) -> &str {
    match ty {
        "null" => "null",
        "boolean" => "a boolean",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        other => other,
    }
}

/// How to fix a value of the wrong type.
fn type_help(expected: &[&str], node: &Node) -> String {
    let quoted_number = matches!(&node.value, Value::String(s) if s.trim().parse::<f64>().is_ok());
    if (expected.contains(&"integer") || expected.contains(&"number")) && quoted_number {
        return "remove the quotes: a quoted number is a string".into();
    }
    if expected.contains(&"boolean") && matches!(&node.value, Value::String(_)) {
        return "write `true` or `false` without quotes (YAML 1.2: `yes`/`no`/`on`/`off` are strings)".into();
    }
    if expected.contains(&"array") && !matches!(node.value, Value::Seq(_)) {
        return "write a list, e.g. `[a, b]` or one `- item` per line".into();
    }
    if expected.contains(&"string") && matches!(node.value, Value::Seq(_) | Value::Map(_)) {
        return "write a single value here".into();
    }
    if expected.contains(&"string") {
        return "quote the value to make it a string".into();
    }
    if expected.contains(&"integer") {
        return "write a whole number, e.g. `3`".into();
    }
    if expected.contains(&"object") {
        return "write a mapping of `key: value` entries".into();
    }
    format!(
        "expected {}",
        expected
            .iter()
            .map(|t| type_phrase(t))
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => node.type_name().into(),
    }
}

impl<'a> Walker<'a> {
    fn resolve(&self, schema: &'a J) -> &'a J {
        let mut s = schema;
        for _ in 0..32 {
            match s.get("$ref").and_then(J::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                    Some(target) => s = target,
                    None => return s,
                },
                None => return s,
            }
        }
        s
    }

    /// Types a schema accepts, following refs and anyOf branches.
    fn accepted_types(&self, schema: &'a J, acc: &mut Vec<String>) {
        let s = self.resolve(schema);
        match s.get("type") {
            Some(J::String(t)) => acc.push(t.clone()),
            Some(J::Array(ts)) => acc.extend(ts.iter().filter_map(J::as_str).map(String::from)),
            _ => {}
        }
        if s.get("enum").is_some() || s.get("const").is_some() {
            acc.push("string".into());
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(J::Array(branches)) = s.get(key) {
                for b in branches {
                    self.accepted_types(b, acc);
                }
            }
        }
    }

    /// "add `visibility: ...` (one of `public`, `internal`, `private`)".
    fn expectation(&self, field: &str, schema: Option<&'a J>) -> String {
        let mut text = format!("add `{field}:`");
        let Some(schema) = schema else { return text };
        let s = self.resolve(schema);
        if let Some(J::Array(values)) = s.get("enum") {
            let shown: Vec<String> = values
                .iter()
                .map(|v| {
                    format!(
                        "`{}`",
                        v.as_str().map_or_else(|| v.to_string(), String::from)
                    )
                })
                .collect();
            text.push_str(&format!(" with one of {}", shown.join(", ")));
            return text;
        }
        let mut types = Vec::new();
        self.accepted_types(schema, &mut types);
        types.retain(|t| t != "null");
        types.dedup();
        if !types.is_empty() {
            let phrases: Vec<&str> = types.iter().map(|t| type_phrase(t)).collect();
            text.push_str(&format!(" with {}", phrases.join(" or ")));
        }
        if let Some(desc) = s
            .get("description")
            .or_else(|| schema.get("description"))
            .and_then(J::as_str)
        {
            let first = desc.lines().next().unwrap_or("").trim_end_matches('.');
            if !first.is_empty() {
                text.push_str(&format!(" ({first})"));
            }
        }
        text
    }

    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn walk(&mut self, schema: &'a J, node: &Node, path: &str, key_span: Option<Span>) {
        let schema = self.resolve(schema);
        let J::Object(obj) = schema else {
            if schema == &J::Bool(false) {
                self.push(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!("{} is not allowed", display_path(path)),
                    )
                    .at(self.file, node.span),
                );
            }
            return;
        };

        for key in ["anyOf", "oneOf"] {
            if let Some(J::Array(branches)) = obj.get(key) {
                self.walk_alternatives(branches, node, path, key_span);
                return;
            }
        }

        if let Some(ty) = obj.get("type") {
            let types: Vec<&str> = match ty {
                J::String(t) => vec![t.as_str()],
                J::Array(ts) => ts.iter().filter_map(J::as_str).collect(),
                _ => vec![],
            };
            if !types.is_empty() && !types.iter().any(|t| json_type_matches(t, node)) {
                self.wrong_type(&types, node, path);
                return;
            }
        }

        if let Some(J::Array(allowed)) = obj.get("enum") {
            self.check_enum(allowed, node, path);
            return;
        }
        if let Some(c) = obj.get("const") {
            self.check_enum(std::slice::from_ref(c), node, path);
            return;
        }

        match &node.value {
            Value::Map(entries) => self.walk_object(obj, entries, node, path, key_span),
            Value::Seq(items) => {
                if let Some(min) = obj.get("minItems").and_then(J::as_u64) {
                    if (items.len() as u64) < min {
                        self.push(
                            Diagnostic::new(
                                Code::InvalidValue,
                                format!("{} must not be empty", display_path(path)),
                            )
                            .at(self.file, node.span)
                            .help("give at least one value, or remove the field"),
                        );
                    }
                }
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item_schema, item, &format!("{path}/{i}"), None);
                    }
                }
            }
            Value::String(s) => {
                if let Some(min) = obj.get("minLength").and_then(J::as_u64) {
                    if (s.chars().count() as u64) < min {
                        self.push(
                            Diagnostic::new(
                                Code::InvalidValue,
                                format!("{} must not be empty", display_path(path)),
                            )
                            .at(self.file, node.span)
                            .help("give at least one value, or remove the field"),
                        );
                    }
                }
            }
            Value::Int(i) => {
                let i = *i as f64;
                self.check_bounds(obj, i, node, path);
            }
            Value::Float(f) => self.check_bounds(obj, *f, node, path),
            _ => {}
        }
    }

    fn check_bounds(&mut self, obj: &serde_json::Map<String, J>, v: f64, node: &Node, path: &str) {
        if let Some(min) = obj.get("minimum").and_then(J::as_f64) {
            if v < min {
                self.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "{} must be at least {min}, found {}",
                            display_path(path),
                            scalar_text(node)
                        ),
                    )
                    .at(self.file, node.span)
                    .help(format!("use a value of {min} or more")),
                );
            }
        }
        if let Some(max) = obj.get("maximum").and_then(J::as_f64) {
            if v > max {
                self.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!(
                            "{} must be at most {max}, found {}",
                            display_path(path),
                            scalar_text(node)
                        ),
                    )
                    .at(self.file, node.span)
                    .help(format!("use a value of {max} or less")),
                );
            }
        }
    }

    fn check_enum(&mut self, allowed: &[J], node: &Node, path: &str) {
        let value = node.to_json();
        if allowed.contains(&value) {
            return;
        }
        let names: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), String::from))
            .collect();
        let shown: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let mut d = Diagnostic::new(
            Code::InvalidEnumValue,
            format!(
                "{} must be {}{}, found `{}`",
                display_path(path),
                if names.len() == 1 { "" } else { "one of " },
                shown.join(", "),
                scalar_text(node)
            ),
        )
        .at(self.file, node.span)
        .label("not an allowed value");
        let best = match &node.value {
            Value::String(s) => did_you_mean(s, names.iter().map(String::as_str)),
            _ => None,
        };
        d = match best {
            Some(best) => d.help(format!("did you mean `{best}`?")),
            None => d.help(format!(
                "use one of {} (values are case-sensitive)",
                shown.join(", ")
            )),
        };
        self.push(d);
    }

    fn walk_object(
        &mut self,
        obj: &'a serde_json::Map<String, J>,
        entries: &[(crate::yaml::Key, Node)],
        node: &Node,
        path: &str,
        key_span: Option<Span>,
    ) {
        let props = obj.get("properties").and_then(J::as_object);
        if let Some(J::Array(required)) = obj.get("required") {
            for r in required.iter().filter_map(J::as_str) {
                if !entries.iter().any(|(k, _)| k.text == r) {
                    let at = key_span.unwrap_or(Span {
                        end: node.span.start,
                        ..node.span
                    });
                    self.push(
                        Diagnostic::new(
                            Code::MissingField,
                            format!(
                                "missing required field `{r}` in {}",
                                if path.is_empty() {
                                    format!("{} document", self.kind)
                                } else {
                                    display_path(path)
                                }
                            ),
                        )
                        .at(self.file, at)
                        .label(format!("`{r}` is required here"))
                        .help(self.expectation(r, props.and_then(|p| p.get(r)))),
                    );
                }
            }
        }
        let additional = obj.get("additionalProperties");
        for (key, value) in entries {
            let child_path = format!("{path}/{}", key.text.replace('~', "~0").replace('/', "~1"));
            if let Some(prop) = props.and_then(|p| p.get(&key.text)) {
                self.walk(prop, value, &child_path, Some(key.span));
                continue;
            }
            match additional {
                Some(J::Bool(false)) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let mut d = Diagnostic::new(
                        Code::UnknownField,
                        format!(
                            "unknown field `{}` in {}",
                            key.text,
                            if path.is_empty() {
                                format!("{} document", self.kind)
                            } else {
                                display_path(path)
                            }
                        ),
                    )
                    .at(self.file, key.span)
                    .label("unknown field");
                    d = match did_you_mean(&key.text, known.iter().copied()) {
                        Some(best) => d.help(format!("did you mean `{best}`?")),
                        None if !known.is_empty() => {
                            d.help(format!("known fields: {}", known.join(", ")))
                        }
                        None => d,
                    };
                    self.push(d);
                }
                Some(extra) if extra.is_object() => {
                    self.walk(extra, value, &child_path, Some(key.span));
                }
                _ => {}
            }
        }
    }

    fn walk_alternatives(
        &mut self,
        branches: &'a [J],
        node: &Node,
        path: &str,
        key_span: Option<Span>,
    ) {
        // A choice of constants (an enum whose values are documented one by
        // one) is an enum: the diagnostic names every value.
        let constants: Option<Vec<J>> = branches
            .iter()
            .map(|b| self.resolve(b))
            .filter(|b| b.get("type") != Some(&J::String("null".into())))
            .map(|b| b.get("const").cloned())
            .collect();
        if let Some(constants) = constants.filter(|c| !c.is_empty()) {
            if node.value != Value::Null {
                self.check_enum(&constants, node, path);
                return;
            }
        }
        // A branch that accepts the node without complaint wins.
        let mut candidates = Vec::new();
        for b in branches {
            let mut sub = Walker {
                root: self.root,
                file: self.file,
                kind: self.kind,
                out: Vec::new(),
            };
            sub.walk(b, node, path, key_span);
            if sub.out.is_empty() {
                return;
            }
            let mut types = Vec::new();
            self.accepted_types(b, &mut types);
            let type_ok = types.is_empty() || types.iter().any(|t| json_type_matches(t, node));
            candidates.push((type_ok, sub.out));
        }
        // Report the errors of the branch whose type matches, with the fewest errors.
        if let Some((_, errs)) = candidates
            .into_iter()
            .filter(|(ok, _)| *ok)
            .min_by_key(|(_, errs)| errs.len())
        {
            self.out.extend(errs);
            return;
        }
        let mut types = Vec::new();
        for b in branches {
            self.accepted_types(b, &mut types);
        }
        types.dedup();
        let types: Vec<&str> = types.iter().map(String::as_str).collect();
        self.wrong_type(&types, node, path);
    }

    /// "`spec.x` must be an integer, found a string".
    fn wrong_type(&mut self, types: &[&str], node: &Node, path: &str) {
        let expected: Vec<&str> = types
            .iter()
            .filter(|t| **t != "null")
            .map(|t| type_phrase(t))
            .collect();
        self.push(
            Diagnostic::new(
                Code::WrongType,
                format!(
                    "{} must be {}, found {}",
                    display_path(path),
                    expected.join(" or "),
                    node.type_name()
                ),
            )
            .at(self.file, node.span)
            .label(format!("expected {}", expected.join(" or ")))
            .help(type_help(types, node)),
        );
    }
}
