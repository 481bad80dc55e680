//! The session's heap clock: live bytes, the exact peak and the heap over
//! time, with no shared cache line on the allocation path.
//!
//! Each event takes a *key*, its time in nanoseconds since the session
//! started, shifted left by 8 and joined with its record's pool index: keys
//! are unique, and each record's keys grow ([`Tally::key`]). An event notes
//! its change to the heap (bytes and blocks that became live or stopped
//! being live) in its record's log, under the record's lock it already holds
//! ([`Tally::log`]). Nothing else is shared.
//!
//! When a log fills, a thread takes the clock's lock and every record's, in
//! pool order, swaps each record's log for a spare, lets the records go,
//! and merges the logs in key order into the session's clock ([`merge`]):
//! live bytes and blocks, the peak (the first time the most bytes were live)
//! and the key of the event that set it, the series of the heap over time,
//! and each callsite's live bytes and their maximum. Writing a profile
//! merges what is left the same way, in place. Holding every record's lock
//! while taking the logs means every event so far is in a log, and every
//! event to come reads its time later (inside its record's lock), so it gets
//! a higher key: merging in key order is merging in time order, and
//! consecutive merges continue one history. Events of different threads in
//! the same nanosecond are ordered by record index; such events are
//! concurrent (a thread handing a block to another takes far longer than a
//! nanosecond), so any order is a true one.
//!
//! Which blocks were live at the peak, per callsite: the merge keeps each
//! callsite's live bytes and blocks, and the key of the latest change to
//! them. A callsite whose latest change came no later than the peak's event
//! still holds what it held at the peak; the first change to a callsite
//! after a peak saves what it held then (a lazy snapshot), so the figures at
//! the peak are exact for every callsite at O(1) per change, and a block
//! need not remember when it became live.
//!
//! Everything additive ([`Counts`]) is kept per record and summed when a
//! profile is written.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::{AllRecords, RECORDS};
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

/// Keys hold the record index in their low 8 bits.
const KEY_SHIFT: u32 = 8;
const _: () = assert!(RECORDS <= 1 << KEY_SHIFT);

/// The nanosecond part of a key.
#[inline]
pub fn key_time(key: u64) -> u64 {
    key >> KEY_SHIFT
}

/// No block ended (`Change::gone_stack`).
pub const NONE: u32 = u32::MAX;

/// One event's change to the heap, as its record logs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    /// The event's key.
    pub key: u64,
    /// Bytes that became live (weighted when sampling).
    pub add: u64,
    /// Bytes that stopped being live.
    pub sub: u64,
    /// Blocks that became live.
    pub n_add: u64,
    /// Blocks that stopped being live.
    pub n_sub: u64,
    /// The stack id of the block that stopped being live (`sub`/`n_sub`
    /// are its weight), or [`NONE`].
    pub gone_stack: u32,
    /// The stack id of the block that became live (`add`/`n_add`), or
    /// [`NONE`].
    pub stack: u32,
}

/// Entries a record's log holds; a merge empties it.
pub const LOG_CAP: usize = 8192;
/// Entries of the log kept inside the record, used when the mapped log
/// cannot be had (merges are then more frequent, never skipped).
const INLINE_CAP: usize = 32;

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

// ---- per-record tallies and logs ---------------------------------------------

/// The highest time merged so far this session: a record joining the
/// session later starts its keys above it.
static FLOOR: AtomicU64 = AtomicU64::new(0);

const LOG_BYTES: usize = LOG_CAP * size_of::<Change>();

/// A record's share of the session: its counts, its latest key, and its log
/// of changes not merged yet.
pub struct Tally {
    /// Its share of the totals.
    pub counts: Counts,
    /// The time part of its latest key.
    last_t: u64,
    /// Its pool index (the low bits of its keys).
    index: u64,
    /// The mapped log (`LOG_CAP` changes), or null: then `inline` is used.
    log: *mut Change,
    /// Changes logged since the last merge.
    len: usize,
    inline: [Change; INLINE_CAP],
}

/// A change of nothing, to build others from.
pub const NO_CHANGE: Change = Change {
    key: 0,
    add: 0,
    sub: 0,
    n_add: 0,
    n_sub: 0,
    gone_stack: NONE,
    stack: NONE,
};

impl Tally {
    /// Nothing counted, for no record yet.
    pub const ZERO: Self = Self {
        counts: Counts::ZERO,
        last_t: 0,
        index: 0,
        log: std::ptr::null_mut(),
        len: 0,
        inline: [NO_CHANGE; INLINE_CAP],
    };

