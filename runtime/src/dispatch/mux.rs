//! The Agent Mux gateway backend (spec AgentGatewayConfig, §3.1 phase 5;
//! docs/dispatch.md, "The Agent Mux backend"): an org with an
//! AgentGatewayConfig runs its attempts as sessions of that gateway
//! instead of Kubernetes Jobs.
//!
//! - **Launch** is `POST {gatewayUrl}/v1/sessions` with the attempt's name
//!   as `Idempotency-Key`, so a launch sent again (a worker killed after
//!   sending it) gets the session the first one made. The answer's
//!   `runId` and `sessionId` are recorded on the attempt.
//! - **Events** are followed on `GET {gatewayUrl}/v1/runs/{runId}/events`
//!   (`text/event-stream`). A stream that drops is reopened with
//!   `Last-Event-ID`, after `reconnectPolicy.backoffMs` doubled at each
//!   failure in a row, up to `reconnectPolicy.maxRetries` failures in a
//!   row; an event seen twice (a gateway that replays) counts once.
//!   `message` events make the transcript; the `result` event (the
//!   callback's body) ends the attempt.
//! - **Cancel** is `DELETE {gatewayUrl}/v1/runs/{runId}`.
//!
//! The follower of a run lives in the process that first watched it; the
//! watch step asks it how far it got. A process that dies loses nothing:
//! the next one follows the run from the start, and the replayed events
//! are deduplicated by id.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::catalog::Gateway;
use super::executor::{ExecError, Executor, JobState, Launched, Target};
use super::job::Launch;
use super::outcome::Outcome;
use super::outcome::{MAX_EVENTS, outcome_of, transcript};

/// The longest wait between two reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A stream silent this long (no event, no keep-alive comment) is reopened.
const IDLE: Duration = Duration::from_secs(120);
/// The largest event accepted (a line, or an event's data).
const MAX_EVENT_BYTES: usize = 1 << 20;
/// A follower no watch step asked about for this long is dropped.
const FORGOTTEN: Duration = Duration::from_secs(600);
/// The most events of any kind one run may send (ids remembered).
const MAX_SEEN: usize = 100_000;
/// The largest answer body read from a gateway (not the event stream).
const MAX_ANSWER: usize = 64 * 1024;

/// `request` with the gateway's token, when the operator allows the
/// gateway's host ([`crate::forge::hosts`]); without it otherwise, so a
/// config cannot point the token (or a run's callback token) elsewhere.
fn authorize(gateway: &Gateway, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match &gateway.token {
        Some(token) if allowed(gateway).is_ok() => request.bearer_auth(token.expose()),
        _ => request,
    }
}

/// Whether the operator allows sending credentials to this gateway.
pub fn allowed(gateway: &Gateway) -> Result<(), crate::forge::hosts::HostError> {
    crate::forge::hosts::check(&gateway.url)
}

/// A gateway's answer body, read up to [`MAX_ANSWER`] bytes.
async fn answer(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ANSWER.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// One event of a `text/event-stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last `id:` seen on the stream (it carries over, per the spec).
    pub id: Option<String>,
    /// `event:`, `message` when absent.
    pub event: String,
    pub data: String,
}

/// An incremental `text/event-stream` parser (the WHATWG rules, for the
/// fields kradle reads: `id`, `event`, `data`; comments are skipped).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

/// Why a gateway's event stream cannot be read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadStream {
    #[error("an event is not UTF-8")]
    NotUtf8,
    #[error("an event is over {MAX_EVENT_BYTES} bytes")]
    EventTooLong,
    #[error("a line is over {MAX_EVENT_BYTES} bytes")]
    LineTooLong,
}

impl SseParser {
    /// Feeds a chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, BadStream> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line).map_err(|_| BadStream::NotUtf8)?;
            if line.is_empty() {
                if self.has_data {
                    out.push(SseEvent {
                        id: self.id.clone(),
                        event: match std::mem::take(&mut self.event) {
                            e if e.is_empty() => "message".into(),
                            e => e,
                        },
                        data: std::mem::take(&mut self.data),
                    });
                }
                self.event.clear();
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                    self.has_data = true;
                    if self.data.len() > MAX_EVENT_BYTES {
                        return Err(BadStream::EventTooLong);
                    }
                }
                "event" => self.event = value.to_string(),
                "id" if !value.contains('\0') => self.id = Some(value.to_string()),
                _ => {}
            }
        }
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err(BadStream::LineTooLong);
        }
        Ok(out)
    }
}

