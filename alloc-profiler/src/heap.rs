//! The session's heap clock, with no global lock on the allocation path.
//!
//! - The bytes live now and the most bytes ever live share one 128-bit word
//!   that each event changes with one compare-and-swap ([`step`]). The
//!   word's history orders every event of the session, so the peak is exact
//!   under any number of threads, and each event learns, in the same atomic
//!   step, whether it raised the peak and what the peak was. That is all a
//!   free needs to know whether its block was live at the current peak: a
//!   block remembers the lowest peak it is live at ([`Step::peak_from`]).
//! - Everything additive ([`Counts`]: events, bytes, failures; and the
//!   blocks live) is kept per record, in its [`Tally`] under the record's
//!   lock, and summed when a profile is written ([`Heap::merge`]).
//! - The heap-over-time series is a bounded list of points under its own
//!   lock, which a thread takes once every `stride` of its events.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::record::RECORDS;
use crate::sampling::W;
use crate::spin::SpinMutex;

/// Points the heap-over-time series holds before it halves its resolution.
pub const SERIES_CAP: usize = 1024;

/// One point of the series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Point {
    /// Nanoseconds since the session started.
    pub t_ns: u64,
    /// Live bytes then.
    pub live_bytes: u64,
    /// Live blocks then.
    pub live_blocks: u64,
    /// Most live bytes since the previous point.
    pub max_bytes: u64,
}

// ---- the live/peak word ------------------------------------------------------

/// What one event did to the heap level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Bytes live right after the event.
    pub live: u64,
    /// The peak right before it.
    pub peak_before: u64,
}

impl Step {
    /// Whether this event set a new peak (reaching the old one again does
    /// not: the peak is the first time the maximum is reached).
    #[inline]
    pub fn raised(self) -> bool {
        self.live > self.peak_before
    }

    /// The lowest peak a block this event created is live at. Peaks are told
    /// apart by their height, which only grows: the block is live at the
    /// peak this event set, or else at any later (hence higher) one.
    #[inline]
    pub fn peak_from(self) -> u64 {
        if self.raised() {
            self.live
        } else {
            self.peak_before.saturating_add(1)
        }
    }

    /// The peak a block with `peak_from` was live at when this event took it
    /// away, if any: the current one, when the block came before it.
    #[inline]
    pub fn was_live_at_peak(self, peak_from: u64) -> Option<u64> {
        (peak_from <= self.peak_before).then_some(self.peak_before)
    }
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod word {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicU8, Ordering};

    use crate::spin::SpinMutex;

    /// Live bytes in the low half, the peak in the high half; 16-byte
    /// aligned for `cmpxchg16b`.
    #[repr(C, align(64))]
    struct Word(UnsafeCell<u128>);

    // SAFETY: the cell is only read and written by `cmpxchg16b` (atomic), or,
    // on CPUs without it, under `FALLBACK`'s lock.
    unsafe impl Sync for Word {}

    static WORD: Word = Word(UnsafeCell::new(0));
    static FALLBACK: SpinMutex<()> = SpinMutex::new(());
    /// 0: not yet known; 1: `cmpxchg16b` available; 2: not available.
    static WIDE: AtomicU8 = AtomicU8::new(0);

