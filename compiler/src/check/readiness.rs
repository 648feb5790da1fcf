//! AgentStack readiness (spec §1.5 `reconcileStack()`): the stack's conditions
//! computed statically from the config. An unmet condition is an error naming
//! the condition — unless it only repeats a missing or invalid reference that
//! is already reported where it is written.

use crate::diagnostics::{Code, Diagnostic};
use crate::model::agents::{
    AgentContextLabelSpec, AgentMcpServerSpec, AgentProviderConfigSpec, AgentSkillSpec,
    AgentStackSpec, AgentSubagentSpec, AgentToolProfileSpec, McpTransport,
};
use crate::model::identity::{
    AgentConfigGrantSpec, AgentRoleBindingSpec, AgentSecretGrantSpec, AgentServiceAccountSpec,
    BindingScope, RoleKind,
};
use crate::model::{Kind, KindSpec};

use super::references::{edges, resolve};
use super::{Model, Resource};

/// The conditions of an AgentStack (spec §1.5), in the order they are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ConditionType {
    CapabilitiesResolved,
    ToolsAdmitted,
    McpHealthy,
    SkillsValidated,
    SubagentsValid,
    ContextLabelsValid,
    RuntimeIdentityReady,
    RolesAdmitted,
    SecretsAdmitted,
    ConfigAdmitted,
    /// Every other condition is True.
    Ready,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::CapabilitiesResolved => "CapabilitiesResolved",
            ConditionType::ToolsAdmitted => "ToolsAdmitted",
            ConditionType::McpHealthy => "McpHealthy",
            ConditionType::SkillsValidated => "SkillsValidated",
            ConditionType::SubagentsValid => "SubagentsValid",
            ConditionType::ContextLabelsValid => "ContextLabelsValid",
            ConditionType::RuntimeIdentityReady => "RuntimeIdentityReady",
            ConditionType::RolesAdmitted => "RolesAdmitted",
            ConditionType::SecretsAdmitted => "SecretsAdmitted",
            ConditionType::ConfigAdmitted => "ConfigAdmitted",
            ConditionType::Ready => "Ready",
        }
    }
}

impl std::fmt::Display for ConditionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's status, as Kubernetes writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ConditionStatus {
    True,
    False,
}

/// Why a condition has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Reason {
    /// The condition holds.
    Satisfied,
    /// The config does not meet the condition: reported as KR-stack-not-ready.
    Unmet,
    /// A referenced resource is missing or invalid, which is reported where
    /// the reference is written.
    ReferenceNotResolved,
    /// `Ready` is True.
    AllConditionsMet,
    /// `Ready` is False.
    ConditionsNotMet,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: ConditionStatus,
    pub reason: Reason,
    pub message: String,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Whether a stack's conditions say it is Ready.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == ConditionType::Ready && c.is_true())
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
    unmet: Vec<(ConditionType, String)>,
}

impl Builder {
    fn add(&mut self, type_: ConditionType, problems: Vec<(Failure, String)>) {
        if problems.is_empty() {
            self.conditions.push(Condition {
                type_,
                status: ConditionStatus::True,
                reason: Reason::Satisfied,
                message: String::new(),
            });
            return;
        }
        let reason = if problems.iter().any(|(f, _)| *f == Failure::Unmet) {
            Reason::Unmet
        } else {
            Reason::ReferenceNotResolved
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
            status: ConditionStatus::False,
            reason,
            message,
        });
    }
}

/// The typed spec of the `T` named `name`, or why there is none.
fn spec_of<'m, T: KindSpec>(
    model: &'m Model,
    org: Option<&str>,
    name: &str,
) -> Result<&'m T, (Failure, String)> {
    let kind = T::KIND;
    match model.lookup(org, kind, name) {
        None => Err((Failure::Reference, format!("{kind} `{name}` not found"))),
        Some(r) => r
            .spec_as::<T>()
            .ok_or((Failure::Reference, format!("{kind} `{name}` is invalid"))),
    }
}

