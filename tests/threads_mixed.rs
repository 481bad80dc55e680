//! 8 threads × 1M mixed operations (allocations, reallocations, frees, some
//! of them of blocks made on other threads) while a session runs: every total
//! is exact.

use std::alloc::{Layout, System, alloc, dealloc, realloc};
use std::sync::mpsc;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Process-wide figures are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    eight_threads_of_mixed_operations_have_exact_totals();
    println!("threads_mixed: 1 passed, 0 failed");
}

const THREADS: usize = 8;
/// Operations per thread: 1M, fewer under memcheck (scripts/memcheck.sh).
fn ops() -> usize {
    std::env::var("THREADS_MIXED_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

#[derive(Default, Clone, Copy)]
struct Expect {
    allocs: u64,
    reallocs: u64,
    frees: u64,
    bytes_in: u64,
    bytes_out: u64,
}

struct Block(*mut u8, usize);
// SAFETY: a block is plain memory owned by whoever holds the Block.
unsafe impl Send for Block {}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// A small deterministic generator (xorshift).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[inline(never)]
fn worker(seed: u64, to_next: mpsc::Sender<Block>, from_prev: mpsc::Receiver<Block>) -> Expect {
    let mut e = Expect::default();
    let mut rng = seed;
    let mut mine: Vec<Block> = Vec::with_capacity(1024);
    for _ in 0..ops() {
        let r = next(&mut rng);
        match r % 8 {
            0..=3 => {
                let size = 1 + (r >> 8) as usize % 512;
                // SAFETY: non-zero size.
                let p = unsafe { alloc(layout(size)) };
                assert!(!p.is_null());
                e.allocs += 1;
                e.bytes_in += size as u64;
                if mine.len() == mine.capacity() {
                    let Block(p, size) = mine.swap_remove(0);
                    // SAFETY: allocated with layout(size) and not freed.
                    unsafe { dealloc(p, layout(size)) };
                    e.frees += 1;
                    e.bytes_out += size as u64;
                }
                mine.push(Block(p, size));
            }
            4 | 5 if !mine.is_empty() => {
                let i = (r >> 16) as usize % mine.len();
                let Block(p, old) = mine[i];
                let new = 1 + (r >> 24) as usize % 2048;
                // SAFETY: p was allocated with layout(old); new is non-zero.
                let q = unsafe { realloc(p, layout(old), new) };
                assert!(!q.is_null());
                mine[i] = Block(q, new);
                e.reallocs += 1;
                e.bytes_in += new as u64;
                e.bytes_out += old as u64;
            }
            6 if !mine.is_empty() => {
                // Hand a block to the next thread, which frees it.
                let b = mine.swap_remove((r >> 16) as usize % mine.len());
                to_next.send(b).unwrap();
            }
            _ => {
                while let Ok(Block(p, size)) = from_prev.try_recv() {
                    // SAFETY: allocated by another worker with layout(size).
                    unsafe { dealloc(p, layout(size)) };
                    e.frees += 1;
                    e.bytes_out += size as u64;
                }
            }
        }
    }
    drop(to_next);
    for Block(p, size) in mine.drain(..).chain(from_prev.iter()) {
        // SAFETY: allocated with layout(size), owned here.
        unsafe { dealloc(p, layout(size)) };
        e.frees += 1;
        e.bytes_out += size as u64;
    }
    e
}

fn eight_threads_of_mixed_operations_have_exact_totals() {
    common::watchdog(300, "threads_mixed");
    let mut expect = Expect::default();
    let p = common::profile_of("threads_mixed", || {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..THREADS).map(|_| mpsc::channel::<Block>()).unzip();
        let mut receivers: Vec<Option<mpsc::Receiver<Block>>> =
            receivers.into_iter().map(Some).collect();
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let to_next = senders[(i + 1) % THREADS].clone();
                let from_prev = receivers[i].take().unwrap();
                std::thread::spawn(move || {
                    worker(0x9E37_79B9 + i as u64 * 7919, to_next, from_prev)
                })
            })
            .collect();
        drop(senders);
        for h in handles {
            let e = h.join().unwrap();
            expect.allocs += e.allocs;
            expect.reallocs += e.reallocs;
            expect.frees += e.frees;
            expect.bytes_in += e.bytes_in;
            expect.bytes_out += e.bytes_out;
        }
    });
    // The workers' own alloc/realloc calls: callsites whose first frame is
    // `worker` itself (allocator plumbing is trimmed). Std's allocations on
    // the workers' behalf (their Vec, channel nodes, the thread handle std
    // makes when a worker first blocks) have std frames first and vary with
    // timing.
    let own: Vec<_> = p
        .callsites
        .iter()
        .filter(|c| common::functions(&p, c).first() == Some(&"threads_mixed::worker"))
        .collect();
    assert!(expect.allocs > ops() as u64 * 3 && expect.reallocs > ops() as u64);
    let blocks: u64 = own.iter().map(|c| c.blocks).sum();
    let bytes: u64 = own.iter().map(|c| c.bytes).sum();
    let reallocs: u64 = own.iter().map(|c| c.reallocs).sum();
    assert_eq!(blocks, expect.allocs);
    assert_eq!(bytes, expect.bytes_in);
    assert_eq!(reallocs, expect.reallocs);
    assert_eq!(p.totals.reallocations, expect.reallocs);
    let leaked: Vec<String> = common::callsites_in(&p, "threads_mixed::worker")
        .into_iter()
        .filter(|c| c.live_blocks > 0)
        .map(|c| {
            format!(
                "{} live, {} blocks, {} reallocs: {:?}",
                c.live_blocks,
                c.blocks,
                c.reallocs,
                &common::functions(&p, c)[..4]
            )
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "every block was freed, but: {leaked:#?}\nuntracked: {:?}",
        p.untracked
    );
    assert_eq!(p.untracked.deallocations, 0);
    assert_eq!(p.bookkeeping.untracked_blocks, 0);
    assert!(p.totals.deallocations >= expect.frees);
}
