//! `fork()` from a multithreaded program while other threads are inside the
//! profiler: every child can allocate, spawn a thread and exit normally, and
//! the parent's session carries on.

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

/// Waits for `pid`, killing it if it is not done within `limit`.
fn wait_or_kill(pid: libc::pid_t, limit: Duration) -> Result<i32, String> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return if libc::WIFEXITED(status) {
                Ok(libc::WEXITSTATUS(status))
            } else {
                Err(format!("child {pid} died: status {status:#x}"))
            };
        }
        if start.elapsed() > limit {
            // SAFETY: pid is our child, still running.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: reaps the killed child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return Err(format!("child {pid} hung (deadlock in the child?)"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn child_work() -> i32 {
    let words: Vec<String> = (0..1000).map(|i| format!("word {i}")).collect();
    let joined = std::thread::spawn(|| black_box(vec![7u8; 4096]).len()).join();
    if words.len() == 1000 && joined.ok() == Some(4096) {
        0
    } else {
        1
    }
}

#[test]
fn children_forked_mid_allocation_allocate_and_exit_normally() {
    common::watchdog(300, "fork");
    let stop = Arc::new(AtomicBool::new(false));
    let p = common::profile_of("fork", || {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut v: Vec<Vec<u8>> = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        v.push(black_box(vec![t as u8; 64]));
                        if v.len() > 256 {
                            v.clear();
                            v.shrink_to_fit();
                        }
                    }
                })
            })
            .collect();
        // Fewer under memcheck (scripts/memcheck.sh), where each child is slow.
        let rounds: u32 = std::env::var("FORK_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        for round in 0..rounds {
            // SAFETY: fork has no preconditions; the child only allocates,
            // spawns a thread and exits.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                std::process::exit(child_work());
            }
            match wait_or_kill(pid, Duration::from_secs(20)) {
                Ok(0) => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
    });
    // The parent's session recorded its own threads' work all along.
    assert!(p.totals.allocations > 1000);
    assert_eq!(p.meta.pid, std::process::id());
}
