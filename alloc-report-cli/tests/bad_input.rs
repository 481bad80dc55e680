//! Every kind of bad input: exactly one line on stderr, `alloc-report: <file>:
//! <problem>`, exit status 2, no output, never a panic; for every subcommand.

mod common;

use std::path::Path;

use common::{alloc_report, demo, scratch};

const SUBCOMMANDS: [&[&str]; 7] = [
    &["summary"],
    &["top"],
    &["leaks"],
    &["hist"],
    &["flamegraph", "--folded"],
    &["diff", "demo.json"],
    &["top", "--json"],
];

/// Runs every subcommand on `file` in `dir` and checks each fails with exactly
/// `alloc-report: <file>: <problem>` where the problem contains `problem`.
fn each_fails(dir: &Path, file: &str, problem: &str) {
    for sub in SUBCOMMANDS {
        let mut args: Vec<&str> = sub.to_vec();
        args.insert(if sub[0] == "diff" { 2 } else { 1 }, file);
        let out = alloc_report(dir).args(&args).assert().code(2).stdout("");
        let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line for {args:?}: {stderr:?}"
        );
        let prefix = format!("alloc-report: {file}: ");
        assert!(stderr.starts_with(&prefix), "{args:?}: {stderr:?}");
        assert!(
            stderr.contains(problem),
            "{args:?}: {stderr:?} lacks {problem:?}"
        );
        assert!(!stderr.contains("panicked"));
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn a_missing_file() {
    let dir = scratch();
    each_fails(dir.path(), "nope.json", "no such file");
}

#[test]
fn an_empty_file() {
    let dir = scratch();
    write(dir.path(), "empty.json", b"");
    each_fails(dir.path(), "empty.json", "the file is empty");
    write(dir.path(), "blank.json", b"  \n\n");
    each_fails(dir.path(), "blank.json", "the file is empty");
}

#[test]
fn a_truncated_file() {
    let dir = scratch();
    let full = serde_json::to_vec_pretty(&demo()).unwrap();
    write(dir.path(), "cut.json", &full[..full.len() / 2]);
    each_fails(
        dir.path(),
        "cut.json",
        "the profile is truncated (input ends at line",
    );
}

#[test]
fn not_json() {
    let dir = scratch();
    write(dir.path(), "notes.txt", b"this is not json\n");
    each_fails(dir.path(), "notes.txt", "not JSON: ");
    write(dir.path(), "binary.bin", &[0xff, 0xfe, 0x00, 0x12, 0x9c]);
    each_fails(dir.path(), "binary.bin", "not JSON");
}

#[test]
fn json_that_is_not_a_profile() {
    let dir = scratch();
    write(
        dir.path(),
        "other.json",
        br#"{"name": "package.json", "version": "1.0.0"}"#,
    );
    each_fails(dir.path(), "other.json", "not an alloc-profiler profile");
    // A top-level array is rejected in one line too (load.rs currently words
    // it as "not JSON: trailing characters"; any wording passes here).
    write(dir.path(), "array.json", b"[1, 2, 3]");
    each_fails(dir.path(), "array.json", "");
    // The right marker, the wrong shape.
    write(
        dir.path(),
        "shape.json",
        br#"{"format": "alloc-profiler", "format_version": 1, "meta": 5}"#,
    );
    each_fails(dir.path(), "shape.json", "malformed profile");
}

#[test]
fn a_newer_format_version() {
    let dir = scratch();
    let mut v = serde_json::to_value(demo()).unwrap();
    v["format_version"] = 99.into();
    write(dir.path(), "future.json", &serde_json::to_vec(&v).unwrap());
    each_fails(
        dir.path(),
        "future.json",
        "format_version 99 is not supported",
    );
}

#[test]
fn a_directory() {
    let dir = scratch();
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    each_fails(dir.path(), "adir", "is a directory");
}

#[test]
fn inconsistent_numbers() {
    let dir = scratch();
    let mut p = demo();
    p.callsites[1].live_bytes = p.callsites[1].bytes + 1;
    write(dir.path(), "live.json", &serde_json::to_vec(&p).unwrap());
    each_fails(
        dir.path(),
        "live.json",
        "inconsistent profile: callsites[1].live_bytes",
    );
    let mut p = demo();
    p.totals.bytes_allocated += 1;
    write(dir.path(), "totals.json", &serde_json::to_vec(&p).unwrap());
    each_fails(
        dir.path(),
        "totals.json",
        "inconsistent profile: totals.bytes_allocated",
    );
    let mut p = demo();
    p.stacks[0].frames.push(10_000);
    write(dir.path(), "frames.json", &serde_json::to_vec(&p).unwrap());
    each_fails(dir.path(), "frames.json", "frame index 10000 out of range");
}

#[test]
fn bad_stdin_is_named_stdin() {
    let dir = scratch();
    let out = alloc_report(dir.path())
        .args(["summary", "-"])
        .write_stdin("{")
        .assert()
        .code(2)
        .stdout("");
    assert_eq!(
        String::from_utf8(out.get_output().stderr.clone()).unwrap(),
        "alloc-report: <stdin>: the profile is truncated (input ends at line 1)\n"
    );
}

#[test]
fn bad_flags_are_one_line_with_status_2() {
    let dir = scratch();
    for args in [
        &["top", "demo.json", "--bogus"][..],
        &["top", "demo.json", "--by", "size"],
        &["hist", "demo.json", "--of", "colour"],
        &["leaks", "demo.json", "--min-bytes", "lots"],
        &["diff", "demo.json"],
        &["diff", "demo.json", "demo.json", "--by", "peak"],
        &[
            "diff",
            "demo.json",
            "demo.json",
            "--fail-if-increase",
            "much",
        ],
        &["frobnicate", "demo.json"],
        &["flamegraph", "demo.json", "--json"],
        &["diff", "-", "-"],
        &["top", "-n", "many", "demo.json"],
    ] {
        let out = alloc_report(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stdout("");
        let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("alloc-report: "), "{args:?}: {stderr:?}");
    }
}

#[test]
fn nothing_at_all_shows_the_help_with_status_2() {
    let dir = scratch();
    let out = alloc_report(dir.path()).assert().code(2).stdout("");
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("Usage: alloc-report"), "{stderr}");
}

