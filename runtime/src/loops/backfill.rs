//! Backfill: deliveries a forge never sent, or sent while kradle was down,
//! recovered by listing what changed since the watermark.
//!
//! Each pass lists a GitHub binding's repositories' issues and pull
//! requests updated since the oldest watermark of the two kinds (all of
//! them when there is none yet), and records each as a delivery of its own
//! (`backfill:<owner/repo>#<number>@<updated_at>`). The usual pipeline does
//! the rest: a listing already seen is a duplicate and queues nothing, and
//! an object older than the stored one is superseded.

use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::forge::github::GitHub;
use crate::store::{NewDelivery, Recorded, Store};
use crate::sync::ordering_key;

/// One GitHub binding to backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub org: String,
    pub binding: String,
    /// The GitHub organization that owns the repositories.
    pub owner: String,
    /// Repository names (`scope.repositories`).
    pub repositories: Vec<String>,
    /// Between passes (the sync policy's `backfillInterval`).
    pub interval: Duration,
    pub max_attempts: i32,
    pub backoff_ms: u64,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Issues and pull requests the forge listed.
    pub listed: usize,
    /// Of those, the ones not seen before, now queued.
    pub queued: usize,
}

/// The kinds whose watermark bounds the listing.
const KINDS: [&str; 2] = ["Issue", "PullRequest"];

/// Why a backfill pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{repo}: {source}")]
    List {
        repo: String,
        source: crate::forge::http::HttpError,
    },
}

/// Lists and records what changed since the watermark, once.
pub async fn once(store: &Store, github: &GitHub, t: &Target) -> Result<Pass, BackfillError> {
    let since = store
        .oldest_watermark(&t.org, "github", &t.binding, &KINDS)
        .await?;
    let mut pass = Pass::default();
    for name in &t.repositories {
        let repo = format!("{}/{name}", t.owner);
        let mut path =
            format!("/repos/{repo}/issues?state=all&sort=updated&direction=asc&per_page=100");
        if let Some(since) = since {
            let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            path.push_str(&format!("&since={since}"));
        }
        let items = github
            .http
            .list(&path)
            .await
            .map_err(|source| BackfillError::List {
                repo: repo.clone(),
                source,
            })?;
        for issue in items {
            pass.listed += 1;
            let (Some(number), Some(updated)) =
                (issue["number"].as_u64(), issue["updated_at"].as_str())
            else {
                continue;
            };
            let payload = json!({
                "action": "backfilled",
                "issue": issue,
                "repository": { "full_name": repo, "name": name },
            });
            let body = serde_json::to_vec(&payload).unwrap_or_default();
            let delivery_id: String = format!("backfill:{repo}#{number}@{updated}")
                .chars()
                .take(200)
                .collect();
            let recorded = store
                .record_delivery(&NewDelivery {
                    org: &t.org,
                    source: "github",
                    receiver: &t.binding,
                    delivery_id: &delivery_id,
                    event: "issues",
                    action: Some("backfilled"),
                    payload: &payload,
                    body_digest: hex::encode(Sha256::digest(&body)),
                    key: ordering_key("github", &t.org, "issues", &payload),
                    max_attempts: t.max_attempts,
                    backoff_ms: t.backoff_ms,
                })
                .await?;
            if matches!(recorded, Recorded::New(_)) {
                pass.queued += 1;
            }
        }
    }
    Ok(pass)
}

/// Runs a pass now and then every `interval`, until `stop`.
pub async fn run(store: Store, github: GitHub, target: Target, mut stop: watch::Receiver<bool>) {
    loop {
        match once(&store, &github, &target).await {
            Ok(pass) => tracing::info!(
                org = %target.org,
                binding = %target.binding,
                listed = pass.listed,
                queued = pass.queued,
                "backfill pass"
            ),
            Err(error) => tracing::warn!(
                org = %target.org,
                binding = %target.binding,
                %error,
                "backfill pass failed; the next one runs after the interval"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(target.interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A duration of the config (`30s`, `5m`, `1h`, `1d`, or `1h30m`).
/// Zero is no interval.
pub fn parse_interval(text: &str) -> Option<Duration> {
    kradle_compiler::model::duration_seconds(text)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_like_the_config_writes_them() {
        assert_eq!(parse_interval("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_interval("1d"), Some(Duration::from_secs(86_400)));
        for bad in ["", "5", "m", "0s", "1w", "-1m"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
    }
}
