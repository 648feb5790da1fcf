//! The Argo CD config management plugin (`deploy/argocd-cmp/plugin.yaml`):
//! its exact `generate` command, run the way Argo CD's cmp-server runs it (in
//! the application's folder, a git checkout), on the example.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{Duration, Utc};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plugin() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/argocd-cmp/plugin.yaml")).unwrap();
    let (docs, errors) = kradle_compiler::yaml::parse(&text);
    assert!(errors.is_empty(), "{errors:?}");
    docs[0].root.to_json()
}

/// Runs the plugin's `generate` command as the cmp-server does: the argv as
/// written, `kradle` found on the PATH, in the application's folder.
fn generate(app: &Path, command: &[String]) -> Output {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_kradle"));
    Command::new(&command[0])
        .args(&command[1..])
        .current_dir(app)
        .env("PATH", support::path_with(binary.parent().unwrap()))
        .env("ARGOCD_APP_NAME", "platform")
        .output()
        .unwrap()
}

fn documents(stream: &str) -> Vec<Value> {
    let (docs, errors) = kradle_compiler::yaml::parse(stream);
    assert!(errors.is_empty(), "{errors:?}");
    docs.iter().map(|d| d.root.to_json()).collect()
}

#[test]
fn the_plugin_renders_the_example_at_the_wall_clock_time() {
    let plugin = plugin();
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let command: Vec<String> = plugin["spec"]["generate"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command[0], "kradle");

    // The application: the example, committed long ago, plus an approved
    // exception that expired yesterday (after the commit, before the refresh).
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("platform");
    support::copy_dir(&root().join("examples/acme-platform"), &app);
    let discover = plugin["spec"]["discover"]["fileName"].as_str().unwrap();
    assert!(app.join(discover).is_file(), "discover finds {discover}");
    let yesterday = (Utc::now() - Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        app.join("orgs/acme/expired-exception.yaml"),
        format!(
            "apiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyExceptionRequest\n\
             metadata: {{ name: hotfix-window }}\n\
             spec:\n  policyRef: no-latest-api\n  justification: The hotfix window.\n\
             \x20 expiresAt: \"{yesterday}\"\n  rules: [no-latest]\n\
             \x20 decision: {{ phase: Approved, decidedBy: grace, decidedAt: \"2019-12-31T00:00:00Z\" }}\n"
        ),
    )
    .unwrap();
    support::git(&app, &["init", "-q"]);
    support::git(&app, &["add", "."]);
    // Committed in 2020: `kradle build` reads the committer's time with `--rev`.
    let committed = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "config",
        ])
        .current_dir(&app)
        .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .status()
        .unwrap();
    assert!(committed.success());

    let o = generate(&app, &command);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // The expired exception is a warning (Argo CD shows stderr), not a failure.
    assert!(
        stderr.contains("KR509") && stderr.contains("expired-exception.yaml:7:14"),
        "{stderr}"
    );
    let stream = String::from_utf8(o.stdout).unwrap();
    let objects = documents(&stream);
    assert!(objects.len() > 50, "{} objects", objects.len());
    for o in &objects {
        assert!(o["apiVersion"].is_string() && o["kind"].is_string(), "{o}");
        assert!(o["metadata"]["name"].is_string(), "{o}");
    }
    let exceptions: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "PolicyException")
        .collect();
    let names: Vec<&str> = exceptions
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["legacy-batch"], "the expired exception drops out");
    // Kyverno removes the live one at its expiry, render or not.
    assert_eq!(
        exceptions[0]["metadata"]["labels"]["cleanup.kyverno.io/ttl"],
        "2099-03-31T000000Z"
    );

    // Rendered at the commit's time (`--rev`), the exception, not yet expired
    // in 2020, would stay until the next commit: the plugin must not do that.
    let at_commit = generate(
        &app,
        &["kradle", "build", "--stdout", "--rev", "HEAD", "."].map(String::from),
    );
    let names: Vec<String> = documents(&String::from_utf8(at_commit.stdout).unwrap())
        .iter()
        .filter(|o| o["kind"] == "PolicyException")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["hotfix-window", "legacy-batch"]);
}

#[test]
fn a_broken_config_fails_the_render_with_its_diagnostics() {
    let command: Vec<String> = plugin()["spec"]["generate"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kradle.yaml"),
        "platformNamespace: kradle-system\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("org.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata: { name: acme }\nspec: { nonsense: 1 }\n",
    )
    .unwrap();
    let o = generate(dir.path(), &command);
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty(), "nothing half-rendered reaches Argo CD");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("org.yaml:4:"), "{stderr}");
}

#[test]
fn the_repo_server_patch_mounts_the_plugin() {
    let text =
        std::fs::read_to_string(root().join("deploy/argocd-cmp/repo-server-patch.yaml")).unwrap();
    let patch = documents(&text).remove(0);
    let sidecar = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(sidecar["command"][0], "/var/run/argocd/argocd-cmp-server");
    assert_eq!(sidecar["securityContext"]["runAsUser"], 999);
    let mounts: Vec<&str> = sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(
        mounts.contains(&"/home/argocd/cmp-server/config/plugin.yaml"),
        "{mounts:?}"
    );
    assert!(mounts.contains(&"/var/run/argocd"), "{mounts:?}");
    let values = std::fs::read_to_string(root().join("charts/kradle/values.yaml")).unwrap();
    let image = sidecar["image"]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        values.contains(&format!("repository: {image}")),
        "the sidecar runs the chart's image"
    );
}
