//! Poisson byte sampling, as jemalloc and tcmalloc do it: each thread counts
//! down an exponentially distributed number of bytes (mean: the rate) and
//! samples the allocation that crosses zero, so a block of `size` bytes is
//! sampled with probability `p = 1 - exp(-size / rate)`. A sampled event
//! stands for `1/p` blocks and `size/p` bytes; weights are kept in 16.16 fixed
//! point so that summing them adds no rounding bias. In exact sessions every
//! event has weight 1 block and `size` bytes.
//!
//! Frees must find sampled blocks without a table lookup for every free: a
//! small counting filter over block addresses says "certainly not sampled"
//! for almost all of them with one load.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::thread::ThreadState;

/// Mean bytes between samples; 0 in exact sessions.
pub static RATE: AtomicU64 = AtomicU64::new(0);

/// The session's sampling seed (see `SessionBuilder::sampling_seed`).
pub static SEED: AtomicU64 = AtomicU64::new(0);

/// Fixed-point one: sampled weights are in units of 1/65536.
pub const ONE: u64 = 1 << 16;

/// What an event counts for: `n` blocks and `b` bytes (fixed point when
/// sampling, plain when exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct W {
    /// Blocks.
    pub n: u64,
    /// Bytes.
    pub b: u64,
}

/// True in a sampling session.
#[inline]
pub fn sampling() -> bool {
    RATE.load(Ordering::Relaxed) != 0
}

/// The weight of an event on a block of `size` bytes.
#[inline]
pub fn weight(size: u64) -> W {
    weight_with(size, rate())
}

/// The session's sampling rate (0 when exact), read once for callers that
/// need both the weight and whether the session samples.
#[inline]
pub fn rate() -> u64 {
    RATE.load(Ordering::Relaxed)
}

/// [`weight`] at a `rate` read with [`rate`].
#[inline]
pub fn weight_with(size: u64, rate: u64) -> W {
    if rate == 0 {
        return W { n: 1, b: size };
    }
    weight_at(size, rate)
}

/// The weight of a sampled block of `size` bytes at sampling `rate`.
pub fn weight_at(size: u64, rate: u64) -> W {
    let s = size.max(1) as f64;
    // 1 - exp(-s/rate), computed without cancellation for small s.
    let p = -(-s / rate as f64).exp_m1();
    let one = ONE as f64;
    W {
        n: (one / p).round() as u64,
        b: (one * s / p).round() as u64,
    }
}

/// Turns a fixed-point estimate back into a whole number, to nearest.
#[inline]
pub fn scale(v: u64) -> u64 {
    (v + ONE / 2) >> 16
}

/// Turns a fixed-point estimate back into a whole number, rounding down (for
/// figures that must not exceed another after scaling).
#[inline]
pub fn scale_down(v: u64) -> u64 {
    v >> 16
}

