//! `policy-template-parameter` (KR517): PolicyTemplate parameters.
//!
//! What it checks: a template's `kyverno` body compiles as a template, and
//! every `[[ params.NAME ]]` it uses has a value where it is bound: a
//! default in the template, or a value in the PolicyBinding. A
//! PolicyProfile binds its templates with their defaults only.
//!
//! Why: an undefined parameter would render an empty or broken Kyverno
//! policy that the cluster rejects or, worse, accepts and never matches.
//!
//! Example:
//! ```yaml
//! kind: PolicyTemplate
//! metadata: { name: max-replicas }
//! spec: { kyverno: "... [[ params.max ]] ..." }
//! ---
//! kind: PolicyBinding
//! spec: { templateRef: max-replicas }   # KR517: `max` has no value
//! ```

use std::collections::BTreeMap;

use crate::diagnostics::{Code, Diagnostic};
use crate::model::policy::{PolicyBindingSpec, PolicyProfileSpec, PolicyTemplateSpec};
use crate::model::{Kind, Ref};

use super::{Ctx, Model};

pub(super) fn template(d: &mut Ctx<'_, '_>, s: &PolicyTemplateSpec) {
    if let Some(e) = crate::template::syntax_error(&s.kyverno) {
        d.err(
            Code::PolicyParameter,
            "/spec/kyverno",
            &format!("the kyverno body does not compile as a template: {e}"),
            "parameters are written `[[ params.NAME ]]`",
        );
    }
}

pub(super) fn binding(model: &Model, d: &mut Ctx<'_, '_>, s: &PolicyBindingSpec) {
    parameters(
        model,
        d,
        &s.template_ref,
        &s.parameters,
        "/spec/templateRef",
    );
}

pub(super) fn profile(model: &Model, d: &mut Ctx<'_, '_>, s: &PolicyProfileSpec) {
    let none = BTreeMap::new();
    for (i, t) in s.default_templates.iter().enumerate() {
        parameters(model, d, t, &none, &format!("/spec/defaultTemplates/{i}"));
    }
}

/// Every `[[ params.NAME ]]` of the bound template has a default or a value here.
fn parameters(
    model: &Model,
    d: &mut Ctx<'_, '_>,
    template: &Ref,
    given: &BTreeMap<String, serde_json::Value>,
    pointer: &str,
) {
    let org = d.r.org.as_deref();
    let found = model
        .get::<PolicyTemplateSpec>(org, template.name())
        .or_else(|| model.get::<PolicyTemplateSpec>(None, template.name()));
    let Some((found, t)) = found else {
        return;
    };
    // A built-in template cannot be edited: only the binding can give a value.
    let builtin = model.is_builtin(found);
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
            diag = match (d.r.kind.id == Kind::PolicyProfile, builtin) {
                (true, false) => diag.help(format!("profiles bind templates with their defaults: give `{name}` a default in the template, or bind it with a PolicyBinding that sets it")),
                (true, true) => diag.help(format!("`{}` is built in and `{name}` has no default: bind it with a PolicyBinding that sets it, not through a profile (docs/policies.md lists its parameters)", template.name())),
                (false, false) => diag.help(format!("set it under `spec.parameters:` (`{name}: <value>`), or give it a default in the template")),
                (false, true) => diag.help(format!("set it under `spec.parameters:` (`{name}: <value>`); `{}` is built in, so it has no default to give (docs/policies.md lists its parameters)", template.name())),
            };
            d.push(diag);
        }
    }
}
