//! The claims on profiles made by running the repository's own example
//! programs under the real profiler: `leaky` leaks 100 cache entries at a known
//! line, frees its buffers on another thread (not leaks) and allocates
//! page-aligned blocks; `quickstart` is named by its own functions.
//!
//! The example binaries are built by `cargo test --workspace` (they belong to
//! the root package); this test finds them beside its own executable.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{alloc_report, fits_80};
use serde_json::Value;

/// `<target>/<profile>/examples/<name>`, found from this test's executable
/// (`<target>/<profile>/deps/examples-<hash>`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: the example programs are built by `cargo test --workspace` \
         (run that, not only `cargo test -p alloc-report-cli`)",
        path.display()
    );
    path
}

/// The 1-based line of `examples/<file>` that contains `needle`.
fn line_of(file: &str, needle: &str) -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    let source = std::fs::read_to_string(&path).unwrap();
    let i = source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {}", path.display()));
    i as u64 + 1
}

/// Runs example `name` under the profiler and returns the directory holding
/// `profile.json`. `leaky` is profiled through `ALLOC_PROFILER`, as a user
/// would profile any program; `quickstart` starts its own session and takes
/// the output path as its argument.
fn profile_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(example(name));
    cmd.current_dir(dir.path()).env("ALLOC_PROFILER_QUIET", "1");
    if name == "quickstart" {
        cmd.env_remove("ALLOC_PROFILER").arg("profile.json");
    } else {
        cmd.env("ALLOC_PROFILER", dir.path().join("profile.json"));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("profile.json").exists(),
        "{name} wrote no profile"
    );
    dir
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = alloc_report(dir)
        .args(args)
        .arg("--json")
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn text(dir: &Path, args: &[&str]) -> String {
    let out = alloc_report(dir).args(args).assert().success().stderr("");
    let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    fits_80(&s);
    s
}

/// The function at `user_frame` of a JSON row.
fn user_function(row: &Value) -> (&str, Option<&str>, Option<u64>) {
    let f = &row["frames"][row["user_frame"].as_u64().unwrap() as usize];
    (
        f["function"].as_str().unwrap(),
        f["file"].as_str(),
        f["line"].as_u64(),
    )
}

fn stack_mentions(row: &Value, function: &str) -> bool {
    row["frames"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["function"].as_str().is_some_and(|s| s.contains(function)))
}

#[test]
fn the_known_leak_is_found_with_its_function_and_line() {
    let dir = profile_of("leaky");
    let want_line = line_of("leaky.rs", "format!(\"cache entry");
    let leaks = json(dir.path(), &["leaks", "profile.json"]);
    let found: Vec<&Value> = leaks
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| user_function(g).0 == "leaky::leak_cache_entries")
        .collect();
    assert_eq!(found.len(), 1, "{leaks:#}");
    let g = found[0];
    assert_eq!(g["blocks"], 100, "one leaked entry per iteration");
    let (_, file, line) = user_function(g);
    assert!(file.unwrap().ends_with("examples/leaky.rs"), "{file:?}");
    assert_eq!(line, Some(want_line));

    let t = text(dir.path(), &["leaks", "profile.json"]);
    assert!(t.contains("leaky::leak_cache_entries"), "{t}");
    assert!(t.contains(&format!("examples/leaky.rs:{want_line}")), "{t}");
    alloc_report(dir.path())
        .args(["leaks", "profile.json", "--fail-on-leak"])
        .assert()
        .code(1);
}

