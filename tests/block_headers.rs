//! Block headers: an exact session keeps what it knows of a block in 16 bytes
//! in front of it. The wrapped allocator must get every block back exactly as
//! it gave it out (address and layout), whichever session, if any, was running
//! when the block was made, reallocated and freed; the program must see its
//! own sizes, alignments and bytes; and the profile must count each block once.
//!
//! The wrapped allocator here is `Checked`: System, plus a table of the blocks
//! it gave out, so that a block returned with another layout than it was
//! given, or never given at all, is counted.

use std::alloc::{GlobalAlloc, Layout, System, alloc, alloc_zeroed, dealloc, realloc};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloc_profiler::{Profiler, Session, SessionBuilder};

#[global_allocator]
static ALLOC: Profiler<Checked> = Profiler::new(Checked);

mod common;

/// Entries of the table of blocks `Checked` gave out (never reused: the
/// process allocates far fewer blocks than this).
const TABLE: usize = 1 << 20;
/// A removed entry's key.
const GONE: usize = 1;

struct Checked;

static KEYS: [AtomicUsize; TABLE] = [const { AtomicUsize::new(0) }; TABLE];
static SIZES: [AtomicUsize; TABLE] = [const { AtomicUsize::new(0) }; TABLE];
static ALIGNS: [AtomicUsize; TABLE] = [const { AtomicUsize::new(0) }; TABLE];
/// Blocks returned with a layout they were not given with, or never given.
static MISMATCHES: AtomicUsize = AtomicUsize::new(0);
/// The size the last allocation or reallocation asked `Checked` for.
static ASKED: AtomicUsize = AtomicUsize::new(0);

