//! YAML 1.2 loading into a value tree where every node keeps its source span.
//!
//! We build our own tree from `saphyr-parser` events instead of using a serde
//! deserializer because checks need the position of every value (so a problem in
//! `/spec/organizationRef` points at its line and column), duplicate keys must be
//! errors, and hostile input (alias bombs, deep nesting) must be refused with a
//! diagnostic rather than exhausting memory or the stack.
//!
//! Scalars are resolved with the YAML 1.2 core schema: `no`, `on`, `yes` stay
//! strings; `true`/`false`, `null`/`~`, decimal, octal (`0o`) and hex (`0x`)
//! integers and floats are typed. Quoted scalars are always strings.

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

/// Largest number of nodes one document may expand to (aliases included).
pub const MAX_NODES_PER_DOCUMENT: usize = 200_000;
/// Largest number of values aliases may copy in one file. A long string
/// copied by an alias counts one value per [`ALIAS_BYTES_PER_VALUE`] bytes.
pub const MAX_ALIAS_VALUES_PER_FILE: usize = 200_000;
/// Largest number of values aliases may copy in one run (all files).
pub const MAX_ALIAS_VALUES_PER_RUN: usize = 1_000_000;
/// Largest number of values in one run, all files and aliases together.
pub const MAX_VALUES_PER_RUN: usize = 1_500_000;
/// How many bytes of a string copied by an alias count as one value.
pub const ALIAS_BYTES_PER_VALUE: usize = 64;

/// What is left of the limits of one run; one budget is shared by every file
/// parsed in a run, so many files (or many documents) just under a
/// per-document limit cannot add up to an exhausted machine.
#[derive(Debug, Clone)]
pub struct Budget {
    values: usize,
    alias_values: usize,
    /// Set once a run limit was hit: later files are not parsed.
    exhausted: bool,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            values: MAX_VALUES_PER_RUN,
            alias_values: MAX_ALIAS_VALUES_PER_RUN,
            exhausted: false,
        }
    }
}

impl Budget {
    /// Whether a run limit was hit (and later files were not parsed).
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }
}
/// Deepest nesting of collections accepted in one document.
pub const MAX_DEPTH: usize = 128;

/// A byte range in a source file plus the 1-based line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub span: Span,
}

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Node,
    /// Span of the whole document (its first node).
    pub span: Span,
}

