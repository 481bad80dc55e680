//! A reallocation is one event, recorded with old and new size, and the block
//! belongs to the callsite of its latest (re)allocation.

use std::alloc::System;
use std::hint::black_box;

use alloc_core::format::EventKind;
use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Whole-process totals are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    vec_growth_is_one_allocation_two_reallocations_one_free();
    println!("realloc_growth: 1 passed, 0 failed");
}

#[inline(never)]
fn make() -> Vec<u8> {
    Vec::with_capacity(1)
}

#[inline(never)]
fn grow(v: &mut Vec<u8>) {
    v.reserve_exact(100);
    v.reserve_exact(1000);
}

fn vec_growth_is_one_allocation_two_reallocations_one_free() {
    let p = common::profile_of("realloc_growth", || {
        let mut v = black_box(make());
        grow(&mut v);
        drop(black_box(v));
    });
    let t = p.totals;
    assert_eq!((t.allocations, t.reallocations, t.deallocations), (1, 2, 1));
    // Bytes handed out: 1, then the new sizes 100 and 1000; given back: the
    // old sizes 1 and 100, then the 1000 freed.
    assert_eq!(t.bytes_allocated, 1 + 100 + 1000);
    assert_eq!(t.bytes_deallocated, 1 + 100 + 1000);
    assert_eq!(t.peak_bytes, 1000);
    assert_eq!(common::sum_in(&p, "realloc_growth::make", |c| c.blocks), 1);
    assert_eq!(
        common::sum_in(&p, "realloc_growth::grow", |c| c.reallocs),
        2
    );
    // The block moved to `grow`: it was freed from there, and `make` holds
    // nothing at the peak.
    assert_eq!(
        common::sum_in(&p, "realloc_growth::grow", |c| c.freed_blocks),
        1
    );
    assert_eq!(
        common::sum_in(&p, "realloc_growth::grow", |c| c.peak_bytes),
        1000
    );
    assert_eq!(
        common::sum_in(&p, "realloc_growth::make", |c| c.peak_bytes),
        0
    );
    let max_live: Vec<u64> = common::callsites_in(&p, "realloc_growth::grow")
        .iter()
        .map(|c| c.max_live_bytes)
        .collect();
    assert_eq!(max_live.iter().max(), Some(&1000));
    let reallocs: Vec<_> = p
        .events
        .items
        .iter()
        .filter(|e| e.kind == EventKind::Realloc)
        .collect();
    assert_eq!(reallocs.len(), 2);
    assert_eq!((reallocs[0].old_size, reallocs[0].size), (Some(1), 100));
    assert_eq!((reallocs[1].old_size, reallocs[1].size), (Some(100), 1000));
}
