//! The forge plan: the contract between the compiler and the runtime.
//!
//! `kradle build` writes one [`Plan`] per organization and backend
//! (`plans/<org>.json`); `kradle apply` executes it. The runtime reads plans
//! only through these types, and [`Plan::from_json`] refuses a plan whose
//! `formatVersion` it does not know, or whose operations refer to nothing:
//! a plan written by a newer kradle is never half-understood.
//!
//! `schemas/forge-plan.json` is generated from these types (a test fails when
//! it is stale). docs/forge-plans.md describes the format.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `formatVersion` this kradle writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The forge a plan is for.
#[derive(
    Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum Backend {
    Gitea,
    Github,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Gitea => "gitea",
            Backend::Github => "github",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! actions {
    ($($variant:ident = $name:literal, grants: $grants:literal, destructive: $destructive:literal;)*) => {
        /// What an operation does (the spec's §2.1/§2.2 operation names).
        #[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[serde(rename_all = "camelCase")]
        pub enum Action { $($variant,)* }

        impl Action {
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// The name in the plan, e.g. `addCollaborator`.
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }

            /// Whether the operation grants someone access (what the removal
            /// guard of `kradle plan` counts).
            pub fn grants_permission(self) -> bool {
                match self { $(Action::$variant => $grants,)* }
            }

            /// Whether undoing it loses data or access (shown first by `kradle plan`).
            pub fn destructive_when_removed(self) -> bool {
                match self { $(Action::$variant => $destructive,)* }
            }
        }
    };
}

actions! {
    CreateOrganization = "createOrganization", grants: false, destructive: true;
    CreateRepository = "createRepository", grants: false, destructive: true;
    EnsureOrgMemoryRepository = "ensureOrgMemoryRepository", grants: false, destructive: false;
    UpdateRepository = "updateRepository", grants: false, destructive: false;
    EnsureUserMapping = "ensureUserMapping", grants: false, destructive: false;
    CreateTeam = "createTeam", grants: false, destructive: true;
    AddTeamMember = "addTeamMember", grants: false, destructive: true;
    AddDeployKey = "addDeployKey", grants: false, destructive: true;
    AddUserSshKey = "addUserSshKey", grants: false, destructive: true;
    AddCollaborator = "addCollaborator", grants: true, destructive: true;
    AddTeamRepository = "addTeamRepository", grants: true, destructive: true;
    ProtectBranch = "protectBranch", grants: false, destructive: true;
    RequireSignedCommits = "requireSignedCommits", grants: false, destructive: true;
    CreateWebhook = "createWebhook", grants: false, destructive: false;
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP method of an operation.
#[derive(
    Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value known only at apply time, written `${…}` inside a path or a body string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `${op:<id>.<field>}`: a field of the response of an earlier operation.
    Op { id: String, field: String },
    /// `${secret:<namespace>/<name>/<key>}`: a key of a Kubernetes Secret.
    Secret {
        namespace: String,
        name: String,
        key: String,
    },
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Op { id, field } => write!(f, "${{op:{id}.{field}}}"),
            Placeholder::Secret {
                namespace,
                name,
                key,
            } => write!(f, "${{secret:{namespace}/{name}/{key}}}"),
        }
    }
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Value(Placeholder),
}

/// A string that may hold placeholders, parsed: `/teams/${op:team:core.id}/members/grace`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(transparent)]
pub struct Template(String);

impl Template {
    /// A template from text kradle wrote itself; `parse` checks it.
    pub fn new(text: impl Into<String>) -> Template {
        Template(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text and placeholders, in order.
    pub fn parse(text: &str) -> Result<Vec<Part>, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            parts.push(Part::Value(placeholder(&after[..end])?));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(parts)
    }

    /// The placeholders of this template.
    pub fn placeholders(&self) -> Vec<Placeholder> {
        placeholders_in(&self.0)
    }
}

/// `text` with each placeholder replaced by what `value` gives for it. Text
/// that does not parse (a plan not read through [`Plan::from_json`]) is
/// returned as it is.
pub fn substitute<E>(
    text: &str,
    mut value: impl FnMut(&Placeholder) -> Result<String, E>,
) -> Result<String, E> {
    let Ok(parts) = Template::parse(text) else {
        return Ok(text.to_string());
    };
    let mut out = String::with_capacity(text.len());
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(&t),
            Part::Value(p) => out.push_str(&value(&p)?),
        }
    }
    Ok(out)
}

/// The placeholders written in `text`.
pub fn placeholders_in(text: &str) -> Vec<Placeholder> {
    Template::parse(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Part::Value(v) => Some(v),
            Part::Text(_) => None,
        })
        .collect()
}

