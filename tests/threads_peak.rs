//! The peak across threads is ordered in time: four threads each hold a
//! thousand 1,000-byte blocks at once (a barrier makes sure), then free them
//! and allocate small ones. The profile's peak must be the moment all four
//! thousand were live, with the callsite's blocks at the peak and its
//! maximum exactly theirs, although every thread's events reach the profile
//! through its own log and a merge. (Merges in the middle of a run are
//! exercised by `threads_mixed.rs` and `alloc-profiler/src/heap.rs`'s tests.)

use std::hint::black_box;
use std::sync::Barrier;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<std::alloc::System> = Profiler::new(std::alloc::System);

mod common;

const THREADS: usize = 4;
const BLOCKS: usize = 1000;
const SIZE: usize = 1000;

// Whole-process figures are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml).
fn main() {
    the_peak_is_when_every_thread_held_its_blocks();
    println!("threads_peak: 1 passed, 0 failed");
}

// One box per block: the blocks are what is measured (clippy's vec_box is
// about storage, not allocation counts).
#[allow(clippy::vec_box)]
#[inline(never)]
fn hold(n: usize) -> Vec<Box<[u8; SIZE]>> {
    let boxes = (0..n)
        .map(|i| black_box(Box::new([i as u8; SIZE])))
        .collect();
    // Not a tail call: `hold` stays on the stack while `collect` allocates.
    black_box(boxes)
}

#[inline(never)]
fn churn_small() {
    for _ in 0..2_000 {
        drop(black_box(Box::new([1u8; 16])));
    }
}

fn the_peak_is_when_every_thread_held_its_blocks() {
    common::watchdog(120, "threads_peak");
    let all_held = Barrier::new(THREADS);
    let p = common::profile_of("threads_peak", || {
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    // Fewer events than a log holds, so the whole run is
                    // merged at once, when the profile is written: merged
                    // thread after thread instead of in time order, each
                    // thread's frees would come before the next thread's
                    // allocations, and the peak would be one thread's.
                    churn_small();
                    let blocks = hold(BLOCKS);
                    all_held.wait();
                    drop(blocks);
                });
            }
        });
    });
    let held = (THREADS * BLOCKS * SIZE) as u64;
    // At `hold`: the boxes' callsite, and the vectors holding them (RawVec
    // growth, one 8,000-byte vector per thread: `collect` knows the length).
    let boxes: Vec<_> = common::callsites_in(&p, "threads_peak::hold")
        .into_iter()
        .filter(|c| c.bytes == c.blocks * SIZE as u64)
        .collect();
    let vectors = (THREADS * BLOCKS * size_of::<usize>()) as u64;
    let at_hold = common::sum_in(&p, "threads_peak::hold", |c| c.peak_bytes);
    eprintln!(
        "peak {} bytes; at hold {at_hold} bytes; boxes' callsites {:?}",
        p.totals.peak_bytes,
        boxes
            .iter()
            .map(|c| (c.peak_bytes, c.peak_blocks, c.max_live_bytes))
            .collect::<Vec<_>>()
    );
    assert_eq!(boxes.len(), 1, "one callsite for the boxes of all threads");
    let b = boxes[0];
    assert_eq!(b.blocks, (THREADS * BLOCKS) as u64);
    assert_eq!(
        (b.peak_bytes, b.peak_blocks),
        (held, (THREADS * BLOCKS) as u64),
        "every box was live at the peak"
    );
    assert_eq!(b.max_live_bytes, held, "and that was the most ever live");
    assert_eq!(at_hold, held + vectors, "the vectors too");
    assert!(p.totals.peak_bytes >= held + vectors);
    assert_eq!(b.live_blocks, 0, "all freed");
}