/// How a follower ended.
#[derive(Debug, Clone)]
enum End {
    Result(Outcome),
    /// The stream could not be followed (`GatewayStreamLost`, ...).
    Failed(&'static str, String),
}

#[derive(Debug, Default)]
struct Progress {
    /// The transcript so far (`message` events), in order.
    events: Vec<Value>,
    seen: HashSet<String>,
    last_id: Option<String>,
    end: Option<End>,
}

struct Follow {
    progress: Arc<Mutex<Progress>>,
    task: tokio::task::AbortHandle,
    asked: Instant,
}

/// Sessions on Agent Mux gateways.
pub struct AgentMux {
    http: reqwest::Client,
    follows: Mutex<HashMap<String, Follow>>,
}

impl Default for AgentMux {
    fn default() -> Self {
        AgentMux::new()
    }
}

/// The followers end with their client: a server that stops following
/// leaves nothing streaming behind it.
impl Drop for AgentMux {
    fn drop(&mut self) {
        for f in lock(&self.follows).values() {
            f.task.abort();
        }
    }
}

impl std::fmt::Debug for AgentMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentMux")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A gateway's id: what may go into a URL path.
fn safe_id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| s.to_string())
}

/// What a refusal says: the status and the gateway's `message`, short,
/// and withheld when it looks like a secret.
fn refusal(what: &str, status: reqwest::StatusCode, body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    let mut end = message.len().min(200);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let message = &message[..end];
    if message.is_empty() || kradle_compiler::check::looks_like_secret(message).is_some() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: HTTP {status}: {message}")
    }
}

fn transient_status(status: reqwest::StatusCode) -> bool {
    status.as_u16() == 429 || status.is_server_error()
}

impl AgentMux {
    pub fn new() -> AgentMux {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        AgentMux {
            http,
            follows: Mutex::new(HashMap::new()),
        }
    }

    /// Runs followed now (for tests and metrics).
    pub fn following(&self) -> usize {
        lock(&self.follows).len()
    }

    fn follow(&self, gateway: &Gateway, run_id: &str) -> Follow {
        let progress = Arc::new(Mutex::new(Progress::default()));
        let task = tokio::spawn(follow(
            self.http.clone(),
            gateway.clone(),
            run_id.to_string(),
            progress.clone(),
        ));
        Follow {
            progress,
            task: task.abort_handle(),
            asked: Instant::now(),
        }
    }
}

/// Follows run `run_id`'s events until its result, or until the stream
/// cannot be followed any more.
async fn follow(
    http: reqwest::Client,
    gateway: Gateway,
    run_id: String,
    progress: Arc<Mutex<Progress>>,
) {
    let mut failures = 0u32;
    loop {
        let (progressed, why) = match connect(&http, &gateway, &run_id, &progress).await {
            Connection::Ended => return,
            Connection::Fatal(code, why) => {
                lock(&progress).end = Some(End::Failed(code, why));
                return;
            }
            Connection::Dropped { progressed, why } => (progressed, why),
        };
        failures = if progressed { 1 } else { failures + 1 };
        if failures > gateway.max_retries {
            let why = format!(
                "the event stream of gateway run {run_id} failed {failures} times in a row (reconnectPolicy.maxRetries: {}): {why}",
                gateway.max_retries
            );
            lock(&progress).end = Some(End::Failed("GatewayStreamLost", why));
            return;
        }
        let wait = gateway
            .backoff
            .saturating_mul(1 << (failures - 1).min(16))
            .min(MAX_BACKOFF);
        tracing::info!(run_id = %run_id, failures, wait_ms = wait.as_millis() as u64, %why, "gateway event stream dropped; reconnecting");
        tokio::time::sleep(wait).await;
    }
}

