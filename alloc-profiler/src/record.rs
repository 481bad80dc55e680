//! Per-thread records: each thread's ring buffer of recent events and its
//! histograms, behind the thread's own lock. A thread holds its record's lock
//! for the whole of an event's bookkeeping, so whoever holds every record's lock
//! (the profile writer) sees no event half-done. Records live in a fixed static
//! pool; threads beyond the pool share records, which stays exact because of
//! the lock. The lock is biased towards the record's thread (`biased.rs`).

use std::ptr::NonNull;

use alloc_core::histogram::{ALIGN_BUCKETS, LOG2_BUCKETS, align_bucket, log2_bucket};

use crate::biased::{self, BiasedMutex};
use crate::os_mem;
use crate::sampling::W;

/// Records in the pool.
pub const RECORDS: usize = 256;

/// What an event did (as in the profile's `EventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// `alloc`.
    Alloc = 0,
    /// `alloc_zeroed`.
    AllocZeroed = 1,
    /// `realloc`.
    Realloc = 2,
    /// `dealloc`.
    Dealloc = 3,
}

/// An event as the ring stores it.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent {
    /// Nanoseconds since the session started.
    pub t_ns: u64,
    /// Block address.
    pub addr: u64,
    /// Size after the event.
    pub size: u64,
    /// Size before a reallocation.
    pub old_size: u64,
    /// Stack id, or `u32::MAX` for none.
    pub stack: u32,
    /// Thread id.
    pub thread: u32,
    /// What happened.
    pub kind: Kind,
    /// log2 of the alignment.
    pub align_log2: u8,
}

/// A power-of-two histogram of blocks and bytes.
#[derive(Clone, Copy)]
pub struct Hist<const N: usize> {
    /// Blocks per bucket.
    pub blocks: [u64; N],
    /// Bytes per bucket.
    pub bytes: [u64; N],
}

impl<const N: usize> Hist<N> {
    const ZERO: Self = Self {
        blocks: [0; N],
        bytes: [0; N],
    };

    #[inline]
    fn add(&mut self, bucket: usize, w: W) {
        if let (Some(c), Some(b)) = (self.blocks.get_mut(bucket), self.bytes.get_mut(bucket)) {
            *c = c.wrapping_add(w.n);
            *b = b.wrapping_add(w.b);
        }
    }

    /// Adds another histogram into this one.
    pub fn merge(&mut self, other: &Self) {
        for i in 0..N {
            self.blocks[i] += other.blocks[i];
            self.bytes[i] = self.bytes[i].wrapping_add(other.bytes[i]);
        }
    }
}

/// One record of the pool, aligned so that no two threads' records (and
/// their locks) share a cache line pair.
#[repr(align(128))]
pub struct Record {
    generation: u32,
    ring: *mut RawEvent,
    ring_cap: usize,
    /// Where the next event goes: `written % ring_cap`, kept apart so that
    /// an event costs no division.
    ring_pos: usize,
    /// Events pushed this session.
    pub written: u64,
    /// Sizes of blocks handed out.
    pub sizes: Hist<LOG2_BUCKETS>,
    /// Alignments requested.
    pub aligns: Hist<ALIGN_BUCKETS>,
    /// Lifetimes of freed blocks.
    pub lifetimes: Hist<LOG2_BUCKETS>,
    /// This record's share of the session's totals.
    pub tally: crate::heap::Tally,
    /// This record's share of each callsite's figures.
    pub callsites: crate::figures::Table,
}

// SAFETY: the ring and the callsite figures are private mappings reached only
// through the record's lock.
unsafe impl Send for Record {}

impl Record {
    const EMPTY: Self = Self {
        generation: 0,
        ring: std::ptr::null_mut(),
        ring_cap: 0,
        ring_pos: 0,
        written: 0,
        sizes: Hist::ZERO,
        aligns: Hist::ZERO,
        lifetimes: Hist::ZERO,
        tally: crate::heap::Tally::ZERO,
        callsites: crate::figures::Table::EMPTY,
    };

    /// True when this record holds data of session `generation`.
    #[inline]
    pub fn is_current(&self, generation: u32) -> bool {
        self.generation == generation
    }

    /// Makes the record (the pool's `index`th) belong to session
    /// `generation` with rings of `ring_cap` events, clearing what an older
    /// session left.
    #[inline]
    pub fn prepare(&mut self, generation: u32, ring_cap: usize, index: usize) {
        if self.generation == generation {
            return;
        }
        self.reset_for(generation, ring_cap, index);
    }

