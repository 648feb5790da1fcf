//! Reading documents: YAML syntax, document shape, apiVersion and kind,
//! schema conformance and the typed spec.

use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::model::{API_VERSION, GROUP, KINDS, KindInfo, Metadata, Spec, Storage, kind_info};
use crate::project::ProjectConfig;
use crate::source::{FileId, FileProblem, PROJECT_FILE, Sources};
use crate::yaml::{self, Node, Value, YamlErrorKind};

use super::{schema, secrets};

/// A document whose kind is known, before organization scoping.
pub struct LoadedDoc {
    pub file: FileId,
    pub kind: &'static KindInfo,
    pub name: String,
    pub metadata: Metadata,
    pub spec: Option<Spec>,
    pub root: Node,
}

/// Fields that would hold a secret literally, and the reference to use instead.
const LITERAL_SECRETS: &[(&str, &str, &str)] = &[
    (
        "WebhookSubscription",
        "secret",
        "secretRef:\n  name: <secret-name>\n  key: <key>",
    ),
    (
        "AuthProvider",
        "clientSecret",
        "the client secret is read from the runtime's environment (KRADLE_AUTH_*_CLIENT_SECRET), never from the spec",
    ),
    (
        "ExternalBackendBinding",
        "webhookSecret",
        "webhookSecretRef:\n  name: <secret-name>\n  key: <key>",
    ),
    (
        "AgentProviderConfig",
        "apiKey",
        "secretRef:\n  name: <secret-name>\n  key: <key>",
    ),
];

/// The document schema of every kind, generated once per process.
static DOCUMENT_SCHEMAS: std::sync::LazyLock<Vec<serde_json::Value>> =
    std::sync::LazyLock::new(|| KINDS.iter().map(KindInfo::document_schema).collect());

pub fn load(sources: &Sources, diags: &mut Vec<Diagnostic>) -> (ProjectConfig, Vec<LoadedDoc>) {
    let mut project = ProjectConfig::default();
    let mut docs = Vec::new();
    let schemas = &*DOCUMENT_SCHEMAS;
    // One budget for the whole run: many files just under a per-file limit
    // must not add up to an exhausted machine.
    let mut budget = yaml::Budget::default();

    for id in sources.ids() {
        let file = sources.get(id);
        let Some(text) = &file.text else {
            diags.push(unreadable(id, &file.path, file.problem.as_ref()));
            continue;
        };
        let (documents, errors) = yaml::parse_with(text, &mut budget);
        for e in errors {
            let code = match e.kind {
                YamlErrorKind::Syntax | YamlErrorKind::BadKey | YamlErrorKind::UnknownAlias => {
                    Code::YamlSyntax
                }
                YamlErrorKind::DuplicateKey => Code::DuplicateYamlKey,
                YamlErrorKind::TooLarge | YamlErrorKind::TooDeep => Code::YamlLimit,
            };
            let help = match e.kind {
                YamlErrorKind::Syntax => {
                    "check the indentation (spaces, not tabs) and the brackets and quotes just before this point"
                }
                YamlErrorKind::BadKey => "keys are plain values such as `name`",
                YamlErrorKind::UnknownAlias => {
                    "define the anchor (`&name`) before using the alias (`*name`)"
                }
                YamlErrorKind::DuplicateKey => {
                    "remove one of them: YAML allows a key once, and most tools silently keep the last"
                }
                YamlErrorKind::TooLarge | YamlErrorKind::TooDeep => {
                    "split the document, or expand the aliases by hand; kradle refuses documents that could exhaust memory"
                }
            };
            let mut d = Diagnostic::new(code, e.message).at(id, e.span).help(help);
            if let Some(first) = e.first {
                d = d
                    .related(id, first, "first defined here")
                    .label("defined again here");
            }
            diags.push(d);
        }

        // After the values: tokens in keys and comments, which the human
        // output would otherwise show next to another problem.
        let scan_raw = |diags: &mut Vec<Diagnostic>| secrets::scan_text(id, text, diags);
        if file.path == PROJECT_FILE {
            if let Some(doc) = documents.first() {
                secrets::scan(id, &doc.root, diags);
                project = load_project(id, &doc.root, diags);
            }
            scan_raw(diags);
            continue;
        }

        for doc in documents {
            secrets::scan(id, &doc.root, diags);
            if let Some(loaded) = load_document(id, doc.root, schemas, diags) {
                docs.push(loaded);
            }
        }
        scan_raw(diags);
    }
    // A literal secret field (KR210) already says what the value is.
    let literal: Vec<(Option<FileId>, (usize, usize))> = diags
        .iter()
        .filter(|d| d.code == Code::LiteralSecret)
        .flat_map(|d| d.masks.iter().map(move |m| (d.file, *m)))
        .collect();
    diags.retain(|d| {
        d.code != Code::SecretInSpec
            || !d
                .span
                .is_some_and(|s| literal.contains(&(d.file, (s.start, s.end))))
    });
    (project, docs)
}

