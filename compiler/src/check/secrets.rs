//! Secret hygiene: the redaction patterns of the spec's `scanForRedaction()`
//! applied to every string of every document. Specs are committed to git and
//! synced to the cluster, so a token found here has already leaked once; the
//! diagnostic names the kind of secret and masks the value in every output.

use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostics::{Code, Diagnostic};
use crate::source::FileId;
use crate::yaml::Node;

struct Pattern {
    what: &'static str,
    regex: Regex,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    [
        ("a GitHub token (ghp_/gho_/ghs_/...)", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
        ("a GitHub fine-grained token (github_pat_)", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        ("a GitLab token (glpat-)", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
        ("a Slack token (xox?-)", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
        ("an API key (sk-)", r"\bsk-[A-Za-z0-9_\-]{20,}"),
        ("a PEM private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
        ("a bearer token", r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{20,}=*"),
        (
            "a KEY=value secret",
            r"(?i)\b[A-Z0-9_]*(?:API_?KEY|SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*\s*=\s*[^\s'\x22$]{6,}",
        ),
    ]
    .into_iter()
    .filter_map(|(what, re)| Regex::new(re).ok().map(|regex| Pattern { what, regex }))
    .collect()
});

/// What kind of secret `text` looks like, if any.
pub fn looks_like_secret(text: &str) -> Option<&'static str> {
    PATTERNS
        .iter()
        .find(|p| p.regex.is_match(text))
        .map(|p| p.what)
}

pub fn scan(file: FileId, root: &Node, diags: &mut Vec<Diagnostic>) {
    root.for_each_string(&mut |text, span| {
        if let Some(what) = looks_like_secret(text) {
            let mut d = Diagnostic::new(Code::SecretInSpec, format!("this value looks like {what}"))
                .at(file, span)
                .label("secret-like value (masked)")
                .help(
                    "never commit secrets: store it in a Kubernetes Secret and reference it (e.g. `secretRef: { name, key }`); rotate it, since it is in git history now",
                );
            d.masks.push((span.start, span.end));
            diags.push(d);
        }
    });
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
    use super::looks_like_secret;

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
        ] {
            assert_eq!(looks_like_secret(ok), None, "{ok}");
        }
    }
}
