//! An agent's result, as it reports it: the body of its callback
//! (docs/dispatch.md, "The callback contract"), or the `result` event of
//! an Agent Mux session. Checked here into an [`Outcome`], whatever sent
//! it: a message or transcript string that looks like a secret is
//! withheld before anything stores it.
//!
//! Pure.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::Outcome;

/// The most artifacts one result may report.
pub const MAX_ARTIFACTS: usize = 100;
/// The most transcript events kept.
pub const MAX_EVENTS: usize = 10_000;
/// The longest message kept.
pub const MAX_MESSAGE: usize = 4096;

/// Validates a result body (`{phase, message, artifacts, transcript}`)
/// into an [`Outcome`].
pub fn outcome_of(body: &Value) -> Result<Outcome, String> {
    let succeeded = match body["phase"].as_str() {
        Some("Succeeded") => true,
        Some("Failed") => false,
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
        Value::Array(_) => return Err(format!("at most {MAX_ARTIFACTS} artifacts")),
        _ => return Err("`artifacts` must be a list".into()),
    };
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
            ));
        }
        if !(a["size"].is_null() || a["size"].is_u64()) {
            return Err(format!("artifacts[{i}].size must be a byte count"));
        }
    }
    let transcript = match &body["transcript"] {
        Value::Null => None,
        Value::Array(events) if events.len() <= MAX_EVENTS => Some(transcript(events.clone())),
        Value::Array(_) => return Err(format!("at most {MAX_EVENTS} transcript events")),
        _ => return Err("`transcript` must be a list of events".into()),
    };
    Ok(Outcome {
        succeeded,
        message,
        artifacts,
        transcript,
    })
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
}
