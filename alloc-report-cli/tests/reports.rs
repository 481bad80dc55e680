//! Every report through the real binary on the fixture profile: the text
//! matches its golden file and fits 80 columns; `--json` has the documented keys.

mod common;

use common::{alloc_report, fits_80, golden, scratch};
use serde_json::Value;

/// Runs `args` on the fixture and returns stdout, checking it fits 80 columns.
fn text(args: &[&str]) -> String {
    let s = raw(args);
    fits_80(&s);
    s
}

/// Runs `args` on the fixture and returns stdout.
fn raw(args: &[&str]) -> String {
    let dir = scratch();
    let out = alloc_report(dir.path())
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(!s.contains('\x1b'), "no colour into a pipe");
    s
}

fn json(args: &[&str]) -> Value {
    let dir = scratch();
    let out = alloc_report(dir.path())
        .args(args)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .clone();
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

fn assert_frames(frames: &Value) {
    let frames = frames.as_array().expect("frames is an array");
    assert!(!frames.is_empty());
    for f in frames {
        let f = f.as_object().unwrap();
        assert!(f["function"].is_string());
        assert!(f.contains_key("file") && f.contains_key("line"));
    }
}

#[test]
fn summary_text() {
    golden("summary.txt", text(&["summary", "demo.json"]).as_bytes());
}

#[test]
fn summary_json_has_the_contract_keys() {
    let v = json(&["summary", "demo.json"]);
    for (key, want) in [
        ("total_blocks", 12_543),
        ("total_bytes", 4_624_864),
        ("reallocs", 300),
        ("live_blocks", 3),
        ("live_bytes", 69_632),
        ("peak_bytes", 1_724_864),
    ] {
        assert_eq!(v[key], want, "{key}");
    }
    assert_eq!(v["events_dropped"], 8_957);
    assert_eq!(v["top"].as_array().unwrap().len(), 5);
}

#[test]
fn top_text_by_each_metric() {
    golden("top-bytes.txt", text(&["top", "demo.json"]).as_bytes());
    golden(
        "top-blocks.txt",
        text(&["top", "demo.json", "--by", "blocks", "-n", "2"]).as_bytes(),
    );
    golden(
        "top-live.txt",
        text(&["top", "demo.json", "--by", "live"]).as_bytes(),
    );
    golden(
        "top-peak.txt",
        text(&["top", "demo.json", "--by", "peak"]).as_bytes(),
    );
}

#[test]
fn top_names_callsites_by_the_first_user_frame() {
    let t = text(&["top", "demo.json"]);
    assert!(
        t.contains("demo::parse::tokenize  /home/dev/demo/src/parse.rs:42"),
        "{t}"
    );
    assert!(
        t.contains("demo::worker::produce  /home/dev/demo/src/worker.rs:31"),
        "{t}"
    );
    assert!(
        !t.contains("Vec<"),
        "std frames never name a callsite:\n{t}"
    );
}

#[test]
fn top_json_rows() {
    let v = json(&["top", "demo.json", "--by", "live"]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        for key in [
            "blocks",
            "bytes",
            "live_blocks",
            "live_bytes",
            "peak_bytes",
            "share",
            "user_frame",
        ] {
            assert!(r[key].is_number(), "{key} in {r}");
        }
        assert_frames(&r["frames"]);
    }
    assert_eq!(rows[0]["live_bytes"], 65_536);
    assert_eq!(rows[0]["bytes"], 1_048_576);
    let user = rows[0]["user_frame"].as_u64().unwrap() as usize;
    assert_eq!(
        rows[0]["frames"][user]["function"],
        "<demo::cache::Cache<alloc::string::String,alloc::vec::Vec<u8>> as core::clone::Clone>::clone"
    );
    let all = json(&["top", "demo.json", "-n", "0"]);
    assert_eq!(all.as_array().unwrap().len(), 5);
}

#[test]
fn leaks_text_and_json() {
    let t = text(&["leaks", "demo.json"]);
    golden("leaks.txt", t.as_bytes());
    assert!(t.contains("> 2: demo::leak_on_purpose\n          at /home/dev/demo/src/main.rs:20\n"));
    golden(
        "leaks-min.txt",
        text(&["leaks", "demo.json", "--min-bytes", "8KiB"]).as_bytes(),
    );
    let v = json(&["leaks", "demo.json"]);
    let groups = v.as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (groups[1]["blocks"].as_u64(), groups[1]["bytes"].as_u64()),
        (Some(1), Some(4096))
    );
    for g in groups {
        assert_frames(&g["frames"]);
    }
    let user = groups[1]["user_frame"].as_u64().unwrap() as usize;
    assert_eq!(
        groups[1]["frames"][user]["function"],
        "demo::leak_on_purpose"
    );
    assert_eq!(groups[1]["frames"][user]["line"], 20);
}

