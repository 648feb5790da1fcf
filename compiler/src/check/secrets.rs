//! Secret hygiene: the redaction patterns of the spec's `scanForRedaction()`
//! and the common provider token formats, applied to every value, every key
//! and every comment of every file. Specs are committed to git and synced to
//! the cluster, so a token found here has already leaked once; the
//! diagnostic names the kind of secret and masks it in every output.
//!
//! Three scans, so nothing slips through:
//! - every string value of the parsed tree, decoded (quotes, escapes, block
//!   scalars), against the token patterns;
//! - every `password:`-style entry (the key says what the literal value is),
//!   and every env-style `{ name: DB_PASSWORD, value: … }` pair;
//! - the raw text of the file, for tokens in keys and comments, which the
//!   human output would otherwise print next to another error.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use crate::diagnostics::{Code, Diagnostic};
use crate::source::FileId;
use crate::yaml::{Node, Span, Value};

struct Pattern {
    what: &'static str,
    regex: Regex,
}

/// Token formats, most specific first.
static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    [
        ("a GitHub token (ghp_/gho_/ghs_/...)", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
        ("a GitHub fine-grained token (github_pat_)", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        (
            "a GitLab token (glpat-/gldt-/glrt-/...)",
            r"\bgl(?:pat|dt|rt|cbt|ptt|ft|imt|oas|agent)-[A-Za-z0-9_\-]{20,}",
        ),
        ("a Slack token (xox?-)", r"\bxox[abposre]-[A-Za-z0-9\-]{10,}"),
        (
            "a Slack webhook URL",
            r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}",
        ),
        ("a Stripe key (sk_live_/rk_test_/...)", r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"),
        ("an API key (sk-)", r"\bsk-[A-Za-z0-9_\-]{20,}"),
        ("an AWS access key id (AKIA...)", r"\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[0-9A-Z]{16}\b"),
        ("a Google API key (AIza...)", r"\bAIza[0-9A-Za-z_\-]{35}"),
        ("an npm token (npm_)", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("a PyPI token (pypi-)", r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
        ("a Hugging Face token (hf_)", r"\bhf_[A-Za-z]{34}\b"),
        (
            "an Azure storage account key",
            r"(?i)AccountKey=[A-Za-z0-9+/]{80,}={0,2}",
        ),
        ("an Azure SAS signature", r"[?&]sig=[A-Za-z0-9%+/=]{40,}"),
        (
            "an Azure client secret",
            r"(?:^|[^A-Za-z0-9_~.\-])[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?:$|[^A-Za-z0-9_~.\-])",
        ),
        ("a PEM private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
        (
            "a JSON Web Token",
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        ),
        ("a bearer token", r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{20,}=*"),
        (
            "a password in a URL (scheme://user:password@host)",
            r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@'\x22]+:[^/\s@'\x22$<{]{3,}@",
        ),
        (
            "a KEY=value secret",
            r"(?i)\b[A-Z0-9_]*(?:API_?KEY|SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*\s*=\s*[^\s'\x22$<{]{6,}",
        ),
    ]
    .into_iter()
    .filter_map(|(what, re)| Regex::new(re).ok().map(|regex| Pattern { what, regex }))
    .collect()
});

/// All patterns in one automaton: one pass over a text says which match.
static SET: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(PATTERNS.iter().map(|p| p.regex.as_str())).ok());

/// The patterns that match somewhere in `text`, most specific first.
fn matching(text: &str) -> Vec<&'static Pattern> {
    match SET.as_ref() {
        Some(set) => set.matches(text).iter().map(|i| &PATTERNS[i]).collect(),
        None => PATTERNS.iter().filter(|p| p.regex.is_match(text)).collect(),
    }
}

/// What kind of secret `text` looks like, if any.
pub fn looks_like_secret(text: &str) -> Option<&'static str> {
    matching(text).first().map(|p| p.what)
}

/// Whether a key names a secret value (`password`, `apiKey`, `client_secret`).
fn secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
        "credential",
        "credentials",
    ]
    .iter()
    .any(|s| k.ends_with(s))
}

/// Whether a value under a secret-named key is a literal secret, not a
/// placeholder (`${DB_PASSWORD}`, `<token>`, `{{ .token }}`) or nothing.
fn literal_value(v: &str) -> bool {
    let v = v.trim();
    v.chars().count() >= 4
        && !v.starts_with("${")
        && !v.starts_with('<')
        && !v.starts_with("{{")
        && !v.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

fn finding(file: FileId, span: Span, message: String) -> Diagnostic {
    let mut d = Diagnostic::new(Code::SecretInSpec, message)
        .at(file, span)
        .label("secret-like value (masked)")
        .help(
            "never commit secrets: store it in a Kubernetes Secret and reference it (e.g. `secretRef: { name, key }`); rotate it, since it is in git history now",
        );
    d.masks.push((span.start, span.end));
    d
}

/// Scans one parsed document: token-like values and secret-named entries.
pub fn scan(file: FileId, root: &Node, diags: &mut Vec<Diagnostic>) {
    root.for_each_string(&mut |text, span| {
        if let Some(what) = looks_like_secret(text) {
            diags.push(finding(file, span, format!("this value looks like {what}")));
        }
    });
    scan_entries(file, root, diags);
}

fn scan_entries(file: FileId, node: &Node, diags: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                if let Some(text) = value.as_str() {
                    if secret_key(&key.text)
                        && literal_value(text)
                        && looks_like_secret(text).is_none()
                    {
                        diags.push(finding(
                            file,
                            value.span,
                            format!("`{}` holds a literal secret", key.text),
                        ));
                    }
                }
                scan_entries(file, value, diags);
            }
            // Env style: `{ name: DB_PASSWORD, value: hunter2 }`.
            let name = node.get("name").and_then(Node::as_str);
            if let (Some(name), Some(value)) = (name, node.get("value")) {
                if let Some(text) = value.as_str() {
                    if secret_key(name) && literal_value(text) && looks_like_secret(text).is_none()
                    {
                        diags.push(finding(
                            file,
                            value.span,
                            format!("the value of `{name}` is a literal secret"),
                        ));
                    }
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| scan_entries(file, n, diags)),
        _ => {}
    }
}

