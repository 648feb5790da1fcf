//! Behind an APIService: the front proxy names the caller, and RBAC decides.

use super::*;

// ---------------------------------------------------------------------------
// Behind an APIService: the API server calls over TLS with its front-proxy
// client certificate and names the caller in X-Remote-* headers.

/// Certificates as a cluster has them: a serving CA and the server's
/// certificate, the front-proxy CA and the API server's client
/// certificate (`front-proxy-client`), a certificate of the same CA under
/// another name, and one of another CA under the right name.
pub(crate) struct Pki {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) serving_ca: String,
    pub(crate) proxy_ca: String,
    /// PEM of certificate and key, as `reqwest::Identity::from_pem` reads them.
    pub(crate) proxy: String,
    pub(crate) other_name: String,
    pub(crate) other_ca: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        }
        fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, cn: &str, sans: &[&str]) -> String {
            let key = KeyPair::generate().unwrap();
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let cert = params.signed_by(&key, issuer).unwrap();
            format!("{}{}", cert.pem(), key.serialize_pem())
        }
        let serving = ca("kradle-serving-ca");
        let proxy_ca = ca("front-proxy-ca");
        let other_ca = ca("front-proxy-ca");
        let dir = tempfile::tempdir().unwrap();
        let server = leaf(&serving, "kradle", &["localhost", "127.0.0.1"]);
        let (cert, key) = server.split_at(server.find("-----BEGIN PRIVATE KEY").unwrap());
        std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), key).unwrap();
        Pki {
            serving_ca: serving.pem(),
            proxy: leaf(&proxy_ca, "front-proxy-client", &[]),
            other_name: leaf(&proxy_ca, "someone-else", &[]),
            other_ca: leaf(&other_ca, "front-proxy-client", &[]),
            proxy_ca: proxy_ca.pem(),
            dir,
        }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// A client that trusts the server, presenting `identity` if any.
    pub(crate) fn client(&self, identity: Option<&str>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.serving_ca.as_bytes()).unwrap(),
            );
        if let Some(pem) = identity {
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }
}

/// The line saying where `server` serves HTTPS, and that URL.
pub(crate) fn https_of(server: &Server) -> (String, String) {
    let line = wait_for(&server.lines, "serving HTTPS on ");
    let url = url_after(&line, "serving HTTPS on ");
    (line, url)
}

