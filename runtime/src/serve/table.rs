//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), so
//! `kubectl get agentdispatchruns` shows each object's phase and reason, as
//! it does for a CRD with printer columns, instead of names and ages only.
//!
//! Every served kind has the same columns: NAME, PHASE (`status.phase`),
//! REASON (`status.reason`) and AGE. A client that does not ask for a Table
//! (`-o yaml`, `-o json`, informers) gets the objects as before.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Whether the request asks for a `meta.k8s.io/v1` Table. kubectl lists its
/// preferences, `as=Table;v=v1;g=meta.k8s.io` first, then `v1beta1`, then
/// plain JSON; only v1 is served as a Table, the rest as objects.
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let mut parts = media.split(';').map(str::trim);
            let base = parts.next().unwrap_or_default();
            let params: Vec<&str> = parts.collect();
            base == "application/json"
                && params.contains(&"as=Table")
                && params.contains(&"v=v1")
                && params.contains(&"g=meta.k8s.io")
        })
}

/// The columns, as the API server describes them.
fn columns() -> Value {
    json!([
        { "name": "Name", "type": "string", "format": "name", "priority": 0,
          "description": "Name must be unique within a namespace." },
        { "name": "Phase", "type": "string", "format": "", "priority": 0,
          "description": "Where the object stands (status.phase)." },
        { "name": "Reason", "type": "string", "format": "", "priority": 0,
          "description": "Why it stands there, when it says (status.reason)." },
        { "name": "Age", "type": "string", "format": "", "priority": 0,
          "description": "Time since the object was created." },
    ])
}

/// A Table of `objects` (served objects, as `api::object` renders them),
/// with the list's `metadata` (resourceVersion, continue).
pub fn table(objects: &[Value], metadata: Value, now: DateTime<Utc>) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let created = o["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            json!({
                "cells": [
                    text(&o["metadata"]["name"]),
                    text(&o["status"]["phase"]),
                    text(&o["status"]["reason"]),
                    created.map_or_else(|| "<unknown>".to_string(), |t| age(now - t)),
                ],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(),
        "rows": rows,
    })
}

/// A duration the way kubectl's AGE column writes it (apimachinery's
/// `duration.HumanDuration`): `45s`, `3m20s`, `25m`, `5h12m`, `30h`,
/// `3d4h`, `200d`, `2y45d`, `9y`.
pub fn age(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn kubectls_accept_header_asks_for_a_v1_table() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        ));
        assert!(wants_table(&h));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_table(&h));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
        );
        assert!(!wants_table(&h));
        assert!(!wants_table(&HeaderMap::new()));
    }

    #[test]
    fn ages_read_as_kubectl_writes_them() {
        let s = chrono::Duration::seconds;
        for (d, text) in [
            (s(-5), "<invalid>"),
            (s(0), "0s"),
            (s(119), "119s"),
            (s(200), "3m20s"),
            (s(240), "4m"),
            (s(25 * 60 + 7), "25m"),
            (s(5 * 3600 + 12 * 60), "5h12m"),
            (s(30 * 3600), "30h"),
            (s(76 * 3600), "3d4h"),
            (s(200 * 86400), "200d"),
            (s((2 * 365 + 45) * 86400), "2y45d"),
            (s(9 * 365 * 86400), "9y"),
        ] {
            assert_eq!(age(d), text, "{d:?}");
        }
    }

    #[test]
    fn a_row_holds_phase_reason_and_age_and_the_objects_metadata() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ns = crate::names::org_namespace("acme");
        let objects = [
            json!({ "metadata": { "name": "fixer-1", "namespace": ns,
                                  "creationTimestamp": "2026-12-07T11:55:00Z" },
                    "status": { "phase": "Failed", "reason": "BackoffLimitExceeded" } }),
            json!({ "metadata": { "name": "issue-7", "namespace": ns,
                                  "creationTimestamp": "2026-12-06T12:00:00Z" },
                    "status": {} }),
        ];
        let t = table(&objects, json!({ "resourceVersion": "9" }), now);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["resourceVersion"], "9");
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Phase", "Reason", "Age"]);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["fixer-1", "Failed", "BackoffLimitExceeded", "5m"])
        );
        assert_eq!(t["rows"][1]["cells"], json!(["issue-7", "", "", "24h"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], ns.as_str());
    }
}
