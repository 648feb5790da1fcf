//! The aggregated API, read with HTTP and with the real kubectl.

use super::*;

// ---------------------------------------------------------------------------
// The aggregated API.

pub(crate) const API_TOKEN: &str = "reader-token-never-logged";

/// A GET of the API with `token`: (status, JSON body).
pub(crate) async fn api_get(
    server: &Server,
    path: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregated_api_lists_and_gets_what_sync_wrote() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("# readers\n{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(&example(), &["--api-token-file", token_file]).await;
    let hook = "github-doomsday";
    for n in 1..=5u64 {
        let mut body = example_body("issues.opened");
        body["repository"]["full_name"] = "globex/doomsday".into();
        body["repository"]["name"] = if n <= 3 { "doomsday" } else { "other" }.into();
        body["issue"]["number"] = n.into();
        let body = serde_json::to_vec(&body).unwrap();
        let status = github(
            &server,
            hook,
            "issues",
            &format!("i{n}"),
            &body,
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202);
    }
    drained(&server.db).await;
    let base = "/apis/data.kradle.a5c.ai/v1alpha1";
    let ns = format!("{base}/namespaces/kradle-org-globex");

    // Every request needs a token the file holds.
    for token in [None, Some("guess")] {
        let (status, body) = api_get(&server, base, token).await;
        assert_eq!(status, 401);
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "Unauthorized");
    }
    let token = Some(API_TOKEN);
    let (status, discovery) = api_get(&server, base, token).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["kind"], "APIResourceList");
    let plurals: Vec<&str> = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for plural in [
        "issues",
        "pullrequests",
        "reviews",
        "pipelines",
        "jobs",
        "externalsyncevents",
    ] {
        assert!(plurals.contains(&plural), "{plural} in {plurals:?}");
    }

    // A list is a Kubernetes List of objects with full metadata.
    let (status, list) = api_get(&server, &format!("{ns}/issues"), token).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "IssueList");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let first = &items[0];
    assert_eq!(first["apiVersion"], "data.kradle.a5c.ai/v1alpha1");
    assert_eq!(first["kind"], "Issue");
    assert_eq!(first["metadata"]["namespace"], "kradle-org-globex");
    for field in [
        "name",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "labels",
    ] {
        assert!(
            !first["metadata"][field].is_null(),
            "metadata.{field}: {first:#}"
        );
    }
    assert_eq!(first["spec"]["organizationRef"], "globex");
    assert_eq!(
        first["status"]["external"]["nativeId"],
        format!("globex/doomsday/issues/{}", first["spec"]["number"])
    );

    // labelSelector, equality and inequality.
    let srv = &server;
    let selected = |selector: &str| {
        let path = format!("{ns}/issues?labelSelector={selector}");
        async move {
            let (status, list) = api_get(srv, &path, token).await;
            assert_eq!(status, 200, "{list}");
            list["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(selected("kradle.a5c.ai/repository=doomsday").await, 3);
    assert_eq!(selected("kradle.a5c.ai/repository!=doomsday").await, 2);
    assert_eq!(
        selected("kradle.a5c.ai/source=github,kradle.a5c.ai/repository=other").await,
        2
    );
    assert_eq!(selected("!kradle.a5c.ai/source").await, 0);
    let (status, refused) = api_get(
        &server,
        &format!("{ns}/issues?labelSelector=a%20in%20(b)"),
        token,
    )
    .await;
    assert_eq!(
        (status, refused["reason"].as_str()),
        (400, Some("BadRequest"))
    );

    // limit and continue walk every item once.
    let mut seen = Vec::new();
    let mut next = String::new();
    loop {
        let path = format!("{ns}/issues?limit=2&continue={next}");
        let (status, page) = api_get(&server, &path, token).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(token) => next = token.to_string(),
            None => break,
        }
    }
    let all: Vec<String> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, all);

    // Get by name; what is not there is a NotFound Status.
    let (status, one) = api_get(&server, &format!("{ns}/issues/github-doomsday-2"), token).await;
    assert_eq!(status, 200);
    assert_eq!(one["spec"]["number"], 2);
    let (status, missing) = api_get(&server, &format!("{ns}/issues/nope"), token).await;
    assert_eq!(
        (status, missing["reason"].as_str()),
        (404, Some("NotFound"))
    );
    let other_ns = format!("{base}/namespaces/default/issues");
    assert_eq!(
        api_get(&server, &other_ns, token).await.1["items"],
        serde_json::json!([])
    );
    let (_, events) = api_get(&server, &format!("{ns}/externalsyncevents"), token).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 5);
    assert_eq!(events["items"][0]["status"]["phase"], "Applied");
    let (_, all_ns) = api_get(&server, &format!("{base}/issues"), token).await;
    assert_eq!(all_ns["items"].as_array().unwrap().len(), 5);

    // kubectl itself, when this machine has it. kubectl sends no token over
    // plain HTTP, so it talks through a proxy that adds it, as the API
    // server's aggregation layer would add its own credentials.
    let proxy = token_proxy(&server.url, API_TOKEN).await;
    let kubectl = tokio::task::spawn_blocking(move || {
        Command::new("kubectl")
            .args(["--server", &proxy])
            .args(["get", "issues", "-n", "kradle-org-globex"])
            .args(["-l", "kradle.a5c.ai/repository=other"])
            .args(["-o", "custom-columns=NAME:.metadata.name,TITLE:.spec.title"])
            .env("KUBECONFIG", "/dev/null")
            .output()
    })
    .await
    .unwrap();
    match kubectl {
        Err(e) => eprintln!("kubectl is not installed ({e}); its part of this test is skipped"),
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut names: Vec<&str> = stdout
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            names.sort_unstable();
            assert_eq!(names, ["github-other-4", "github-other-5"], "{stdout}");
        }
    }
}