    #[inline]
    fn wide() -> bool {
        match WIDE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let yes = std::is_x86_feature_detected!("cmpxchg16b");
                WIDE.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
                yes
            }
        }
    }

    /// Compares the word with `old` and, if equal, replaces it with `new`;
    /// returns what it held.
    ///
    /// # Safety
    /// The CPU must support `cmpxchg16b`.
    #[inline]
    unsafe fn cas(old: u128, new: u128) -> u128 {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: WORD is 16-byte aligned and only ever accessed atomically
        // (see `Word`); the caller checked the CPU feature. rbx cannot be an
        // operand, so the new low half goes in through rsi and is swapped
        // into rbx, which is restored before the block ends. Both operands
        // are in fixed registers: with `in(reg)` LLVM once chose rbx for the
        // address, which the swap then replaced (a crash in release builds).
        unsafe {
            std::arch::asm!(
                "xchg rsi, rbx",
                "lock cmpxchg16b xmmword ptr [rdi]",
                "mov rbx, rsi",
                in("rdi") WORD.0.get(),
                inout("rsi") new as u64 => _,
                in("rcx") (new >> 64) as u64,
                inout("rax") lo,
                inout("rdx") hi,
                options(nostack),
            );
        }
        u128::from(lo) | (u128::from(hi) << 64)
    }

    /// Applies `f` to the word atomically; `guess` is the caller's last
    /// sighting of it (a right guess saves a round trip), updated to the new
    /// value. Returns the value before.
    #[inline]
    pub fn update(guess: &mut u128, f: impl Fn(u128) -> u128) -> u128 {
        if wide() {
            let mut cur = *guess;
            loop {
                let new = f(cur);
                // SAFETY: `wide()` confirmed the CPU feature.
                let seen = unsafe { cas(cur, new) };
                if seen == cur {
                    *guess = new;
                    return cur;
                }
                cur = seen;
            }
        }
        let _held = FALLBACK.lock();
        // SAFETY: without `cmpxchg16b`, every access is under FALLBACK's lock.
        let cur = unsafe { *WORD.0.get() };
        let new = f(cur);
        // SAFETY: as above.
        unsafe { *WORD.0.get() = new };
        *guess = new;
        cur
    }

    /// The lock used without `cmpxchg16b`, for `fork.rs`.
    pub fn fallback_lock() -> &'static crate::spin::RawSpin {
        // SAFETY: locked and unlocked in pairs by `fork.rs` only.
        unsafe { FALLBACK.raw() }
    }
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
mod word {
    //! Targets without a 16-byte compare-and-swap (and Miri): the word under
    //! a spin lock whose critical section is a few instructions.
    use crate::spin::SpinMutex;

    static WORD: SpinMutex<u128> = SpinMutex::new(0);

    #[inline]
    pub fn update(guess: &mut u128, f: impl Fn(u128) -> u128) -> u128 {
        let mut w = WORD.lock();
        let cur = *w;
        *w = f(cur);
        *guess = *w;
        cur
    }

    pub fn fallback_lock() -> &'static crate::spin::RawSpin {
        // SAFETY: locked and unlocked in pairs by `fork.rs` only.
        unsafe { WORD.raw() }
    }
}

#[inline]
fn split(w: u128) -> (u64, u64) {
    (w as u64, (w >> 64) as u64)
}

#[inline]
fn join(live: u64, peak: u64) -> u128 {
    u128::from(live) | (u128::from(peak) << 64)
}

/// One event: `add` bytes become live and `sub` bytes stop being live, at
/// once. `guess` is the calling record's last sighting of the word.
#[inline]
pub fn step(guess: &mut u128, add: u64, sub: u64) -> Step {
    let before = word::update(guess, |w| {
        let (live, peak) = split(w);
        let live = live.wrapping_add(add).wrapping_sub(sub);
        join(live, peak.max(live))
    });
    let (live, peak_before) = split(before);
    Step {
        live: live.wrapping_add(add).wrapping_sub(sub),
        peak_before,
    }
}

/// The word now: (live bytes, peak bytes).
pub fn level() -> (u64, u64) {
    let mut guess = 0;
    split(word::update(&mut guess, |w| w))
}

// ---- per-record tallies ------------------------------------------------------

/// Blocks live, per record (the series reads them all without the records'
/// locks; each is written only by its record's lock holder).
#[repr(align(64))]
struct Padded(AtomicU64);
static LIVE_BLOCKS: [Padded; RECORDS] = [const { Padded(AtomicU64::new(0)) }; RECORDS];
/// One more than the highest record index in use this session.
static RECORDS_USED: AtomicUsize = AtomicUsize::new(0);

/// The session's additive totals, or one record's share of them. See
/// `docs/format.md` for what each means.
#[derive(Clone, Copy, Default)]
pub struct Counts {
    /// Successful `alloc`/`alloc_zeroed` calls.
    pub allocations: u64,
    /// Successful `realloc` calls.
    pub reallocations: u64,
    /// Frees of tracked blocks.
    pub deallocations: u64,
    /// Bytes handed out.
    pub bytes_allocated: u64,
    /// Bytes given back (tracked blocks only).
    pub bytes_deallocated: u64,
    /// Frees of blocks the session never saw allocated.
    pub untracked_frees: u64,
    /// Their bytes (and the old sizes of such blocks reallocated).
    pub untracked_free_bytes: u64,
    /// Reallocations of such blocks.
    pub untracked_reallocs: u64,
    /// Blocks the live table could not hold.
    pub missed_blocks: u64,
    /// Their bytes.
    pub missed_bytes: u64,
    /// Calls the inner allocator refused.
    pub failures: u64,
}