/// Scans the raw text of a file for tokens the tree does not hold as values:
/// in keys and in comments. `known` are spans already reported.
pub fn scan_text(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) {
    let known: Vec<(usize, usize)> = diags
        .iter()
        .filter(|d| d.file == Some(file) && d.code == Code::SecretInSpec)
        .filter_map(|d| d.span.map(|s| (s.start, s.end)))
        .collect();
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    for p in matching(text) {
        for m in p.regex.find_iter(text) {
            let (start, end) = (m.start(), m.end());
            let overlaps = |a: usize, b: usize| start < b && a < end;
            if known.iter().any(|&(a, b)| overlaps(a, b))
                || found.iter().any(|&(a, b, _)| overlaps(a, b))
            {
                continue;
            }
            found.push((start, end, p.what));
        }
    }
    found.sort();
    for (start, end, what) in found {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let span = Span {
            start,
            end,
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
        };
        let place = if text[line_start..start].contains('#') {
            "this comment"
        } else {
            "this text"
        };
        diags.push(finding(
            file,
            span,
            format!("{place} contains what looks like {what}"),
        ));
    }
}

/// Every diagnostic of a file hides every secret found in that file (a
/// snippet shown for another problem may include the secret's line), and no
/// message repeats a secret-like text.
pub fn mask_everywhere(diags: &mut [Diagnostic]) {
    let mut by_file: std::collections::BTreeMap<FileId, Vec<(usize, usize)>> = Default::default();
    for d in diags.iter() {
        if let Some(f) = d.file {
            by_file
                .entry(f)
                .or_default()
                .extend(d.masks.iter().copied());
        }
    }
    for d in diags.iter_mut() {
        if let Some(masks) = d.file.and_then(|f| by_file.get(&f)) {
            d.masks.clone_from(masks);
        }
        for text in std::iter::once(&mut d.message)
            .chain(d.help.iter_mut())
            .chain(d.label.iter_mut())
        {
            if looks_like_secret(text).is_some() {
                for p in PATTERNS.iter() {
                    *text = p.regex.replace_all(text, "****").into_owned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{literal_value, looks_like_secret, secret_key};

    #[test]
    fn finds_provider_tokens() {
        assert!(looks_like_secret(&format!("token ghp_{}", "a".repeat(36))).is_some());
        assert!(looks_like_secret(&format!("github_pat_{}", "A1".repeat(20))).is_some());
        assert!(looks_like_secret("glpat-abcdefghijklmnopqrstu").is_some());
        assert!(looks_like_secret("xoxb-1234567890-abcdef").is_some());
        assert!(looks_like_secret(&format!("sk-ant-{}", "x".repeat(30))).is_some());
        assert!(looks_like_secret("-----BEGIN OPENSSH PRIVATE KEY-----\nabc").is_some());
        assert!(
            looks_like_secret("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345").is_some()
        );
        assert!(looks_like_secret("API_KEY=abcd1234efgh").is_some());
        assert!(looks_like_secret("DB_PASSWORD=hunter22").is_some());
        assert!(looks_like_secret("https://deploy:s3cr3t@git.example.com/x.git").is_some());
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for ok in [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b",
            "task-runner",
            "risk-assessment",
            "API_KEY=${API_KEY}",
            "use a secretRef for the token",
            "https://github.com/acme/api",
            "https://user@git.example.com/x.git",
            "https://user:${TOKEN}@git.example.com/x.git",
            "git@github.com:acme/api.git",
        ] {
            assert_eq!(looks_like_secret(ok), None, "{ok}");
        }
    }

    #[test]
    fn secret_named_keys_with_literal_values() {
        for k in [
            "password",
            "dbPassword",
            "client_secret",
            "apiKey",
            "API_TOKEN",
            "aws_secret_access_key",
        ] {
            assert!(secret_key(k), "{k}");
        }
        for k in [
            "tokenUrl",
            "secretRef",
            "passwordSecretRef",
            "tokensPerMinute",
            "name",
            "secretName",
        ] {
            assert!(!secret_key(k), "{k}");
        }
        assert!(literal_value("hunter22"));
        for v in [
            "${DB_PASSWORD}",
            "<token>",
            "{{ .token }}",
            "",
            "xxx",
            "****",
        ] {
            assert!(!literal_value(v), "{v}");
        }
    }
}
