//! The GitHub fake against the real api.github.com: every recorded exchange
//! of `testdata/upstream/github/octokit-fixtures` that touches an endpoint
//! kradle uses is replayed against the fake, which must answer with the same
//! status, the same pagination links, the same error bodies, and no field
//! the real answer does not have.
//!
//! Scenarios left out, and why: `labels`, `errors` (a label's 422),
//! `add-labels-to-issue` and `create-status` use endpoints kradle never
//! calls (labels are set through the issue, statuses are not written);
//! `rename-repository` (301/307) covers renames, which kradle never makes,
//! and its redirects are refused by kradle's client (same origin only).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use support::fake_github::{FakeGitHub, Repo, TOKEN};
use support::upstream::{Api, upstream};

const ORG: &str = "octokit-fixture-org";
const USER_A: &str = "octokit-fixture-user-a";
const USER_B: &str = "octokit-fixture-user-b";

/// The recorded exchanges of `scenario`.
fn fixture(scenario: &str) -> Vec<Value> {
    let path = upstream().join(format!(
        "github/octokit-fixtures/{scenario}/normalized-fixture.json"
    ));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the fake answered.
struct Answer {
    status: u16,
    link: Option<String>,
    body: Value,
}

async fn send(fake: &FakeGitHub, method: &str, path: &str, body: &Value) -> Answer {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}", fake.url)
    };
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(TOKEN)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    if !body.is_null() && body != "" {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let link = response
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, link, body }
}

/// The JSON type of a value, `null` counting as any.
fn same_type(ours: &Value, theirs: &Value) -> bool {
    ours.is_null()
        || theirs.is_null()
        || std::mem::discriminant(ours) == std::mem::discriminant(theirs)
}

/// Every field the fake answers is one GitHub answers, with the same type
/// (recursively through objects, and through the first item of arrays).
fn no_invented_fields(at: &str, ours: &Value, theirs: &Value, problems: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                match t.get(k) {
                    None => problems.push(format!("{at}.{k}: GitHub does not answer it")),
                    Some(tv) if !same_type(v, tv) => {
                        problems.push(format!("{at}.{k}: {v} where GitHub has {tv}"))
                    }
                    Some(tv) => no_invented_fields(&format!("{at}.{k}"), v, tv, problems),
                }
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            if let (Some(o), Some(t)) = (o.first(), t.first()) {
                no_invented_fields(&format!("{at}[0]"), o, t, problems);
            }
        }
        _ => {}
    }
}

/// The `rel`s of a `Link` header, in order, with the page each points to.
fn rels(link: Option<&str>) -> Vec<(String, String)> {
    link.unwrap_or_default()
        .split(", ")
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (url, rel) = part.split_once("; ").unwrap();
            let page = url
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("page="))
                .unwrap_or_default()
                .trim_end_matches('>')
                .to_string();
            (rel.to_string(), page)
        })
        .collect()
}

async fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start(Api::github()).await;
    fake.with(|w| {
        w.org(ORG);
        w.user(USER_A, Some(ORG));
        w.owners
            .entry(ORG.into())
            .or_default()
            .insert(USER_A.into());
        w.user(USER_B, None);
    });
    fake
}