enum Connection {
    /// The result arrived.
    Ended,
    Dropped {
        progressed: bool,
        why: String,
    },
    Fatal(&'static str, String),
}

/// One connection to the event stream.
async fn connect(
    http: &reqwest::Client,
    gateway: &Gateway,
    run_id: &str,
    progress: &Mutex<Progress>,
) -> Connection {
    let last = lock(progress).last_id.clone();
    let mut request = authorize(
        gateway,
        http.get(format!("{}/v1/runs/{run_id}/events", gateway.url)),
    )
    .header(reqwest::header::ACCEPT, "text/event-stream");
    if let Some(last) = &last {
        request = request.header("Last-Event-ID", last);
    }
    let dropped = |progressed, why: String| Connection::Dropped { progressed, why };
    let mut response = match tokio::time::timeout(IDLE, request.send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return dropped(false, format!("cannot reach the gateway: {e}")),
        Err(_) => return dropped(false, "the gateway did not answer".into()),
    };
    let status = response.status();
    if transient_status(status) {
        return dropped(false, format!("HTTP {status}"));
    }
    if !status.is_success() {
        let body = answer(response).await;
        let code = if status.as_u16() == 404 {
            "GatewayRunMissing"
        } else {
            "GatewayRefused"
        };
        return Connection::Fatal(code, refusal("following the run's events", status, &body));
    }
    let is_stream = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_stream {
        return Connection::Fatal(
            "GatewayRefused",
            "the gateway's events are not a text/event-stream".into(),
        );
    }
    let mut parser = SseParser::default();
    let mut progressed = false;
    loop {
        let chunk = match tokio::time::timeout(IDLE, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return dropped(progressed, "the stream ended".into()),
            Ok(Err(e)) => return dropped(progressed, format!("the stream broke: {e}")),
            Err(_) => return dropped(progressed, "the stream went silent".into()),
        };
        let events = match parser.feed(&chunk) {
            Ok(events) => events,
            Err(why) => return Connection::Fatal("GatewayRefused", why.to_string()),
        };
        let mut p = lock(progress);
        for event in events {
            if let Some(id) = &event.id {
                if p.seen.contains(id) {
                    continue;
                }
                if p.seen.len() >= MAX_SEEN {
                    return Connection::Fatal(
                        "GatewayRefused",
                        format!("the run sent over {MAX_SEEN} events without a result"),
                    );
                }
                p.seen.insert(id.clone());
                p.last_id = Some(id.clone());
            }
            progressed = true;
            match event.event.as_str() {
                "message" => match serde_json::from_str::<Value>(&event.data) {
                    Ok(node @ Value::Object(_)) if p.events.len() < MAX_EVENTS => {
                        p.events.push(node)
                    }
                    Ok(Value::Object(_)) => {}
                    _ => {
                        tracing::warn!(run_id = %run_id, "a gateway message event is not a JSON object; skipped")
                    }
                },
                "result" => {
                    let body = serde_json::from_str::<Value>(&event.data).unwrap_or_default();
                    p.end = Some(match outcome_of(&body) {
                        Ok(mut outcome) => {
                            if !p.events.is_empty() {
                                outcome.transcript = Some(transcript(p.events.clone()));
                            }
                            End::Result(outcome)
                        }
                        Err(why) => End::Failed(
                            "GatewayRefused",
                            format!("the gateway's result is not valid: {why}"),
                        ),
                    });
                    return Connection::Ended;
                }
                // `status`, keep-alives and what kradle does not know.
                _ => {}
            }
        }
    }
}

impl Executor for AgentMux {
    async fn launch(&self, launch: &Launch, token: &str) -> Result<Launched, ExecError> {
        let Some(gateway) = &launch.gateway else {
            return Err(ExecError::Refused(
                "the org has no AgentGatewayConfig".into(),
            ));
        };
        // The launch carries the run's callback token: never to a host the
        // operator did not allow.
        if let Err(why) = allowed(gateway) {
            return Err(ExecError::Refused(format!(
                "gateway `{}` of `{}`: {why}",
                gateway.name, launch.org
            )));
        }
        if let (Some((ns, name, key)), None) = (&gateway.token_ref, &gateway.token) {
            return Err(ExecError::Refused(format!(
                "the token of gateway `{}` (Secret {ns}/{name}, key {key}) could not be read when the config was loaded",
                gateway.name
            )));
        }
        let context = launch
            .context
            .as_ref()
            .map(|(c, digest)| (serde_json::from_str::<Value>(c).unwrap_or_default(), digest));
        let body = json!({
            "name": launch.job_name(),
            "organization": launch.org,
            "run": launch.run,
            "attempt": launch.attempt,
            "agentStack": launch.stack,
            "stackSpec": launch.stack_spec,
            "taskKind": launch.task_kind,
            "repository": launch.repository,
            "ref": launch.git_ref,
            "transport": launch.transport,
            "deadlineSeconds": launch.deadline_seconds,
            "workspace": { "persistentVolumeClaim": launch.pvc },
            "contextBundle": context.as_ref().map(|c| &c.0),
            "contextBundleDigest": context.as_ref().map(|c| c.1),
            "callback": { "url": launch.callback_url, "token": token },
        });
        let request = authorize(
            gateway,
            self.http.post(format!("{}/v1/sessions", gateway.url)),
        )
        .header("Idempotency-Key", launch.job_name())
        .timeout(Duration::from_secs(30))
        .json(&body);
        let response = request.send().await.map_err(|e| {
            ExecError::Transient(format!(
                "cannot reach the Agent Mux gateway `{}`: {e}",
                gateway.name
            ))
        })?;
        let status = response.status();
        let text = answer(response).await;
        if transient_status(status) {
            return Err(ExecError::Transient(refusal(
                "launching the session",
                status,
                &text,
            )));
        }
        if !status.is_success() {
            return Err(ExecError::Refused(refusal(
                "launching the session",
                status,
                &text,
            )));
        }
        let answer: Value = serde_json::from_str(&text).unwrap_or_default();
        match (safe_id(&answer["runId"]), safe_id(&answer["sessionId"])) {
            (Some(run), Some(session)) => Ok(Launched {
                session: Some((run, session)),
            }),
            _ => Err(ExecError::Refused(
                "the gateway's answer has no valid `runId` and `sessionId`".into(),
            )),
        }
    }

