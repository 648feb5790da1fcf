//! Every generated-name pattern against a user resource that copies it: the
//! build stops with KR309 naming both sources, and nothing is written. Also
//! the longest valid names build, with file names and label values that fit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::{Sources, build, render};

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

fn doc(kind: &str, name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn options() -> BuildOptions {
    BuildOptions {
        now: DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        repo_url: Some("https://git.example.com/config.git".into()),
        target_revision: None,
        path: None,
        origin_repo_url: None,
    }
}

fn compile(docs: &str) -> kradle_compiler::Build {
    build(
        Sources::from_memory([
            ("platform.yaml", ORG.to_string()),
            ("orgs/acme/all.yaml", docs.to_string()),
        ]),
        &options(),
    )
}

fn sa() -> String {
    doc(
        "AgentServiceAccount",
        "runner",
        "namespace: kradle-org-acme\nserviceAccountName: agent",
    )
}

fn template() -> String {
    doc(
        "PolicyTemplate",
        "t",
        "displayName: T\ntargetKinds: [Pod]\nkyverno:\n  rules:\n    - name: r\n      match: { any: [{ resources: { kinds: [Pod] } }] }\n      validate: { message: no, deny: {} }",
    )
}

#[test]
fn every_generated_name_pattern_refuses_a_user_copy() {
    // (generated object, the resource that generates it, the user resource copying its name)
    let cases: Vec<(&str, String, String)> = vec![
        (
            "RoleBinding kradle-org-acme/kradle-secret-db",
            format!(
                "{}{}",
                sa(),
                doc(
                    "AgentSecretGrant",
                    "db",
                    "subject: runner\nsecretRef: { name: db-creds }\npurpose: migrations"
                )
            ),
            doc(
                "AgentRoleBinding",
                "kradle-secret-db",
                "subject: runner\nroleRef: { kind: ClusterRole, name: cluster-admin }\nscope: namespace",
            ),
        ),
        (
            "RoleBinding kradle-org-acme/kradle-config-cm",
            format!(
                "{}{}",
                sa(),
                doc(
                    "AgentConfigGrant",
                    "cm",
                    "subject: runner\nconfigMapRef: { name: settings }\npurpose: settings"
                )
            ),
            doc(
                "AgentRoleBinding",
                "kradle-config-cm",
                "subject: runner\nroleRef: { kind: ClusterRole, name: edit }\nscope: namespace",
            ),
        ),
        (
            "Application kradle-org-acme/runner-pool-p",
            doc("RunnerPool", "p", "warmReplicas: 1\nmaxReplicas: 2"),
            doc(
                "Repository",
                "runner-pool-p",
                "visibility: private\ndelivery:\n  components:\n    - { name: x, type: webservice }",
            ),
        ),
        (
            "Policy kradle-org-acme/base-t",
            format!(
                "{}{}",
                template(),
                doc(
                    "PolicyProfile",
                    "base",
                    "displayName: B\nmode: audit\ndefaultTemplates: [t]"
                )
            ),
            doc("PolicyBinding", "base-t", "templateRef: t\nmode: enforce"),
        ),
        (
            "PersistentVolumeClaim kradle-org-acme/kradle-ws-v",
            format!(
                "{}{}",
                doc("Repository", "api", "visibility: private"),
                doc("KradleWorkspace", "v", "repository: api\nvolumeSpec: {}")
            ),
            doc(
                "KradleWorkspace",
                "w",
                "repository: api\npvcName: kradle-ws-v\nvolumeSpec: {}",
            ),
        ),
        (
            "ServiceAccount kradle-org-acme/agent",
            sa(),
            doc(
                "AgentServiceAccount",
                "other",
                "namespace: kradle-org-acme\nserviceAccountName: agent",
            ),
        ),
    ];
    for (what, generator, copy) in cases {
        // Without the copy it builds.
        let b = compile(&generator);
        assert!(!b.has_errors(), "{what}: {:#?}", b.validation.diagnostics);
        let b = compile(&format!("{generator}{copy}"));
        assert!(b.files.is_empty(), "{what}: nothing may be written");
        let v = &b.validation;
        let text: Vec<String> = v
            .diagnostics
            .iter()
            .map(|d| render::human(&v.sources, d, false, 200))
            .collect();
        let text = text.join("\n");
        let collision = v
            .diagnostics
            .iter()
            .find(|d| d.code.info().code == "KR309")
            .unwrap_or_else(|| panic!("{what}: no KR309 in\n{text}"));
        assert!(
            collision.message.starts_with(what),
            "{what}: {}",
            collision.message
        );
        assert!(
            collision.span.is_some() && !collision.related.is_empty(),
            "{what}: both sources are shown\n{text}"
        );
    }
}

#[test]
fn the_longest_valid_names_build_with_short_enough_files_and_labels() {
    let long = |c: char| format!("{}{}", c, "a".repeat(239));
    let docs = [
        doc(
            "Repository",
            &long('r'),
            "visibility: private\ndelivery:\n  components:\n    - { name: x, type: webservice }",
        ),
        doc("RunnerPool", &long('p'), "warmReplicas: 1\nmaxReplicas: 2"),
        doc(
            "KradleWorkspace",
            &long('w'),
            &format!("repository: {}\nvolumeSpec: {{}}", long('r')),
        ),
        sa(),
        doc(
            "AgentSecretGrant",
            &long('g'),
            "subject: runner\nsecretRef: { name: db }\npurpose: p",
        ),
        template(),
        doc(
            "PolicyBinding",
            &long('b'),
            &format!(
                "templateRef: t\nmode: audit\nscope: {{ repositories: [{}] }}",
                long('r')
            ),
        ),
    ]
    .concat();
    let b = compile(&docs);
    assert!(!b.has_errors(), "{:#?}", b.validation.diagnostics);
    for path in b.files.keys() {
        for part in path.split('/') {
            assert!(part.len() <= 160, "{path}");
        }
    }
    for o in &b.output.objects {
        assert!(o.name().len() <= 253, "{}", o.name());
        if let Some(labels) = o.value["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                assert!(v.as_str().unwrap().len() <= 63, "{k}={v} on {}", o.name());
            }
        }
    }
    // And it writes: the names are real file names.
    let dir = tempfile::tempdir().unwrap();
    kradle_compiler::write::write_output(
        &dir.path().join("out"),
        &b.files,
        &dir.path().join("config"),
        false,
    )
    .unwrap();
}
