//! The per-kind rules the spec states, beyond what the schema can say.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::diagnostics::{Code, Diagnostic};
use crate::model::Spec;
use crate::model::agents::{SkillSource, TriggerSource};
use crate::model::identity::BindingScope;
use crate::model::policy::DecisionPhase;
use crate::model::repository::KeyScope;

use super::{Model, Options, Resource, cron};

/// Webhook event names a trigger may listen to (spec §2.2), plus `*`.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "pull_request_review",
    "issues",
    "issue_comment",
    "workflow_run",
    "workflow_job",
    "check_suite",
    "check_run",
    "deployment",
    "deployment_status",
    "label",
    "*",
];

pub fn check(model: &Model, options: &Options, diags: &mut Vec<Diagnostic>) {
    let mut keys = KeyIndex::default();
    for r in &model.resources {
        let Some(spec) = &r.spec else { continue };
        let mut d = Ctx {
            r,
            diags: &mut *diags,
        };
        match spec {
            Spec::RunnerPool(s) => runner_pool(&mut d, s),
            Spec::KradleProject(s) => project(&mut d, s),
            Spec::AgentTriggerRule(s) => trigger_rule(model, &mut d, s),
            Spec::AgentSubagent(s) => subagent(&mut d, s),
            Spec::AgentSkill(s) => skill(&mut d, s),
            Spec::ExternalProviderCapabilityManifest(s) => capability_manifest(model, &mut d, s),
            Spec::SSHKey(s) => ssh_key(&mut d, s, &mut keys),
            Spec::Invite(s) => {
                if let Some(exp) = &s.expires_at {
                    d.expiry("/spec/expiresAt", exp, options.now, "invite");
                }
            }
            Spec::PolicyExceptionRequest(s) => exception(&mut d, s, options),
            Spec::Team(s) => team(&mut d, s),
            Spec::PolicyTemplate(s) => {
                if let Some(e) = crate::template::syntax_error(&s.kyverno) {
                    d.err(
                        Code::PolicyParameter,
                        "/spec/kyverno",
                        &format!("the kyverno body does not compile as a template: {e}"),
                        "parameters are written `[[ params.NAME ]]`",
                    );
                }
            }
            Spec::PolicyBinding(s) => policy_parameters(
                model,
                &mut d,
                &s.template_ref,
                &s.parameters,
                "/spec/templateRef",
            ),
            Spec::PolicyProfile(s) => {
                for (i, t) in s.default_templates.iter().enumerate() {
                    let none = BTreeMap::new();
                    policy_parameters(
                        model,
                        &mut d,
                        t,
                        &none,
                        &format!("/spec/defaultTemplates/{i}"),
                    );
                }
            }
            Spec::Repository(s) => {
                if let Some(delivery) = &s.delivery {
                    repository_delivery(&mut d, delivery, "/spec/delivery");
                }
            }
            Spec::Application(spec) => {
                repository_delivery(&mut d, spec, "/spec");
                // The Application a Repository's delivery generates has the repository's name.
                let generated = model
                    .lookup(d.r.org.as_deref(), "Repository", &d.r.name)
                    .filter(|repo| matches!(&repo.spec, Some(Spec::Repository(s)) if s.delivery.is_some()));
                if let Some(repo) = generated {
                    let r = d.r;
                    d.push(
                        Diagnostic::new(
                            Code::RepositoryDelivery,
                            format!("Application `{}` is also generated from Repository `{}`'s delivery", r.name, repo.name),
                        )
                        .at(r.file, r.span_of("/metadata/name"))
                        .related(repo.file, repo.span_of("/spec/delivery"), "the repository's delivery")
                        .help("keep one: remove spec.delivery from the repository, or this document"),
                    );
                }
            }
            Spec::AgentServiceAccount(s) => {
                if let Some(org) = &d.r.org {
                    let expected = crate::model::org_namespace(org);
                    if s.namespace != expected {
                        d.err(
                            Code::NamespaceMismatch,
                            "/spec/namespace",
                            &format!("the ServiceAccount namespace `{}` is not the organization's namespace", s.namespace),
                            &format!("agent identities live in `{expected}`"),
                        );
                    }
                }
            }
            Spec::AgentSecretGrant(s) => {
                grant_namespace(&mut d, &s.secret_ref, "/spec/secretRef/namespace")
            }
            Spec::AgentConfigGrant(s) => {
                grant_namespace(&mut d, &s.config_map_ref, "/spec/configMapRef/namespace")
            }
            Spec::AgentRoleBinding(s) if s.scope == BindingScope::Cluster => {
                d.err(
                    Code::RoleBindingScope,
                    "/spec/scope",
                    "an organization's AgentRoleBinding cannot grant cluster-wide access",
                    "use `scope: namespace`: agent RBAC is confined to the organization's namespace (spec §4.2); a namespaced binding may still reference a ClusterRole such as `view`",
                );
            }
            Spec::WebhookSubscription(s) => d.url("/spec/url", &s.url),
            Spec::ExternalBackendProvider(s) => d.url("/spec/endpoint", &s.endpoint),
            Spec::AgentGatewayConfig(s) => d.url("/spec/gatewayUrl", &s.gateway_url),
            Spec::AgentMcpServer(s) => {
                d.opt_url("/spec/endpoint", &s.endpoint);
                d.opt_url("/spec/discoveryUrl", &s.discovery_url);
            }
            Spec::AuthProvider(s) => {
                d.opt_url("/spec/authorizationUrl", &s.authorization_url);
                d.opt_url("/spec/tokenUrl", &s.token_url);
                d.opt_url("/spec/userInfoUrl", &s.user_info_url);
            }
            _ => {}
        }
    }
}

