//! Over-aligned layouts and zeroed allocations keep their guarantees through
//! the wrapper, and the alignment histogram records them.

use std::alloc::{GlobalAlloc, Layout, System, alloc, alloc_zeroed, dealloc, realloc};
use std::hint::black_box;

use alloc_core::format::EventKind;
use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Process-wide figures are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    alignment_and_zeroing_are_kept_and_recorded();
    the_wrapper_forwards_to_the_inner_allocator();
    println!("aligned_and_zeroed: 2 passed, 0 failed");
}

#[inline(never)]
fn over_aligned() {
    for align in [4096usize, 8192, 65536, 1 << 20] {
        let layout = Layout::from_size_align(3 * align / 2, align).unwrap();
        // SAFETY: non-zero size; freed below with the same layout.
        unsafe {
            let p = black_box(alloc_zeroed(layout));
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "alignment {align} kept");
            let bytes = std::slice::from_raw_parts(p, layout.size());
            assert!(bytes.iter().all(|&b| b == 0), "zeroed at alignment {align}");
            // Growing keeps the alignment too.
            let q = realloc(p, layout, 4 * align);
            assert!(!q.is_null());
            assert_eq!(q as usize % align, 0, "alignment {align} kept by realloc");
            dealloc(q, Layout::from_size_align(4 * align, align).unwrap());
        }
    }
}

#[inline(never)]
fn zeroed_after_dirty() {
    let layout = Layout::from_size_align(4096, 8).unwrap();
    for _ in 0..20 {
        // SAFETY: non-zero size; each block is freed with its layout.
        unsafe {
            let dirty = alloc(layout);
            std::ptr::write_bytes(dirty, 0xAB, 4096);
            dealloc(dirty, layout);
            let z = alloc_zeroed(layout);
            assert!(std::slice::from_raw_parts(z, 4096).iter().all(|&b| b == 0));
            dealloc(z, layout);
        }
    }
}

fn alignment_and_zeroing_are_kept_and_recorded() {
    let p = common::profile_of("aligned_and_zeroed", || {
        over_aligned();
        zeroed_after_dirty();
    });
    for align in [4096u64, 8192, 65536, 1 << 20] {
        let b = p
            .histograms
            .align
            .iter()
            .find(|b| b.lo == align)
            .unwrap_or_else(|| panic!("no bucket {align}"));
        assert_eq!(b.hi, align);
        assert_eq!(b.blocks, 2, "alloc_zeroed + realloc at alignment {align}");
    }
    let zeroed = p
        .events
        .items
        .iter()
        .filter(|e| e.kind == EventKind::AllocZeroed)
        .count();
    assert_eq!(zeroed, 4 + 20);
    assert!(
        p.events
            .items
            .iter()
            .any(|e| e.kind == EventKind::Realloc && e.align == 1 << 20)
    );
    // (The harness's own thread may allocate meanwhile: look at ours only.)
    assert_eq!(
        common::sum_in(&p, "aligned_and_zeroed::over_aligned", |c| c.live_blocks),
        0
    );
    assert_eq!(
        common::sum_in(&p, "aligned_and_zeroed::zeroed_after_dirty", |c| c
            .live_blocks),
        0
    );
}

fn the_wrapper_forwards_to_the_inner_allocator() {
    // Calling the wrapper directly, as the compiler does.
    let _one = common::one_session_at_a_time();
    let layout = Layout::from_size_align(64, 64).unwrap();
    // SAFETY: non-zero size; freed with the same layout.
    unsafe {
        let p = ALLOC.alloc_zeroed(layout);
        assert_eq!(p as usize % 64, 0);
        ALLOC.dealloc(p, layout);
    }
}
