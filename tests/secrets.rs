//! The secret corpus (testdata/secrets): every real-format fake token is
//! found wherever it is written — a value, a key, a comment, a label, an
//! annotation, an env entry — and never reaches any output: human, JSON and
//! SARIF diagnostics, `build --stdout`, `build --out`. Text that only looks
//! close (SSH public keys, digests, URLs without a password) is left alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use kradle_compiler::check::looks_like_secret;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/secrets")
}

fn tokens() -> Vec<(String, String)> {
    std::fs::read_to_string(corpus().join("tokens.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (what, token) = l.split_once('\t').unwrap();
            (what.to_string(), token.to_string())
        })
        .collect()
}

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

fn kradle(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn every_token_format_is_recognised_and_nothing_else() {
    for (what, token) in tokens() {
        assert!(
            looks_like_secret(&token).is_some(),
            "{what} is not recognised: {token}"
        );
    }
    let text = std::fs::read_to_string(corpus().join("not-secrets.txt")).unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert_eq!(looks_like_secret(line), None, "false positive: {line}");
    }
}

/// A valid repository with `token` in one place of `place`.
fn repository_with(token: &str, place: &str) -> String {
    let quoted = serde_json::to_string(token).unwrap();
    let repo = |extra_meta: &str, delivery: &str| {
        format!(
            "---\n{}apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: api\n{extra_meta}spec:\n  visibility: private\n{delivery}",
            if place == "comment" {
                format!("# deploy with {token}\n")
            } else {
                String::new()
            }
        )
    };
    match place {
        "value" => repo("", &format!("  description: {quoted}\n")),
        "key" => repo(&format!("  annotations:\n    {quoted}: x\n"), ""),
        "comment" => repo("", ""),
        "label" => repo(&format!("  labels:\n    team: {quoted}\n"), ""),
        "annotation" => repo(&format!("  annotations:\n    note: {quoted}\n"), ""),
        "env" => repo(
            "",
            &format!(
                "  delivery:\n    components:\n      - name: api\n        type: webservice\n        properties:\n          env: [{{ name: TOKEN, value: {quoted} }}]\n"
            ),
        ),
        _ => unreachable!(),
    }
}

#[test]
fn no_token_reaches_any_output_wherever_it_is_written() {
    let places = ["value", "key", "comment", "label", "annotation", "env"];
    for (what, token) in tokens() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(config.join("orgs/acme")).unwrap();
        std::fs::write(config.join("platform.yaml"), ORG).unwrap();
        for place in places {
            std::fs::write(
                config.join(format!("orgs/acme/{place}.yaml")),
                repository_with(&token, place).replace("name: api", &format!("name: api-{place}")),
            )
            .unwrap();
        }
        let c = config.to_str().unwrap();
        let out = dir.path().join("out");
        let runs = [
            kradle(&["validate", c]),
            kradle(&["validate", c, "--format", "json"]),
            kradle(&["validate", c, "--format", "sarif"]),
            kradle(&["build", c, "--stdout"]),
            kradle(&["build", c, "--out", out.to_str().unwrap()]),
        ];
        // The random part of the token: its longest run of token characters.
        let tail = token
            .split(|c: char| !(c.is_ascii_alphanumeric() || "+/_~%".contains(c)))
            .max_by_key(|p| p.len())
            .unwrap();
        for (i, o) in runs.iter().enumerate() {
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(o.status.code(), Some(1), "{what}, run {i}: {all}");
            assert!(
                !all.contains(tail) || what == "pem-private-key",
                "{what} leaked in run {i}:\n{all}"
            );
            assert!(!all.contains(&token), "{what} leaked in run {i}:\n{all}");
            assert!(
                all.contains("KR601") || all.contains("secret-in-spec"),
                "{what}, run {i}: not reported\n{all}"
            );
        }
        // Reported once per place it was written.
        let json: serde_json::Value = serde_json::from_slice(&runs[1].stdout).unwrap();
        let files: std::collections::BTreeSet<&str> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == "KR601")
            .filter_map(|d| d["file"].as_str())
            .collect();
        assert_eq!(files.len(), places.len(), "{what}: found in {files:?}");
        assert!(!out.exists(), "{what}: nothing is written");
    }
}

#[test]
fn password_style_entries_are_secrets_placeholders_are_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("orgs/acme")).unwrap();
    std::fs::write(dir.path().join("platform.yaml"), ORG).unwrap();
    std::fs::write(
        dir.path().join("orgs/acme/x.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: api\n  annotations:\n    db-password: Tr0ub4dor-and-3\n    api-token: ${API_TOKEN}\nspec:\n  visibility: private\n  delivery:\n    components:\n      - name: api\n        type: webservice\n        properties:\n          env:\n            - { name: DB_PASSWORD, value: correct-horse-battery }\n            - { name: DB_USER, value: kradle }\n            - { name: API_KEY, value: \"<set me>\" }\n",
    )
    .unwrap();
    let o = kradle(&["validate", dir.path().to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("`db-password` holds a literal secret"),
        "{out}"
    );
    assert!(
        out.contains("the value of `DB_PASSWORD` is a literal secret"),
        "{out}"
    );
    assert_eq!(out.matches("KR601").count(), 2, "{out}");
    for leak in ["Tr0ub4dor", "correct-horse"] {
        assert!(!out.contains(leak), "{out}");
    }
}