impl Counts {
    const ZERO: Self = Self {
        allocations: 0,
        reallocations: 0,
        deallocations: 0,
        bytes_allocated: 0,
        bytes_deallocated: 0,
        untracked_frees: 0,
        untracked_free_bytes: 0,
        untracked_reallocs: 0,
        missed_blocks: 0,
        missed_bytes: 0,
        failures: 0,
    };

    /// An allocation of weight `w` (tracked or not).
    #[inline]
    pub fn allocated(&mut self, w: W) {
        self.allocations = self.allocations.wrapping_add(w.n);
        self.bytes_allocated = self.bytes_allocated.wrapping_add(w.b);
    }

    /// A reallocation to weight `w_new` of a tracked block of weight `w_old`.
    #[inline]
    pub fn reallocated(&mut self, w_new: W, w_old: W) {
        self.reallocations = self.reallocations.wrapping_add(w_new.n);
        self.bytes_allocated = self.bytes_allocated.wrapping_add(w_new.b);
        self.bytes_deallocated = self.bytes_deallocated.wrapping_add(w_old.b);
    }

    /// A tracked block of weight `w` freed.
    #[inline]
    pub fn freed(&mut self, w: W) {
        self.deallocations = self.deallocations.wrapping_add(w.n);
        self.bytes_deallocated = self.bytes_deallocated.wrapping_add(w.b);
    }

    /// A block of weight `w` the live table could not hold.
    pub fn missed(&mut self, w: W) {
        self.missed_blocks = self.missed_blocks.wrapping_add(w.n);
        self.missed_bytes = self.missed_bytes.wrapping_add(w.b);
    }

    /// A block of `size` bytes the session never saw was freed, or, with
    /// `realloc`, reallocated.
    pub fn untracked(&mut self, size: u64, realloc: bool) {
        if realloc {
            self.untracked_reallocs += 1;
        } else {
            self.untracked_frees += 1;
        }
        self.untracked_free_bytes = self.untracked_free_bytes.wrapping_add(size);
    }

    fn add(&mut self, o: &Counts) {
        for (a, b) in [
            (&mut self.allocations, o.allocations),
            (&mut self.reallocations, o.reallocations),
            (&mut self.deallocations, o.deallocations),
            (&mut self.bytes_allocated, o.bytes_allocated),
            (&mut self.bytes_deallocated, o.bytes_deallocated),
            (&mut self.untracked_frees, o.untracked_frees),
            (&mut self.untracked_free_bytes, o.untracked_free_bytes),
            (&mut self.untracked_reallocs, o.untracked_reallocs),
            (&mut self.missed_blocks, o.missed_blocks),
            (&mut self.missed_bytes, o.missed_bytes),
            (&mut self.failures, o.failures),
        ] {
            *a = a.wrapping_add(b);
        }
    }
}

/// A record's share of the session: its counts, and what it needs to keep
/// the heap word and the series.
#[derive(Clone, Copy)]
pub struct Tally {
    /// Its share of the totals.
    pub counts: Counts,
    /// The latest event time seen.
    last_t_ns: u64,
    /// The highest peak this record's events set.
    peak_bytes: u64,
    /// When that peak was set.
    peak_t_ns: u64,
    /// Blocks allocated less blocks freed by this record's events.
    live_blocks: u64,
    /// This record's pool index.
    index: usize,
    guess: u128,
    since_point: u64,
    interval_max: u64,
}

impl Tally {
    /// Nothing counted, for no record yet.
    pub const ZERO: Self = Self {
        counts: Counts::ZERO,
        last_t_ns: 0,
        peak_bytes: 0,
        peak_t_ns: 0,
        live_blocks: 0,
        index: 0,
        guess: 0,
        since_point: 0,
        interval_max: 0,
    };

    /// A zero tally for the record at `index` of the pool.
    pub fn new(index: usize) -> Self {
        if let Some(p) = LIVE_BLOCKS.get(index) {
            p.0.store(0, Ordering::Relaxed);
        }
        Self {
            index,
            ..Self::ZERO
        }
    }