    /// Starts the record at `index` of the pool in the current session:
    /// zero counts, an empty log (mapped the first time), keys above
    /// everything merged so far.
    pub fn start(&mut self, index: usize) {
        self.counts = Counts::ZERO;
        self.index = index as u64;
        self.last_t = FLOOR.load(Ordering::Relaxed);
        self.len = 0;
        if self.log.is_null()
            && let Some(p) = crate::os_mem::map_zeroed(LOG_BYTES)
        {
            self.log = p.cast::<Change>().as_ptr();
        }
    }

    fn cap(&self) -> usize {
        if self.log.is_null() {
            INLINE_CAP
        } else {
            LOG_CAP
        }
    }

    /// The changes logged since the last merge.
    fn changes(&self) -> &[Change] {
        if self.log.is_null() {
            return self.inline.get(..self.len).unwrap_or(&[]);
        }
        // SAFETY: the mapped log holds LOG_CAP changes (zeroed memory is a
        // valid Change), len <= LOG_CAP, and the record's lock is held
        // (`&self` comes through its guard).
        unsafe { std::slice::from_raw_parts(self.log, self.len) }
    }

    /// True when the log has no room for one more change: the caller must
    /// merge (without holding this record's lock) before its event.
    #[inline]
    pub fn full(&self) -> bool {
        self.len >= self.cap()
    }

    /// The key of an event happening at `now_ns` (session time): the time
    /// part never repeats or goes back within the record.
    #[inline]
    pub fn key(&mut self, now_ns: u64) -> u64 {
        let t = now_ns.max(self.last_t + 1);
        self.last_t = t;
        (t << KEY_SHIFT) | self.index
    }

    /// Logs an event's change. The caller checked [`Tally::full`] under the
    /// same lock hold, and an event logs one change at most.
    #[inline]
    pub fn log(&mut self, c: Change) {
        if self.log.is_null() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = c;
                self.len += 1;
            }
        } else if self.len < LOG_CAP {
            // SAFETY: len < LOG_CAP, inside the mapping, which only this
            // record (whose lock the caller holds) reaches.
            unsafe { self.log.add(self.len).write(c) };
            self.len += 1;
        }
    }
}

// ---- the clock ----------------------------------------------------------------

/// A callsite as the clock sees it, in time order.
#[derive(Clone, Copy, Default)]
struct Site {
    /// Bytes of its blocks live now (weighted when sampling).
    live: u64,
    /// Its blocks live now (weighted).
    live_n: u64,
    /// The most bytes that ever were.
    max: u64,
    /// The key of the latest change to `live` and `live_n` (0: none yet).
    last_key: u64,
    /// What it held at the current peak, saved by its first change after
    /// that peak (blocks, bytes); read only when `last_key` is after the
    /// peak's key, which makes it the current peak's.
    at_peak: (u64, u64),
}

#[cold]
fn map_sites() -> Option<*mut Site> {
    crate::os_mem::map_zeroed(PEAK_CHUNK_BYTES).map(|p| p.cast::<Site>().as_ptr())
}

const PEAK_CHUNK: usize = crate::stack_table::ENTRIES_PER_CHUNK;
const PEAK_CHUNK_BYTES: usize = PEAK_CHUNK * size_of::<Site>();

/// The heap in time order, up to the last merge.
struct State {
    live: u64,
    live_blocks: u64,
    peak: u64,
    peak_key: u64,
    last_t: u64,
    since_point: u64,
    interval_max: u64,
    stride: u64,
    points: [Point; SERIES_CAP],
    len: usize,
    /// The callsites by stack id, in chunks mapped on first use.
    sites: [*mut Site; crate::stack_table::MAX_CHUNKS],
}

/// A log to merge: its changes, sorted by key.
#[derive(Clone, Copy)]
struct Log {
    ptr: *const Change,
    len: usize,
}

/// The clock: the state, and the merge's working memory (kept here rather
/// than on the stack of whichever thread merges: 16 KiB of it). Behind
/// [`CLOCK`], which also makes merges take turns.
pub struct Clock {
    st: State,
    /// The logs of the merge under way.
    logs: [Log; RECORDS],
    /// Heads of those logs still to apply: (next key, log, position).
    heads: [(u64, u32, u32); RECORDS],
    /// Logs taken from records by earlier merges, reused.
    spares: [*mut Change; RECORDS],
    n_spares: usize,
}

// SAFETY: the raw pointers are private mappings (or, in `logs`, slices of
// records' logs during a merge) reached only through the clock's lock.
unsafe impl Send for Clock {}

