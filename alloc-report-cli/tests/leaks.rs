//! `alloc-report leaks --fail-on-leak`: exit status 1 when a leak passes the
//! threshold, 0 otherwise; the report is printed either way.

mod common;

use common::{alloc_report, demo, retotal, scratch, write_profile};

#[test]
fn fail_on_leak_exits_1_with_one_line_saying_why() {
    let dir = scratch();
    let out = alloc_report(dir.path())
        .args(["leaks", "demo.json", "--fail-on-leak"])
        .assert()
        .code(1);
    assert_eq!(
        String::from_utf8(out.get_output().stderr.clone()).unwrap(),
        "alloc-report: demo.json: 2 callsites leaking 3 blocks, 68.0 KiB (--fail-on-leak)\n"
    );
    assert!(
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .contains("demo::leak_on_purpose")
    );
    // JSON output and the gate together.
    let out = alloc_report(dir.path())
        .args(["leaks", "demo.json", "--fail-on-leak", "--json"])
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn the_threshold_decides() {
    let dir = scratch();
    alloc_report(dir.path())
        .args([
            "leaks",
            "demo.json",
            "--fail-on-leak",
            "--min-bytes",
            "64KiB",
        ])
        .assert()
        .code(1);
    alloc_report(dir.path())
        .args([
            "leaks",
            "demo.json",
            "--fail-on-leak",
            "--min-bytes",
            "65537",
        ])
        .assert()
        .code(0)
        .stderr("");
    // Without the flag, leaks are reported but do not fail.
    alloc_report(dir.path())
        .args(["leaks", "demo.json"])
        .assert()
        .code(0);
}

#[test]
fn a_clean_profile_passes() {
    let dir = scratch();
    let mut p = demo();
    for c in &mut p.callsites {
        c.freed_blocks += c.live_blocks;
        c.live_blocks = 0;
        c.live_bytes = 0;
    }
    write_profile(dir.path(), "clean.json", &retotal(p));
    alloc_report(dir.path())
        .args(["leaks", "clean.json", "--fail-on-leak"])
        .assert()
        .code(0)
        .stdout("No leaks: nothing allocated while profiling was live at the end.\n");
    alloc_report(dir.path())
        .args(["leaks", "clean.json", "--json"])
        .assert()
        .code(0)
        .stdout("[]\n");
}
