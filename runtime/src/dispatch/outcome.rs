//! An agent's result, as it reports it: the body of its callback
//! (docs/dispatch.md, "The callback contract"), or the `result` event of
//! an Agent Mux session. Checked here into an [`Outcome`], whatever sent
//! it: a message or transcript string that looks like a secret is
//! withheld before anything stores it.
//!
//! Pure.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::text_enum::text_enum;

text_enum! {
    /// How an agent says its attempt ended (the result body's `phase`):
    /// the run's own phases are the worker's to set.
    pub enum Reported {
        Succeeded = "Succeeded",
        Failed = "Failed",
    }
}

/// The callback's result, as validated by the handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub succeeded: bool,
    pub message: Option<String>,
    /// `[{kind, digest, size, mimeType, uri}]`.
    pub artifacts: Vec<Value>,
    /// The transcript's events and their digest.
    pub transcript: Option<(Value, String)>,
}

/// The most artifacts one result may report.
pub const MAX_ARTIFACTS: usize = 100;
/// The most transcript events kept.
pub const MAX_EVENTS: usize = 10_000;
/// The longest message kept.
pub const MAX_MESSAGE: usize = 4096;
/// The longest artifact `uri`.
pub const MAX_URI: usize = 2048;
/// The longest artifact `name` or `mimeType`.
pub const MAX_ARTIFACT_FIELD: usize = 255;

/// The fields an artifact may report; anything else is dropped.
const ARTIFACT_FIELDS: &[&str] = &["kind", "digest", "size", "mimeType", "uri", "name"];

/// Why an agent's result body is refused (the callback answers 400 with
/// it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadResult(pub String);

impl From<String> for BadResult {
    fn from(why: String) -> BadResult {
        BadResult(why)
    }
}

impl From<&str> for BadResult {
    fn from(why: &str) -> BadResult {
        BadResult(why.to_string())
    }
}

/// Validates a result body (`{phase, message, artifacts, transcript}`)
/// into an [`Outcome`].
pub fn outcome_of(body: &Value) -> Result<Outcome, BadResult> {
    let succeeded = match body["phase"].as_str().and_then(Reported::parse) {
        Some(Reported::Succeeded) => true,
        Some(Reported::Failed) => false,
        _ => return Err("`phase` must be `Succeeded` or `Failed`".into()),
    };
    let message = match &body["message"] {
        Value::Null => None,
        Value::String(m) => {
            let mut end = m.len().min(MAX_MESSAGE);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            let m = &m[..end];
            // The agent's words are stored and shown: not a secret in them.
            Some(match kradle_compiler::check::looks_like_secret(m) {
                Some(what) => format!("(message withheld: it looked like {what})"),
                None => m.to_string(),
            })
        }
        _ => return Err("`message` must be a string".into()),
    };
    let artifacts = match &body["artifacts"] {
        Value::Null => Vec::new(),
        Value::Array(a) if a.len() <= MAX_ARTIFACTS => a.clone(),
        Value::Array(_) => return Err(format!("at most {MAX_ARTIFACTS} artifacts").into()),
        _ => return Err("`artifacts` must be a list".into()),
    };
    let mut checked = Vec::with_capacity(artifacts.len());
    for (i, a) in artifacts.iter().enumerate() {
        checked.push(artifact(i, a)?);
    }
    let artifacts = checked;
    for (i, a) in artifacts.iter().enumerate() {
        let kind_ok = a["kind"].as_str().is_some_and(|k| {
            !k.is_empty()
                && k.len() <= 63
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        let digest_ok = a["digest"].as_str().is_some_and(|d| {
            d.strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        });
        if !kind_ok || !digest_ok {
            return Err(format!(
                "artifacts[{i}] needs a `kind` (letters, digits, `-`) and a `digest` (`sha256:<64 hex>`)"
            ).into());
        }
        if !(a["size"].is_null() || a["size"].is_u64()) {
            return Err(format!("artifacts[{i}].size must be a byte count").into());
        }
    }
    let transcript = match &body["transcript"] {
        Value::Null => None,
        Value::Array(events) if events.len() <= MAX_EVENTS => Some(transcript(events.clone())),
        Value::Array(_) => return Err(format!("at most {MAX_EVENTS} transcript events").into()),
        _ => return Err("`transcript` must be a list of events".into()),
    };
    Ok(Outcome {
        succeeded,
        message,
        artifacts,
        transcript,
    })
}

/// One reported artifact, as stored: its known fields only, each bounded;
/// a `uri` that carries credentials (`user:password@`) refused; every
/// string that looks like a secret redacted (a presigned URL's key too).
fn artifact(i: usize, a: &Value) -> Result<Value, BadResult> {
    let Some(fields) = a.as_object() else {
        return Err(format!("artifacts[{i}] must be an object").into());
    };
    let mut kept: serde_json::Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| ARTIFACT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let string = |key: &str, max: usize| -> Result<(), BadResult> {
        match &kept.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(v)) if v.len() <= max => Ok(()),
            Some(Value::String(_)) => {
                Err(format!("artifacts[{i}].{key} is longer than {max} bytes").into())
            }
            Some(_) => Err(format!("artifacts[{i}].{key} must be a string").into()),
        }
    };
    string("uri", MAX_URI)?;
    string("name", MAX_ARTIFACT_FIELD)?;
    string("mimeType", MAX_ARTIFACT_FIELD)?;
    if let Some(m) = kept.get("mimeType").and_then(Value::as_str) {
        let shaped = m.split_once('/').is_some_and(|(t, s)| {
            let token = |x: &str| {
                !x.is_empty()
                    && x.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
            };
            token(t) && token(s.split(';').next().unwrap_or_default().trim())
        });
        if !shaped {
            return Err(
                format!("artifacts[{i}].mimeType is not a media type (`type/subtype`)").into(),
            );
        }
    }
    if let Some(uri) = kept.get("uri").and_then(Value::as_str) {
        let parsed = reqwest::Url::parse(uri)
            .map_err(|_| format!("artifacts[{i}].uri is not an absolute URI"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!(
                "artifacts[{i}].uri carries credentials (`user:password@`): not stored"
            )
            .into());
        }
    }
    let mut artifact = Value::Object(std::mem::take(&mut kept));
    let mut redactions = Vec::new();
    super::bundle::redact(&mut artifact, &format!("$.artifacts[{i}]"), &mut redactions);
    Ok(artifact)
}