const POINT_ZERO: Point = Point {
    t_ns: 0,
    live_bytes: 0,
    live_blocks: 0,
    max_bytes: 0,
};

const NO_LOG: Log = Log {
    ptr: std::ptr::null(),
    len: 0,
};

const CLOCK_INIT: Clock = Clock {
    st: State {
        live: 0,
        live_blocks: 0,
        peak: 0,
        peak_key: 0,
        last_t: 0,
        since_point: 0,
        interval_max: 0,
        stride: 1,
        points: [POINT_ZERO; SERIES_CAP],
        len: 0,
        sites: [std::ptr::null_mut(); crate::stack_table::MAX_CHUNKS],
    },
    logs: [NO_LOG; RECORDS],
    heads: [(0, 0, 0); RECORDS],
    spares: [std::ptr::null_mut(); RECORDS],
    n_spares: 0,
};

static CLOCK: SpinMutex<Clock> = SpinMutex::new(CLOCK_INIT);

impl State {
    #[inline]
    fn site_mut(&mut self, stack: u32) -> Option<&mut Site> {
        let (c, i) = (stack as usize / PEAK_CHUNK, stack as usize % PEAK_CHUNK);
        let slot = self.sites.get_mut(c)?;
        if slot.is_null() {
            *slot = map_sites()?;
        }
        // SAFETY: a mapped chunk of PEAK_CHUNK sites (zeroed memory is a
        // valid Site), i below that; reached only under the clock's lock
        // (`&mut self`).
        Some(unsafe { &mut *slot.add(i) })
    }

    /// The callsite `stack` now: (live bytes, most live bytes, and its
    /// blocks and bytes live at the session's peak).
    fn site(&self, stack: u32) -> (u64, u64, u64, u64) {
        let (c, i) = (stack as usize / PEAK_CHUNK, stack as usize % PEAK_CHUNK);
        match self.sites.get(c) {
            Some(&p) if !p.is_null() => {
                // SAFETY: as in `site_mut`; read under the clock's lock.
                let s = unsafe { *p.add(i) };
                let (n, b) = if self.peak == 0 {
                    (0, 0)
                } else if s.last_key <= self.peak_key {
                    // Unchanged since the peak.
                    (s.live_n, s.live)
                } else {
                    // Changed since: its first change after the peak (the
                    // latest peak, since no key is later than the latest
                    // applied) saved what it held.
                    s.at_peak
                };
                (s.live, s.max, n, b)
            }
            _ => (0, 0, 0, 0),
        }
    }

    /// The callsite `stack`, about to change at `key`: if this is its first
    /// change since the current peak, it saves what it held at the peak.
    #[inline]
    fn touch(&mut self, stack: u32, key: u64) -> Option<&mut Site> {
        let peak_key = self.peak_key;
        let s = self.site_mut(stack)?;
        // Its figures now are those it held at the peak when its latest
        // change came no later than the peak's event (that event included).
        if s.last_key <= peak_key {
            s.at_peak = (s.live_n, s.live);
        }
        s.last_key = key;
        Some(s)
    }

    /// The next change in time order.
    #[inline(always)]
    fn apply(&mut self, c: &Change) {
        if c.gone_stack != NONE
            && let Some(s) = self.touch(c.gone_stack, c.key)
        {
            s.live = s.live.wrapping_sub(c.sub);
            s.live_n = s.live_n.wrapping_sub(c.n_sub);
        }
        if c.stack != NONE
            && let Some(s) = self.touch(c.stack, c.key)
        {
            s.live = s.live.wrapping_add(c.add);
            s.live_n = s.live_n.wrapping_add(c.n_add);
            s.max = s.max.max(s.live);
        }
        self.live = self.live.wrapping_add(c.add).wrapping_sub(c.sub);
        self.live_blocks = self.live_blocks.wrapping_add(c.n_add).wrapping_sub(c.n_sub);
        if self.live > self.peak {
            self.peak = self.live;
            self.peak_key = c.key;
        }
        self.interval_max = self.interval_max.max(self.live);
        self.since_point += 1;
        if self.since_point >= self.stride {
            self.point(c);
        }
    }

    #[cold]
    #[inline(never)]
    fn point(&mut self, c: &Change) {
        self.push(Point {
            t_ns: key_time(c.key),
            live_bytes: self.live,
            live_blocks: self.live_blocks,
            max_bytes: self.interval_max,
        });
        self.since_point = 0;
        self.interval_max = 0;
    }

