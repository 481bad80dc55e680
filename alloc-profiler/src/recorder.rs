//! What happens on each allocator call: the always-on counters, the `measure`
//! counters, and, while a session runs, the full bookkeeping.
//!
//! Locking: an event's bookkeeping runs under its thread's record lock
//! (biased towards the thread: no locked instruction, `biased.rs`), then
//! takes at most one shard lock of the stack index, then one of the live
//! table, always in that order, and never around the inner allocator's
//! call. A thread whose heap log is full merges every log first, holding no
//! lock of its own: the clock's lock, then every record's in pool order
//! (`heap.rs`, once every few thousand events). None of these locks
//! allocates or parks, and none is taken by every event: threads meet only
//! in a live table shard, or in a merge. A callsite's additive figures are kept per
//! record (`figures.rs`); its live bytes and their maximum, which need the
//! order of events, by the heap clock's merge.

use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::capture::{self, MAX_FRAMES};
use crate::header::{self, Headed, Header};
use crate::heap::{self, Change, NONE};
use crate::live_table::{self, Block};
use crate::record::{self, Kind, RawEvent};
use crate::stack_table::{self, UNRECORDED};
use crate::thread::{self, ThreadState};
use crate::{counters, env_session, sampling};

/// Session states.
pub const UNINIT: u8 = 0;
/// No session.
pub const OFF: u8 = 1;
/// A session records.
pub const ON: u8 = 2;
/// A session is starting or being written.
pub const BUSY: u8 = 3;

/// The session state; starts `UNINIT` so that the first allocation looks at
/// the environment.
pub static STATE: AtomicU8 = AtomicU8::new(UNINIT);
/// The current session's generation (1 for the first session).
pub static GENERATION: AtomicU32 = AtomicU32::new(0);
/// Frames kept per stack.
pub static MAX_FRAMES_CFG: AtomicUsize = AtomicUsize::new(64);
/// Events each thread's ring holds.
pub static RING_CAP: AtomicUsize = AtomicUsize::new(16 * 1024);
/// Monotonic time the session started.
pub static START_NS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn now() -> u64 {
    crate::clock::now_ns().saturating_sub(START_NS.load(Ordering::Relaxed))
}

#[inline]
fn align_log2(layout: Layout) -> u8 {
    layout.align().trailing_zeros() as u8
}

static INTERNAL_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Bookkeeping failures caught this session.
pub fn internal_errors() -> u64 {
    INTERNAL_ERRORS.load(Ordering::Relaxed)
}

/// Counts a bookkeeping failure caught outside [`contained`].
pub fn note_internal_error() {
    INTERNAL_ERRORS.fetch_add(1, Ordering::Relaxed);
}

/// Zeroes the internal error count for a new session.
pub fn reset_internal_errors() {
    INTERNAL_ERRORS.store(0, Ordering::Relaxed);
}

/// Test hook: the next event's bookkeeping panics (see `tests/no_unwind.rs`).
pub static INJECT_PANIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs bookkeeping so that no panic can unwind into the allocator's caller:
/// a panic (a bug in the profiler) is caught and counted, and the program's
/// allocation goes on. Locks held by `f` are released by their guards.
#[inline]
fn contained<R>(f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            note_internal_error();
            // Dropping the payload may itself panic; never let that escape.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload)));
            None
        }
    }
}

#[inline]
fn check_injected_panic() {
    // A plain load first: an atomic swap on every event would cost a locked
    // instruction for a hook only tests use.
    if INJECT_PANIC.load(Ordering::Relaxed) && INJECT_PANIC.swap(false, Ordering::Relaxed) {
        panic!("alloc-profiler test hook: injected bookkeeping panic");
    }
}

/// Checks the session state on the allocation path, starting the
/// environment-configured session on the very first call.
#[inline]
fn recording() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        UNINIT => contained(env_session::start_from_env).unwrap_or(false),
        _ => false,
    }
}

