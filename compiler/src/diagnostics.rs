//! Diagnostics: what a check reports, and the registry of every code.
//!
//! Codes are stable: once published, a code keeps its meaning and is never
//! reused. `docs/diagnostics.md` is rendered from [`CODES`] (a test fails when
//! it is stale), so the registry is the single place a code is described.

use crate::source::FileId;
use crate::yaml::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One entry of the code registry.
#[derive(Debug)]
pub struct CodeInfo {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// The files that report it, relative to the compiler crate, the check
    /// that owns it first. A test keeps this list exact.
    pub reported_in: &'static [&'static str],
    pub summary: &'static str,
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($ident:ident = $code:literal, $name:literal, $sev:ident, [$($file:literal),+], $summary:literal, $expl:literal;)*) => {
        /// Every diagnostic code kradle can report.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($ident,)* }

        pub static CODES: &[CodeInfo] = &[
            $(CodeInfo { code: $code, name: $name, severity: Severity::$sev, reported_in: &[$($file),+], summary: $summary, explanation: $expl },)*
        ];

        impl Code {
            pub const ALL: &[Code] = &[$(Code::$ident,)*];
            pub fn info(self) -> &'static CodeInfo {
                &CODES[self as usize]
            }
        }
    };
}

codes! {
    // 1xx: reading files
    YamlSyntax = "KR101", "yaml-syntax", Error, ["src/check/load.rs"],
        "The file is not valid YAML.",
        "The YAML parser stopped at this position. Nothing after it in the file is checked.";
    DuplicateYamlKey = "KR102", "duplicate-yaml-key", Error, ["src/check/load.rs"],
        "A mapping has the same key twice.",
        "YAML 1.2 forbids duplicate keys; most tools silently keep the last one, which hides mistakes.";
    YamlLimit = "KR103", "yaml-limit", Error, ["src/check/load.rs"],
        "The document is too large or too deeply nested.",
        "kradle refuses a document that expands beyond 200,000 values or nests deeper than 128 levels, a file whose aliases copy more than 200,000 values, and a run of more than 1,500,000 values in all (1,000,000 through aliases). A long string copied by an alias counts one value per 64 bytes. The limits keep a hostile pull request from exhausting CI's memory (docs/security.md).";
    UnreadableFile = "KR104", "unreadable-file", Error, ["src/check/load.rs"],
        "A file could not be read as config.",
        "Config files must be regular UTF-8 YAML files inside the config folder, within the size limits (--max-file-size, default 16 MiB; --max-input-size, default 64 MiB). Binary files, symbolic links that leave the folder, FIFOs and devices with a .yaml name are reported here and never read.";
    NotAnObject = "KR105", "not-a-resource", Error, ["src/check/load.rs"],
        "A YAML document is not a Kubernetes-style object.",
        "Every document must be a mapping with apiVersion, kind, metadata and spec.";
    // 2xx: kinds and schema
    UnknownApiVersion = "KR201", "unknown-api-version", Error, ["src/check/load.rs"],
        "The apiVersion is not one kradle knows.",
        "kradle config documents use `apiVersion: kradle.a5c.ai/v1alpha1`.";
    UnknownKind = "KR202", "unknown-kind", Error, ["src/check/load.rs"],
        "The kind is not a kradle kind.",
        "The help names the nearest known kind. `kradle schema` lists every kind.";
    AggregatedKind = "KR203", "aggregated-kind-in-config", Error, ["src/check/load.rs"],
        "A runtime (aggregated) kind is declared in the config repository.",
        "Aggregated kinds (runs, sessions, issues, deliveries, ...) are stored in Postgres by the runtime; they cannot be declared in git.";
    MissingField = "KR204", "missing-field", Error, ["src/check/schema.rs"],
        "A required field is missing.",
        "The spec of each kind lists its required fields; `kradle schema` writes them as JSON Schema.";
    WrongType = "KR205", "wrong-type", Error, ["src/check/schema.rs"],
        "A value has the wrong type.",
        "For example a string where a list is expected, or a quoted number where an integer is expected.";
    InvalidEnumValue = "KR206", "invalid-value", Error, ["src/check/schema.rs"],
        "A value is not one of the allowed values.",
        "Enumerations (visibility, permission levels, modes, scopes, ...) accept only the listed values.";
    UnknownField = "KR207", "unknown-field", Error, ["src/check/schema.rs", "src/check/load.rs"],
        "A field is not part of the kind's schema.",
        "Kubernetes would silently drop it; kradle reports it, with the nearest known field name.";
    InvalidName = "KR208", "invalid-name", Error, ["src/check/load.rs", "src/check/names.rs"],
        "metadata.name is not a valid Kubernetes name.",
        "Names are DNS-1123 subdomains (lowercase letters, digits, '-' and '.', at most 253 characters); organization names are DNS-1123 labels of at most 52 characters so that `kradle-org-<slug>` fits in 63.";
    InvalidValue = "KR209", "out-of-range", Error, ["src/check/schema.rs"],
        "A value is outside its allowed range or format.",
        "Numbers have bounds and some strings have a format (for example, non-empty).";
    LiteralSecret = "KR210", "literal-secret-field", Error, ["src/check/load.rs"],
        "A field holds a secret literally.",
        "Secrets are referenced, never embedded: use a secretRef to a Kubernetes Secret.";
    // 3xx: names, duplicates and organization scoping
    DuplicateResource = "KR301", "duplicate-resource", Error, ["src/check/names.rs"],
        "The same kind and name is declared twice in one organization.",
        "Names are unique per kind within an organization (or within the platform for platform-scoped kinds). The same name in two organizations is fine.";
    MissingOrganization = "KR302", "missing-organization-ref", Error, ["src/check/scoping.rs"],
        "An org-scoped resource has no organization.",
        "Set `spec.organizationRef`, or put the file under `orgs/<slug>/`.";
    OrganizationFolderMismatch = "KR303", "organization-folder-mismatch", Error, ["src/check/scoping.rs"],
        "organizationRef contradicts the orgs/<slug>/ folder of the file.",
        "Files under `orgs/<slug>/` belong to that organization; an explicit organizationRef must agree.";
    NamespaceMismatch = "KR304", "namespace-mismatch", Error, ["src/check/scoping.rs", "src/check/rules/namespaces.rs"],
        "metadata.namespace is not the namespace of the resource's organization.",
        "Org-scoped resources live in `kradle-org-<slug>`; Organization and OrgNamespaceBinding live in the platform namespace.";
    OrgLabelMismatch = "KR305", "org-label-mismatch", Error, ["src/check/scoping.rs"],
        "The kradle.a5c.ai/org label contradicts organizationRef.",
        "kradle sets the org label itself; a different value would move the resource to another tenant.";
    NamespaceClaimedTwice = "KR306", "namespace-claimed-twice", Error, ["src/check/scoping.rs"],
        "Two organizations claim the same namespace.",
        "Each organization owns exactly one namespace and no namespace is shared.";
    OrgNamespaceName = "KR307", "org-namespace-name", Error, ["src/check/scoping.rs"],
        "An organization's namespace is not kradle-org-<slug>.",
        "The namespace of an organization is derived from its slug; namespaceName and OrgNamespaceBinding.namespace must equal it.";
    DuplicateNamespaceBinding = "KR308", "duplicate-namespace-binding", Error, ["src/check/scoping.rs"],
        "An organization has more than one OrgNamespaceBinding.",
        "An Organization and its OrgNamespaceBinding are 1:1.";
    OutputCollision = "KR309", "output-collision", Error, ["src/lower/collisions.rs", "src/lower/forge/gitea.rs"],
        "Two resources lower to the same Kubernetes object or output file.",
        "kradle generates objects with fixed name patterns (`kradle-secret-<grant>`, `runner-pool-<pool>`, `kradle-ws-<workspace>`, ...). A resource whose own output matches another's would silently replace it in the cluster, so the build stops and names both.";
    // 4xx: references
    UnresolvedReference = "KR401", "unresolved-reference", Error, ["src/check/references.rs"],
        "A reference names a resource that does not exist.",
        "References resolve within the organization of the referring resource. The help names the nearest existing name.";
    CrossOrgReference = "KR402", "cross-organization-reference", Error, ["src/check/references.rs"],
        "A reference points at a resource of another organization.",
        "Organizations are isolated: resources never reference across org namespaces.";
    WrongReferenceKind = "KR403", "wrong-reference-kind", Error, ["src/check/references.rs"],
        "A `{ kind, name }` reference names a kind that is not allowed there.",
        "Each typed reference accepts a fixed set of kinds.";
    // 5xx: per-kind rules
    RunnerPoolReplicas = "KR501", "runner-pool-replicas", Error, ["src/check/rules/runner_pool.rs"],
        "RunnerPool maxReplicas is smaller than warmReplicas, or zero.",
        "maxReplicas must be a positive integer at least warmReplicas.";
    ProjectColumns = "KR502", "project-columns", Error, ["src/check/rules/project_columns.rs"],
        "KradleProject workflow columns are empty, duplicated or have several defaults.",
        "workflowColumns must be a non-empty list with unique ids and at most one `default: true`.";
    InvalidCron = "KR503", "invalid-cron", Error, ["src/check/rules/trigger_rules.rs"],
        "A cron expression is not a valid 5-field expression.",
        "Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12), day of week (0-7). Each accepts `*`, numbers, ranges `a-b`, lists `a,b` and steps `*/n`.";
    TriggerSource = "KR504", "trigger-source-config", Error, ["src/check/rules/trigger_rules.rs"],
        "An AgentTriggerRule's sources and source configuration disagree, or a source configuration is invalid.",
        "`schedule` needs cronExpression; webhook URLs are http(s); comment patterns are non-empty regular expressions; label triggers need labels.";
    SubagentTaskKinds = "KR505", "subagent-task-kinds", Error, ["src/check/rules/subagent_task_kinds.rs"],
        "An AgentSubagent has no task kinds.",
        "taskKinds must be a non-empty list; a stack uses it to route tasks to subagents.";
    SkillSource = "KR506", "skill-source", Error, ["src/check/rules/skill_source.rs"],
        "An AgentSkill's sourceRef is not a usable source.",
        "sourceRef is an http(s) URL or `{ repository, path }` naming a Repository of the organization.";
    CapabilityManifest = "KR507", "capability-manifest", Error, ["src/check/rules/capability_manifest.rs"],
        "An ExternalProviderCapabilityManifest declares no or unknown interfaces, or disagrees with its provider.",
        "interfaces is a non-empty list of gitForge, issueTracking and cicd; providerType matches the provider's.";
    SshKey = "KR508", "ssh-key", Error, ["src/check/rules/ssh_keys.rs"],
        "SSH public key material does not parse, or the key is used twice.",
        "Keys are one line `<type> <base64> [comment]`; the type inside the base64 blob must match. kradle computes the `sha256:` fingerprint and refuses the same key twice in one organization (forges reject it).";
    Expired = "KR509", "expired", Warning, ["src/check/rules/expiry.rs"],
        "An invite or exception has expired relative to --now.",
        "Expired invites are closed and expired exceptions produce no Kyverno PolicyException. Remove them or extend expiresAt.";
    InvalidTimestamp = "KR510", "invalid-timestamp", Error, ["src/check/rules/expiry.rs"],
        "A timestamp is not RFC 3339.",
        "Use e.g. `2026-12-31T23:59:59Z`.";
    InvalidUrl = "KR511", "invalid-url", Error, ["src/check/rules/urls.rs"],
        "A URL is not an absolute http(s) URL.",
        "Endpoints, webhook URLs and gateway URLs must be absolute http:// or https:// URLs.";
    SshKeyScope = "KR512", "ssh-key-scope", Error, ["src/check/rules/ssh_keys.rs"],
        "A deploy key has no repository, or a user key has no user.",
        "Deploy keys are added to one repository; user keys belong to one user.";
    TeamMaintainer = "KR513", "team-maintainer-not-member", Warning, ["src/check/rules/team_maintainers.rs"],
        "A team maintainer is not listed among the team's members.",
        "Maintainers are a subset of members.";
    TriggerTaskKind = "KR514", "trigger-task-kind", Warning, ["src/check/rules/trigger_rules.rs"],
        "No subagent of the trigger's stack handles the trigger's taskKind.",
        "The stack's own taskKind or one of its subagents' taskKinds should include it, or the dispatch has nobody to route to.";
    PolicyDecision = "KR515", "policy-exception-decision", Error, ["src/check/rules/expiry.rs"],
        "A PolicyExceptionRequest decision is incomplete.",
        "A decision needs phase, decidedBy and decidedAt.";
    RoleBindingScope = "KR516", "role-binding-scope", Error, ["src/check/rules/role_binding_scope.rs"],
        "An AgentRoleBinding asks for cluster scope.",
        "Agent RBAC is scoped to the organization's namespace (spec §4.2): an organization's config never produces a ClusterRoleBinding. A namespaced binding may reference a ClusterRole (`view`, `edit`); it grants that role inside the namespace only.";
    PolicyParameter = "KR517", "policy-template-parameter", Error, ["src/check/rules/policy_parameters.rs", "src/lower/policy.rs"],
        "A policy template uses a parameter nobody defines, or does not compile.",
        "`[[ params.NAME ]]` in a PolicyTemplate's kyverno body needs a default in the template's `parameters` or a value in every binding's `parameters` (profiles bind with defaults only). Blocks use `[% %]`, comments `[# #]`.";
    RepositoryDelivery = "KR518", "repository-delivery", Error, ["src/check/rules/delivery.rs"],
        "A Repository's delivery is not a KubeVela application spec.",
        "`spec.delivery` holds KubeVela's own shape: `components` (each with `name` and `type`), and optional `policies` and `workflow`.";
    DisabledUser = "KR519", "disabled-user", Warning, ["src/check/disabled_users.rs"],
        "A grant names a disabled User.",
        "A disabled (suspended) User keeps no grants: kradle plans no team membership, collaborator access, key or RBAC binding for it, and `kradle plan` shows them removed. The reference stays so a re-enabled User gets them back.";
    PublicRepositoryInPrivateOrg = "KR520", "public-repository-in-private-org", Warning, ["src/check/org_visibility.rs"],
        "A public Repository belongs to a private or limited Organization.",
        "The forge hides a private organization's repositories from anonymous users, public or not. Without `visibility`, an Organization with a public repository is made public.";
    ClusterScopedPolicyTarget = "KR521", "cluster-scoped-policy-target", Error, ["src/check/policy_targets.rs"],
        "An organization binds a PolicyTemplate that targets a cluster-scoped kind.",
        "An organization's policies are confined to its namespace, so a policy on Namespaces, ClusterRoles, Nodes and other cluster-scoped kinds would match nothing while the config says it is enforced.";
    PlainHttpCredentials = "KR522", "plain-http-credentials", Warning, ["src/check/rules/urls.rs"],
        "A provider endpoint or gateway URL that kradle sends a token to is plain http://.",
        "kradle sends the binding's or gateway's token with every request to it, in the clear over http://. Use https://; for an in-cluster service the operator allows plain HTTP explicitly on the runtime (`--allow-host http://HOST`, KRADLE_ALLOWED_HOSTS), or the runtime refuses to send anything there.";
    DefaultBackend = "KR523", "default-backend", Error, ["src/check/rules/default_backend.rs"],
        "`defaultBackend: github`, but the organization has no single GitHub binding to put a repository on.",
        "Under `defaultBackend: github` (kradle.yaml), a Repository that no ExternalBackendBinding scopes lives on the organization's GitHub binding: its provider says which GitHub (endpoint, owner) and its credentials how to reach it. With no enabled binding to a GitHub provider, or with several, kradle cannot tell where the repository goes: declare one, or list the repository in one binding's `scope.repositories`.";
    TriggerUnreachable = "KR524", "trigger-rule-unreachable", Warning, ["src/check/rules/trigger_reach.rs"],
        "An AgentTriggerRule waits for forge events that none of its repositories sends to kradle.",
        "Gitea sends webhook deliveries only where a hook says. A rule whose repositories are all on Gitea, with no WebhookSubscription whose `url` is kradle's receiver for it (`https://<kradle>/webhooks/gitea/<org>/<subscription>`), never fires, and nothing else says why. GitHub repositories reach kradle through their ExternalBackendBinding's webhook. Declare the subscription on the organization or on the rule's repository; `kradle apply` creates the hook with its secret.";
    // 6xx: secret hygiene
    SecretInSpec = "KR601", "secret-in-spec", Error, ["src/check/secrets.rs", "src/check/load.rs"],
        "A value looks like a secret (token, private key, password).",
        "Specs are committed to git and synced to the cluster: reference a Kubernetes Secret instead. The matched text is masked in every output.";
    // 7xx: AgentStack readiness
    StackNotReady = "KR701", "agent-stack-not-ready", Error, ["src/check/readiness.rs"],
        "An AgentStack readiness condition is not met.",
        "kradle computes the stack's conditions (CapabilitiesResolved, ToolsAdmitted, McpHealthy, SkillsValidated, SubagentsValid, ContextLabelsValid, RuntimeIdentityReady, RolesAdmitted, SecretsAdmitted, ConfigAdmitted) statically from the config.";
}

