//! `kradle db`: migrations from the command line, and clear failures (exit 2)
//! when there is no database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::process::{Command, Output};

fn kradle(args: &[&str], database_url: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
    cmd.args(args).env_remove("KRADLE_DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("KRADLE_DATABASE_URL", url);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn migrate_applies_once_and_status_reports_it() {
    let db = support::TestDb::new().await;
    let before = kradle(&["db", "status", "--database-url", &db.url], None);
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));
    assert!(stderr(&before).contains("kradle db migrate"));

    let first = kradle(&["db", "migrate", "--database-url", &db.url], None);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("applied 0001"),
        "{}",
        stderr(&first)
    );

    // From the environment variable, the second time: nothing left to do.
    let again = kradle(&["db", "migrate"], Some(&db.url));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("nothing to apply"),
        "{}",
        stderr(&again)
    );

    let after = kradle(&["db", "status"], Some(&db.url));
    assert_eq!(after.status.code(), Some(0), "{}", stderr(&after));
    assert!(stderr(&after).contains("schema current"));
}

#[test]
fn without_a_database_kradle_says_how_to_give_one() {
    let out = kradle(&["db", "migrate"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--database-url"), "{err}");
    assert!(err.contains("KRADLE_DATABASE_URL"), "{err}");
}

#[test]
fn an_unreachable_database_is_exit_2_and_its_password_is_not_printed() {
    let url = "postgres://kradle:pa55-w0rd-x@127.0.0.1:1/kradle";
    let out = kradle(&["db", "migrate", "--database-url", url], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("127.0.0.1:1/kradle"), "{err}");
    assert!(!err.contains("pa55-w0rd-x"), "{err}");
    // Nor does --help show a URL taken from the environment.
    let help = kradle(&["db", "migrate", "--help"], Some(url));
    assert!(!String::from_utf8_lossy(&help.stdout).contains("pa55"));
}

#[tokio::test]
async fn intents_can_be_listed_and_unknown_ones_are_not_approved() {
    let db = support::TestDb::new().await;
    // Before migrating: kradle says so.
    let early = kradle(&["intents", "list"], Some(&db.url));
    assert_eq!(early.status.code(), Some(2));
    assert!(
        stderr(&early).contains("kradle db migrate"),
        "{}",
        stderr(&early)
    );

    assert_eq!(
        kradle(&["db", "migrate"], Some(&db.url)).status.code(),
        Some(0)
    );
    let list = kradle(&["intents", "list"], Some(&db.url));
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    assert_eq!(String::from_utf8_lossy(&list.stdout), "no intents\n");
    let json = kradle(&["intents", "list", "--all", "--json"], Some(&db.url));
    assert_eq!(String::from_utf8_lossy(&json.stdout).trim(), "[]");

    let approve = kradle(&["intents", "approve", "999"], Some(&db.url));
    assert_eq!(approve.status.code(), Some(1));
    assert!(stderr(&approve).contains("intent 999 is not waiting for approval"));
}