fn home(ptr: *mut u8) -> usize {
    ((ptr as usize >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44) % TABLE
}

fn given(ptr: *mut u8, layout: Layout) {
    if ptr.is_null() {
        return;
    }
    let mut i = home(ptr);
    loop {
        if KEYS[i]
            .compare_exchange(0, ptr as usize, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            SIZES[i].store(layout.size(), Ordering::Release);
            ALIGNS[i].store(layout.align(), Ordering::Release);
            return;
        }
        i = (i + 1) % TABLE;
    }
}

fn returned(ptr: *mut u8, layout: Layout) {
    let mut i = home(ptr);
    loop {
        match KEYS[i].load(Ordering::Acquire) {
            0 => {
                MISMATCHES.fetch_add(1, Ordering::Relaxed);
                return;
            }
            k if k == ptr as usize => {
                if SIZES[i].load(Ordering::Acquire) != layout.size()
                    || ALIGNS[i].load(Ordering::Acquire) != layout.align()
                {
                    MISMATCHES.fetch_add(1, Ordering::Relaxed);
                }
                KEYS[i].store(GONE, Ordering::Release);
                return;
            }
            _ => i = (i + 1) % TABLE,
        }
    }
}

// SAFETY: every method is System's; the table only watches.
unsafe impl GlobalAlloc for Checked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ASKED.store(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        given(p, layout);
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ASKED.store(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        given(p, layout);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        returned(ptr, layout);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ASKED.store(new_size, Ordering::Relaxed);
        // Checked before: a refused reallocation leaves the block given.
        let mut i = home(ptr);
        let known = loop {
            match KEYS[i].load(Ordering::Acquire) {
                0 => break false,
                k if k == ptr as usize => {
                    break SIZES[i].load(Ordering::Acquire) == layout.size()
                        && ALIGNS[i].load(Ordering::Acquire) == layout.align();
                }
                _ => i = (i + 1) % TABLE,
            }
        };
        if !known {
            MISMATCHES.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            KEYS[i].store(GONE, Ordering::Release);
            given(
                p,
                Layout::from_size_align(new_size, layout.align()).unwrap(),
            );
        }
        p
    }
}

// Whole-process checks, so no libtest harness (`harness = false`).
fn main() {
    common::watchdog(120, "block_headers");
    an_exact_session_asks_16_bytes_more_for_blocks_aligned_to_16_or_less();
    blocks_keep_their_header_across_sessions_and_go_back_as_they_came();
    sessions_that_keep_blocks_in_the_table_ask_for_the_program_s_sizes();
    the_profile_counts_the_headers_as_the_profiler_s_memory();
    threads_reusing_addresses_as_a_session_ends_free_every_block_as_it_came();
    assert_eq!(
        MISMATCHES.load(Ordering::Relaxed),
        0,
        "every block went back to the wrapped allocator as it came"
    );
    println!("block_headers: 5 passed, 0 failed");
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// What the wrapped allocator was asked for by `f`'s last allocation.
fn asked(f: impl FnOnce() -> *mut u8) -> (*mut u8, usize) {
    let p = black_box(f());
    (p, ASKED.load(Ordering::Relaxed))
}

fn session(name: &str) -> (SessionBuilder, std::path::PathBuf) {
    let path = common::temp_path(&format!("{name}.json"));
    (Session::builder().output(&path).quiet(), path)
}

fn an_exact_session_asks_16_bytes_more_for_blocks_aligned_to_16_or_less() {
    let (builder, path) = session("sizes");
    let s = builder.start();
    // SAFETY: non-zero sizes; each block is freed with its layout.
    unsafe {
        for align in [1, 8, 16] {
            let l = layout(24, align);
            let (p, n) = asked(|| alloc(l));
            assert_eq!(n, 40, "align {align}");
            assert_eq!(p as usize % align, 0);
            p.write_bytes(0xA5, 24);
            // Grown in place or moved, the header goes along.
            let (q, n) = asked(|| realloc(p, l, 4000));
            assert_eq!(n, 4016);
            assert_eq!(q as usize % align, 0);
            assert!((0..24).all(|i| *q.add(i) == 0xA5), "contents kept");
            dealloc(q, layout(4000, align));
        }
        let wide = layout(64, 64);
        let (p, n) = asked(|| alloc(wide));
        assert_eq!(
            n, 64,
            "larger alignments keep their size (the live table has them)"
        );
        assert_eq!(p as usize % 64, 0);
        dealloc(p, wide);
        let z = layout(100, 16);
        let (p, n) = asked(|| alloc_zeroed(z));
        assert_eq!(n, 116);
        assert!((0..100).all(|i| *p.add(i) == 0), "zeroed");
        dealloc(p, z);
    }
    s.finish().unwrap();
    let p = common::load(&path);
    assert_eq!(p.totals.live_blocks, 0);
    assert_eq!(p.untracked.deallocations, 0, "every free was known");
    assert_eq!(p.bookkeeping.untracked_blocks, 0);
}

#[inline(never)]
fn made_in_session_one() -> (*mut u8, *mut u8) {
    // SAFETY: non-zero sizes.
    unsafe { (alloc(layout(48, 8)), alloc(layout(48, 8))) }
}

fn blocks_keep_their_header_across_sessions_and_go_back_as_they_came() {
    let l = layout(48, 8);
    // SAFETY: non-zero sizes; every block is freed once, with its layout.
    unsafe {
        let before = alloc(l); // plain: no session
        before.write_bytes(7, 48);

        let (builder, path1) = session("across-1");
        let s = builder.start();
        let (a, b) = made_in_session_one();
        a.write_bytes(1, 48);
        // A plain block reallocated in a session stays plain (the table
        // keeps it), and counts as the session's.
        let (before, n) = asked(|| realloc(before, l, 96));
        assert_eq!(n, 96);
        assert!((0..48).all(|i| *before.add(i) == 7));
        dealloc(b, l);
        s.finish().unwrap();

        // After the session: `a` still has its header.
        let (a, n) = asked(|| realloc(a, l, 480));
        assert_eq!(n, 496);
        assert!((0..48).all(|i| *a.add(i) == 1));
        dealloc(before, layout(96, 8));

        let (builder, path2) = session("across-2");
        let s = builder.start();
        // Freed in a later session: its header is an earlier session's.
        dealloc(a, layout(480, 8));
        s.finish().unwrap();

        let one = common::load(&path1);
        let made = common::callsites_in(&one, "block_headers::made_in_session_one");
        assert_eq!(made.iter().map(|c| c.blocks).sum::<u64>(), 2);
        assert_eq!(
            made.iter().map(|c| c.live_blocks).sum::<u64>(),
            1,
            "`a` outlived session 1"
        );
        assert_eq!(
            one.untracked.reallocations, 1,
            "the plain block, made before"
        );
        let two = common::load(&path2);
        assert_eq!(two.untracked.deallocations, 1, "`a` was not session 2's");
        assert_eq!(two.untracked.bytes_deallocated, 480);
        assert!(common::callsites_in(&two, "made_in_session_one").is_empty());
    }
}

fn sessions_that_keep_blocks_in_the_table_ask_for_the_program_s_sizes() {
    let l = layout(24, 8);
    let builders = [
        ("no-headers", Session::builder().block_headers(false)),
        ("sampled", Session::builder().sampling(1)),
        ("limited", Session::builder().memory_limit(64 << 20)),
    ];
    for (name, builder) in builders {
        let path = common::temp_path(&format!("{name}.json"));
        let s = builder.output(&path).quiet().start();
        // SAFETY: non-zero size, freed with its layout.
        unsafe {
            let (p, n) = asked(|| alloc(l));
            assert_eq!(n, 24, "{name}");
            dealloc(p, l);
        }
        s.finish().unwrap();
        let p = common::load(&path);
        assert_eq!(p.untracked.deallocations, 0, "{name}");
    }
}

#[allow(clippy::vec_box)] // each box is one allocation on purpose
#[inline(never)]
fn hold(n: usize) -> Vec<Box<[u8; 16]>> {
    let v = (0..n).map(|_| black_box(Box::new([0u8; 16]))).collect();
    black_box(v)
}

fn the_profile_counts_the_headers_as_the_profiler_s_memory() {
    let (builder, path) = session("memory");
    let s = builder.start();
    let empty = common::temp_path("memory-before.json");
    s.snapshot(&empty).unwrap();
    let blocks = hold(100_000);
    s.finish().unwrap();
    drop(blocks);
    let (before, after) = (common::load(&empty), common::load(&path));
    let grew = after.bookkeeping.profiler_bytes - before.bookkeeping.profiler_bytes;
    // 16 bytes of header per box, a bit of bitmap, the stack: not a table.
    assert!(
        (16 * 100_000..=24 * 100_000).contains(&grew),
        "profiler_bytes grew by {grew}"
    );
}

/// Four threads churn blocks of mixed sizes and alignments while a session
/// starts and ends: addresses freed with a header are reused by blocks
/// without one and the other way round, across threads (`Checked` counts any
/// block that goes back otherwise than it came).
fn threads_reusing_addresses_as_a_session_ends_free_every_block_as_it_came() {
    use std::sync::atomic::AtomicBool;
    static STOP: AtomicBool = AtomicBool::new(false);
    let before = MISMATCHES.load(Ordering::Relaxed);
    let churn = |seed: u64| {
        move || {
            let mut x = seed | 1;
            let mut slots: Vec<Option<(*mut u8, Layout)>> = vec![None; 64];
            let mut made = 0u64;
            while !STOP.load(Ordering::Relaxed) || made < 20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let slot = &mut slots[(x % 64) as usize];
                if let Some((p, l)) = slot.take() {
                    // SAFETY: allocated below with `l`, freed once.
                    unsafe { dealloc(p, l) };
                }
                let l = layout(
                    1 + (x >> 8) as usize % 300,
                    [1, 8, 16, 32][(x >> 20) as usize % 4],
                );
                // SAFETY: a non-zero size.
                let p = unsafe { alloc(l) };
                assert!(!p.is_null());
                *slot = Some((p, l));
                made += 1;
            }
            for (p, l) in slots.into_iter().flatten() {
                // SAFETY: as above.
                unsafe { dealloc(p, l) };
            }
            made
        }
    };
    let threads: Vec<_> = (1..=4u64)
        .map(|t| std::thread::spawn(churn(t * 0x9E37_79B9)))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (builder, path) = session("threads");
    let s = builder.start();
    std::thread::sleep(std::time::Duration::from_millis(50));
    s.finish().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    STOP.store(true, Ordering::Relaxed);
    let made: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(made >= 80_000, "{made} blocks");
    assert!(
        common::load(&path).totals.allocations > 0,
        "the session saw the churn"
    );
    assert_eq!(
        MISMATCHES.load(Ordering::Relaxed),
        before,
        "every block went back as it came"
    );
}
