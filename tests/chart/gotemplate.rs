//! A Go `text/template` renderer for the subset of Helm the chart uses, so the
//! chart is rendered and checked without a `helm` binary (docs/helm.md lists
//! the subset).
//!
//! - Actions: `{{ pipeline }}`, `if` / `else if` / `else`, `with` / `else`,
//!   `range` (lists; dot is the item), `define`, comments `{{/* */}}`, and the
//!   trim markers `{{-` and `-}}`.
//! - Operands: `.`, `.A.b` field chains, `$` and `$.A.b`, strings, integers,
//!   `true`/`false`, parenthesized pipelines; `|` passes the value as the last
//!   argument.
//! - Functions: `include`, `toYaml`, `nindent`, `indent`, `quote`, `default`,
//!   `required`, `printf` (`%s`, `%d`, `%v`), `trunc`, `trimSuffix`,
//!   `contains`, `eq`, `ne`, `not`, `and`, `or`.
//!
//! Semantics follow Go: a missing map key is nil (printed as nothing, as Helm
//! does), a field of nil is an error, truthiness is Go's (false, 0, nil, and
//! empty strings, lists and maps are false).

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Print(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
struct Command(Vec<Operand>);

#[derive(Debug, Clone)]
enum Operand {
    /// `.a.b` (root false) or `$.a.b` (root true).
    Field(bool, Vec<String>),
    Literal(Value),
    Func(String),
    Sub(Pipeline),
}

/// A set of parsed templates: the files and every `define` of every file.
#[derive(Default)]
pub struct Templates {
    files: BTreeMap<String, Vec<Node>>,
    defines: BTreeMap<String, Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Int(i64),
    Ident(String),
    Field(bool, Vec<String>),
    Pipe,
    Open,
    Close,
}

/// One piece of a template: text, or the tokens of one action.
enum Piece {
    Text(String),
    Action(Vec<Token>),
}

fn lex(src: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(start) = rest.find("{{") else {
            let text = if trim_next { rest.trim_start() } else { rest };
            pieces.push(Piece::Text(text.to_string()));
            break;
        };
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[start + 2..];
        if let Some(after) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = after;
        }
        pieces.push(Piece::Text(text.to_string()));
        let (tokens, consumed, trim) = lex_action(inner)?;
        trim_next = trim;
        if let Some(tokens) = tokens {
            pieces.push(Piece::Action(tokens));
        }
        rest = &inner[consumed..];
    }
    Ok(pieces)
}

/// Lexes one action up to and including its `}}`. Returns the tokens (None
/// for a comment), the bytes consumed, and whether it ended with `-}}`.
fn lex_action(s: &str) -> Result<(Option<Vec<Token>>, usize, bool), String> {
    let trimmed = s.trim_start();
    if trimmed.starts_with("/*") {
        let end = s.find("*/").ok_or("unclosed comment")?;
        let after = &s[end + 2..];
        let ws = after.len() - after.trim_start().len();
        let after = after.trim_start();
        if after.starts_with("-}}") {
            return Ok((None, end + 2 + ws + 3, true));
        }
        if after.starts_with("}}") {
            return Ok((None, end + 2 + ws + 2, false));
        }
        return Err("comment not followed by }}".into());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut tokens = Vec::new();
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err("unclosed action".into());
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                if s[i..].trim_start().starts_with("-}}") {
                    let ws = s[i..].len() - s[i..].trim_start().len();
                    return Ok((Some(tokens), i + ws + 3, true));
                }
                i += 1;
            }
            b'}' if s[i..].starts_with("}}") => return Ok((Some(tokens), i + 2, false)),
            b'|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b'"' => {
                let mut out = String::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err("unclosed string".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            match bytes.get(i + 1) {
                                Some(b'n') => out.push('\n'),
                                Some(b't') => out.push('\t'),
                                Some(b'"') => out.push('"'),
                                Some(b'\\') => out.push('\\'),
                                _ => return Err("unknown escape".into()),
                            }
                            i += 2;
                        }
                        Some(_) => {
                            let ch = s[i..].chars().next().unwrap_or_default();
                            out.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                i += 1;
                tokens.push(Token::Str(out));
            }
            b'.' | b'$' => {
                let root = c == b'$';
                let start = i;
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
                {
                    i += 1;
                }
                let word = &s[start..i];
                let chain = word.trim_start_matches('$');
                let path = chain
                    .split('.')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                tokens.push(Token::Field(root, path));
            }
            b'0'..=b'9' | b'-' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let n = s[start..i]
                    .parse()
                    .map_err(|_| format!("bad number {}", &s[start..i]))?;
                tokens.push(Token::Int(n));
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token::Ident(s[start..i].to_string()));
            }
            other => return Err(format!("unexpected `{}` in an action", other as char)),
        }
    }
}

