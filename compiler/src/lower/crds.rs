//! crds: the CustomResourceDefinition of every config kind (first sync wave).

use crate::model::KINDS;
use crate::schemas::crd;

use super::{Object, SYNC_WAVE, Wave};

pub fn lower() -> Vec<Object> {
    KINDS
        .iter()
        .filter(|k| k.is_config())
        .map(|k| {
            let mut value = crd(k);
            value["metadata"]["annotations"] =
                serde_json::json!({ SYNC_WAVE: (Wave::Crds as i32).to_string() });
            Object {
                dir: "platform/crds".into(),
                value,
                origin: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_crd_per_config_kind_in_the_first_wave() {
        let crds = super::lower();
        assert_eq!(crds.len(), 51);
        assert!(crds.iter().all(|o| o.kind() == "CustomResourceDefinition"));
        assert_eq!(
            crds[0].value["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"],
            "0"
        );
    }
}
