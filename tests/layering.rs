//! The compiler's layering, enforced: no async, database or network crate in
//! the compiler, and no module importing a layer above its own
//! (base ← model ← check ← lower ← output; docs/architecture.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The crates `kradle-compiler` depends on at run time, one per line.
fn compiler_tree(extra: &[&str]) -> String {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "kradle-compiler",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
            "--offline",
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(tree.contains("kradle-compiler"), "{tree}");
    tree
}

#[test]
fn without_the_terminal_renderer_the_compiler_has_no_miette() {
    let tree = compiler_tree(&["--no-default-features"]);
    assert!(
        !tree.lines().any(|l| l.starts_with("miette ")),
        "kradle-compiler --no-default-features still depends on miette:\n{tree}"
    );
    // The default build renders for terminals.
    assert!(compiler_tree(&[]).lines().any(|l| l.starts_with("miette ")));
}

#[test]
fn the_compiler_has_no_async_database_or_network_dependency() {
    let tree = compiler_tree(&[]);
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for banned in [
            "tokio",
            "sqlx",
            "reqwest",
            "hyper",
            "axum",
            "kube-client",
            "tower",
        ] {
            assert!(
                name != banned && !name.starts_with(&format!("{banned}-")),
                "kradle-compiler depends on {name}: the compiler stays pure (no async, database or network)"
            );
        }
    }
}

/// The layer of a top-level module of the compiler crate.
fn layer(module: &str) -> Option<(u8, &'static str)> {
    Some(match module {
        "yaml" | "source" | "diagnostics" | "text" | "sshkey" | "template" | "emit" | "ignore" => {
            (0, "base")
        }
        "model" | "schemas" | "project" | "forge_plan" | "builtin" => (1, "model"),
        "check" => (2, "check"),
        "lower" => (3, "lower"),
        "layout" | "diff" | "plan" | "render" | "write" | "reference" => (4, "output"),
        _ => return None,
    })
}

/// Every module `lib.rs` declares has a layer: a new one cannot slip past
/// the rule by being unlisted.
#[test]
fn every_module_of_the_compiler_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("compiler/src/lib.rs"))
            .unwrap();
    let unlisted: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or(l.trim().strip_prefix("mod "))
        })
        .map(|m| m.trim_end_matches(';'))
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(unlisted.is_empty(), "modules with no layer: {unlisted:?}");
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let mut violations = Vec::new();
    for (rel, code) in source_files("compiler/src") {
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        let Some((own, own_name)) = layer(top) else {
            continue;
        };
        // Unit tests may reach up (they build models through `validate`):
        // `source_files` leaves them out.
        for (i, line) in code.lines().enumerate() {
            for part in line.split("crate::").skip(1) {
                let module: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some((other, other_name)) = layer(&module) {
                    if other > own {
                        violations.push(format!(
                            "{rel}:{}: {own_name} imports {other_name} (crate::{module})",
                            i + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}

/// The Rust files under `dir` (from the repository root), relative to it,
/// with their code: unit tests (from `#[cfg(test)]` on) left out, and
/// comment lines blanked (so line numbers stay).
fn source_files(dir: &str) -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).unwrap().to_string_lossy();
                let text = std::fs::read_to_string(&path).unwrap();
                let code: Vec<&str> = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap()
                    .lines()
                    .map(|l| {
                        if l.trim_start().starts_with("//") {
                            ""
                        } else {
                            l
                        }
                    })
                    .collect();
                files.push((rel.replace('\\', "/"), code.join("\n")));
            }
        }
    }
    files.sort();
    files
}

/// The runtime's source files, relative to `runtime/src`, without the unit
/// tests kept in files of their own (`…/tests.rs`).
fn runtime_files() -> Vec<(String, String)> {
    let mut files = source_files("runtime/src");
    files.retain(|(rel, _)| !rel.ends_with("/tests.rs"));
    files
}

/// The runtime file a `crate::a::b…` path names: `a/b.rs` when there is
/// one, else `a/mod.rs` or `a.rs` (an item of `a`).
fn runtime_file_of(path: &str, files: &[(String, String)]) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    let has = |f: &str| files.iter().any(|(r, _)| r == f);
    if parts.len() >= 2 {
        let file = format!("{}/{}.rs", parts[0], parts[1]);
        if has(&file) {
            return Some(file);
        }
    }
    [format!("{}/mod.rs", parts[0]), format!("{}.rs", parts[0])]
        .into_iter()
        .find(|f| has(f))
}

/// The runtime's pure modules: decisions and data, no I/O. The store may
/// use their types; they use no adapter.
const PURE: &[&str] = &[
    "agent/mod.rs",
    "dispatch/mod.rs",
    "dispatch/run.rs",
    "dispatch/outcome.rs",
    "dispatch/bundle.rs",
    "dispatch/catalog.rs",
    "dispatch/cron.rs",
    "dispatch/job.rs",
    "dispatch/executor.rs",
    "sync/mod.rs",
    "writeback/mod.rs",
    "secrets/mod.rs",
    "text_enum.rs",
];

