//! Exact totals by thread and site in a sampling session, and what the
//! samples add up to in each, by callsite: what `alloc_core::calibrate` needs
//! to hold each callsite's estimate against exact figures.
//!
//! A site is the cheap name `capture::site_hash` gives the code that called
//! the allocator: the stack pointer, which tells apart the depths of a
//! recursion and of nested calls, and the innermost return addresses, which
//! tell apart the calls made from one function. One callsite (one stack)
//! always has one site, and two callsites rarely share one, so a stratum
//! (a thread's site, hashed into one of [`STRATA`] counters) mostly holds
//! one callsite's events, whose exact total calibration then gives it
//! whole. Callsites that share a stratum (by the hash, or by sites alike in
//! their depth and innermost frames: callsites that differ only further
//! out) share its exact total as their samples say.
//!
//! Every allocation and reallocation of a sampling session adds its bytes
//! (and an allocation its block) to its thread's count for its stratum: a
//! plain load and store into memory only that thread writes, as the global
//! counters do. Each sampled event adds its weight to a cell for its
//! (callsite, stratum) in the same thread's table, under the thread's record
//! lock, so the profile writer, holding every record's lock, reads whole
//! cells.
//!
//! The counts belong to a counter slot (`counters.rs`), not to a thread: a
//! thread that exits gives its slot up with what it counted, and the next
//! thread to take the slot adds to it. Any grouping of events serves, as long
//! as the exact counts and the samples use the same one.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use alloc_core::calibrate::{Adjustment, Cell as CalCell, Stratum, calibrate, strata_used};
use alloc_core::format::{Calibration, Callsite};

use crate::counters::SLOTS;
use crate::sampling::{ONE, W};
use crate::thread::ThreadState;

/// log2 of [`STRATA`].
const STRATA_BITS: u32 = 12;
/// Strata per thread: sites are hashed into this many counters.
pub const STRATA: usize = 1 << STRATA_BITS;
/// Cells per thread: (callsite, stratum) pairs a thread's samples can be
/// kept in. A sample that finds no cell makes its stratum keep plain
/// estimates.
const CELLS: usize = 1024;
/// Cells probed for a free one.
const PROBES: usize = 64;

/// Whether sampling sessions calibrate (`SessionBuilder::calibrate`).
pub static ENABLED: AtomicBool = AtomicBool::new(true);

/// The stratum of the site named `site` (`capture::site_hash`): below
/// [`STRATA`].
#[inline(always)]
pub fn stratum(site: u64) -> usize {
    // Multiplicative hashing: a site's bits all lie far below the top ones,
    // which the product's top bits depend on all of.
    (site.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - STRATA_BITS)) as usize
}

/// A stratum's exact counts, side by side: one cache line per event.
struct Count {
    bytes: AtomicU64,
    blocks: AtomicU64,
}

/// One (callsite, stratum) cell's samples; floats are kept as their bits.
struct Cell {
    generation: AtomicU32,
    stack: AtomicU32,
    stratum: AtomicU32,
    samples: AtomicU32,
    allocs: AtomicU32,
    bytes: AtomicU64,
    blocks: AtomicU64,
    bytes_var: AtomicU64,
    blocks_var: AtomicU64,
}

/// A counter slot's strata.
pub struct Strata {
    generation: AtomicU32,
    counts: [Count; STRATA],
    /// A bit per stratum whose samples did not all find a cell.
    lost: [AtomicU64; STRATA / 64],
    cells: [Cell; CELLS],
}