/// A problem found while reading YAML; the loader turns it into a diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub kind: YamlErrorKind,
    pub message: String,
    pub span: Span,
    /// For duplicate keys: where the key was first seen.
    pub first: Option<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    Syntax,
    DuplicateKey,
    TooLarge,
    TooDeep,
    UnknownAlias,
    BadKey,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn key_span(&self, key: &str) -> Option<Span> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.text == key)
                .map(|(k, _)| k.span),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Follows a JSON Pointer (`/spec/members/0`) through maps and sequences.
    pub fn pointer(&self, pointer: &str) -> Option<&Node> {
        if pointer.is_empty() {
            return Some(self);
        }
        let mut node = self;
        for raw in pointer.strip_prefix('/')?.split('/') {
            let token = raw.replace("~1", "/").replace("~0", "~");
            node = match &node.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.text == token)
                    .map(|(_, v)| v)?,
                Value::Seq(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The JSON equivalent of this node (map order kept).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Every string scalar below this node, with its span (keys excluded).
    pub fn for_each_string<'a>(&'a self, f: &mut impl FnMut(&'a str, Span)) {
        match &self.value {
            Value::String(s) => f(s, self.span),
            Value::Seq(items) => items.iter().for_each(|n| n.for_each_string(f)),
            Value::Map(entries) => entries.iter().for_each(|(_, n)| n.for_each_string(f)),
            _ => {}
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Maps character indices (what the parser reports) to byte offsets.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of every character; empty when the text is ASCII.
    table: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let table = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).collect()
        };
        Offsets { text, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.table.is_empty() {
            char_index.min(self.text.len())
        } else {
            self.table
                .get(char_index)
                .copied()
                .unwrap_or(self.text.len())
        }
    }

    fn span(&self, span: &YamlSpan) -> Span {
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index()).max(start);
        Span {
            start,
            end,
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<(Key, Node)>,
        pending: Option<Key>,
        span: Span,
        anchor: usize,
    },
}

/// Parses every document of `text` with the limits of a run of its own.
pub fn parse(text: &str) -> (Vec<Document>, Vec<YamlError>) {
    parse_with(text, &mut Budget::default())
}

/// Parses every document of `text`, spending `budget`. Returns the documents
/// read before the first fatal problem, plus every problem found. Empty
/// documents are skipped. Nothing is parsed once the budget is exhausted.
pub fn parse_with(text: &str, budget: &mut Budget) -> (Vec<Document>, Vec<YamlError>) {
    if budget.exhausted {
        return (Vec::new(), Vec::new());
    }
    let offsets = Offsets::new(text);
    let mut file_alias_values = 0usize;
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut parser = Parser::new_from_str(text);

    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Node> = std::collections::HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Node> = None;
    // Set once the current document failed: skip its events until it ends.
    let mut poisoned = false;

    loop {
        let (event, yspan) = match parser.next_event() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                let m = e.marker();
                let start = offsets.byte(m.index());
                errors.push(YamlError {
                    kind: YamlErrorKind::Syntax,
                    message: e.info().to_string(),
                    span: Span {
                        start,
                        end: start,
                        line: m.line(),
                        column: m.col() + 1,
                    },
                    first: None,
                });
                return (docs, errors);
            }
        };
        let span = offsets.span(&yspan);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                stack.clear();
                anchors.clear();
                nodes = 0;
                root = None;
                poisoned = false;
            }
            Event::DocumentEnd => {
                if let Some(node) = root.take() {
                    if !poisoned && node.value != Value::Null {
                        docs.push(Document {
                            span: node.span,
                            root: node,
                        });
                    }
                }
            }
            _ if poisoned => {}
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                nodes += 1;
                if !budget.spend(1) {
                    errors.push(run_limit(span));
                    break;
                }
                if stack.len() >= MAX_DEPTH {
                    errors.push(YamlError {
                        kind: YamlErrorKind::TooDeep,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                        span,
                        first: None,
                    });
                    poisoned = true;
                    stack.clear();
                    continue;
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        span,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        entries: Vec::new(),
                        pending: None,
                        span,
                        anchor,
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match stack.pop() {
                    Some(Frame::Seq {
                        items,
                        span: s,
                        anchor,
                    }) => (
                        Node {
                            value: Value::Seq(items),
                            span: close(s, span),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        entries,
                        span: s,
                        anchor,
                        ..
                    }) => (
                        Node {
                            value: Value::Map(entries),
                            span: close(s, span),
                        },
                        anchor,
                    ),
                    None => continue,
                };
                if let Err(e) = attach(&mut stack, &mut root, &mut anchors, node.0, node.1) {
                    errors.push(e);
                    poisoned = true;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                if !budget.spend(1) {
                    errors.push(run_limit(span));
                    break;
                }
                let tag = tag.map(|t| t.suffix.clone());
                let value = resolve_scalar(&text, style, tag.as_deref());
                let node = Node { value, span };
                if let Err(e) = attach(&mut stack, &mut root, &mut anchors, node, anchor) {
                    errors.push(e);
                    poisoned = true;
                }
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    errors.push(YamlError {
                        kind: YamlErrorKind::UnknownAlias,
                        message: "alias refers to an unknown anchor".into(),
                        span,
                        first: None,
                    });
                    poisoned = true;
                    continue;
                };
                let size = alias_weight(target);
                nodes = nodes.saturating_add(size);
                file_alias_values = file_alias_values.saturating_add(size);
                if file_alias_values > MAX_ALIAS_VALUES_PER_FILE {
                    errors.push(YamlError {
                        kind: YamlErrorKind::TooLarge,
                        message: format!(
                            "aliases in this file expand to more than {MAX_ALIAS_VALUES_PER_FILE} values; the rest of the file is not read"
                        ),
                        span,
                        first: None,
                    });
                    break;
                }
                budget.alias_values = budget.alias_values.saturating_sub(size);
                if budget.alias_values == 0 || !budget.spend(size) {
                    budget.exhausted = true;
                    errors.push(run_limit(span));
                    break;
                }
                if nodes > MAX_NODES_PER_DOCUMENT {
                    errors.push(YamlError {
                        kind: YamlErrorKind::TooLarge,
                        message: format!(
                            "document expands to more than {MAX_NODES_PER_DOCUMENT} values through aliases"
                        ),
                        span,
                        first: None,
                    });
                    poisoned = true;
                    stack.clear();
                    continue;
                }
                let mut copy = target.clone();
                copy.span = span;
                if let Err(e) = attach(&mut stack, &mut root, &mut anchors, copy, 0) {
                    errors.push(e);
                    poisoned = true;
                }
            }
        }
        if nodes > MAX_NODES_PER_DOCUMENT && !poisoned {
            errors.push(YamlError {
                kind: YamlErrorKind::TooLarge,
                message: format!("document has more than {MAX_NODES_PER_DOCUMENT} values"),
                span,
                first: None,
            });
            poisoned = true;
            stack.clear();
        }
    }
    (docs, errors)
}

