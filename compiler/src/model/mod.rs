//! The typed model: one Rust type per kind of the spec, and the registry that
//! ties each kind to its schema, storage class and scope.
//!
//! The same types give the JSON Schema used for validation and editors, the
//! CRD of each config kind, and the typed values later passes lower.

pub mod agents;
pub mod artifacts;
pub mod common;
pub mod controlplane;
pub mod external;
pub mod identity;
pub mod inference;
pub mod memory;
pub mod policy;
pub mod repo;
pub mod repository;
pub mod ui;
pub mod workspace;

use schemars::{Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Value, json};

pub use common::{Metadata, Ref, TypedRef};
pub use repo::{Model, Resource};

pub const GROUP: &str = "kradle.a5c.ai";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "kradle.a5c.ai/v1alpha1";
/// The group of the aggregated kinds, served by `kradle serve` through an
/// APIService. It is not [`GROUP`]: an APIService claims a whole group
/// version, and `kradle.a5c.ai/v1alpha1` belongs to the CRDs.
pub const DATA_GROUP: &str = "data.kradle.a5c.ai";
pub const DATA_API_VERSION: &str = "data.kradle.a5c.ai/v1alpha1";
pub const VELA_API_VERSION: &str = "core.oam.dev/v1beta1";
pub const DEFAULT_PLATFORM_NAMESPACE: &str = "kradle-system";
pub const ORG_LABEL: &str = "kradle.a5c.ai/org";
pub const NAMESPACE_LABEL: &str = "kradle.a5c.ai/namespace";

/// Where a kind is stored (spec Part 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// etcd, through a CRD; declared in the config repository.
    Config,
    /// Postgres, through the aggregated API; written by the runtime only.
    Aggregated,
    /// Another project's kind kradle accepts in config and passes through,
    /// org-scoped: KubeVela's `core.oam.dev/v1beta1` Application.
    Foreign,
}

/// Which namespace a kind lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The platform namespace (`kradle-system`).
    Platform,
    /// The organization's namespace `kradle-org-<slug>`.
    Org,
    /// An org's namespace, or the platform when no organization is given
    /// (PolicyTemplate: a platform-wide template any org may bind).
    OrgOrPlatform,
}

pub struct KindInfo {
    /// The kind as a type.
    pub id: Kind,
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub storage: Storage,
    pub scope: Scope,
    pub domain: &'static str,
    spec_schema: fn(&mut SchemaGenerator) -> Schema,
}

impl std::fmt::Debug for KindInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind)
    }
}

