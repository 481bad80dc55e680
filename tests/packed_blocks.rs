//! Block headers over an inner allocator that packs blocks end to end, with
//! no more alignment than each layout asks for (an arena, say). Which blocks
//! carry a header is one bit per 16 bytes of address space; a block made
//! without a header right after a small headed one must not pass for headed,
//! or the wrapper would hand the inner allocator an address it never gave.
//!
//! The inner allocator here, `Packed`, is a bump allocator over one big
//! mapping. The test pins where chosen blocks go (a headed block in a
//! session; after the session, plain ones right after its inner block, and
//! once it is freed, one at its very address, where its bit is still set)
//! and checks that every pinned block comes back at the address and with the
//! layout it was handed out with.

use std::alloc::{GlobalAlloc, Layout, alloc, dealloc};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<Packed> = Profiler::new(Packed);

mod common;

/// Address space the arena reserves; pages are committed as they are touched.
const ARENA: usize = 16 << 30;

/// The arena's start (0 until the first allocation maps it).
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the arena handed out.
static USED: AtomicUsize = AtomicUsize::new(0);

/// Where the next small request goes (0: wherever the bump pointer is).
static PIN: AtomicUsize = AtomicUsize::new(0);

/// Pinned blocks handed out and freed: (address, size, align).
const LOG: usize = 1024;
static GIVEN: [[AtomicUsize; 3]; LOG] = [const { [const { AtomicUsize::new(0) }; 3] }; LOG];
static GIVEN_LEN: AtomicUsize = AtomicUsize::new(0);
static FREED: [[AtomicUsize; 3]; LOG] = [const { [const { AtomicUsize::new(0) }; 3] }; LOG];
static FREED_LEN: AtomicUsize = AtomicUsize::new(0);
/// The range pins point into: frees there are logged.
static HOLE: AtomicUsize = AtomicUsize::new(0);
const HOLE_BYTES: usize = 64 * 1024;

struct Packed;

fn base() -> usize {
    let b = BASE.load(Ordering::Acquire);
    if b != 0 {
        return b;
    }
    // SAFETY: an anonymous private mapping; no memory of ours is touched.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ARENA,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if m == libc::MAP_FAILED {
        std::process::abort();
    }
    match BASE.compare_exchange(0, m as usize, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => m as usize,
        Err(theirs) => {
            // SAFETY: mapped just above, never used.
            unsafe { libc::munmap(m, ARENA) };
            theirs
        }
    }
}

/// Takes `size` bytes aligned to `align` from the bump pointer.
fn bump(size: usize, align: usize) -> *mut u8 {
    let b = base();
    let mut used = USED.load(Ordering::Relaxed);
    loop {
        let start = (b + used).next_multiple_of(align);
        let end = start + size;
        if end > b + ARENA {
            return std::ptr::null_mut();
        }
        match USED.compare_exchange_weak(used, end - b, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return start as *mut u8,
            Err(now) => used = now,
        }
    }
}

fn log(to: &[[AtomicUsize; 3]; LOG], len: &AtomicUsize, p: *mut u8, l: Layout) {
    let i = len.fetch_add(1, Ordering::Relaxed);
    if let Some(e) = to.get(i) {
        e[0].store(p as usize, Ordering::Relaxed);
        e[1].store(l.size(), Ordering::Relaxed);
        e[2].store(l.align(), Ordering::Relaxed);
    }
}

fn logged(from: &[[AtomicUsize; 3]; LOG], len: &AtomicUsize) -> Vec<(usize, usize, usize)> {
    let n = len.load(Ordering::Relaxed).min(LOG);
    let mut v: Vec<_> = from[..n]
        .iter()
        .map(|e| {
            (
                e[0].load(Ordering::Relaxed),
                e[1].load(Ordering::Relaxed),
                e[2].load(Ordering::Relaxed),
            )
        })
        .collect();
    v.sort_unstable();
    v
}