    fn push(&mut self, p: Point) {
        if self.len == SERIES_CAP {
            for i in 0..SERIES_CAP / 2 {
                let (a, b) = (self.points[2 * i], self.points[2 * i + 1]);
                self.points[i] = Point {
                    max_bytes: a.max_bytes.max(b.max_bytes),
                    ..b
                };
            }
            self.len = SERIES_CAP / 2;
            self.stride *= 2;
        }
        // Merges apply keys in order, so points never go back in time.
        if let Some(slot) = self.points.get_mut(self.len) {
            *slot = p;
            self.len += 1;
        }
    }
}

/// Restores the heap order of `h` (each entry's key no greater than its
/// children's, the children of `i` at `2i + 1` and `2i + 2`) below `i`,
/// where only `h[i]` may be out of place.
#[inline]
fn sift_down(h: &mut [(u64, u32, u32)], mut i: usize) {
    loop {
        let l = 2 * i + 1;
        let Some(&left) = h.get(l) else { return };
        let (c, child) = match h.get(l + 1) {
            Some(&right) if right.0 < left.0 => (l + 1, right),
            _ => (l, left),
        };
        match h.get(i) {
            Some(&cur) if child.0 < cur.0 => {
                h.swap(i, c);
                i = c;
            }
            _ => return,
        }
    }
}

impl Clock {
    /// Applies the first `n` of `self.logs`, merged in key order.
    ///
    /// # Safety
    /// Each of those logs must point to `len` changes sorted by key, valid
    /// and unchanged for the whole call.
    unsafe fn apply_logs(&mut self, n: usize) {
        let Clock {
            st, logs, heads, ..
        } = self;
        let slice = |l: &Log| -> &[Change] {
            // SAFETY: the caller guarantees `len` valid changes at `ptr`.
            unsafe { std::slice::from_raw_parts(l.ptr, l.len) }
        };
        let logs = logs.get(..n).unwrap_or(&[]);
        if let [one] = logs {
            for c in slice(one) {
                st.apply(c);
            }
        } else {
            let mut m = 0;
            for (j, l) in logs.iter().enumerate() {
                if let (Some(c), Some(h)) = (slice(l).first(), heads.get_mut(m)) {
                    *h = (c.key, j as u32, 0);
                    m += 1;
                }
            }
            // A binary min-heap of the heads by key: O(log logs) per change,
            // so a merge of many threads' logs stays cheap.
            let live = heads.get_mut(..m).unwrap_or(&mut []);
            for i in (0..m / 2).rev() {
                sift_down(live, i);
            }
            while m > 0 {
                let live = heads.get_mut(..m).unwrap_or(&mut []);
                let Some(&(_, j, p)) = live.first() else {
                    break;
                };
                let log = logs.get(j as usize).map_or(&[][..], slice);
                if let Some(c) = log.get(p as usize) {
                    st.apply(c);
                }
                match log.get(p as usize + 1) {
                    Some(next) => live[0] = (next.key, j, p + 1),
                    None => {
                        // This log is done: the last head takes its place.
                        live.swap(0, m - 1);
                        m -= 1;
                    }
                }
                sift_down(heads.get_mut(..m).unwrap_or(&mut []), 0);
            }
        }
        for l in logs {
            if let Some(c) = slice(l).last() {
                st.last_t = st.last_t.max(key_time(c.key));
            }
        }
    }

    /// Makes sure `n` spare logs are at hand, mapping what is missing.
    fn reserve_spares(&mut self, n: usize) -> bool {
        while self.n_spares < n {
            let Some(p) = crate::os_mem::map_zeroed(LOG_BYTES) else {
                return false;
            };
            let Some(slot) = self.spares.get_mut(self.n_spares) else {
                // SAFETY: just mapped with LOG_BYTES; nothing refers to it.
                unsafe { crate::os_mem::unmap(p, LOG_BYTES) };
                return false;
            };
            *slot = p.cast::<Change>().as_ptr();
            self.n_spares += 1;
        }
        true
    }

    /// Keeps a log taken from a record for reuse.
    fn give_back(&mut self, log: *mut Change) {
        if let Some(slot) = self.spares.get_mut(self.n_spares) {
            *slot = log;
            self.n_spares += 1;
        } else if let Some(p) = std::ptr::NonNull::new(log) {
            // SAFETY: a log mapped with LOG_BYTES, taken from its record by
            // a merge; nothing refers to it any more.
            unsafe { crate::os_mem::unmap(p.cast(), LOG_BYTES) };
        }
    }

