//! `/metrics` behind a token, and the HTTPS certificates: self-signed, renewed,
//! refused when broken.

use super::*;

/// `/metrics` is open by default (Prometheus scrapes in-cluster); with
/// --metrics-require-token it answers API readers only, on both listeners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_an_api_token() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let open = start().await;
    let answer = reqwest::get(format!("{}/metrics", open.url)).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let args = [
        "--workers",
        "0",
        "--api-token-file",
        token_file,
        "--metrics-require-token",
        "--tls-listen",
        "127.0.0.1:0",
    ];
    let server = start_with(&example(), &args).await;
    let (_, https) = https_of(&server);
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    for base in [&server.url, &https] {
        for (token, expected) in [(None, 401), (Some("guess"), 401), (Some(API_TOKEN), 200)] {
            let mut request = client.get(format!("{base}/metrics"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status().as_u16(), expected, "{base} {token:?}");
            if expected == 200 {
                let text = answer.text().await.unwrap();
                assert!(text.contains("kradle_webhook_deliveries_total"), "{text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_https_is_self_signed_and_a_bad_ca_stops_the_start() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let args = [
        "--workers",
        "0",
        "--api-token-file",
        token_file,
        "--tls-listen",
        "127.0.0.1:0",
    ];
    let server = start_with(&example(), &args).await;
    let (line, https) = https_of(&server);
    assert!(line.contains("self_signed=true"), "{line}");
    assert!(line.contains("front_proxy=false"), "{line}");
    let base = "/apis/data.kradle.a5c.ai/v1alpha1";
    // A client that verifies refuses the certificate; one told not to reads
    // the API with a token, as on the plain port.
    assert!(reqwest::get(format!("{https}/healthz")).await.is_err());
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let discovery = insecure
        .get(format!("{https}{base}"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status().as_u16(), 200);
    // The OpenAPI document, like discovery, needs an authenticated caller.
    for (token, expected) in [(None, 401), (Some(API_TOKEN), 200)] {
        let mut request = insecure.get(format!("{https}/openapi/v3"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), expected);
    }
    // Without a front proxy, the headers name nobody.
    let anonymous = insecure
        .get(format!("{https}{base}"))
        .header("X-Remote-User", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    drop(server);

    // A front-proxy CA that is not PEM: refused at start, naming the file.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "not a certificate\n").unwrap();
    let db = TestDb::new().await;
    let (_kube, kubeconfig) = cluster(&[]).await;
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .args(["--dispatch", "off", "--api-token-review", "--secrets"])
        .arg(secrets_file().path())
        .arg("--requestheader-client-ca-file")
        .arg(bad.path())
        .arg(example())
        .env("KRADLE_DATABASE_URL", &db.url)
        .env("KUBECONFIG", kubeconfig.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&bad.path().display().to_string())
            && stderr.contains("the front-proxy CA holds no certificate"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_refused() {
    let (first, renewed) = (Pki::new(), Pki::new());
    let (cert, key) = (first.path("tls.crt"), first.path("tls.key"));
    let args = [
        "--workers",
        "0",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-reload",
        "1",
    ];
    let server = start_with(&example(), &args).await;
    let (_, https) = https_of(&server);
    let healthy = |pki: &Pki| {
        let client = pki.client(None);
        let url = format!("{https}/healthz");
        async move { client.get(url).send().await.is_ok() }
    };
    assert!(healthy(&first).await);
    assert!(!healthy(&renewed).await, "the renewed CA is not in use yet");

    // cert-manager renews the Secret: the files change in place.
    for name in ["tls.crt", "tls.key"] {
        std::fs::copy(renewed.dir.path().join(name), first.dir.path().join(name)).unwrap();
    }
    wait_for(&server.lines, "the TLS certificate changed");
    assert!(healthy(&renewed).await);
    assert!(
        !healthy(&first).await,
        "the old certificate is no longer served"
    );

    // A certificate whose key does not match is refused; the last good one stays.
    let other = Pki::new();
    std::fs::copy(
        other.dir.path().join("tls.key"),
        first.dir.path().join("tls.key"),
    )
    .unwrap();
    let refused = wait_for(&server.lines, "the TLS certificate is refused");
    assert!(!refused.contains("PRIVATE KEY"), "{refused}");
    assert!(healthy(&renewed).await);
}