fn placeholder(inner: &str) -> Result<Placeholder, String> {
    if let Some(op) = inner.strip_prefix("op:") {
        let (id, field) = op
            .rsplit_once('.')
            .filter(|(id, field)| !id.is_empty() && !field.is_empty())
            .ok_or_else(|| format!("`${{{inner}}}` is not `${{op:<id>.<field>}}`"))?;
        return Ok(Placeholder::Op {
            id: id.to_string(),
            field: field.to_string(),
        });
    }
    if let Some(secret) = inner.strip_prefix("secret:") {
        let parts: Vec<&str> = secret.split('/').collect();
        if let [namespace, name, key] = parts.as_slice() {
            if !namespace.is_empty() && !name.is_empty() && !key.is_empty() {
                return Ok(Placeholder::Secret {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    key: key.to_string(),
                });
            }
        }
        return Err(format!(
            "`${{{inner}}}` is not `${{secret:<namespace>/<name>/<key>}}`"
        ));
    }
    Err(format!("unknown placeholder `${{{inner}}}`"))
}

impl Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Template::parse(&text).map_err(serde::de::Error::custom)?;
        Ok(Template(text))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One REST call of a plan.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// Unique in the plan and stable across builds, e.g. `collaborator:api-grace`.
    pub id: String,
    /// What the operation acts on, by forge name.
    pub target: Target,
    pub action: Action,
    pub method: Method,
    /// Relative to the API root (Gitea `/api/v1`, GitHub `https://api.github.com`).
    pub path: Template,
    /// The request body, `null` for none. Strings may hold placeholders.
    pub body: Value,
    /// `idem-gitForge-<action>-<hash>`: the same operation has the same key in every build.
    pub idempotency_key: String,
    /// Earlier operations this one needs.
    pub depends_on: Vec<String>,
}

impl Operation {
    /// Every placeholder of the path and the body.
    pub fn placeholders(&self) -> Vec<Placeholder> {
        let mut out = self.path.placeholders();
        let mut todo = vec![&self.body];
        while let Some(v) = todo.pop() {
            match v {
                Value::String(s) => out.extend(placeholders_in(s)),
                Value::Array(a) => todo.extend(a.iter()),
                Value::Object(m) => todo.extend(m.values()),
                _ => {}
            }
        }
        out
    }
}

/// What an operation acts on, by forge name: `kradle plan` describes an
/// operation from it, and the runtime keys the objects it links on it.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// The organization (Gitea) or owner (GitHub) the operation is in.
    pub owner: String,
    /// The repository's name.
    pub repository: Option<String>,
    /// The forge team's name (on Gitea, `<team>-<level>`: one team per permission level).
    pub team: Option<String>,
    /// The forge username.
    pub user: Option<String>,
    /// The branch name or pattern.
    pub branch: Option<String>,
}

impl Target {
    pub fn owner(owner: &str) -> Target {
        Target {
            owner: owner.to_string(),
            ..Target::default()
        }
    }
    pub fn repo(mut self, name: &str) -> Target {
        self.repository = Some(name.to_string());
        self
    }
    pub fn team(mut self, name: &str) -> Target {
        self.team = Some(name.to_string());
        self
    }
    pub fn user(mut self, name: &str) -> Target {
        self.user = Some(name.to_string());
        self
    }
    pub fn branch(mut self, name: &str) -> Target {
        self.branch = Some(name.to_string());
        self
    }
}

/// The GitHub provider a plan is for.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provider {
    /// The ExternalBackendProvider.
    pub name: String,
    /// Its API endpoint.
    pub endpoint: String,
    /// The GitHub organization that owns the repositories.
    pub owner: String,
    /// The binding's credentials: a reference, never a value.
    pub credential_ref: Option<PlanCredentialRef>,
    /// The provider's `authConfig.appId`, for a GitHub App whose Secret
    /// does not hold it.
    pub app_id: Option<String>,
    /// The provider's `authConfig.installationId`, likewise.
    pub installation_id: Option<String>,
}

/// The Secret holding a provider's credentials.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanCredentialRef {
    /// The organization's namespace.
    pub namespace: String,
    pub name: String,
    /// The key holding a token; without it, the Secret holds a GitHub App
    /// (`appId`, `privateKey`, `installationId`).
    pub key: Option<String>,
}

/// The ordered operations that make one organization's forge match the config.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    /// Always [`FORMAT_VERSION`] for plans this kradle writes.
    pub format_version: u32,
    pub org: String,
    pub backend: Backend,
    /// For GitHub plans: the ExternalBackendProvider used.
    pub provider: Option<Provider>,
    pub operations: Vec<Operation>,
    /// File name under `plans/`.
    #[serde(skip)]
    #[schemars(skip)]
    pub file: String,
}

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error(
        "plan format version {found} is not supported (this kradle reads version {FORMAT_VERSION}); build the plans with the same kradle version that applies them"
    )]
    UnsupportedVersion { found: String },
    #[error("not a kradle forge plan: {0}")]
    Malformed(String),
    #[error("operation `{op}` {problem}")]
    Inconsistent { op: String, problem: String },
}

