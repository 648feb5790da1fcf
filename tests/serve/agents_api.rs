//! The agent endpoints of the API: dispatch, approve and cancel, for write tokens
//! only.

use super::*;

pub(crate) async fn post_as(
    server: &Server,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_dispatches_approves_and_cancels_for_write_tokens_only() {
    let config = asking_for_approval();
    let read = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(read.path(), format!("{API_TOKEN}\n")).unwrap();
    let write = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        write.path(),
        "# people who may act\nops-token-never-logged ada\n",
    )
    .unwrap();
    let server = start_with(
        config.path(),
        &[
            "--api-token-file",
            read.path().to_str().unwrap(),
            "--api-write-token-file",
            write.path().to_str().unwrap(),
        ],
    )
    .await;
    let dispatch = "/api/orgs/acme/agents/dispatch";
    let request =
        serde_json::json!({ "agentStack": "fixer", "taskKind": "fix", "repository": "api" });
    let (status, _) = post_as(&server, dispatch, API_TOKEN, request.clone()).await;
    assert_eq!(status, 403, "a read token is known, and does not act");
    let (status, body) = post_as(
        &server,
        dispatch,
        "ops-token-never-logged",
        serde_json::json!({ "agentStack": "Fixer!", "taskKind": "fix" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // What the config does not have is refused before anything is stored:
    // an org, a stack, a repository (with the name it likely meant).
    for (path, body, code, says) in [
        (
            "/api/orgs/nosuch/agents/dispatch",
            request.clone(),
            404,
            "organization `nosuch` is not in the config",
        ),
        (
            dispatch,
            serde_json::json!({ "agentStack": "fixr", "taskKind": "fix" }),
            422,
            "did you mean `fixer`?",
        ),
        (
            dispatch,
            serde_json::json!({ "agentStack": "fixer", "taskKind": "fix", "repository": "apii" }),
            422,
            "did you mean `api`?",
        ),
    ] {
        let (status, answer) = post_as(&server, path, "ops-token-never-logged", body).await;
        assert_eq!(status, code, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert!(runs(&server.db).await.is_empty());
    let (status, created) =
        post_as(&server, dispatch, "ops-token-never-logged", request.clone()).await;
    assert_eq!(status, 201, "{created}");
    let run = created["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(created["spec"]["requestedBy"], "ada");
    poll_until(
        "AwaitingApproval",
        || runs(&server.db),
        |r| r[0].1 == "AwaitingApproval",
    )
    .await;
    // The read token reads it.
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, approvals) =
        api_get(&server, &format!("{ns}/agentapprovals"), Some(API_TOKEN)).await;
    assert_eq!(status, 200);
    let approval = approvals["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(approvals["items"][0]["spec"]["requestedBy"], "ada");
    let decide = |verb: &str| format!("/api/orgs/acme/agents/approvals/{approval}/{verb}");
    let (status, _) = post_as(
        &server,
        &decide("approve"),
        API_TOKEN,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = post_as(
        &server,
        &decide("deny"),
        "ops-token-never-logged",
        serde_json::json!({ "reason": "not today" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_as(
        &server,
        &decide("approve"),
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(runs(&server.db).await[0].1, "Failed");
    let (status, _) = post_as(
        &server,
        "/api/orgs/acme/agents/approvals/nope/approve",
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 404);

    // A second run, cancelled through the API.
    let (_, created) = post_as(&server, dispatch, "ops-token-never-logged", request).await;
    let second = created["metadata"]["name"].as_str().unwrap().to_string();
    let cancel = format!("/api/orgs/acme/agents/runs/{second}/cancel");
    let (status, _) = post_as(&server, &cancel, API_TOKEN, serde_json::json!({})).await;
    assert_eq!(status, 403);
    let (status, body) = post_as(
        &server,
        &cancel,
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post_as(
        &server,
        &cancel,
        "ops-token-never-logged",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 409);
    let (_, got) = api_get(
        &server,
        &format!("{ns}/agentdispatchruns/{second}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(got["status"]["phase"], "Cancelled");
    assert_eq!(got["status"]["message"], "cancelled by ada");
    let completed = got["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Completed"))
        .map(|c| c["status"].clone());
    assert_eq!(completed, Some("False".into()), "{got}");
    assert_ne!(run, second);
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains("ops-token-never-logged")),
        "a token was logged"
    );
}
