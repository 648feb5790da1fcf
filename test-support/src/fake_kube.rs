//! A stateful fake of the Kubernetes API for agent Jobs: Secrets, PVCs and
//! `batch/v1` Jobs in namespaces, created, read, replaced and deleted as
//! the API server does (409 AlreadyExists, 404 NotFound), every body
//! checked against the official strict schemas in
//! `testdata/upstream/k8s-schemas` (an invalid body is a 422, and is
//! recorded, so a test can say there was none).
//!
//! Served two ways: to a `kube::Client` through `tower_test::mock` (kube-rs
//! style), and over HTTP for a `kradle serve` child, with a kubeconfig.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::upstream::upstream;

/// The objects, and what was asked.
#[derive(Default)]
pub struct State {
    /// (resource plural, namespace, name) → object.
    pub objects: BTreeMap<(String, String, String), Value>,
    /// "METHOD path" of every request.
    pub seen: Vec<String>,
    /// Bodies that failed their schema, with the errors.
    pub invalid: Vec<String>,
    /// Answer the next N requests with a 500.
    pub fail_next: usize,
    /// "METHOD path-prefix": the next such request is carried out, and
    /// its answer never sent (over HTTP), as when the caller dies waiting.
    pub hang: Vec<String>,
    /// What each Job's pod logged (its pod is `<job>-pod`, there while
    /// the Job is).
    pub logs: BTreeMap<String, String>,
    /// When each Job was created: (name, wall clock).
    pub job_created: Vec<(String, chrono::DateTime<chrono::Utc>)>,
    /// What RBAC allows, each as "user verb resource namespace": what a
    /// SubjectAccessReview answers.
    pub access: Vec<String>,
    /// The SubjectAccessReviews asked.
    pub reviews: Vec<Value>,
    next_uid: u64,
}

#[derive(Clone)]
pub struct FakeKube {
    pub state: Arc<Mutex<State>>,
    schemas: Arc<BTreeMap<&'static str, jsonschema::Validator>>,
}

fn schema(file: &str) -> jsonschema::Validator {
    let path: PathBuf = upstream()
        .join("k8s-schemas/v1.37.0-standalone-strict")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// The strict schema of a SubjectAccessReview, from the upstream
/// `_definitions.json` (it has no file of its own); read once.
fn access_review_schema() -> &'static jsonschema::Validator {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path: PathBuf = upstream().join("k8s-schemas/v1.37.0-local-strict/_definitions.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut defs: Value = serde_json::from_str(&text).unwrap();
        defs["$ref"] = json!("#/$defs/io.k8s.api.authorization.v1.SubjectAccessReview");
        jsonschema::validator_for(&defs).unwrap()
    })
}

/// The 422 the API server answers a body its schema refuses with (the
/// body recorded as invalid), or `None` when it is valid.
fn invalid(
    st: &mut State,
    schema: &jsonschema::Validator,
    body: &Value,
    method: &str,
    path: &str,
) -> Option<(u16, Value)> {
    let errors: Vec<String> = schema
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    if errors.is_empty() {
        return None;
    }
    st.invalid
        .push(format!("{method} {path}: {}", errors.join("; ")));
    Some(status(422, "Invalid", &errors.join("; ")))
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code }),
    )
}

impl Default for FakeKube {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeKube {
    pub fn new() -> FakeKube {
        let mut schemas = BTreeMap::new();
        schemas.insert("jobs", schema("job-batch-v1.json"));
        schemas.insert("secrets", schema("secret-v1.json"));
        schemas.insert(
            "persistentvolumeclaims",
            schema("persistentvolumeclaim-v1.json"),
        );
        schemas.insert("configmaps", schema("configmap-v1.json"));

        FakeKube {
            state: Arc::default(),
            schemas: Arc::new(schemas),
        }
    }

