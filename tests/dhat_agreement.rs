//! Accuracy against an independent oracle: Valgrind's DHAT and our profiler
//! watch the same run of `examples/workload.rs`, and agree exactly on the
//! allocation events under `workload::work` (DHAT counts a reallocation as a
//! block, so its blocks equal our allocations plus reallocations), with and
//! without block headers.
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

/// What DHAT and our profiler saw under `workload::work` in one run:
/// DHAT's blocks and bytes, our allocation events and bytes.
struct Seen {
    dhat_blocks: u64,
    dhat_bytes: u64,
    ours_events: u64,
    ours_bytes: u64,
}

fn run_both(name: &str, headers: bool) -> Seen {
    let ours = common::temp_path(&format!("{name}-ours.json"));
    let dhat = common::temp_path(&format!("{name}-dhat.json"));
    let out = Command::new("valgrind")
        // Deep enough stacks that every block's stack reaches `work`.
        .args(["--tool=dhat", "--quiet", "--num-callers=100"])
        .arg(format!("--dhat-out-file={}", dhat.display()))
        .arg(example("workload"))
        .arg("1500")
        .env("ALLOC_PROFILER", &ours)
        .env("ALLOC_PROFILER_QUIET", "1")
        .env("ALLOC_PROFILER_HEADERS", if headers { "1" } else { "0" })
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
    let seen = Seen {
        dhat_blocks,
        dhat_bytes,
        ours_events: common::sum_in(&p, "workload::work", |c| c.blocks + c.reallocs),
        ours_bytes: common::sum_in(&p, "workload::work", |c| c.bytes),
    };
    eprintln!(
        "under workload::work, headers {headers}: DHAT {} blocks / {} bytes; ours {} events / {} bytes",
        seen.dhat_blocks, seen.dhat_bytes, seen.ours_events, seen.ours_bytes
    );
    assert!(seen.dhat_blocks > 10_000, "the workload allocates");
    seen
}

fn valgrind_missing() -> bool {
    let missing = Command::new("valgrind").arg("--version").output().is_err();
    if missing {
        eprintln!("SKIPPED: valgrind is not installed (apt-get install valgrind)");
    }
    missing
}

#[test]
fn event_counts_equal_valgrind_dhat_on_the_same_run() {
    if valgrind_missing() {
        return;
    }
    let s = run_both("workload-plain", false);
    assert_eq!(s.ours_events, s.dhat_blocks, "allocation events");
    assert_eq!(s.ours_bytes, s.dhat_bytes, "bytes");
}

#[test]
fn with_block_headers_the_wrapped_allocator_sees_16_bytes_more_per_block() {
    if valgrind_missing() {
        return;
    }
    let s = run_both("workload-headed", true);
    assert_eq!(s.ours_events, s.dhat_blocks, "allocation events");
    // Every block of the workload is aligned to 16 bytes or less, so each
    // allocation and reallocation asked the wrapped allocator for a header
    // more; the profile counts the program's own bytes.
    assert_eq!(s.ours_bytes + 16 * s.ours_events, s.dhat_bytes, "bytes");
}