/// Delivers `issues.opened` of issue `n` of `globex/<repo>`, signed.
pub(crate) async fn deliver_issue(server: &Server, n: u64, repo: &str) {
    let mut body = example_body("issues.opened");
    body["repository"]["full_name"] = format!("globex/{repo}").into();
    body["repository"]["name"] = repo.into();
    body["issue"]["number"] = n.into();
    let body = serde_json::to_vec(&body).unwrap();
    let id = format!("i{n}");
    let status = github(
        server,
        "github-doomsday",
        "issues",
        &id,
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
}

/// `kubectl ARGS` against `https` with `token` (kubectl sends a bearer token
/// only over TLS); `None` where this machine has no kubectl.
pub(crate) fn kubectl(https: &str, token: &str, args: &[&str]) -> Option<(bool, String, String)> {
    kubectl_trusting(https, token, None, args)
}

/// kubectl verifying the server against `ca` (without one, not verifying).
pub(crate) fn kubectl_trusting(
    https: &str,
    token: &str,
    ca: Option<&str>,
    args: &[&str],
) -> Option<(bool, String, String)> {
    let trust = match ca {
        Some(ca) => format!("--certificate-authority={ca}"),
        None => "--insecure-skip-tls-verify".to_string(),
    };
    let out = Command::new("kubectl")
        .args(["--server", https, &trust, "--token", token])
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", std::env::temp_dir())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("kubectl: {e}"),
        Ok(out) => Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
    }
}

/// `kubectl get issues -n NS --watch-only EXTRA` against `https` (8 s
/// request timeout), and its stdout, line by line.
pub(crate) fn kubectl_watch(
    https: &str,
    ns: &str,
    extra: &[&str],
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut watch = Command::new("kubectl")
        .args([
            "--server",
            https,
            "--insecure-skip-tls-verify",
            "--token",
            API_TOKEN,
        ])
        .args(["get", "issues.data.kradle.a5c.ai", "-n", ns, "--watch-only"])
        .args(extra)
        .args(["--request-timeout", "8s"])
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (watch, lines)
}

