//! A database of its own for each test, on the machine's PostgreSQL, dropped
//! when the test ends, so tests run in parallel.
//!
//! The server comes from `KRADLE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fake_gitea;
pub mod fake_github;
pub mod fake_http;
pub mod fake_kube;
pub mod fake_mux;
pub mod upstream;

use std::sync::atomic::{AtomicUsize, Ordering};

use kradle_compiler::forge_plan::{Backend, Placeholder, Plan};
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::source::Sources;
use kradle_runtime::apply::{ApplyOptions, OrgReport, Outcome};
use kradle_runtime::secrets::{SecretValue, Secrets};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn admin_url() -> String {
    std::env::var("KRADLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database; dropped (with its connections) on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!(
            "kradle_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be up for the runtime tests (see .ci/run)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        TestDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl TestDb {
    /// A store on this database, migrated.
    pub async fn store(&self) -> kradle_runtime::store::Store {
        let store = kradle_runtime::store::Store::connect(&self.url)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A thread of its own: drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// The compiled plan of `org` for `backend` from the bundled example,
/// read back through the typed contract.
pub fn example_plan(org: &str, backend: Backend) -> Plan {
    let root = upstream::workspace().join("examples/acme-platform");
    let sources = Sources::from_dir(&root).unwrap();
    let options = BuildOptions {
        now: chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .into(),
        repo_url: None,
        target_revision: None,
        path: None,
        origin_repo_url: None,
    };
    let build = kradle_compiler::build(sources, &options);
    assert!(!build.has_errors());
    let plan = build
        .output
        .plans
        .iter()
        .find(|p| p.org == org && p.backend == backend)
        .expect("the example has this plan")
        .clone();
    Plan::from_json(&serde_json::to_string(&plan).unwrap()).unwrap()
}

/// A value for every `${secret:…}` the plan names.
pub fn secrets_for(plan: &Plan) -> Secrets {
    let mut s = Secrets::default();
    for op in &plan.operations {
        for p in op.placeholders() {
            if let Placeholder::Secret {
                namespace,
                name,
                key,
            } = p
            {
                s.insert(
                    &namespace,
                    &name,
                    &key,
                    SecretValue::new(format!("s3cret-{name}-{key}-value")),
                );
            }
        }
    }
    s
}

/// A GitHub client of the fake at `url`, with a token.
pub fn github_client(url: &str, token: &str) -> kradle_runtime::forge::github::GitHub {
    let http = kradle_runtime::forge::http::Http::new(
        url,
        Some(SecretValue::new(format!("Bearer {token}"))),
        kradle_runtime::forge::http::RetryPolicy::default(),
    )
    .unwrap()
    .github();
    kradle_runtime::forge::github::GitHub::new(http)
}

/// The plan without everything about `repo`.
pub fn without_repository(plan: &Plan, repo: &str) -> Plan {
    let mut p = plan.clone();
    let dropped: Vec<String> = p
        .operations
        .iter()
        .filter(|o| o.target.repository.as_deref() == Some(repo))
        .map(|o| o.id.clone())
        .collect();
    p.operations.retain(|o| !dropped.contains(&o.id));
    for o in &mut p.operations {
        o.depends_on.retain(|d| !dropped.contains(d));
    }
    p
}

pub fn count(report: &OrgReport, outcome: Outcome) -> usize {
    report
        .operations
        .iter()
        .filter(|o| o.result == outcome)
        .count()
}

pub fn failures(report: &OrgReport) -> Vec<String> {
    report
        .operations
        .iter()
        .filter(|o| matches!(o.result, Outcome::Failed | Outcome::Skipped))
        .map(|o| format!("{}: {:?}", o.id, o.error))
        .collect()
}

/// Runs a command off the test's runtime thread, so an in-test fake keeps
/// serving while it runs.
pub async fn output(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits for `condition`, up to a deadline.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !condition() {
        if std::time::Instant::now() > deadline {
            eprintln!("gave up waiting for {what}");
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    true
}

/// Starts up to `runs` children from `command`, one after the other, and
/// kills each with SIGKILL once the forge has taken 1 to `spread` more
/// writes (`writes` counts them), so runs die at different points. Stops
/// when a run finishes with exit 0; `between` runs after every run.
/// Returns how many were killed.
pub async fn kill_runs(
    runs: usize,
    spread: usize,
    command: impl Fn() -> std::process::Command,
    writes: impl Fn() -> usize,
    mut between: impl FnMut(),
) -> usize {
    use std::process::Stdio;
    let mut killed = 0;
    for run in 0..runs {
        let target = writes() + (run % spread) + 1;
        let mut child = command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut exit = None;
        until("the run to write or finish", || {
            exit = child.try_wait().ok().flatten();
            exit.is_some() || writes() >= target
        })
        .await;
        match exit {
            Some(status) if status.success() => break,
            Some(_) => {}
            None => {
                child.kill().unwrap(); // SIGKILL
                let _ = child.wait();
                killed += 1;
            }
        }
        between();
    }
    killed
}

/// How many write intents are still open (Pending or InFlight) in the
/// database at `url`.
pub async fn open_intents(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kradle_write_intents WHERE phase IN ('Pending', 'InFlight')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    open
}

/// Default options that let removals over `--max-removal` through.
pub fn allowing_removal() -> ApplyOptions {
    ApplyOptions {
        allow_removal: true,
        ..ApplyOptions::default()
    }
}

/// Copies `from` into `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `$PATH` with `dir` first, so a child process finds the binary under test
/// (`kradle`, in `dir`) by name, as a plugin or hook runner would.
pub fn path_with(dir: &std::path::Path) -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest)))
        .unwrap()
}

/// The URL a `kradle serve` child (its stderr piped) says it listens on;
/// the rest of its stderr is read away, so it never blocks on a full pipe.
pub fn listening_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("kradle serve stopped").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    url
}