#[test]
fn an_svg_of_nothing_is_an_error_but_folded_is_empty() {
    let dir = scratch();
    let mut p = demo();
    for c in &mut p.callsites {
        c.live_blocks = 0;
        c.live_bytes = 0;
        c.freed_blocks = c.blocks;
    }
    let p = common::retotal(p);
    common::write_profile(dir.path(), "clean.json", &p);
    alloc_report(dir.path())
        .args([
            "flamegraph",
            "clean.json",
            "--metric",
            "live",
            "-o",
            "x.svg",
        ])
        .assert()
        .code(2)
        .stderr(
            "alloc-report: clean.json: nothing to draw: no callsite has any bytes live at end\n",
        );
    assert!(!dir.path().join("x.svg").exists());
    alloc_report(dir.path())
        .args(["flamegraph", "clean.json", "--metric", "live", "--folded"])
        .assert()
        .success()
        .stdout("");
}

#[test]
fn lying_profiles_name_the_field() {
    let dir = scratch();
    let mut p = demo();
    p.callsites[3].stack = 9;
    write(dir.path(), "stack.json", &serde_json::to_vec(&p).unwrap());
    each_fails(
        dir.path(),
        "stack.json",
        "inconsistent profile: callsites[3].stack: stack index 9 out of range (5 stacks)",
    );
    let mut p = demo();
    p.histograms.size[2].lo = 600;
    write(dir.path(), "bucket.json", &serde_json::to_vec(&p).unwrap());
    each_fails(
        dir.path(),
        "bucket.json",
        "inconsistent profile: histograms.size[2]: lo 600 is greater than hi 511",
    );
    let mut v = serde_json::to_value(demo()).unwrap();
    v["callsites"][0]["bytes"] = (-5).into();
    write(
        dir.path(),
        "negative.json",
        &serde_json::to_vec(&v).unwrap(),
    );
    each_fails(
        dir.path(),
        "negative.json",
        "malformed profile: callsites[0].bytes: invalid value: integer `-5`, expected u64",
    );
    // A quoted value cannot break the line or reach the terminal.
    let mut v = serde_json::to_value(demo()).unwrap();
    v["meta"]["mode"]["kind"] = "exact\n\u{1b}[2J".into();
    write(dir.path(), "escape.json", &serde_json::to_vec(&v).unwrap());
    each_fails(
        dir.path(),
        "escape.json",
        "malformed profile: meta.mode.kind: unknown variant `exact??[2J`",
    );
}
