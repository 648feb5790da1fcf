//! The terminal renderer: miette's graphical report, over a window of the
//! file so that a diagnostic in a large file costs the lines it shows.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};

use super::{LineIndex, floor_char_boundary};
use crate::diagnostics::{Diagnostic, Severity};
use crate::source::{FileId, Sources};
use crate::text as escape;
use crate::yaml::Span;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_byte_offsets() {
        let t = "token: ghp_secret\nnext: é";
        let m = masked(t, &[(7, 17)]);
        assert_eq!(m.len(), t.len());
        assert!(!m.contains("ghp_"));
        assert!(m.ends_with("next: é"));
    }
}