/// The diagnostic of a file kradle did not read.
fn unreadable(id: FileId, path: &str, problem: Option<&FileProblem>) -> Diagnostic {
    let (message, help) = match problem {
        None | Some(FileProblem::NotUtf8) => (
            format!("{path} is not UTF-8 text"),
            "config files must be UTF-8 encoded YAML".to_string(),
        ),
        Some(FileProblem::LinkLeavesRoot) => (
            format!("{path} is a symbolic link that leaves the config folder"),
            "kradle follows links only to files inside the folder it reads; copy the file in instead".to_string(),
        ),
        Some(FileProblem::NotARegularFile(what)) => (
            format!("{path} is {what}, not a regular file"),
            "config files are regular files; kradle does not read from pipes or devices".to_string(),
        ),
        Some(FileProblem::TooLarge { limit }) => (
            format!("{path} is larger than {}", human_size(*limit)),
            "split the file, or raise the limit with --max-file-size".to_string(),
        ),
        Some(FileProblem::InputTooLarge { limit }) => (
            format!(
                "the config files add up to more than {}; {path} and the files after it were not read",
                human_size(*limit)
            ),
            "raise the limit with --max-input-size if this repository is really that large".to_string(),
        ),
    };
    Diagnostic::new(Code::UnreadableFile, message)
        .in_file(id)
        .help(help)
}

/// `16 MiB`, `300 KiB`, `12 bytes`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn load_project(id: FileId, root: &Node, diags: &mut Vec<Diagnostic>) -> ProjectConfig {
    let schema = ProjectConfig::schema();
    let errors = schema::validate(&schema, root, id, PROJECT_FILE);
    if !errors.is_empty() {
        diags.extend(errors);
        return ProjectConfig::default();
    }
    let project: ProjectConfig = serde_json::from_value(root.to_json()).unwrap_or_default();
    check_runtime_names(id, root, &project, diags);
    project
}

/// The names `runtime:` puts into RoleBindings must be Kubernetes names.
fn check_runtime_names(id: FileId, root: &Node, p: &ProjectConfig, diags: &mut Vec<Diagnostic>) {
    use super::names::{is_dns1123_label, is_dns1123_subdomain};
    let Some(runtime) = &p.runtime else {
        return;
    };
    let sa = runtime.service_account.as_ref();
    let names = [
        (
            "/runtime/serviceAccount/name",
            sa.map(|s| s.name.as_str()),
            is_dns1123_subdomain as fn(&str) -> bool,
            "a ServiceAccount name",
        ),
        (
            "/runtime/serviceAccount/namespace",
            sa.map(|s| s.namespace.as_str()),
            |n| is_dns1123_label(n, 63),
            "a namespace",
        ),
        (
            "/runtime/clusterRole",
            runtime.cluster_role.as_deref(),
            is_dns1123_subdomain,
            "a ClusterRole name",
        ),
    ];
    for (pointer, value, valid, what) in names {
        let Some(value) = value.filter(|v| !valid(v)) else {
            continue;
        };
        diags.push(
            Diagnostic::new(
                Code::InvalidName,
                format!("`{value}` is not {what}"),
            )
            .at(id, root.pointer(pointer).map_or(root.span, |n| n.span))
            .help(if pointer.ends_with("namespace") {
                "at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit"
            } else {
                "lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
            }),
        );
    }
}