fn close(open: Span, close: Span) -> Span {
    Span {
        end: close.end.max(open.start),
        ..open
    }
}

impl Budget {
    /// Takes `n` values; `false` (and exhausted) when the run has no more.
    fn spend(&mut self, n: usize) -> bool {
        if self.values < n {
            self.values = 0;
            self.exhausted = true;
            return false;
        }
        self.values -= n;
        true
    }
}

fn run_limit(span: Span) -> YamlError {
    YamlError {
        kind: YamlErrorKind::TooLarge,
        message: format!(
            "the config files expand to more than {MAX_VALUES_PER_RUN} values in all (or their aliases to more than {MAX_ALIAS_VALUES_PER_RUN}); nothing after this point is read"
        ),
        span,
        first: None,
    }
}

/// What copying `node` through an alias costs: its values, plus one per
/// [`ALIAS_BYTES_PER_VALUE`] bytes of its strings and keys.
fn alias_weight(node: &Node) -> usize {
    let mut count = 0usize;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.value {
            Value::String(s) => count = count.saturating_add(s.len() / ALIAS_BYTES_PER_VALUE),
            Value::Map(entries) => {
                for (k, v) in entries {
                    count = count.saturating_add(k.text.len() / ALIAS_BYTES_PER_VALUE);
                    todo.push(v);
                }
            }
            Value::Seq(items) => todo.extend(items.iter()),
            _ => {}
        }
    }
    count
}

fn attach(
    stack: &mut [Frame],
    root: &mut Option<Node>,
    anchors: &mut std::collections::HashMap<usize, Node>,
    node: Node,
    anchor: usize,
) -> Result<(), YamlError> {
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    match stack.last_mut() {
        None => {
            *root = Some(node);
            Ok(())
        }
        Some(Frame::Seq { items, .. }) => {
            items.push(node);
            Ok(())
        }
        Some(Frame::Map {
            entries, pending, ..
        }) => match pending.take() {
            None => {
                let text = match node.value {
                    Value::String(s) => s,
                    Value::Int(i) => i.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Float(f) => f.to_string(),
                    Value::Null => "null".to_string(),
                    Value::Seq(_) | Value::Map(_) => {
                        return Err(YamlError {
                            kind: YamlErrorKind::BadKey,
                            message: "a mapping key must be a plain value, not a list or mapping"
                                .into(),
                            span: node.span,
                            first: None,
                        });
                    }
                };
                if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == text) {
                    return Err(YamlError {
                        kind: YamlErrorKind::DuplicateKey,
                        message: format!("duplicate key `{text}`"),
                        span: node.span,
                        first: Some(first.span),
                    });
                }
                *pending = Some(Key {
                    text,
                    span: node.span,
                });
                Ok(())
            }
            Some(key) => {
                entries.push((key, node));
                Ok(())
            }
        },
    }
}

