//! Watches of the aggregated API.

use super::*;

/// Reads watch events from `response` until `want` (type, name) has come
/// by, with a deadline; returns every event read.
pub(crate) async fn watch_until(
    response: &mut reqwest::Response,
    buffer: &mut Vec<u8>,
    want: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !want
        .iter()
        .all(|(t, n)| seen.iter().any(|(st, sn)| st == t && sn == n))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("never saw {want:?}; saw {seen:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the watch ended; saw {seen:?}"));
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let event: serde_json::Value = serde_json::from_slice(&line).unwrap();
            seen.push((
                event["type"].as_str().unwrap().to_string(),
                event["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_streams_what_sync_writes_then_ends() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(&example(), &["--api-token-file", token_file]).await;
    let hook = "github-doomsday";
    let opened = issue_event("opened", "First", "2026-01-02T10:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "w1", &opened, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    until_title(&server.db, "Issue", 7, "First").await;

    let issues = format!(
        "{}/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex/issues",
        server.url
    );
    let client = reqwest::Client::new();
    let mut watch = client
        .get(format!("{issues}?watch=1&timeoutSeconds=120"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status().as_u16(), 200);
    let mut buffer = Vec::new();
    let first = watch_until(&mut watch, &mut buffer, &[("ADDED", "github-doomsday-7")]).await;
    assert_eq!(first.len(), 1, "the current state, once: {first:?}");

    // An edit of 7 and a new issue 8, while the watch is open.
    let edited = issue_event("edited", "Second", "2026-01-02T10:05:00Z");
    let mut eight: serde_json::Value =
        serde_json::from_slice(&issue_event("opened", "Eight", "2026-01-02T10:06:00Z")).unwrap();
    eight["issue"]["number"] = 8.into();
    let eight = serde_json::to_vec(&eight).unwrap();
    for (id, body) in [("w2", &edited), ("w3", &eight)] {
        let status = github(&server, hook, "issues", id, body, GITHUB_SECRET).await;
        assert_eq!(status.as_u16(), 202);
    }
    let changes = watch_until(
        &mut watch,
        &mut buffer,
        &[
            ("MODIFIED", "github-doomsday-7"),
            ("ADDED", "github-doomsday-8"),
        ],
    )
    .await;
    assert_eq!(changes.len(), 2, "each change once: {changes:?}");

    // From a list's resourceVersion, nothing has changed since: the watch
    // sends nothing and ends at its timeout.
    let (_, list) = api_get(
        &server,
        "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex/issues",
        Some(API_TOKEN),
    )
    .await;
    let version = list["metadata"]["resourceVersion"].as_str().unwrap();
    let quiet = client
        .get(format!(
            "{issues}?watch=true&resourceVersion={version}&timeoutSeconds=1"
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(30), quiet.bytes())
        .await
        .expect("the watch outlived its timeout")
        .unwrap();
    assert!(body.is_empty(), "{}", String::from_utf8_lossy(&body));
    // A version this server never gave: not a number, negative, or past
    // the newest of the kind.
    let past = version.parse::<i64>().unwrap() + 1;
    for given in [
        "x".to_string(),
        "-5".into(),
        past.to_string(),
        "999999999999999".into(),
    ] {
        let (status, body) = api_get(
            &server,
            &format!(
                "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/{}/issues?watch=1&resourceVersion={given}",
                kradle_compiler::model::org_namespace("globex")
            ),
            Some(API_TOKEN),
        )
        .await;
        assert_eq!(status, 400, "resourceVersion={given}: {body}");
    }
    // An issue created after the list, before the watch from the list's
    // version starts, is ADDED to that watch (kubectl lists, then watches:
    // it has not seen the issue), not MODIFIED.
    let mut nine: serde_json::Value =
        serde_json::from_slice(&issue_event("opened", "Nine", "2026-01-02T10:07:00Z")).unwrap();
    nine["issue"]["number"] = 9.into();
    let nine = serde_json::to_vec(&nine).unwrap();
    let status = github(&server, hook, "issues", "w4", &nine, GITHUB_SECRET).await;
    assert_eq!(status.as_u16(), 202);
    until_title(&server.db, "Issue", 9, "Nine").await;
    let mut late = client
        .get(format!(
            "{issues}?watch=true&resourceVersion={version}&timeoutSeconds=60"
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let mut late_buffer = Vec::new();
    let added = watch_until(
        &mut late,
        &mut late_buffer,
        &[("ADDED", "github-doomsday-9")],
    )
    .await;
    assert_eq!(added.len(), 1, "{added:?}");
    drop(late);
    // SIGTERM ends the open watch; the server still stops.
    signal(&server, "TERM");
    let rest = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(_)) = watch.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the watch held the server open");
}