fn runner_pool(d: &mut Ctx<'_, '_>, s: &RunnerPoolSpec) {
    if s.max_replicas == 0 {
        d.err(
            Code::RunnerPoolReplicas,
            "/spec/maxReplicas",
            "maxReplicas must be at least 1",
            "a pool that can never run a runner is useless; set maxReplicas >= 1",
        );
    } else if s.max_replicas < s.warm_replicas {
        d.err(
            Code::RunnerPoolReplicas,
            "/spec/maxReplicas",
            &format!(
                "maxReplicas ({}) is smaller than warmReplicas ({})",
                s.max_replicas, s.warm_replicas
            ),
            "maxReplicas must be at least warmReplicas",
        );
    }
}

fn project(d: &mut Ctx<'_, '_>, s: &KradleProjectSpec) {
    let Some(cols) = &s.workflow_columns else {
        return;
    };
    if cols.is_empty() {
        d.err(
            Code::ProjectColumns,
            "/spec/workflowColumns",
            "workflowColumns must not be empty",
            "list at least one column, e.g. `- { id: backlog, displayName: Backlog, default: true }`",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, c) in cols.iter().enumerate() {
        if !seen.insert(c.id.as_str()) {
            d.err(
                Code::ProjectColumns,
                &format!("/spec/workflowColumns/{i}/id"),
                &format!("duplicate column id `{}`", c.id),
                "column ids are unique within a project",
            );
        }
    }
    let defaults: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| c.default == Some(true))
        .map(|(i, _)| i)
        .collect();
    if let Some(second) = defaults.get(1) {
        d.err(
            Code::ProjectColumns,
            &format!("/spec/workflowColumns/{second}/default"),
            "more than one column has `default: true`",
            "new issues land in the single default column; keep one",
        );
    }
}

fn subagent(d: &mut Ctx<'_, '_>, s: &AgentSubagentSpec) {
    if s.task_kinds.is_empty() {
        d.err(
            Code::SubagentTaskKinds,
            "/spec/taskKinds",
            "taskKinds must not be empty",
            "list the task kinds this subagent handles, e.g. `[fix, review]`",
        );
    }
    for (i, t) in s.task_kinds.iter().enumerate() {
        if t.trim().is_empty() {
            d.err(
                Code::SubagentTaskKinds,
                &format!("/spec/taskKinds/{i}"),
                "a task kind must not be empty",
                "remove the empty entry",
            );
        }
    }
}

