//! kradle's built-in PolicyTemplate library (`templates/policies/`): an org
//! binds each template by name without copying it; the Kyverno policy it
//! builds into admits the Pods `templates/policies/tests/<name>.yaml` says
//! pass and refuses each one it says fails, by the rule it names. (The
//! policies are also validated against Kyverno's upstream schema, by
//! `tests/build.rs`, through the golden case `testdata/valid/builtin-policies`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pattern;

use std::collections::BTreeMap;
use std::path::PathBuf;

use kradle_compiler::lower::BuildOptions;
use kradle_compiler::{Sources, builtin};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn options() -> BuildOptions {
    BuildOptions {
        now: "2026-11-01T00:00:00Z".parse().unwrap(),
        repo_url: None,
        target_revision: None,
        path: None,
        origin_repo_url: None,
    }
}

/// The Kyverno policies a config builds into, by template name.
fn policies(dir: &std::path::Path) -> BTreeMap<String, Value> {
    let build = kradle_compiler::build(Sources::from_dir(dir).unwrap(), &options());
    assert!(!build.has_errors(), "{:#?}", build.validation.diagnostics);
    build
        .output
        .objects
        .iter()
        .filter(|o| o.api_version() == "kyverno.io/v1")
        .map(|o| {
            let template = o.value["metadata"]["labels"]["kradle.a5c.ai/policy-template"]
                .as_str()
                .unwrap()
                .to_string();
            (template, o.value.clone())
        })
        .collect()
}

/// The documents of a YAML stream.
fn documents(text: &str) -> Vec<Value> {
    let (docs, errors) = kradle_compiler::yaml::parse(text);
    assert!(errors.is_empty(), "{errors:?}");
    docs.iter().map(|d| d.root.to_json()).collect()
}

/// What a test Pod expects: `pass`, or `fail:<rule>`.
fn expectation(pod: &Value) -> &str {
    pod["metadata"]["annotations"]["policies.kradle.a5c.ai/expect"]
        .as_str()
        .unwrap_or_else(|| panic!("{} says nothing", pod["metadata"]["name"]))
}

#[test]
fn every_builtin_template_admits_its_good_pods_and_refuses_its_bad_ones() {
    let built = policies(&root().join("testdata/valid/builtin-policies/input"));
    let names: Vec<&str> = builtin::POLICY_TEMPLATES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        built.keys().map(String::as_str).collect::<Vec<_>>(),
        names,
        "every built-in template, bound by name, builds a policy"
    );
    for (name, policy) in &built {
        let rules = policy["spec"]["rules"].as_array().unwrap();
        for rule in rules {
            assert!(
                rule["match"]["any"][0]["resources"]["kinds"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from("Pod")),
                "{name}: every rule applies to Pods"
            );
        }
        let tests = root().join(format!("templates/policies/tests/{name}.yaml"));
        let pods = documents(&std::fs::read_to_string(&tests).unwrap());
        let (mut passing, mut failing) = (0, 0);
        for pod in &pods {
            let pod_name = pod["metadata"]["name"].as_str().unwrap();
            let results: Vec<(&str, Result<(), String>)> = rules
                .iter()
                .map(|r| (r["name"].as_str().unwrap(), pattern::rule_passes(r, pod)))
                .collect();
            match expectation(pod) {
                "pass" => {
                    passing += 1;
                    for (rule, result) in &results {
                        assert!(
                            result.is_ok(),
                            "{name}: {pod_name} fails {rule}: {result:?}"
                        );
                    }
                }
                other => {
                    failing += 1;
                    let rule = other.strip_prefix("fail:").unwrap();
                    let failed: Vec<&str> = results
                        .iter()
                        .filter(|(_, r)| r.is_err())
                        .map(|(n, _)| *n)
                        .collect();
                    assert_eq!(failed, [rule], "{name}: {pod_name}: {results:?}");
                }
            }
        }
        assert!(
            passing >= 1 && failing >= 1,
            "{name}: a good and a bad Pod at least"
        );
    }
    // Parameters reach the policy: the binding's label and registries.
    let labels = &built["require-labels"]["spec"]["rules"][0]["validate"]["pattern"];
    assert_eq!(labels["metadata"]["labels"]["acme.example/team"], "?*");
    let registries = &built["restrict-image-registries"]["spec"]["rules"][0]["validate"];
    assert_eq!(
        registries["pattern"]["spec"]["containers"][0]["image"],
        "registry.acme.example/* | ghcr.io/acme/*"
    );
    assert_eq!(registries["failureAction"], "Enforce");
}

/// A config with `files` (path → text) beside an organization `acme`.
fn config(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let org = root().join("testdata/valid/builtin-policies/input/orgs/acme/organization.yaml");
    std::fs::create_dir_all(dir.path().join("orgs/acme")).unwrap();
    std::fs::copy(org, dir.path().join("orgs/acme/organization.yaml")).unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

const BINDING: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyBinding\nmetadata:\n  name: labels\nspec:\n  templateRef: require-labels\n  mode: audit\n";

#[test]
fn the_configs_own_template_wins_and_unused_ones_produce_nothing() {
    // Nothing bound: no built-in template in the output.
    let dir = config(&[]);
    let build = kradle_compiler::build(Sources::from_dir(dir.path()).unwrap(), &options());
    assert!(!build.has_errors());
    assert!(
        !build
            .output
            .objects
            .iter()
            .any(|o| o.kind() == "PolicyTemplate"),
        "an unused built-in is not emitted"
    );

    // Bound: the built-in template is emitted beside its policy.
    let dir = config(&[("orgs/acme/policy.yaml", BINDING)]);
    let build = kradle_compiler::build(Sources::from_dir(dir.path()).unwrap(), &options());
    assert!(!build.has_errors(), "{:#?}", build.validation.diagnostics);
    let templates: Vec<&str> = build
        .output
        .objects
        .iter()
        .filter(|o| o.kind() == "PolicyTemplate")
        .map(|o| o.name())
        .collect();
    assert_eq!(templates, ["require-labels"]);
    assert_eq!(
        build.validation.summary().files,
        2,
        "built-ins are not counted as input files"
    );

    // A platform-wide template of the same name replaces it.
    let own = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyTemplate\nmetadata:\n  name: require-labels\nspec:\n  displayName: Ours\n  targetKinds: [Deployment]\n  kyverno:\n    rules:\n      - name: ours\n        match: { any: [{ resources: { kinds: [Deployment] } }] }\n        validate: { message: ours, pattern: { metadata: { labels: { team: \"?*\" } } } }\n";
    for own_path in ["platform/templates.yaml", "orgs/acme/templates.yaml"] {
        let dir = config(&[("orgs/acme/policy.yaml", BINDING), (own_path, own)]);
        let policies = policies(dir.path());
        let rules = &policies["require-labels"]["spec"]["rules"];
        assert_eq!(rules[0]["name"], "ours", "{own_path}");
    }
}

#[test]
fn a_builtin_template_needs_its_parameters() {
    let binding = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyBinding\nmetadata:\n  name: registries\nspec:\n  templateRef: restrict-image-registries\n  mode: enforce\n";
    let dir = config(&[("orgs/acme/policy.yaml", binding)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["build", "--stdout"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("restrict-image-registries") && stderr.contains("orgs/acme/policy.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_misspelt_builtin_name_gets_a_suggestion() {
    let binding = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyBinding\nmetadata:\n  name: psp\nspec:\n  templateRef: pod-security-basline\n  mode: enforce\n";
    let dir = config(&[("orgs/acme/policy.yaml", binding)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["validate"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains("did you mean `pod-security-baseline`?"),
        "{report}"
    );
}