    /// The heap changes by `+add`/`-sub` bytes and `+n_add`/`-n_sub` blocks
    /// at `t_ns`: one step of the word, noted in the series.
    #[inline]
    pub fn step(&mut self, add: u64, sub: u64, n_add: u64, n_sub: u64, t_ns: u64) -> Step {
        let s = step(&mut self.guess, add, sub);
        if s.raised() {
            self.peak_bytes = s.live;
            self.peak_t_ns = t_ns;
        }
        self.live_blocks = self.live_blocks.wrapping_add(n_add).wrapping_sub(n_sub);
        if let Some(p) = LIVE_BLOCKS.get(self.index) {
            p.0.store(self.live_blocks, Ordering::Relaxed);
        }
        self.last_t_ns = self.last_t_ns.max(t_ns);
        self.interval_max = self.interval_max.max(s.live);
        self.since_point += 1;
        if self.since_point >= STRIDE.load(Ordering::Relaxed) {
            self.push_point(t_ns);
        }
        s
    }

    #[cold]
    #[inline(never)]
    fn push_point(&mut self, t_ns: u64) {
        let mut series = SERIES.lock();
        let (live, _) = level();
        series.push(Point {
            t_ns,
            live_bytes: live,
            live_blocks: live_blocks(),
            max_bytes: self.interval_max.max(live),
        });
        self.since_point = 0;
        self.interval_max = 0;
    }
}

fn live_blocks() -> u64 {
    let used = RECORDS_USED.load(Ordering::Relaxed).min(RECORDS);
    LIVE_BLOCKS
        .get(..used)
        .unwrap_or(&[])
        .iter()
        .fold(0u64, |s, p| s.wrapping_add(p.0.load(Ordering::Relaxed)))
}

// ---- the series --------------------------------------------------------------

struct Series {
    points: [Point; SERIES_CAP],
    len: usize,
}

static SERIES: SpinMutex<Series> = SpinMutex::new(Series {
    points: [Point {
        t_ns: 0,
        live_bytes: 0,
        live_blocks: 0,
        max_bytes: 0,
    }; SERIES_CAP],
    len: 0,
});
/// Events of one record between two of its points.
static STRIDE: AtomicU64 = AtomicU64::new(1);

impl Series {
    fn push(&mut self, mut p: Point) {
        if self.len == SERIES_CAP {
            for i in 0..SERIES_CAP / 2 {
                let (a, b) = (self.points[2 * i], self.points[2 * i + 1]);
                self.points[i] = Point {
                    max_bytes: a.max_bytes.max(b.max_bytes),
                    ..b
                };
            }
            self.len = SERIES_CAP / 2;
            STRIDE.store(STRIDE.load(Ordering::Relaxed) * 2, Ordering::Relaxed);
        }
        // Clocks read on different CPUs may disagree by a little: points
        // never go back in time.
        if let Some(last) = self.len.checked_sub(1).and_then(|i| self.points.get(i)) {
            p.t_ns = p.t_ns.max(last.t_ns);
        }
        if let Some(slot) = self.points.get_mut(self.len) {
            *slot = p;
            self.len += 1;
        }
    }
}

// ---- the whole, for a profile ------------------------------------------------

/// The session's figures, merged from every record.
#[derive(Clone, Default)]
pub struct Heap {
    /// The additive totals.
    pub counts: Counts,
    /// Tracked blocks live now.
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Most bytes ever live.
    pub peak_bytes: u64,
    /// Blocks live at that moment (the caller adds up the callsites').
    pub peak_blocks: u64,
    /// Time of the peak.
    pub peak_t_ns: u64,
    /// The latest event time seen.
    pub last_t_ns: u64,
    /// The heap over time, ending at the present figures.
    pub series: Vec<Point>,
}

