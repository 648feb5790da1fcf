//! A stateful fake Agent Mux gateway, over real HTTP (axum on a loopback
//! port), speaking the contract of docs/dispatch.md "The Agent Mux
//! backend": sessions created with an idempotency key, run events as a
//! `text/event-stream` that honours `Last-Event-ID`, runs cancelled with
//! DELETE. There is no official description of Agent Mux to check
//! requests against; every request is checked against that contract
//! instead (bearer token, idempotency key, the session body's fields).
//!
//! Each connection to a run's events follows the next [`Plan`] of the
//! run's script: deliver events then drop the connection, answer 5xx,
//! or replay everything from the start (a gateway that ignores
//! `Last-Event-ID`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::fake_http::message;

/// What one connection to a run's events does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Sends up to `n` events after `Last-Event-ID`, then closes.
    Drop(usize),
    /// Answers this status.
    Status(u16),
    /// Sends every event after `Last-Event-ID`, the result last.
    Finish,
    /// Sends every event from the first (ignoring `Last-Event-ID`).
    Replay,
}

/// A request the fake saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: &'static str,
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub last_event_id: Option<String>,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct MuxState {
    /// Idempotency key → run id.
    pub sessions: BTreeMap<String, String>,
    /// Run id → the session body it was created with.
    pub bodies: BTreeMap<String, Value>,
    /// The events every run sends: (event, data). Ids are 1, 2, ...
    pub events: Vec<(String, Value)>,
    /// Run id → what its next connections do; `Finish` when empty.
    pub scripts: BTreeMap<String, VecDeque<Plan>>,
    /// What the next runs' scripts are.
    pub default_script: Vec<Plan>,
    pub cancelled: Vec<String>,
    pub seen: Vec<Seen>,
    /// Requests that broke the contract.
    pub invalid: Vec<String>,
}