fn parse_pipeline(tokens: &[Token]) -> Result<Pipeline, String> {
    let mut pos = 0;
    let p = pipeline_at(tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[pos]));
    }
    Ok(p)
}

fn pipeline_at(tokens: &[Token], pos: &mut usize) -> Result<Pipeline, String> {
    let mut commands = Vec::new();
    let mut operands = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        *pos += 1;
        match t {
            Token::Pipe => commands.push(Command(std::mem::take(&mut operands))),
            Token::Close => {
                *pos -= 1;
                break;
            }
            Token::Open => {
                let sub = pipeline_at(tokens, pos)?;
                if tokens.get(*pos) != Some(&Token::Close) {
                    return Err("unclosed (".into());
                }
                *pos += 1;
                operands.push(Operand::Sub(sub));
            }
            Token::Str(s) => operands.push(Operand::Literal(Value::String(s.clone()))),
            Token::Int(n) => operands.push(Operand::Literal(Value::from(*n))),
            Token::Field(root, path) => operands.push(Operand::Field(*root, path.clone())),
            Token::Ident(name) => operands.push(match name.as_str() {
                "true" => Operand::Literal(Value::Bool(true)),
                "false" => Operand::Literal(Value::Bool(false)),
                "nil" => Operand::Literal(Value::Null),
                _ => Operand::Func(name.clone()),
            }),
        }
    }
    commands.push(Command(operands));
    if commands.iter().any(|c| c.0.is_empty()) {
        return Err("empty command in a pipeline".into());
    }
    Ok(Pipeline(commands))
}

/// Parses pieces into nodes until one of `stops` (a keyword action); returns
/// the nodes and the stopping action's tokens.
fn parse_nodes(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    defines: &mut BTreeMap<String, Vec<Node>>,
    stops: &[&str],
) -> Result<(Vec<Node>, Option<Vec<Token>>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        let tokens = match piece {
            Piece::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t));
                }
                continue;
            }
            Piece::Action(tokens) => tokens,
        };
        let keyword = match tokens.first() {
            Some(Token::Ident(k)) => k.as_str(),
            _ => "",
        };
        if stops.contains(&keyword) {
            return Ok((nodes, Some(tokens)));
        }
        match keyword {
            "if" => {
                let mut branches = vec![(parse_pipeline(&tokens[1..])?, Vec::new())];
                let mut otherwise = Vec::new();
                loop {
                    let (body, stop) = parse_nodes(pieces, defines, &["else", "end"])?;
                    let stop = stop.ok_or("`if` without `end`")?;
                    let last = branches.len() - 1;
                    branches[last].1 = body;
                    match (stop.first(), stop.get(1)) {
                        (Some(Token::Ident(e)), Some(Token::Ident(i)))
                            if e == "else" && i == "if" =>
                        {
                            branches.push((parse_pipeline(&stop[2..])?, Vec::new()));
                        }
                        (Some(Token::Ident(e)), None) if e == "else" => {
                            let (body, stop) = parse_nodes(pieces, defines, &["end"])?;
                            stop.ok_or("`else` without `end`")?;
                            otherwise = body;
                            break;
                        }
                        _ => break,
                    }
                }
                nodes.push(Node::If(branches, otherwise));
            }
            "with" | "range" => {
                let pipeline = parse_pipeline(&tokens[1..])?;
                let (body, stop) = parse_nodes(pieces, defines, &["else", "end"])?;
                let stop = stop.ok_or(format!("`{keyword}` without `end`"))?;
                let otherwise = if stop.len() == 1 && stop[0] == Token::Ident("else".into()) {
                    let (body, stop) = parse_nodes(pieces, defines, &["end"])?;
                    stop.ok_or("`else` without `end`")?;
                    body
                } else {
                    Vec::new()
                };
                nodes.push(if keyword == "with" {
                    Node::With(pipeline, body, otherwise)
                } else {
                    Node::Range(pipeline, body, otherwise)
                });
            }
            "define" => {
                let Some(Token::Str(name)) = tokens.get(1) else {
                    return Err("`define` needs a name".into());
                };
                let (body, stop) = parse_nodes(pieces, defines, &["end"])?;
                stop.ok_or("`define` without `end`")?;
                defines.insert(name.clone(), body);
            }
            "else" | "end" => return Err(format!("unexpected `{keyword}`")),
            _ => nodes.push(Node::Print(parse_pipeline(&tokens)?)),
        }
    }
    if stops.is_empty() {
        Ok((nodes, None))
    } else {
        Err(format!("missing `{}`", stops.join("` or `")))
    }
}

