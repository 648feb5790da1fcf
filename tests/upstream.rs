//! Our generated output checked against the official upstream schemas in
//! `testdata/upstream` (the Kubernetes CRD schema), and our own JSON Schemas
//! checked against real documents, so editors using them agree with kradle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use kradle_compiler::model::KINDS;
use kradle_compiler::schemas::crd;
use kradle_compiler::yaml;
use serde_json::Value;

fn upstream() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/upstream")
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the upstream schemas live in testdata/upstream)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_crd_validates_against_the_kubernetes_crd_schema() {
    let schema = load_json(&upstream().join(
        "k8s-schemas/v1.37.0-standalone-strict/customresourcedefinition-apiextensions-v1.json",
    ));
    let validator = jsonschema::validator_for(&schema).unwrap();
    for k in KINDS.iter().filter(|k| k.is_config()) {
        let c = crd(k);
        let errors: Vec<String> = validator
            .iter_errors(&c)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "CRD of {}: {errors:#?}", k.kind);
    }
}

#[test]
fn the_upstream_crd_schema_rejects_a_broken_crd() {
    // Guards the test above: the validator really checks something.
    let schema = load_json(&upstream().join(
        "k8s-schemas/v1.37.0-standalone-strict/customresourcedefinition-apiextensions-v1.json",
    ));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut c = crd(kradle_compiler::model::kind_info("Team").unwrap());
    c["spec"]["scope"] = Value::from(42);
    c["spec"]["versionz"] = Value::from("x");
    assert!(!validator.is_valid(&c));
}

#[test]
fn example_documents_validate_against_our_json_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme-platform");
    let sources = kradle_compiler::Sources::from_dir(&root).unwrap();
    let mut checked = 0;
    for f in &sources.files {
        if f.path == "kradle.yaml" {
            continue;
        }
        let (docs, errors) = yaml::parse(f.text.as_deref().unwrap());
        assert!(errors.is_empty());
        for d in docs {
            let json = d.root.to_json();
            let kind = json["kind"].as_str().unwrap();
            let info = kradle_compiler::model::kind_info(kind).unwrap();
            let schema = info.document_schema();
            let validator = jsonschema::validator_for(&schema).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{} {kind}: {errors:?}", f.path);
            checked += 1;
        }
    }
    assert!(checked > 50);
}

#[test]
fn our_json_schemas_reject_what_kradle_rejects() {
    let info = kradle_compiler::model::kind_info("Repository").unwrap();
    let validator = jsonschema::validator_for(&info.document_schema()).unwrap();
    let doc = serde_json::json!({
        "apiVersion": "kradle.a5c.ai/v1alpha1", "kind": "Repository",
        "metadata": {"name": "api"}, "spec": {"visiblity": "private"}
    });
    assert!(!validator.is_valid(&doc));
}

/// The SHA-256 of `bytes`, in hex.
fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The oracles the repository carries are what `testdata/upstream/SOURCES.json`
/// says they are (nobody edited a copy by hand), and, where
/// `../shared/upstream` is beside the repository, still what it holds: a
/// verbatim copy byte for byte, a trimmed API description path for path and
/// component for component.
#[test]
fn the_carried_oracles_match_their_sources() {
    let sources = load_json(&upstream().join("SOURCES.json"));
    let files = sources["files"].as_array().unwrap();
    assert!(files.len() > 50, "SOURCES.json lists {} files", files.len());
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/upstream");
    let shared = shared.is_dir().then_some(shared);
    if shared.is_none() {
        eprintln!("../shared/upstream is not beside the repository: only the copies are checked");
    }
    let mut failures = Vec::new();
    for f in files {
        let rel = f["path"].as_str().unwrap();
        let copy = std::fs::read(upstream().join(rel)).unwrap();
        if sha256(&copy) != f["sha256"] {
            failures.push(format!(
                "{rel}: the copy is not the one SOURCES.json records"
            ));
        }
        let Some(shared) = &shared else { continue };
        let original = std::fs::read(shared.join(rel)).unwrap();
        if sha256(&original) != f["upstreamSha256"] {
            failures.push(format!(
                "{rel}: ../shared/upstream changed; run `python3 testdata/upstream/trim.py`"
            ));
        }
        if f["how"] == "verbatim" {
            if copy != original {
                failures.push(format!("{rel}: differs from ../shared/upstream"));
            }
            continue;
        }
        // A trimmed description: what it kept is what upstream has.
        let copy: Value = serde_json::from_slice(&copy).unwrap();
        let original: Value = serde_json::from_slice(&original).unwrap();
        for (path, item) in copy["paths"].as_object().unwrap() {
            if original["paths"][path] != *item {
                failures.push(format!("{rel}: path {path} differs from upstream"));
            }
        }
        // Swagger 2 keeps what paths refer to in `definitions`, `responses`
        // and `parameters`; OpenAPI 3 in `components/<group>`.
        let mut kept: Vec<(String, &Value, &Value)> = Vec::new();
        for section in ["definitions", "responses", "parameters"] {
            for (name, value) in copy[section].as_object().into_iter().flatten() {
                kept.push((format!("{section}/{name}"), value, &original[section][name]));
            }
        }
        for (group, entries) in copy["components"].as_object().into_iter().flatten() {
            for (name, value) in entries.as_object().into_iter().flatten() {
                let theirs = &original["components"][group][name];
                kept.push((format!("components/{group}/{name}"), value, theirs));
            }
        }
        for (name, ours, theirs) in kept {
            if ours != theirs {
                failures.push(format!("{rel}: {name} differs from upstream"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
