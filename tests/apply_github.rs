//! `kradle apply` from the command line on a GitHub organization: the
//! bundled example's `globex`, its provider's endpoint pointed at a stateful
//! fake GitHub, authenticated as a GitHub App whose Secret is given in
//! `--secrets`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use support::fake_github::FakeGitHub;
use support::upstream::Api;
use support::{TestDb, stderr};

const HOOK_SECRET: &str = "globex-hmac-that-must-not-leak";

struct Env {
    db: TestDb,
    fake: FakeGitHub,
    config: tempfile::TempDir,
    /// Outside the config: kradle would read it as config.
    _secrets_dir: tempfile::TempDir,
    secrets: PathBuf,
    private_key: String,
}

async fn env() -> Env {
    let db = TestDb::new().await;
    let fake = FakeGitHub::start(Api::github()).await;
    fake.with(|w| {
        w.org("globex");
        w.user("hank-scorpio", Some("globex"));
        w.user("mbouvier", None);
    });
    // The example, its GitHub provider pointed at the fake.
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme-platform"),
        config.path(),
    );
    let globex = config.path().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex).unwrap();
    std::fs::write(&globex, text.replace("https://api.github.com", &fake.url)).unwrap();
    // The App's key; appId and installationId come from the provider's authConfig.
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let private_key = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let indented: String = private_key.lines().map(|l| format!("    {l}\n")).collect();
    let secrets_dir = tempfile::tempdir().unwrap();
    let secrets = secrets_dir.path().join("secrets.yaml");
    std::fs::write(
        &secrets,
        format!(
            "kradle-org-globex/github-app:\n  privateKey: |\n{indented}kradle-org-globex/doomsday-webhook:\n  hmac: {HOOK_SECRET}\n"
        ),
    )
    .unwrap();
    Env {
        db,
        fake,
        config,
        _secrets_dir: secrets_dir,
        secrets,
        private_key,
    }
}

impl Env {
    async fn run(&self, extra: &[&str]) -> Output {
        support::output(self.command(extra)).await
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
        cmd.arg("apply")
            .arg(self.config.path())
            .args(["--org", "globex", "--now", "2026-06-01T00:00:00Z"])
            .arg("--secrets")
            .arg(&self.secrets)
            .args(extra)
            .env("KRADLE_DATABASE_URL", &self.db.url)
            .env_remove("KRADLE_GITEA_TOKEN")
            .env_remove("KRADLE_GITEA_HTTP_URL")
            // The fake's endpoint (from the config): the operator allows it.
            .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1");
        cmd
    }
}

/// The provider endpoint comes from the config, i.e. from pull requests: a
/// host the operator did not allow gets no request and no token, and apply
/// says which object pointed where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_endpoint_the_operator_did_not_allow_gets_no_request() {
    let env = env().await;
    for allowed in [None, Some("127.0.0.1"), Some("http://10.0.0.1")] {
        let mut cmd = env.command(&[]);
        match allowed {
            None => cmd.env_remove("KRADLE_ALLOWED_HOSTS"),
            Some(list) => cmd.env("KRADLE_ALLOWED_HOSTS", list),
        };
        let out = support::output(cmd).await;
        assert_eq!(out.status.code(), Some(2), "{allowed:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("organization `globex`: ExternalBackendProvider `github`"),
            "{err}"
        );
        assert!(
            err.contains("is not an allowed host for credentials"),
            "{err}"
        );
        assert!(!err.contains(support::fake_github::TOKEN), "{err}");
    }
    assert_eq!(
        env.fake.with(|w| w.requests),
        0,
        "nothing reached the forge"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_converges_a_github_org_after_the_first_push() {
    let env = env().await;
    let first = env.run(&[]).await;
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(
        err.contains("+ globex repo:doomsday created  POST /orgs/globex/repos"),
        "{err}"
    );
    assert!(err.contains("push it, then apply again"), "{err}");
    assert_eq!(
        env.fake.with(|w| w.exchanges),
        1,
        "one App token for the run"
    );

    env.fake.push("globex", "doomsday", "trunk");
    let second = env.run(&[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let third = env.run(&[]).await;
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(
        stderr(&third)
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("0 created, 0 updated, 0 removed, 0 archived"),
        "{}",
        stderr(&third)
    );
    assert!(env.fake.with(|w| w.violations.is_empty()));
    // The hook secret reached GitHub, and no output.
    let all = format!("{err}{}{}", stderr(&second), stderr(&third));
    assert!(!all.contains(HOOK_SECRET));
    assert!(!all.contains("PRIVATE KEY"));
    assert!(env.fake.with(|w| {
        w.repo("globex", "doomsday").unwrap().hooks[0]["config"]["secret"] == HOOK_SECRET
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_app_key_nothing_is_written() {
    let env = env().await;
    std::fs::write(
        &env.secrets,
        format!("kradle-org-globex/doomsday-webhook:\n  hmac: {HOOK_SECRET}\n"),
    )
    .unwrap();
    let out = env.run(&[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kradle-org-globex/github-app"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.fake.with(|w| w.requests), 0);
    assert!(!stderr(&out).contains(&env.private_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_killed_at_any_point_then_rerun_leave_no_duplicates() {
    let env = env().await;
    // 20 runs, each killed after one or two of its writes, one write at a
    // time (more points to be killed at). Once the repository exists, it
    // gets its branch, as a push would give it.
    // Slow enough that a loaded machine still kills runs midway.
    env.fake.with(|w| w.delay = Duration::from_millis(10));
    let killed = support::kill_runs(
        20,
        2,
        || env.command(&["--concurrency", "1"]),
        || env.fake.with(|w| w.writes.len()),
        || {
            if env.fake.with(|w| w.repo("globex", "doomsday").is_some()) {
                env.fake.push("globex", "doomsday", "trunk");
            }
        },
    )
    .await;
    assert!(killed >= 4, "runs were killed mid-apply ({killed})");
    env.fake.with(|w| w.delay = Duration::ZERO);
    let last = env.run(&[]).await;
    assert_eq!(last.status.code(), Some(0), "{}", stderr(&last));
    let again = env.run(&[]).await;
    assert!(
        stderr(&again)
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("0 created, 0 updated"),
        "{}",
        stderr(&again)
    );
    env.fake.with(|w| {
        let repo = w.repo("globex", "doomsday").unwrap();
        assert_eq!(repo.hooks.len(), 1, "{:?}", repo.hooks);
        assert_eq!(repo.keys.len(), 1, "{:?}", repo.keys);
        assert_eq!(repo.invitations.len(), 1, "{:?}", repo.invitations);
        assert_eq!(w.teams.len(), 1);
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    });
    assert_eq!(
        support::open_intents(&env.db.url).await,
        0,
        "no intent is left open"
    );
}