fn skill(d: &mut Ctx<'_, '_>, s: &AgentSkillSpec) {
    match &s.source_ref {
        SkillSource::Url(u) if !is_http_url(u) => d.err(
            Code::SkillSource,
            "/spec/sourceRef",
            "sourceRef is not an http(s) URL",
            "use `https://...`, or `{ repository: <name>, path: <file> }` for a Repository of the organization",
        ),
        SkillSource::Repository(src) if src.path.trim().is_empty() => d.err(
            Code::SkillSource,
            "/spec/sourceRef/path",
            "sourceRef.path must not be empty",
            "name the skill file inside the repository",
        ),
        _ => {}
    }
}

fn capability_manifest(
    model: &Model,
    d: &mut Ctx<'_, '_>,
    s: &ExternalProviderCapabilityManifestSpec,
) {
    if s.capabilities.interfaces.is_empty() {
        d.err(
            Code::CapabilityManifest,
            "/spec/capabilities/interfaces",
            "interfaces must not be empty",
            "list at least one of gitForge, issueTracking, cicd",
        );
    }
    let declared = &s.capabilities.provider_type;
    if declared.trim().is_empty() {
        d.err(
            Code::CapabilityManifest,
            "/spec/capabilities/providerType",
            "providerType must not be empty",
            "set the provider type, e.g. `github`",
        );
        return;
    }
    let provider = model
        .lookup(
            d.r.org.as_deref(),
            "ExternalBackendProvider",
            s.provider_ref.name(),
        )
        .and_then(|p| p.spec.as_ref());
    if let Some(Spec::ExternalBackendProvider(p)) = provider {
        let actual = serde_json::to_value(p.provider_type)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        if actual != *declared {
            d.err(
                Code::CapabilityManifest,
                "/spec/capabilities/providerType",
                &format!(
                    "providerType `{declared}` disagrees with provider `{}` (`{actual}`)",
                    s.provider_ref.name()
                ),
                "the manifest describes its provider; use the provider's providerType",
            );
        }
    }
}

/// Active SSH keys by (organization, fingerprint).
type KeyIndex<'a> = BTreeMap<(Option<String>, String), &'a Resource>;

fn ssh_key<'r>(d: &mut Ctx<'r, '_>, s: &SSHKeySpec, keys: &mut KeyIndex<'r>) {
    match crate::sshkey::parse(&s.key) {
        Err(e) => d.err(
            Code::SshKey,
            "/spec/key",
            &format!("SSH key does not parse: {e}"),
            "paste the one-line public key, e.g. the content of ~/.ssh/id_ed25519.pub",
        ),
        Ok(key)
            if s.fingerprint
                .as_ref()
                .is_some_and(|f| *f != key.fingerprint()) =>
        {
            d.err(
                Code::SshKey,
                "/spec/fingerprint",
                "spec.fingerprint does not match the key",
                &format!(
                    "remove it (kradle computes it) or set `{}`",
                    key.fingerprint()
                ),
            )
        }
        Ok(key) if s.revoked != Some(true) => {
            let fp = key.fingerprint();
            let r = d.r;
            match keys.get(&(r.org.clone(), fp.clone())) {
                Some(first) => d.push(
                    Diagnostic::new(
                        Code::SshKey,
                        format!("SSH key {fp} is also declared by SSHKey `{}`", first.name),
                    )
                    .at(r.file, r.span_of("/spec/key"))
                    .label("same key material")
                    .related(first.file, first.span_of("/spec/key"), "first declared here")
                    .help("forges refuse the same public key twice; use one SSHKey, or a separate key per use"),
                ),
                None => {
                    keys.insert((r.org.clone(), fp), r);
                }
            }
        }
        Ok(_) => {}
    }
    match s.scope {
        KeyScope::Deploy if s.repository.is_none() => d.err(
            Code::SshKeyScope,
            "/spec/scope",
            "a deploy key needs `repository`",
            "set `repository: <name>` (deploy keys are added to one repository)",
        ),
        KeyScope::User if s.user.is_none() => d.err(
            Code::SshKeyScope,
            "/spec/scope",
            "a user key needs `user`",
            "set `user: <user name>`: `owner` is free text, and kradle cannot add a key for it",
        ),
        _ => {}
    }
}