/// Each counter slot's strata, mapped the first time a sampling session's
/// thread holds the slot, and never unmapped.
static BY_SLOT: [AtomicPtr<Strata>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

/// Adds to a counter only this thread writes.
#[inline]
fn bump(c: &AtomicU64, v: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
}

/// Adds to a float kept as bits, written only under the owner's record lock.
fn bump_f(c: &AtomicU64, v: f64) {
    let f = f64::from_bits(c.load(Ordering::Relaxed)) + v;
    c.store(f.to_bits(), Ordering::Relaxed);
}

/// Gives the calling thread its slot's strata for session `generation`, at
/// the thread's first sampling decision of the session; none when
/// calibration is off, the thread has no counter slot, or no memory.
#[cold]
pub fn attach(ts: &ThreadState, generation: u32) {
    ts.strata.set(None);
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(k) = crate::counters::slot_index(ts) else {
        return;
    };
    let Some(entry) = BY_SLOT.get(k) else { return };
    let mut p = entry.load(Ordering::Acquire);
    if p.is_null() {
        let Some(mem) = crate::os_mem::map_zeroed(size_of::<Strata>()) else {
            return;
        };
        // Only the slot's owner maps its strata: no other thread stores here.
        p = mem.cast::<Strata>().as_ptr();
        entry.store(p, Ordering::Release);
    }
    // SAFETY: `p` is a mapping of one `Strata`, zeroed (a valid value: all
    // atomics) when mapped, and never unmapped: a 'static shared reference.
    let s: &'static Strata = unsafe { &*p };
    if s.generation.load(Ordering::Relaxed) != generation {
        // A slot that counted for an older session: start again. (One that
        // counted for this one, before its thread exited, is added to.)
        let counts = s.counts.iter().flat_map(|c| [&c.bytes, &c.blocks]);
        for c in counts.chain(&s.lost) {
            c.store(0, Ordering::Relaxed);
        }
        s.generation.store(generation, Ordering::Release);
    }
    ts.site_hi.set(if crate::capture::walks_frame_pointers() {
        ts.stack_hi()
    } else {
        0
    });
    ts.strata.set(Some(s));
}

/// Forgets the exiting thread's strata (its counter slot is given up).
pub fn detach(ts: &ThreadState) {
    ts.strata.set(None);
}

/// Counts an allocation (`alloc`) or reallocation of `size` bytes, made by
/// the code that called the allocator (the caller inlines this, so that its
/// site is the program's), and returns its stratum, for [`note_sampled`] or
/// [`uncount`] (0 when the thread keeps no strata).
#[inline(always)]
pub fn count(ts: &ThreadState, size: usize, alloc: bool) -> u32 {
    let Some(s) = ts.strata.get() else { return 0 };
    // Masked, so that no bounds check is left to fail (strata end below
    // `STRATA` anyway).
    let k = stratum(crate::capture::site_hash(ts.site_hi.get())) & (STRATA - 1);
    let c = &s.counts[k];
    bump(&c.bytes, size as u64);
    if alloc {
        bump(&c.blocks, 1);
    }
    k as u32
}

/// Takes back a reallocation of `size` bytes [`count`]ed in `stratum` before
/// the inner allocator failed it.
#[cold]
pub fn uncount(ts: &ThreadState, size: usize, stratum: u32) {
    if let Some(c) = ts.strata.get().and_then(|s| s.counts.get(stratum as usize)) {
        bump(&c.bytes, (size as u64).wrapping_neg());
    }
}

/// Adds a sampled event of `size` bytes, weight `w`, at stack `stack`,
/// counted in `stratum`, to the calling thread's cells (under its record
/// lock).
#[cold]
#[inline(never)]
pub fn note_sampled(ts: &ThreadState, stack: u32, stratum: u32, size: u64, w: W, alloc: bool) {
    let Some(s) = ts.strata.get() else { return };
    let generation = s.generation.load(Ordering::Relaxed);
    let h =
        (u64::from(stack) << STRATA_BITS | u64::from(stratum)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let start = (h >> 40) as usize;
    let found = (0..PROBES)
        .filter_map(|i| s.cells.get((start + i) % CELLS))
        .find(|c| {
            c.generation.load(Ordering::Relaxed) != generation
                || (c.stack.load(Ordering::Relaxed) == stack
                    && c.stratum.load(Ordering::Relaxed) == stratum)
        });
    let Some(c) = found else {
        if let Some(bits) = s.lost.get(stratum as usize / 64) {
            bits.fetch_or(1 << (stratum % 64), Ordering::Relaxed);
        }
        return;
    };
    if c.generation.load(Ordering::Relaxed) != generation {
        for v in [&c.samples, &c.allocs] {
            v.store(0, Ordering::Relaxed);
        }
        for v in [&c.bytes, &c.blocks, &c.bytes_var, &c.blocks_var] {
            v.store(0f64.to_bits(), Ordering::Relaxed);
        }
        c.stack.store(stack, Ordering::Relaxed);
        c.stratum.store(stratum, Ordering::Relaxed);
        c.generation.store(generation, Ordering::Relaxed);
    }
    let one = ONE as f64;
    let (b, n) = (w.b as f64 / one, w.n as f64 / one);
    c.samples.store(
        c.samples.load(Ordering::Relaxed).saturating_add(1),
        Ordering::Relaxed,
    );
    bump_f(&c.bytes, b);
    bump_f(&c.bytes_var, b * (b - size as f64));
    if alloc {
        c.allocs.store(
            c.allocs.load(Ordering::Relaxed).saturating_add(1),
            Ordering::Relaxed,
        );
        bump_f(&c.blocks, n);
        bump_f(&c.blocks_var, n * (n - 1.0));
    }
}

/// One measure's strata and the cells of samples in them, in
/// `alloc_core::calibrate`'s terms (callsites by raw stack id).
#[derive(Default)]
pub struct Measure {
    /// Every slot's strata, `STRATA` per slot.
    pub strata: Vec<Stratum>,
    /// The (callsite, stratum) cells.
    pub cells: Vec<CalCell>,
}

/// What [`collect`] read of session `generation`, for bytes and for blocks.
#[derive(Default)]
pub struct Collected {
    /// Bytes allocated and reallocated.
    pub bytes: Measure,
    /// Blocks allocated.
    pub blocks: Measure,
}

/// Reads every slot's strata of session `generation` (with every record's
/// lock held, so no sample is half-added).
pub fn collect(generation: u32) -> Collected {
    let mut out = Collected::default();
    for entry in &BY_SLOT {
        let p = entry.load(Ordering::Acquire);
        if p.is_null() {
            continue;
        }
        // SAFETY: as in `attach`: a mapped `Strata`, never unmapped.
        let s: &Strata = unsafe { &*p };
        if s.generation.load(Ordering::Acquire) != generation {
            continue;
        }
        let base = out.bytes.strata.len();
        for (k, c) in s.counts.iter().enumerate() {
            let lost = s
                .lost
                .get(k / 64)
                .is_some_and(|b| b.load(Ordering::Relaxed) & (1 << (k % 64)) != 0);
            let exact = |v: &AtomicU64| v.load(Ordering::Relaxed) as f64;
            out.bytes.strata.push(Stratum {
                exact: exact(&c.bytes),
                usable: !lost,
            });
            out.blocks.strata.push(Stratum {
                exact: exact(&c.blocks),
                usable: !lost,
            });
        }
        for c in &s.cells {
            if c.generation.load(Ordering::Relaxed) != generation {
                continue;
            }
            let f = |v: &AtomicU64| f64::from_bits(v.load(Ordering::Relaxed));
            let (stack, k) = (
                c.stack.load(Ordering::Relaxed),
                c.stratum.load(Ordering::Relaxed) as usize,
            );
            out.bytes.cells.push(CalCell {
                callsite: stack,
                stratum: base + k,
                samples: c.samples.load(Ordering::Relaxed),
                estimate: f(&c.bytes),
                variance: f(&c.bytes_var),
            });
            let allocs = c.allocs.load(Ordering::Relaxed);
            if allocs > 0 {
                out.blocks.cells.push(CalCell {
                    callsite: stack,
                    stratum: base + k,
                    samples: allocs,
                    estimate: f(&c.blocks),
                    variance: f(&c.blocks_var),
                });
            }
        }
    }
    out
}

/// Calibrates the callsites' figures (by raw stack id, fixed point as the
/// records keep them) with what [`collect`] read; returns what they were held
/// against. Each callsite's live and peak figures scale with its total, so
/// that no part exceeds its whole.
pub fn apply(sites: &mut [&mut Callsite], c: &Collected) -> Calibration {
    let scaled = |v: u64, f: f64| (v as f64 * f) as u64;
    for (id, a) in calibrate(&c.bytes.strata, &c.bytes.cells) {
        let Some(site) = sites.get_mut(id as usize) else {
            continue;
        };
        let f = adjust(&mut site.bytes, &mut site.bytes_variance, a);
        let whole = site.bytes;
        for v in [
            &mut site.live_bytes,
            &mut site.peak_bytes,
            &mut site.max_live_bytes,
        ] {
            *v = scaled(*v, f).min(whole);
        }
    }
    for (id, a) in calibrate(&c.blocks.strata, &c.blocks.cells) {
        let Some(site) = sites.get_mut(id as usize) else {
            continue;
        };
        let f = adjust(&mut site.blocks, &mut site.blocks_variance, a);
        let events = site.blocks.saturating_add(site.reallocs);
        for v in [&mut site.live_blocks, &mut site.peak_blocks] {
            *v = scaled(*v, f).min(events);
        }
        site.freed_blocks = site.freed_blocks.min(events);
    }
    let mut out = Calibration::default();
    let bytes = &c.bytes;
    for (st, used) in bytes
        .strata
        .iter()
        .zip(strata_used(&bytes.strata, &bytes.cells))
    {
        match used {
            Some(true) => {
                out.strata += 1;
                out.bytes += st.exact as u64;
            }
            Some(false) => out.strata_plain += 1,
            None => {}
        }
    }
    out
}

/// Moves a fixed-point `total` and its `variance` (in whole units²) by `a`;
/// returns the factor the total changed by.
fn adjust(total: &mut u64, variance: &mut Option<u64>, a: Adjustment) -> f64 {
    let old = *total as f64;
    let new = (old + a.estimate * ONE as f64).max(0.0);
    *total = new.round() as u64;
    if let Some(v) = variance {
        *v = (*v as f64 + a.variance).max(0.0).round() as u64;
    }
    if old > 0.0 { new / old } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_spread_over_the_strata_as_chance_would() {
        // Sites of one stack pointer's neighbours (frames 16 bytes apart),
        // and of one stack pointer with neighbouring return addresses:
        // 1,024 sites thrown at random into 4,096 strata land in 906 of
        // them on average (sd 12).
        for step in [16u64, 1 << 7] {
            let mut seen: Vec<usize> = (0..1024u64)
                .map(|i| stratum(0x7ffd_1234_5670 + i * step))
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert!(seen.len() > 860, "step {step}: {} strata", seen.len());
        }
    }
}