    /// Merges the logs of the current session's records in place and
    /// empties them; the caller holds the clock and every record, and
    /// `each` calls its argument with every record, one at a time.
    fn merge_in_place(&mut self, each: &mut Each<'_>, generation: u32) {
        let mut n = 0;
        let logs = &mut self.logs;
        each(&mut |r| {
            if r.is_current(generation)
                && r.tally.len > 0
                && let Some(slot) = logs.get_mut(n)
            {
                let c = r.tally.changes();
                *slot = Log {
                    ptr: c.as_ptr(),
                    len: c.len(),
                };
                n += 1;
            }
        });
        // SAFETY: each log is a record's own, sorted by key (keys grow
        // within a record), and the records' locks (held by the caller)
        // keep them unchanged during the call.
        unsafe { self.apply_logs(n) };
        self.raise_floor(each, generation);
    }

    /// Every key to come is above every key merged: records start their
    /// next keys after the latest time merged, and empty their logs.
    fn raise_floor(&mut self, each: &mut Each<'_>, generation: u32) {
        let mut floor = self.st.last_t;
        each(&mut |r| {
            if r.is_current(generation) {
                floor = floor.max(r.tally.last_t);
            }
        });
        FLOOR.store(floor, Ordering::Relaxed);
        each(&mut |r| {
            if r.is_current(generation) {
                r.tally.len = 0;
                r.tally.last_t = r.tally.last_t.max(floor);
            }
        });
    }
}

/// Calls its argument with every record of the pool, one at a time.
type Each<'a> = dyn FnMut(&mut dyn FnMut(&mut crate::record::Record)) + 'a;

/// The clock's lock.
pub type ClockGuard = crate::spin::SpinMutexGuard<'static, Clock>;

/// Takes the clock's lock, then every record's, in pool order (the order of
/// merges, the profile writer, session start and `fork.rs`): while the
/// caller holds them, no event is half done and no merge is under way.
pub fn lock_all() -> (ClockGuard, AllRecords) {
    let clock = CLOCK.lock();
    (clock, crate::record::lock_all())
}

/// Merges every record's log into the clock. Called from the allocation
/// path when a record's log is full, holding none of the profiler's locks.
/// Under the clock's lock and, briefly, every record's, each log is swapped
/// for a spare; the records' locks then go back, and the logs are merged
/// while the other threads go on.
#[cold]
#[inline(never)]
pub fn merge(generation: u32) {
    let mut clock = CLOCK.lock();
    let clock = &mut *clock;
    let mut all = crate::record::lock_all();
    let mut each = |f: &mut dyn FnMut(&mut crate::record::Record)| {
        for r in all.iter_mut() {
            f(r);
        }
    };
    // A log to take for each record with changes, and a spare for each
    // (mapped now, so that taking cannot fail halfway). A record logging
    // into its inline buffer, or spares that cannot be had: merge in place,
    // every lock held.
    let (mut to_take, mut inline) = (0, false);
    each(&mut |r| {
        if r.is_current(generation) && r.tally.len > 0 {
            to_take += 1;
            inline |= r.tally.log.is_null();
        }
    });
    if inline || !clock.reserve_spares(to_take) {
        clock.merge_in_place(&mut each, generation);
        return;
    }
    let mut n = 0;
    each(&mut |r| {
        // (Reserved above: as many spares as records to take from.)
        if r.is_current(generation)
            && r.tally.len > 0
            && let Some(i) = clock.n_spares.checked_sub(1)
            && let Some(spare) = clock.spares.get(i).copied()
            && let Some(slot) = clock.logs.get_mut(n)
        {
            clock.n_spares = i;
            *slot = Log {
                ptr: std::mem::replace(&mut r.tally.log, spare).cast_const(),
                len: r.tally.len,
            };
            n += 1;
        }
    });
    clock.raise_floor(&mut each, generation);
    drop(all);
    // SAFETY: the first n logs were taken from their records above, each
    // with its `len` changes sorted by key; no record reaches them any
    // more, and they stay untouched until given back below.
    unsafe { clock.apply_logs(n) };
    for k in 0..n {
        if let Some(l) = clock.logs.get(k).copied() {
            clock.give_back(l.ptr.cast_mut());
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
    /// The key of the event that set the peak.
    pub peak_key: u64,
    /// Blocks live at that moment (the caller adds up the callsites').
    pub peak_blocks: u64,
    /// Time of the peak.
    pub peak_t_ns: u64,
    /// The latest event time seen.
    pub last_t_ns: u64,
    /// The heap over time, ending at the present figures.
    pub series: Vec<Point>,
    /// By stack id: (live bytes, most live bytes, blocks and bytes live at
    /// the peak).
    pub sites: Vec<(u64, u64, u64, u64)>,
}

impl Heap {
    /// The session's figures: every record's log merged (the caller holds
    /// the clock and every record, so that no event is half done), totals
    /// summed, at-peak counts for the first `stacks` stack ids, and the
    /// series ending at `now_ns` (or at the latest event, if a clock read on
    /// another CPU was a little ahead).
    pub fn collect(
        clock: &mut ClockGuard,
        all: &mut AllRecords,
        generation: u32,
        stacks: u32,
        now_ns: u64,
    ) -> Self {
        clock.merge_in_place(
            &mut |f| {
                for r in all.iter_mut() {
                    f(r);
                }
            },
            generation,
        );
        let mut h = Heap::default();
        for r in all.iter().filter(|r| r.is_current(generation)) {
            h.counts.add(&r.tally.counts);
        }
        h.live_bytes = clock.st.live;
        h.live_blocks = clock.st.live_blocks;
        h.peak_bytes = clock.st.peak;
        h.peak_key = clock.st.peak_key;
        h.peak_t_ns = key_time(clock.st.peak_key);
        h.last_t_ns = clock.st.last_t;
        h.series = clock.st.points.get(..clock.st.len).unwrap_or(&[]).to_vec();
        h.sites = (0..stacks).map(|id| clock.st.site(id)).collect();
        // A last point whenever the series does not already end at the
        // present figures.
        let stale = h
            .series
            .last()
            .is_none_or(|p| (p.live_bytes, p.live_blocks) != (h.live_bytes, h.live_blocks));
        if clock.st.since_point > 0 || stale {
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
                max_bytes: clock.st.interval_max.max(h.live_bytes),
            });
        }
        h
    }
}

