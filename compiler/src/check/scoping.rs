//! Organization scoping (spec §1.1 Organization, §4.2 Namespace Topology).
//!
//! Every org-scoped resource belongs to exactly one organization: the one named
//! by `spec.organizationRef`, or — when it is omitted — the one of the
//! `orgs/<slug>/` folder the file sits in. Organization and OrgNamespaceBinding
//! are platform-scoped. Each organization owns exactly one namespace,
//! `kradle-org-<slug>`, and no namespace is shared.

use std::collections::BTreeMap;

use crate::diagnostics::{Code, Diagnostic};
use crate::model::{ORG_LABEL, Scope, Spec, normalize_org_slug, org_namespace};
use crate::project::ProjectConfig;
use crate::source::{FileId, Sources, folder_org};
use crate::yaml::{Node, Span};

use super::load::LoadedDoc;
use super::{Model, Resource};

fn ref_name(node: &Node) -> Option<&str> {
    node.as_str()
        .or_else(|| node.get("name").and_then(Node::as_str))
}

pub fn assign_org(
    sources: &Sources,
    doc: LoadedDoc,
    project: &ProjectConfig,
    diags: &mut Vec<Diagnostic>,
) -> Option<Resource> {
    let path = &sources.get(doc.file).path;
    let folder = folder_org(path);
    let spec_node = doc.root.get("spec");
    let mut explicit = spec_node.and_then(|s| s.get("organizationRef"));
    let mut explicit_name = explicit.and_then(ref_name);
    if doc.kind.storage == crate::model::Storage::Foreign && explicit_name.is_none() {
        // A KubeVela Application names its organization by namespace or org label.
        let from_ns = doc
            .metadata
            .namespace
            .as_deref()
            .and_then(crate::model::org_of_namespace);
        let from_label = doc.metadata.labels.get(ORG_LABEL).map(String::as_str);
        explicit_name = from_ns.or(from_label);
        explicit = if from_ns.is_some() {
            doc.root.pointer("/metadata/namespace")
        } else {
            doc.root.pointer("/metadata/labels/kradle.a5c.ai~1org")
        };
    }

    let org = match doc.kind.scope {
        Scope::Platform => {
            if doc.kind.kind == "Organization" {
                if let Some(folder) = folder {
                    let slug = normalize_org_slug(&doc.name);
                    if slug != folder {
                        diags.push(
                            Diagnostic::new(
                                Code::OrganizationFolderMismatch,
                                format!(
                                    "Organization `{}` is declared under orgs/{folder}/",
                                    doc.name
                                ),
                            )
                            .at(doc.file, doc.root.span_at("/metadata/name"))
                            .label(format!("slug `{slug}`"))
                            .help(format!("move the file to orgs/{slug}/ or rename the organization to `{folder}`")),
                        );
                    }
                }
            }
            None
        }
        Scope::Org | Scope::OrgOrPlatform => match (explicit_name, folder) {
            (Some(name), Some(folder)) if name != folder => {
                diags.push(
                    Diagnostic::new(
                        Code::OrganizationFolderMismatch,
                        format!(
                            "organizationRef `{name}` contradicts the folder orgs/{folder}/ of this file"
                        ),
                    )
                    .at(doc.file, explicit.map_or(doc.root.span, |n| n.span))
                    .label(format!("the folder says `{folder}`"))
                    .help(format!(
                        "remove organizationRef (the folder sets it), or move the file to orgs/{name}/"
                    )),
                );
                Some(name.to_string())
            }
            (Some(name), _) => Some(name.to_string()),
            (None, Some(folder)) => Some(folder.to_string()),
            (None, None) if doc.kind.scope == Scope::OrgOrPlatform => None,
            (None, None) => {
                diags.push(
                    Diagnostic::new(
                        Code::MissingOrganization,
                        format!("{} `{}` has no organization", doc.kind.kind, doc.name),
                    )
                    .at(doc.file, doc.root.span_at("/metadata/name"))
                    .label("which organization owns this?")
                    .help(if doc.kind.storage == crate::model::Storage::Foreign {
                        "set `metadata.namespace: kradle-org-<org>`, or move the file under orgs/<org>/"
                    } else {
                        "set `spec.organizationRef: <org>`, or move the file under orgs/<org>/"
                    }),
                );
                return None;
            }
        },
    };

    let expected_ns = match &org {
        Some(slug) => org_namespace(slug),
        None => project.platform_namespace().to_string(),
    };
    if let Some(ns) = &doc.metadata.namespace {
        if *ns != expected_ns {
            diags.push(
                Diagnostic::new(
                    Code::NamespaceMismatch,
                    format!(
                        "metadata.namespace `{ns}` is not the namespace of {}",
                        match &org {
                            Some(slug) => format!("organization `{slug}`"),
                            None => "the platform".to_string(),
                        }
                    ),
                )
                .at(doc.file, doc.root.span_at("/metadata/namespace"))
                .label(format!("expected `{expected_ns}`"))
                .help(format!(
                    "remove metadata.namespace (kradle sets it) or set it to `{expected_ns}`"
                )),
            );
        }
    }
    if let (Some(slug), Some(label)) = (&org, doc.metadata.labels.get(ORG_LABEL)) {
        if label != slug {
            diags.push(
                Diagnostic::new(
                    Code::OrgLabelMismatch,
                    format!("label {ORG_LABEL}=`{label}` contradicts organization `{slug}`"),
                )
                .at(
                    doc.file,
                    doc.root.span_at("/metadata/labels/kradle.a5c.ai~1org"),
                )
                .label(format!("expected `{slug}`"))
                .help("remove the label; kradle sets it from the organization"),
            );
        }
    }

    Some(Resource {
        file: doc.file,
        kind: doc.kind,
        name: doc.name,
        org,
        metadata: doc.metadata,
        spec: doc.spec,
        root: doc.root,
    })
}

