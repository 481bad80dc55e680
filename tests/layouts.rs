//! Every layout the allocator can see keeps its guarantees through the
//! wrapper: sizes from 1 byte up, every alignment from 1 to 1 MiB, zeroed
//! memory, reallocation growing, shrinking and moving, and a refused request
//! passed on as null and counted.

use std::alloc::{Layout, System, alloc, alloc_zeroed, dealloc, realloc};

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

fn check_aligned(p: *mut u8, align: usize, what: &str) {
    assert!(!p.is_null(), "{what}: null");
    assert_eq!(p as usize % align, 0, "{what}: not aligned to {align}");
}

#[inline(never)]
fn every_alignment_and_size() {
    for shift in 0..=20 {
        let align = 1usize << shift;
        for size in [1, align, align + 1, 3 * align / 2 + 1, 4 * align] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size; every block is freed with its layout.
            unsafe {
                let p = alloc(layout);
                check_aligned(p, align, "alloc");
                p.write_bytes(0xA5, size);
                // Grow, keeping contents and alignment.
                let grown = realloc(p, layout, size * 3);
                check_aligned(grown, align, "realloc grow");
                assert!(
                    std::slice::from_raw_parts(grown, size)
                        .iter()
                        .all(|&b| b == 0xA5)
                );
                // Shrink.
                let small = realloc(
                    grown,
                    Layout::from_size_align(size * 3, align).unwrap(),
                    size.div_ceil(2),
                );
                check_aligned(small, align, "realloc shrink");
                assert!(
                    std::slice::from_raw_parts(small, size.div_ceil(2))
                        .iter()
                        .all(|&b| b == 0xA5)
                );
                dealloc(
                    small,
                    Layout::from_size_align(size.div_ceil(2), align).unwrap(),
                );
                let z = alloc_zeroed(layout);
                check_aligned(z, align, "alloc_zeroed");
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                dealloc(z, layout);
            }
        }
    }
}

#[inline(never)]
fn refused_requests() -> (bool, bool) {
    let huge = Layout::from_size_align(1 << 46, 8).unwrap(); // 64 TiB
    let small = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: non-zero sizes; the small block is freed with its layout.
    unsafe {
        // Through black_box: an allocation whose block is never used may be
        // elided by the compiler, which then takes it to have succeeded.
        let p = std::hint::black_box(alloc(huge));
        let q = alloc(small);
        let r = realloc(q, small, 1 << 46);
        let refused_realloc = r.is_null();
        // A refused reallocation leaves the old block valid.
        q.write_bytes(1, 64);
        dealloc(q, small);
        (p.is_null(), refused_realloc)
    }
}

#[test]
fn every_layout_keeps_its_guarantees_and_failures_pass_through() {
    let before = alloc_profiler::stats();
    let mut refused = (false, false);
    let p = common::profile_of("layouts", || {
        every_alignment_and_size();
        refused = refused_requests();
    });
    assert_eq!(
        refused,
        (true, true),
        "64 TiB is refused, and the refusal is passed on as null"
    );
    assert!(p.totals.failures >= 2, "{:?}", p.totals);
    assert!(alloc_profiler::stats().failures - before.failures >= 2);
    for shift in 0..=20u32 {
        let align = 1u64 << shift;
        let b = p.histograms.align.iter().find(|b| b.lo == align);
        assert!(
            b.is_some_and(|b| b.blocks >= 15),
            "alignment {align}: {b:?}"
        );
    }
    assert_eq!(
        common::sum_in(&p, "layouts::every_alignment_and_size", |c| c.live_blocks),
        0
    );
    assert_eq!(
        common::sum_in(&p, "layouts::refused_requests", |c| c.live_blocks),
        0
    );
}
