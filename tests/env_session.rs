//! With `ALLOC_PROFILER=path.json` in the environment, an unchanged program is
//! profiled from its first allocation, and the profile is written at exit.

use std::alloc::System;
use std::hint::black_box;
use std::process::Command;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

/// Runs this test binary's test `test` in a child process with `env`.
fn run_child(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[inline(never)]
fn child_work() {
    for i in 0..300 {
        std::mem::forget(black_box(format!("leaked {i}")));
    }
}

/// Runs in the child process only.
#[test]
fn child() {
    if std::env::var_os("ALLOC_PROFILER_TEST_CHILD").is_none() {
        return;
    }
    child_work();
    // A normal exit from the test harness runs the atexit handler.
}

/// Bytes `sampled_work` allocates: sizes 1 to 1000, 100 times over.
const SAMPLED_WORK_BYTES: u64 = 100 * 1000 * 1001 / 2;

#[inline(never)]
fn sampled_work() {
    for _ in 0..100 {
        for size in 1..=1000usize {
            drop(black_box(vec![0u8; size]));
        }
    }
}

/// Runs in the child process only, for the sampling test.
#[test]
fn sampled_child() {
    if std::env::var_os("ALLOC_PROFILER_TEST_SAMPLED_CHILD").is_none() {
        return;
    }
    sampled_work();
}

#[test]
fn the_sampler_takes_its_rate_and_seed_from_the_environment() {
    let estimate = |seed: &str| {
        let path = common::temp_path(&format!("sampled-seed-{seed}.json"));
        run_child(
            "sampled_child",
            &[
                ("ALLOC_PROFILER", path.as_os_str()),
                ("ALLOC_PROFILER_SAMPLE", "4096".as_ref()),
                ("ALLOC_PROFILER_SAMPLE_SEED", seed.as_ref()),
                // Calibrated, the callsite (alone in its strata) would come
                // out exact whatever the seed.
                ("ALLOC_PROFILER_CALIBRATE", "0".as_ref()),
                ("ALLOC_PROFILER_TEST_SAMPLED_CHILD", "1".as_ref()),
            ],
        );
        let p = common::load(&path);
        assert_eq!(
            p.meta.mode,
            alloc_core::format::Mode::Sampled { rate_bytes: 4096 }
        );
        common::sum_in(&p, "env_session::sampled_work", |c| c.bytes)
    };
    let (one, two) = (estimate("1"), estimate("2"));
    // About 12,000 samples each: two seeds drawing the same ones would be
    // chance beyond belief.
    assert_ne!(one, two, "the seed changes which blocks are sampled");
    for e in [one, two] {
        let err = (e as f64 - SAMPLED_WORK_BYTES as f64).abs() / SAMPLED_WORK_BYTES as f64;
        assert!(err < 0.05, "estimate {e} for {SAMPLED_WORK_BYTES} bytes");
    }
}

#[test]
fn the_environment_starts_a_session_written_at_exit() {
    let path = common::temp_path("from-env.json");
    let out = run_child(
        "child",
        &[
            ("ALLOC_PROFILER", path.as_os_str()),
            ("ALLOC_PROFILER_TEST_CHILD", "1".as_ref()),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alloc-profiler: wrote"),
        "a summary line: {stderr}"
    );
    let p = common::load(&path);
    assert_eq!(
        common::sum_in(&p, "env_session::child_work", |c| c.live_blocks),
        300
    );
    // The profiler's own exit work is not in the profile it writes.
    assert_eq!(
        common::sum_in(&p, "alloc_profiler::", |c| c.blocks + c.reallocs),
        0
    );
    // The session began with the very first allocation: nothing was freed
    // that it had not seen allocated.
    assert_eq!(p.untracked.deallocations, 0, "{:?}", p.untracked);
}

#[test]
fn quiet_and_limits_come_from_the_environment_too() {
    let path = common::temp_path("from-env-quiet.json");
    let out = run_child(
        "child",
        &[
            ("ALLOC_PROFILER", path.as_os_str()),
            ("ALLOC_PROFILER_QUIET", "1".as_ref()),
            ("ALLOC_PROFILER_RING", "16".as_ref()),
            ("ALLOC_PROFILER_TEST_CHILD", "1".as_ref()),
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("alloc-profiler:"));
    let p = common::load(&path);
    assert_eq!(p.events.ring_capacity, 16);
    assert!(p.events.dropped > 0);
    assert_eq!(
        p.events.recorded - p.events.dropped,
        p.events.items.len() as u64
    );
}

/// 10,000 allocations and frees of 32-byte blocks.
#[inline(never)]
fn box_churn() {
    for i in 0..10_000u32 {
        drop(black_box(Box::new([i; 8])));
    }
}

/// [`box_churn`] on each of four threads.
fn threaded_work() {
    let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(box_churn)).collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Runs in the child process only, for the record lock test.
#[test]
fn threaded_child() {
    if std::env::var_os("ALLOC_PROFILER_TEST_THREADED_CHILD").is_none() {
        return;
    }
    threaded_work();
}

/// `ALLOC_PROFILER_RECORD_LOCK=spin` takes every record lock with a
/// compare-and-swap (the fallback where `membarrier` is missing): counts
/// stay exact across threads.
#[test]
fn the_record_lock_can_be_a_compare_and_swap() {
    for lock in ["spin", "biased"] {
        let path = common::temp_path(&format!("record-lock-{lock}.json"));
        run_child(
            "threaded_child",
            &[
                ("ALLOC_PROFILER", path.as_os_str()),
                ("ALLOC_PROFILER_QUIET", "1".as_ref()),
                ("ALLOC_PROFILER_RECORD_LOCK", lock.as_ref()),
                ("ALLOC_PROFILER_TEST_THREADED_CHILD", "1".as_ref()),
            ],
        );
        let p = common::load(&path);
        let blocks = common::sum_in(&p, "env_session::box_churn", |c| c.blocks);
        let freed = common::sum_in(&p, "env_session::box_churn", |c| c.freed_blocks);
        assert_eq!((blocks, freed), (40_000, 40_000), "record lock {lock}");
        assert_eq!(p.bookkeeping.internal_errors, 0);
    }
}
