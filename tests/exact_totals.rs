//! A deterministic workload gives exact totals, and the totals equal the sum
//! of the callsites (alloc-core's validation checks that on load).

use std::alloc::{Layout, System, alloc, alloc_zeroed, dealloc};
use std::hint::black_box;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Whole-process totals are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    totals_are_exact_and_add_up();
    println!("exact_totals: 1 passed, 0 failed");
}

#[inline(never)]
fn churn_boxes() {
    for _ in 0..1000 {
        drop(black_box(Box::new([7u8; 24])));
    }
}

#[inline(never)]
fn raw_blocks() {
    let small = Layout::from_size_align(100, 8).unwrap();
    let zeroed = Layout::from_size_align(1000, 16).unwrap();
    // SAFETY: non-zero sizes; each block is freed with its own layout.
    unsafe {
        let a = black_box(alloc(small));
        let b = black_box(alloc_zeroed(zeroed));
        dealloc(a, small);
        dealloc(b, zeroed);
    }
}

#[inline(never)]
#[allow(clippy::vec_box)] // boxes on purpose: each is one allocation
fn keep_three() -> Vec<Box<u64>> {
    let mut v = Vec::with_capacity(3);
    for i in 0..3 {
        v.push(black_box(Box::new(i)));
    }
    v
}

fn totals_are_exact_and_add_up() {
    let global_before = alloc_profiler::stats();
    let mut kept = None;
    let p = common::profile_of("exact_totals", || {
        churn_boxes();
        raw_blocks();
        kept = Some(black_box(keep_three()));
    });
    let t = p.totals;
    // 1000 boxes + 2 raw + (1 vec + 3 boxes) kept.
    assert_eq!(t.allocations, 1006);
    assert_eq!(t.deallocations, 1002);
    assert_eq!(t.reallocations, 0);
    assert_eq!(t.bytes_allocated, 1000 * 24 + 100 + 1000 + 3 * 8 + 3 * 8);
    assert_eq!(t.bytes_deallocated, 1000 * 24 + 100 + 1000);
    assert_eq!((t.live_blocks, t.live_bytes), (4, 48));
    assert_eq!(
        t.peak_bytes, 1100,
        "the two raw blocks together were the peak"
    );
    assert_eq!(t.peak_blocks, 2);
    assert_eq!(
        (p.untracked.deallocations, p.bookkeeping.untracked_blocks),
        (0, 0)
    );

    assert_eq!(
        common::sum_in(&p, "exact_totals::churn_boxes", |c| c.blocks),
        1000
    );
    assert_eq!(
        common::sum_in(&p, "exact_totals::churn_boxes", |c| c.max_live_bytes),
        24
    );
    assert_eq!(
        common::sum_in(&p, "exact_totals::raw_blocks", |c| c.peak_bytes),
        1100
    );
    assert_eq!(
        common::sum_in(&p, "exact_totals::keep_three", |c| c.live_blocks),
        4
    );
    let freed: u64 = p.callsites.iter().map(|c| c.freed_blocks).sum();
    assert_eq!(freed, 1002);

    // Histograms count every block handed out.
    let size_blocks: u64 = p.histograms.size.iter().map(|b| b.blocks).sum();
    assert_eq!(size_blocks, 1006);
    let b24 = p
        .histograms
        .size
        .iter()
        .find(|b| b.lo <= 24 && 24 <= b.hi)
        .unwrap();
    assert_eq!((b24.lo, b24.hi), (16, 31));
    assert_eq!(
        b24.blocks, 1001,
        "the boxes, and keep_three's Vec of 3 pointers"
    );
    let lifetimes: u64 = p.histograms.lifetime.iter().map(|b| b.blocks).sum();
    assert_eq!(lifetimes, 1002);

    // The global counters saw the same events (and more: writing the profile
    // is not counted, but the test's own setup is).
    let global = alloc_profiler::stats();
    assert!(global.allocations - global_before.allocations >= 1006);
    drop(kept);
}