#[derive(Clone)]
pub struct FakeMux {
    pub state: Arc<Mutex<MuxState>>,
    pub url: String,
    pub token: String,
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl FakeMux {
    /// Serves on a loopback port; `token` is the bearer token it wants.
    pub async fn start(token: &str) -> FakeMux {
        let state = Arc::new(Mutex::new(MuxState::default()));
        let fake = FakeMux {
            state: state.clone(),
            url: String::new(),
            token: token.to_string(),
        };
        let app = Router::new()
            .route("/v1/sessions", post(create))
            .route("/v1/runs/{id}/events", get(events))
            .route("/v1/runs/{id}", delete(cancel))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeMux {
            url: format!("http://{addr}"),
            ..fake
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MuxState> {
        self.state.lock().unwrap()
    }

    /// What every run sends: `message` events with these contents, then
    /// `result` with `result`.
    pub fn script_events(&self, messages: &[&str], result: Value) {
        let mut s = self.lock();
        s.events = messages
            .iter()
            .map(|m| {
                (
                    "message".to_string(),
                    json!({ "role": "assistant", "content": m }),
                )
            })
            .collect();
        s.events.push(("result".into(), result));
    }

    pub fn script_connections(&self, plans: &[Plan]) {
        self.lock().default_script = plans.to_vec();
    }

    pub fn seen(&self, method: &str, path_prefix: &str) -> Vec<Seen> {
        self.lock()
            .seen
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    pub fn invalid(&self) -> Vec<String> {
        self.lock().invalid.clone()
    }

    fn authorized(&self, h: &HeaderMap) -> bool {
        header(h, "authorization").as_deref() == Some(&format!("Bearer {}", self.token))
    }

    fn see(&self, method: &'static str, path: String, h: &HeaderMap, body: Value) {
        self.lock().seen.push(Seen {
            method,
            path,
            authorization: header(h, "authorization"),
            idempotency_key: header(h, "idempotency-key"),
            last_event_id: header(h, "last-event-id"),
            body,
        });
    }
}

async fn create(State(f): State<FakeMux>, h: HeaderMap, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    f.see("POST", "/v1/sessions".into(), &h, body.clone());
    if !f.authorized(&h) {
        return message(StatusCode::UNAUTHORIZED, "bad token");
    }
    let Some(key) = header(&h, "idempotency-key") else {
        f.lock()
            .invalid
            .push("POST /v1/sessions without Idempotency-Key".into());
        return message(StatusCode::BAD_REQUEST, "Idempotency-Key is required");
    };
    for field in ["name", "organization", "run", "agentStack", "taskKind"] {
        if !body[field].is_string() {
            f.lock()
                .invalid
                .push(format!("session body without `{field}`"));
        }
    }
    if !body["attempt"].is_u64() || !body["callback"]["url"].is_string() {
        f.lock()
            .invalid
            .push("session body without attempt/callback".into());
    }
    if body["name"].as_str() != Some(&key) {
        f.lock()
            .invalid
            .push(format!("Idempotency-Key {key} is not the session's name"));
    }
    let mut s = f.lock();
    if let Some(run) = s.sessions.get(&key) {
        let run = run.clone();
        return (
            StatusCode::OK,
            axum::Json(json!({ "runId": run, "sessionId": format!("s-{run}") })),
        )
            .into_response();
    }
    let run = format!("mux-{}", s.sessions.len() + 1);
    s.sessions.insert(key, run.clone());
    s.bodies.insert(run.clone(), body);
    let script = s.default_script.clone().into();
    s.scripts.insert(run.clone(), script);
    (
        StatusCode::CREATED,
        axum::Json(json!({ "runId": run, "sessionId": format!("s-{run}") })),
    )
        .into_response()
}

fn frame(id: usize, event: &str, data: &Value) -> String {
    format!(": keep-alive\n\nid: {id}\nevent: {event}\ndata: {data}\n\n")
}

async fn events(State(f): State<FakeMux>, Path(id): Path<String>, h: HeaderMap) -> Response {
    f.see("GET", format!("/v1/runs/{id}/events"), &h, Value::Null);
    if !f.authorized(&h) {
        return message(StatusCode::UNAUTHORIZED, "bad token");
    }
    if header(&h, "accept").as_deref() != Some("text/event-stream") {
        f.lock()
            .invalid
            .push("events without Accept: text/event-stream".into());
    }
    let mut s = f.lock();
    if !s.bodies.contains_key(&id) {
        return message(StatusCode::NOT_FOUND, "no such run");
    }
    let plan = s
        .scripts
        .get_mut(&id)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Plan::Finish);
    let after: usize = header(&h, "last-event-id")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let events: Vec<(usize, String, Value)> = s
        .events
        .iter()
        .enumerate()
        .map(|(i, (e, d))| (i + 1, e.clone(), d.clone()))
        .collect();
    drop(s);
    let (from, count) = match plan {
        Plan::Status(code) => {
            return message(StatusCode::from_u16(code).unwrap(), "gateway trouble");
        }
        Plan::Drop(n) => (after, n),
        Plan::Finish => (after, usize::MAX),
        Plan::Replay => (0, usize::MAX),
    };
    let text: String = events
        .iter()
        .filter(|(i, _, _)| *i > from)
        .take(count)
        .map(|(i, e, d)| frame(*i, e, d))
        .collect();
    // The body ends after these events: a drop, or the stream's end.
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .body(Body::from(text))
        .unwrap()
}

async fn cancel(State(f): State<FakeMux>, Path(id): Path<String>, h: HeaderMap) -> Response {
    f.see("DELETE", format!("/v1/runs/{id}"), &h, Value::Null);
    if !f.authorized(&h) {
        return message(StatusCode::UNAUTHORIZED, "bad token");
    }
    let mut s = f.lock();
    if !s.bodies.contains_key(&id) {
        return message(StatusCode::NOT_FOUND, "no such run");
    }
    s.cancelled.push(id);
    StatusCode::NO_CONTENT.into_response()
}