fn exception(d: &mut Ctx<'_, '_>, s: &PolicyExceptionRequestSpec, options: &Options) {
    let active = s
        .decision
        .as_ref()
        .is_none_or(|dec| dec.phase == DecisionPhase::Approved);
    if active {
        d.expiry("/spec/expiresAt", &s.expires_at, options.now, "exception");
    } else {
        d.timestamp("/spec/expiresAt", &s.expires_at);
    }
    if let Some(dec) = &s.decision {
        d.timestamp("/spec/decision/decidedAt", &dec.decided_at);
        if dec.decided_by.trim().is_empty() {
            d.err(
                Code::PolicyDecision,
                "/spec/decision/decidedBy",
                "decidedBy must not be empty",
                "name who approved, denied or revoked the request",
            );
        }
    }
}

/// Every `[[ params.NAME ]]` of the bound template has a default or a value here.
fn policy_parameters(
    model: &Model,
    d: &mut Ctx<'_, '_>,
    template: &crate::model::Ref,
    given: &BTreeMap<String, serde_json::Value>,
    pointer: &str,
) {
    let org = d.r.org.as_deref();
    let found = model
        .lookup(org, "PolicyTemplate", template.name())
        .or_else(|| model.lookup(None, "PolicyTemplate", template.name()));
    let Some(Spec::PolicyTemplate(t)) = found.and_then(|t| t.spec.as_ref()) else {
        return;
    };
    let defined: Vec<&str> = t
        .parameters
        .iter()
        .filter(|(_, p)| p.default.as_ref().is_some_and(|v| !v.is_null()))
        .map(|(k, _)| k.as_str())
        .chain(given.keys().map(String::as_str))
        .collect();
    for name in crate::template::referenced_params(&t.kyverno) {
        if !defined.contains(&name.as_str()) {
            let mut diag = Diagnostic::new(
                Code::PolicyParameter,
                format!(
                    "PolicyTemplate `{}` uses parameter `{name}`, which has no value here",
                    template.name()
                ),
            )
            .at(d.r.file, d.r.span_of(pointer))
            .label(format!("`params.{name}` is undefined"));
            diag = if d.r.kind.kind == "PolicyProfile" {
                diag.help(format!("profiles bind templates with their defaults: give `{name}` a default in the template, or bind it with a PolicyBinding that sets it"))
            } else {
                diag.help(format!("set it under `spec.parameters:` (`{name}: <value>`), or give it a default in the template"))
            };
            d.push(diag);
        }
    }
}

/// `spec.delivery` is KubeVela's application spec: components with name and type.
fn repository_delivery(d: &mut Ctx<'_, '_>, delivery: &serde_json::Value, at: &str) {
    let help = "write KubeVela's shape, e.g. `components: [{ name: api, type: webservice, properties: { image: ... } }]`";
    let Some(map) = delivery.as_object() else {
        d.err(
            Code::RepositoryDelivery,
            at,
            "a delivery spec must be a mapping",
            help,
        );
        return;
    };
    for key in map.keys() {
        if !["components", "policies", "workflow"].contains(&key.as_str()) {
            d.err(
                Code::RepositoryDelivery,
                &format!("{at}/{key}"),
                &format!("unknown field `{key}` in the KubeVela application spec"),
                "a KubeVela application spec takes components, policies and workflow",
            );
        }
    }
    match map.get("components").and_then(|c| c.as_array()) {
        Some(components) if !components.is_empty() => {
            for (i, c) in components.iter().enumerate() {
                for field in ["name", "type"] {
                    if c.get(field)
                        .and_then(|v| v.as_str())
                        .is_none_or(str::is_empty)
                    {
                        d.err(
                            Code::RepositoryDelivery,
                            &format!("{at}/components/{i}"),
                            &format!("delivery component {i} has no `{field}`"),
                            help,
                        );
                    }
                }
            }
        }
        _ => d.err(
            Code::RepositoryDelivery,
            at,
            "a KubeVela application spec needs a non-empty `components` list",
            help,
        ),
    }
}

