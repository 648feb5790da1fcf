//! collisions: two inputs must never lower to the same output.
//!
//! Generated names follow patterns (`kradle-secret-<grant>`,
//! `runner-pool-<pool>`, `kradle-ws-<workspace>`, `kradle-<org>-<binding>`,
//! ...) that a user's own resource can match: an AgentRoleBinding named
//! `kradle-secret-db` would replace the Role binding of grant `db`, with
//! whatever role it names. Instead of trusting every pattern, this pass
//! looks at the final output once, after every pass: an object identity
//! (apiVersion, kind, namespace, name) or an output file produced twice is an
//! error naming both sources, and nothing is written.

use std::collections::BTreeMap;

use crate::diagnostics::{Code, Diagnostic};

use super::{Object, Origin};

fn describe(o: &Object) -> String {
    let ns = o.namespace();
    let ns = if ns.is_empty() {
        String::new()
    } else {
        format!("{ns}/")
    };
    format!("{} {ns}{}", o.kind(), o.name())
}

fn source(origin: Option<&Origin>) -> String {
    match origin {
        Some(o) => format!("{} `{}`", o.kind, o.name),
        None => "kradle itself".into(),
    }
}

/// Reports every output identity and file produced more than once.
pub fn check(objects: &[Object], diags: &mut Vec<Diagnostic>) {
    let mut by_identity: BTreeMap<_, Vec<&Object>> = BTreeMap::new();
    let mut by_file: BTreeMap<String, Vec<&Object>> = BTreeMap::new();
    for o in objects {
        by_identity.entry(o.identity()).or_default().push(o);
        by_file
            .entry(format!("{}/{}", o.dir, o.file_name()))
            .or_default()
            .push(o);
    }
    let mut reported = std::collections::BTreeSet::new();
    let groups = by_identity
        .into_values()
        .map(|g| (g, None))
        .chain(by_file.into_iter().map(|(f, g)| (g, Some(f))));
    for (group, file) in groups {
        let [first, second, ..] = group.as_slice() else {
            continue;
        };
        let key = (
            first.identity(),
            second.identity(),
            source(first.origin.as_ref()),
            source(second.origin.as_ref()),
        );
        if !reported.insert(key) {
            continue;
        }
        let what = match &file {
            None => describe(first),
            Some(f) => format!("the output file {f}"),
        };
        let message = format!(
            "{what} would be produced by both {} and {}",
            source(first.origin.as_ref()),
            source(second.origin.as_ref())
        );
        let mut d = Diagnostic::new(Code::OutputCollision, message).help(
            "rename one of them: one would silently replace the other in the cluster (kradle's generated names are listed in docs/output-layout.md)",
        );
        // Point at a user's resource, preferring the second (usually the one
        // that copies a generated name).
        let (primary, other) = match (&first.origin, &second.origin) {
            (_, Some(b)) => (Some(b), first.origin.as_ref()),
            (Some(a), None) => (Some(a), None),
            (None, None) => (None, None),
        };
        if let Some(p) = primary {
            d = d.at(p.file, p.span).label("produces the same output");
        }
        if let Some(o) = other {
            d = d.related(o.file, o.span, "also produced from here");
        }
        diags.push(d);
    }
}