    /// Answers one request: (status, JSON body).
    pub fn answer(&self, method: &str, uri: &str, body: &[u8]) -> (u16, Value) {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let mut st = self.state.lock().unwrap();
        st.seen.push(format!("{method} {path}"));
        if st.fail_next > 0 {
            st.fail_next -= 1;
            return status(500, "InternalError", "injected");
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Pods: one per Job, read-only, with the log a test set.
        match (method, parts.as_slice()) {
            ("POST", ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"]) => {
                let Ok(review) = serde_json::from_slice::<Value>(body) else {
                    return status(400, "BadRequest", "not JSON");
                };
                if let Some(refused) =
                    invalid(&mut st, access_review_schema(), &review, method, path)
                {
                    return refused;
                }
                st.reviews.push(review.clone());
                let spec = &review["spec"];
                let a = &spec["resourceAttributes"];
                let text = |v: &Value| v.as_str().unwrap_or("*").to_string();
                let asked = format!(
                    "{} {} {} {}",
                    text(&spec["user"]),
                    text(&a["verb"]),
                    text(&a["resource"]),
                    text(&a["namespace"])
                );
                let allowed = st.access.contains(&asked);
                return (
                    201,
                    json!({ "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                            "metadata": {}, "spec": spec, "status": { "allowed": allowed } }),
                );
            }
            ("GET", ["api", "v1", "namespaces", ns, "pods"]) => {
                let selector = super::fake_http::query_of(Some(query))
                    .get("labelSelector")
                    .map(|v| super::fake_http::percent_decode(v))
                    .unwrap_or_default();
                let items: Vec<Value> = st
                    .objects
                    .keys()
                    .filter(|(p, n, job)| {
                        p == "jobs" && n == ns && selector == format!("job-name={job}")
                    })
                    .map(|(_, _, job)| {
                        json!({ "metadata": { "name": format!("{job}-pod"), "namespace": ns,
                                              "labels": { "job-name": job } } })
                    })
                    .collect();
                return (
                    200,
                    json!({ "kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items }),
                );
            }
            ("GET", ["api", "v1", "namespaces", ns, "pods", pod, "log"]) => {
                let job = pod.strip_suffix("-pod").unwrap_or_default();
                let there =
                    st.objects
                        .contains_key(&("jobs".to_string(), ns.to_string(), job.to_string()));
                if !there {
                    return status(404, "NotFound", &format!("pods \"{pod}\" not found"));
                }
                return (
                    200,
                    Value::String(st.logs.get(job).cloned().unwrap_or_default()),
                );
            }
            _ => {}
        }
        let (plural, ns, name) = match parts.as_slice() {
            [
                "api",
                "v1",
                "namespaces",
                ns,
                plural @ ("secrets" | "persistentvolumeclaims" | "configmaps"),
            ] => (*plural, *ns, None),
            [
                "api",
                "v1",
                "namespaces",
                ns,
                plural @ ("secrets" | "persistentvolumeclaims" | "configmaps"),
                name,
            ] => (*plural, *ns, Some(*name)),
            ["apis", "batch", "v1", "namespaces", ns, "jobs"] => ("jobs", *ns, None),
            ["apis", "batch", "v1", "namespaces", ns, "jobs", name] => ("jobs", *ns, Some(*name)),
            _ => return status(404, "NotFound", &format!("the fake serves no {path}")),
        };
        let key = |name: &str| (plural.to_string(), ns.to_string(), name.to_string());
        let parsed = || -> Result<Value, (u16, Value)> {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| status(400, "BadRequest", &format!("not JSON: {e}")))?;
            Ok(v)
        };
        match (method, name) {
            ("POST" | "PUT", _) => {
                let mut object = match parsed() {
                    Ok(v) => v,
                    Err(answer) => return answer,
                };
                if let Some(refused) =
                    invalid(&mut st, &self.schemas[plural], &object, method, path)
                {
                    return refused;
                }
                let Some(object_name) = object["metadata"]["name"].as_str().map(str::to_string)
                else {
                    return status(422, "Invalid", "metadata.name: Required value");
                };
                if object["metadata"]["namespace"]
                    .as_str()
                    .is_some_and(|n| n != ns)
                {
                    return status(
                        400,
                        "BadRequest",
                        "the namespace of the object does not match",
                    );
                }
                if method == "PUT" && Some(object_name.as_str()) != name {
                    return status(400, "BadRequest", "the name of the object does not match");
                }
                let exists = st.objects.contains_key(&key(&object_name));
                match (method, exists) {
                    ("POST", true) => {
                        return status(
                            409,
                            "AlreadyExists",
                            &format!("{plural} \"{object_name}\" already exists"),
                        );
                    }
                    ("PUT", false) => {
                        return status(
                            404,
                            "NotFound",
                            &format!("{plural} \"{object_name}\" not found"),
                        );
                    }
                    _ => {}
                }
                st.next_uid += 1;
                object["metadata"]["uid"] =
                    json!(format!("00000000-0000-0000-0000-{:012}", st.next_uid));
                object["metadata"]["resourceVersion"] = json!(st.next_uid.to_string());
                object["metadata"]["namespace"] = json!(ns);
                if plural == "jobs" && method == "POST" {
                    st.job_created
                        .push((object_name.clone(), chrono::Utc::now()));
                }
                if plural == "jobs" && object.get("status").is_none() {
                    object["status"] = json!({ "active": 1 });
                }
                st.objects.insert(key(&object_name), object.clone());
                (if method == "POST" { 201 } else { 200 }, object)
            }
            ("GET", Some(name)) => match st.objects.get(&key(name)) {
                Some(o) => (200, o.clone()),
                None => status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
            },
            ("DELETE", Some(name)) => match st.objects.remove(&key(name)) {
                Some(o) => (200, o),
                None => status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
            },
            _ => status(405, "MethodNotAllowed", &format!("{method} {path}")),
        }
    }

    /// A `kube::Client` whose requests this fake answers (tower_test).
    pub fn client(&self) -> kube::Client {
        use kube::client::Body;
        let (service, handle) =
            tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().to_string();
                let uri = request.uri().to_string();
                let body = request.into_body().collect_bytes().await.unwrap();
                let (code, answer) = fake.answer(&method, &uri, &body);
                let bytes = match &answer {
                    Value::String(text) => text.clone().into_bytes(),
                    other => serde_json::to_vec(other).unwrap(),
                };
                send.send_response(
                    http::Response::builder()
                        .status(code)
                        .header("content-type", "application/json")
                        .body(Body::from(bytes))
                        .unwrap(),
                );
            }
        });
        kube::Client::new(service, "default")
    }

    /// Serves the fake over HTTP on a free port; returns its URL.
    pub async fn serve(&self) -> String {
        use axum::extract::{Request, State as AxState};
        use axum::response::IntoResponse;
        let app = axum::Router::new()
            .fallback(
                |AxState(fake): AxState<FakeKube>, request: Request| async move {
                    let method = request.method().to_string();
                    let uri = request.uri().to_string();
                    let path = request.uri().path().to_string();
                    let body = axum::body::to_bytes(request.into_body(), 1 << 24)
                        .await
                        .unwrap_or_default();
                    let (code, answer) = fake.answer(&method, &uri, &body);
                    if fake.take_hang(&method, &path) {
                        std::future::pending::<()>().await;
                    }
                    let code = axum::http::StatusCode::from_u16(code).unwrap();
                    match answer {
                        Value::String(text) => (code, text).into_response(),
                        other => (code, axum::Json(other)).into_response(),
                    }
                },
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A kubeconfig for the fake at `url`.
    pub fn kubeconfig(url: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: kradle\n  user:\n    token: fake-token\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: kradle\n    namespace: default\n\
             current-context: fake\n"
        )
    }

    /// Whether the answer to this request is held back (once per entry
    /// of `hang`).
    fn take_hang(&self, method: &str, path: &str) -> bool {
        let mut st = self.state.lock().unwrap();
        let request = format!("{method} {path}");
        match st.hang.iter().position(|h| request.starts_with(h.as_str())) {
            Some(i) => {
                st.hang.remove(i);
                true
            }
            None => false,
        }
    }

    /// The object, if it is there.
    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(&(plural.to_string(), ns.to_string(), name.to_string()))
            .cloned()
    }

    /// The names of the objects of `plural`.
    pub fn names(&self, plural: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|(p, _, _)| p == plural)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    /// How many requests were `METHOD path-prefix`.
    pub fn count(&self, method_and_prefix: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.starts_with(method_and_prefix))
            .count()
    }

    /// Ends a Job as the Job controller does: a condition `kind`
    /// (`Complete` or `Failed`) with `reason`.
    pub fn finish_job(&self, ns: &str, name: &str, kind: &str, reason: &str) {
        let mut st = self.state.lock().unwrap();
        let job = st
            .objects
            .get_mut(&("jobs".to_string(), ns.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no Job {ns}/{name}"));
        job["status"] = json!({
            "conditions": [{ "type": kind, "status": "True", "reason": reason,
                             "message": format!("Job {reason}") }],
        });
    }

    /// The token the Secret `name` hands its Job.
    pub fn token(&self, ns: &str, name: &str) -> Option<String> {
        let secret = self.get("secrets", ns, name)?;
        secret["stringData"]["token"].as_str().map(str::to_string)
    }

    pub fn invalid(&self) -> Vec<String> {
        self.state.lock().unwrap().invalid.clone()
    }
}