/// The clock's lock, for `fork.rs` (taken before the records').
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    // SAFETY: locked and unlocked in pairs by `fork.rs` only.
    f(unsafe { CLOCK.raw() });
}

/// Zeroes the clock for a new session; the caller holds it and every
/// record (no event in flight).
pub fn reset(clock: &mut ClockGuard) {
    let c = &mut clock.st;
    c.live = 0;
    c.live_blocks = 0;
    c.peak = 0;
    c.peak_key = 0;
    c.last_t = 0;
    c.since_point = 0;
    c.interval_max = 0;
    c.stride = 1;
    c.len = 0;
    for slot in &mut c.sites {
        if let Some(p) = std::ptr::NonNull::new(std::mem::replace(slot, std::ptr::null_mut())) {
            // SAFETY: mapped by `map_sites` with PEAK_CHUNK_BYTES; taken
            // out of the table, so nothing refers to it.
            unsafe { crate::os_mem::unmap(p.cast(), PEAK_CHUNK_BYTES) };
        }
    }
    FLOOR.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: u64, rec: u64) -> u64 {
        (t << KEY_SHIFT) | rec
    }

    fn alloc(t: u64, rec: u64, bytes: u64, stack: u32) -> Change {
        Change {
            key: key(t, rec),
            add: bytes,
            n_add: 1,
            stack,
            ..NO_CHANGE
        }
    }

    /// The blocks and bytes of `stack` live at the peak.
    fn at_peak(c: &Clock, stack: u32) -> (u64, u64) {
        let (_, _, n, b) = c.st.site(stack);
        (n, b)
    }

    fn free(t: u64, rec: u64, bytes: u64, stack: u32) -> Change {
        Change {
            key: key(t, rec),
            sub: bytes,
            n_sub: 1,
            gone_stack: stack,
            ..NO_CHANGE
        }
    }

    /// Applies `logs` (each sorted by key) to a fresh clock.
    fn merged(logs: &[Vec<Change>]) -> Box<Clock> {
        let mut c = Box::new(CLOCK_INIT);
        for (slot, l) in c.logs.iter_mut().zip(logs) {
            *slot = Log {
                ptr: l.as_ptr(),
                len: l.len(),
            };
        }
        // SAFETY: the logs point into `logs`, sorted, alive for the call.
        unsafe { c.apply_logs(logs.len()) };
        c
    }

    #[test]
    fn keys_never_repeat_within_a_record_and_carry_its_index() {
        let mut t = Tally::ZERO;
        t.index = 5;
        let (a, b, c) = (t.key(100), t.key(100), t.key(90));
        assert!(a < b && b < c);
        assert_eq!((key_time(a), key_time(b), key_time(c)), (100, 101, 102));
        assert_eq!(a & 0xff, 5);
    }

    #[test]
    fn logs_merge_in_time_order_and_the_peak_knows_who_was_live_at_it() {
        // Record 0 allocates A (100 bytes) at t=10 and frees B at t=30;
        // record 1 allocates B (50) at t=20, frees A at t=40, allocates C
        // (10) at t=50. In time order the heap goes 100, 150, 100, 0, 10:
        // the peak is 150 at t=20, when A and B were both live.
        let kb = key(20, 1);
        let r0 = vec![alloc(10, 0, 100, 1), free(30, 0, 50, 2)];
        let r1 = vec![
            alloc(20, 1, 50, 2),
            free(40, 1, 100, 1),
            alloc(50, 1, 10, 3),
        ];
        let c = merged(&[r0, r1]);
        assert_eq!((c.st.live, c.st.live_blocks), (10, 1));
        assert_eq!(
            (c.st.peak, c.st.peak_key, key_time(c.st.peak_key)),
            (150, kb, 20)
        );
        assert_eq!(at_peak(&c, 1), (1, 100), "A ended after the peak");
        assert_eq!(at_peak(&c, 2), (1, 50), "B too");
        assert_eq!(at_peak(&c, 3), (0, 0), "C came after it");
        assert_eq!(c.st.last_t, 50);
        // Each callsite's live bytes and their maximum, in time order.
        assert_eq!((c.st.site(1).0, c.st.site(1).1), (0, 100));
        assert_eq!((c.st.site(2).0, c.st.site(2).1), (0, 50));
        assert_eq!((c.st.site(3).0, c.st.site(3).1), (10, 10));
        // Merged one record after the other instead, B's free would come
        // before its allocation and the peak would be 100 + 10 + 50 = 160.
    }

    #[test]
    fn blocks_ended_before_a_higher_peak_do_not_count_at_it() {
        let log = vec![
            alloc(1, 0, 100, 1), // peak 100 at t=1
            free(2, 0, 100, 1),  // live at that peak, then gone
            alloc(3, 0, 300, 2), // a higher peak: 300
            free(4, 0, 300, 2),  // live at it
        ];
        let c = merged(&[log]);
        assert_eq!(c.st.peak, 300);
        assert_eq!(at_peak(&c, 1), (0, 0), "counted for the older peak only");
        assert_eq!(at_peak(&c, 2), (1, 300));
    }

    #[test]
    fn callsites_unchanged_since_the_peak_hold_their_figures_at_it() {
        let log = vec![
            alloc(1, 0, 10, 1),
            alloc(2, 0, 20, 2),
            alloc(3, 0, 30, 1), // peak 60: callsite 1 holds 2 blocks, 40 bytes
            free(4, 0, 20, 2),  // callsite 2 changes after the peak
            alloc(5, 0, 5, 2),
            alloc(6, 0, 5, 3), // 50 live, below the peak
        ];
        let c = merged(&[log]);
        assert_eq!((c.st.peak, key_time(c.st.peak_key)), (60, 3));
        assert_eq!(
            at_peak(&c, 1),
            (2, 40),
            "not changed since: its live figures"
        );
        assert_eq!(at_peak(&c, 2), (1, 20), "changed since: its snapshot");
        assert_eq!(at_peak(&c, 3), (0, 0), "born after the peak");
        // A later, higher peak replaces every snapshot.
        let mut log2 = vec![alloc(7, 0, 100, 2)];
        log2.push(free(8, 0, 30, 1));
        let mut c = c;
        let l = Log {
            ptr: log2.as_ptr(),
            len: log2.len(),
        };
        c.logs[0] = l;
        // SAFETY: `log2` is sorted by key and outlives the call.
        unsafe { c.apply_logs(1) };
        assert_eq!((c.st.peak, key_time(c.st.peak_key)), (150, 7));
        assert_eq!(at_peak(&c, 1), (2, 40));
        assert_eq!(at_peak(&c, 2), (2, 105));
        assert_eq!(at_peak(&c, 3), (1, 5));
    }

    #[test]
    fn random_interleavings_keep_peak_and_at_peak_exact() {
        check_random_interleaving(3, if cfg!(miri) { 200 } else { 5_000 });
    }

    #[test]
    fn many_records_merge_in_key_order_too() {
        // Enough logs for the heap of heads to be several levels deep, some
        // of them running out long before the others.
        check_random_interleaving(40, if cfg!(miri) { 400 } else { 20_000 });
    }

    /// `records` records allocate and free (sometimes each other's blocks)
    /// for `steps` events; the merge must agree with a plain walk of all
    /// changes sorted by key, and the blocks live at the peak must add up
    /// to it.
    fn check_random_interleaving(records: usize, steps: usize) {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let mut logs: Vec<Vec<Change>> = vec![Vec::new(); records];
        // Live blocks: (the key that made it live, bytes, stack).
        let mut live: Vec<(u64, u64, u32)> = Vec::new();
        let mut t = vec![0u64; records];
        let mut all = Vec::new();
        // Ended blocks: (made live, ended, bytes, stack).
        let mut ended: Vec<(u64, u64, u64, u32)> = Vec::new();
        for step in 0..steps {
            // Record r logs only in its stretch of the run: from
            // r / (2 records) of it for a little over half of it.
            let stretch = |r: usize| {
                let from = r * steps / (2 * records);
                from..=from + steps / 2 + steps / records
            };
            let r = loop {
                let r = next(records as u64) as usize;
                if records <= 3 || stretch(r).contains(&step) {
                    break r;
                }
            };
            t[r] += 1 + next(5);
            let k = key(t[r], r as u64);
            // Changes must be logged in each record's time order, and a
            // free must come after its block's allocation: times only grow
            // overall here, as a free follows its allocation in real time.
            let now = *t.iter().max().unwrap_or(&0);
            t[r] = now;
            let k = k.max(key(now, r as u64));
            let c = if live.is_empty() || next(3) > 0 {
                let bytes = 1 + next(1000);
                let stack = next(8) as u32;
                live.push((k, bytes, stack));
                alloc(key_time(k), r as u64, bytes, stack)
            } else {
                let (since, bytes, stack) = live.swap_remove(next(live.len() as u64) as usize);
                ended.push((since, k, bytes, stack));
                free(key_time(k), r as u64, bytes, stack)
            };
            logs[r].push(c);
            all.push(c);
        }
        let c = merged(&logs);
        all.sort_by_key(|c| c.key);
        let (mut level, mut peak, mut peak_key) = (0u64, 0u64, 0u64);
        let (mut site_live, mut site_max) = ([0u64; 8], [0u64; 8]);
        for ch in &all {
            level = level + ch.add - ch.sub;
            if level > peak {
                (peak, peak_key) = (level, ch.key);
            }
            if ch.gone_stack != NONE {
                site_live[ch.gone_stack as usize] -= ch.sub;
            }
            if ch.stack != NONE {
                site_live[ch.stack as usize] += ch.add;
                site_max[ch.stack as usize] =
                    site_max[ch.stack as usize].max(site_live[ch.stack as usize]);
            }
        }
        for s in 0..8u32 {
            let (l, m, _, _) = c.st.site(s);
            assert_eq!(
                (l, m),
                (site_live[s as usize], site_max[s as usize]),
                "stack {s}"
            );
        }
        assert_eq!(
            (c.st.live, c.st.peak, c.st.peak_key),
            (level, peak, peak_key)
        );
        // Each callsite's blocks live at the peak, from the blocks' own
        // lifetimes: made live no later than the peak's event, ended after.
        let mut expect = [(0u64, 0u64); 8];
        let spans = live.iter().map(|&(s, b, st)| (s, u64::MAX, b, st));
        for (since, end, bytes, stack) in spans.chain(ended.iter().copied()) {
            if since <= peak_key && end > peak_key {
                expect[stack as usize].0 += 1;
                expect[stack as usize].1 += bytes;
            }
        }
        for s in 0..8u32 {
            assert_eq!(at_peak(&c, s), expect[s as usize], "stack {s} at the peak");
        }
        let sum: u64 = (0..8).map(|s| at_peak(&c, s).1).sum();
        assert_eq!(sum, peak, "every byte live at the peak, once");
    }

    #[test]
    fn series_stays_bounded_and_keeps_the_peak() {
        let n: u64 = if cfg!(miri) { 1_500 } else { 10_000 };
        let mut log: Vec<Change> = (0..n).map(|i| alloc(i + 1, 0, 8, 0)).collect();
        log.extend((0..n).map(|i| free(n + i + 1, 0, 8, 0)));
        let c = merged(&[log]);
        let pts = c.st.points.get(..c.st.len).unwrap();
        assert!(pts.len() <= SERIES_CAP && pts.len() >= SERIES_CAP / 2);
        assert_eq!(pts.iter().map(|p| p.max_bytes).max(), Some(8 * n));
        assert!(pts.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
        assert_eq!((c.st.peak, key_time(c.st.peak_key)), (8 * n, n));
        assert_eq!(at_peak(&c, 0), (n, 8 * n));
    }
}
