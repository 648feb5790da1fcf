//! Rendering diagnostics: human (miette), JSON and SARIF 2.1.0.
//!
//! Rendering lives in the library (not the binary) so that snapshot tests pin
//! exactly what a user sees. Secrets never reach any output: masked byte
//! ranges are replaced by `*` in the source shown, and messages are built
//! without the values that triggered them.

use std::fmt;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde_json::{Value, json};

use crate::diagnostics::{CODES, Diagnostic, Severity};
use crate::source::{FileId, Sources};
use crate::text as escape;
use crate::yaml::Span;

/// Counts shown in summaries.
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

/// A file as miette reads it: only a window of lines around each span is
/// handed to miette, so rendering many diagnostics of a large file stays
/// linear in the number of diagnostics.
struct FileSource {
    name: String,
    text: Arc<str>,
    index: Arc<LineIndex>,
    /// Lines of the file before `text` (0 unless `text` is a window).
    line_offset: usize,
    /// Per line of a window: bytes cut from its start, so columns are those
    /// of the file.
    column_shift: Vec<usize>,
}

/// A span over more lines than this is shown by its first line only.
const MAX_SPAN_LINES: usize = 12;

/// `span` cut to the end of its first line when it covers too many lines.
fn clip_span(text: &str, index: &LineIndex, span: Span) -> Span {
    let first = index.line_of(span.start.min(text.len()));
    let last = index.line_of(span.end.min(text.len()));
    if last - first <= MAX_SPAN_LINES {
        return span;
    }
    Span {
        end: index.line_range(text, first).1,
        ..span
    }
}

/// Longest line shown whole; a longer one is cut to a window around the
/// error, so a 50 KB line does not flood the terminal.
const MAX_SHOWN_LINE: usize = 240;

/// A window of `text` around `spans`: the lines they cover with three lines
/// of context, each line longer than [`MAX_SHOWN_LINE`] cut around the first
/// span on it (or to its start). Returns the window, its first line and the
/// spans moved into it.
fn window(text: &str, index: &LineIndex, spans: &[Span]) -> (String, usize, Vec<Span>, Vec<usize>) {
    let lines = index.starts.len();
    let first = spans
        .iter()
        .map(|s| index.line_of(s.start.min(text.len())))
        .min()
        .unwrap_or(0)
        .saturating_sub(3);
    let last = spans
        .iter()
        .map(|s| index.line_of(s.end.min(text.len())))
        .max()
        .unwrap_or(0)
        .saturating_add(3)
        .min(lines - 1);
    let mut out = String::new();
    let mut shift = Vec::new();
    // (original kept start, original kept end, offset in `out`) per line.
    let mut kept = Vec::new();
    for line in first..=last {
        let (start, end) = index.line_range(text, line);
        let (mut ks, mut ke) = (start, end);
        if end - start > MAX_SHOWN_LINE {
            let anchor = spans
                .iter()
                .map(|s| s.start)
                .find(|&p| p >= start && p <= end)
                .unwrap_or(start);
            ks = anchor.saturating_sub(MAX_SHOWN_LINE / 2).max(start);
            ke = (ks + MAX_SHOWN_LINE).min(end);
            ks = floor_char_boundary(text, ks);
            ke = floor_char_boundary(text, ke);
        }
        if ks > start {
            out.push('…');
            // miette counts columns in bytes.
            shift.push((ks - start).saturating_sub('…'.len_utf8()));
        } else {
            shift.push(0);
        }
        kept.push((ks, ke, out.len()));
        out.push_str(&text[ks..ke]);
        if ke < end {
            out.push('…');
        }
        if line < last {
            out.push('\n');
        }
    }
    let map = |p: usize| -> usize {
        let p = p.min(text.len());
        let line = index.line_of(p).clamp(first, last);
        let (ks, ke, at) = kept[line - first];
        at + p.clamp(ks, ke) - ks
    };
    let moved = spans
        .iter()
        .map(|s| Span {
            start: map(s.start),
            end: map(s.end).max(map(s.start)),
            ..*s
        })
        .collect();
    (out, first, moved, shift)
}