/// The conditions of one stack, in the spec's order, ending with `Ready`.
pub fn stack_conditions(
    model: &Model,
    stack: &Resource,
) -> (Vec<Condition>, Vec<(ConditionType, String)>) {
    let mut b = Builder {
        conditions: Vec::new(),
        unmet: Vec::new(),
    };
    let (Some(spec), Some(s)) = (&stack.spec, stack.spec_as::<AgentStackSpec>()) else {
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
    b.add(ConditionType::CapabilitiesResolved, unresolved);

    let mut tools = Vec::new();
    for r in s.tool_policy.iter().chain(s.tool_policy_ref.iter()) {
        if let Err(e) = spec_of::<AgentToolProfileSpec>(model, org, r.name()) {
            tools.push(e);
        }
    }
    b.add(ConditionType::ToolsAdmitted, tools);

    let mut mcp = Vec::new();
    for r in &s.mcp_server_refs {
        match spec_of::<AgentMcpServerSpec>(model, org, r.name()) {
            Err(e) => mcp.push(e),
            Ok(m) if m.transport != McpTransport::Stdio && m.endpoint.is_none() => {
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
    b.add(ConditionType::McpHealthy, mcp);

    let mut skills = Vec::new();
    for r in &s.skill_refs {
        if let Err(e) = spec_of::<AgentSkillSpec>(model, org, r.name()) {
            skills.push(e);
        }
    }
    b.add(ConditionType::SkillsValidated, skills);

    let mut subs = Vec::new();
    for r in &s.subagent_refs {
        match spec_of::<AgentSubagentSpec>(model, org, r.name()) {
            Err(e) => subs.push(e),
            Ok(sa) if sa.task_kinds.is_empty() => {
                subs.push((
                    Failure::Unmet,
                    format!("AgentSubagent `{}` has no taskKinds", r.name()),
                ));
            }
            Ok(_) => {}
        }
    }
    b.add(ConditionType::SubagentsValid, subs);

    let mut labels = Vec::new();
    for r in &s.context_label_refs {
        if let Err(e) = spec_of::<AgentContextLabelSpec>(model, org, r.name()) {
            labels.push(e);
        }
    }
    b.add(ConditionType::ContextLabelsValid, labels);

    let sa = s.runtime_identity.service_account_ref.name();
    let sa_ok = spec_of::<AgentServiceAccountSpec>(model, org, sa);
    b.add(
        ConditionType::RuntimeIdentityReady,
        sa_ok.err().into_iter().collect(),
    );

    b.add(ConditionType::RolesAdmitted, roles(model, org, sa));
    b.add(ConditionType::SecretsAdmitted, secrets(model, org, sa, s));
    b.add(ConditionType::ConfigAdmitted, configs(model, org, sa, s));

    let all = b.conditions.iter().all(Condition::is_true);
    b.conditions.push(Condition {
        type_: ConditionType::Ready,
        status: if all {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason: if all {
            Reason::AllConditionsMet
        } else {
            Reason::ConditionsNotMet
        },
        message: b
            .conditions
            .iter()
            .filter(|c| !c.is_true())
            .map(|c| c.type_.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    });
    (b.conditions, b.unmet)
}

fn roles(model: &Model, org: Option<&str>, sa: &str) -> Vec<(Failure, String)> {
    let bindings: Vec<_> = model
        .all::<AgentRoleBindingSpec>()
        .filter(|(r, b)| {
            r.org.as_deref() == org
                && b.subject.name == sa
                && b.subject
                    .kind
                    .as_deref()
                    .is_none_or(|k| k == Kind::AgentServiceAccount.as_str())
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
        if let Ok(m) = spec_of::<AgentMcpServerSpec>(model, org, r.name()) {
            out.extend(m.secret_refs.iter().map(|x| (x.0.clone(), None)));
        }
    }
    if let Some(p) = &s.provider {
        if let Ok(pc) = spec_of::<AgentProviderConfigSpec>(model, org, p.name()) {
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
        .all::<AgentSecretGrantSpec>()
        .filter(|(r, g)| r.org.as_deref() == org && g.subject.name() == sa)
        .map(|(_, g)| g)
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
        .all::<AgentConfigGrantSpec>()
        .filter(|(r, g)| r.org.as_deref() == org && g.subject.name() == sa)
        .map(|(_, g)| g.config_map_ref.name.as_str())
        .collect();
    let mut out = Vec::new();
    for r in &s.mcp_server_refs {
        if let Ok(m) = spec_of::<AgentMcpServerSpec>(model, org, r.name()) {
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
    for stack in model.of_kind(Kind::AgentStack) {
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
                .label(condition.as_str())
                .help(message),
            );
        }
    }
}
