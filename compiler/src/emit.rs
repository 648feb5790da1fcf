//! Deterministic YAML output that reads the same under YAML 1.1 and 1.2.
//!
//! Argo CD, kubectl and many other readers still resolve scalars with YAML 1.1
//! rules, where `no`, `on`, `y` are booleans and `0123` is octal. Every string
//! that any YAML version could read as something else is double-quoted, so the
//! output means the same thing to every reader. Keys keep the order of the
//! JSON map (callers build canonical order).

use serde_json::Value;

/// Renders `value` as a YAML document (no leading `---`).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in m {
        write_entry(out, k, v, level);
    }
}

fn write_entry(out: &mut String, k: &str, v: &Value, level: usize) {
    indent(out, level);
    out.push_str(&quote_str(k));
    out.push(':');
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    for item in a {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut iter = m.iter();
                if let Some((k, v)) = iter.next() {
                    // First key on the dash line.
                    let mut first = String::new();
                    write_entry(&mut first, k, v, level + 2);
                    out.push(' ');
                    out.push_str(&first[level + 2..]);
                }
                for (k, v) in iter {
                    write_entry(out, k, v, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_str(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Words YAML 1.1 or 1.2 resolve to a boolean or null.
const SPECIAL_WORDS: &[&str] = &[
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "nan", ".nan", "inf", ".inf",
    "-.inf", "+.inf",
];

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if SPECIAL_WORDS.contains(&lower.as_str()) {
        return true;
    }
    // Anything that starts like a number under either version: integers,
    // octal `0123`, hex, floats, `1_000`, sexagesimal `1:20`, and YAML 1.1
    // timestamps `2026-01-01T00:00:00Z`. Quoting a plain word like `10Gi` is
    // harmless; missing one of these is not.
    let first = s.as_bytes()[0];
    let second = s.as_bytes().get(1).copied().unwrap_or(b' ');
    if first.is_ascii_digit()
        || (matches!(first, b'-' | b'+' | b'.') && (second.is_ascii_digit() || second == b'.'))
    {
        return true;
    }
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) {
        return true;
    }
    s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars()
            .any(|c| c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}')
}

fn quote_str(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_yaml_1_1_ambiguities() {
        let v = json!({"a": "no", "b": "on", "c": "0123", "d": "1e3", "e": "plain", "f": "", "g": "x: y", "h": "1:20", "i": "Yes", "j": "2026-01-01T00:00:00Z"});
        let y = to_yaml(&v);
        for line in [
            "a: \"no\"",
            "b: \"on\"",
            "c: \"0123\"",
            "d: \"1e3\"",
            "e: plain",
            "f: \"\"",
            "g: \"x: y\"",
            "h: \"1:20\"",
            "i: \"Yes\"",
        ] {
            assert!(y.contains(line), "{line} not in\n{y}");
        }
    }

    #[test]
    fn nested_maps_and_lists_round_trip_through_our_parser() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "kradle-org-acme", "labels": {"kradle.a5c.ai/org": "acme"}},
            "spec": {"list": [{"name": "a", "v": [1, 2]}, "s", [], {}], "empty": {}, "multi": "line1\nline2"},
        });
        let y = to_yaml(&v);
        let (docs, errors) = crate::yaml::parse(&y);
        assert!(errors.is_empty(), "{errors:?}\n{y}");
        assert_eq!(docs[0].root.to_json(), v, "\n{y}");
    }
}