fn next_random(ts: &ThreadState) -> u64 {
    // xorshift64*: fast, good enough for sampling intervals.
    let mut x = ts.sample_rng.get();
    if x == 0 {
        x = first_state(ts.id(), SEED.load(Ordering::Relaxed));
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ts.sample_rng.set(x);
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The generator's first state on thread `id` with `seed`: never 0, and
/// unrelated between threads and between seeds (seed 0 keeps the states of
/// the profiler's versions without seeds).
fn first_state(id: u32, seed: u64) -> u64 {
    let mut x = (u64::from(id) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    if seed != 0 {
        // splitmix64's finalizer over the seed.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= z ^ (z >> 31);
    }
    x | 1
}

/// An exponentially distributed byte count with mean `rate`.
fn interval(ts: &ThreadState, rate: u64) -> i64 {
    let u = (next_random(ts) >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    let bytes = -(1.0 - u).ln() * rate as f64;
    (bytes as i64).saturating_add(1)
}

/// What the sampler decided for an event.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// The event is sampled.
    pub take: bool,
    /// The stratum it was counted in (`strata::count`).
    pub stratum: u32,
}

/// Whether to sample an allocation (`alloc`) or reallocation of `size` bytes
/// on this thread, in session `generation`; counts it in the thread's exact
/// strata either way.
#[inline(always)]
pub fn should_sample(ts: &ThreadState, size: usize, alloc: bool, generation: u32) -> Decision {
    let rate = RATE.load(Ordering::Relaxed);
    if ts.sample_gen.get() != generation {
        ts.sample_gen.set(generation);
        ts.sample_rng.set(0);
        ts.sample_left.set(interval(ts, rate));
        crate::strata::attach(ts, generation);
    }
    let stratum = crate::strata::count(ts, size, alloc);
    // No overflow: `sample_left` is positive here and a size at most
    // `isize::MAX`.
    let left = ts.sample_left.get().wrapping_sub(size as i64);
    if left > 0 {
        ts.sample_left.set(left);
        return Decision {
            take: false,
            stratum,
        };
    }
    ts.sample_left.set(interval(ts, rate));
    Decision {
        take: true,
        stratum,
    }
}

const FILTER_BITS: u32 = 18;
/// Cells per window of heap: one 64-byte line of the filter covers the 64
/// cells of a 1 KiB window of addresses (16 bytes each, malloc's alignment).
const WINDOW_BITS: u32 = 6;
/// Line-aligned, so that a window's cells are one line.
#[repr(align(64))]
struct Filter([AtomicU8; 1 << FILTER_BITS]);
static FILTER: Filter = Filter([const { AtomicU8::new(0) }; 1 << FILTER_BITS]);

/// The filter cell of the block at `ptr`. Neighbouring blocks share a line
/// of the filter, so frees of neighbours (which programs do together) find
/// it in cache; windows are spread over the filter by a hash. A cell stands
/// for every address with the same window hash and offset: a free there
/// takes the slow path for nothing, which costs time, never a count.
#[inline]
fn cell(ptr: usize) -> &'static AtomicU8 {
    let p = (ptr as u64) >> 4;
    let offset = p & ((1 << WINDOW_BITS) - 1);
    let window = (p >> WINDOW_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        >> (64 - (FILTER_BITS - WINDOW_BITS));
    &FILTER.0[((window << WINDOW_BITS) | offset) as usize]
}

/// Notes that the block at `ptr` is sampled.
pub fn mark(ptr: usize) {
    let c = cell(ptr);
    // A saturated cell stays saturated: only more false "maybe"s.
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        (v < u8::MAX).then_some(v + 1)
    });
}

/// Notes that the sampled block at `ptr` is gone.
pub fn unmark(ptr: usize) {
    let c = cell(ptr);
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        (v > 0 && v < u8::MAX).then(|| v - 1)
    });
}

/// False when the block at `ptr` is certainly not sampled.
#[inline]
pub fn maybe_sampled(ptr: usize) -> bool {
    cell(ptr).load(Ordering::Relaxed) != 0
}