#[inline]
fn generation() -> u32 {
    GENERATION.load(Ordering::Relaxed)
}

/// The calling stack's raw return addresses, in a buffer that is written,
/// never zeroed, and stays where the caller declared it (no 1 KiB copies).
struct Frames {
    addrs: capture::Buf<MAX_FRAMES>,
    captured: capture::Captured,
}

impl Frames {
    #[inline(always)]
    const fn new() -> Self {
        Self {
            addrs: capture::buf(),
            captured: capture::Captured { len: 0, hash: 0 },
        }
    }

    /// Captures the calling stack (no lock needed: it only reads the stack).
    #[inline(always)]
    fn capture(&mut self, ts: &ThreadState) {
        let max = MAX_FRAMES_CFG.load(Ordering::Relaxed).min(MAX_FRAMES);
        self.captured =
            capture::capture(self.addrs.get_mut(..max).unwrap_or(&mut []), ts.stack_hi());
    }

    /// Interns the stack. Only under the thread's record lock, with the
    /// session on: a new session resets the table holding every record lock.
    #[inline]
    fn intern(&self, ts: &ThreadState, generation: u32) -> u32 {
        let Frames { addrs, captured } = self;
        stack_table::intern(
            capture::written(addrs, captured.len),
            captured.hash,
            ts,
            generation,
        )
    }
}

/// The calling thread's record, locked.
type LockedRecord = crate::biased::Guard<'static, record::Record>;

/// Locks the calling thread's record if the session still records, preparing
/// it for this session. Inlined: the usual case (the thread named, the record
/// this session's, room in its log) is a lock and four comparisons; the rest
/// is [`lock_record_slow`].
#[inline(always)]
fn lock_record(ts: &ThreadState) -> Option<(LockedRecord, u32)> {
    let (rec, generation) = lock_while_on(ts)?;
    if ts.named_gen.get() == generation && rec.is_current(generation) && !rec.tally.full() {
        return Some((rec, generation));
    }
    lock_record_slow(ts, rec, generation)
}

/// The calling thread's record, locked, and the session's generation, if a
/// session records.
#[inline(always)]
fn lock_while_on(ts: &ThreadState) -> Option<(LockedRecord, u32)> {
    let rec = record::lock_own(ts.id());
    if STATE.load(Ordering::Acquire) != ON {
        return None;
    }
    Some((rec, GENERATION.load(Ordering::Relaxed)))
}

/// [`lock_record`] for a thread not yet named this session, a record of an
/// older session, or a full heap log; `rec` is the thread's record, locked,
/// with the session on.
#[cold]
#[inline(never)]
fn lock_record_slow(
    ts: &ThreadState,
    mut rec: LockedRecord,
    mut generation: u32,
) -> Option<(LockedRecord, u32)> {
    loop {
        // Every thread once per session (records can be shared by threads).
        if ts.named_gen.get() != generation {
            ts.named_gen.set(generation);
            record::names::remember(ts.id(), generation);
        }
        rec.prepare(
            generation,
            RING_CAP.load(Ordering::Relaxed),
            record::index_of(ts.id()),
        );
        if !rec.tally.full() {
            return Some((rec, generation));
        }
        // The heap log is full: merge every record's (which takes every
        // record's lock, so not while holding ours), then start over.
        drop(rec);
        crate::heap::merge(generation);
        (rec, generation) = lock_while_on(ts)?;
    }
}

/// Where the profiler keeps what it knows of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// In the live table, by address.
    Table,
    /// In the block's header (`header.rs`), which the wrapper vouches for.
    Header(Headed),
}

/// Whether the session puts headers in front of blocks (an exact session
/// unless told not to).
pub static HEADERS: AtomicBool = AtomicBool::new(false);

/// The inner layout for a block of `layout` allocated now: with a header when
/// the session puts them and the block can have one. (The session's state is
/// read with acquire ordering, so that whoever meets the block later also
/// sees that headers are in use: `header::in_use`.)
#[inline]
pub fn header_layout(layout: Layout) -> Option<Layout> {
    if STATE.load(Ordering::Acquire) == ON && HEADERS.load(Ordering::Relaxed) {
        header::outer(layout)
    } else {
        None
    }
}

