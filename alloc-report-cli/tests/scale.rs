//! Scale: a profile of about a million callsites (hundreds of megabytes of
//! JSON) must yield every report in seconds. Ignored by default; run with
//! `cargo test --release -p alloc-report-cli --test scale -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use alloc_core::format::{Callsite, Frame, Stack};
use alloc_core::testing::ProfileBuilder;
use common::{alloc_report, write_profile};

const CALLSITES: u32 = 1_000_000;
const FRAMES: u32 = 50_000;
const DEPTH: u32 = 12;

#[test]
#[ignore = "slow: builds a profile of a million callsites; run in release"]
fn a_million_callsites_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = ProfileBuilder::new("/bin/huge");
    {
        let p = b.profile_mut();
        p.frames = (0..FRAMES)
            .map(|i| Frame {
                function: format!("huge::module_{}::Type<T>::function_{i}", i % 97),
                file: Some(format!("/home/dev/huge/src/module_{}.rs", i % 97)),
                line: Some(1 + i % 2000),
                column: None,
                inlined: false,
            })
            .collect();
        p.stacks = (0..CALLSITES)
            .map(|s| Stack {
                frames: (0..DEPTH)
                    .map(|d| (s.wrapping_mul(7919) + d * 104_729) % FRAMES)
                    .collect(),
            })
            .collect();
        p.callsites = (0..CALLSITES)
            .map(|s| {
                let n = u64::from(s % 1000) + 1;
                Callsite {
                    stack: s,
                    blocks: n,
                    bytes: n * 64,
                    live_blocks: u64::from(s % 3 == 0),
                    live_bytes: if s % 3 == 0 { 64 } else { 0 },
                    peak_blocks: 1,
                    peak_bytes: 64,
                    max_live_bytes: 64,
                    freed_blocks: n - u64::from(s % 3 == 0),
                    ..Callsite::default()
                }
            })
            .collect();
    }
    let p = b.build();
    let path = write_profile(dir.path(), "huge.json", &p);
    let size = std::fs::metadata(&path).unwrap().len();
    drop(p);
    eprintln!("profile: {} MiB, {CALLSITES} callsites", size >> 20);
    let mut other =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap()).unwrap();
    other["callsites"][5]["bytes"] = (999_999u64 * 64).into();
    other["totals"]["bytes_allocated"] =
        (other["totals"]["bytes_allocated"].as_u64().unwrap() + 999_999 * 64 - 6 * 64).into();
    other["totals"]["bytes_deallocated"] =
        (other["totals"]["bytes_deallocated"].as_u64().unwrap() + 999_999 * 64 - 6 * 64).into();
    std::fs::write(
        dir.path().join("huge2.json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    drop(other);

    for args in [
        &["summary", "huge.json"][..],
        &["top", "huge.json", "--by", "live"],
        &["leaks", "huge.json", "--min-bytes", "1", "-n", "100"],
        &["hist", "huge.json", "--of", "size"],
        &["flamegraph", "huge.json", "--folded", "-o", "huge.folded"],
        &["flamegraph", "huge.json", "-o", "huge.svg"],
        &["diff", "huge.json", "huge2.json"],
    ] {
        let start = Instant::now();
        alloc_report(dir.path()).args(args).assert().success();
        let took = start.elapsed();
        eprintln!("{args:?}: {took:.2?}");
        assert!(took < Duration::from_secs(60), "{args:?} took {took:?}");
    }
}