/// Clears the filter for a new session (no thread records meanwhile).
pub fn reset() {
    for c in &FILTER.0 {
        c.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_undo_the_sampling_probability() {
        let rate = 512 * 1024;
        // A tiny block is sampled rarely and stands for many.
        let w = weight_at(16, rate);
        let p = 1.0 - (-16.0f64 / rate as f64).exp();
        assert!(((w.n as f64 / ONE as f64) - 1.0 / p).abs() < 1e-3);
        // A huge block is sampled almost surely and stands for itself.
        let w = weight_at(64 << 20, rate);
        assert_eq!(scale(w.n), 1);
        assert_eq!(scale(w.b), 64 << 20);
    }

    /// How far the sampled estimate of `sizes`' bytes falls from their
    /// sum, at `rate`, as a fraction of it. Deterministic: a fixed thread
    /// state and seed.
    fn relative_error(rate: u64, generation: u32, sizes: impl Iterator<Item = u64>) -> f64 {
        crate::thread::with_state(|ts| {
            RATE.store(rate, Ordering::Relaxed);
            let (mut est, mut truth) = (0u128, 0u128);
            for size in sizes {
                truth += u128::from(size);
                if should_sample(ts, size as usize, true, generation).take {
                    est += u128::from(weight(size).b);
                }
            }
            RATE.store(0, Ordering::Relaxed);
            let est = est as f64 / ONE as f64;
            (est - truth as f64).abs() / truth as f64
        })
        .unwrap()
    }

    #[test]
    fn sampled_bytes_estimate_the_true_bytes() {
        // One test sets the rate (a global) for both workloads, so that
        // they never overlap.
        let err = relative_error(4096, 7, (0..2_000_000u64).map(|i| 8 + (i * 37) % 1000));
        assert!(err < 0.02, "estimate off by {:.2}%", err * 100.0);

        // Vectors grown by doubling, from 64 bytes to up to 2 MiB, at
        // 512 KiB: blocks below, near and above the rate (the benchmark's
        // `visit_seq` callsites). About 5.6e10 bytes: chance alone leaves
        // the estimate within 0.3% (one sd).
        let growth = (0..200_000u64).flat_map(|rep| (6..=6 + rep % 15).map(|k| 1u64 << k));
        let err = relative_error(512 * 1024, 8, growth);
        assert!(err < 0.015, "growing vectors: off by {:.2}%", err * 100.0);
    }

    #[test]
    fn seeds_give_each_thread_its_own_repeatable_sequence() {
        // Seed 0 keeps the sequences of earlier versions.
        assert_eq!(
            first_state(4, 0),
            5u64.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
        );
        let mut seen = std::collections::HashSet::new();
        for seed in 0..64u64 {
            for id in 0..64u32 {
                let x = first_state(id, seed);
                assert_ne!(x, 0);
                assert_eq!(x, first_state(id, seed), "repeatable");
                assert!(
                    seen.insert(x),
                    "thread {id}, seed {seed}: a state seen before"
                );
            }
        }
    }

    #[test]
    fn parts_never_exceed_their_whole_after_scaling() {
        // The writer rounds wholes to nearest and parts down; a sampled
        // profile once failed validation with freed_blocks one above
        // blocks + reallocs when every figure was rounded to nearest.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (b, r) = (x % (1 << 40), (x >> 24) % (1 << 40));
            let part = (x >> 3) % (b + r + 1);
            assert!(
                scale_down(part) <= scale(b) + scale(r),
                "{part} vs {b} + {r}"
            );
            let part = (x >> 5) % (b + 1);
            assert!(scale_down(part) <= scale(b));
        }
    }

    #[test]
    fn the_filter_forgets_freed_blocks() {
        let p = 0x7f00_1234_5670usize;
        assert!(!maybe_sampled(p));
        mark(p);
        mark(p);
        assert!(maybe_sampled(p));
        unmark(p);
        assert!(maybe_sampled(p));
        unmark(p);
        assert!(!maybe_sampled(p));
    }

    #[test]
    fn neighbouring_blocks_share_a_line_of_the_filter_but_not_a_cell() {
        let base = 0x7f00_0000_4000usize;
        let line = |p: usize| cell(p) as *const AtomicU8 as usize / 64;
        let cells: Vec<_> = (0..64)
            .map(|i| cell(base + 16 * i) as *const AtomicU8)
            .collect();
        assert!((0..64).all(|i| line(base + 16 * i) == line(base)));
        let mut distinct = cells.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 64, "one cell per 16-byte block of a window");
        // Windows are spread: 256 consecutive windows land on many lines.
        let mut lines: Vec<_> = (0..256).map(|w| line(base + 1024 * w)).collect();
        lines.sort();
        lines.dedup();
        assert!(lines.len() > 200, "{} lines", lines.len());
    }
}