/// The real kubectl, over HTTPS with a bearer token, as a person would use
/// it: api-resources, get with a label selector as JSON, a watch that sees
/// one event and ends at its request timeout, explain of every served kind,
/// and a wrong token refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_kubectl_lists_watches_and_explains_every_served_kind() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl is not installed: this test is skipped (CI has it)");
        return;
    }
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    // The self-signed certificate, written for kubectl to trust: it names
    // the address listened on, so kubectl verifies it (no --insecure).
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("kradle-ca.pem");
    let ca = ca.to_str().unwrap().to_string();
    let args = [
        "--api-token-file",
        token_file,
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-write-cert",
        &ca,
    ];
    let server = start_with(&example(), &args).await;
    let (_, https) = https_of(&server);
    for (n, repo) in [(1, "doomsday"), (2, "other"), (3, "other")] {
        deliver_issue(&server, n, repo).await;
    }
    drained(&server.db).await;
    let run = |args: Vec<String>| {
        let (https, ca) = (https.clone(), ca.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl_trusting(&https, API_TOKEN, Some(&ca), &args).unwrap()
        })
    };
    let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let ns = kradle_compiler::model::org_namespace("globex");

    // Every served kind is a resource kubectl knows.
    let (ok, out, err) = run(owned(&[
        "api-resources",
        "--api-group=data.kradle.a5c.ai",
        "-o",
        "name",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    for (_, plural, _) in kradle_runtime::serve::api::kinds() {
        assert!(
            out.lines()
                .any(|l| l == format!("{plural}.data.kradle.a5c.ai")),
            "{plural} is not in\n{out}"
        );
    }

    // get, with a label selector, as JSON.
    let (ok, out, err) = run(owned(&[
        "get",
        "issues.data.kradle.a5c.ai",
        "-n",
        &ns,
        "-l",
        "kradle.a5c.ai/repository=other",
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut numbers: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["spec"]["number"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [2, 3], "{out}");
    // The deliveries as received, each with its sync job's outcome; and
    // the forge links (none: nothing was applied), whose query runs too.
    let (ok, out, err) = run(owned(&[
        "get",
        "externalwebhookdeliveries.data.kradle.a5c.ai",
        "-n",
        &ns,
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    let deliveries: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{out}");
    for d in items {
        assert_eq!(d["status"]["phase"], "Succeeded", "{d}");
        assert_eq!(d["spec"]["eventType"], "issues");
        assert!(d["spec"]["payload"]["issue"].is_object());
    }
    // Printed as a table, as kubectl prints a CRD with printer columns:
    // the phase of each, across namespaces with the namespace first.
    let (ok, out, err) = run(owned(&[
        "get",
        "externalwebhookdeliveries.data.kradle.a5c.ai",
        "-A",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "PHASE", "REASON", "AGE"],
        "{out}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{out}");
    for row in &rows {
        assert_eq!(row[0], ns, "{out}");
        assert_eq!(row[2], "Succeeded", "{out}");
    }
    let (ok, out, err) = run(owned(&[
        "get",
        "externalobjectlinks.data.kradle.a5c.ai",
        "-A",
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["items"],
        serde_json::json!([])
    );

    // A watch sees the issue opened while it runs, then ends at its
    // request timeout. kubectl prints each event as one line of JSON.
    let (mut watch, events) = kubectl_watch(&https, &ns, &["--output-watch-events", "-o", "json"]);
    // The watch is open once the server has seen it; deliver until the event
    // arrives (a delivery before the watch started would not show).
    let mut event = None;
    for n in 10..40u64 {
        deliver_issue(&server, n, "doomsday").await;
        if let Ok(text) = events.recv_timeout(Duration::from_secs(1)) {
            event = Some(text);
            break;
        }
    }
    let Some(event) = event else {
        let _ = watch.kill();
        let out = watch.wait_with_output().unwrap();
        panic!("no watch event: {}", String::from_utf8_lossy(&out.stderr));
    };
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "ADDED", "{event}");
    assert_eq!(event["object"]["kind"], "Issue", "{event}");
    let ended = tokio::task::spawn_blocking(move || watch.wait().unwrap())
        .await
        .unwrap();
    // kubectl ends a watch at its request timeout (exit 0 or 1 by version);
    // what matters is that it ended, and was not killed.
    assert!(ended.code().is_some(), "{ended:?}");

    // `kubectl get -w` as people run it: the events print as rows of the
    // same table (a Table per event), not as bare objects.
    let (mut watch, lines) = kubectl_watch(&https, &ns, &[]);
    let mut printed = Vec::new();
    for n in 40..70u64 {
        deliver_issue(&server, n, "doomsday").await;
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
            printed.push(line);
            if let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
                printed.push(line);
            }
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let header: Vec<&str> = printed
        .first()
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(header, ["NAME", "PHASE", "REASON", "AGE"], "{printed:?}");
    assert!(printed.len() >= 2, "a row under the header: {printed:?}");

    // explain, for every served kind and a field.
    for (kind, plural, _) in kradle_runtime::serve::api::kinds() {
        let (ok, out, err) = run(owned(&[
            "explain",
            plural,
            "--api-version=data.kradle.a5c.ai/v1alpha1",
        ]))
        .await
        .unwrap();
        assert!(ok, "explain {plural}: {err}");
        assert!(out.contains(&format!("KIND:       {kind}")), "{out}");
        assert!(out.contains("spec"), "{out}");
    }
    let (ok, out, err) = run(owned(&[
        "explain",
        "issues.spec.title",
        "--api-version=data.kradle.a5c.ai/v1alpha1",
    ]))
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("FIELD: title <string>"), "{out}");

    // A wrong token is refused as Kubernetes refuses it.
    let https2 = https.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        kubectl(
            &https2,
            "guess",
            &["get", "issues.data.kradle.a5c.ai", "-A"],
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("Unauthorized") || err.contains("must be logged in"),
        "{err}"
    );
}