/// Creates `name` in the organization through the fake's API, with a
/// `main` branch.
async fn repository(fake: &FakeGitHub, name: &str) -> Value {
    let created = send(
        fake,
        "post",
        &format!("/orgs/{ORG}/repos"),
        &json!({ "name": name }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    fake.push(ORG, name, "main");
    created.body
}

fn violations(fake: &FakeGitHub) -> Vec<String> {
    fake.with(|w| w.violations.clone())
}

#[tokio::test]
async fn an_organization_and_a_repository_are_answered_as_github_answers_them() {
    let fake = fake().await;
    let mut problems = Vec::new();
    let org = &fixture("get-organization")[0];
    let ours = send(&fake, "get", org["path"].as_str().unwrap(), &Value::Null).await;
    assert_eq!(ours.status, org["status"]);
    no_invented_fields("org", &ours.body, &org["response"], &mut problems);

    let repo = &fixture("get-repository")[0];
    let created = repository(&fake, "hello-world").await;
    no_invented_fields("created", &created, &repo["response"], &mut problems);
    let ours = send(&fake, "get", repo["path"].as_str().unwrap(), &Value::Null).await;
    assert_eq!(ours.status, repo["status"]);
    no_invented_fields("repo", &ours.body, &repo["response"], &mut problems);
    // What is not there is GitHub's 404 body.
    let missing = send(&fake, "get", &format!("/repos/{ORG}/nope"), &Value::Null).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["message"], "Not Found");
    assert!(missing.body["documentation_url"].is_string());
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(violations(&fake).is_empty(), "{:?}", violations(&fake));
}

#[tokio::test]
async fn branch_protection_is_replayed_with_githubs_statuses_and_bodies() {
    let fake = fake().await;
    repository(&fake, "branch-protection").await;
    let mut problems = Vec::new();
    for (n, exchange) in fixture("branch-protection").iter().enumerate() {
        let ours = send(
            &fake,
            exchange["method"].as_str().unwrap(),
            exchange["path"].as_str().unwrap(),
            &exchange["body"],
        )
        .await;
        assert_eq!(
            ours.status, exchange["status"],
            "exchange {n}: {}",
            ours.body
        );
        if ours.status == 404 {
            // "Branch not protected", with its documentation link.
            assert_eq!(ours.body["message"], exchange["response"]["message"]);
            assert!(ours.body["documentation_url"].is_string());
        }
        if ours.status == 200 {
            let at = format!("exchange {n}");
            no_invented_fields(&at, &ours.body, &exchange["response"], &mut problems);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(violations(&fake).is_empty(), "{:?}", violations(&fake));
}

#[tokio::test]
async fn a_collaborator_outside_the_org_is_invited_accepts_and_is_removed_as_on_github() {
    let fake = fake().await;
    repository(&fake, "add-and-remove-repository-collaborator").await;
    let mut problems = Vec::new();
    let mut invitation = None;
    for (n, exchange) in fixture("add-and-remove-repository-collaborator")
        .iter()
        .enumerate()
    {
        let mut path = exchange["path"].as_str().unwrap().to_string();
        if path.starts_with("/user/repository_invitations/") {
            // The recording's invitation id is GitHub's; ours is the fake's.
            path = format!(
                "/user/repository_invitations/{}",
                invitation.clone().unwrap()
            );
        }
        let method = exchange["method"].as_str().unwrap();
        let ours = send(&fake, method, &path, &exchange["body"]).await;
        let theirs = &exchange["response"];
        assert_eq!(
            ours.status, exchange["status"],
            "exchange {n} {method} {path}: {}",
            ours.body
        );
        if ours.status == 201 {
            invitation = Some(ours.body["id"].to_string());
        }
        if let (Value::Array(o), Value::Array(t)) = (&ours.body, theirs) {
            // The same people, with the same permissions (the org's owner
            // is listed as an admin collaborator).
            let people = |items: &[Value]| -> BTreeSet<(String, String)> {
                items
                    .iter()
                    .map(|i| {
                        let login = i["login"].as_str().or(i["invitee"]["login"].as_str());
                        let what = if let Some(p) = i["permissions"].as_object() {
                            let granted: BTreeSet<&str> = p
                                .iter()
                                .filter(|(_, v)| **v == true)
                                .map(|(k, _)| k.as_str())
                                .collect();
                            format!("{granted:?}")
                        } else {
                            i["permissions"].as_str().unwrap_or_default().to_string()
                        };
                        (login.unwrap_or_default().to_string(), what)
                    })
                    .collect()
            };
            assert_eq!(people(o), people(t), "exchange {n} {method} {path}");
        }
        no_invented_fields(&format!("exchange {n}"), &ours.body, theirs, &mut problems);
    }
    // kradle reads `affiliation=direct`: the owner is not a collaborator
    // it manages.
    let direct = send(
        &fake,
        "get",
        &format!(
            "/repos/{ORG}/add-and-remove-repository-collaborator/collaborators?affiliation=direct"
        ),
        &Value::Null,
    )
    .await;
    assert_eq!(direct.body, json!([]));
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(violations(&fake).is_empty(), "{:?}", violations(&fake));
}

#[tokio::test]
async fn lists_paginate_with_githubs_link_header_and_the_links_are_followed() {
    let fake = fake().await;
    let created = repository(&fake, "paginate-issues").await;
    let recorded = fixture("paginate-issues");
    // As many issues as the recording pages through (5 pages of 3, the
    // last one partial).
    let total: usize = recorded
        .iter()
        .map(|e| e["response"].as_array().unwrap().len())
        .sum();
    fake.with(|w| {
        let repo: &mut Repo = w
            .repos
            .get_mut(&(ORG.to_string(), "paginate-issues".to_string()))
            .unwrap();
        for n in 1..=total {
            repo.issues.push(json!({
                "number": n, "title": format!("Test issue {n}"), "state": "open",
                "updated_at": format!("2017-10-10T16:00:{:02}Z", n % 60),
            }));
        }
    });
    let id = created["id"].as_i64().unwrap();
    let mut next = recorded[0]["path"].as_str().unwrap().to_string();
    for (n, exchange) in recorded.iter().enumerate() {
        let ours = send(&fake, "get", &next, &Value::Null).await;
        assert_eq!(ours.status, exchange["status"]);
        assert_eq!(
            ours.body.as_array().unwrap().len(),
            exchange["response"].as_array().unwrap().len(),
            "page {}",
            n + 1
        );
        let theirs = exchange["headers"]["link"].as_str();
        assert_eq!(rels(ours.link.as_deref()), rels(theirs), "page {}", n + 1);
        // GitHub's links name the repository by id.
        if let Some(link) = &ours.link {
            assert!(
                link.contains(&format!("/repositories/{id}/issues?")),
                "{link}"
            );
        }
        match rels(ours.link.as_deref())
            .iter()
            .find(|(rel, _)| rel == "rel=\"next\"")
        {
            Some(_) => {
                let link = ours.link.unwrap();
                let url = link
                    .split(", ")
                    .find(|p| p.ends_with("rel=\"next\""))
                    .unwrap();
                next = url[1..url.find('>').unwrap()].to_string();
            }
            None => assert_eq!(n + 1, recorded.len(), "the last page has no next"),
        }
    }
    assert!(violations(&fake).is_empty(), "{:?}", violations(&fake));
}