    async fn state(&self, target: Target<'_>) -> Result<JobState, ExecError> {
        let Some(gateway) = target.gateway else {
            return Ok(JobState::Failed {
                reason: "GatewayRemoved".into(),
                message: "the org's AgentGatewayConfig is gone".into(),
            });
        };
        // A launch that never returned: sent again, it finds its session.
        let Some(run_id) = target.session else {
            return Ok(JobState::Missing);
        };
        let mut follows = lock(&self.follows);
        follows.retain(|_, f| {
            let keep = f.asked.elapsed() < FORGOTTEN;
            if !keep {
                f.task.abort();
            }
            keep
        });
        let Some(f) = follows.get_mut(run_id) else {
            let f = self.follow(gateway, run_id);
            follows.insert(run_id.to_string(), f);
            return Ok(JobState::Active);
        };
        f.asked = Instant::now();
        let end = lock(&f.progress).end.clone();
        let state = match end {
            None => return Ok(JobState::Active),
            Some(End::Result(outcome)) => JobState::Reported(Box::new(outcome)),
            Some(End::Failed(reason, message)) => JobState::Failed {
                reason: reason.into(),
                message,
            },
        };
        follows.remove(run_id);
        Ok(state)
    }

    async fn cancel(&self, target: Target<'_>) -> Result<(), ExecError> {
        let (Some(gateway), Some(run_id)) = (target.gateway, target.session) else {
            return Ok(());
        };
        if let Some(f) = lock(&self.follows).remove(run_id) {
            f.task.abort();
        }
        let response = authorize(
            gateway,
            self.http
                .delete(format!("{}/v1/runs/{run_id}", gateway.url)),
        )
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| ExecError::Transient(format!("cannot reach the gateway: {e}")))?;
        let status = response.status();
        if status.is_success() || status.as_u16() == 404 {
            return Ok(());
        }
        let text = answer(response).await;
        let why = refusal("cancelling the gateway run", status, &text);
        if transient_status(status) {
            Err(ExecError::Transient(why))
        } else {
            Err(ExecError::Refused(why))
        }
    }
}

#[cfg(test)]
mod tests;