#[test]
fn hist_text_for_each_histogram() {
    golden(
        "hist-size.txt",
        text(&["hist", "demo.json", "--of", "size"]).as_bytes(),
    );
    let align = text(&["hist", "demo.json", "--of", "align"]);
    golden("hist-align.txt", align.as_bytes());
    assert!(align.contains("* over-aligned (more than 16 bytes): 2 blocks, 8.0 KiB"));
    golden(
        "hist-lifetime.txt",
        text(&["hist", "demo.json", "--of", "lifetime"]).as_bytes(),
    );
}

#[test]
fn hist_json_buckets_with_inclusive_bounds() {
    let v = json(&["hist", "demo.json", "--of", "size"]);
    let buckets = v.as_array().unwrap();
    assert_eq!(buckets.len(), 5, "no empty buckets in JSON");
    assert_eq!(
        buckets[0],
        serde_json::json!({"lo": 8, "hi": 15, "blocks": 100, "bytes": 1200})
    );
    let v = json(&["hist", "demo.json", "--of", "align"]);
    assert_eq!(v[2]["lo"], 4096);
    assert_eq!(v[2]["hi"], 4096);
    let v = json(&["hist", "demo.json", "--of", "lifetime"]);
    assert_eq!(v.as_array().unwrap().len(), 4);
}

#[test]
fn flamegraph_svg_is_deterministic_and_matches_its_golden_file() {
    let dir = scratch();
    for (metric, name) in [
        ("bytes", "flamegraph-bytes.svg"),
        ("live", "flamegraph-live.svg"),
    ] {
        alloc_report(dir.path())
            .args([
                "flamegraph",
                "demo.json",
                "--metric",
                metric,
                "-o",
                "out.svg",
            ])
            .assert()
            .success()
            .stdout("")
            .stderr("");
        let first = std::fs::read(dir.path().join("out.svg")).unwrap();
        alloc_report(dir.path())
            .args([
                "flamegraph",
                "demo.json",
                "--metric",
                metric,
                "-o",
                "out.svg",
            ])
            .assert()
            .success();
        let second = std::fs::read(dir.path().join("out.svg")).unwrap();
        assert_eq!(first, second, "two runs draw the same SVG");
        let svg = String::from_utf8(first.clone()).unwrap();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("/home/dev/demo/target/release/demo --input big.txt"));
        golden(name, &first);
    }
}

#[test]
fn flamegraph_folded_runs_root_to_leaf_with_plumbing_trimmed() {
    let t = raw(&["flamegraph", "demo.json", "--folded"]);
    golden("folded-bytes.txt", t.as_bytes());
    for line in t.lines() {
        let (stack, count) = line.rsplit_once(' ').unwrap();
        count.parse::<u64>().unwrap();
        for frame in stack.split(';') {
            assert!(
                !frame.starts_with("alloc::raw_vec::") && !frame.starts_with("alloc::alloc::"),
                "{line}"
            );
        }
    }
    assert!(t.contains(
        "std::rt::lang_start::{{closure}};core::ops::function::FnOnce::call_once;demo::main;demo::parse::tokenize;alloc::vec::Vec<T,A>::push 3500000\n"
    ));
    let live = raw(&["flamegraph", "demo.json", "--folded", "--metric", "live"]);
    assert_eq!(
        live.lines().count(),
        2,
        "only what is live at the end:\n{live}"
    );
    let lines = raw(&[
        "flamegraph",
        "demo.json",
        "--folded",
        "--lines",
        "--keep-plumbing",
    ]);
    assert!(lines.contains("demo::leak_on_purpose (main.rs:20);alloc::vec::Vec<T>::with_capacity (mod.rs:480);alloc::alloc::alloc (alloc.rs:95) 4096"), "{lines}");
}

#[test]
fn help_and_version() {
    let t = text(&["--help"]);
    for sub in ["summary", "top", "leaks", "hist", "flamegraph", "diff"] {
        assert!(t.contains(sub), "{sub} in help");
    }
    let t = text(&["top", "--help"]);
    assert!(t.contains("--by <BY>"));
    let v = text(&["--version"]);
    assert!(v.starts_with("alloc-report "));
}
