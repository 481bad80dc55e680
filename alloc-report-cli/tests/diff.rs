//! `alloc-report diff` through the real binary: matching across builds, the
//! empty diff of a profile against itself, the JSON shape and the CI gate.

mod common;

use common::{alloc_report, demo, demo_after, fits_80, golden, scratch, write_profile};
use serde_json::Value;

#[test]
fn a_profile_against_itself_is_empty() {
    let dir = scratch();
    for by in ["bytes", "blocks", "live"] {
        let out = alloc_report(dir.path())
            .args(["diff", "demo.json", "demo.json", "--by", by])
            .assert()
            .success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(text.ends_with("No callsite changed.\n"), "{text}");
        let out = alloc_report(dir.path())
            .args(["diff", "demo.json", "demo.json", "--by", by, "--json"])
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(v["rows"], serde_json::json!([]));
        assert_eq!(v["delta"], 0);
    }
}

#[test]
fn changes_between_builds_are_matched_by_name_and_line() {
    let dir = scratch();
    write_profile(dir.path(), "after.json", &demo_after());
    let out = alloc_report(dir.path())
        .args(["diff", "demo.json", "after.json"])
        .assert()
        .success()
        .stderr("");
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    fits_80(&text);
    golden("diff-bytes.txt", text.as_bytes());
    assert!(
        text.contains("1 callsite changed"),
        "paths moved, names and lines did not:\n{text}"
    );

    let out = alloc_report(dir.path())
        .args(["diff", "demo.json", "after.json", "--by", "live"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    golden("diff-live.txt", text.as_bytes());

    let out = alloc_report(dir.path())
        .args([
            "diff",
            "demo.json",
            "after.json",
            "--json",
            "--by",
            "blocks",
        ])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["by"], "blocks");
    assert_eq!(
        (v["old_total"].as_u64(), v["new_total"].as_u64()),
        (Some(12_543), Some(14_543))
    );
    assert_eq!(v["changed"], 1);
    let row = &v["rows"][0];
    assert_eq!(
        (
            row["old"].as_u64(),
            row["new"].as_u64(),
            row["delta"].as_i64()
        ),
        (Some(12_000), Some(14_000), Some(2000))
    );
    assert!(row["change_pct"].is_number());
    let user = row["user_frame"].as_u64().unwrap() as usize;
    assert_eq!(row["frames"][user]["function"], "demo::parse::tokenize");
    assert_eq!(
        row["frames"][user]["file"], "/ci/build/demo/src/parse.rs",
        "frames of the new build"
    );
}

#[test]
fn fail_if_increase_gates_on_the_total() {
    let dir = scratch();
    write_profile(dir.path(), "after.json", &demo_after());
    // Bytes grew from 4,624,864 to 5,324,864: +15.1%.
    alloc_report(dir.path())
        .args([
            "diff",
            "demo.json",
            "after.json",
            "--fail-if-increase",
            "20",
        ])
        .assert()
        .code(0);
    let out = alloc_report(dir.path())
        .args([
            "diff",
            "demo.json",
            "after.json",
            "--fail-if-increase",
            "10%",
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        "alloc-report: after.json: bytes allocated grew +15.1% (4.4 MiB → 5.1 MiB), more than --fail-if-increase 10%\n"
    );
    assert!(
        !out.get_output().stdout.is_empty(),
        "the report is still printed"
    );
    // A decrease never fails.
    alloc_report(dir.path())
        .args(["diff", "after.json", "demo.json", "--fail-if-increase", "0"])
        .assert()
        .code(0);
    // Live bytes fell (the leak is fixed).
    alloc_report(dir.path())
        .args([
            "diff",
            "demo.json",
            "after.json",
            "--by",
            "live",
            "--fail-if-increase",
            "0",
        ])
        .assert()
        .code(0);
    // The same profile never fails, even at 0%.
    alloc_report(dir.path())
        .args(["diff", "demo.json", "demo.json", "--fail-if-increase", "0"])
        .assert()
        .code(0);
}

#[test]
fn one_side_may_come_from_stdin() {
    let dir = scratch();
    let after = serde_json::to_vec(&demo_after()).unwrap();
    let out = alloc_report(dir.path())
        .args(["diff", "demo.json", "-", "--json"])
        .write_stdin(after)
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["changed"], 1);
    let _ = demo();
}

#[test]
fn unchanged_callsites_are_listed_when_asked_for() {
    let dir = scratch();
    let out = alloc_report(dir.path())
        .args(["diff", "demo.json", "demo.json", "--unchanged"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    fits_80(&text);
    assert!(text.contains("No callsite changed; "), "{text}");
    assert!(text.contains(" unchanged, largest first"), "{text}");
    let out = alloc_report(dir.path())
        .args(["diff", "demo.json", "demo.json", "--unchanged", "--json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["changed"], 0);
    let (unchanged, rows) = (
        v["unchanged"].as_u64().unwrap(),
        v["rows"].as_array().unwrap(),
    );
    assert!(unchanged > 0);
    assert_eq!(rows.len() as u64, unchanged.min(20));
    assert!(rows.iter().all(|r| r["delta"] == 0 && r["old"] == r["new"]));
}
