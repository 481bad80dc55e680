//! Accuracy against an independent oracle: Valgrind's DHAT and our profiler
//! watch the same run of `examples/workload.rs`, and agree exactly on the
//! allocation events under `workload::work` (DHAT counts a reallocation as a
//! block, so its blocks equal our allocations plus reallocations).
//!
//! Needs `valgrind` on PATH (it is on this project's machines); the example
//! binary is built by `cargo test`. Run alone with
//! `cargo test --test dhat_agreement -- --nocapture`.

use std::path::PathBuf;
use std::process::Command;

mod common;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/dhat_agreement-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (it builds the examples)",
        path.display()
    );
    path
}

#[test]
fn event_counts_equal_valgrind_dhat_on_the_same_run() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("SKIPPED: valgrind is not installed (apt-get install valgrind)");
        return;
    }
    let ours = common::temp_path("workload-ours.json");
    let dhat = common::temp_path("workload-dhat.json");
    let out = Command::new("valgrind")
        // Deep enough stacks that every block's stack reaches `work`.
        .args(["--tool=dhat", "--quiet", "--num-callers=100"])
        .arg(format!("--dhat-out-file={}", dhat.display()))
        .arg(example("workload"))
        .arg("1500")
        .env("ALLOC_PROFILER", &ours)
        .env("ALLOC_PROFILER_QUIET", "1")
        .output()
        .expect("run valgrind");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // DHAT: program points whose stack passes through workload::work.
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(&dhat).unwrap()).unwrap();
    let ftbl: Vec<&str> = d["ftbl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let (mut dhat_blocks, mut dhat_bytes) = (0u64, 0u64);
    for pp in d["pps"].as_array().unwrap() {
        let in_work = pp["fs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| ftbl[f.as_u64().unwrap() as usize].contains("workload::work "));
        if in_work {
            // DHAT's "tbk" is total blocks, "tb" total bytes.
            dhat_blocks += pp["tbk"].as_u64().unwrap();
            dhat_bytes += pp["tb"].as_u64().unwrap();
        }
    }

    let p = common::load(&ours);
    let ours_events = common::sum_in(&p, "workload::work", |c| c.blocks + c.reallocs);
    let ours_bytes = common::sum_in(&p, "workload::work", |c| c.bytes);
    eprintln!(
        "under workload::work: DHAT {dhat_blocks} blocks / {dhat_bytes} bytes; ours {ours_events} events / {ours_bytes} bytes"
    );
    assert!(dhat_blocks > 10_000, "the workload allocates");
    assert_eq!(ours_events, dhat_blocks, "allocation events");
    assert_eq!(ours_bytes, dhat_bytes, "bytes");
}