impl Templates {
    /// Parses one file; its `define`s join the set.
    pub fn add(&mut self, name: &str, src: &str) -> Result<(), String> {
        let mut pieces = lex(src)
            .map_err(|e| format!("{name}: {e}"))?
            .into_iter()
            .peekable();
        let (nodes, _) =
            parse_nodes(&mut pieces, &mut self.defines, &[]).map_err(|e| format!("{name}: {e}"))?;
        self.files.insert(name.to_string(), nodes);
        Ok(())
    }

    /// Renders the file `name` with `root` as both `.` and `$`.
    pub fn render(&self, name: &str, root: &Value) -> Result<String, String> {
        let nodes = self.files.get(name).ok_or(format!("no template {name}"))?;
        let mut out = String::new();
        Renderer {
            t: self,
            root,
            depth: 0,
        }
        .nodes(nodes, root, &mut out)
        .map_err(|e| format!("{name}: {e}"))?;
        Ok(out)
    }
}

struct Renderer<'a> {
    t: &'a Templates,
    root: &'a Value,
    depth: usize,
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// How Go prints a value: strings as they are, nil as nothing (Helm).
fn print(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("cannot print {other} without toYaml")),
    })
}

fn int(v: &Value) -> Result<usize, String> {
    v.as_u64()
        .map(|n| n as usize)
        .ok_or(format!("{v} is not a non-negative integer"))
}

fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("{other} is not a string")),
    }
}