/// The `--secrets` file of a benchmark: acme's Gitea hook secret is
/// `secret`, the rest unused.
pub fn bench_secrets(secret: &str) -> tempfile::NamedTempFile {
    let (globex, acme) = (
        kradle_compiler::model::org_namespace("globex"),
        kradle_compiler::model::org_namespace("acme"),
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "{globex}/github-app:\n  webhook-secret: unused\n\
             {globex}/doomsday-webhook:\n  hmac: unused\n\
             {acme}/api-webhook:\n  hmac: {secret}\n"
        ),
    )
    .unwrap();
    file
}

/// A benchmark's `--name N` option, or `default`.
pub fn bench_arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `git` in `dir`, and returns what it printed.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=kradle-test",
            "-c",
            "user.email=test@kradle.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// acme's memory repository (`agent-memory`) as a bare git repository at
/// `<root>/acme/agent-memory.git`, written from `<root>/work`.
pub struct MemoryRepo {
    pub bare: std::path::PathBuf,
    pub work: std::path::PathBuf,
}

impl MemoryRepo {
    pub fn new(root: &std::path::Path) -> MemoryRepo {
        let repo = MemoryRepo {
            bare: root.join("acme/agent-memory.git"),
            work: root.join("work"),
        };
        std::fs::create_dir_all(&repo.bare).unwrap();
        std::fs::create_dir_all(&repo.work).unwrap();
        git(&repo.bare, &["init", "--bare", "-q"]);
        git(&repo.work, &["init", "-q"]);
        repo
    }

    /// Commits `runbooks.md` with `text`, pushes `main`: the new commit.
    pub fn commit(&self, text: &str) -> String {
        std::fs::write(self.work.join("runbooks.md"), text).unwrap();
        git(&self.work, &["add", "."]);
        git(&self.work, &["commit", "-q", "-m", text]);
        git(
            &self.work,
            &[
                "push",
                "-q",
                self.bare.to_str().unwrap(),
                "HEAD:refs/heads/main",
            ],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }
}