impl miette::SourceCode for FileSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let start = span.offset().min(self.text.len());
        let end = (start + span.len()).min(self.text.len());
        let first = self.index.line_of(start).saturating_sub(before + 2);
        let last = self.index.line_of(end) + after + 2;
        let window_start = self.index.starts[first];
        let window_end = self
            .index
            .starts
            .get(last + 1)
            .copied()
            .unwrap_or(self.text.len());
        let slice: &'a str = &self.text[window_start..window_end];
        let inner = <str as miette::SourceCode>::read_span(
            slice,
            &SourceSpan::new((start - window_start).into(), end - start),
            before,
            after,
        )?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            SourceSpan::new(
                (inner.span().offset() + window_start).into(),
                inner.span().len(),
            ),
            inner.line() + first + self.line_offset,
            inner.column()
                + self
                    .column_shift
                    .get(inner.line() + first)
                    .copied()
                    .unwrap_or(0),
            inner.line_count() + first,
        )))
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn masked(text: &str, masks: &[(usize, usize)]) -> String {
    if masks.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if masks.iter().any(|(s, e)| i >= *s && i < *e) && !c.is_whitespace() {
            out.push_str(&"*".repeat(c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    out
}

struct Report<'a> {
    d: &'a Diagnostic,
    /// The message with terminal controls escaped.
    message: String,
    source: Option<FileSource>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.d.code.info().code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}

fn source_span(s: Span) -> SourceSpan {
    SourceSpan::new(s.start.into(), s.end.saturating_sub(s.start))
}

fn location(sources: &Sources, file: FileId, span: Span) -> String {
    format!("{}:{}:{}", sources.get(file).path, span.line, span.column)
}

/// Renders one diagnostic the way a person reads it in a terminal.
pub fn human(sources: &Sources, d: &Diagnostic, color: bool, width: usize) -> String {
    HumanRenderer::new(sources, color, width).render(d)
}

/// A file's text with its secrets masked, and its line index.
type PreparedFile = (Arc<str>, Arc<LineIndex>);
/// A file and the byte ranges masked in it.
type FileKey = (FileId, Vec<(usize, usize)>);

/// Renders many diagnostics, preparing each file (masked text, line index) once.
pub struct HumanRenderer<'s> {
    sources: &'s Sources,
    handler: GraphicalReportHandler,
    files: RefCell<HashMap<FileKey, PreparedFile>>,
}

impl<'s> HumanRenderer<'s> {
    pub fn new(sources: &'s Sources, color: bool, width: usize) -> HumanRenderer<'s> {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        HumanRenderer {
            sources,
            handler: GraphicalReportHandler::new_themed(theme)
                .with_width(width)
                .with_links(false),
            files: RefCell::new(HashMap::new()),
        }
    }

    fn file(
        &self,
        file: FileId,
        text: &str,
        masks: &[(usize, usize)],
    ) -> (Arc<str>, Arc<LineIndex>) {
        let mut masks = masks.to_vec();
        masks.sort();
        self.files
            .borrow_mut()
            .entry((file, masks))
            .or_insert_with_key(|(_, masks)| {
                let masked = masked(text, masks);
                let text: Arc<str> = escape::blank_controls(&masked).into();
                let index = Arc::new(LineIndex::new(&text));
                (text, index)
            })
            .clone()
    }

    pub fn render(&self, d: &Diagnostic) -> String {
        let sources = self.sources;
        let mut labels = Vec::new();
        let mut help = d.help.clone();
        let mut source = None;
        let mut notes = Vec::new();
        let clean = |t: &str| escape::escape_controls(t).into_owned();
        if let (Some(file), Some(span)) = (d.file, d.span) {
            let f = sources.get(file);
            if let Some(text) = &f.text {
                let related: Vec<_> = d.related.iter().filter(|r| r.file == file).collect();
                let mut spans = vec![span];
                spans.extend(related.iter().map(|r| r.span));
                let (mut text, mut index) = self.file(file, text, &d.masks);
                for s in &mut spans {
                    *s = clip_span(&text, &index, *s);
                }
                let mut line_offset = 0;
                let mut column_shift = Vec::new();
                if index.longest > MAX_SHOWN_LINE {
                    let (w, first, moved, shift) = window(&text, &index, &spans);
                    index = Arc::new(LineIndex::new(&w));
                    text = w.into();
                    line_offset = first;
                    spans = moved;
                    column_shift = shift;
                }
                for (r, s) in related.iter().zip(&spans[1..]) {
                    labels.push(LabeledSpan::new_with_span(
                        Some(clean(&r.message)),
                        source_span(*s),
                    ));
                }
                source = Some(FileSource {
                    name: clean(&f.path),
                    text,
                    index,
                    line_offset,
                    column_shift,
                });
                labels.insert(
                    0,
                    LabeledSpan::new_primary_with_span(
                        d.label.as_deref().map(clean),
                        source_span(spans[0]),
                    ),
                );
            }
        }
        for r in d
            .related
            .iter()
            .filter(|r| Some(r.file) != d.file || d.span.is_none())
        {
            notes.push(clean(&format!(
                "{}: {}",
                r.message,
                location(sources, r.file, r.span)
            )));
        }
        if source.is_none() {
            if let Some(file) = d.file {
                let path = &sources.get(file).path;
                if !d.message.contains(path.as_str()) {
                    notes.insert(0, clean(&format!("in {path}")));
                }
            }
        }
        if !notes.is_empty() {
            let joined = notes.join("\n");
            help = Some(match help {
                Some(h) => format!("{h}\n{joined}"),
                None => joined,
            });
        }
        let report = Report {
            d,
            message: clean(&d.message),
            source,
            labels,
            help: help.as_deref().map(clean),
        };
        let mut out = String::new();
        if self.handler.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}\n", d.code.info().code, clean(&d.message));
        }
        out
    }
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

    #[test]
    fn masking_keeps_byte_offsets() {
        let t = "token: ghp_secret\nnext: é";
        let m = masked(t, &[(7, 17)]);
        assert_eq!(m.len(), t.len());
        assert!(!m.contains("ghp_"));
        assert!(m.ends_with("next: é"));
    }
}
