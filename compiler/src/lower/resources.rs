//! resources: every config resource, normalized as the cluster stores it —
//! namespace set, org labels, defaults of the spec applied, derived fields
//! (organization slug, SSH key fingerprint) computed, references written in
//! their canonical form (a plain name). Hand-written KubeVela Applications
//! pass through to the org's delivery folder, namespaced and labelled.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::model::common::Ref;
use crate::model::identity::{OrgVisibility, OrganizationSpec};
use crate::model::repository::{KeyScope, RepositorySpec, Visibility};
use crate::model::workspace::AccessMode;
use crate::model::{Model, Resource};
use crate::model::{Spec, Storage, org_namespace};

use super::{Object, Origin, Wave, base_labels, object, wave_annotation};

pub const DEFAULT_BRANCH: &str = "main";
pub const DEFAULT_RUNNER_IMAGE: &str = "ubuntu:24.04";
pub const DEFAULT_RUNNER_SERVICE_ACCOUNT: &str = "kradle-runner";
pub const DEFAULT_STORAGE_CLASS: &str = "standard";
pub const DEFAULT_CAPACITY: &str = "10Gi";

/// The spec with the spec's defaults filled in and derived fields computed.
/// An organization's forge visibility: as declared, else `public` when one
/// of its repositories is public (a public repository of a private Gitea
/// organization is invisible to anonymous users), else `private`.
pub fn org_visibility(model: &Model, slug: &str, spec: &OrganizationSpec) -> OrgVisibility {
    spec.visibility.unwrap_or_else(|| {
        let public = model
            .all::<RepositorySpec>()
            .any(|(r, s)| r.org.as_deref() == Some(slug) && s.visibility == Visibility::Public);
        if public {
            OrgVisibility::Public
        } else {
            OrgVisibility::Private
        }
    })
}

pub fn with_defaults(r: &Resource, spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    let org = r.org.clone().map(Ref);
    match &mut spec {
        Spec::Organization(s) => s.slug = r.org_slug(),
        Spec::OrgNamespaceBinding(s) => {
            s.create_namespace.get_or_insert(true);
        }
        Spec::AgentServiceAccount(s) => {
            if let Some(org) = r.org_slug() {
                s.namespace
                    .get_or_insert_with(|| crate::model::org_namespace(&org));
            }
        }
        Spec::Repository(s) => {
            s.default_branch
                .get_or_insert_with(|| DEFAULT_BRANCH.into());
        }
        Spec::SSHKey(s) => {
            // Read-only unless it is a user's own key (spec): a deploy or
            // automation key that may push must say so.
            s.read_only.get_or_insert(s.scope != KeyScope::User);
            s.revoked.get_or_insert(false);
            if let Ok(k) = crate::sshkey::parse(&s.key) {
                s.fingerprint = Some(k.fingerprint());
            }
        }
        Spec::RepositoryPermission(s) => {
            s.subject_kind
                .get_or_insert(crate::model::repository::SubjectKind::User);
            s.revoked.get_or_insert(false);
        }
        Spec::BranchProtection(s) => {
            s.required_reviews.get_or_insert(1);
            s.allow_force_push.get_or_insert(false);
            if let crate::model::repository::OneOrMany::One(one) = &s.refs {
                s.refs = crate::model::repository::OneOrMany::Many(vec![one.clone()]);
            }
        }
        Spec::WebhookSubscription(s) => {
            s.content_type
                .get_or_insert(crate::model::repository::ContentType::Json);
            s.active.get_or_insert(true);
        }
        Spec::RunnerPool(s) => {
            s.image.get_or_insert_with(|| DEFAULT_RUNNER_IMAGE.into());
            s.scaling_metric
                .get_or_insert(crate::model::repository::ScalingMetric::QueueDepth);
            s.service_account
                .get_or_insert_with(|| DEFAULT_RUNNER_SERVICE_ACCOUNT.into());
        }
        Spec::AgentTriggerRule(s) => {
            s.enabled.get_or_insert(true);
        }
        Spec::KradleProject(s) => {
            s.board_state
                .get_or_insert(crate::model::agents::BoardState::Active);
        }
        Spec::KradleWorkspace(s) => {
            s.branch.get_or_insert_with(|| DEFAULT_BRANCH.into());
            s.pvc_name
                .get_or_insert_with(|| super::object_name(&format!("kradle-ws-{}", r.name)));
            s.volume_spec
                .storage_class_name
                .get_or_insert_with(|| DEFAULT_STORAGE_CLASS.into());
            s.volume_spec
                .capacity
                .get_or_insert_with(|| DEFAULT_CAPACITY.into());
            if s.volume_spec.access_modes.is_empty() {
                s.volume_spec.access_modes.push(AccessMode::ReadWriteOnce);
            }
        }
        _ => {}
    }
    set_org(&mut spec, r.kind.kind, org);
    spec
}

/// Writes the resource's organization into `spec.organizationRef` (every
/// kind but Organization has one), so the stored object names it explicitly.
fn set_org(spec: &mut Spec, kind: &str, org: Option<Ref>) {
    let Some(org) = org else { return };
    // Organization has no organizationRef; a KubeVela Application is not ours to extend.
    if matches!(spec, Spec::Organization(_) | Spec::Application(_)) {
        return;
    }
    let mut value = spec.to_json();
    if let Some(m) = value.as_object_mut() {
        m.insert("organizationRef".into(), json!(org.0));
    }
    if let Ok(s) = Spec::from_json(kind, value) {
        *spec = s;
    }
}

pub fn namespace_of(model: &Model, r: &Resource) -> String {
    match &r.org {
        Some(slug) => org_namespace(slug),
        None => model.project.platform_namespace().to_string(),
    }
}

pub fn dir_of(r: &Resource, sub: &str) -> String {
    match &r.org {
        Some(slug) => format!("orgs/{slug}/{sub}"),
        None => format!("platform/{sub}"),
    }
}

pub fn lower(model: &Model) -> Vec<Object> {
    let mut out = Vec::new();
    for r in &model.resources {
        let Some(spec) = &r.spec else { continue };
        let mut spec = with_defaults(r, spec);
        if let Spec::Organization(o) = &mut spec {
            let slug = r.org_slug().unwrap_or_default();
            o.visibility = Some(org_visibility(model, &slug, o));
        }
        // An OrgNamespaceBinding is labelled like the one kradle generates.
        let org = r.org_slug();
        let mut labels: BTreeMap<String, String> = r.metadata.labels.clone();
        labels.extend(base_labels(org.as_deref()));
        let mut annotations = r.metadata.annotations.clone();
        annotations.extend(wave_annotation(Wave::Resources));
        let value: Value = object(
            r.kind.api_version,
            r.kind.kind,
            &r.name,
            Some(&namespace_of(model, r)),
            &labels,
            &annotations,
            vec![("spec", spec.to_json())],
        );
        let folder = if r.kind.storage == Storage::Foreign {
            "delivery"
        } else {
            "resources"
        };
        out.push(Object {
            origin: Origin::of(r),
            dir: dir_of(r, folder),
            value,
        });
    }
    out
}
