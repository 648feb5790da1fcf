//! `kradle import` from the command line: an organization kradle applied
//! (plus a collaborator added by hand) is read back into config that
//! validates, and applying that config, on a fresh database, sends nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::fake_gitea::{FakeGitea, TOKEN};
use support::upstream::Api;
use support::{TestDb, stderr};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme-platform")
}

fn kradle(fake: &FakeGitea, db: &TestDb, args: &[&str], path: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
    cmd.args(args)
        .arg(path)
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KRADLE_GITEA_TOKEN", TOKEN.trim_start_matches("token "))
        .env("KRADLE_GITEA_HTTP_URL", &fake.url);
    cmd
}

/// An apply that succeeded and wrote nothing, by its summary line.
fn assert_sent_nothing(apply: &std::process::Output) {
    let err = stderr(apply);
    assert_eq!(apply.status.code(), Some(0), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .starts_with("0 created, 0 updated, 0 removed, 0 archived, "),
        "{err}"
    );
    assert!(err.contains(", 0 drift, 0 failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_validate_then_apply_is_a_no_op() {
    let fake = FakeGitea::start(Api::gitea()).await;
    fake.with(|w| {
        for u in ["ada", "alan", "ghopper", "eve"] {
            w.users.insert(u.into());
        }
    });
    let first_db = TestDb::new().await;
    let secrets = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets.path(),
        "kradle-org-acme/api-webhook:\n  hmac: s3cret\n",
    )
    .unwrap();
    let mut first = kradle(
        &fake,
        &first_db,
        &["apply", "--org", "acme", "--now", "2026-06-01T00:00:00Z"],
        &example(),
    );
    first.arg("--secrets").arg(secrets.path());
    let applied = support::output(first).await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // Someone adds a collaborator by hand: the import keeps it.
    fake.with(|w| {
        w.collaborators
            .get_mut(&("acme".to_string(), "api".to_string()))
            .unwrap()
            .insert("eve".into(), "read".into());
    });

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("imported");
    let mut import = Command::new(env!("CARGO_BIN_EXE_kradle"));
    import
        .args(["import", "--org", "acme", "--out"])
        .arg(&dir)
        .env("KRADLE_GITEA_TOKEN", TOKEN.trim_start_matches("token "))
        .env("KRADLE_GITEA_HTTP_URL", &fake.url);
    let imported = support::output(import).await;
    let err = stderr(&imported);
    assert_eq!(imported.status.code(), Some(0), "{err}");
    assert!(err.contains("kradle build: ok"), "{err}");
    // Hooks come with a reference for their secret, never a value.
    assert!(
        err.contains("put its secret in Secret `kradle-org-acme/"),
        "{err}"
    );
    let collaborators = std::fs::read_to_string(dir.join("orgs/acme/collaborators.yaml")).unwrap();
    assert!(collaborators.contains("subject: eve"), "{collaborators}");

    let validated = support::output(kradle(&fake, &first_db, &["validate"], &dir)).await;
    assert_eq!(validated.status.code(), Some(0), "{}", stderr(&validated));

    // A fresh database: kradle manages nothing yet, and adopts everything.
    let writes = fake.with(|w| w.writes.len());
    let fresh = TestDb::new().await;
    let again = support::output(kradle(&fake, &fresh, &["apply", "--org", "acme"], &dir)).await;
    assert_sent_nothing(&again);
    assert_eq!(
        fake.with(|w| w.writes[writes..].to_vec()),
        Vec::<String>::new()
    );

    // Import never overwrites.
    let mut twice = Command::new(env!("CARGO_BIN_EXE_kradle"));
    twice
        .args(["import", "--org", "acme", "--out"])
        .arg(&dir)
        .env("KRADLE_GITEA_TOKEN", TOKEN.trim_start_matches("token "))
        .env("KRADLE_GITEA_HTTP_URL", &fake.url);
    let twice = support::output(twice).await;
    assert_eq!(twice.status.code(), Some(1), "{}", stderr(&twice));
    assert!(stderr(&twice).contains("exists; nothing was written"));
}

/// The bundled example's `globex`, applied to a fake GitHub (and its
/// branch pushed, so its protection is set), with a collaborator added by
/// hand, is imported from the command line into config that applies with
/// no write at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_from_github_then_apply_is_a_no_op() {
    use kradle_compiler::forge_plan::Backend;
    use kradle_runtime::apply::{ApplyOptions, apply};
    use support::fake_github::{FakeGitHub, TOKEN};

    let fake = FakeGitHub::start(Api::github()).await;
    fake.with(|w| {
        w.org("globex");
        w.user("hank-scorpio", Some("globex"));
        w.user("mbouvier", None);
        w.user("smithers", Some("globex"));
        w.profiles
            .insert("hank-scorpio".into(), "Hank Scorpio".into());
    });
    let db = TestDb::new().await;
    let store = db.store().await;
    let plan = support::example_plan("globex", Backend::Github);
    let secrets = support::secrets_for(&plan);
    let run = || async {
        let report = apply(
            &store,
            &support::github_client(&fake.url, TOKEN),
            &plan,
            &secrets,
            &ApplyOptions::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        support::failures(&report)
    };
    run().await;
    fake.push("globex", "doomsday", "trunk");
    assert_eq!(run().await, Vec::<String>::new());
    fake.with(|w| {
        w.repos
            .get_mut(&("globex".to_string(), "doomsday".to_string()))
            .unwrap()
            .collaborators
            .insert("smithers".into(), "push".into());
    });

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("imported");
    let mut import = Command::new(env!("CARGO_BIN_EXE_kradle"));
    import
        .args(["import", "--backend", "github", "--org", "globex", "--out"])
        .arg(&dir)
        .args(["--github-url", &fake.url])
        .env("KRADLE_GITHUB_TOKEN", TOKEN);
    let imported = support::output(import).await;
    let err = stderr(&imported);
    assert_eq!(imported.status.code(), Some(0), "{err}");
    assert!(err.contains("kradle build: ok"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    let endpoint = format!("endpoint: {}", fake.url);
    for (file, expected) in [
        // Marge is invited, not yet a member: she is still on the team.
        ("teams", "members:\n  - hank-scorpio\n  - mbouvier\n"),
        ("teams", "maintainers:\n  - hank-scorpio\n"),
        ("collaborators", "subject: smithers"),
        ("collaborators", "subject: mbouvier"),
        ("protections", "signingPolicy: required"),
        ("users", "displayName: Hank Scorpio"),
        ("backend", endpoint.as_str()),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("orgs/globex/{file}.yaml"))).unwrap();
        assert!(text.contains(expected), "{file}: {expected}\n---\n{text}");
    }

    // The Secrets the notes ask for: the token, and the hook's secret.
    let secrets_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        secrets_file.path(),
        format!(
            "kradle-org-globex/github-token:\n  token: {TOKEN}\nkradle-org-globex/doomsday-hook:\n  secret: s3cret\n"
        ),
    )
    .unwrap();
    // The same import, with the credential where apply will read it: the
    // Secret the binding names, from the same --secrets file. Same config.
    let dir2 = out.path().join("imported-from-secrets");
    let mut import = Command::new(env!("CARGO_BIN_EXE_kradle"));
    import
        .args(["import", "--backend", "github", "--org", "globex", "--out"])
        .arg(&dir2)
        .args(["--github-url", &fake.url, "--secrets"])
        .arg(secrets_file.path())
        .env_remove("KRADLE_GITHUB_TOKEN")
        .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1");
    let imported = support::output(import).await;
    assert_eq!(imported.status.code(), Some(0), "{}", stderr(&imported));
    for file in ["backend", "teams", "collaborators", "users", "repositories"] {
        let read = |d: &Path| std::fs::read_to_string(d.join(format!("orgs/globex/{file}.yaml")));
        assert_eq!(read(&dir).unwrap(), read(&dir2).unwrap(), "{file}");
    }
    // A Secret without the key is refused by name, before any request.
    let mut wrong = Command::new(env!("CARGO_BIN_EXE_kradle"));
    wrong
        .args(["import", "--backend", "github", "--org", "globex", "--out"])
        .arg(out.path().join("never"))
        .args([
            "--github-url",
            &fake.url,
            "--credential",
            "github-token:pat",
        ])
        .arg("--secrets")
        .arg(secrets_file.path())
        .env_remove("KRADLE_GITHUB_TOKEN")
        .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1");
    let refused = support::output(wrong).await;
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused).contains("kradle-org-globex/github-token"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.path().join("never").exists());

    let writes = fake.with(|w| w.writes.len());
    let fresh = TestDb::new().await;
    let mut again = Command::new(env!("CARGO_BIN_EXE_kradle"));
    again
        .args(["apply", "--org", "globex", "--secrets"])
        .arg(secrets_file.path())
        .arg(&dir)
        .env("KRADLE_DATABASE_URL", &fresh.url)
        .env("KRADLE_ALLOWED_HOSTS", "http://127.0.0.1");
    assert_sent_nothing(&support::output(again).await);
    assert_eq!(
        fake.with(|w| w.writes[writes..].to_vec()),
        Vec::<String>::new()
    );
    assert_eq!(fake.with(|w| w.violations.clone()), Vec::<String>::new());
}