// SAFETY: blocks are disjoint ranges of one mapping, never reused; a pinned
// block goes where the test reserved room for it.
unsafe impl GlobalAlloc for Packed {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= 64 && layout.align() <= 16 {
            let pin = PIN.swap(0, Ordering::Relaxed);
            if pin != 0 {
                let p = pin.next_multiple_of(layout.align()) as *mut u8;
                log(&GIVEN, &GIVEN_LEN, p, layout);
                return p;
            }
        }
        bump(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let hole = HOLE.load(Ordering::Relaxed);
        if (hole..hole + HOLE_BYTES).contains(&(ptr as usize)) {
            log(&FREED, &FREED_LEN, ptr, layout);
        }
    }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Allocates `l` at `at` (rounded up to its alignment): returns the block and
/// the end of the inner block the allocator handed out.
#[inline(never)]
fn pinned(at: usize, l: Layout) -> (*mut u8, usize) {
    PIN.store(at, Ordering::Relaxed);
    // SAFETY: a non-zero size.
    let p = black_box(unsafe { alloc(l) });
    assert_eq!(PIN.load(Ordering::Relaxed), 0, "the pin went to this block");
    let n = GIVEN_LEN.load(Ordering::Relaxed);
    let e = &GIVEN[n - 1];
    (
        p,
        e[0].load(Ordering::Relaxed) + e[1].load(Ordering::Relaxed),
    )
}

fn plain_blocks_next_to_or_in_place_of_headed_ones_go_back_as_they_came() {
    let hole = bump(HOLE_BYTES, 16) as usize;
    HOLE.store(hole, Ordering::Relaxed);
    let mut pairs = Vec::new();
    let mut at = hole;
    let path = common::temp_path("packed.json");
    let s = Session::builder().output(&path).quiet().start();
    for size in 1..=24 {
        for align in [1, 2, 4, 8, 16] {
            let l = layout(size, align);
            let (headed, end) = pinned(at, l);
            // SAFETY: `headed` has `size` bytes.
            unsafe { headed.write_bytes(0xA5, size) };
            pairs.push((headed, l, end));
            at = end + 48; // room for the plain block made later
        }
    }
    s.finish().unwrap();
    assert!(at < hole + HOLE_BYTES);
    let mut plain = Vec::new();
    for &(headed, l, end) in &pairs {
        // Every alignment of plain block, right where the headed one's inner
        // block ends.
        for align in [1, 2, 8] {
            let pl = layout(1, align);
            let (p, _) = pinned(end, pl);
            assert!(p as usize >= end && (p as usize) < end + 8);
            // SAFETY: one byte, ours.
            unsafe { p.write(0x5A) };
            // SAFETY: `p` was allocated just above with `pl`.
            unsafe { dealloc(p, pl) };
            plain.push(p);
        }
        // SAFETY: `headed` is live with `l`'s size.
        assert!((0..l.size()).all(|i| unsafe { *headed.add(i) } == 0xA5));
    }
    for &(headed, l, _) in &pairs {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { dealloc(headed, l) };
    }
    // A freed headed block leaves its bit set; a plain block made at its
    // very address must still go back as it came.
    for &(headed, _, _) in &pairs {
        let pl = layout(8, 8);
        let (p, _) = pinned(headed as usize, pl);
        assert_eq!(p, headed);
        // SAFETY: `p` was allocated just above with `pl`.
        unsafe { dealloc(p, pl) };
    }
    assert_eq!(
        logged(&FREED, &FREED_LEN),
        logged(&GIVEN, &GIVEN_LEN),
        "every pinned block went back at the address and with the layout it was given"
    );
    let p = common::load(&path);
    assert_eq!(
        common::sum_in(&p, "packed_blocks::pinned", |c| c.blocks),
        120,
        "the session counted its headed blocks"
    );
}

// A whole-process check, so no libtest harness (`harness = false`).
fn main() {
    common::watchdog(120, "packed_blocks");
    plain_blocks_next_to_or_in_place_of_headed_ones_go_back_as_they_came();
    println!("packed_blocks: 1 passed, 0 failed");
}