impl Plan {
    /// Reads a plan, refusing an unknown `formatVersion` before anything else,
    /// and operations that depend on, or take values from, operations that do
    /// not come before them.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PlanError::Malformed(e.to_string()))?;
        match value.get("formatVersion") {
            Some(Value::Number(n)) if n.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
            Some(other) => {
                return Err(PlanError::UnsupportedVersion {
                    found: other.to_string(),
                });
            }
            None => {
                return Err(PlanError::UnsupportedVersion {
                    found: "(none)".into(),
                });
            }
        }
        let plan: Plan =
            serde_json::from_value(value).map_err(|e| PlanError::Malformed(e.to_string()))?;
        plan.check()?;
        Ok(plan)
    }

    /// Every dependency and every `${op:…}` names an earlier operation; ids are unique.
    pub fn check(&self) -> Result<(), PlanError> {
        let mut seen = std::collections::BTreeSet::new();
        for op in &self.operations {
            let fail = |problem: String| PlanError::Inconsistent {
                op: op.id.clone(),
                problem,
            };
            for d in &op.depends_on {
                if !seen.contains(d.as_str()) {
                    return Err(fail(format!(
                        "depends on `{d}`, which does not come before it"
                    )));
                }
            }
            for p in op.placeholders() {
                if let Placeholder::Op { id, .. } = &p {
                    if !seen.contains(id.as_str()) {
                        return Err(fail(format!(
                            "uses {p}, but `{id}` does not come before it"
                        )));
                    }
                }
            }
            if !seen.insert(op.id.as_str()) {
                return Err(fail("appears twice".into()));
            }
        }
        Ok(())
    }

    /// The JSON Schema of a plan file (`schemas/forge-plan.json`).
    pub fn schema() -> Value {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        generator.into_root_schema_for::<Plan>().to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_parse_and_bad_ones_are_refused() {
        let t = Template::new("/teams/${op:team:core.id}/repos/acme/${op:repo:api.name}");
        assert_eq!(
            t.placeholders(),
            vec![
                Placeholder::Op {
                    id: "team:core".into(),
                    field: "id".into()
                },
                Placeholder::Op {
                    id: "repo:api".into(),
                    field: "name".into()
                },
            ]
        );
        assert_eq!(
            placeholder("secret:kradle-org-acme/hooks/token"),
            Ok(Placeholder::Secret {
                namespace: "kradle-org-acme".into(),
                name: "hooks".into(),
                key: "token".into()
            })
        );
        for bad in [
            "/x/${op:nofield}",
            "/x/${secret:a/b}",
            "/x/${env:HOME}",
            "/x/${op:a.b",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    fn plan_json(version: &str, ops: &str) -> String {
        format!(
            r#"{{"formatVersion": {version}, "org": "acme", "backend": "gitea", "operations": [{ops}]}}"#
        )
    }

    const ORG: &str = r#"{"id": "org", "target": {"owner": "acme"}, "action": "createOrganization", "method": "POST", "path": "/orgs", "body": {}, "idempotencyKey": "k1", "dependsOn": []}"#;

    #[test]
    fn unknown_versions_and_inconsistent_plans_are_refused() {
        assert!(Plan::from_json(&plan_json("1", ORG)).is_ok());
        for v in ["2", "0", "\"1\"", "null"] {
            assert!(
                matches!(
                    Plan::from_json(&plan_json(v, ORG)),
                    Err(PlanError::UnsupportedVersion { .. })
                ),
                "{v}"
            );
        }
        let no_version = r#"{"org": "acme", "backend": "gitea", "operations": []}"#;
        assert!(matches!(
            Plan::from_json(no_version),
            Err(PlanError::UnsupportedVersion { .. })
        ));
        let unknown_action = plan_json("1", &ORG.replace("createOrganization", "dropDatabase"));
        assert!(matches!(
            Plan::from_json(&unknown_action),
            Err(PlanError::Malformed(_))
        ));
        let dangling = plan_json(
            "1",
            &format!(
                r#"{ORG}, {{"id": "m", "target": {{"owner": "acme"}}, "action": "addTeamMember", "method": "PUT", "path": "/teams/${{op:team:core.id}}/members/g", "body": null, "idempotencyKey": "k2", "dependsOn": ["org"]}}"#
            ),
        );
        assert!(matches!(
            Plan::from_json(&dangling),
            Err(PlanError::Inconsistent { .. })
        ));
        let twice = plan_json("1", &format!("{ORG}, {ORG}"));
        assert!(matches!(
            Plan::from_json(&twice),
            Err(PlanError::Inconsistent { .. })
        ));
    }
}