fn load_document(
    id: FileId,
    root: Node,
    schemas: &[serde_json::Value],
    diags: &mut Vec<Diagnostic>,
) -> Option<LoadedDoc> {
    if !matches!(root.value, Value::Map(_)) {
        diags.push(
            Diagnostic::new(
                Code::NotAnObject,
                format!("expected a resource, found {}", root.type_name()),
            )
            .at(id, root.span)
            .help("each document is a mapping with apiVersion, kind, metadata and spec"),
        );
        return None;
    }
    let (Some(api_version), Some(kind)) = (root.get("apiVersion"), root.get("kind")) else {
        let missing = if root.get("apiVersion").is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        diags.push(
            Diagnostic::new(Code::NotAnObject, format!("document has no `{missing}`"))
                .at(id, start_of(&root))
                .help("each document is a mapping with apiVersion, kind, metadata and spec"),
        );
        return None;
    };
    let kind_text = kind.as_str().unwrap_or_default();
    let api_text = api_version.as_str().unwrap_or_default();
    let in_group = api_text.split('/').next() == Some(GROUP);
    let known = crate::model::kind_for(api_text, kind_text)
        .or_else(|| kind_info(kind_text).filter(|k| k.storage != Storage::Foreign));
    if !in_group && known.is_none() {
        diags.push(
            Diagnostic::new(
                Code::UnknownApiVersion,
                format!(
                    "`{}` {} is not a kradle document",
                    scalar(api_version),
                    scalar(kind)
                ),
            )
            .at(id, api_version.span)
            .label("not a kradle API")
            .help(format!(
                "a config repository holds `apiVersion: {API_VERSION}` documents; \
                 keep other Kubernetes manifests outside the folder kradle reads"
            )),
        );
        return None;
    }
    let Some(info) = known else {
        let mut d = Diagnostic::new(
            Code::UnknownKind,
            format!("unknown kind `{}`", scalar(kind)),
        )
        .at(id, kind.span)
        .label("not a kradle kind");
        if let Some(best) = did_you_mean(kind_text, KINDS.iter().map(|k| k.kind)) {
            d = d.help(format!("did you mean `{best}`?"));
        } else {
            d = d.help("`kradle schema` lists every kind");
        }
        diags.push(d);
        return None;
    };
    if info.storage == Storage::Aggregated {
        diags.push(
            Diagnostic::new(
                Code::AggregatedKind,
                format!("{} is a runtime kind and cannot be declared in config", info.kind),
            )
            .at(id, kind.span)
            .label("stored in Postgres by the runtime")
            .help("aggregated kinds (runs, sessions, issues, deliveries, ...) are created by the kradle runtime; remove this document"),
        );
        return None;
    }
    if api_text != info.api_version {
        diags.push(
            Diagnostic::new(
                Code::UnknownApiVersion,
                format!(
                    "unknown apiVersion `{}` for kind {}",
                    scalar(api_version),
                    info.kind
                ),
            )
            .at(id, api_version.span)
            .label("unknown apiVersion")
            .help(format!("use `apiVersion: {}`", info.api_version)),
        );
        return None;
    }

    // Literal secrets get their own diagnostic instead of "unknown field".
    let mut reported: Vec<crate::yaml::Span> = Vec::new();
    if let Some(spec) = root.get("spec") {
        for (_, field, help) in LITERAL_SECRETS.iter().filter(|(k, _, _)| *k == info.kind) {
            let Some(span) = spec.key_span(field) else {
                continue;
            };
            let mut d = Diagnostic::new(
                Code::LiteralSecret,
                format!(
                    "`spec.{field}` would embed a secret in the {} spec",
                    info.kind
                ),
            )
            .at(id, span)
            .label("secrets are referenced, never embedded")
            .help(format!("use instead:\n{help}"));
            if let Some(v) = spec.get(field) {
                d.masks.push((v.span.start, v.span.end));
            }
            diags.push(d);
            reported.push(span);
        }
    }
    let literal_secret = !reported.is_empty();

    let idx = KINDS.iter().position(|k| k.kind == info.kind)?;
    let mut errors = schema::validate(&schemas[idx], &root, id, info.kind);
    // The same key, already reported as a literal secret, is not also "unknown".
    errors.retain(|d| {
        !(d.code == Code::UnknownField && d.span.is_some_and(|s| reported.contains(&s)))
    });
    let valid = errors.is_empty() && !literal_secret;
    diags.extend(errors);

    let metadata_json = root.get("metadata").map(Node::to_json);
    let metadata: Metadata = metadata_json
        .as_ref()
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_else(|| lenient_metadata(root.get("metadata")));
    if metadata.name.is_empty() {
        return None;
    }
    let spec = if valid {
        root.get("spec")
            .and_then(|s| Spec::from_json(info.kind, s.to_json()).ok())
    } else {
        None
    };
    Some(LoadedDoc {
        file: id,
        kind: info,
        name: metadata.name.clone(),
        metadata,
        spec,
        root,
    })
}

/// The name, namespace and labels of a metadata block that failed its schema,
/// so the rest of the checks can still refer to the resource.
fn lenient_metadata(node: Option<&Node>) -> Metadata {
    let mut m = Metadata::default();
    let Some(node) = node else { return m };
    if let Some(n) = node.get("name").and_then(Node::as_str) {
        m.name = n.to_string();
    }
    m.namespace = node
        .get("namespace")
        .and_then(Node::as_str)
        .map(String::from);
    if let Some(Value::Map(entries)) = node.get("labels").map(|l| &l.value) {
        for (k, v) in entries {
            if let Some(s) = v.as_str() {
                m.labels.insert(k.text.clone(), s.to_string());
            }
        }
    }
    m
}

fn scalar(node: &Node) -> String {
    match &node.value {
        Value::String(s) => s.clone(),
        _ => format!("<{}>", node.type_name()),
    }
}

/// The zero-width span at the start of a node.
fn start_of(node: &Node) -> yaml::Span {
    yaml::Span {
        end: node.span.start,
        ..node.span
    }
}