impl Heap {
    /// Adds up `tallies` (every record of the session, whose locks the
    /// caller holds, so that no event is half done) into the session's
    /// figures, with the series ending at `now_ns` (or at the latest event,
    /// if a clock read on another CPU was a little ahead).
    pub fn merge<'a>(tallies: impl Iterator<Item = &'a Tally>, now_ns: u64) -> Self {
        let mut h = Heap::default();
        let (mut pending, mut interval_max, mut highest_set) = (false, 0, 0);
        for t in tallies {
            h.counts.add(&t.counts);
            h.live_blocks = h.live_blocks.wrapping_add(t.live_blocks);
            h.last_t_ns = h.last_t_ns.max(t.last_t_ns);
            // The record that set the peak says when; the word says how
            // high (the same figure).
            if t.peak_bytes > highest_set {
                highest_set = t.peak_bytes;
                h.peak_t_ns = t.peak_t_ns;
            }
            pending |= t.since_point > 0;
            interval_max = interval_max.max(t.interval_max);
        }
        (h.live_bytes, h.peak_bytes) = level();
        let series = SERIES.lock();
        h.series = series.points.get(..series.len).unwrap_or(&[]).to_vec();
        drop(series);
        // A last point whenever the series does not already end at the
        // present figures (events since the last point, or a block moved to
        // the untracked count without an event).
        let stale = h
            .series
            .last()
            .is_none_or(|p| (p.live_bytes, p.live_blocks) != (h.live_bytes, h.live_blocks));
        if pending || stale {
            let t_ns = h
                .series
                .last()
                .map_or(0, |p| p.t_ns)
                .max(now_ns)
                .max(h.last_t_ns);
            h.series.push(Point {
                t_ns,
                live_bytes: h.live_bytes,
                live_blocks: h.live_blocks,
                max_bytes: interval_max.max(h.live_bytes),
            });
        }
        h
    }
}

/// The leaf locks of this module, for `fork.rs`.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    // SAFETY: locked and unlocked in pairs by `fork.rs` only.
    f(unsafe { SERIES.raw() });
    f(word::fallback_lock());
}

/// Zeroes the state for a new session. Only with every record's lock held
/// (no event in flight).
pub fn reset() {
    let mut guess = 0;
    word::update(&mut guess, |_| 0);
    let mut series = SERIES.lock();
    series.len = 0;
    STRIDE.store(1, Ordering::Relaxed);
    for p in &LIVE_BLOCKS {
        p.0.store(0, Ordering::Relaxed);
    }
    RECORDS_USED.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word is global: tests that step it take turns.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_block_is_live_at_a_peak_it_saw_and_not_at_one_before_it() {
        let a = Step {
            live: 100,
            peak_before: 0,
        };
        assert!(a.raised());
        assert_eq!(
            a.peak_from(),
            100,
            "the allocation that sets a peak is live at it"
        );
        let b = Step {
            live: 150,
            peak_before: 100,
        };
        assert_eq!(b.peak_from(), 150);
        let free_a = Step {
            live: 50,
            peak_before: 150,
        };
        assert_eq!(free_a.was_live_at_peak(a.peak_from()), Some(150));
        let c = Step {
            live: 150,
            peak_before: 150,
        };
        assert!(!c.raised(), "equal, not higher: the peak stays first");
        let free_c = Step {
            live: 50,
            peak_before: 150,
        };
        assert_eq!(
            free_c.was_live_at_peak(c.peak_from()),
            None,
            "c came after the peak"
        );
    }

    #[test]
    fn steps_from_many_threads_leave_the_exact_peak() {
        let _turn = TURN.lock().unwrap();
        reset();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut guess = 0;
                    for _ in 0..if cfg!(miri) { 300 } else { 10_000 } {
                        step(&mut guess, 8, 0);
                        step(&mut guess, 0, 8);
                    }
                });
            }
        });
        let (live, peak) = level();
        assert_eq!(live, 0);
        assert!((8..=32).contains(&peak), "peak {peak}");
        reset();
        let mut guess = 0;
        let up = step(&mut guess, 40, 0);
        let realloc = step(&mut guess, 100, 40);
        assert_eq!((up.live, realloc.live, realloc.peak_before), (40, 100, 40));
        assert_eq!(level(), (100, 100));
        reset();
    }

    #[test]
    fn series_stays_bounded_and_keeps_the_peak() {
        let _turn = TURN.lock().unwrap();
        reset();
        let mut t = Tally::new(0);
        // Enough events for the series to fill and halve at least once.
        let n: u64 = if cfg!(miri) { 1_500 } else { 10_000 };
        for i in 0..n {
            t.step(8, 0, 1, 0, i);
        }
        for i in 0..n {
            t.step(0, 8, 0, 1, n + i);
        }
        let h = Heap::merge([&t].into_iter(), 3 * n);
        let pts = &h.series;
        assert!(pts.len() <= SERIES_CAP + 1);
        assert!(pts.len() >= SERIES_CAP / 2);
        assert_eq!(pts.iter().map(|p| p.max_bytes).max(), Some(8 * n));
        assert!(pts.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
        assert_eq!(pts.last().unwrap().live_bytes, 0);
        assert_eq!((h.peak_bytes, h.peak_t_ns), (8 * n, n - 1));
        reset();
    }
}