/// GET `url` naming `user` (in groups `devs`) in the front-proxy headers.
pub(crate) async fn as_user(
    client: &reqwest::Client,
    url: &str,
    user: &str,
) -> reqwest::Result<(u16, serde_json::Value)> {
    let response = client
        .get(url)
        // As Kubernetes sends it: the name's UTF-8 bytes.
        .header(
            "X-Remote-User",
            reqwest::header::HeaderValue::from_bytes(user.as_bytes()).unwrap(),
        )
        .header("X-Remote-Group", "devs")
        .header("X-Remote-Group", "system:authenticated")
        .header("X-Remote-Extra-Acme.com%2Fteam", "platform")
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_an_apiservice_the_front_proxy_names_the_caller_and_rbac_decides() {
    let pki = Pki::new();
    let (kube, kubeconfig) = cluster(&[]).await;
    {
        let mut st = kube.state.lock().unwrap();
        st.access = vec!["alice list issues kradle-org-globex".into()];
        // What the API server publishes for its aggregated servers.
        st.objects.insert(
            (
                "configmaps".into(),
                "kube-system".into(),
                "extension-apiserver-authentication".into(),
            ),
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "extension-apiserver-authentication", "namespace": "kube-system" },
                "data": {
                    "requestheader-client-ca-file": pki.proxy_ca,
                    "requestheader-allowed-names": "[\"front-proxy-client\"]",
                    "requestheader-username-headers": "[\"X-Remote-User\"]",
                    "requestheader-group-headers": "[\"X-Remote-Group\"]",
                    "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]"
                }
            }),
        );
    }
    let (cert, key) = (pki.path("tls.crt"), pki.path("tls.key"));
    let args = [
        "--workers",
        "0",
        "--dispatch",
        "off",
        "--api-token-review",
        "--requestheader-from-cluster",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ];
    let db = Arc::new(TestDb::new().await);
    let server = start_in(db, &example(), &args, Some(kubeconfig.path())).await;
    let (line, https) = https_of(&server);
    assert!(line.contains("front_proxy=true"), "{line}");
    let issues = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex/issues";
    let reviews = || kube.state.lock().unwrap().reviews.len();

    // The front proxy names alice: the cluster's RBAC lets her list.
    let proxy = pki.client(Some(&pki.proxy));
    let (status, list) = as_user(&proxy, &format!("{https}{issues}"), "alice")
        .await
        .unwrap();
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "IssueList");
    let review = kube.state.lock().unwrap().reviews[0].clone();
    assert_eq!(review["spec"]["user"], "alice");
    assert_eq!(
        review["spec"]["groups"],
        serde_json::json!(["devs", "system:authenticated"])
    );
    assert_eq!(
        review["spec"]["extra"],
        serde_json::json!({ "acme.com/team": ["platform"] })
    );
    assert_eq!(
        review["spec"]["resourceAttributes"],
        serde_json::json!({ "group": "data.kradle.a5c.ai", "version": "v1alpha1",
                            "resource": "issues", "namespace": "kradle-org-globex", "verb": "list" })
    );

    // The API server's availability check: discovery as
    // system:kube-aggregator must answer 2xx, or the APIService is not
    // Available. Discovery needs no SubjectAccessReview.
    let aggregator = |path: String| {
        proxy
            .get(format!("{https}{path}"))
            .header("X-Remote-User", "system:kube-aggregator")
            .header("X-Remote-Group", "system:masters")
            .send()
    };
    let before = reviews();
    let check = aggregator("/apis/data.kradle.a5c.ai/v1alpha1".into())
        .await
        .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    let discovery: serde_json::Value = check.json().await.unwrap();
    assert_eq!(discovery["kind"], "APIResourceList");
    assert_eq!(reviews(), before);

    // The API server then fetches the OpenAPI v3 document, which `kubectl
    // explain` reads kinds from by their group/version/kind.
    let index: serde_json::Value = aggregator("/openapi/v3".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = index["paths"]["apis/data.kradle.a5c.ai/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("?hash="), "{url}");
    let response = aggregator(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let openapi: serde_json::Value = response.json().await.unwrap();
    assert_eq!(openapi["openapi"], "3.0.0");
    let schemas = openapi["components"]["schemas"].as_object().unwrap();
    for (kind, plural, _) in kradle_runtime::serve::api::kinds() {
        let found = schemas.values().any(|s| {
            s["x-kubernetes-group-version-kind"]
                == serde_json::json!([{ "group": "data.kradle.a5c.ai", "version": "v1alpha1", "kind": kind }])
        });
        assert!(found, "{kind} has no schema");
        let path = format!("/apis/data.kradle.a5c.ai/v1alpha1/namespaces/{{namespace}}/{plural}");
        assert!(openapi["paths"].get(&path).is_some(), "{path}");
    }
    let issue = &schemas["ai.a5c.kradle.data.v1alpha1.Issue"];
    assert_eq!(
        issue["properties"]["spec"]["properties"]["title"]["type"],
        "string"
    );
    // Every reference resolves.
    let text = openapi.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "{name} is referenced, not defined"
        );
    }
    assert_eq!(reviews(), before, "the document needs no access review");

    // Bob is authenticated, not allowed: 403, worded as Kubernetes words it.
    let (status, denied) = as_user(&proxy, &format!("{https}{issues}"), "bob")
        .await
        .unwrap();
    assert_eq!(status, 403, "{denied}");
    assert_eq!(denied["reason"], "Forbidden");
    assert_eq!(
        denied["message"],
        "issues.data.kradle.a5c.ai is forbidden: User \"bob\" cannot list resource \"issues\" \
         in API group \"data.kradle.a5c.ai\" in the namespace \"kradle-org-globex\""
    );
    assert_eq!(reviews(), 2);
    // A name need not be ASCII: it reaches the review as sent.
    let (status, _) = as_user(&proxy, &format!("{https}{issues}"), "zoë")
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(kube.state.lock().unwrap().reviews[2]["spec"]["user"], "zoë");

    // Anyone else who writes the headers is nobody: no certificate, one of
    // the CA under another name, the plain HTTP listener.
    let asked = reviews();
    for (client, base) in [
        (pki.client(None), &https),
        (pki.client(Some(&pki.other_name)), &https),
        (reqwest::Client::new(), &server.url),
    ] {
        let (status, body) = as_user(&client, &format!("{base}{issues}"), "alice")
            .await
            .unwrap();
        assert_eq!(status, 401, "{base}: {body}");
        assert_eq!(body["reason"], "Unauthorized");
    }
    assert_eq!(reviews(), asked, "headers not believed are never reviewed");

    // A certificate of another CA does not get through the handshake.
    let rogue = pki.client(Some(&pki.other_ca));
    assert!(
        as_user(&rogue, &format!("{https}{issues}"), "alice")
            .await
            .is_err()
    );

    // Forges and probes need no certificate on the HTTPS port either.
    let health = pki
        .client(None)
        .get(format!("{https}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(kube.state.lock().unwrap().invalid.is_empty());
}
