//! Reference resolution: every edge of spec §4.1 and every "References" /
//! "Belongs to" line of the kinds resolves within the organization of the
//! referring resource. A missing target is an error with the nearest existing
//! name; a target that exists only in another organization breaks org isolation.

use crate::diagnostics::{Code, Diagnostic, article, did_you_mean, field_path};
use crate::model::agents::SkillSource;
use crate::model::repository::SubjectKind;
use crate::model::ui::ViewSelector;
use crate::model::{Ref, Spec, TypedRef};

use super::{Model, Resource};

/// One reference held by a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// JSON Pointer of the reference in the document.
    pub pointer: String,
    /// Kinds the reference may name.
    pub targets: &'static [&'static str],
    /// The kind given in a `{ kind, name }` reference.
    pub kind: Option<String>,
    pub name: String,
}

struct Edges(Vec<Edge>);

impl Edges {
    fn one(&mut self, pointer: &str, targets: &'static [&'static str], r: &Ref) {
        self.0.push(Edge {
            pointer: pointer.into(),
            targets,
            kind: None,
            name: r.0.clone(),
        });
    }
    fn opt(&mut self, pointer: &str, targets: &'static [&'static str], r: &Option<Ref>) {
        if let Some(r) = r {
            self.one(pointer, targets, r);
        }
    }
    fn many(&mut self, pointer: &str, targets: &'static [&'static str], refs: &[Ref]) {
        for (i, r) in refs.iter().enumerate() {
            self.one(&format!("{pointer}/{i}"), targets, r);
        }
    }
    fn typed(&mut self, pointer: &str, targets: &'static [&'static str], r: &TypedRef) {
        self.0.push(Edge {
            pointer: pointer.into(),
            targets,
            kind: r.kind.clone(),
            name: r.name.clone(),
        });
    }
}

const USER: &[&str] = &["User"];
const TEAM: &[&str] = &["Team"];
const REPO: &[&str] = &["Repository"];
const SA: &[&str] = &["AgentServiceAccount"];

/// Kinds an AgentMemoryAssociation may point at: every config kind of an org.
const ANY_ORG_KIND: &[&str] = &[
    "User",
    "Team",
    "Invite",
    "IdentityMapping",
    "AuthProvider",
    "AgentServiceAccount",
    "AgentRoleBinding",
    "AgentSecretGrant",
    "AgentConfigGrant",
    "Repository",
    "SSHKey",
    "RepositoryPermission",
    "BranchProtection",
    "RefPolicy",
    "WebhookSubscription",
    "RunnerPool",
    "PolicyProfile",
    "PolicyTemplate",
    "PolicyBinding",
    "PolicyExceptionRequest",
    "View",
    "Selector",
    "AgentStack",
    "AgentSubagent",
    "AgentToolProfile",
    "AgentMcpServer",
    "AgentSkill",
    "AgentTriggerRule",
    "AgentContextLabel",
    "KradleWorkspacePolicy",
    "AgentAdapter",
    "AgentTransportBinding",
    "AgentProviderConfig",
    "AgentGatewayConfig",
    "KradleProject",
    "KradleWorkspace",
    "AgentMemoryRepository",
    "AgentMemorySource",
    "AgentMemoryOntology",
    "AgentMemoryAssociation",
    "ExternalBackendProvider",
    "ExternalBackendBinding",
    "ExternalBackendSyncPolicy",
    "ExternalProviderCapabilityManifest",
    "KradleInferenceService",
    "KradleServingRuntime",
    "ArtifactRegistry",
    "ArtifactFeed",
    "ArtifactAccessPolicy",
];