impl PartialEq for KindInfo {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

macro_rules! kinds {
    ($($kind:ident: $spec:ty, $plural:literal, $storage:ident, $scope:ident, $domain:literal;)*) => {
        /// The typed spec of a document, one variant per kind.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Spec { $($kind($spec),)* }

        /// Every kind of the spec, one variant each, in registry order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $($kind,)* }

        impl Kind {
            /// The kind's name, as written in `kind:`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Kind::$kind => stringify!($kind),)* }
            }
        }

        $(impl KindSpec for $spec {
            const KIND: Kind = Kind::$kind;
            fn of(spec: &Spec) -> Option<&Self> {
                match spec {
                    Spec::$kind(s) => Some(s),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
            fn from_spec(spec: Spec) -> Option<Self> {
                match spec {
                    Spec::$kind(s) => Some(s),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        })*

        pub static KINDS: &[KindInfo] = &[
            $(KindInfo {
                id: Kind::$kind,
                api_version: match Storage::$storage {
                    Storage::Foreign => VELA_API_VERSION,
                    Storage::Aggregated => DATA_API_VERSION,
                    _ => API_VERSION,
                },
                kind: stringify!($kind),
                plural: $plural,
                storage: Storage::$storage,
                scope: Scope::$scope,
                domain: $domain,
                spec_schema: |g| g.subschema_for::<$spec>(),
            },)*
        ];

        impl Spec {
            /// Deserializes the `spec` of a document of `kind`.
            pub fn from_json(kind: &str, value: Value) -> Result<Spec, serde_json::Error> {
                match kind {
                    $(stringify!($kind) => serde_json::from_value::<$spec>(value).map(Spec::$kind),)*
                    other => Err(serde::de::Error::custom(format!("unknown kind {other}"))),
                }
            }

            /// The kind of this spec.
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$kind(_) => Kind::$kind,)* }
            }

            pub fn to_json(&self) -> Value {
                match self {
                    $(Spec::$kind(s) => serde_json::to_value(s).unwrap_or(Value::Null),)*
                }
            }
        }
    };
}

use agents::*;
use artifacts::*;
use controlplane::*;
use external::*;
use identity::*;
use inference::*;
use memory::*;
use policy::*;
use repository::*;
use ui::*;
use workspace::*;

kinds! {
    // identity
    Organization: OrganizationSpec, "organizations", Config, Platform, "identity";
    OrgNamespaceBinding: OrgNamespaceBindingSpec, "orgnamespacebindings", Config, Platform, "identity";
    User: UserSpec, "users", Config, Org, "identity";
    Team: TeamSpec, "teams", Config, Org, "identity";
    Invite: InviteSpec, "invites", Config, Org, "identity";
    IdentityMapping: IdentityMappingSpec, "identitymappings", Config, Org, "identity";
    AuthProvider: AuthProviderSpec, "authproviders", Config, Org, "identity";
    AgentServiceAccount: AgentServiceAccountSpec, "agentserviceaccounts", Config, Org, "identity";
    AgentRoleBinding: AgentRoleBindingSpec, "agentrolebindings", Config, Org, "identity";
    AgentSecretGrant: AgentSecretGrantSpec, "agentsecretgrants", Config, Org, "identity";
    AgentConfigGrant: AgentConfigGrantSpec, "agentconfiggrants", Config, Org, "identity";
    // repository
    Repository: RepositorySpec, "repositories", Config, Org, "repository";
    SSHKey: SSHKeySpec, "sshkeys", Config, Org, "repository";
    RepositoryPermission: RepositoryPermissionSpec, "repositorypermissions", Config, Org, "repository";
    BranchProtection: BranchProtectionSpec, "branchprotections", Config, Org, "repository";
    RefPolicy: RefPolicySpec, "refpolicies", Config, Org, "repository";
    WebhookSubscription: WebhookSubscriptionSpec, "webhooksubscriptions", Config, Org, "repository";
    RunnerPool: RunnerPoolSpec, "runnerpools", Config, Org, "repository";
    // policy
    PolicyProfile: PolicyProfileSpec, "policyprofiles", Config, Org, "policy";
    PolicyTemplate: PolicyTemplateSpec, "policytemplates", Config, OrgOrPlatform, "policy";
    PolicyBinding: PolicyBindingSpec, "policybindings", Config, Org, "policy";
    PolicyExceptionRequest: PolicyExceptionRequestSpec, "policyexceptionrequests", Config, Org, "policy";
    // ui
    View: ViewSpec, "views", Config, Org, "ui";
    Selector: SelectorSpec, "selectors", Config, Org, "ui";
    // agents
    AgentStack: AgentStackSpec, "agentstacks", Config, Org, "agents";
    AgentSubagent: AgentSubagentSpec, "agentsubagents", Config, Org, "agents";
    AgentToolProfile: AgentToolProfileSpec, "agenttoolprofiles", Config, Org, "agents";
    AgentMcpServer: AgentMcpServerSpec, "agentmcpservers", Config, Org, "agents";
    AgentSkill: AgentSkillSpec, "agentskills", Config, Org, "agents";
    AgentTriggerRule: AgentTriggerRuleSpec, "agenttriggerrules", Config, Org, "agents";
    AgentContextLabel: AgentContextLabelSpec, "agentcontextlabels", Config, Org, "agents";
    KradleWorkspacePolicy: KradleWorkspacePolicySpec, "kradleworkspacepolicies", Config, Org, "agents";
    AgentAdapter: AgentAdapterSpec, "agentadapters", Config, Org, "agents";
    AgentTransportBinding: AgentTransportBindingSpec, "agenttransportbindings", Config, Org, "agents";
    AgentProviderConfig: AgentProviderConfigSpec, "agentproviderconfigs", Config, Org, "agents";
    AgentGatewayConfig: AgentGatewayConfigSpec, "agentgatewayconfigs", Config, Org, "agents";
    KradleProject: KradleProjectSpec, "kradleprojects", Config, Org, "agents";
    // workspace
    KradleWorkspace: KradleWorkspaceSpec, "kradleworkspaces", Config, Org, "workspace";
    // memory
    AgentMemoryRepository: AgentMemoryRepositorySpec, "agentmemoryrepositories", Config, Org, "memory";
    AgentMemorySource: AgentMemorySourceSpec, "agentmemorysources", Config, Org, "memory";
    AgentMemoryOntology: AgentMemoryOntologySpec, "agentmemoryontologies", Config, Org, "memory";
    AgentMemoryAssociation: AgentMemoryAssociationSpec, "agentmemoryassociations", Config, Org, "memory";
    // external
    ExternalBackendProvider: ExternalBackendProviderSpec, "externalbackendproviders", Config, Org, "external";
    ExternalBackendBinding: ExternalBackendBindingSpec, "externalbackendbindings", Config, Org, "external";
    ExternalBackendSyncPolicy: ExternalBackendSyncPolicySpec, "externalbackendsyncpolicies", Config, Org, "external";
    ExternalProviderCapabilityManifest: ExternalProviderCapabilityManifestSpec, "externalprovidercapabilitymanifests", Config, Org, "external";
    // inference
    KradleInferenceService: KradleInferenceServiceSpec, "kradleinferenceservices", Config, Org, "inference";
    KradleServingRuntime: KradleServingRuntimeSpec, "kradleservingruntimes", Config, Org, "inference";
    // artifacts
    ArtifactRegistry: ArtifactRegistrySpec, "artifactregistries", Config, Org, "artifacts";
    ArtifactFeed: ArtifactFeedSpec, "artifactfeeds", Config, Org, "artifacts";
    ArtifactAccessPolicy: ArtifactAccessPolicySpec, "artifactaccesspolicies", Config, Org, "artifacts";
    // aggregated: agents
    AgentDispatchRun: AgentDispatchRunSpec, "agentdispatchruns", Aggregated, Org, "agents";
    AgentDispatchAttempt: AgentDispatchAttemptSpec, "agentdispatchattempts", Aggregated, Org, "agents";
    AgentSession: AgentSessionSpec, "agentsessions", Aggregated, Org, "agents";
    AgentContextBundle: AgentContextBundleSpec, "agentcontextbundles", Aggregated, Org, "agents";
    KradleArtifact: KradleArtifactSpec, "kradleartifacts", Aggregated, Org, "agents";
    AgentApproval: AgentApprovalSpec, "agentapprovals", Aggregated, Org, "agents";
    AgentTriggerExecution: AgentTriggerExecutionSpec, "agenttriggerexecutions", Aggregated, Org, "agents";
    AgentCapabilityRequirement: AgentCapabilityRequirementSpec, "agentcapabilityrequirements", Aggregated, Org, "agents";
    WorkItemSessionLink: WorkItemSessionLinkSpec, "workitemsessionlinks", Aggregated, Org, "agents";
    WorkItemWorkspaceLink: WorkItemWorkspaceLinkSpec, "workitemworkspacelinks", Aggregated, Org, "agents";
    AgentSessionTranscript: AgentSessionTranscriptSpec, "agentsessiontranscripts", Aggregated, Org, "agents";
    AgentSessionAttachment: AgentSessionAttachmentSpec, "agentsessionattachments", Aggregated, Org, "agents";
    KradleWorkspaceRuntime: KradleWorkspaceRuntimeSpec, "kradleworkspaceruntimes", Aggregated, Org, "workspace";
    // aggregated: memory
    AgentMemorySnapshot: AgentMemorySnapshotSpec, "agentmemorysnapshots", Aggregated, Org, "memory";
    AgentMemoryQuery: AgentMemoryQuerySpec, "agentmemoryqueries", Aggregated, Org, "memory";
    AgentMemoryUpdate: AgentMemoryUpdateSpec, "agentmemoryupdates", Aggregated, Org, "memory";
    AgentRunMemoryImport: AgentRunMemoryImportSpec, "agentrunmemoryimports", Aggregated, Org, "memory";
    // aggregated: external
    ExternalWebhookDelivery: ExternalWebhookDeliverySpec, "externalwebhookdeliveries", Aggregated, Org, "external";
    ExternalSyncEvent: ExternalSyncEventSpec, "externalsyncevents", Aggregated, Org, "external";
    ExternalSyncState: ExternalSyncStateSpec, "externalsyncstates", Aggregated, Org, "external";
    ExternalWriteIntent: ExternalWriteIntentSpec, "externalwriteintents", Aggregated, Org, "external";
    ExternalSyncConflict: ExternalSyncConflictSpec, "externalsyncconflicts", Aggregated, Org, "external";
    ExternalObjectLink: ExternalObjectLinkSpec, "externalobjectlinks", Aggregated, Org, "external";
    // aggregated: control plane and CI/CD
    PullRequest: PullRequestSpec, "pullrequests", Aggregated, Org, "controlplane";
    Issue: IssueSpec, "issues", Aggregated, Org, "controlplane";
    Review: ReviewSpec, "reviews", Aggregated, Org, "controlplane";
    Pipeline: PipelineSpec, "pipelines", Aggregated, Org, "cicd";
    Job: JobSpec, "jobs", Aggregated, Org, "cicd";
    WebhookDelivery: WebhookDeliverySpec, "webhookdeliveries", Aggregated, Org, "hooks";
    // aggregated: artifacts
    ArtifactVersion: ArtifactVersionSpec, "artifactversions", Aggregated, Org, "artifacts";
    ArtifactDownload: ArtifactDownloadSpec, "artifactdownloads", Aggregated, Org, "artifacts";
    // foreign: hand-written KubeVela Applications, validated and org-scoped
    Application: common::Any, "applications", Foreign, Org, "delivery";
}

/// A spec type of one kind: typed access to the resources of that kind.
pub trait KindSpec: Sized {
    const KIND: Kind;
    /// The spec, when `spec` is of this kind.
    fn of(spec: &Spec) -> Option<&Self>;
    /// The spec, when `spec` is of this kind, by value.
    fn from_spec(spec: Spec) -> Option<Self>;
}

impl Kind {
    /// The registry entry of this kind.
    pub fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }

    /// The kind named `name`, of any storage.
    pub fn from_name(name: &str) -> Option<Kind> {
        kind_info(name).map(|k| k.id)
    }

    /// Every kind, in registry order.
    pub fn all() -> impl Iterator<Item = Kind> {
        KINDS.iter().map(|k| k.id)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds of a config duration: digits and a unit, repeated (`30s`, `5m`,
/// `1h`, `1d`, `1h30m`), or `0`. `None` when it is not one.
pub fn duration_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    digits.is_empty().then_some(total)
}

pub fn kind_info(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The kind of a document, by apiVersion group and kind.
pub fn kind_for(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    let group = api_version.split('/').next().unwrap_or_default();
    KINDS
        .iter()
        .find(|k| k.kind == kind && k.api_version.split('/').next() == Some(group))
}

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12()
}

impl KindInfo {
    /// The JSON Schema of a whole document of this kind (apiVersion, kind,
    /// metadata, spec), self-contained with its `$defs`.
    pub fn document_schema(&self) -> Value {
        let mut generator = SchemaGenerator::new(settings());
        let spec = (self.spec_schema)(&mut generator);
        let metadata = generator.subschema_for::<Metadata>();
        let mut defs: serde_json::Map<String, Value> = generator.take_definitions(true);
        // Every spec has one; said once here.
        for def in defs.values_mut() {
            let required = def["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|f| f == "organizationRef"));
            if let Some(org) = def
                .pointer_mut("/properties/organizationRef")
                .and_then(Value::as_object_mut)
            {
                org.entry("description").or_insert_with(|| {
                    json!(if required {
                        "The Organization it belongs to."
                    } else {
                        "The Organization it belongs to; when omitted, the one of the \
                         `orgs/<slug>/` folder the file is in."
                    })
                });
            }
        }
        let mut spec = spec.to_value();
        if spec == Value::Bool(true) {
            // Anything (a foreign kind's spec): `{}` says the same and can
            // carry a description.
            spec = json!({});
        }
        // The spec type's own description, else a generic one.
        let described = spec["$ref"]
            .as_str()
            .and_then(|r| defs.get(r.trim_start_matches("#/$defs/")))
            .is_some_and(|d| d.get("description").is_some());
        if let Some(spec) = spec.as_object_mut().filter(|_| !described) {
            spec.entry("description")
                .or_insert_with(|| json!(format!("The desired state of the {}.", self.kind)));
        }
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": format!("https://kradle.a5c.ai/schemas/{}.json", self.kind),
            "title": self.kind,
            "type": "object",
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {
                "apiVersion": {
                    "const": self.api_version,
                    "description": format!("Always `{}`.", self.api_version),
                },
                "kind": {
                    "const": self.kind,
                    "description": format!("Always `{}`.", self.kind),
                },
                "metadata": metadata.to_value(),
                "spec": spec,
            },
            "additionalProperties": false,
            "$defs": Value::Object(defs),
        })
    }

    pub fn is_config(&self) -> bool {
        self.storage == Storage::Config
    }
}

/// normalizeOrgSlug(): lowercase; every run of characters other than `a-z0-9`
/// becomes one `-`; no leading or trailing `-`; at most 52 characters so that
/// `kradle-org-<slug>` is a valid namespace name (63).
pub fn normalize_org_slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug = slug.trim_matches('-').to_string();
    slug.truncate(52);
    slug.trim_end_matches('-').to_string()
}