/// Notes the session's block `b` at `ptr`; false when it cannot be kept.
/// Inlined for a header (two stores); the live table's insertion is a call.
#[inline(always)]
fn keep(ptr: usize, home: Home, generation: u32, b: Block) -> bool {
    match home {
        Home::Table => keep_in_table(ptr, b),
        Home::Header(_) => {
            // SAFETY: the `Headed` promise says `ptr` carries a header and is
            // allocated until we return.
            unsafe {
                header::write(
                    ptr as *mut u8,
                    Header {
                        birth_ns: b.birth_ns,
                        stack: b.stack,
                        generation,
                    },
                );
            }
            true
        }
    }
}

#[inline(never)]
fn keep_in_table(ptr: usize, b: Block) -> bool {
    live_table::insert_with(ptr, || b)
}

/// Takes out the session's block at `ptr` (of `size` bytes by its layout), if
/// the session knows it. Inlined for a header (one read); the live table's
/// removal is a call.
#[inline(always)]
fn take(ptr: usize, home: Home, generation: u32, size: u64) -> Option<Block> {
    match home {
        Home::Table => take_from_table(ptr),
        Home::Header(_) => {
            // SAFETY: as in `keep`; the header was written when the block was
            // allocated (by the wrapper, then maybe by `keep`).
            let h = unsafe { header::read(ptr as *mut u8) };
            (h.generation == generation).then_some(Block {
                size,
                birth_ns: h.birth_ns,
                stack: h.stack,
            })
        }
    }
}

#[inline(never)]
fn take_from_table(ptr: usize) -> Option<Block> {
    live_table::remove(ptr)
}

/// After the inner allocator's `alloc` or `alloc_zeroed` returned `ptr`
/// (with a header when `home` says so). Inlined into the allocator's entry
/// point with the sampler's decision, so that an event no session records
/// costs no call; a recorded one is [`record_alloc`]'s.
#[inline(always)]
pub fn on_alloc(ptr: *mut u8, layout: Layout, kind: Kind, home: Home) {
    let Some(entered) = thread::entered() else {
        return;
    };
    let ts = entered.state();
    if ptr.is_null() {
        return failed_alloc(ts);
    }
    counters::on_alloc(ts, layout.size());
    if ts.measure.depth.get() > 0 {
        crate::measure::on_alloc(ts, layout.size());
    }
    if !recording() {
        return;
    }
    // The sampler names the event's site from here, the allocator's entry
    // point: its caller is the program's code.
    let stratum = if sampling::sampling() {
        let d = sampling::should_sample(ts, layout.size(), true, generation());
        if !d.take {
            return;
        }
        d.stratum
    } else {
        0
    };
    record_alloc(ts, ptr as usize, layout, kind, home, stratum);
}

/// Counts an allocation the inner allocator refused.
#[cold]
#[inline(never)]
fn failed_alloc(ts: &ThreadState) {
    counters::on_failure(ts);
    if recording() {
        contained(|| {
            if let Some((mut rec, _)) = lock_record(ts) {
                rec.tally.counts.failures += 1;
            }
        });
    }
}

/// Records an allocation (counted in `stratum` when sampling); a panic in
/// the bookkeeping is caught and counted. Out of line, so that the entry
/// point carries no unwinding code.
#[inline(never)]
fn record_alloc(
    ts: &ThreadState,
    ptr: usize,
    layout: Layout,
    kind: Kind,
    home: Home,
    stratum: u32,
) {
    contained(|| record_alloc_unguarded(ts, ptr, layout, kind, home, stratum));
}