/// Grants name objects of the organization's own namespace.
fn grant_namespace(
    d: &mut Ctx<'_, '_>,
    target: &crate::model::common::ObjectKeysRef,
    pointer: &str,
) {
    let (Some(ns), Some(org)) = (&target.namespace, &d.r.org) else {
        return;
    };
    let expected = crate::model::org_namespace(org);
    if *ns != expected {
        d.err(
            Code::NamespaceMismatch,
            pointer,
            &format!("a grant can only name objects in `{expected}`, not `{ns}`"),
            "remove namespace (it defaults to the organization's) — organizations are isolated",
        );
    }
}

fn team(d: &mut Ctx<'_, '_>, s: &TeamSpec) {
    for (i, m) in s.maintainers.iter().enumerate() {
        if !s.members.contains(m) {
            let r = d.r;
            d.push(
                Diagnostic::new(
                    Code::TeamMaintainer,
                    format!(
                        "maintainer `{}` is not a member of team `{}`",
                        m.name(),
                        r.name
                    ),
                )
                .at(r.file, r.span_of(&format!("/spec/maintainers/{i}")))
                .help(format!("add `{}` to members", m.name())),
            );
        }
    }
}

struct Ctx<'r, 'd> {
    r: &'r Resource,
    diags: &'d mut Vec<Diagnostic>,
}

type RunnerPoolSpec = crate::model::repository::RunnerPoolSpec;
type SSHKeySpec = crate::model::repository::SSHKeySpec;
type KradleProjectSpec = crate::model::agents::KradleProjectSpec;
type AgentSubagentSpec = crate::model::agents::AgentSubagentSpec;
type AgentSkillSpec = crate::model::agents::AgentSkillSpec;
type TeamSpec = crate::model::identity::TeamSpec;
type PolicyExceptionRequestSpec = crate::model::policy::PolicyExceptionRequestSpec;
type ExternalProviderCapabilityManifestSpec =
    crate::model::external::ExternalProviderCapabilityManifestSpec;

impl Ctx<'_, '_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn err(&mut self, code: Code, pointer: &str, message: &str, help: &str) {
        self.diags.push(
            Diagnostic::new(code, message)
                .at(self.r.file, self.r.span_of(pointer))
                .help(help),
        );
    }

    fn opt_url(&mut self, pointer: &str, url: &Option<String>) {
        if let Some(u) = url {
            self.url(pointer, u);
        }
    }

    fn url(&mut self, pointer: &str, url: &str) {
        if !is_http_url(url) {
            self.err(
                Code::InvalidUrl,
                pointer,
                &format!(
                    "`{}` is not an absolute http(s) URL",
                    url.chars().take(80).collect::<String>()
                ),
                "use e.g. `https://host.example.com/path`",
            );
        }
    }

    fn timestamp(&mut self, pointer: &str, text: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.err(
                    Code::InvalidTimestamp,
                    pointer,
                    &format!("`{text}` is not an RFC 3339 timestamp"),
                    "use e.g. `2026-12-31T23:59:59Z`",
                );
                None
            }
        }
    }

    fn expiry(&mut self, pointer: &str, text: &str, now: DateTime<Utc>, what: &str) {
        if let Some(t) = self.timestamp(pointer, text) {
            if t <= now {
                let consequence = if what == "invite" {
                    "an expired invite is closed and can no longer be accepted"
                } else {
                    "an expired exception produces no Kyverno PolicyException"
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::Expired,
                        format!("this {what} expired at {}", t.format("%Y-%m-%dT%H:%M:%SZ")),
                    )
                    .at(self.r.file, self.r.span_of(pointer))
                    .label(format!("before now ({})", now.format("%Y-%m-%dT%H:%M:%SZ")))
                    .help(format!("{consequence}; remove it or extend expiresAt")),
                );
            }
        }
    }
}

