//! Names: metadata.name must be a valid Kubernetes name, and a kind and name
//! is declared once per organization (or once in the platform).

use crate::diagnostics::{Code, Diagnostic};
use crate::model::{Kind, Scope};

use super::Model;

/// DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', alphanumeric at
/// both ends of each dot-separated part, at most 253 characters.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && !name.is_empty() && name.split('.').all(is_dns1123_label_unbounded)
}

fn is_dns1123_label_unbounded(part: &str) -> bool {
    let b = part.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 label of at most `max` characters.
pub fn is_dns1123_label(name: &str, max: usize) -> bool {
    name.len() <= max && is_dns1123_label_unbounded(name)
}

pub fn check_names(model: &Model, diags: &mut Vec<Diagnostic>) {
    for r in &model.resources {
        let (ok, rule) = if r.kind.id == Kind::Organization {
            (
                is_dns1123_label(&r.name, 52),
                "an organization name is a DNS-1123 label of at most 52 characters (lowercase letters, digits and '-'), so that kradle-org-<name> is a valid namespace",
            )
        } else {
            (
                is_dns1123_subdomain(&r.name),
                "names are DNS-1123 subdomains: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
            )
        };
        if !ok {
            let suggestion = crate::model::normalize_org_slug(&r.name);
            let mut help = rule.to_string();
            if !suggestion.is_empty() && suggestion != r.name {
                help.push_str(&format!("; for example `{suggestion}`"));
            }
            diags.push(
                Diagnostic::new(
                    Code::InvalidName,
                    format!(
                        "`{}` is not a valid name for {}",
                        r.name,
                        crate::diagnostics::article(r.kind.kind)
                    ),
                )
                .at(r.file, r.span_of("/metadata/name"))
                .label("invalid name")
                .help(help),
            );
        }
    }
}

/// Builds the (org, kind, name) index; a second declaration is an error that
/// points at both places.
pub fn index_and_find_duplicates(model: &mut Model, diags: &mut Vec<Diagnostic>) {
    for (i, r) in model.resources.iter().enumerate() {
        let key = (r.org.clone(), r.kind.id, r.name.clone());
        if let Some(&first) = model.index.get(&key) {
            let f = &model.resources[first];
            let where_ = match (&r.org, r.kind.scope) {
                (Some(org), _) => format!("organization `{org}`"),
                (None, Scope::OrgOrPlatform) => "the platform-wide templates".to_string(),
                (None, _) => "the platform".to_string(),
            };
            diags.push(
                Diagnostic::new(
                    Code::DuplicateResource,
                    format!("{} `{}` is declared twice in {where_}", r.kind.kind, r.name),
                )
                .at(r.file, r.span_of("/metadata/name"))
                .label("declared again here")
                .related(f.file, f.span_of("/metadata/name"), "first declared here")
                .help("rename one of them or remove the duplicate"),
            );
        } else {
            model.index.insert(key, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_subdomain("api"));
        assert!(is_dns1123_subdomain("api.v2-x"));
        assert!(!is_dns1123_subdomain("Api"));
        assert!(!is_dns1123_subdomain("api_x"));
        assert!(!is_dns1123_subdomain("-api"));
        assert!(!is_dns1123_subdomain(""));
        assert!(!is_dns1123_label("a.b", 63));
        assert!(!is_dns1123_label(&"a".repeat(53), 52));
    }
}