#[inline(always)]
fn record_alloc_unguarded(
    ts: &ThreadState,
    ptr: usize,
    layout: Layout,
    kind: Kind,
    home: Home,
    stratum: u32,
) {
    check_injected_panic();
    let mut frames = Frames::new();
    frames.capture(ts);
    let Some((mut rec, generation)) = lock_record(ts) else {
        return;
    };
    let stack = frames.intern(ts, generation);
    let size = layout.size() as u64;
    let rate = sampling::rate();
    let (w, sampled) = (sampling::weight_with(size, rate), rate != 0);
    if sampled {
        stack_table::note_sampled(stack, size, w, true);
        crate::strata::note_sampled(ts, stack, stratum, size, w, true);
    }
    let key = rec.tally.key(now());
    let t = heap::key_time(key);
    let rec = &mut *rec;
    rec.tally.counts.allocated(w);
    let tracked = keep(
        ptr,
        home,
        generation,
        Block {
            size,
            birth_ns: t,
            stack,
        },
    );
    if let Some(f) = rec.callsites.get(stack) {
        f.allocated(w);
        if tracked {
            f.attach(w);
        }
    }
    if tracked {
        rec.tally.log(Change {
            key,
            add: w.b,
            n_add: w.n,
            stack,
            ..heap::NO_CHANGE
        });
        if sampled {
            sampling::mark(ptr);
        }
    } else {
        rec.tally.counts.missed(w);
    }
    rec.count_block(size, layout.align() as u64, w);
    rec.push(RawEvent {
        t_ns: t,
        addr: ptr as u64,
        size,
        old_size: 0,
        stack,
        thread: ts.id(),
        kind,
        align_log2: align_log2(layout),
    });
}

/// The tracked block `b` ends with the event `key` (freed, or, when
/// sampling, replaced by an unsampled reallocation); returns its lifetime.
#[inline(always)]
fn free_block(rec: &mut record::Record, b: &Block, key: u64) -> u64 {
    let w = sampling::weight(b.size);
    rec.tally.log(gone(key, b, w));
    rec.tally.counts.freed(w);
    let lifetime = heap::key_time(key).saturating_sub(b.birth_ns);
    if let Some(f) = rec.callsites.get(b.stack) {
        f.detach(w);
        f.freed(w, lifetime);
    }
    rec.count_lifetime(lifetime, w);
    lifetime
}

/// The change of an event `key` that ends the tracked block `b` of weight `w`.
#[inline]
fn gone(key: u64, b: &Block, w: sampling::W) -> Change {
    Change {
        key,
        add: 0,
        sub: w.b,
        n_add: 0,
        n_sub: w.n,
        gone_stack: b.stack,
        stack: NONE,
    }
}

/// Before the inner allocator's `dealloc` of `ptr` (kept where `home`
/// says). Inlined, as [`on_alloc`]; a recorded event is [`record_dealloc`]'s.
#[inline(always)]
pub fn on_dealloc(ptr: *mut u8, layout: Layout, home: Home) {
    let Some(entered) = thread::entered() else {
        return;
    };
    let ts = entered.state();
    counters::on_dealloc(ts, layout.size());
    if ts.measure.depth.get() > 0 {
        crate::measure::on_dealloc(ts, layout.size());
    }
    if recording() && (!sampling::sampling() || sampling::maybe_sampled(ptr as usize)) {
        record_dealloc(ts, ptr as usize, layout, home);
    }
}

/// Records a deallocation; a panic in the bookkeeping is caught and counted.
/// Out of line, as [`record_alloc`].
#[inline(never)]
fn record_dealloc(ts: &ThreadState, ptr: usize, layout: Layout, home: Home) {
    contained(|| record_dealloc_unguarded(ts, ptr, layout, home));
}