pub fn is_http_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && !u.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn trigger_rule(
    model: &Model,
    d: &mut Ctx<'_, '_>,
    s: &crate::model::agents::AgentTriggerRuleSpec,
) {
    if s.sources.is_empty() {
        d.err(
            Code::TriggerSource,
            "/spec/sources",
            "sources must not be empty",
            "list the events that trigger the rule, e.g. `[issue_comment]`, or `[manual]`",
        );
    }
    let scheduled = s.sources.contains(&TriggerSource::Schedule);
    match (&s.cron_expression, scheduled) {
        (None, true) => d.err(
            Code::TriggerSource,
            "/spec/sources",
            "the `schedule` source needs `cronExpression`",
            "add e.g. `cronExpression: \"0 3 * * *\"`",
        ),
        (Some(_), false) => d.err(
            Code::TriggerSource,
            "/spec/cronExpression",
            "cronExpression is set but `schedule` is not among the sources",
            "add `schedule` to sources, or remove cronExpression",
        ),
        _ => {}
    }
    if let Some(c) = &s.cron_expression {
        if let Err(e) = cron::validate(c) {
            d.err(
                Code::InvalidCron,
                "/spec/cronExpression",
                &format!("invalid cron expression: {e}"),
                "fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12) day-of-week (0-7)",
            );
        }
    }
    if let Some(w) = &s.webhook_trigger {
        d.url("/spec/webhookTrigger/url", &w.url);
        for (i, e) in w.events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                let mut diag =
                    Diagnostic::new(Code::TriggerSource, format!("unknown webhook event `{e}`"))
                        .at(
                            d.r.file,
                            d.r.span_of(&format!("/spec/webhookTrigger/events/{i}")),
                        );
                diag = match crate::diagnostics::did_you_mean(e, WEBHOOK_EVENTS.iter().copied()) {
                    Some(b) => diag.help(format!("did you mean `{b}`?")),
                    None => diag.help(format!("known events: {}", WEBHOOK_EVENTS.join(", "))),
                };
                d.push(diag);
            }
        }
    }
    if let Some(c) = &s.comment_trigger {
        if c.pattern.trim().is_empty() {
            d.err(
                Code::TriggerSource,
                "/spec/commentTrigger/pattern",
                "the comment pattern must not be empty",
                "use a regular expression such as `^/kradle fix`",
            );
        } else if let Err(e) = regex::Regex::new(&c.pattern) {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            d.err(
                Code::TriggerSource,
                "/spec/commentTrigger/pattern",
                &format!("the comment pattern is not a valid regular expression: {first}"),
                "escape special characters such as `(`, `[` or `+` with a backslash",
            );
        }
    }
    if let Some(l) = &s.label_trigger {
        if l.labels.is_empty() || l.labels.iter().any(|x| x.trim().is_empty()) {
            d.err(
                Code::TriggerSource,
                "/spec/labelTrigger/labels",
                "labelTrigger.labels must be a non-empty list of label names",
                "e.g. `labels: [agent-fix]`",
            );
        }
    }
    // Task kind routing: the stack or one of its subagents should handle it.
    if let Some(Spec::AgentStack(stack)) = model
        .lookup(d.r.org.as_deref(), "AgentStack", s.agent_stack.name())
        .and_then(|st| st.spec.as_ref())
    {
        let mut kinds: Vec<String> = stack.task_kind.iter().cloned().collect();
        for sub in &stack.subagent_refs {
            if let Some(Spec::AgentSubagent(sa)) = model
                .lookup(d.r.org.as_deref(), "AgentSubagent", sub.name())
                .and_then(|x| x.spec.as_ref())
            {
                kinds.extend(sa.task_kinds.iter().cloned());
            }
        }
        if !kinds.is_empty() && !kinds.contains(&s.task_kind) {
            kinds.sort();
            kinds.dedup();
            d.push(
                Diagnostic::new(
                    Code::TriggerTaskKind,
                    format!(
                        "AgentStack `{}` does not handle task kind `{}`",
                        s.agent_stack.name(),
                        s.task_kind
                    ),
                )
                .at(d.r.file, d.r.span_of("/spec/taskKind"))
                .help(format!("the stack handles: {}", kinds.join(", "))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_http_url;

    #[test]
    fn urls() {
        assert!(is_http_url("https://a.example.com/x"));
        assert!(is_http_url("http://localhost:8080"));
        assert!(!is_http_url("ftp://a"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://a b"));
        assert!(!is_http_url("example.com"));
    }
}