#[test]
fn frees_on_another_thread_are_not_leaks() {
    let dir = profile_of("leaky");
    let leaks = json(dir.path(), &["leaks", "profile.json"]);
    for g in leaks.as_array().unwrap() {
        assert!(
            !stack_mentions(g, "leaky::make_buffers"),
            "a freed buffer counted as a leak: {g:#}"
        );
    }
    let top = json(dir.path(), &["top", "profile.json", "-n", "0"]);
    let buffers: Vec<&Value> = top
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| stack_mentions(r, "leaky::make_buffers"))
        .collect();
    assert!(!buffers.is_empty(), "the buffers were profiled");
    let blocks: u64 = buffers.iter().map(|r| r["blocks"].as_u64().unwrap()).sum();
    assert!(blocks >= 50, "50 buffers: {blocks}");
    for r in buffers {
        assert_eq!(r["live_blocks"], 0, "{r:#}");
    }
}

#[test]
fn the_alignment_histogram_shows_over_aligned_blocks() {
    let dir = profile_of("leaky");
    let hist = json(dir.path(), &["hist", "profile.json", "--of", "align"]);
    let page = hist
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["lo"] == 4096 && b["hi"] == 4096)
        .unwrap_or_else(|| panic!("no 4 KiB alignment bucket: {hist:#}"));
    assert!(page["blocks"].as_u64().unwrap() >= 8, "{page}");
    let t = text(dir.path(), &["hist", "profile.json", "--of", "align"]);
    assert!(t.contains("4 KiB*"), "{t}");
    assert!(t.contains("* over-aligned (more than 16 bytes)"), "{t}");
}

#[test]
fn every_report_and_json_shape_works_on_real_profiles() {
    for name in ["leaky", "quickstart"] {
        let dir = profile_of(name);
        let s = json(dir.path(), &["summary", "profile.json"]);
        for key in [
            "total_blocks",
            "total_bytes",
            "reallocs",
            "live_blocks",
            "live_bytes",
            "peak_bytes",
        ] {
            assert!(s[key].is_u64(), "{name}: {key}");
        }
        assert!(s["total_blocks"].as_u64().unwrap() > 0);
        for args in [
            &["summary", "profile.json"][..],
            &["top", "profile.json", "--by", "peak"],
            &["leaks", "profile.json"],
            &["hist", "profile.json", "--of", "size"],
            &["hist", "profile.json", "--of", "lifetime"],
            &["diff", "profile.json", "profile.json"],
        ] {
            text(dir.path(), args);
        }
        let top = json(dir.path(), &["top", "profile.json"]);
        for row in top.as_array().unwrap() {
            for key in ["blocks", "bytes", "live_blocks", "live_bytes", "peak_bytes"] {
                assert!(row[key].is_u64(), "{name}: {key}");
            }
        }
        let d = json(dir.path(), &["diff", "profile.json", "profile.json"]);
        assert_eq!(
            d["rows"],
            serde_json::json!([]),
            "{name}: a profile against itself"
        );
        assert!(
            text(dir.path(), &["diff", "profile.json", "profile.json"])
                .ends_with("No callsite changed.\n")
        );
        alloc_report(dir.path())
            .args(["flamegraph", "profile.json", "-o", "heap.svg"])
            .assert()
            .success();
        let svg = std::fs::read_to_string(dir.path().join("heap.svg")).unwrap();
        assert!(
            svg.contains(&format!("{name}::")),
            "{name}: user frames in the flamegraph"
        );
    }
}

#[test]
fn quickstart_callsites_are_named_by_its_own_functions() {
    let dir = profile_of("quickstart");
    let top = json(dir.path(), &["top", "profile.json", "-n", "3"]);
    for row in top.as_array().unwrap() {
        let (function, file, _) = user_function(row);
        assert!(function.starts_with("quickstart::"), "{function}");
        assert!(file.unwrap().ends_with("examples/quickstart.rs"));
    }
    let folded = String::from_utf8(
        alloc_report(dir.path())
            .args(["flamegraph", "profile.json", "--folded"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    for line in folded.lines() {
        let leaf = line.rsplit_once(' ').unwrap().0.rsplit(';').next().unwrap();
        assert!(
            !leaf.starts_with("__rust") && !leaf.starts_with("alloc::raw_vec::"),
            "{line}"
        );
    }
}