/// The prefix of every organization's namespace.
pub const ORG_NAMESPACE_PREFIX: &str = "kradle-org-";

/// The namespace of an organization: `kradle-org-<slug>`.
pub fn org_namespace(slug: &str) -> String {
    format!("{ORG_NAMESPACE_PREFIX}{slug}")
}

/// The organization whose namespace `namespace` is, if it is one
/// (`kradle-org-acme` → `acme`): [`org_namespace`] read backwards.
pub fn org_of_namespace(namespace: &str) -> Option<&str> {
    namespace
        .strip_prefix(ORG_NAMESPACE_PREFIX)
        .filter(|slug| !slug.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_namespace_reads_back_to_its_org() {
        assert_eq!(org_of_namespace(&org_namespace("acme")), Some("acme"));
        assert_eq!(org_of_namespace("kradle-org-"), None);
        assert_eq!(org_of_namespace("default"), None);
    }

    #[test]
    fn registry_counts_match_the_spec() {
        let config = KINDS
            .iter()
            .filter(|k| k.storage == Storage::Config)
            .count();
        let aggregated = KINDS
            .iter()
            .filter(|k| k.storage == Storage::Aggregated)
            .count();
        assert_eq!(config, 51);
        assert_eq!(aggregated, 31);
    }

    #[test]
    fn kinds_index_the_registry() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.id as usize, i);
            assert_eq!(k.id.as_str(), k.kind);
            assert_eq!(Kind::from_name(k.kind), Some(k.id));
            assert_eq!(k.id.info().kind, k.kind);
        }
        assert_eq!(Kind::from_name("Nope"), None);
    }

    #[test]
    fn slug_normalization() {
        assert_eq!(normalize_org_slug("Acme Corp"), "acme-corp");
        assert_eq!(normalize_org_slug("--a__b--"), "a-b");
        assert_eq!(normalize_org_slug(&"x".repeat(80)).len(), 52);
    }

    #[test]
    fn every_kind_has_a_document_schema_requiring_spec() {
        for k in KINDS {
            let s = k.document_schema();
            assert_eq!(s["properties"]["kind"]["const"], k.kind);
            assert_eq!(s["properties"]["apiVersion"]["const"], k.api_version);
            assert!(s["required"].as_array().unwrap().contains(&json!("spec")));
            // Our kinds have typed specs; a foreign kind's spec is checked by rules.
            assert!(
                s["properties"]["spec"].is_object() || k.storage == Storage::Foreign,
                "{}",
                k.kind
            );
        }
    }
}
