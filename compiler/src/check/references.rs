//! Reference resolution: every edge of spec §4.1 and every "References" /
//! "Belongs to" line of the kinds resolves within the organization of the
//! referring resource. A missing target is an error with the nearest existing
//! name; a target that exists only in another organization breaks org isolation.

use crate::diagnostics::{Code, Diagnostic, article, did_you_mean, field_path};
use crate::model::agents::SkillSource;
use crate::model::repository::SubjectKind;
use crate::model::ui::ViewSelector;
use std::sync::LazyLock;

use crate::model::{KINDS, Kind, Ref, Scope, Spec, TypedRef};

use super::{Model, Resource};

/// One reference held by a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// JSON Pointer of the reference in the document.
    pub pointer: String,
    /// Kinds the reference may name.
    pub targets: &'static [Kind],
    /// The kind given in a `{ kind, name }` reference.
    pub kind: Option<String>,
    pub name: String,
}

struct Edges(Vec<Edge>);

impl Edges {
    fn one(&mut self, pointer: &str, targets: &'static [Kind], r: &Ref) {
        self.0.push(Edge {
            pointer: pointer.into(),
            targets,
            kind: None,
            name: r.0.clone(),
        });
    }
    fn opt(&mut self, pointer: &str, targets: &'static [Kind], r: &Option<Ref>) {
        if let Some(r) = r {
            self.one(pointer, targets, r);
        }
    }
    fn many(&mut self, pointer: &str, targets: &'static [Kind], refs: &[Ref]) {
        for (i, r) in refs.iter().enumerate() {
            self.one(&format!("{pointer}/{i}"), targets, r);
        }
    }
    fn typed(&mut self, pointer: &str, targets: &'static [Kind], r: &TypedRef) {
        self.0.push(Edge {
            pointer: pointer.into(),
            targets,
            kind: r.kind.clone(),
            name: r.name.clone(),
        });
    }
}

const USER: &[Kind] = &[Kind::User];
const TEAM: &[Kind] = &[Kind::Team];
const REPO: &[Kind] = &[Kind::Repository];
const SA: &[Kind] = &[Kind::AgentServiceAccount];

/// Kinds an AgentMemoryAssociation may point at: every config kind of an
/// organization, in registry order.
static ANY_ORG_KIND: LazyLock<Vec<Kind>> = LazyLock::new(|| {
    KINDS
        .iter()
        .filter(|k| k.is_config() && k.scope != Scope::Platform)
        .map(|k| k.id)
        .collect()
});

