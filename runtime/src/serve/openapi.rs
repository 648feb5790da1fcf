//! OpenAPI v3 of the aggregated API, so that through the APIService
//! `kubectl explain issues` knows the data kinds (docs/serve.md).
//!
//! `GET /openapi/v3` lists one group version, and
//! `GET /openapi/v3/apis/data.kradle.a5c.ai/v1alpha1` is its document:
//! each served kind and its List as components (with Kubernetes'
//! `x-kubernetes-group-version-kind`), and the read paths, whose operations
//! carry `x-kubernetes-action` and the kind's group-version-kind: kubectl
//! explain finds a resource's kind through them (without, it answers "GVR
//! … not found in OpenAPI schema"). The schemas are the ones `kradle schema` writes, in the
//! structural form of the CRDs. The API server fetches both as
//! `system:kube-aggregator`; like discovery, they need an authenticated
//! caller.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::api::{Access, GROUP, GROUP_VERSION, VERSION, kinds};

/// The path of the group version's document.
pub(super) const PATH: &str = "/openapi/v3/apis/data.kradle.a5c.ai/v1alpha1";

/// The component name of a kind (Kubernetes names them by reversed group).
fn component(kind: &str) -> String {
    format!("ai.a5c.kradle.data.{VERSION}.{kind}")
}

fn reference(kind: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", component(kind)) })
}

/// The document, and the digest clients cache it by.
static DOCUMENT: LazyLock<(Value, String)> = LazyLock::new(|| {
    let document = build();
    let digest = hex::encode_upper(Sha256::digest(document.to_string().as_bytes()));
    (document, digest)
});

fn build() -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let gvk = |kind: &str| json!([{ "group": GROUP, "version": VERSION, "kind": kind }]);
    let name_parameter = |name: &str, description: &str| {
        json!({ "name": name, "in": "path", "required": true, "description": description,
                "schema": { "type": "string" } })
    };
    let ok = |kind: &str| {
        json!({ "200": { "description": "OK",
                         "content": { "application/json": { "schema": reference(kind) } } } })
    };
    for (kind, plural, _) in kinds() {
        let Some(info) = kradle_compiler::model::kind_info(kind) else {
            continue;
        };
        let crd = kradle_compiler::schemas::crd(info);
        let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
        schema["description"] = json!(format!(
            "{kind}: what kradle's sync and dispatch recorded (read-only)."
        ));
        schema["properties"]["metadata"] =
            json!({ "type": "object", "description": "Standard object metadata." });
        schema["x-kubernetes-group-version-kind"] = gvk(kind);
        schemas.insert(component(kind), schema);
        let list = format!("{kind}List");
        schemas.insert(
            component(&list),
            json!({
                "type": "object",
                "description": format!("A list of {kind}."),
                "required": ["items"],
                "properties": {
                    "apiVersion": { "type": "string" },
                    "kind": { "type": "string" },
                    "metadata": { "type": "object", "description": "Standard list metadata." },
                    "items": { "type": "array", "items": reference(kind) },
                },
                "x-kubernetes-group-version-kind": gvk(&list),
            }),
        );
        let namespace = name_parameter("namespace", "the org namespace, kradle-org-<slug>");
        // kubectl explain finds a resource's kind by the operations of its
        // paths: each names its kind and action, as the API server's do.
        let get = |id: String, action: &str, answer: &str| {
            json!({ "operationId": id, "responses": ok(answer),
                    "x-kubernetes-action": action,
                    "x-kubernetes-group-version-kind":
                        { "group": GROUP, "version": VERSION, "kind": kind } })
        };
        paths.insert(
            format!("/apis/{GROUP_VERSION}/{plural}"),
            json!({ "get": get(format!("list{kind}ForAllNamespaces"), "list", &list) }),
        );
        paths.insert(
            format!("/apis/{GROUP_VERSION}/namespaces/{{namespace}}/{plural}"),
            json!({ "parameters": [namespace],
                    "get": get(format!("listNamespaced{kind}"), "list", &list) }),
        );
        paths.insert(
            format!("/apis/{GROUP_VERSION}/namespaces/{{namespace}}/{plural}/{{name}}"),
            json!({ "parameters": [namespace, name_parameter("name", "the object's name")],
                    "get": get(format!("readNamespaced{kind}"), "get", kind) }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "kradle", "version": VERSION },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// `GET /openapi/v3`: the group versions there are documents of.
pub(super) async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = super::api::authorized(&state, &headers, Access::discovery()).await {
        return r;
    }
    let url = format!("{PATH}?hash={}", DOCUMENT.1);
    Json(json!({ "paths": { format!("apis/{GROUP_VERSION}"): { "serverRelativeURL": url } } }))
        .into_response()
}

/// `GET /openapi/v3/apis/data.kradle.a5c.ai/v1alpha1`: the document.
pub(super) async fn group_version(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = super::api::authorized(&state, &headers, Access::discovery()).await {
        return r;
    }
    // A request for the current digest may be cached for good, as Kubernetes
    // lets it be.
    let cache = if query.get("hash") == Some(&DOCUMENT.1) {
        "public, immutable, max-age=31536000"
    } else {
        "no-cache, private"
    };
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, cache),
            (header::ETAG, DOCUMENT.1.as_str()),
        ],
        Json(DOCUMENT.0.clone()),
    )
        .into_response()
}
