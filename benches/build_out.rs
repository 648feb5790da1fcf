//! `cargo bench --bench build_out`: the release binary's `kradle build --out` on
//! the generated 10,000-resource repository (docs/benchmarks.md, "Incremental
//! `build --out`"). Prints, as min and median of several runs:
//!
//! - `build --stdout` into /dev/null, the reference;
//! - a clean build into a folder that does not exist (goal: <= 2 s);
//! - a rebuild of unchanged output (goal: <= 1.3x the `--stdout` time);
//! - the files a one-resource change rewrites (goal: <= 5), and which.
//!
//! `KRADLE_BENCH_ORGS` (default 50) and `KRADLE_BENCH_RUNS` (default 5).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark program: failing loudly is right

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO_URL: &str = "https://git.example.com/platform/config.git";

fn kradle(args: &[&str], stdout: Stdio) -> (Duration, String) {
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run kradle");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "kradle {args:?}: {stderr}");
    (elapsed, stderr)
}

fn summary(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn snapshot(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            snapshot(&entry.path(), root, out);
        } else {
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string();
            out.insert(rel, std::fs::read(entry.path()).unwrap());
        }
    }
}

fn main() {
    let orgs = std::env::var("KRADLE_BENCH_ORGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let runs: usize = std::env::var("KRADLE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("config");
    let resources = xtask::generate(&config, orgs).expect("generate");
    let config_arg = config.to_str().unwrap();
    let out = tmp.path().join("out");
    let out_arg = out.to_str().unwrap();

    let mut stdout_times: Vec<Duration> = (0..runs)
        .map(|_| {
            kradle(
                &["build", config_arg, "--stdout", "--repo-url", REPO_URL],
                Stdio::null(),
            )
            .0
        })
        .collect();
    let (stdout_min, stdout_med) = summary(&mut stdout_times);

    // Clean builds go into folders that never existed: deleting a 10k-file tree
    // right before makes file creation several times slower on some file
    // systems (ext4 mounted with `discard`), which is not the build's cost.
    let mut clean_times = Vec::new();
    for i in 0..runs {
        let fresh = tmp.path().join(format!("clean-{i}"));
        let (t, stderr) = kradle(
            &[
                "build",
                config_arg,
                "--out",
                fresh.to_str().unwrap(),
                "--repo-url",
                REPO_URL,
            ],
            Stdio::null(),
        );
        assert!(
            stderr.starts_with("wrote ") && stderr.contains(" to "),
            "{stderr}"
        );
        clean_times.push(t);
    }
    let (clean_min, clean_med) = summary(&mut clean_times);
    std::fs::rename(tmp.path().join("clean-0"), &out).unwrap();

    let build_out = || {
        kradle(
            &[
                "build",
                config_arg,
                "--out",
                out_arg,
                "--repo-url",
                REPO_URL,
            ],
            Stdio::null(),
        )
    };
    let mut unchanged_times = Vec::new();
    for _ in 0..runs {
        let (t, stderr) = build_out();
        assert!(stderr.starts_with("wrote 0 files, removed 0,"), "{stderr}");
        unchanged_times.push(t);
    }
    let (unchanged_min, unchanged_med) = summary(&mut unchanged_times);

    // One resource changes: a user's display name.
    let mut before = BTreeMap::new();
    snapshot(&out, &out, &mut before);
    let people = config.join("orgs/org-000/people.yaml");
    let text = std::fs::read_to_string(&people).unwrap();
    let changed = text.replacen("displayName: User 0\n", "displayName: User Zero\n", 1);
    assert_ne!(text, changed, "the generator's first user moved");
    std::fs::write(&people, changed).unwrap();
    let (one_time, one_stderr) = build_out();
    let mut after = BTreeMap::new();
    snapshot(&out, &out, &mut after);
    let rewritten: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .chain(before.keys().filter(|k| !after.contains_key(*k)))
        .collect();

    println!(
        "generated repository: {resources} resources, {} output files",
        after.len()
    );
    println!("build --stdout (reference): min {stdout_min:.3?}, median {stdout_med:.3?}");
    println!(
        "build --out, clean:         min {clean_min:.3?}, median {clean_med:.3?} (goal <= 2 s)"
    );
    println!(
        "build --out, unchanged:     min {unchanged_min:.3?}, median {unchanged_med:.3?} = {:.2}x --stdout (median; goal <= 1.3x)",
        unchanged_med.as_secs_f64() / stdout_med.as_secs_f64()
    );
    println!(
        "build --out, one resource:  {one_time:.3?}, {} files differ (goal <= 5): {rewritten:?}; kradle said: {}",
        rewritten.len(),
        one_stderr.trim()
    );
}
