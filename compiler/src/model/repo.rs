//! The validated config repository: every resource that passed the kind
//! lookup, with its organization and typed spec, indexed by
//! (organization, kind, name). The check phase builds it; the lowering
//! passes read it. It lives in `model` so lowering never imports `check`.

use std::collections::HashMap;

use crate::model::{Kind, KindInfo, KindSpec, Metadata, Spec};
use crate::project::ProjectConfig;
use crate::source::FileId;
use crate::yaml::Node;

/// One config document that passed the kind lookup.
#[derive(Debug, Clone)]
pub struct Resource {
    pub file: FileId,
    pub kind: &'static KindInfo,
    pub name: String,
    /// Organization slug; `None` for platform-scoped resources.
    pub org: Option<String>,
    pub metadata: Metadata,
    /// The typed spec; `None` when the document did not match its schema.
    pub spec: Option<Spec>,
    /// The document as read, for spans.
    pub root: Node,
}

impl Resource {
    /// The organization this resource is about: its own slug for an
    /// Organization, the bound organization for an OrgNamespaceBinding, else
    /// the organization it belongs to. The one place a slug is derived.
    pub fn org_slug(&self) -> Option<String> {
        match (&self.spec, self.kind.id) {
            (_, Kind::Organization) => Some(crate::model::normalize_org_slug(&self.name)),
            (Some(Spec::OrgNamespaceBinding(b)), _) => {
                Some(crate::model::normalize_org_slug(b.organization_ref.name()))
            }
            _ => self.org.clone(),
        }
    }

    /// The typed spec, when this resource is of `T`'s kind and matched its schema.
    pub fn spec_as<T: KindSpec>(&self) -> Option<&T> {
        self.spec.as_ref().and_then(T::of)
    }

    /// Span of the value at `pointer`, or of the document when absent.
    pub fn span_of(&self, pointer: &str) -> crate::yaml::Span {
        self.root
            .pointer(pointer)
            .map_or(self.root.span, |n| n.span)
    }
}

/// The validated config repository.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub project: ProjectConfig,
    pub resources: Vec<Resource>,
    /// (org, kind, name) → index in `resources` of the first declaration.
    pub(crate) index: HashMap<(Option<String>, Kind, String), usize>,
    /// The files of the built-in library (`<built-in>/…`): a resource from one
    /// is kradle's, not the user's to edit.
    pub(crate) builtin_files: std::collections::BTreeSet<usize>,
}

impl Model {
    /// Whether `r` comes from the built-in library, not the config.
    pub fn is_builtin(&self, r: &Resource) -> bool {
        self.builtin_files.contains(&r.file.0)
    }

    /// The resource of `kind` named `name` in `org` (`None`: the platform).
    pub fn lookup(&self, org: Option<&str>, kind: Kind, name: &str) -> Option<&Resource> {
        let key = (org.map(str::to_string), kind, name.to_string());
        self.index.get(&key).map(|&i| &self.resources[i])
    }

    /// The resource of `T`'s kind named `name` in `org`, with its typed spec;
    /// `None` when it is missing or did not match its schema.
    pub fn get<T: KindSpec>(&self, org: Option<&str>, name: &str) -> Option<(&Resource, &T)> {
        let r = self.lookup(org, T::KIND, name)?;
        r.spec_as::<T>().map(|s| (r, s))
    }

    /// Every resource of `T`'s kind that matched its schema, with its typed spec.
    pub fn all<'a, T: KindSpec + 'a>(&'a self) -> impl Iterator<Item = (&'a Resource, &'a T)> {
        self.of_kind(T::KIND)
            .filter_map(|r| r.spec_as::<T>().map(|s| (r, s)))
    }

    /// Names of `kind` declared in `org`.
    pub fn names_in(&self, org: Option<&str>, kind: Kind) -> impl Iterator<Item = &str> {
        self.resources
            .iter()
            .filter(move |r| r.kind.id == kind && r.org.as_deref() == org)
            .map(|r| r.name.as_str())
    }

    /// Organizations (by slug) that declare a resource of `kind` named `name`.
    pub fn orgs_with<'a>(&'a self, kind: Kind, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.resources
            .iter()
            .filter(move |r| r.kind.id == kind && r.name == name)
            .filter_map(|r| r.org.as_deref())
    }

    /// Every Organization with its slug.
    pub fn organizations(&self) -> impl Iterator<Item = (String, &Resource)> {
        self.of_kind(Kind::Organization)
            .filter_map(|r| r.org_slug().map(|slug| (slug, r)))
    }

    /// Every resource of `kind`, whether or not it matched its schema.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind.id == kind)
    }
}
