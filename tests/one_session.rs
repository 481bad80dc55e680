//! One session runs at a time: a second one is a clear error, not a hang.

use std::alloc::System;

use alloc_profiler::{Error, Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

#[test]
fn a_second_session_is_refused_with_a_clear_error() {
    let _one = common::one_session_at_a_time();
    let first_path = common::temp_path("first.json");
    let first = Session::builder().output(&first_path).quiet().start();
    let second = Session::builder()
        .output(common::temp_path("second.json"))
        .try_start();
    let err = second.expect_err("a second session must be refused");
    assert!(matches!(err, Error::AlreadyRunning { .. }));
    assert!(err.to_string().contains("already running"), "{err}");
    let panic = std::panic::catch_unwind(|| Session::builder().quiet().start())
        .expect_err("start() panics");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("alloc-profiler: a profiling session is already running"),
        "{msg}"
    );
    first.finish().unwrap();
    // Once the first has finished, a new one starts.
    Session::builder()
        .output(common::temp_path("third.json"))
        .quiet()
        .start()
        .finish()
        .unwrap();
}

#[test]
fn dropping_a_session_writes_its_profile() {
    let _one = common::one_session_at_a_time();
    let path = common::temp_path("dropped.json");
    {
        let _s = Session::builder().output(&path).quiet().start();
        std::hint::black_box(vec![0u8; 10]);
    }
    common::load(&path);
}
