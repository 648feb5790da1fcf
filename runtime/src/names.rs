//! One place for every name kradle gives an object it creates at run
//! time: runs, their Jobs and Secrets, workspaces and their PVCs, and the
//! org namespaces (the compiler's, re-exported). Callers bind these names
//! into SQL; no statement builds a name of its own.

pub use kradle_compiler::model::{org_namespace, org_of_namespace};

/// A Kubernetes name for a run of `stack` with id `id`: the stack's name
/// cut so that `agent-<run>-<attempt>` fits a label value (63).
pub fn run_name(stack: &str, id: i64) -> String {
    let mut base: String = stack.chars().take(40).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("{base}-{id}")
}

/// An attempt's Job (and its Secret): `agent-<run>-<attempt>`.
pub fn job_name(run: &str, attempt: i32) -> String {
    format!("agent-{run}-{attempt}")
}

/// The workspace a run creates when none is free: `ws-<run>`.
pub fn workspace_name(run: &str) -> String {
    format!("ws-{run}")
}

/// A run workspace's PVC: `kradle-run-<workspace>`. Never `kradle-ws-…`,
/// the name a declared KradleWorkspace compiles to.
pub fn workspace_pvc(workspace: &str) -> String {
    format!("kradle-run-{workspace}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_leave_room_for_the_job_name() {
        let long = "a".repeat(60) + "-b";
        let name = run_name(&long, 1234567890);
        assert!(job_name(&name, 10).len() <= 63, "{name}");
        assert_eq!(run_name("fix-", 7), "fix-7");
        let wide = "é".repeat(45);
        assert_eq!(run_name(&wide, 1), format!("{}-1", "é".repeat(40)));
    }

    #[test]
    fn a_run_workspace_never_takes_a_declared_workspace_pvc_name() {
        let pvc = workspace_pvc(&workspace_name("fixer-3"));
        assert_eq!(pvc, "kradle-run-ws-fixer-3");
        assert!(!pvc.starts_with("kradle-ws-"));
    }
}
