//! `kradle apply` from the command line, on the bundled example, against a
//! stateful fake Gitea and a database of its own: exit codes, the summary,
//! the JSON report, and runs killed with SIGKILL then rerun.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::fake_gitea::{FakeGitea, TOKEN};
use support::upstream::Api;
use support::{TestDb, stderr};

/// The last line apply printed: its summary.
fn summary_line(o: &Output) -> String {
    stderr(o).lines().last().unwrap_or_default().to_string()
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme-platform")
}

struct Env {
    db: TestDb,
    fake: FakeGitea,
    secrets: tempfile::NamedTempFile,
}

const HOOK_SECRET: &str = "hmac-value-that-must-not-leak";

async fn env() -> Env {
    let db = TestDb::new().await;
    let fake = FakeGitea::start(Api::gitea()).await;
    fake.with(|w| {
        for u in ["ada", "alan", "ghopper"] {
            w.users.insert(u.into());
        }
    });
    let mut secrets = tempfile::NamedTempFile::new().unwrap();
    use std::io::Write;
    writeln!(
        secrets,
        "kradle-org-acme/api-webhook:\n  hmac: {HOOK_SECRET}\n"
    )
    .unwrap();
    Env { db, fake, secrets }
}

impl Env {
    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = self.command_at(&example(), extra);
        cmd.args(["--now", "2026-06-01T00:00:00Z"]);
        cmd
    }

    /// `kradle apply TARGET` (a config folder or a saved plan) for acme.
    fn command_at(&self, target: &std::path::Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
        cmd.arg("apply")
            .arg(target)
            .args(["--org", "acme"])
            .args(["--gitea-url", &self.fake.url])
            .arg("--secrets")
            .arg(self.secrets.path())
            .args(extra)
            .env("KRADLE_DATABASE_URL", &self.db.url)
            .env("KRADLE_GITEA_TOKEN", TOKEN.trim_start_matches("token "))
            .env_remove("KRADLE_GITEA_HTTP_URL");
        cmd
    }

    /// Runs kradle off the test's runtime thread, so the fake keeps serving.
    async fn run(&self, extra: &[&str]) -> Output {
        support::output(self.command(extra)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_converges_and_a_second_run_changes_nothing() {
    let env = env().await;
    let first = env.run(&[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let err = stderr(&first);
    // The forge is named before it is read: a silent wait names its host.
    assert!(
        err.starts_with(&format!("acme (gitea): reading {}\n", env.fake.url)),
        "{err}"
    );
    assert!(
        err.contains("+ acme repo:api created  POST /orgs/acme/repos"),
        "{err}"
    );
    assert!(err.contains(" created, 0 updated"), "{err}");

    let second = env.run(&[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    // Nothing to do: the forge is named, then the summary, and nothing else.
    assert_eq!(stderr(&second).lines().count(), 2, "{}", stderr(&second));
    assert!(
        summary_line(&second).starts_with("0 created, 0 updated, 0 removed, 0 archived, 0 adopted"),
        "{}",
        stderr(&second)
    );
    assert!(env.fake.with(|w| w.violations.is_empty()));

    // The hook secret reached Gitea, and nothing else.
    let all = format!("{}{}", stderr(&first), stderr(&second));
    assert!(!all.contains(HOOK_SECRET));
    assert!(env.fake.with(|w| {
        w.hooks
            .values()
            .flatten()
            .any(|h| h["config"]["secret"] == HOOK_SECRET)
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_json_report() {
    let env = env().await;
    let dry = env.run(&["--dry-run", "--format", "json"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert_eq!(
        env.fake.with(|w| w.writes.len()),
        0,
        "a dry run writes nothing"
    );
    let doc: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(doc["dryRun"], true);
    let ops = doc["orgs"][0]["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["id"] == "repo:api" && o["result"] == "wouldcreate")
    );
    let announced = doc["summary"]["created"].as_u64().unwrap();

    let real = env.run(&["--format", "json"]).await;
    assert_eq!(real.status.code(), Some(0), "{}", stderr(&real));
    let doc: Value = serde_json::from_slice(&real.stdout).unwrap();
    assert_eq!(doc["summary"]["created"].as_u64().unwrap(), announced);
    assert_eq!(doc["orgs"][0]["org"], "acme");
    assert_eq!(doc["orgs"][0]["backend"], "gitea");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_or_url_kradle_cannot_run() {
    let env = env().await;
    let mut cmd = env.command(&[]);
    cmd.env_remove("KRADLE_GITEA_TOKEN");
    let out = support::output(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("KRADLE_GITEA_TOKEN"),
        "{}",
        stderr(&out)
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
    cmd.arg("apply")
        .arg(example())
        .args(["--org", "acme"])
        .env("KRADLE_DATABASE_URL", &env.db.url)
        .env("KRADLE_GITEA_TOKEN", "x")
        .env_remove("KRADLE_GITEA_HTTP_URL");
    let out = support::output(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--gitea-url"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_killed_at_any_point_then_rerun_leave_no_duplicates() {
    let env = env().await;
    // Slow enough that a loaded machine still kills runs midway.
    env.fake.with(|w| w.delay = Duration::from_millis(10));
    // 20 runs, each killed after a different number of its writes. Every
    // other run sends one write at a time, so kills land at exact points;
    // the others send 8 at once, so kills land with writes in flight (and
    // those runs get further before the kill, so how many runs are killed
    // depends on the machine's load).
    let runs = std::cell::Cell::new(0);
    let killed = support::kill_runs(
        20,
        3,
        || {
            runs.set(runs.get() + 1);
            if runs.get() % 2 == 0 {
                env.command(&["--concurrency", "1"])
            } else {
                env.command(&[])
            }
        },
        || env.fake.with(|w| w.writes.len()),
        || {},
    )
    .await;
    assert!(killed >= 3, "runs were killed mid-apply ({killed})");
    env.fake.with(|w| w.delay = Duration::ZERO);
    let last = env.run(&[]).await;
    assert_eq!(last.status.code(), Some(0), "{}", stderr(&last));
    let again = env.run(&[]).await;
    assert!(
        summary_line(&again).starts_with("0 created, 0 updated"),
        "{}",
        stderr(&again)
    );
    env.fake.with(|w| {
        for (scope, hooks) in &w.hooks {
            assert_eq!(hooks.len(), 1, "duplicate hooks on {scope}: {hooks:?}");
        }
        for (repo, keys) in &w.keys {
            assert_eq!(keys.len(), 1, "duplicate keys on {repo:?}");
        }
        for (user, keys) in &w.user_keys {
            assert_eq!(keys.len(), 1, "duplicate keys of {user}");
        }
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    });
    // No intent is left open.
    assert_eq!(
        support::open_intents(&env.db.url).await,
        0,
        "no intent is left open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_a_progress_bar_runs_under_the_lines() {
    let env = env().await;
    // `script` gives kradle a terminal; its output is the terminal's.
    let inner = env.command(&[]);
    let mut shell = String::new();
    shell.push_str(&shell_quote(inner.get_program().to_str().unwrap()));
    for a in inner.get_args() {
        shell.push(' ');
        shell.push_str(&shell_quote(a.to_str().unwrap()));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &shell, "/dev/null"]);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = support::output(cmd).await;
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains("+ acme repo:api created"), "{screen}");
    assert!(screen.contains("acme ["), "the bar is drawn: {screen}");
    assert!(screen.contains(" created, 0 updated"), "{screen}");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cluster_kube_secrets_stop_before_any_write() {
    let env = env().await;
    let mut cmd = env.command(&["--kube-secrets"]);
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST");
    let out = support::output(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the Kubernetes API"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.fake.with(|w| w.requests), 0, "nothing was sent");
}

impl Env {
    async fn apply_at(&self, target: &std::path::Path, extra: &[&str]) -> Output {
        support::output(self.command_at(target, extra)).await
    }
}

/// A repository for acme, in its own file.
fn repository(config: &std::path::Path, name: &str) {
    std::fs::write(
        config.join("orgs/acme/next.yaml"),
        format!(
            "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: {name}\nspec:\n  visibility: private\n"
        ),
    )
    .unwrap();
}

fn plan_to(config: &std::path::Path, file: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .arg("plan")
        .arg(config)
        .args(["--base", "HEAD", "--format", "json", "--out"])
        .arg(file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("kradle apply"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_applied_as_reviewed_and_refused_once_stale_or_changed() {
    let env = env().await;
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    support::copy_dir(&example(), &config);
    support::git(&config, &["init", "-q"]);
    support::git(&config, &["add", "."]);
    support::git(&config, &["commit", "-qm", "base"]);
    // main is applied as it is.
    let base = env.apply_at(&config, &[]).await;
    assert_eq!(base.status.code(), Some(0), "{}", stderr(&base));

    // Two changes reviewed against the same main: alpha, then beta.
    let (alpha, beta) = (tmp.path().join("alpha.json"), tmp.path().join("beta.json"));
    repository(&config, "alpha");
    plan_to(&config, &alpha);
    repository(&config, "beta");
    plan_to(&config, &beta);
    // The working tree moves on: the saved plan does not follow it.
    repository(&config, "gamma");

    let applied = env.apply_at(&alpha, &[]).await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let repos = env
        .fake
        .with(|w| w.repos.keys().map(|(_, r)| r.clone()).collect::<Vec<_>>());
    assert!(repos.iter().any(|r| r == "alpha"), "{repos:?}");
    assert!(!repos.iter().any(|r| r == "gamma"), "{repos:?}");
    // Applying the same plan again is allowed, and changes nothing.
    let again = env.apply_at(&alpha, &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));

    // beta was reviewed against main without alpha: applying it would
    // archive alpha. Refused before any request.
    let writes = env.fake.with(|w| w.writes.len());
    let stale = env.apply_at(&beta, &[]).await;
    assert_eq!(stale.status.code(), Some(1), "{}", stderr(&stale));
    assert!(
        stderr(&stale).contains("the saved plan is stale"),
        "{}",
        stderr(&stale)
    );
    assert!(stderr(&stale).contains("alpha.json"), "{}", stderr(&stale));
    assert_eq!(env.fake.with(|w| w.writes.len()), writes, "nothing sent");

    // A plan file edited after review is refused.
    let text = std::fs::read_to_string(&alpha).unwrap();
    std::fs::write(&alpha, text.replace("\"alpha\"", "\"omega\"")).unwrap();
    let changed = env.apply_at(&alpha, &[]).await;
    assert_eq!(changed.status.code(), Some(1), "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains("changed after it was saved"),
        "{}",
        stderr(&changed)
    );
}