/// Every reference a spec holds, with where it is written.
pub fn edges(spec: &Spec) -> Vec<Edge> {
    let mut e = Edges(Vec::new());
    match spec {
        Spec::OrgNamespaceBinding(s) => e.one(
            "/spec/organizationRef",
            &["Organization"],
            &s.organization_ref,
        ),
        Spec::User(s) => e.many("/spec/teams", TEAM, &s.teams),
        Spec::Team(s) => {
            e.many("/spec/members", USER, &s.members);
            e.many("/spec/maintainers", USER, &s.maintainers);
            for (i, g) in s.repository_grants.iter().enumerate() {
                e.one(
                    &format!("/spec/repositoryGrants/{i}/repository"),
                    REPO,
                    &g.repository,
                );
            }
        }
        Spec::Invite(s) => e.many("/spec/teams", TEAM, &s.teams),
        Spec::IdentityMapping(s) => e.one("/spec/user", USER, &s.user),
        Spec::AgentRoleBinding(s) => e.typed(
            "/spec/subject",
            &["AgentServiceAccount", "User"],
            &s.subject,
        ),
        Spec::AgentSecretGrant(s) => e.one("/spec/subject", SA, &s.subject),
        Spec::AgentConfigGrant(s) => e.one("/spec/subject", SA, &s.subject),
        Spec::SSHKey(s) => {
            e.opt("/spec/repository", REPO, &s.repository);
            e.opt("/spec/user", USER, &s.user);
        }
        Spec::RepositoryPermission(s) => {
            e.one("/spec/repository", REPO, &s.repository);
            let target = match s.subject_kind {
                Some(SubjectKind::Team) => TEAM,
                _ => USER,
            };
            e.one("/spec/subject", target, &s.subject);
        }
        Spec::BranchProtection(s) => e.opt("/spec/repository", REPO, &s.repository),
        Spec::RefPolicy(s) => e.opt("/spec/repository", REPO, &s.repository),
        Spec::WebhookSubscription(s) => e.opt("/spec/repository", REPO, &s.repository),
        Spec::PolicyProfile(s) => e.many(
            "/spec/defaultTemplates",
            &["PolicyTemplate"],
            &s.default_templates,
        ),
        Spec::PolicyBinding(s) => {
            e.one("/spec/templateRef", &["PolicyTemplate"], &s.template_ref);
            e.many(
                "/spec/exceptions",
                &["PolicyExceptionRequest"],
                &s.exceptions,
            );
            if let Some(scope) = &s.scope {
                e.many("/spec/scope/repositories", REPO, &scope.repositories);
            }
        }
        Spec::PolicyExceptionRequest(s) => {
            e.one("/spec/policyRef", &["PolicyBinding"], &s.policy_ref)
        }
        Spec::View(s) => {
            if let ViewSelector::Ref(r) = &s.selector {
                e.one("/spec/selector", &["Selector"], r);
            }
        }
        Spec::AgentStack(s) => {
            e.one("/spec/adapter", &["AgentAdapter"], &s.adapter);
            e.one(
                "/spec/runtimeIdentity/serviceAccountRef",
                SA,
                &s.runtime_identity.service_account_ref,
            );
            e.opt("/spec/provider", &["AgentProviderConfig"], &s.provider);
            e.opt("/spec/toolPolicy", &["AgentToolProfile"], &s.tool_policy);
            e.opt(
                "/spec/toolPolicyRef",
                &["AgentToolProfile"],
                &s.tool_policy_ref,
            );
            e.many(
                "/spec/mcpServerRefs",
                &["AgentMcpServer"],
                &s.mcp_server_refs,
            );
            e.many("/spec/skillRefs", &["AgentSkill"], &s.skill_refs);
            e.many("/spec/subagentRefs", &["AgentSubagent"], &s.subagent_refs);
            e.many(
                "/spec/contextLabelRefs",
                &["AgentContextLabel"],
                &s.context_label_refs,
            );
            e.opt(
                "/spec/workspacePolicy",
                &["KradleWorkspacePolicy"],
                &s.workspace_policy,
            );
            if let Some(rp) = &s.runner_policy {
                e.one(
                    "/spec/runnerPolicy/runnerPoolRef",
                    &["RunnerPool"],
                    &rp.runner_pool_ref,
                );
            }
        }
        Spec::AgentSkill(s) => {
            if let SkillSource::Repository(src) = &s.source_ref {
                e.one("/spec/sourceRef/repository", REPO, &src.repository);
            }
        }
        Spec::AgentTriggerRule(s) => {
            e.one("/spec/agentStack", &["AgentStack"], &s.agent_stack);
            e.opt("/spec/repository", REPO, &s.repository);
            if let Some(w) = &s.webhook_trigger {
                e.opt("/spec/webhookTrigger/repository", REPO, &w.repository);
            }
            if let Some(c) = &s.comment_trigger {
                e.many("/spec/commentTrigger/repos", REPO, &c.repos);
            }
        }
        Spec::AgentTransportBinding(s) => {
            e.one("/spec/adapterRef", &["AgentAdapter"], &s.adapter_ref)
        }
        Spec::KradleProject(s) => {
            e.many("/spec/repositoryRefs", REPO, &s.repository_refs);
            e.many("/spec/stackRefs", &["AgentStack"], &s.stack_refs);
            for (i, sr) in s.sync_refs.iter().enumerate() {
                e.one(
                    &format!("/spec/syncRefs/{i}/bindingRef"),
                    &["ExternalBackendBinding"],
                    &sr.binding_ref,
                );
            }
        }
        Spec::KradleWorkspace(s) => e.one("/spec/repository", REPO, &s.repository),
        Spec::AgentMemoryRepository(s) => e.one("/spec/repositoryRef", REPO, &s.repository_ref),
        Spec::AgentMemorySource(s) => {
            e.one(
                "/spec/repositoryRef",
                &["AgentMemoryRepository"],
                &s.repository_ref,
            );
            e.typed(
                "/spec/appliesTo",
                &["Repository", "Team", "AgentStack", "AgentTriggerRule"],
                &s.applies_to,
            );
        }
        Spec::AgentMemoryOntology(s) => e.one(
            "/spec/memoryRepository",
            &["AgentMemoryRepository"],
            &s.memory_repository,
        ),
        Spec::AgentMemoryAssociation(s) => e.typed("/spec/targetRef", ANY_ORG_KIND, &s.target_ref),
        Spec::ExternalBackendBinding(s) => {
            e.one(
                "/spec/providerRef",
                &["ExternalBackendProvider"],
                &s.provider_ref,
            );
            if let Some(scope) = &s.scope {
                e.many("/spec/scope/repositories", REPO, &scope.repositories);
            }
        }
        Spec::ExternalBackendSyncPolicy(s) => e.one(
            "/spec/providerRef",
            &["ExternalBackendProvider"],
            &s.provider_ref,
        ),
        Spec::ExternalProviderCapabilityManifest(s) => e.one(
            "/spec/providerRef",
            &["ExternalBackendProvider"],
            &s.provider_ref,
        ),
        Spec::KradleInferenceService(s) => e.opt(
            "/spec/predictor/model/runtime",
            &["KradleServingRuntime"],
            &s.predictor.model.runtime,
        ),
        Spec::ArtifactFeed(s) => {
            e.one("/spec/registryRef", &["ArtifactRegistry"], &s.registry_ref);
            e.opt("/spec/repository", REPO, &s.repository);
        }
        Spec::ArtifactAccessPolicy(s) => {
            e.one("/spec/feedRef", &["ArtifactFeed"], &s.feed_ref);
            e.typed(
                "/spec/subject",
                &["User", "Team", "AgentServiceAccount"],
                &s.subject,
            );
        }
        _ => {}
    }
    e.0
}