    #[cold]
    fn reset_for(&mut self, generation: u32, ring_cap: usize, index: usize) {
        self.generation = generation;
        self.tally.start(index);
        self.written = 0;
        self.ring_pos = 0;
        self.sizes = Hist::ZERO;
        self.aligns = Hist::ZERO;
        self.lifetimes = Hist::ZERO;
        self.callsites.clear();
        if self.ring_cap != ring_cap {
            if let Some(old) = NonNull::new(self.ring) {
                // SAFETY: the ring was mapped below with ring_cap events and is
                // only reached through this record, which we hold exclusively.
                unsafe { os_mem::unmap(old.cast(), self.ring_cap * size_of::<RawEvent>()) };
            }
            self.ring = std::ptr::null_mut();
            self.ring_cap = 0;
            if ring_cap > 0
                && let Some(mem) = os_mem::map_zeroed(ring_cap * size_of::<RawEvent>())
            {
                self.ring = mem.cast::<RawEvent>().as_ptr();
                self.ring_cap = ring_cap;
            }
        }
    }

    fn ring(&self) -> &[RawEvent] {
        if self.ring.is_null() {
            return &[];
        }
        // SAFETY: the ring holds ring_cap events (zeroed memory is a valid
        // RawEvent: Kind::Alloc is 0) and is ours while we hold the lock.
        unsafe { std::slice::from_raw_parts(self.ring, self.ring_cap) }
    }

    /// Appends an event, overwriting the oldest when the ring is full.
    #[inline]
    pub fn push(&mut self, e: RawEvent) {
        if self.ring_pos < self.ring_cap {
            // SAFETY: ring_pos < ring_cap, the ring's length; we hold the lock.
            unsafe { self.ring.add(self.ring_pos).write(e) };
            self.ring_pos += 1;
            if self.ring_pos == self.ring_cap {
                self.ring_pos = 0;
            }
        }
        self.written += 1;
    }

    /// Counts a block of `size` bytes and weight `w` handed out.
    #[inline]
    pub fn count_block(&mut self, size: u64, align: u64, w: W) {
        self.sizes.add(log2_bucket(size), w);
        self.aligns.add(align_bucket(align), w);
    }

    /// Counts a freed block's lifetime.
    #[inline]
    pub fn count_lifetime(&mut self, lifetime_ns: u64, w: W) {
        self.lifetimes.add(log2_bucket(lifetime_ns), w);
    }

    /// Events in the ring, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &RawEvent> {
        let ring = self.ring();
        let cap = ring.len() as u64;
        let kept = self.written.min(cap);
        let start = self.written - kept;
        (start..self.written).filter_map(move |i| ring.get((i % cap.max(1)) as usize))
    }

    /// Events overwritten before they could be read.
    pub fn dropped(&self) -> u64 {
        self.written.saturating_sub(self.ring_cap as u64)
    }
}

/// The pool.
static POOL: [BiasedMutex<Record>; RECORDS] = [const { BiasedMutex::new(Record::EMPTY) }; RECORDS];

/// Every record, locked (in pool order) until this is dropped: the writer's,
/// a merge's and a session start's view. See [`lock_all`].
pub struct AllRecords {
    /// Forget every record's bias when unlocking (a new session).
    reset: bool,
    /// Unlocked on the thread that locked.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Takes every record's lock, in pool order, with one `membarrier` for all
/// the biased ones: while the result lives, no event is half done.
pub fn lock_all() -> AllRecords {
    biased::lock_all(&POOL);
    AllRecords {
        reset: false,
        _not_send: std::marker::PhantomData,
    }
}

impl AllRecords {
    /// Every record, one at a time.
    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        // SAFETY: `self` holds every record's lock, and hands out shared
        // references tied to a shared borrow of itself.
        POOL.iter().map(|m| unsafe { &*m.data_ptr() })
    }

    /// Every record, one at a time, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        // SAFETY: `self` holds every record's lock, and each record is
        // handed out once, tied to a unique borrow of itself.
        POOL.iter().map(|m| unsafe { &mut *m.data_ptr() })
    }

    /// Releases the records with their biases set aside, so that each goes
    /// back to its thread when it next records (a session start: a record
    /// shared last session may be its thread's alone now).
    pub fn release_unbiased(mut self) {
        self.reset = true;
    }
}