/// A secondary location ("first defined here").
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub file: FileId,
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub file: Option<FileId>,
    pub span: Option<Span>,
    /// Short text under the primary span.
    pub label: Option<String>,
    pub help: Option<String>,
    pub related: Vec<Related>,
    /// Byte ranges of the source that must never be shown (secrets).
    pub masks: Vec<(usize, usize)>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.info().severity,
            message: message.into(),
            file: None,
            span: None,
            label: None,
            help: None,
            related: Vec::new(),
            masks: Vec::new(),
        }
    }

    pub fn at(mut self, file: FileId, span: Span) -> Self {
        self.file = Some(file);
        self.span = Some(span);
        self
    }

    /// A diagnostic about a whole file (no position).
    pub fn in_file(mut self, file: FileId) -> Self {
        self.file = Some(file);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.related.push(Related {
            file,
            span,
            message: message.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The name in `candidates` closest to `name`, if it is close enough to be a
/// plausible typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

/// `/spec/repositoryGrants/0/permission` → `spec.repositoryGrants[0].permission`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// "a Team", "an AgentStack".
pub fn article(kind: &str) -> String {
    let an = kind.starts_with(['A', 'E', 'I', 'O', 'U']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

/// Renders the registry as Markdown (`docs/diagnostics.md`).
pub fn render_registry_markdown() -> String {
    let mut out = String::from(
        "# Diagnostics reference\n\n\
         <!-- Generated from compiler/src/diagnostics.rs by `KRADLE_UPDATE=1 cargo test`; do not edit. -->\n\n\
         Every diagnostic kradle reports has a stable code. Codes are never reused.\n\
         Errors make `kradle validate` exit 1; warnings do not, unless `--deny-warnings` is given.\n\n\
         | Code | Name | Severity | Summary |\n|---|---|---|---|\n",
    );
    for c in CODES {
        let sev = match c.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "| [{}](#{}) | `{}` | {} | {} |\n",
            c.code,
            c.code.to_ascii_lowercase(),
            c.name,
            sev,
            c.summary
        ));
    }
    for c in CODES {
        let files: Vec<String> = c
            .reported_in
            .iter()
            .map(|f| format!("`compiler/{f}`"))
            .collect();
        out.push_str(&format!(
            "\n## {}\n\n`{}` — {}\n\n{}\n\nReported by {}.\n",
            c.code,
            c.name,
            c.summary,
            c.explanation,
            files.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file that reports a code, outside its tests.
    fn reporters(code: Code) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let needle = format!("Code::{code:?}");
        let mut found = Vec::new();
        let mut stack = vec![root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("diagnostics.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code_part = text.split("#[cfg(test)]").next().unwrap_or("");
                    let hit = code_part.match_indices(&needle).any(|(i, _)| {
                        !code_part[i + needle.len()..].starts_with(|c: char| c.is_alphanumeric())
                    });
                    if hit {
                        let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                        found.push(rel.replace('\\', "/"));
                    }
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn the_registry_names_every_file_that_reports_a_code() {
        for &code in Code::ALL {
            let mut listed: Vec<String> = code
                .info()
                .reported_in
                .iter()
                .map(|f| f.to_string())
                .collect();
            listed.sort();
            assert_eq!(
                listed,
                reporters(code),
                "{code:?}: fix `reported_in` in the registry"
            );
        }
    }

    #[test]
    fn codes_are_unique_and_in_order() {
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in CODES.iter().enumerate() {
            assert!(seen.insert(c.code), "duplicate code {}", c.code);
            assert_eq!(Code::ALL[i].info().code, c.code);
        }
    }

    #[test]
    fn field_paths_read_like_yaml() {
        assert_eq!(
            field_path("/spec/repositoryGrants/0/permission"),
            "spec.repositoryGrants[0].permission"
        );
        assert_eq!(
            field_path("/metadata/labels/kradle.a5c.ai~1org"),
            "metadata.labels.kradle.a5c.ai/org"
        );
        assert_eq!(article("AgentStack"), "an AgentStack");
        assert_eq!(article("Team"), "a Team");
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(
            did_you_mean("visiblity", ["visibility", "defaultBranch"]),
            Some("visibility")
        );
        assert_eq!(did_you_mean("zzz", ["visibility", "defaultBranch"]), None);
    }
}