/// The resource an edge of `from` names, if it exists in `from`'s organization.
pub fn resolve<'m>(model: &'m Model, from: &Resource, edge: &Edge) -> Option<&'m Resource> {
    let org = from.org.as_deref();
    let kinds: Vec<&str> = match &edge.kind {
        Some(k) => vec![k.as_str()],
        None => vec![edge.targets[0]],
    };
    kinds.iter().find_map(|k| {
        if *k == "Organization" {
            return model.lookup(None, k, &edge.name);
        }
        model.lookup(org, k, &edge.name).or_else(|| {
            // A platform-wide PolicyTemplate may be bound by any organization.
            (*k == "PolicyTemplate")
                .then(|| model.lookup(None, k, &edge.name))
                .flatten()
        })
    })
}

pub fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut undeclared: std::collections::BTreeMap<&str, Vec<&Resource>> = Default::default();
    for r in &model.resources {
        if let Some(org) = r.org.as_deref() {
            if model.lookup(None, "Organization", org).is_none() {
                undeclared.entry(org).or_default().push(r);
            }
        }
    }
    // The organization itself must be declared; reported once per organization.
    for (org, users) in &undeclared {
        let r = users[0];
        let pointer = if r.root.pointer("/spec/organizationRef").is_some() {
            "/spec/organizationRef"
        } else {
            "/metadata/name"
        };
        let others = if users.len() > 1 {
            format!(" (and {} more resources)", users.len() - 1)
        } else {
            String::new()
        };
        let mut d = Diagnostic::new(
            Code::UnresolvedReference,
            format!(
                "organization `{org}` of {} `{}`{others} is not declared",
                r.kind.kind, r.name
            ),
        )
        .at(r.file, r.span_of(pointer))
        .label("no such Organization");
        d = match did_you_mean(org, model.names_in(None, "Organization")) {
            Some(best) => d.help(format!("did you mean `{best}`?")),
            None => d.help(format!(
                "declare `kind: Organization` with `metadata.name: {org}`"
            )),
        };
        diags.push(d);
    }
    for r in &model.resources {
        let Some(spec) = &r.spec else { continue };
        for edge in edges(spec) {
            check_edge(model, r, &edge, diags);
        }
    }
}

