//! The context bundle of a run (spec AgentContextBundle, §3.1 phase 3):
//! the stack's prompts, its context labels, skills and subagents, and the
//! run's task and source refs, as one JSON document with a sha256 digest.
//!
//! Every string goes through the compiler's secret scanner first: a value
//! that looks like a secret is replaced by `[redacted: <what>]`, and the
//! redaction manifest says where, never what. Pure: the store records it.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A run's assembled context.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub content: Value,
    /// `[{kind, name}]`: where the content came from.
    pub sources: Vec<Value>,
    /// `[{path, reason}]`: what was redacted (the path, not the value).
    pub redactions: Vec<Value>,
    /// `sha256:<hex>` of the content's JSON.
    pub digest: String,
}

/// The stack's side of the context, gathered from the compiled objects
/// once per config (see [`super::catalog::Catalog`]).
pub fn stack_context(
    spec: &Value,
    find: impl Fn(&str, &str) -> Option<Value>,
) -> (Value, Vec<Value>) {
    let mut sources = Vec::new();
    let names = |field: &str| -> Vec<String> {
        spec[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut gather = |kind: &str, field: &str, take: &dyn Fn(&Value) -> Value| -> Vec<Value> {
        names(field)
            .iter()
            .filter_map(|name| {
                let o = find(kind, name)?;
                sources.push(json!({ "kind": kind, "name": name }));
                Some(json!({ "name": name, "content": take(&o["spec"]) }))
            })
            .collect()
    };
    let labels = gather("AgentContextLabel", "contextLabelRefs", &|s| {
        s["promptFragment"].clone()
    });
    let skills = gather("AgentSkill", "skillRefs", &|s| s["promptFragments"].clone());
    let subagents = gather(
        "AgentSubagent",
        "subagentRefs",
        &|s| json!({ "rolePrompt": s["rolePrompt"], "taskKinds": s["taskKinds"] }),
    );
    let mcp_servers = gather(
        "AgentMcpServer",
        "mcpServerRefs",
        &|m| json!({ "transport": m["transport"], "endpoint": m["endpoint"] }),
    );
    // One object by reference (`provider`, `toolPolicyRef`): its spec as
    // `take` keeps it.
    let mut one = |kind: &str, name: Option<&str>, take: &dyn Fn(&Value) -> Value| -> Value {
        let Some(o) = name.and_then(|n| find(kind, n)) else {
            return Value::Null;
        };
        sources.push(json!({ "kind": kind, "name": name }));
        take(&o["spec"])
    };
    // The model provider, without its Secret: the pod reads the key from
    // `apiKeyEnv`, which the Job fills by reference.
    let provider = one("AgentProviderConfig", spec["provider"].as_str(), &|p| {
        json!({ "provider": p["provider"], "authType": p["authType"], "apiBase": p["apiBase"],
                "defaultModel": p["defaultModel"], "modelTranslations": p["modelTranslations"],
                "rateLimits": p["rateLimits"],
                "apiKeyEnv": if p["secretRef"].is_object() { json!(PROVIDER_KEY_ENV) } else { Value::Null } })
    });
    let tool_policy = spec["toolPolicyRef"]
        .as_str()
        .or_else(|| spec["toolPolicy"].as_str());
    let tools = one("AgentToolProfile", tool_policy, &|t| {
        let mut t = t.clone();
        if let Some(t) = t.as_object_mut() {
            t.remove("organizationRef");
        }
        t
    });
    let context = json!({
        "prompts": spec["promptTemplates"],
        "model": spec["model"],
        "provider": provider,
        "tools": tools,
        "mcpServers": mcp_servers,
        "contextLabels": labels,
        "skills": skills,
        "subagents": subagents,
    });
    (context, sources)
}

/// The pod's environment variable holding the model provider's API key,
/// read from the provider's Secret by reference (never a value in the Job).
pub const PROVIDER_KEY_ENV: &str = "KRADLE_PROVIDER_API_KEY";
/// The pod's environment variable holding the provider's `apiBase`.
pub const PROVIDER_BASE_ENV: &str = "KRADLE_PROVIDER_API_BASE";

/// Redacts every string of `v` that looks like a secret, recording its
/// path in `manifest`.
pub(crate) fn redact(v: &mut Value, path: &str, manifest: &mut Vec<Value>) {
    match v {
        Value::String(text) => {
            if let Some(what) = kradle_compiler::check::looks_like_secret(text) {
                *text = format!("[redacted: {what}]");
                manifest.push(json!({ "path": path, "reason": what }));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                redact(item, &format!("{path}[{i}]"), manifest);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                redact(item, &format!("{path}.{k}"), manifest);
            }
        }
        _ => {}
    }
}

/// Assembles the bundle of a run: the stack's context, and the task.
pub fn assemble(
    stack_context: &Value,
    stack_sources: &[Value],
    task: &Value,
    source_refs: &Value,
) -> Bundle {
    let mut content = Map::new();
    content.insert("stack".into(), stack_context.clone());
    content.insert("task".into(), task.clone());
    content.insert("sourceRefs".into(), source_refs.clone());
    let mut content = Value::Object(content);
    let mut redactions = Vec::new();
    redact(&mut content, "$", &mut redactions);
    let bytes = serde_json::to_vec(&content).unwrap_or_default();
    Bundle {
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        content,
        sources: stack_sources.to_vec(),
        redactions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_gathers_the_stacks_context_redacts_secrets_and_is_digested() {
        let spec = json!({ "promptTemplates": { "system": "You fix CI." },
            "contextLabelRefs": ["style", "missing"], "skillRefs": ["triage"] });
        let find = |kind: &str, name: &str| match (kind, name) {
            ("AgentContextLabel", "style") => Some(json!({ "spec": {
                "promptFragment": "Use token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB to push." } })),
            ("AgentSkill", "triage") => {
                Some(json!({ "spec": { "promptFragments": ["Read the log."] } }))
            }
            _ => None,
        };
        let (context, sources) = stack_context(&spec, find);
        assert_eq!(
            sources,
            [
                json!({ "kind": "AgentContextLabel", "name": "style" }),
                json!({ "kind": "AgentSkill", "name": "triage" })
            ]
        );
        let task = json!({ "taskKind": "fix", "repository": "api" });
        let refs = json!(["issue_comment:Issue:acme/api/issues/4"]);
        let b = assemble(&context, &sources, &task, &refs);
        let text = b.content.to_string();
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("[redacted: "), "{text}");
        assert_eq!(b.redactions.len(), 1);
        assert_eq!(b.redactions[0]["path"], "$.stack.contextLabels[0].content");
        assert_eq!(
            b.content["stack"]["skills"][0]["content"][0],
            "Read the log."
        );
        assert!(b.digest.starts_with("sha256:") && b.digest.len() == 71);
        assert_eq!(
            assemble(&context, &sources, &task, &refs).digest,
            b.digest,
            "deterministic"
        );
        let other = assemble(&context, &sources, &json!({ "taskKind": "review" }), &refs);
        assert_ne!(other.digest, b.digest);
    }

    #[test]
    fn a_bundle_carries_the_provider_by_reference_the_tool_policy_and_the_mcp_servers() {
        let spec = json!({ "provider": "claude", "toolPolicyRef": "careful",
            "mcpServerRefs": ["search", "gone"] });
        let find = |kind: &str, name: &str| match (kind, name) {
            ("AgentProviderConfig", "claude") => Some(json!({ "spec": {
                "organizationRef": "acme", "provider": "anthropic", "authType": "api-key",
                "apiBase": "https://llm.internal/v1", "defaultModel": "sonnet",
                "modelTranslations": { "sonnet": "claude-sonnet-4" },
                "rateLimits": { "requestsPerMinute": 60 },
                "secretRef": { "name": "anthropic", "key": "api-key" } } })),
            ("AgentToolProfile", "careful") => Some(json!({ "spec": {
                "organizationRef": "acme", "network": { "allow": ["github.com"] },
                "denyList": ["rm -rf"], "approvalPolicyByTool": { "push": "required" } } })),
            ("AgentMcpServer", "search") => Some(json!({ "spec": {
                "transport": "http", "endpoint": "http://search.acme:8080/mcp" } })),
            _ => None,
        };
        let (context, sources) = stack_context(&spec, find);
        let provider = &context["provider"];
        assert_eq!(provider["provider"], "anthropic");
        assert_eq!(provider["apiBase"], "https://llm.internal/v1");
        assert_eq!(provider["modelTranslations"]["sonnet"], "claude-sonnet-4");
        assert_eq!(provider["apiKeyEnv"], PROVIDER_KEY_ENV);
        assert!(provider.get("secretRef").is_none(), "{provider}");
        assert_eq!(context["tools"]["denyList"][0], "rm -rf");
        assert_eq!(context["tools"]["approvalPolicyByTool"]["push"], "required");
        assert!(context["tools"].get("organizationRef").is_none());
        assert_eq!(context["mcpServers"].as_array().unwrap().len(), 1);
        assert_eq!(context["mcpServers"][0]["name"], "search");
        assert_eq!(
            context["mcpServers"][0]["content"]["endpoint"],
            "http://search.acme:8080/mcp"
        );
        let kinds: Vec<&str> = sources.iter().filter_map(|s| s["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            ["AgentMcpServer", "AgentProviderConfig", "AgentToolProfile"]
        );
    }
}