trait SpanAt {
    fn span_at(&self, pointer: &str) -> Span;
}

impl SpanAt for Node {
    fn span_at(&self, pointer: &str) -> Span {
        self.pointer(pointer).map_or(self.span, |n| n.span)
    }
}

struct Claim<'a> {
    org: String,
    file: FileId,
    span: Span,
    by: &'a str,
}

/// Each org owns exactly one namespace, `kradle-org-<slug>`, and no namespace is shared.
pub fn check_namespaces(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut claims: BTreeMap<String, Vec<Claim<'_>>> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();

    for r in &model.resources {
        // What each kind claims: the namespace it names, where, and the message
        // when that is not the organization's own namespace.
        let (namespace, pointer, by) = match &r.spec {
            Some(Spec::Organization(spec)) => {
                (&spec.namespace_name, "/spec/namespaceName", "Organization")
            }
            Some(Spec::OrgNamespaceBinding(spec)) => {
                (&spec.namespace, "/spec/namespace", "OrgNamespaceBinding")
            }
            _ => continue,
        };
        let Some(slug) = r.org_slug() else { continue };
        let expected = org_namespace(&slug);
        if *namespace != expected {
            let message = if by == "Organization" {
                format!(
                    "organization `{}` must own namespace `{expected}`, not `{namespace}`",
                    r.name
                )
            } else {
                format!(
                    "OrgNamespaceBinding `{}` binds organization `{slug}` to `{namespace}`; its namespace is `{expected}`",
                    r.name
                )
            };
            let field = pointer.rsplit('/').next().unwrap_or(pointer);
            diags.push(
                Diagnostic::new(Code::OrgNamespaceName, message)
                    .at(r.file, r.span_of(pointer))
                    .label(format!("expected `{expected}`"))
                    .help(format!("set `{field}: {expected}`")),
            );
        }
        if let Some(Spec::Organization(spec)) = &r.spec {
            if let Some(given) = spec.slug.as_ref().filter(|g| **g != slug) {
                diags.push(
                    Diagnostic::new(
                        Code::OrgNamespaceName,
                        format!(
                            "spec.slug `{given}` is not the slug of `{}` (`{slug}`)",
                            r.name
                        ),
                    )
                    .at(r.file, r.span_of("/spec/slug"))
                    .help("remove spec.slug; kradle derives it from metadata.name"),
                );
            }
        } else {
            bindings.entry(slug.clone()).or_default().push(r);
        }
        claims.entry(namespace.clone()).or_default().push(Claim {
            org: slug,
            file: r.file,
            span: r.span_of(pointer),
            by,
        });
    }

    for (ns, list) in &claims {
        let Some(first) = list.first() else { continue };
        for other in list.iter().skip(1).filter(|c| c.org != first.org) {
            diags.push(
                Diagnostic::new(
                    Code::NamespaceClaimedTwice,
                    format!(
                        "namespace `{ns}` is claimed by organizations `{}` and `{}`",
                        first.org, other.org
                    ),
                )
                .at(other.file, other.span)
                .label(format!("claimed here by {} of `{}`", other.by, other.org))
                .related(
                    first.file,
                    first.span,
                    format!("first claimed by `{}`", first.org),
                )
                .help("each organization owns exactly one namespace, kradle-org-<slug>"),
            );
        }
    }

    for (slug, list) in &bindings {
        let Some(first) = list.first() else { continue };
        for other in list.iter().skip(1) {
            diags.push(
                Diagnostic::new(
                    Code::DuplicateNamespaceBinding,
                    format!(
                        "organization `{slug}` has a second OrgNamespaceBinding `{}`",
                        other.name
                    ),
                )
                .at(other.file, other.span_of("/spec/organizationRef"))
                .related(
                    first.file,
                    first.span_of("/spec/organizationRef"),
                    format!("`{}` binds it first", first.name),
                )
                .help("keep one OrgNamespaceBinding per organization"),
            );
        }
    }
}
