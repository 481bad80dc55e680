//! With `ALLOC_PROFILER=path.json` in the environment, an unchanged program is
//! profiled from its first allocation, and the profile is written at exit.

use std::alloc::System;
use std::hint::black_box;
use std::process::Command;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

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

#[test]
fn the_environment_starts_a_session_written_at_exit() {
    let path = common::temp_path("from-env.json");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--test-threads=1"])
        .env("ALLOC_PROFILER", &path)
        .env("ALLOC_PROFILER_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--test-threads=1"])
        .env("ALLOC_PROFILER", &path)
        .env("ALLOC_PROFILER_QUIET", "1")
        .env("ALLOC_PROFILER_RING", "16")
        .env("ALLOC_PROFILER_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("alloc-profiler:"));
    let p = common::load(&path);
    assert_eq!(p.events.ring_capacity, 16);
    assert!(p.events.dropped > 0);
    assert_eq!(
        p.events.recorded - p.events.dropped,
        p.events.items.len() as u64
    );
}
