//! `kradle build`: golden output trees, every emitted object checked against
//! the official upstream schemas, every forge request body checked against the
//! official Gitea and GitHub API descriptions, and determinism.
//!
//! `KRADLE_UPDATE=1 cargo test --test build` rewrites the golden trees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::{Build, Sources, build, render};
use serde_json::{Value, json};

use kradle_test_support::upstream;

use upstream::Api;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn upstream() -> PathBuf {
    root().join("testdata/upstream")
}

fn options() -> BuildOptions {
    BuildOptions {
        now: DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        repo_url: None,
        target_revision: None,
        path: None,
        origin_repo_url: None,
    }
}

fn build_dir(dir: &Path) -> Build {
    let b = build(Sources::from_dir(dir).unwrap(), &options());
    if b.has_errors() {
        let v = &b.validation;
        let text: Vec<String> = v
            .diagnostics
            .iter()
            .map(|d| render::human(&v.sources, d, false, 100))
            .collect();
        panic!("{} does not build:\n{}", dir.display(), text.join("\n"));
    }
    b
}

/// Every (input, expected tree) pair: the examples and testdata/valid cases.
fn golden_cases() -> Vec<(PathBuf, PathBuf)> {
    let mut cases = vec![(
        root().join("examples/acme-platform"),
        root().join("testdata/golden/acme-platform"),
    )];
    let valid = root().join("testdata/valid");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&valid)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for d in dirs {
        cases.push((d.join("input"), d.join("expected")));
    }
    cases
}

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn golden_output_trees() {
    let mut failures = Vec::new();
    for (input, expected_dir) in golden_cases() {
        let b = build_dir(&input);
        if std::env::var_os("KRADLE_UPDATE").is_some() {
            let _ = std::fs::remove_dir_all(&expected_dir);
            for (rel, text) in &b.files {
                let p = expected_dir.join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            continue;
        }
        let expected = read_tree(&expected_dir);
        let actual: BTreeSet<&String> = b.files.keys().collect();
        let wanted: BTreeSet<&String> = expected.keys().collect();
        for missing in wanted.difference(&actual) {
            failures.push(format!(
                "{}: {missing} is no longer produced",
                input.display()
            ));
        }
        for extra in actual.difference(&wanted) {
            failures.push(format!("{}: {extra} is new", input.display()));
        }
        for (rel, text) in &b.files {
            if let Some(want) = expected.get(rel) {
                if want != text {
                    failures.push(format!(
                        "{}: {rel} differs\n--- expected\n{want}\n--- actual\n{text}",
                        input.display()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "run `KRADLE_UPDATE=1 cargo test --test build` if intended:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_plan_file_reads_back_through_the_contract() {
    for (input, _) in golden_cases() {
        let b = build_dir(&input);
        for plan in &b.output.plans {
            let text = &b.files[&format!("plans/{}", plan.file)];
            let read = kradle_compiler::forge_plan::Plan::from_json(text)
                .unwrap_or_else(|e| panic!("{}: plans/{}: {e}", input.display(), plan.file));
            assert_eq!(
                read.format_version,
                kradle_compiler::forge_plan::FORMAT_VERSION
            );
            assert_eq!(read.operations, plan.operations, "{}", plan.file);
            // The schema written to schemas/forge-plan.json accepts it.
            let schema = kradle_compiler::forge_plan::Plan::schema();
            let v = jsonschema::validator_for(&schema).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", plan.file);
        }
    }
}

#[test]
fn builds_are_deterministic() {
    let dir = root().join("examples/acme-platform");
    let a = build_dir(&dir);
    let b = build_dir(&dir);
    assert_eq!(a.files, b.files);
    // Input files in another order (as another filesystem may list them) give the same bytes.
    let mut sources = Sources::from_dir(&dir).unwrap();
    sources.files.reverse();
    let shuffled = build(
        Sources::from_memory(
            sources
                .files
                .iter()
                .map(|f| (f.path.clone(), f.text.clone().unwrap())),
        ),
        &options(),
    );
    assert_eq!(a.files, shuffled.files);
}

fn load_json(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The upstream schema of an emitted (apiVersion, kind).
fn schema_for(api_version: &str, kind: &str) -> Option<PathBuf> {
    let crd = |p: &str| Some(upstream().join("crd-schemas").join(p));
    let k8s = |p: &str| {
        Some(
            upstream()
                .join("k8s-schemas/v1.37.0-standalone-strict")
                .join(p),
        )
    };
    match (api_version, kind) {
        ("kyverno.io/v1", "Policy") => crd("kyverno.io/policy_v1.json"),
        ("kyverno.io/v1", "ClusterPolicy") => crd("kyverno.io/clusterpolicy_v1.json"),
        ("kyverno.io/v2", "PolicyException") => crd("kyverno.io/policyexception_v2.json"),
        ("argoproj.io/v1alpha1", "Application") => crd("argoproj.io/application_v1alpha1.json"),
        ("argoproj.io/v1alpha1", "AppProject") => crd("argoproj.io/appproject_v1alpha1.json"),
        ("serving.kserve.io/v1beta1", "InferenceService") => {
            crd("serving.kserve.io/inferenceservice_v1beta1.json")
        }
        ("serving.kserve.io/v1alpha1", "ServingRuntime") => {
            crd("serving.kserve.io/servingruntime_v1alpha1.json")
        }
        ("core.oam.dev/v1beta1", "Application") => crd("core.oam.dev/application_v1beta1.json"),
        ("v1", "Namespace") => k8s("namespace-v1.json"),
        ("v1", "ServiceAccount") => k8s("serviceaccount-v1.json"),
        ("v1", "PersistentVolumeClaim") => k8s("persistentvolumeclaim-v1.json"),
        ("rbac.authorization.k8s.io/v1", "Role") => k8s("role-rbac-v1.json"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => k8s("rolebinding-rbac-v1.json"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            k8s("clusterrolebinding-rbac-v1.json")
        }
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            k8s("customresourcedefinition-apiextensions-v1.json")
        }
        _ => None,
    }
}

#[test]
fn every_emitted_object_validates_against_its_upstream_schema() {
    let mut validators: BTreeMap<PathBuf, jsonschema::Validator> = BTreeMap::new();
    let mut checked: BTreeSet<String> = BTreeSet::new();
    let mut failures = Vec::new();
    for (input, _) in golden_cases() {
        let b = build_dir(&input);
        for o in &b.output.objects {
            let target = format!("{}/{}", o.api_version(), o.kind());
            if o.api_version() == "kradle.a5c.ai/v1alpha1" {
                // Our own kinds: against the CRD kradle generates for them.
                let crd = kradle_compiler::schemas::crd(
                    kradle_compiler::model::kind_info(o.kind()).unwrap(),
                );
                let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
                let v = jsonschema::validator_for(schema).unwrap();
                for e in v.iter_errors(&o.value) {
                    failures.push(format!("{target} {}: {e} at {}", o.name(), e.instance_path));
                }
                checked.insert(target);
                continue;
            }
            let Some(path) = schema_for(o.api_version(), o.kind()) else {
                failures.push(format!("no upstream schema is known for {target}"));
                continue;
            };
            let v = validators
                .entry(path.clone())
                .or_insert_with(|| jsonschema::validator_for(&load_json(&path)).unwrap());
            for e in v.iter_errors(&o.value) {
                failures.push(format!("{target} {}: {e} at {}", o.name(), e.instance_path));
            }
            checked.insert(target);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for needed in [
        "kyverno.io/v1/Policy",
        "kyverno.io/v1/ClusterPolicy",
        "kyverno.io/v2/PolicyException",
        "argoproj.io/v1alpha1/Application",
        "argoproj.io/v1alpha1/AppProject",
        "serving.kserve.io/v1beta1/InferenceService",
        "serving.kserve.io/v1alpha1/ServingRuntime",
        "core.oam.dev/v1beta1/Application",
        "v1/Namespace",
        "v1/ServiceAccount",
        "v1/PersistentVolumeClaim",
        "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "apiextensions.k8s.io/v1/CustomResourceDefinition",
    ] {
        assert!(
            checked.contains(needed),
            "the golden inputs produce no {needed}"
        );
    }
}

static GITEA: LazyLock<Api> = LazyLock::new(Api::gitea);
static GITHUB: LazyLock<Api> = LazyLock::new(Api::github);

fn api(backend: &str) -> &'static Api {
    if backend == "gitea" { &GITEA } else { &GITHUB }
}

/// The request body schema of `method path` in the official description.
fn body_schema(backend: &str, method: &str, path: &str) -> Option<Value> {
    api(backend).body_schema(method, path)
}

#[test]
fn every_forge_request_matches_the_official_api_description() {
    let mut failures = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (input, _) in golden_cases() {
        let b = build_dir(&input);
        for plan in &b.output.plans {
            for op in &plan.operations {
                seen.insert(format!("{}:{}", plan.backend, op.action));
                let exists = api(plan.backend.as_str()).has(op.method.as_str(), op.path.as_str());
                if !exists {
                    failures.push(format!(
                        "{} {}: {} {} is not in the API description",
                        plan.backend, op.id, op.method, op.path
                    ));
                    continue;
                }
                if op.body.is_null() {
                    continue;
                }
                let Some(schema) =
                    body_schema(plan.backend.as_str(), op.method.as_str(), op.path.as_str())
                else {
                    failures.push(format!(
                        "{} {}: {} {} takes no JSON body",
                        plan.backend, op.id, op.method, op.path
                    ));
                    continue;
                };
                let v = jsonschema::validator_for(&schema).unwrap();
                for e in v.iter_errors(&op.body) {
                    failures.push(format!(
                        "{} {}: {e} at {}",
                        plan.backend, op.id, e.instance_path
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for needed in [
        "gitea:createOrganization",
        "gitea:createRepository",
        "gitea:ensureUserMapping",
        "gitea:addDeployKey",
        "gitea:addUserSshKey",
        "gitea:addCollaborator",
        "gitea:addTeamRepository",
        "gitea:protectBranch",
        "gitea:createWebhook",
        "gitea:createTeam",
        "gitea:addTeamMember",
        "gitea:ensureOrgMemoryRepository",
        "github:createRepository",
        "github:addDeployKey",
        "github:addCollaborator",
        "github:protectBranch",
        "github:createTeam",
        "github:addTeamRepository",
    ] {
        assert!(seen.contains(needed), "the golden inputs plan no {needed}");
    }
}

#[test]
fn plans_never_contain_secrets_and_keys_are_unique() {
    let b = build_dir(&root().join("examples/acme-platform"));
    for plan in &b.output.plans {
        let text = serde_json::to_string(plan).unwrap();
        assert!(kradle_compiler::check::looks_like_secret(&text).is_none());
        let keys: BTreeSet<&str> = plan
            .operations
            .iter()
            .map(|o| o.idempotency_key.as_str())
            .collect();
        assert_eq!(
            keys.len(),
            plan.operations.len(),
            "duplicate idempotency keys in {}",
            plan.file
        );
        let ids: Vec<&str> = plan.operations.iter().map(|o| o.id.as_str()).collect();
        for (i, op) in plan.operations.iter().enumerate() {
            for d in &op.depends_on {
                let pos = ids.iter().position(|x| x == d).expect("dependency exists");
                assert!(pos < i, "{} depends on a later operation {d}", op.id);
            }
        }
    }
    let acme = b.output.plans.iter().find(|p| p.org == "acme").unwrap();
    let hook = acme
        .operations
        .iter()
        .find(|o| o.action == kradle_compiler::forge_plan::Action::CreateWebhook)
        .unwrap();
    assert_eq!(
        hook.body["config"]["secret"],
        "${secret:kradle-org-acme/api-webhook/hmac}"
    );
}

#[test]
fn the_api_oracles_reject_bad_bodies() {
    // Guards the test above: the schemas really constrain the bodies.
    let gitea = body_schema("gitea", "POST", "/orgs/acme/repos").unwrap();
    let v = jsonschema::validator_for(&gitea).unwrap();
    assert!(v.is_valid(&json!({ "name": "api", "private": true })));
    assert!(!v.is_valid(&json!({ "name": 123, "private": "yes" })));
    let github = body_schema("github", "POST", "/repos/octo/demo/keys").unwrap();
    let v = jsonschema::validator_for(&github).unwrap();
    assert!(v.is_valid(&json!({ "title": "deploy", "key": "ssh-ed25519 AAAA" })));
    assert!(!v.is_valid(&json!({ "title": "deploy", "read_only": "yes" })));
    let protection =
        body_schema("github", "PUT", "/repos/octo/demo/branches/main/protection").unwrap();
    let v = jsonschema::validator_for(&protection).unwrap();
    assert!(
        !v.is_valid(&json!({ "enforce_admins": true })),
        "required fields are enforced"
    );
}

#[test]
fn every_yaml_file_reads_back_as_the_object_written() {
    for (input, _) in golden_cases() {
        let b = build_dir(&input);
        for o in &b.output.objects {
            let text = &b.files[&format!("{}/{}", o.dir, o.file_name())];
            let (docs, errors) = kradle_compiler::yaml::parse(text);
            assert!(errors.is_empty(), "{}: {errors:?}", o.file_name());
            assert_eq!(docs[0].root.to_json(), o.value, "{}", o.file_name());
        }
        let stream = kradle_compiler::layout::stream(&b.output);
        assert_eq!(
            kradle_compiler::yaml::parse(&stream).0.len(),
            b.output.objects.len()
        );
    }
}