#[inline(always)]
fn record_dealloc_unguarded(ts: &ThreadState, ptr: usize, layout: Layout, home: Home) {
    let Some((mut rec, generation)) = lock_record(ts) else {
        return;
    };
    let key = rec.tally.key(now());
    let t = heap::key_time(key);
    let (stack, size) = match take(ptr, home, generation, layout.size() as u64) {
        Some(b) => {
            free_block(&mut rec, &b, key);
            if sampling::sampling() {
                sampling::unmark(ptr);
            }
            (b.stack, b.size)
        }
        // A sampled session only sees sampled blocks: an unknown one is
        // simply not sampled.
        None if sampling::sampling() => return,
        None => {
            let size = layout.size() as u64;
            rec.tally.counts.untracked(size, false);
            (u32::MAX, size)
        }
    };
    rec.push(RawEvent {
        t_ns: t,
        addr: ptr as u64,
        size,
        old_size: 0,
        stack,
        thread: ts.id(),
        kind: Kind::Dealloc,
        align_log2: align_log2(layout),
    });
}

/// What `realloc_begin` learned, handed to `realloc_end`.
pub struct Realloc {
    /// Whether the session recorded the beginning.
    recording: bool,
    /// Whether the new block is recorded (always, unless sampling passed it by).
    record_new: bool,
    /// The realloc's callsite.
    stack: u32,
    /// The block taken out of the live table, if it was tracked.
    taken: Option<Block>,
    /// Where the old block was kept.
    home: Home,
    /// The stratum a sampling session counted the reallocation in.
    stratum: u32,
}

const IDLE: Realloc = Realloc {
    recording: false,
    record_new: false,
    stack: UNRECORDED,
    taken: None,
    home: Home::Table,
    stratum: 0,
};

/// Before the inner allocator's `realloc` of `ptr` to `new_size` bytes: takes
/// the block out of the live table (another thread may get its address as
/// soon as the inner allocator frees it). It still counts as live: the heap
/// learns of its end from [`realloc_end`]'s change.
#[inline]
pub fn realloc_begin(ptr: *mut u8, layout: Layout, new_size: usize, home: Home) -> Realloc {
    thread::enter(|ts| {
        if !recording() {
            return IDLE;
        }
        let (record_new, maybe_old, stratum) = if sampling::sampling() {
            let d = sampling::should_sample(ts, new_size, false, generation());
            (d.take, sampling::maybe_sampled(ptr as usize), d.stratum)
        } else {
            (true, true, 0)
        };
        let idle = Realloc { stratum, ..IDLE };
        if !record_new && !maybe_old {
            return idle;
        }
        contained(|| {
            realloc_take(
                ts,
                ptr as usize,
                layout,
                record_new,
                maybe_old,
                home,
                stratum,
            )
        })
        .flatten()
        .unwrap_or(idle)
    })
    .unwrap_or(IDLE)
}

#[inline(never)]
fn realloc_take(
    ts: &ThreadState,
    ptr: usize,
    layout: Layout,
    record_new: bool,
    maybe_old: bool,
    home: Home,
    stratum: u32,
) -> Option<Realloc> {
    let mut frames = Frames::new();
    if record_new {
        frames.capture(ts);
    }
    // Held to the end: the session cannot end or restart in between.
    let (_rec, generation) = lock_record(ts)?;
    let stack = if record_new {
        frames.intern(ts, generation)
    } else {
        UNRECORDED
    };
    let taken = if maybe_old {
        take(ptr, home, generation, layout.size() as u64)
    } else {
        None
    };
    Some(Realloc {
        recording: true,
        record_new,
        stack,
        taken,
        home,
        stratum,
    })
}

/// After the inner allocator's `realloc` of `old_ptr` returned `new_ptr`
/// (kept where `new_home` says; when null, the old block is where it was).
#[inline]
pub fn realloc_end(
    r: Realloc,
    old_ptr: *mut u8,
    new_ptr: *mut u8,
    layout: Layout,
    new_size: usize,
    new_home: Home,
) {
    thread::enter(|ts| {
        if new_ptr.is_null() {
            counters::on_failure(ts);
            // Counted in `realloc_begin` under the same conditions.
            if recording() && sampling::sampling() {
                crate::strata::uncount(ts, new_size, r.stratum);
            }
        } else {
            counters::on_realloc(ts, layout.size(), new_size);
            if ts.measure.depth.get() > 0 {
                crate::measure::on_realloc(ts, layout.size(), new_size);
            }
        }
        if r.recording {
            contained(|| {
                realloc_finish(
                    ts,
                    r,
                    (old_ptr as usize, new_ptr as usize),
                    layout,
                    new_size,
                    new_home,
                )
            });
        }
    });
}