/// A transcript as stored: its events, each string that looks like a
/// secret redacted, and the digest of what is stored.
pub fn transcript(mut events: Vec<Value>) -> (Value, String) {
    let mut redactions = Vec::new();
    for (i, event) in events.iter_mut().enumerate() {
        super::bundle::redact(event, &format!("$[{i}]"), &mut redactions);
    }
    let events = Value::Array(events);
    let bytes = serde_json::to_vec(&events).unwrap_or_default();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    (events, digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_is_checked_and_secrets_are_withheld() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let ok = outcome_of(&json!({ "phase": "Succeeded", "message": "fixed",
            "artifacts": [{ "kind": "patch", "digest": digest, "size": 10 }],
            "transcript": [{ "type": "text", "text": "hi" }] }))
        .unwrap();
        assert!(ok.succeeded);
        assert_eq!(ok.artifacts.len(), 1);
        assert!(ok.transcript.unwrap().1.starts_with("sha256:"));
        for bad in [
            json!({ "phase": "Done" }),
            json!({ "phase": "Failed", "artifacts": [{ "kind": "patch", "digest": "md5:x" }] }),
            json!({ "phase": "Failed", "artifacts": [{ "kind": "../x", "digest": digest }] }),
            json!({ "phase": "Failed", "message": 3 }),
            json!({ "phase": "Failed", "transcript": "text" }),
        ] {
            assert!(outcome_of(&bad).is_err(), "{bad}");
        }
        let leaked = outcome_of(&json!({ "phase": "Failed",
            "message": "auth failed with ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            "transcript": [{ "role": "tool", "content": "export GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB" }] }))
        .unwrap();
        let withheld = leaked.message.unwrap();
        assert!(!withheld.contains("0123456789abcdef"), "{withheld}");
        assert!(withheld.starts_with("(message withheld"), "{withheld}");
        let (events, _) = leaked.transcript.unwrap();
        assert!(!events.to_string().contains("0123456789abcdef"), "{events}");
        assert!(
            events[0]["content"]
                .as_str()
                .unwrap()
                .starts_with("[redacted: ")
        );
    }

    #[test]
    fn artifact_fields_are_bounded_and_scanned() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let with = |extra: Value| {
            let mut a = json!({ "kind": "report", "digest": digest });
            for (k, v) in extra.as_object().unwrap() {
                a[k] = v.clone();
            }
            outcome_of(&json!({ "phase": "Succeeded", "artifacts": [a] }))
        };
        // A URI with credentials in it is refused, not stored.
        let why = with(json!({ "uri": "https://bob:ghp_0123456789abcdefghijklmnopqrstuvwxyzAB@evil.example/?key=AKIAIOSFODNN7EXAMPLE" }))
            .unwrap_err();
        assert!(why.0.contains("carries credentials"), "{why}");
        // A presigned URL's key is redacted.
        let stored = with(
            json!({ "uri": "https://bucket.example/r.txt?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE" }),
        )
        .unwrap();
        let uri = stored.artifacts[0]["uri"].as_str().unwrap();
        assert!(!uri.contains("AKIAIOSFODNN7EXAMPLE"), "{uri}");
        // Bounded, shaped, and nothing but the known fields.
        let long = "x".repeat(MAX_URI + 1);
        assert!(with(json!({ "uri": format!("https://a.example/{long}") })).is_err());
        assert!(with(json!({ "mimeType": "not a type" })).is_err());
        assert!(with(json!({ "name": "n".repeat(300) })).is_err());
        let ok = with(
            json!({ "mimeType": "text/plain; charset=utf-8", "name": "log",
                              "uri": "https://a.example/log.txt", "extra": "dropped" }),
        )
        .unwrap();
        assert_eq!(ok.artifacts[0]["mimeType"], "text/plain; charset=utf-8");
        assert!(ok.artifacts[0].get("extra").is_none());
    }
}
