//! Golden cases: every `testdata/invalid/<case>/input` repository is checked
//! and its rendered diagnostics are compared with `expected.txt` (what a user
//! sees, without colour). `KRADLE_UPDATE=1 cargo test` rewrites the files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kradle_compiler::{CODES, Options, Sources, render, validate};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// What `kradle validate` shows, plus what `kradle build` adds when the
/// input validates (problems found only while lowering, such as collisions).
fn render_case(input: &Path) -> (String, bool) {
    let options = kradle_compiler::lower::BuildOptions {
        now: now(),
        repo_url: None,
        target_revision: None,
        path: None,
        origin_repo_url: None,
    };
    let v = kradle_compiler::build(Sources::from_dir(input).unwrap(), &options).validation;
    let mut out = String::new();
    for d in &v.diagnostics {
        out.push_str(&render::human(&v.sources, d, false, 100));
        out.push('\n');
    }
    out.push_str(&render::human_summary(&v.summary()));
    (out, v.has_errors())
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn check_expected(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("KRADLE_UPDATE").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}: rendered diagnostics differ\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (run with KRADLE_UPDATE=1)",
            path.display()
        )),
    }
}

/// Checks one invalid case: its rendered diagnostics equal `expected.txt`,
/// it reports something, and it never shows a secret.
fn invalid_case(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/invalid")
        .join(name);
    let mut failures = Vec::new();
    let (rendered, _) = render_case(&dir.join("input"));
    check_expected(&dir.join("expected.txt"), &rendered, &mut failures);
    // An "invalid" case must report something a user would act on.
    if !rendered.contains("  × ") && !rendered.contains("  ⚠ ") {
        failures.push(format!("{}: reports nothing", dir.display()));
    }
    // Secrets are never printed, whatever the diagnostic.
    for line in rendered.lines() {
        if kradle_compiler::check::looks_like_secret(line).is_some() {
            failures.push(format!("{}: output shows a secret: {line}", dir.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One named test per case, so a failure names its case (ruff-style).
macro_rules! invalid_cases {
    ($($test:ident => $dir:literal,)*) => {
        mod invalid {
            $(#[test] fn $test() { super::invalid_case($dir); })*
        }
        const INVALID_CASES: &[&str] = &[$($dir),*];
    };
}

invalid_cases! {
    agent_namespaces => "agent-namespaces",
    agent_stack_budget => "agent-stack-budget",
    agent_stack_missing_references => "agent-stack-missing-references",
    agent_stack_not_ready => "agent-stack-not-ready",
    aggregated_kind_in_config => "aggregated-kind-in-config",
    alias_bomb => "alias-bomb",
    binary_file => "binary-file",
    capability_manifest => "capability-manifest",
    cluster_scoped_policy_target => "cluster-scoped-policy-target",
    cross_organization_reference => "cross-organization-reference",
    default_backend_without_github => "default-backend-without-github",
    disabled_user => "disabled-user",
    duplicate_namespace_binding => "duplicate-namespace-binding",
    duplicate_resource_same_file => "duplicate-resource-same-file",
    duplicate_resource_two_files => "duplicate-resource-two-files",
    duplicate_yaml_key => "duplicate-yaml-key",
    expired_invite_and_exception => "expired-invite-and-exception",
    invalid_cron => "invalid-cron",
    invalid_enum_value => "invalid-enum-value",
    invalid_name => "invalid-name",
    invalid_organization_name => "invalid-organization-name",
    invalid_timestamp => "invalid-timestamp",
    invalid_url => "invalid-url",
    kubevela_applications => "kubevela-applications",
    literal_secret_fields => "literal-secret-fields",
    missing_organization => "missing-organization",
    missing_required_field => "missing-required-field",
    multiple_problems_one_document => "multiple-problems-one-document",
    namespace_claimed_twice => "namespace-claimed-twice",
    namespace_mismatch => "namespace-mismatch",
    not_a_resource => "not-a-resource",
    org_label_mismatch => "org-label-mismatch",
    org_namespace_name => "org-namespace-name",
    org_visibility => "org-visibility",
    organization_folder_mismatch => "organization-folder-mismatch",
    output_collision => "output-collision",
    plain_http_credentials => "plain-http-credentials",
    policy_decision => "policy-decision",
    policy_template_parameters => "policy-template-parameters",
    policy_template_reference => "policy-template-reference",
    project_columns => "project-columns",
    project_file_errors => "project-file-errors",
    repository_delivery => "repository-delivery",
    role_binding_scope => "role-binding-scope",
    runner_pool_replicas => "runner-pool-replicas",
    runtime_names => "runtime-names",
    secrets_in_spec => "secrets-in-spec",
    skill_source => "skill-source",
    ssh_key_duplicate => "ssh-key-duplicate",
    ssh_key_fingerprint_mismatch => "ssh-key-fingerprint-mismatch",
    ssh_key_invalid => "ssh-key-invalid",
    ssh_key_scope => "ssh-key-scope",
    subagent_task_kinds => "subagent-task-kinds",
    team_maintainer_not_member => "team-maintainer-not-member",
    trigger_source_config => "trigger-source-config",
    trigger_rule_unreachable => "trigger-rule-unreachable",
    trigger_task_kind_not_handled => "trigger-task-kind-not-handled",
    undeclared_organization => "undeclared-organization",
    unknown_api_version => "unknown-api-version",
    unknown_field => "unknown-field",
    unknown_kind_typo => "unknown-kind-typo",
    unknown_metadata_field => "unknown-metadata-field",
    unresolved_reference_typo => "unresolved-reference-typo",
    view_selector_and_references => "view-selector-and-references",
    wrong_reference_kind => "wrong-reference-kind",
    wrong_type => "wrong-type",
    yaml_syntax_bad_indentation => "yaml-syntax-bad-indentation",
    yaml_syntax_unclosed_flow => "yaml-syntax-unclosed-flow",
}

#[test]
fn every_invalid_case_folder_has_its_test() {
    let folders: Vec<String> = cases("invalid")
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(folders.len() >= 40, "only {} invalid cases", folders.len());
    let missing: Vec<&String> = folders
        .iter()
        .filter(|f| !INVALID_CASES.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "add these to `invalid_cases!` in tests/cases.rs: {missing:?}"
    );
}

#[test]
fn every_diagnostic_code_is_exercised_by_a_case() {
    let mut seen = String::new();
    for dir in cases("invalid") {
        seen.push_str(&render_case(&dir.join("input")).0);
    }
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|code| !seen.contains(&format!("{code}\n")))
        .collect();
    assert!(missing.is_empty(), "no invalid case reports {missing:?}");
}

#[test]
fn valid_cases_and_examples_report_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = cases("valid")
        .into_iter()
        .map(|d| d.join("input"))
        .collect::<Vec<_>>();
    dirs.push(root.join("examples/acme-platform"));
    for dir in dirs {
        let (rendered, has_errors) = render_case(&dir);
        assert!(
            !has_errors && rendered.starts_with("ok: "),
            "{}:\n{rendered}",
            dir.display()
        );
        assert!(
            rendered.ends_with("no problems\n"),
            "{}:\n{rendered}",
            dir.display()
        );
    }
}

#[test]
fn generated_benchmark_repository_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let n = xtask::generate(dir.path(), 2).unwrap();
    assert_eq!(n, 2 * (2 + xtask::resources_per_org()));
    let v = validate(
        Sources::from_dir(dir.path()).unwrap(),
        &Options { now: now() },
    );
    let rendered: Vec<String> = v
        .diagnostics
        .iter()
        .map(|d| render::human(&v.sources, d, false, 100))
        .collect();
    assert!(v.diagnostics.is_empty(), "{}", rendered.join("\n"));
    assert_eq!(v.model.resources.len(), n);
}