#[inline(never)]
fn realloc_finish(
    ts: &ThreadState,
    r: Realloc,
    (old_ptr, new_ptr): (usize, usize),
    layout: Layout,
    new_size: usize,
    new_home: Home,
) {
    let Some((mut rec, generation)) = lock_record(ts) else {
        return;
    };
    let key = rec.tally.key(now());
    let t = heap::key_time(key);
    let sampled = sampling::sampling();
    if new_ptr == 0 {
        // The old block is still the caller's, unchanged: put it back as it was.
        rec.tally.counts.failures += 1;
        if let Some(b) = r.taken
            && !keep(old_ptr, r.home, generation, b)
        {
            // It cannot be kept: it leaves the live figures untracked (not
            // freed).
            let w = sampling::weight(b.size);
            rec.tally.log(gone(key, &b, w));
            rec.tally.counts.missed(w);
            if let Some(f) = rec.callsites.get(b.stack) {
                f.detach(w);
            }
            if sampled {
                sampling::unmark(old_ptr);
            }
        }
        return;
    }
    if sampled && r.taken.is_some() {
        sampling::unmark(old_ptr);
    }
    let (old, new) = (layout.size() as u64, new_size as u64);
    if !r.record_new {
        // Sampling: the old block was sampled, its new self is not. The
        // sampled block ends here, as if freed.
        if let Some(b) = r.taken {
            free_block(&mut rec, &b, key);
        }
        return;
    }
    let w_new = sampling::weight(new);
    if sampled {
        stack_table::note_sampled(r.stack, new, w_new, false);
        crate::strata::note_sampled(ts, r.stack, r.stratum, new, w_new, false);
    }
    let from = r.taken.map(|b| (b, sampling::weight(b.size)));
    let w_old = from.map_or(sampling::W::default(), |(_, w)| w);
    let rec = &mut *rec;
    rec.tally.counts.reallocated(w_new, w_old);
    if from.is_none() && !sampled {
        // A block the session never saw: its old size is counted apart.
        rec.tally.counts.untracked(old, true);
    }
    let tracked = keep(
        new_ptr,
        new_home,
        generation,
        Block {
            size: new,
            birth_ns: from.map_or(t, |(b, _)| b.birth_ns),
            stack: r.stack,
        },
    );
    // One change: the old block ends and the new one starts, at once.
    let mut change = match from {
        Some((b, w)) => gone(key, &b, w),
        None => Change {
            key,
            ..heap::NO_CHANGE
        },
    };
    if tracked {
        change.add = w_new.b;
        change.n_add = w_new.n;
        change.stack = r.stack;
        if sampled {
            sampling::mark(new_ptr);
        }
    } else {
        // Reallocated, but the new block cannot be kept: the old one
        // leaves, the new one is counted and never live.
        rec.tally.counts.missed(w_new);
    }
    rec.tally.log(change);
    if let Some((b, w)) = from
        && let Some(f) = rec.callsites.get(b.stack)
    {
        f.detach(w);
    }
    if let Some(f) = rec.callsites.get(r.stack) {
        f.reallocated(w_new);
        if tracked {
            f.attach(w_new);
        }
    }
    rec.count_block(new, layout.align() as u64, w_new);
    rec.push(RawEvent {
        t_ns: t,
        addr: new_ptr as u64,
        size: new,
        old_size: old,
        stack: r.stack,
        thread: ts.id(),
        kind: Kind::Realloc,
        align_log2: align_log2(layout),
    });
}
