//! A panic inside the profiler's bookkeeping never unwinds out of the
//! allocator: the program's allocation succeeds and the profile counts the
//! failure.

use std::alloc::System;
use std::hint::black_box;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

#[test]
fn a_bookkeeping_panic_is_contained_and_reported() {
    let p = common::profile_of("no_unwind", || {
        alloc_profiler::__test_hooks::panic_in_next_bookkeeping();
        let b = black_box(Box::new([9u8; 32]));
        assert_eq!(b[31], 9, "the allocation itself succeeded");
        drop(b);
        let v: Vec<u32> = black_box((0..100).collect());
        assert_eq!(v.len(), 100);
    });
    assert_eq!(p.bookkeeping.internal_errors, 1);
    // Recording went on after the failure.
    assert!(common::sum_in(&p, "no_unwind::a_bookkeeping_panic", |c| c.blocks) >= 1);
}
