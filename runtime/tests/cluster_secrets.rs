//! The cluster, tested the way kube-rs tests itself: the client talks to a
//! `tower_test` mock service, which checks every request and answers as the
//! API server does.
//!
//! - Secrets: a GET of one Secret by name, nothing else.
//! - The aggregated API's reviewer: a TokenReview, then a
//!   SubjectAccessReview for the user it names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::pin::pin;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kradle_runtime::cluster::secrets::{ClusterSecretError, from_cluster};
use kube::client::Body;
use serde_json::json;

/// The cluster: (namespace, name) → data (key → value), and who may read.
struct Cluster {
    secrets: BTreeMap<(String, String), BTreeMap<String, String>>,
    forbidden: BTreeSet<(String, String)>,
    /// Every request, as "METHOD path".
    seen: Mutex<Vec<String>>,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16() });
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn answer(cluster: &Cluster, request: &Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
    cluster
        .seen
        .lock()
        .unwrap()
        .push(format!("{} {path}", request.method()));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["api", "v1", "namespaces", ns, "secrets", name] = parts.as_slice() else {
        return status(StatusCode::NOT_FOUND, "NotFound", "not served by the mock");
    };
    if request.method() != http::Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "read only",
        );
    }
    let key = (ns.to_string(), name.to_string());
    if cluster.forbidden.contains(&key) {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("secrets \"{name}\" is forbidden"),
        );
    }
    match cluster.secrets.get(&key) {
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("secrets \"{name}\" not found"),
        ),
        Some(data) => {
            // k8s-openapi writes `data` in base64, as the API server does.
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(ns.to_string()),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                data: Some(
                    data.iter()
                        .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
                        .collect(),
                ),
                ..Secret::default()
            };
            let body = serde_json::to_value(&secret).unwrap();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap()
        }
    }
}

/// A client whose requests the mock answers from `cluster`.
fn client(cluster: Arc<Cluster>) -> kube::Client {
    mock(move |request| answer(&cluster, &request))
}

/// A client whose requests `answer` answers, with their bodies read.
fn mock(answer: impl Fn(Request<Body>) -> Response<Body> + Send + 'static) -> kube::Client {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut handle = pin!(handle);
        while let Some((request, send)) = handle.next_request().await {
            send.send_response(answer(request));
        }
    });
    kube::Client::new(service, "default")
}

