//! Rendering diagnostics: human (miette, behind the `human` feature), JSON
//! and SARIF 2.1.0.
//!
//! Rendering lives in the library (not the binary) so that snapshot tests pin
//! exactly what a user sees. Secrets never reach any output: masked byte
//! ranges are replaced by `*` in the source shown, and messages are built
//! without the values that triggered them.
//!
//! Only the terminal renderer needs miette and its `fancy` feature: a crate
//! that embeds the compiler (the runtime) turns `human` off and keeps the
//! JSON renderers.

#[cfg(feature = "human")]
mod human;

#[cfg(feature = "human")]
pub use human::{HumanRenderer, human};

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::diagnostics::{CODES, Diagnostic, Severity};
use crate::source::{FileId, Sources};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub files: usize,
    pub resources: usize,
}

impl Summary {
    pub fn new(diags: &[Diagnostic], files: usize, resources: usize) -> Summary {
        Summary {
            errors: diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
            warnings: diags
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count(),
            files,
            resources,
        }
    }
}

/// Where each line of a text starts, so positions are found in O(log n)
/// instead of rescanning the file for every diagnostic.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    /// Bytes of the longest line, so a renderer knows once whether to window.
    #[cfg_attr(not(feature = "human"), allow(dead_code))]
    longest: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let longest = starts
            .iter()
            .zip(
                starts
                    .iter()
                    .skip(1)
                    .chain(std::iter::once(&(text.len() + 1))),
            )
            .map(|(s, next)| next - 1 - s)
            .max()
            .unwrap_or(0);
        LineIndex { starts, longest }
    }

    /// Byte range of 0-based line `line`, without its newline.
    #[cfg_attr(not(feature = "human"), allow(dead_code))]
    fn line_range(&self, text: &str, line: usize) -> (usize, usize) {
        let start = self.starts[line];
        let end = self
            .starts
            .get(line + 1)
            .map_or(text.len(), |&next| next - 1);
        (start, end.max(start))
    }

    /// 0-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.line_of(offset);
        let start = self.starts[line].min(offset);
        (line + 1, text[start..offset].chars().count() + 1)
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The closing line of human output.
pub fn human_summary(summary: &Summary) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if summary.errors == 0 && summary.warnings == 0 {
        format!(
            "ok: {} in {}, no problems\n",
            plural(summary.resources, "resource"),
            plural(summary.files, "file")
        )
    } else {
        format!(
            "{}: {}, {} ({} in {})\n",
            if summary.errors > 0 { "failed" } else { "ok" },
            plural(summary.errors, "error"),
            plural(summary.warnings, "warning"),
            plural(summary.resources, "resource"),
            plural(summary.files, "file")
        )
    }
}

fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `{"diagnostics": [...], "summary": {...}}`; `file` relative to the checked
/// folder, 1-based line and column.
pub fn json(sources: &Sources, diags: &[Diagnostic], summary: &Summary) -> Value {
    let mut indexes: HashMap<FileId, LineIndex> = HashMap::new();
    let items: Vec<Value> = diags
        .iter()
        .map(|d| {
            let mut o = json!({
                "code": d.code.info().code,
                "severity": severity_str(d.severity),
                "message": d.message,
                "file": d.file.map(|f| sources.get(f).path.clone()),
                "line": d.span.map(|s| s.line),
                "column": d.span.map(|s| s.column),
                "help": d.help,
            });
            if let (Some(file), Some(span), Some(map)) = (d.file, d.span, o.as_object_mut()) {
                if let Some(text) = &sources.get(file).text {
                    let (l, c) = indexes
                        .entry(file)
                        .or_insert_with(|| LineIndex::new(text))
                        .line_col(text, span.end);
                    map.insert("endLine".into(), json!(l));
                    map.insert("endColumn".into(), json!(c));
                }
                if !d.related.is_empty() {
                    let related: Vec<Value> = d
                        .related
                        .iter()
                        .map(|r| {
                            json!({
                                "message": r.message,
                                "file": sources.get(r.file).path,
                                "line": r.span.line,
                                "column": r.span.column,
                            })
                        })
                        .collect();
                    map.insert("related".into(), Value::Array(related));
                }
            }
            o
        })
        .collect();
    json!({ "diagnostics": items, "summary": summary })
}

/// SARIF 2.1.0 for GitHub code scanning. `uri_prefix` is the checked folder's
/// path inside the repository (`""` at the root), so artifact URIs are
/// relative to the repository root as GitHub expects.
pub fn sarif(sources: &Sources, diags: &[Diagnostic], uri_prefix: &str, version: &str) -> Value {
    let mut indexes: HashMap<FileId, LineIndex> = HashMap::new();
    let rules: Vec<Value> = CODES
        .iter()
        .map(|c| {
            json!({
                "id": c.code,
                "name": c.name,
                "shortDescription": { "text": c.summary },
                "fullDescription": { "text": c.explanation },
                "help": { "text": c.explanation },
                "defaultConfiguration": { "level": severity_str(c.severity) },
            })
        })
        .collect();
    let prefix = uri_prefix.trim_matches('/');
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let rule_index = CODES.iter().position(|c| c.code == d.code.info().code).unwrap_or(0);
            let text = match &d.help {
                Some(h) => format!("{}\nhelp: {h}", d.message),
                None => d.message.clone(),
            };
            let mut r = json!({
                "ruleId": d.code.info().code,
                "ruleIndex": rule_index,
                "level": severity_str(d.severity),
                "message": { "text": text },
            });
            if let (Some(file), Some(map)) = (d.file, r.as_object_mut()) {
                let path = &sources.get(file).path;
                let uri = if prefix.is_empty() { path.clone() } else { format!("{prefix}/{path}") };
                let mut physical = json!({ "artifactLocation": { "uri": uri, "uriBaseId": "%SRCROOT%" } });
                if let (Some(span), Some(text)) = (d.span, &sources.get(file).text) {
                    let index = indexes.entry(file).or_insert_with(|| LineIndex::new(text));
                    let (end_line, end_col) =
                        index.line_col(text, span.end.max(span.start + 1).min(text.len()));
                    physical["region"] = json!({
                        "startLine": span.line,
                        "startColumn": span.column,
                        "endLine": end_line.max(span.line),
                        "endColumn": if end_line > span.line { end_col } else { end_col.max(span.column + 1) },
                    });
                }
                map.insert("locations".into(), json!([{ "physicalLocation": physical }]));
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "kradle",
                "version": version,
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let t = "ab\ncdé f\n";
        let idx = LineIndex::new(t);
        assert_eq!(idx.line_col(t, 0), (1, 1));
        assert_eq!(idx.line_col(t, 3), (2, 1));
        assert_eq!(idx.line_col(t, t.find('f').unwrap()), (2, 5));
    }

    #[test]
    fn line_index_agrees_with_a_scan() {
        let t = "a\nbé\n\nccc\n";
        let idx = LineIndex::new(t);
        for off in 0..=t.len() {
            let before = &t[..floor_char_boundary(t, off)];
            let line = before.matches('\n').count() + 1;
            let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                .chars()
                .count()
                + 1;
            assert_eq!(idx.line_col(t, off), (line, col), "offset {off}");
        }
    }
}
