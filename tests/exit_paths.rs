//! The ways a program ends, profiled from the environment: a panic hook that
//! allocates, a panicking thread, an `atexit` handler that allocates, and
//! `std::process::exit` while another thread is still allocating. The program
//! exits normally and its profile is written and consistent.

use std::alloc::System;
use std::hint::black_box;
use std::process::Command;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

extern "C" fn allocating_atexit() {
    let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    black_box(v);
}

fn child() -> ! {
    std::panic::set_hook(Box::new(|info| {
        // A hook that allocates while the panic is in flight.
        let msg = format!("hooked: {info}");
        black_box(msg);
    }));
    let r = std::thread::spawn(|| {
        let _v = black_box(vec![1u8; 100]);
        panic!("in a thread");
    })
    .join();
    assert!(r.is_err());
    // SAFETY: registering a handler that never unwinds.
    unsafe { libc::atexit(allocating_atexit) };
    std::thread::spawn(|| {
        loop {
            black_box(vec![0u8; 32]);
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::process::exit(0);
}

#[test]
fn programs_that_end_in_every_way_are_profiled() {
    if std::env::var_os("EXIT_PATHS_CHILD").is_some() {
        child();
    }
    for run in 0..5 {
        let path = common::temp_path(&format!("exit-{run}.json"));
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "programs_that_end_in_every_way_are_profiled",
                "--nocapture",
            ])
            .env("ALLOC_PROFILER", &path)
            .env("ALLOC_PROFILER_QUIET", "1")
            .env("EXIT_PATHS_CHILD", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "run {run}: {out:?}");
        let p = common::load(&path);
        assert!(p.totals.allocations > 100);
        assert_eq!(p.bookkeeping.internal_errors, 0);
    }
}