impl Renderer<'_> {
    fn nodes(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Print(p) => out.push_str(&print(&self.pipeline(p, dot)?)?),
                Node::If(branches, otherwise) => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if truthy(&self.pipeline(cond, dot)?) {
                            self.nodes(body, dot, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.nodes(otherwise, dot, out)?;
                    }
                }
                Node::With(p, body, otherwise) => {
                    let v = self.pipeline(p, dot)?;
                    if truthy(&v) {
                        self.nodes(body, &v, out)?;
                    } else {
                        self.nodes(otherwise, dot, out)?;
                    }
                }
                Node::Range(p, body, otherwise) => match self.pipeline(p, dot)? {
                    Value::Array(items) if !items.is_empty() => {
                        for item in &items {
                            self.nodes(body, item, out)?;
                        }
                    }
                    Value::Null | Value::Array(_) => self.nodes(otherwise, dot, out)?,
                    other => return Err(format!("range over {other}: only lists")),
                },
            }
        }
        Ok(())
    }

    fn pipeline(&self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut piped: Option<Value> = None;
        for command in &p.0 {
            piped = Some(self.command(command, dot, piped.take())?);
        }
        Ok(piped.unwrap_or(Value::Null))
    }

    fn command(&self, c: &Command, dot: &Value, piped: Option<Value>) -> Result<Value, String> {
        let (head, rest) = c.0.split_first().ok_or("empty command")?;
        if let Operand::Func(name) = head {
            let mut args = rest
                .iter()
                .map(|o| self.operand(o, dot))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            return self.call(name, args);
        }
        if !rest.is_empty() || piped.is_some() {
            return Err("only a function takes arguments".into());
        }
        self.operand(head, dot)
    }

    fn operand(&self, o: &Operand, dot: &Value) -> Result<Value, String> {
        match o {
            Operand::Literal(v) => Ok(v.clone()),
            Operand::Sub(p) => self.pipeline(p, dot),
            Operand::Func(name) => self.call(name, Vec::new()),
            Operand::Field(root, path) => {
                let mut v = if *root { self.root } else { dot };
                for (i, key) in path.iter().enumerate() {
                    v = match v {
                        Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
                        Value::Null => {
                            return Err(format!(
                                "nil pointer evaluating .{}",
                                path[..=i].join(".")
                            ));
                        }
                        other => return Err(format!("can't evaluate field {key} in {other}")),
                    };
                }
                Ok(v.clone())
            }
        }
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{name} takes {n} arguments, got {}", args.len()))
            }
        };
        Ok(match name {
            "include" => {
                arity(2)?;
                let template = string(&args[0])?;
                let body = self
                    .t
                    .defines
                    .get(&template)
                    .ok_or(format!("no template {template:?}"))?;
                if self.depth > 32 {
                    return Err("include nested too deep".into());
                }
                let mut out = String::new();
                Renderer {
                    t: self.t,
                    root: self.root,
                    depth: self.depth + 1,
                }
                .nodes(body, &args[1], &mut out)?;
                Value::String(out)
            }
            "toYaml" => {
                arity(1)?;
                let yaml = kradle_compiler::emit::to_yaml(&args[0]);
                Value::String(yaml.trim_end_matches('\n').to_string())
            }
            "indent" | "nindent" => {
                arity(2)?;
                let pad = " ".repeat(int(&args[0])?);
                let text = print(&args[1])?;
                let body = text
                    .split('\n')
                    .map(|l| format!("{pad}{l}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                Value::String(if name == "nindent" {
                    format!("\n{body}")
                } else {
                    body
                })
            }
            // Sprig's `join SEP LIST`: the items, printed, between SEPs.
            "join" => {
                arity(2)?;
                let sep = print(&args[0])?;
                let items = match &args[1] {
                    Value::Array(items) => {
                        items.iter().map(print).collect::<Result<Vec<_>, _>>()?
                    }
                    Value::Null => Vec::new(),
                    other => vec![print(other)?],
                };
                Value::String(items.join(&sep))
            }
            "quote" => {
                arity(1)?;
                Value::String(serde_json::to_string(&print(&args[0])?).map_err(|e| e.to_string())?)
            }
            "default" => {
                // `default D` with nothing piped is D (Helm: a missing value).
                match args.len() {
                    1 => args[0].clone(),
                    2 if truthy(&args[1]) => args[1].clone(),
                    2 => args[0].clone(),
                    n => return Err(format!("default takes 2 arguments, got {n}")),
                }
            }
            "required" => {
                arity(2)?;
                if matches!(&args[1], Value::Null) || args[1] == Value::String(String::new()) {
                    return Err(string(&args[0])?);
                }
                args[1].clone()
            }
            "printf" => {
                let (format, values) = args.split_first().ok_or("printf needs a format")?;
                let format = string(format)?;
                let mut out = String::new();
                let mut values = values.iter();
                let mut chars = format.chars();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        out.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some('s' | 'd' | 'v') => {
                            out.push_str(&print(values.next().ok_or("printf: too few arguments")?)?)
                        }
                        other => {
                            return Err(format!("printf: verb %{other:?} is not in the subset"));
                        }
                    }
                }
                if values.next().is_some() {
                    return Err("printf: too many arguments".into());
                }
                Value::String(out)
            }
            "trunc" => {
                arity(2)?;
                let s = string(&args[1])?;
                Value::String(s.chars().take(int(&args[0])?).collect())
            }
            "trimSuffix" => {
                arity(2)?;
                let (suffix, s) = (string(&args[0])?, string(&args[1])?);
                Value::String(s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string())
            }
            "contains" => {
                arity(2)?;
                Value::Bool(string(&args[1])?.contains(string(&args[0])?.as_str()))
            }
            "eq" | "ne" => {
                arity(2)?;
                Value::Bool((args[0] == args[1]) == (name == "eq"))
            }
            "not" => {
                arity(1)?;
                Value::Bool(!truthy(&args[0]))
            }
            // Go returns the first falsy (and) or truthy (or) argument, else the last.
            "and" => args
                .iter()
                .find(|v| !truthy(v))
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Null),
            "or" => args
                .iter()
                .find(|v| truthy(v))
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Null),
            other => return Err(format!("function {other:?} is not in the subset")),
        })
    }
}
