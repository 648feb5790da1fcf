//! What every area's tests share: a `kradle serve` started on its own database, the
//! bundled example's secrets, signed deliveries of either forge, reading what was stored.

use super::*;

pub(crate) const GITHUB_SECRET: &str = "globex-webhook-secret-never-logged";
pub(crate) const GITEA_SECRET: &str = "acme-api-hook-secret-never-logged";
pub(crate) const MUX_TOKEN: &str = "acme-mux-token-never-logged";

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// stderr lines after `listening on`.
    pub(crate) lines: mpsc::Receiver<String>,
    pub(crate) db: Arc<TestDb>,
    pub(crate) _secrets: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn example() -> PathBuf {
    workspace().join("examples/acme-platform")
}

/// The example, served without workers: jobs stay queued, to be counted.
pub(crate) async fn start() -> Server {
    start_with(&example(), &["--workers", "0"]).await
}

pub(crate) async fn start_on(config: &std::path::Path) -> Server {
    start_with(config, &["--workers", "0"]).await
}

pub(crate) async fn start_with(config: &std::path::Path, args: &[&str]) -> Server {
    start_again(Arc::new(TestDb::new().await), config, args).await
}

/// A server on an existing database.
pub(crate) async fn start_again(
    db: Arc<TestDb>,
    config: &std::path::Path,
    args: &[&str],
) -> Server {
    start_in(db, config, args, None).await
}

/// A server on an existing database, with the cluster of `kubeconfig`
/// (without one, no cluster: agent runs wait in Queued).
pub(crate) async fn start_in(
    db: Arc<TestDb>,
    config: &std::path::Path,
    args: &[&str],
    kubeconfig: Option<&std::path::Path>,
) -> Server {
    let secrets = secrets_file();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--secrets"])
        .arg(secrets.path())
        .args(args)
        .arg(config)
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KRADLE_GITEA_TOKEN", "fake-gitea-admin-token")
        .env_remove("KRADLE_GITEA_HTTP_URL")
        // The fakes the configs point at (GitHub, the gateway) listen there.
        .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1")
        .env(
            "KUBECONFIG",
            kubeconfig.unwrap_or(std::path::Path::new("/nonexistent/kubeconfig")),
        )
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KRADLE_CALLBACK_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = url_after(&wait_for(&lines, "listening on "), "listening on ");
    Server {
        child,
        url,
        lines,
        db,
        _secrets: secrets,
    }
}

/// The example's Secrets, as a `--secrets` file.
pub(crate) fn secrets_file() -> tempfile::NamedTempFile {
    let secrets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets.path(),
        format!(
            "kradle-org-globex/github-app:\n  webhook-secret: {GITHUB_SECRET}\n\
             kradle-org-globex/doomsday-webhook:\n  hmac: unused\n\
             kradle-org-acme/api-webhook:\n  hmac: {GITEA_SECRET}\n\
             kradle-org-globex/github-token:\n  token: {}\n\
             kradle-org-acme/mux-auth:\n  token: {MUX_TOKEN}\n",
            support::fake_github::TOKEN
        ),
    )
    .unwrap();
    secrets
}

/// The URL a log line gives after `marker`: it ends at a space (text) or
/// a quote (JSON).
pub(crate) fn url_after(line: &str, marker: &str) -> String {
    let rest = line.split(marker).nth(1).unwrap();
    rest.chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

/// The next stderr line holding `text`, waiting up to a deadline.
pub(crate) fn wait_for(lines: &mpsc::Receiver<String>, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("kradle serve never said `{text}`"));
        if line.contains(text) {
            return line;
        }
    }
}

pub(crate) fn signal(server: &Server, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Sends SIGTERM and waits for the exit: its code.
pub(crate) async fn terminated(server: &mut Server) -> Option<i32> {
    signal(server, "TERM");
    let child = &mut server.child;
    let mut exit = None;
    assert!(
        support::until("kradle serve to exit after SIGTERM", || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        })
        .await
    );
    exit.unwrap().code()
}

pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A GitHub delivery: (event, delivery id, body), signed with `secret`.
pub(crate) async fn github(
    server: &Server,
    binding: &str,
    event: &str,
    id: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/webhooks/github/globex/{binding}", server.url))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", id)
        .header(
            "x-hub-signature-256",
            format!("sha256={}", sign(secret, body)),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

/// A Gitea `issues` delivery to subscription `subscription` of `acme`,
/// signed with `secret`.
pub(crate) async fn gitea(
    server: &Server,
    subscription: &str,
    id: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::StatusCode {
    gitea_event(server, subscription, "issues", id, body, secret).await
}

/// A Gitea delivery of `event`.
pub(crate) async fn gitea_event(
    server: &Server,
    subscription: &str,
    event: &str,
    id: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/webhooks/gitea/acme/{subscription}", server.url))
        .header("x-gitea-event", event)
        .header("x-gitea-delivery", id)
        .header("x-gitea-signature", sign(secret, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

pub(crate) async fn rows(db: &TestDb, table: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let n = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}
