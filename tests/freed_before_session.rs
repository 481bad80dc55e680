//! Frees of blocks allocated before the session started are counted apart,
//! never as negatives.

#![allow(clippy::vec_box)] // each box is one allocation on purpose

use std::alloc::System;
use std::hint::black_box;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Whole-process totals are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    frees_of_blocks_from_before_the_session_are_counted_apart();
    println!("freed_before_session: 1 passed, 0 failed");
}

fn frees_of_blocks_from_before_the_session_are_counted_apart() {
    let early: Vec<Box<u32>> = (0..10).map(|i| black_box(Box::new(i))).collect();
    let p = common::profile_of("freed_from_before", || drop(black_box(early)));
    assert_eq!(p.untracked.deallocations, 11, "{:?}", p.untracked);
    assert_eq!(p.untracked.bytes_deallocated, 10 * 4 + 10 * 8);
    assert_eq!((p.totals.deallocations, p.totals.bytes_deallocated), (0, 0));
    assert_eq!((p.totals.live_blocks, p.totals.live_bytes), (0, 0));
}
