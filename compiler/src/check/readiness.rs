//! AgentStack readiness (spec §1.5 `reconcileStack()`): the stack's conditions
//! computed statically from the config. An unmet condition is an error naming
//! the condition — unless it only repeats a missing or invalid reference that
//! is already reported where it is written.

use crate::diagnostics::{Code, Diagnostic};
use crate::model::Spec;
use crate::model::agents::{AgentStackSpec, McpTransport};
use crate::model::identity::{BindingScope, RoleKind};

use super::references::{edges, resolve};
use super::{Model, Resource};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// "True" or "False", as Kubernetes conditions.
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

/// Why a condition failed: only `Unmet` is reported by readiness itself.
#[derive(PartialEq)]
enum Failure {
    /// A referenced resource is missing or invalid (reported elsewhere).
    Reference,
    Unmet,
}

struct Builder {
    conditions: Vec<Condition>,
    unmet: Vec<(&'static str, String)>,
}

impl Builder {
    fn add(&mut self, type_: &'static str, problems: Vec<(Failure, String)>) {
        if problems.is_empty() {
            self.conditions.push(Condition {
                type_,
                status: "True",
                reason: "Satisfied".into(),
                message: String::new(),
            });
            return;
        }
        let reason = if problems.iter().any(|(f, _)| *f == Failure::Unmet) {
            "Unmet"
        } else {
            "ReferenceNotResolved"
        };
        let message = problems
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        for (f, m) in &problems {
            if *f == Failure::Unmet {
                self.unmet.push((type_, m.clone()));
            }
        }
        self.conditions.push(Condition {
            type_,
            status: "False",
            reason: reason.into(),
            message,
        });
    }
}

fn spec_of<'m>(
    model: &'m Model,
    org: Option<&str>,
    kind: &str,
    name: &str,
) -> Result<&'m Spec, (Failure, String)> {
    match model.lookup(org, kind, name) {
        None => Err((Failure::Reference, format!("{kind} `{name}` not found"))),
        Some(r) => r
            .spec
            .as_ref()
            .ok_or((Failure::Reference, format!("{kind} `{name}` is invalid"))),
    }
}