impl Drop for AllRecords {
    fn drop(&mut self) {
        // SAFETY: `lock_all` took every record's lock on this thread (the
        // value is not Send), and no reference handed
        // out outlives the borrow of `self`.
        unsafe {
            if self.reset {
                biased::reset_all(&POOL);
            } else {
                biased::unlock_all(&POOL);
            }
        }
    }
}

/// Before a `fork`: every record's lock (after the heap clock's).
pub(crate) fn fork_prepare() {
    biased::lock_all(&POOL);
}

/// After a `fork`, in the parent: as before it.
pub(crate) fn fork_parent() {
    // SAFETY: `fork_prepare` took them on this thread, just before the fork.
    unsafe { biased::unlock_all(&POOL) };
}

/// After a `fork`, in the child, whose other threads are gone: no record
/// keeps a bias, nor the process its `membarrier` registration.
pub(crate) fn fork_child() {
    biased::forget_registration();
    // SAFETY: `fork_prepare` took them on this thread, the child's only one.
    unsafe { biased::forget_owners(&POOL) };
}

/// The pool index of thread `id`'s record.
#[inline]
pub fn index_of(id: u32) -> usize {
    id as usize % RECORDS
}

/// Thread `id`'s record, locked (by the calling thread, which is `id`).
#[inline(always)]
pub fn lock_own(id: u32) -> biased::Guard<'static, Record> {
    POOL[index_of(id)].lock_as(id)
}

/// Thread names, by thread id, for the first threads of a session.
pub mod names {
    use crate::spin::SpinMutex;

    const MAX: usize = 4096;

    /// (generation, name bytes) per thread id.
    static NAMES: SpinMutex<[(u32, [u8; 16]); MAX]> = SpinMutex::new([(0, [0; 16]); MAX]);

    /// Notes the calling thread's OS name under `id` for session `generation`.
    pub fn remember(id: u32, generation: u32) {
        let mut buf = [0u8; 16];
        // SAFETY: buf is 16 writable bytes, the size Linux thread names have;
        // for the calling thread glibc reads the name with prctl, no allocation.
        let rc = unsafe {
            libc::pthread_getname_np(libc::pthread_self(), buf.as_mut_ptr().cast(), buf.len())
        };
        if rc != 0 {
            buf = [0; 16];
        }
        if let Some(slot) = NAMES.lock().get_mut(id as usize) {
            *slot = (generation, buf);
        }
    }

    /// The names table's lock, for `fork.rs`.
    pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
        // SAFETY: locked and unlocked in pairs by `fork.rs` only.
        f(unsafe { NAMES.raw() });
    }

    /// Calls `f(id, name)` for every thread named in session `generation`.
    pub fn for_each(generation: u32, mut f: impl FnMut(u32, &[u8])) {
        let names = NAMES.lock();
        for (id, (g, name)) in names.iter().enumerate() {
            if *g == generation {
                let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                f(id as u32, &name[..len]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64) -> RawEvent {
        RawEvent {
            t_ns: t,
            addr: 0,
            size: 0,
            old_size: 0,
            stack: 0,
            thread: 0,
            kind: Kind::Alloc,
            align_log2: 0,
        }
    }

    #[test]
    fn ring_keeps_the_newest_and_counts_what_it_dropped() {
        let mut r = Record::EMPTY;
        r.prepare(1, 4, RECORDS - 1);
        for t in 0..10 {
            r.push(ev(t));
        }
        let kept: Vec<u64> = r.events().map(|e| e.t_ns).collect();
        assert_eq!(kept, vec![6, 7, 8, 9]);
        assert_eq!(r.dropped(), 6);
        r.prepare(2, 4, RECORDS - 1);
        assert_eq!(r.events().count(), 0, "a new session starts empty");
        r.prepare(3, 0, RECORDS - 1);
        r.push(ev(1));
        assert_eq!(
            (r.events().count(), r.dropped()),
            (0, 1),
            "no ring: all dropped, all counted"
        );
    }

    #[test]
    fn histograms_bucket_sizes_alignments_and_lifetimes() {
        let w = |b| W { n: 1, b };
        let mut r = Record::EMPTY;
        r.count_block(24, 8, w(24));
        r.count_block(4096, 4096, w(4096));
        r.count_lifetime(1000, w(24));
        assert_eq!(r.sizes.blocks[log2_bucket(24)], 1);
        assert_eq!(r.aligns.bytes[12], 4096);
        assert_eq!(r.lifetimes.blocks[log2_bucket(1000)], 1);
    }
}