/// Every `crate::…` path of `code`.
fn crate_paths(code: &str) -> Vec<String> {
    code.split("crate::")
        .skip(1)
        .map(|p| {
            p.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect::<String>()
                .trim_end_matches(':')
                .to_string()
        })
        .collect()
}

/// Files outside `store/` that name sqlx.
fn sql_outside_the_store(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(rel, code)| !rel.starts_with("store/") && code.contains("sqlx"))
        .map(|(rel, _)| format!("{rel} uses sqlx"))
        .collect()
}

/// Pure modules that do I/O or use an adapter.
fn impure_pure_modules(files: &[(String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (rel, code) in files.iter().filter(|(r, _)| PURE.contains(&r.as_str())) {
        for banned in [
            "tokio::",
            "axum::",
            "hyper::",
            "sqlx",
            "kube::",
            "k8s_openapi::",
            "git2::",
        ] {
            if code.contains(banned) {
                violations.push(format!("{rel} uses {banned}"));
            }
        }
        for path in crate_paths(code) {
            let top = path.split("::").next().unwrap_or_default();
            if [
                "store", "forge", "serve", "apply", "import", "cluster", "loops",
            ]
            .contains(&top)
            {
                violations.push(format!("{rel} imports crate::{path}"));
            }
        }
    }
    violations
}

/// Every item a file names under `crate::`, groups expanded:
/// `use crate::a::{B, c::D}` gives `a::B` and `a::c::D`.
fn crate_items(code: &str) -> Vec<String> {
    fn expand(prefix: &str, rest: &str, out: &mut Vec<String>) {
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let after = &rest[path.len()..];
        let full = format!("{prefix}{path}");
        if !after.starts_with('{') {
            out.push(full.trim_end_matches(':').to_string());
            return;
        }
        let (mut depth, mut start) = (0, 1);
        for (i, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 1 => {
                    let part = after[start..i].trim();
                    if !part.is_empty() {
                        expand(&full, part, out);
                    }
                    start = i + 1;
                    if c == '}' {
                        return;
                    }
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for part in code.split("crate::").skip(1) {
        expand("", part, &mut out);
    }
    out
}

/// Modules any layer may use: the names kradle gives objects and the
/// text-enum macro.
const VOCABULARY: &[&str] = &["names.rs", "text_enum.rs"];

/// Store imports that are not a type or constant of a pure module (or the
/// vocabulary): the store is an adapter, it reads and writes the domain's
/// types but calls none of its functions.
fn store_imports(files: &[(String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (rel, code) in files.iter().filter(|(r, _)| r.starts_with("store/")) {
        for path in crate_items(code) {
            if path.starts_with("store") {
                continue;
            }
            let item = path.rsplit("::").next().unwrap_or_default();
            let is_type = item.starts_with(|c: char| c.is_ascii_uppercase());
            match runtime_file_of(&path, files) {
                Some(file) if VOCABULARY.contains(&file.as_str()) => {}
                Some(file) if PURE.contains(&file.as_str()) && is_type => {}
                Some(file) if PURE.contains(&file.as_str()) => violations.push(format!(
                    "{rel} calls crate::{path}, a function of {file}: the store holds no domain logic"
                )),
                other => violations.push(format!(
                    "{rel} imports crate::{path} ({}), which is not a pure module",
                    other.unwrap_or_else(|| "unknown".into())
                )),
            }
        }
    }
    violations
}

/// Forge files that use the store: a forge client reads and writes the
/// forge, the journal is the caller's.
fn forge_imports(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(r, _)| r.starts_with("forge/"))
        .flat_map(|(rel, code)| {
            crate_items(code)
                .into_iter()
                .filter(|p| p.starts_with("store"))
                .map(move |p| format!("{rel} imports crate::{p}"))
        })
        .collect()
}

/// Files outside `cluster/` that use kube-rs: the Kubernetes adapter is
/// one module.
fn kubernetes_outside_the_cluster_adapter(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(rel, code)| {
            !rel.starts_with("cluster/")
                && (code.contains("kube::") || code.contains("k8s_openapi"))
        })
        .map(|(rel, _)| format!("{rel} uses kube-rs"))
        .collect()
}

/// The adapters: each speaks to one outside system.
const ADAPTERS: &[&str] = &["store", "forge", "cluster"];

/// Adapter files that import another adapter.
fn adapters_importing_adapters(files: &[(String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (rel, code) in files {
        let own = rel.split('/').next().unwrap_or_default();
        if !ADAPTERS.contains(&own) {
            continue;
        }
        for path in crate_items(code) {
            let top = path.split("::").next().unwrap_or_default();
            if top != own && ADAPTERS.contains(&top) {
                violations.push(format!("{rel} imports crate::{path}"));
            }
        }
    }
    violations
}

/// The module path of a runtime file: `dispatch/mux.rs` is
/// `dispatch::mux`, `dispatch/mod.rs` is `dispatch`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The file a module path names: the longest prefix that is a file.
fn file_of(parts: &[String], files: &[(String, String)]) -> Option<String> {
    let has = |f: &str| files.iter().any(|(r, _)| r == f);
    (1..=parts.len()).rev().find_map(|n| {
        let base = parts[..n].join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|f| has(f))
    })
}

/// The runtime files each file imports (`crate::` and `super::` paths).
fn import_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (rel, code) in files {
        let me = module_of(rel);
        let parent = &me[..me.len().saturating_sub(1)];
        let mut deps = BTreeSet::new();
        let supers = code.replace("crate::", "\u{0}");
        let mut paths: Vec<Vec<String>> = crate_items(code)
            .iter()
            .map(|p| p.split("::").map(str::to_string).collect())
            .collect();
        for p in crate_items(&supers.replace("super::", "crate::")) {
            let mut full = parent.to_vec();
            full.extend(p.split("::").map(str::to_string));
            paths.push(full);
        }
        for path in paths {
            if let Some(file) = file_of(&path, files) {
                if &file != rel {
                    deps.insert(file);
                }
            }
        }
        graph.insert(rel.clone(), deps);
    }
    graph
}

/// Groups of runtime files that import each other, in a cycle.
fn import_cycles(files: &[(String, String)]) -> Vec<Vec<String>> {
    let graph = import_graph(files);
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(f) = todo.pop() {
            for d in graph.get(&f).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|f| (f, reaches(f))).collect();
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for (f, r) in &reach {
        if !r.contains(*f) || cycles.iter().any(|c| c.contains(*f)) {
            continue;
        }
        let cycle: Vec<String> = reach
            .iter()
            .filter(|(g, rg)| r.contains(**g) && rg.contains(*f))
            .map(|(g, _)| (*g).clone())
            .collect();
        cycles.push(cycle);
    }
    cycles
}

#[test]
fn only_the_cluster_adapter_speaks_kubernetes() {
    let v = kubernetes_outside_the_cluster_adapter(&runtime_files());
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn no_adapter_imports_another() {
    let v = adapters_importing_adapters(&runtime_files());
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_runtime_has_no_import_cycle() {
    let cycles = import_cycles(&runtime_files());
    assert!(
        cycles.is_empty(),
        "files that import each other: {cycles:?}"
    );
}

#[test]
fn only_the_store_speaks_sql() {
    let v = sql_outside_the_store(&runtime_files());
    assert!(
        v.is_empty(),
        "sqlx outside runtime/src/store/ (serve/ and the domain modules hold no SQL):\n{}",
        v.join("\n")
    );
}

#[test]
fn pure_modules_use_no_adapter_and_do_no_io() {
    let files = runtime_files();
    for pure in PURE {
        assert!(
            files.iter().any(|(r, _)| r == pure),
            "{pure} is listed as pure but does not exist"
        );
    }
    let v = impure_pure_modules(&files);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_store_imports_only_the_domains_types() {
    let v = store_imports(&runtime_files());
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_forge_does_not_use_the_store() {
    let v = forge_imports(&runtime_files());
    assert!(v.is_empty(), "{}", v.join("\n"));
}

/// The rules catch what crosses them.
#[test]
fn the_runtime_rules_fail_on_a_crossing() {
    let file = |rel: &str, code: &str| (rel.to_string(), code.to_string());
    let files = vec![
        file(
            "store/mod.rs",
            "use crate::serve::AppState;\nuse crate::dispatch::run::{Run, next};\n\
             use crate::names::run_name;",
        ),
        file("forge/mod.rs", "use crate::{http::Http, store::Link};"),
        file("names.rs", ""),
        file("serve/mod.rs", "sqlx::query(\"SELECT 1\")"),
        file("serve/dispatch.rs", ""),
        file(
            "dispatch/run.rs",
            "use crate::store::Store;\ntokio::spawn(x);",
        ),
    ];
    assert_eq!(sql_outside_the_store(&files), ["serve/mod.rs uses sqlx"]);
    assert_eq!(
        impure_pure_modules(&files),
        [
            "dispatch/run.rs uses tokio::",
            "dispatch/run.rs imports crate::store::Store"
        ]
    );
    assert_eq!(
        store_imports(&files),
        [
            "store/mod.rs imports crate::serve::AppState (serve/mod.rs), which is not a pure module",
            "store/mod.rs calls crate::dispatch::run::next, a function of dispatch/run.rs: the store holds no domain logic",
        ]
    );
    assert_eq!(
        forge_imports(&files),
        ["forge/mod.rs imports crate::store::Link"]
    );
}