/// Every reference a spec holds, with where it is written.
pub fn edges(spec: &Spec) -> Vec<Edge> {
    let mut e = Edges(Vec::new());
    match spec {
        Spec::OrgNamespaceBinding(s) => e.one(
            "/spec/organizationRef",
            &[Kind::Organization],
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
            &[Kind::AgentServiceAccount, Kind::User],
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
            &[Kind::PolicyTemplate],
            &s.default_templates,
        ),
        Spec::PolicyBinding(s) => {
            e.one(
                "/spec/templateRef",
                &[Kind::PolicyTemplate],
                &s.template_ref,
            );
            e.many(
                "/spec/exceptions",
                &[Kind::PolicyExceptionRequest],
                &s.exceptions,
            );
            if let Some(scope) = &s.scope {
                e.many("/spec/scope/repositories", REPO, &scope.repositories);
            }
        }
        Spec::PolicyExceptionRequest(s) => {
            e.one("/spec/policyRef", &[Kind::PolicyBinding], &s.policy_ref)
        }
        Spec::View(s) => {
            if let ViewSelector::Ref(r) = &s.selector {
                e.one("/spec/selector", &[Kind::Selector], r);
            }
        }
        Spec::AgentStack(s) => {
            e.one("/spec/adapter", &[Kind::AgentAdapter], &s.adapter);
            e.one(
                "/spec/runtimeIdentity/serviceAccountRef",
                SA,
                &s.runtime_identity.service_account_ref,
            );
            e.opt("/spec/provider", &[Kind::AgentProviderConfig], &s.provider);
            e.opt(
                "/spec/toolPolicy",
                &[Kind::AgentToolProfile],
                &s.tool_policy,
            );
            e.opt(
                "/spec/toolPolicyRef",
                &[Kind::AgentToolProfile],
                &s.tool_policy_ref,
            );
            e.many(
                "/spec/mcpServerRefs",
                &[Kind::AgentMcpServer],
                &s.mcp_server_refs,
            );
            e.many("/spec/skillRefs", &[Kind::AgentSkill], &s.skill_refs);
            e.many(
                "/spec/subagentRefs",
                &[Kind::AgentSubagent],
                &s.subagent_refs,
            );
            e.many(
                "/spec/contextLabelRefs",
                &[Kind::AgentContextLabel],
                &s.context_label_refs,
            );
            e.opt(
                "/spec/workspacePolicy",
                &[Kind::KradleWorkspacePolicy],
                &s.workspace_policy,
            );
            if let Some(rp) = &s.runner_policy {
                e.one(
                    "/spec/runnerPolicy/runnerPoolRef",
                    &[Kind::RunnerPool],
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
            e.one("/spec/agentStack", &[Kind::AgentStack], &s.agent_stack);
            e.opt("/spec/repository", REPO, &s.repository);
            if let Some(w) = &s.webhook_trigger {
                e.opt("/spec/webhookTrigger/repository", REPO, &w.repository);
            }
            if let Some(c) = &s.comment_trigger {
                e.many("/spec/commentTrigger/repos", REPO, &c.repos);
            }
        }
        Spec::AgentTransportBinding(s) => {
            e.one("/spec/adapterRef", &[Kind::AgentAdapter], &s.adapter_ref)
        }
        Spec::KradleProject(s) => {
            e.many("/spec/repositoryRefs", REPO, &s.repository_refs);
            e.many("/spec/stackRefs", &[Kind::AgentStack], &s.stack_refs);
            for (i, sr) in s.sync_refs.iter().enumerate() {
                e.one(
                    &format!("/spec/syncRefs/{i}/bindingRef"),
                    &[Kind::ExternalBackendBinding],
                    &sr.binding_ref,
                );
            }
        }
        Spec::KradleWorkspace(s) => e.one("/spec/repository", REPO, &s.repository),
        Spec::AgentMemoryRepository(s) => e.one("/spec/repositoryRef", REPO, &s.repository_ref),
        Spec::AgentMemorySource(s) => {
            e.one(
                "/spec/repositoryRef",
                &[Kind::AgentMemoryRepository],
                &s.repository_ref,
            );
            e.typed(
                "/spec/appliesTo",
                &[
                    Kind::Repository,
                    Kind::Team,
                    Kind::AgentStack,
                    Kind::AgentTriggerRule,
                ],
                &s.applies_to,
            );
        }
        Spec::AgentMemoryOntology(s) => e.one(
            "/spec/memoryRepository",
            &[Kind::AgentMemoryRepository],
            &s.memory_repository,
        ),
        Spec::AgentMemoryAssociation(s) => e.typed("/spec/targetRef", &ANY_ORG_KIND, &s.target_ref),
        Spec::ExternalBackendBinding(s) => {
            e.one(
                "/spec/providerRef",
                &[Kind::ExternalBackendProvider],
                &s.provider_ref,
            );
            if let Some(scope) = &s.scope {
                e.many("/spec/scope/repositories", REPO, &scope.repositories);
            }
        }
        Spec::ExternalBackendSyncPolicy(s) => e.one(
            "/spec/providerRef",
            &[Kind::ExternalBackendProvider],
            &s.provider_ref,
        ),
        Spec::ExternalProviderCapabilityManifest(s) => e.one(
            "/spec/providerRef",
            &[Kind::ExternalBackendProvider],
            &s.provider_ref,
        ),
        Spec::KradleInferenceService(s) => e.opt(
            "/spec/predictor/model/runtime",
            &[Kind::KradleServingRuntime],
            &s.predictor.model.runtime,
        ),
        Spec::ArtifactFeed(s) => {
            e.one(
                "/spec/registryRef",
                &[Kind::ArtifactRegistry],
                &s.registry_ref,
            );
            e.opt("/spec/repository", REPO, &s.repository);
        }
        Spec::ArtifactAccessPolicy(s) => {
            e.one("/spec/feedRef", &[Kind::ArtifactFeed], &s.feed_ref);
            e.typed(
                "/spec/subject",
                &[Kind::User, Kind::Team, Kind::AgentServiceAccount],
                &s.subject,
            );
        }
        _ => {}
    }
    e.0
}

impl Edge {
    /// The kind the reference names: the one written in a `{ kind, name }`
    /// reference when it is allowed (and known), else the first target.
    pub fn target(&self) -> Option<Kind> {
        match &self.kind {
            Some(k) => self.targets.iter().copied().find(|t| t.as_str() == k),
            None => self.targets.first().copied(),
        }
    }
}

/// The resource an edge of `from` names, if it exists in `from`'s organization.
pub fn resolve<'m>(model: &'m Model, from: &Resource, edge: &Edge) -> Option<&'m Resource> {
    let kind = edge.target()?;
    if kind == Kind::Organization {
        return model.lookup(None, kind, &edge.name);
    }
    model
        .lookup(from.org.as_deref(), kind, &edge.name)
        // A platform-wide PolicyTemplate may be bound by any organization.
        .or_else(|| {
            (kind == Kind::PolicyTemplate)
                .then(|| model.lookup(None, kind, &edge.name))
                .flatten()
        })
}

pub fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut undeclared: std::collections::BTreeMap<&str, Vec<&Resource>> = Default::default();
    for r in &model.resources {
        if let Some(org) = r.org.as_deref() {
            if model.lookup(None, Kind::Organization, org).is_none() {
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
        d = match did_you_mean(org, model.names_in(None, Kind::Organization)) {
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
    let names: Vec<&str> = edge.targets.iter().map(|k| k.as_str()).collect();
    if let Some(kind) = &edge.kind {
        if !names.contains(&kind.as_str()) {
            let mut d = Diagnostic::new(
                Code::WrongReferenceKind,
                format!("`{field}` cannot reference {}", article(kind)),
            )
            .at(r.file, span)
            .label(format!("expected {}", names.join(", ")));
            if let Some(best) = did_you_mean(kind, names.iter().copied()) {
                d = d.help(format!("did you mean `{best}`?"));
            } else {
                d = d.help(format!("allowed kinds: {}", names.join(", ")));
            }
            diags.push(d);
            return;
        }
    }
    if resolve(model, r, edge).is_some() {
        return;
    }
    let Some(kind) = edge.target() else { return };
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
                article(kind.as_str()),
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
    if kind == Kind::PolicyTemplate {
        candidates.extend(model.names_in(None, kind));
        // Unused built-ins are not in the model; their names still are.
        candidates.extend(crate::builtin::POLICY_TEMPLATES.iter().map(|(n, _)| *n));
    }
    d = match did_you_mean(&edge.name, candidates.iter().copied()) {
        Some(best) => d.help(format!("did you mean `{best}`?")),
        None if kind == Kind::PolicyTemplate => d.help(format!(
            "declare a PolicyTemplate named `{}`, or bind one of kradle's built-in templates \
             (docs/policies.md)",
            edge.name,
        )),
        None => d.help(format!(
            "declare a {kind} named `{}`, or fix the name",
            edge.name
        )),
    };
    diags.push(d);
}