fn wanted(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn cluster(forbidden: &[(&str, &str)]) -> Arc<Cluster> {
    let mut secrets = BTreeMap::new();
    secrets.insert(
        ("kradle-org-acme".to_string(), "api-webhook".to_string()),
        BTreeMap::from([("hmac".to_string(), "hmac-from-the-cluster".to_string())]),
    );
    secrets.insert(
        ("kradle-org-acme".to_string(), "unrelated".to_string()),
        BTreeMap::from([("token".to_string(), "never-read".to_string())]),
    );
    Arc::new(Cluster {
        secrets,
        forbidden: wanted(forbidden),
        seen: Mutex::default(),
    })
}

#[tokio::test]
async fn only_the_secrets_named_are_read_one_get_each() {
    let c = cluster(&[]);
    let secrets = from_cluster(
        &client(c.clone()),
        &wanted(&[
            ("kradle-org-acme", "api-webhook"),
            ("kradle-org-acme", "absent"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        secrets
            .get("kradle-org-acme", "api-webhook", "hmac")
            .unwrap()
            .expose(),
        "hmac-from-the-cluster"
    );
    // An absent Secret is left out: the operation that needs it says so.
    let missing = secrets.get("kradle-org-acme", "absent", "x").unwrap_err();
    assert!(missing.to_string().contains("kradle-org-acme/absent/x"));
    assert_eq!(
        *c.seen.lock().unwrap(),
        vec![
            "GET /api/v1/namespaces/kradle-org-acme/secrets/absent",
            "GET /api/v1/namespaces/kradle-org-acme/secrets/api-webhook",
        ],
        "one GET per Secret named, no list"
    );
    assert!(!secrets.values().any(|v| v.expose() == "never-read"));
}

#[tokio::test]
async fn a_secret_kradle_may_not_read_stops_with_its_name() {
    let c = cluster(&[("kradle-org-acme", "api-webhook")]);
    let err = from_cluster(&client(c), &wanted(&[("kradle-org-acme", "api-webhook")]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClusterSecretError::Forbidden { code: 403, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("kradle-org-acme/api-webhook"),
        "{err}"
    );
    assert!(!err.to_string().contains("hmac-from-the-cluster"));
}

// ---------------------------------------------------------------------------
// The aggregated API's reviewer.

use kradle_compiler::model::org_namespace;
use kradle_runtime::cluster::reviews::ClusterReviewer;
use kradle_runtime::serve::api::{Access, Authenticator, Decision};

fn json_response(code: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

/// The API server's reviews: `good-token` is alice (group `readers`),
/// who may get and list in `kradle-org-globex` only; `broken` makes the
/// TokenReview fail.
fn reviews(seen: Arc<Mutex<Vec<serde_json::Value>>>, request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
    assert_eq!(request.method(), http::Method::POST, "{path}");
    let body = request_body(request);
    let review: serde_json::Value = serde_json::from_slice(&body).unwrap();
    seen.lock().unwrap().push(review.clone());
    match path.as_str() {
        "/apis/authentication.k8s.io/v1/tokenreviews" => {
            assert_eq!(review["kind"], "TokenReview");
            match review["spec"]["token"].as_str() {
                Some("broken") => {
                    status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "etcd")
                }
                Some("good-token") => json_response(
                    StatusCode::CREATED,
                    json!({
                        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                        "spec": review["spec"],
                        "status": { "authenticated": true,
                                    "user": { "username": "alice", "groups": ["readers"] } }
                    }),
                ),
                _ => json_response(
                    StatusCode::CREATED,
                    json!({
                        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                        "spec": review["spec"], "status": { "authenticated": false }
                    }),
                ),
            }
        }
        "/apis/authorization.k8s.io/v1/subjectaccessreviews" => {
            assert_eq!(review["kind"], "SubjectAccessReview");
            let spec = &review["spec"];
            let attributes = &spec["resourceAttributes"];
            assert_eq!(attributes["group"], "data.kradle.a5c.ai");
            assert_eq!(attributes["version"], "v1alpha1");
            let allowed = spec["user"] == "alice"
                && spec["groups"] == json!(["readers"])
                && attributes["namespace"] == "kradle-org-globex"
                && matches!(attributes["verb"].as_str(), Some("get" | "list"));
            json_response(
                StatusCode::CREATED,
                json!({
                    "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "spec": spec, "status": { "allowed": allowed }
                }),
            )
        }
        other => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{other}: not served by the mock"),
        ),
    }
}

/// The body of a mock request (kube sends it whole).
fn request_body(request: Request<Body>) -> Vec<u8> {
    let collect = request.into_body().collect_bytes();
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(collect))
        .unwrap()
        .to_vec()
}

fn access(verb: &'static str, namespace: &str) -> Access {
    Access {
        verb,
        resource: Some("issues".into()),
        namespace: Some(namespace.into()),
        name: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_decides_who_reads_the_aggregated_api() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reviewer = {
        let seen = seen.clone();
        ClusterReviewer::new(mock(move |request| reviews(seen.clone(), request)))
    };
    let globex = access("list", "kradle-org-globex");
    assert_eq!(reviewer.authorize("good-token", &globex).await, Ok(true));
    assert_eq!(
        reviewer
            .authorize("good-token", &access("list", "kradle-org-acme"))
            .await,
        Ok(false),
        "RBAC denies another namespace"
    );
    // Denied by RBAC, the caller is still known: a 403 names them.
    assert!(
        matches!(
            reviewer
                .authorize_as("good-token", &access("list", &org_namespace("acme")))
                .await,
            Ok(Decision::Forbidden(_))
        ),
        "a known caller RBAC denies is forbidden, not unauthenticated"
    );
    let discovery = Access {
        verb: "get",
        resource: None,
        namespace: None,
        name: None,
    };
    assert_eq!(reviewer.authorize("good-token", &discovery).await, Ok(true));
    let before = seen.lock().unwrap().len();
    assert_eq!(
        reviewer.authorize_as("stolen", &globex).await,
        Ok(Decision::Unauthenticated)
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        before + 1,
        "an unauthenticated token gets no access review"
    );
    let failed = reviewer
        .authorize("broken", &globex)
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("TokenReview failed"), "{failed}");
    assert!(
        !failed.contains("broken"),
        "the token is never in an error: {failed}"
    );
    let kinds: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "TokenReview",
            "SubjectAccessReview",
            "TokenReview",
            "SubjectAccessReview",
            "TokenReview",
            "SubjectAccessReview",
            "TokenReview",
            "TokenReview",
            "TokenReview",
        ]
    );
}
