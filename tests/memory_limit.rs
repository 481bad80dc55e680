//! When the profiler's own memory runs out, the program's allocations still
//! succeed, the totals stay exact, and the profile says what was not tracked.

#![allow(clippy::vec_box)] // each box is one allocation on purpose

use std::alloc::System;
use std::hint::black_box;

use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Whole-process totals are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    running_out_of_bookkeeping_memory_is_counted_not_fatal();
    println!("memory_limit: 1 passed, 0 failed");
}

#[inline(never)]
fn many_live_blocks(n: usize) -> Vec<Box<[u8; 16]>> {
    (0..n).map(|_| black_box(Box::new([0u8; 16]))).collect()
}

fn running_out_of_bookkeeping_memory_is_counted_not_fatal() {
    let path = common::temp_path("limited.json");
    // Enough for the first tables, far too little for 200k live blocks.
    let session = Session::builder()
        .output(&path)
        .memory_limit(4 << 20)
        .quiet()
        .start();
    let blocks = many_live_blocks(200_000);
    assert_eq!(blocks.len(), 200_000);
    drop(blocks);
    let after: Vec<u8> = black_box(vec![1; 1000]);
    session.finish().unwrap();
    drop(after);
    let p = common::load(&path);
    let b = p.bookkeeping;
    assert!(b.untracked_blocks > 0, "{b:?}");
    // Only the 16-byte boxes missed, and perhaps the 1000-byte vector made
    // once the table was full.
    let boxes_only = b.untracked_blocks * 16;
    assert!(
        b.untracked_bytes == boxes_only || b.untracked_bytes == boxes_only - 16 + 1000,
        "{b:?}"
    );
    // Exact counts regardless: 200k boxes, the Vec, the final Vec.
    assert_eq!(p.totals.allocations, 200_002);
    assert_eq!(p.totals.deallocations + p.untracked.deallocations, 200_001);
    // Their frees are untracked (the vector's came after the session).
    let after_missed = u64::from(b.untracked_bytes != boxes_only);
    assert_eq!(p.untracked.deallocations, b.untracked_blocks - after_missed);
}