fn check_edge(model: &Model, r: &Resource, edge: &Edge, diags: &mut Vec<Diagnostic>) {
    let span = r.span_of(&edge.pointer);
    let field = field_path(&edge.pointer);
    if let Some(kind) = &edge.kind {
        if !edge.targets.contains(&kind.as_str()) {
            let mut d = Diagnostic::new(
                Code::WrongReferenceKind,
                format!("`{field}` cannot reference {}", article(kind)),
            )
            .at(r.file, span)
            .label(format!("expected {}", edge.targets.join(", ")));
            if let Some(best) = did_you_mean(kind, edge.targets.iter().copied()) {
                d = d.help(format!("did you mean `{best}`?"));
            } else {
                d = d.help(format!("allowed kinds: {}", edge.targets.join(", ")));
            }
            diags.push(d);
            return;
        }
    }
    if resolve(model, r, edge).is_some() {
        return;
    }
    let kind = edge.kind.as_deref().unwrap_or(edge.targets[0]);
    let org = r.org.as_deref();
    let elsewhere: Vec<&str> = model
        .orgs_with(kind, &edge.name)
        .filter(|o| Some(*o) != org)
        .collect();
    if let (Some(other), Some(this)) = (elsewhere.first(), org) {
        diags.push(
            Diagnostic::new(
                Code::CrossOrgReference,
                format!("{kind} `{}` belongs to organization `{other}`, not `{this}`", edge.name),
            )
            .at(r.file, span)
            .label("reference across organizations")
            .help(format!(
                "organizations are isolated; declare {} `{}` in `{this}` or reference one of its own",
                article(kind),
                edge.name
            )),
        );
        return;
    }
    let mut d = Diagnostic::new(
        Code::UnresolvedReference,
        format!(
            "{kind} `{}` referenced by `{field}` does not exist{}",
            edge.name,
            org.map(|o| format!(" in organization `{o}`"))
                .unwrap_or_default()
        ),
    )
    .at(r.file, span)
    .label(format!("no such {kind}"));
    let mut candidates: Vec<&str> = model.names_in(org, kind).collect();
    if kind == "PolicyTemplate" {
        candidates.extend(model.names_in(None, kind));
    }
    d = match did_you_mean(&edge.name, candidates.iter().copied()) {
        Some(best) => d.help(format!("did you mean `{best}`?")),
        None => d.help(format!(
            "declare a {kind} named `{}`, or fix the name",
            edge.name
        )),
    };
    diags.push(d);
}
