//! Kubernetes `Status` objects: how the aggregated API and its access
//! checks answer a failure.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A Kubernetes `Status` failure.
pub(super) fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> Response {
    (code, Json(status_body(code, reason, message.into()))).into_response()
}

/// A Kubernetes `Status` object of a failure.
pub(super) fn status_body(code: StatusCode, reason: &str, message: String) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    })
}