/// The conditions of one stack, in the spec's order, ending with `Ready`.
pub fn stack_conditions(
    model: &Model,
    stack: &Resource,
) -> (Vec<Condition>, Vec<(&'static str, String)>) {
    let mut b = Builder {
        conditions: Vec::new(),
        unmet: Vec::new(),
    };
    let Some(spec @ Spec::AgentStack(s)) = &stack.spec else {
        return (Vec::new(), Vec::new());
    };
    let org = stack.org.as_deref();

    let unresolved: Vec<(Failure, String)> = edges(spec)
        .into_iter()
        .filter(|e| resolve(model, stack, e).is_none())
        .map(|e| {
            (
                Failure::Reference,
                format!("{} `{}` not found", e.targets[0], e.name),
            )
        })
        .collect();
    b.add("CapabilitiesResolved", unresolved);

    let mut tools = Vec::new();
    for r in s.tool_policy.iter().chain(s.tool_policy_ref.iter()) {
        if let Err(e) = spec_of(model, org, "AgentToolProfile", r.name()) {
            tools.push(e);
        }
    }
    b.add("ToolsAdmitted", tools);

    let mut mcp = Vec::new();
    for r in &s.mcp_server_refs {
        match spec_of(model, org, "AgentMcpServer", r.name()) {
            Err(e) => mcp.push(e),
            Ok(Spec::AgentMcpServer(m))
                if m.transport != McpTransport::Stdio && m.endpoint.is_none() =>
            {
                mcp.push((
                    Failure::Unmet,
                    format!(
                        "AgentMcpServer `{}` uses a network transport but has no endpoint",
                        r.name()
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    b.add("McpHealthy", mcp);

    let mut skills = Vec::new();
    for r in &s.skill_refs {
        if let Err(e) = spec_of(model, org, "AgentSkill", r.name()) {
            skills.push(e);
        }
    }
    b.add("SkillsValidated", skills);

    let mut subs = Vec::new();
    for r in &s.subagent_refs {
        match spec_of(model, org, "AgentSubagent", r.name()) {
            Err(e) => subs.push(e),
            Ok(Spec::AgentSubagent(sa)) if sa.task_kinds.is_empty() => {
                subs.push((
                    Failure::Unmet,
                    format!("AgentSubagent `{}` has no taskKinds", r.name()),
                ));
            }
            Ok(_) => {}
        }
    }
    b.add("SubagentsValid", subs);

    let mut labels = Vec::new();
    for r in &s.context_label_refs {
        if let Err(e) = spec_of(model, org, "AgentContextLabel", r.name()) {
            labels.push(e);
        }
    }
    b.add("ContextLabelsValid", labels);

    let sa = s.runtime_identity.service_account_ref.name();
    let sa_ok = spec_of(model, org, "AgentServiceAccount", sa);
    b.add("RuntimeIdentityReady", sa_ok.err().into_iter().collect());

    b.add("RolesAdmitted", roles(model, org, sa));
    b.add("SecretsAdmitted", secrets(model, org, sa, s));
    b.add("ConfigAdmitted", configs(model, org, sa, s));

    let all = b.conditions.iter().all(|c| c.status == "True");
    b.conditions.push(Condition {
        type_: "Ready",
        status: if all { "True" } else { "False" },
        reason: if all {
            "AllConditionsMet".into()
        } else {
            "ConditionsNotMet".into()
        },
        message: b
            .conditions
            .iter()
            .filter(|c| c.status == "False")
            .map(|c| c.type_)
            .collect::<Vec<_>>()
            .join(", "),
    });
    (b.conditions, b.unmet)
}

fn roles(model: &Model, org: Option<&str>, sa: &str) -> Vec<(Failure, String)> {
    let bindings: Vec<_> = model
        .of_kind("AgentRoleBinding")
        .filter(|r| r.org.as_deref() == org)
        .filter_map(|r| match &r.spec {
            Some(Spec::AgentRoleBinding(b))
                if b.subject.name == sa
                    && b.subject
                        .kind
                        .as_deref()
                        .is_none_or(|k| k == "AgentServiceAccount") =>
            {
                Some((r, b))
            }
            _ => None,
        })
        .collect();
    if bindings.is_empty() {
        return vec![(
            Failure::Unmet,
            format!("no AgentRoleBinding grants a role to service account `{sa}`"),
        )];
    }
    bindings
        .into_iter()
        .filter(|(_, b)| b.scope == BindingScope::Cluster && b.role_ref.kind == RoleKind::Role)
        .map(|(r, _)| {
            (
                Failure::Unmet,
                format!(
                    "AgentRoleBinding `{}` binds a Role at cluster scope",
                    r.name
                ),
            )
        })
        .collect()
}

/// Secrets the stack needs: its MCP servers' secretRefs and its provider's secretRef.
fn needed_secrets(
    model: &Model,
    org: Option<&str>,
    s: &AgentStackSpec,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for r in &s.mcp_server_refs {
        if let Ok(Spec::AgentMcpServer(m)) = spec_of(model, org, "AgentMcpServer", r.name()) {
            out.extend(m.secret_refs.iter().map(|x| (x.0.clone(), None)));
        }
    }
    if let Some(p) = &s.provider {
        if let Ok(Spec::AgentProviderConfig(pc)) =
            spec_of(model, org, "AgentProviderConfig", p.name())
        {
            if let Some(sr) = &pc.secret_ref {
                out.push((sr.name.clone(), Some(sr.key.clone())));
            }
        }
    }
    out
}

fn secrets(
    model: &Model,
    org: Option<&str>,
    sa: &str,
    s: &AgentStackSpec,
) -> Vec<(Failure, String)> {
    let grants: Vec<_> = model
        .of_kind("AgentSecretGrant")
        .filter(|r| r.org.as_deref() == org)
        .filter_map(|r| match &r.spec {
            Some(Spec::AgentSecretGrant(g)) if g.subject.name() == sa => Some(g),
            _ => None,
        })
        .collect();
    needed_secrets(model, org, s)
        .into_iter()
        .filter(|(name, key)| {
            !grants.iter().any(|g| {
                g.secret_ref.name == *name
                    && (g.secret_ref.keys.is_empty()
                        || key.as_ref().is_none_or(|k| g.secret_ref.keys.contains(k)))
            })
        })
        .map(|(name, key)| {
            (
                Failure::Unmet,
                format!(
                    "no AgentSecretGrant gives service account `{sa}` access to Secret `{name}`{}",
                    key.map(|k| format!(" key `{k}`")).unwrap_or_default()
                ),
            )
        })
        .collect()
}

fn configs(
    model: &Model,
    org: Option<&str>,
    sa: &str,
    s: &AgentStackSpec,
) -> Vec<(Failure, String)> {
    let granted: Vec<&str> = model
        .of_kind("AgentConfigGrant")
        .filter(|r| r.org.as_deref() == org)
        .filter_map(|r| match &r.spec {
            Some(Spec::AgentConfigGrant(g)) if g.subject.name() == sa => {
                Some(g.config_map_ref.name.as_str())
            }
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for r in &s.mcp_server_refs {
        if let Ok(Spec::AgentMcpServer(m)) = spec_of(model, org, "AgentMcpServer", r.name()) {
            for c in &m.config_refs {
                if !granted.contains(&c.name()) {
                    out.push((Failure::Unmet, format!("no AgentConfigGrant gives service account `{sa}` access to ConfigMap `{}`", c.name())));
                }
            }
        }
    }
    out
}

pub fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for stack in model.of_kind("AgentStack") {
        let (_, unmet) = stack_conditions(model, stack);
        for (condition, message) in unmet {
            diags.push(
                Diagnostic::new(
                    Code::StackNotReady,
                    format!(
                        "AgentStack `{}` is not ready: {condition} is False",
                        stack.name
                    ),
                )
                .at(stack.file, stack.span_of("/metadata/name"))
                .label(condition)
                .help(message),
            );
        }
    }
}