/// Resolves a scalar with the YAML 1.2 core schema.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text.to_string()),
        Some("null") => return Value::Null,
        Some("bool") | Some("int") | Some("float") | None => {}
        Some(_) => return Value::String(text.to_string()),
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(v) = parse_int(text) {
        return Value::Int(v);
    }
    if is_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(oct) = text.strip_prefix("0o") {
        return (!oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then(|| i64::from_str_radix(oct, 8).ok())
            .flatten();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| i64::from_str_radix(hex, 16).ok())
            .flatten();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

fn is_float(text: &str) -> bool {
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == s {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let (docs, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        docs.into_iter().next().map(|d| d.root).unwrap_or(Node {
            value: Value::Null,
            span: Span::default(),
        })
    }

    #[test]
    fn yaml_1_2_keeps_norway_and_on_as_strings() {
        let n = one("a: no\nb: on\nc: yes\nd: true\ne: 0123\nf: 0o17\ng: 1.5\nh: ~\n");
        assert_eq!(n.get("a").unwrap().value, Value::String("no".into()));
        assert_eq!(n.get("b").unwrap().value, Value::String("on".into()));
        assert_eq!(n.get("c").unwrap().value, Value::String("yes".into()));
        assert_eq!(n.get("d").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("e").unwrap().value, Value::Int(123));
        assert_eq!(n.get("f").unwrap().value, Value::Int(15));
        assert_eq!(n.get("g").unwrap().value, Value::Float(1.5));
        assert_eq!(n.get("h").unwrap().value, Value::Null);
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let n = one("a: \"true\"\nb: '12'\n");
        assert_eq!(n.get("a").unwrap().value, Value::String("true".into()));
        assert_eq!(n.get("b").unwrap().value, Value::String("12".into()));
    }

    #[test]
    fn spans_point_at_line_and_column() {
        let n = one("metadata:\n  name: acme\n");
        let name = n.pointer("/metadata/name").unwrap();
        assert_eq!((name.span.line, name.span.column), (2, 9));
        assert_eq!(
            &"metadata:\n  name: acme\n"[name.span.start..name.span.end],
            "acme"
        );
    }

    #[test]
    fn spans_are_byte_offsets_with_unicode() {
        let text = "a: \"héllo\"\nb: x\n";
        let n = one(text);
        let b = n.get("b").unwrap();
        assert_eq!(&text[b.span.start..b.span.end], "x");
    }

    #[test]
    fn duplicate_keys_are_errors_pointing_at_both() {
        let (_, errors) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, YamlErrorKind::DuplicateKey);
        assert_eq!(errors[0].span.line, 3);
        assert_eq!(errors[0].first.unwrap().line, 1);
    }

    #[test]
    fn multi_document_and_empty_documents() {
        let (docs, errors) = parse("---\na: 1\n---\n---\n# just a comment\n---\nb: 2\n");
        assert!(errors.is_empty());
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            text.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        let (docs, errors) = parse(&text);
        assert!(docs.is_empty());
        assert_eq!(errors[0].kind, YamlErrorKind::TooLarge);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let text = "[".repeat(100_000);
        let (_, errors) = parse(&text);
        assert!(!errors.is_empty());
    }

    #[test]
    fn syntax_error_has_position() {
        let (_, errors) = parse("a: [1, 2\nb: 3\n");
        assert_eq!(errors[0].kind, YamlErrorKind::Syntax);
        assert!(errors[0].span.line >= 1);
    }
}
