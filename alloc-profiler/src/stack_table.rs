//! Interned stacks and their callsite aggregates.
//!
//! Each distinct stack of raw return addresses is stored once, in memory mapped
//! from the OS, and named by a small id. A per-thread direct-mapped cache sits
//! in front of a sharded hash index, so a repeated stack costs one hash and one
//! comparison. Id 0 is reserved for events whose stack could not be stored.
//!
//! Entries are never freed during a session and are reused by the next one;
//! an id is published (through a shard lock) only after its entry is written.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::os_mem;
use crate::sampling::W;
use crate::spin::SpinMutex;
use crate::thread::{STACK_CACHE_SLOTS, ThreadState};

/// The id of the stack events get when theirs could not be stored.
pub const UNRECORDED: u32 = 0;

const ENTRIES_PER_CHUNK: usize = 4096;
const MAX_CHUNKS: usize = 1024;
/// The most distinct stacks one session can hold.
pub const MAX_STACKS: usize = ENTRIES_PER_CHUNK * MAX_CHUNKS;
const ARENA_CHUNK_WORDS: usize = 1 << 17;
const MAX_ARENA_CHUNKS: usize = 4096;
const SHARDS: usize = 64;

/// The figures of one callsite, behind the callsite's own lock (taken last,
/// for a few additions): two threads only meet there when they allocate at
/// the same callsite at the same moment, and the callsite's maximum is exact.
#[derive(Debug, Clone, Copy, Default)]
pub struct Agg {
    /// Allocations made here.
    pub blocks: u64,
    /// Bytes handed out here.
    pub bytes: u64,
    /// Reallocations made here.
    pub reallocs: u64,
    /// Blocks belonging here and live now.
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Highest value `live_bytes` reached.
    pub max_live_bytes: u64,
    /// Blocks belonging here that were freed.
    pub freed_blocks: u64,
    /// Sum of their lifetimes.
    pub lifetime_total_ns: u64,
    /// Shortest lifetime (`u64::MAX` while none).
    pub lifetime_min_ns: u64,
    /// Longest lifetime.
    pub lifetime_max_ns: u64,
    /// The global peak (named by its height: peaks only grow) that
    /// `peak_blocks`/`peak_bytes` belong to.
    pub peak_epoch: u64,
    /// Blocks freed after that peak that were live at it.
    pub peak_blocks: u64,
    /// Their bytes.
    pub peak_bytes: u64,
}

impl Agg {
    const NEW: Self = Self {
        blocks: 0,
        bytes: 0,
        reallocs: 0,
        live_blocks: 0,
        live_bytes: 0,
        max_live_bytes: 0,
        freed_blocks: 0,
        lifetime_total_ns: 0,
        lifetime_min_ns: u64::MAX,
        lifetime_max_ns: 0,
        peak_epoch: 0,
        peak_blocks: 0,
        peak_bytes: 0,
    };

    /// An allocation of weight `w` made here (tracked or not).
    #[inline]
    pub fn allocated(&mut self, w: W) {
        self.blocks = self.blocks.wrapping_add(w.n);
        self.bytes = self.bytes.wrapping_add(w.b);
    }

    /// A reallocation to weight `w` made here (tracked or not).
    #[inline]
    pub fn reallocated(&mut self, w: W) {
        self.reallocs = self.reallocs.wrapping_add(w.n);
        self.bytes = self.bytes.wrapping_add(w.b);
    }

    /// A block of weight `w` starts belonging here (allocation or reallocation).
    #[inline]
    pub fn attach(&mut self, w: W) {
        self.live_blocks = self.live_blocks.wrapping_add(w.n);
        self.live_bytes = self.live_bytes.wrapping_add(w.b);
        self.max_live_bytes = self.max_live_bytes.max(self.live_bytes);
    }

    /// A block of weight `w` stops belonging here (freed or reallocated);
    /// `at_peak` is the global peak it was live at, if any (`heap::Step`).
    #[inline]
    pub fn detach(&mut self, w: W, at_peak: Option<u64>) {
        self.live_blocks = self.live_blocks.wrapping_sub(w.n);
        self.live_bytes = self.live_bytes.wrapping_sub(w.b);
        if let Some(epoch) = at_peak {
            if self.peak_epoch < epoch {
                self.peak_epoch = epoch;
                self.peak_blocks = 0;
                self.peak_bytes = 0;
            }
            if self.peak_epoch == epoch {
                self.peak_blocks = self.peak_blocks.wrapping_add(w.n);
                self.peak_bytes = self.peak_bytes.wrapping_add(w.b);
            }
        }
    }

    /// A block of weight `w` belonging here was freed after living
    /// `lifetime_ns`. (The lifetime total is kept in nanoseconds, weighted.)
    #[inline]
    pub fn freed(&mut self, w: W, lifetime_ns: u64) {
        self.freed_blocks = self.freed_blocks.wrapping_add(w.n);
        let weighted = if w.n == 1 {
            lifetime_ns
        } else {
            (u128::from(lifetime_ns) * u128::from(w.n) / u128::from(crate::sampling::ONE)) as u64
        };
        self.lifetime_total_ns = self.lifetime_total_ns.wrapping_add(weighted);
        self.lifetime_min_ns = self.lifetime_min_ns.min(lifetime_ns);
        self.lifetime_max_ns = self.lifetime_max_ns.max(lifetime_ns);
    }
}

/// One interned stack (a cache line pair, so that neighbouring callsites
/// do not share their locks' lines).
#[repr(align(64))]
pub struct StackEntry {
    frames: NonNull<usize>,
    len: u32,
    /// The callsite's figures.
    pub(crate) agg: SpinMutex<Agg>,
}

// SAFETY: `frames` is immutable after publication, and `agg` is behind its
// lock, so sharing entries between threads is data-race free.
unsafe impl Sync for StackEntry {}

impl StackEntry {
    /// The raw return addresses, innermost first.
    pub fn frames(&self) -> &[usize] {
        // SAFETY: `frames` points to `len` words in the arena, written before this
        // entry was published and never changed or unmapped while the entry is
        // reachable (the arena is only rewound between sessions, when no thread
        // records).
        unsafe { std::slice::from_raw_parts(self.frames.as_ptr(), self.len as usize) }
    }
}

struct Chunks([AtomicPtr<StackEntry>; MAX_CHUNKS]);

static CHUNKS: Chunks = Chunks([const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_CHUNKS]);
static COUNT: AtomicU32 = AtomicU32::new(0);
static NOT_RECORDED: AtomicU64 = AtomicU64::new(0);

/// The entry for `id`, if that id exists in the current session.
#[inline]
pub fn entry(id: u32) -> Option<&'static StackEntry> {
    if id >= COUNT.load(Ordering::Acquire) {
        return None;
    }
    let chunk = CHUNKS
        .0
        .get(id as usize / ENTRIES_PER_CHUNK)?
        .load(Ordering::Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: the chunk holds ENTRIES_PER_CHUNK entries and every id below
    // COUNT was fully written (under the creation lock) before COUNT was
    // raised with Release, which the Acquire load above observed.
    Some(unsafe { &*chunk.add(id as usize % ENTRIES_PER_CHUNK) })
}

/// Number of ids in use (including [`UNRECORDED`]).
pub fn count() -> u32 {
    COUNT.load(Ordering::Acquire)
}

/// Events attributed to [`UNRECORDED`] because their stack could not be stored.
pub fn not_recorded() -> u64 {
    NOT_RECORDED.load(Ordering::Relaxed)
}

// ---- creation: arena of frames and entry chunks, under one lock -------------

struct Creator {
    arena_chunk: usize,
    arena_used: usize,
}

struct ArenaChunks([AtomicPtr<usize>; MAX_ARENA_CHUNKS]);
static ARENA: ArenaChunks =
    ArenaChunks([const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_ARENA_CHUNKS]);
static CREATOR: SpinMutex<Creator> = SpinMutex::new(Creator {
    arena_chunk: 0,
    arena_used: 0,
});

fn arena_chunk(i: usize) -> Option<NonNull<usize>> {
    let slot = ARENA.0.get(i)?;
    if let Some(p) = NonNull::new(slot.load(Ordering::Acquire)) {
        return Some(p);
    }
    let p = os_mem::map_zeroed(ARENA_CHUNK_WORDS * size_of::<usize>())?.cast::<usize>();
    slot.store(p.as_ptr(), Ordering::Release);
    Some(p)
}

fn entry_chunk(i: usize) -> Option<NonNull<StackEntry>> {
    let slot = CHUNKS.0.get(i)?;
    if let Some(p) = NonNull::new(slot.load(Ordering::Acquire)) {
        return Some(p);
    }
    let p = os_mem::map_zeroed(ENTRIES_PER_CHUNK * size_of::<StackEntry>())?.cast::<StackEntry>();
    slot.store(p.as_ptr(), Ordering::Release);
    Some(p)
}

/// Stores a new stack and returns its id, or `None` when memory ran out.
fn create(frames: &[usize]) -> Option<u32> {
    let mut c = CREATOR.lock();
    let id = COUNT.load(Ordering::Relaxed);
    if id as usize >= MAX_STACKS {
        return None;
    }
    if c.arena_used + frames.len() > ARENA_CHUNK_WORDS {
        c.arena_chunk += 1;
        c.arena_used = 0;
    }
    let base = arena_chunk(c.arena_chunk)?;
    let chunk = entry_chunk(id as usize / ENTRIES_PER_CHUNK)?;
    // SAFETY: arena_used + frames.len() <= ARENA_CHUNK_WORDS, so the range lies
    // inside the chunk; nobody else writes this range (we hold the creator lock
    // and the range is past every published stack).
    let dst = unsafe { base.add(c.arena_used) };
    // SAFETY: dst is valid for frames.len() writes (see above); the source is a
    // distinct live slice.
    unsafe { std::ptr::copy_nonoverlapping(frames.as_ptr(), dst.as_ptr(), frames.len()) };
    c.arena_used += frames.len();
    // SAFETY: the slot lies inside the chunk (index < ENTRIES_PER_CHUNK); its id
    // is not yet published, so no other thread reads it; `write` does not drop
    // whatever a previous session left there (entries own nothing).
    unsafe {
        chunk
            .add(id as usize % ENTRIES_PER_CHUNK)
            .write(StackEntry {
                frames: dst,
                len: frames.len() as u32,
                agg: SpinMutex::new(Agg::NEW),
            });
    }
    COUNT.store(id + 1, Ordering::Release);
    Some(id)
}

// ---- the sharded index: hash -> ids ------------------------------------------

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    id: u32,
}

/// Aligned so that two shards never share a cache line pair.
#[repr(align(128))]
struct Index {
    slots: *mut Slot,
    cap: usize,
    len: usize,
}

// SAFETY: the slots are a private mapping reached only through the shard's lock.
unsafe impl Send for Index {}

static INDEX: [SpinMutex<Index>; SHARDS] = [const {
    SpinMutex::new(Index {
        slots: std::ptr::null_mut(),
        cap: 0,
        len: 0,
    })
}; SHARDS];

impl Index {
    fn slots(&mut self) -> &mut [Slot] {
        if self.slots.is_null() {
            return &mut [];
        }
        // SAFETY: `slots` points to `cap` initialized slots (zeroed memory is a
        // valid Slot) owned by this shard, and we hold its lock (&mut self).
        unsafe { std::slice::from_raw_parts_mut(self.slots, self.cap) }
    }

    fn find(&mut self, hash: u64, frames: &[usize]) -> Option<u32> {
        let cap = self.cap;
        if cap == 0 {
            return None;
        }
        let slots = self.slots();
        let mut i = (hash as usize) & (cap - 1);
        loop {
            let s = *slots.get(i)?;
            if s.id == 0 {
                return None;
            }
            if s.hash == hash && entry(s.id).is_some_and(|e| e.frames() == frames) {
                return Some(s.id);
            }
            i = (i + 1) & (cap - 1);
        }
    }

    fn insert(&mut self, hash: u64, id: u32) -> bool {
        if (self.len + 1) * 4 > self.cap * 3 && !self.grow() {
            return false;
        }
        let cap = self.cap;
        let slots = self.slots();
        let mut i = (hash as usize) & (cap - 1);
        loop {
            match slots.get_mut(i) {
                Some(s) if s.id == 0 => {
                    *s = Slot { hash, id };
                    break;
                }
                Some(_) => i = (i + 1) & (cap - 1),
                None => return false,
            }
        }
        self.len += 1;
        true
    }

    fn grow(&mut self) -> bool {
        let new_cap = (self.cap * 2).max(256);
        let Some(mem) = os_mem::map_zeroed(new_cap * size_of::<Slot>()) else {
            return false;
        };
        let old_ptr = self.slots;
        let old_cap = self.cap;
        self.slots = mem.cast::<Slot>().as_ptr();
        self.cap = new_cap;
        self.len = 0;
        if let Some(old) = NonNull::new(old_ptr) {
            // SAFETY: the old mapping held old_cap initialized slots and is ours.
            let old_slots = unsafe { std::slice::from_raw_parts(old.as_ptr(), old_cap) };
            for s in old_slots.iter().filter(|s| s.id != 0) {
                self.insert(s.hash, s.id);
            }
            // SAFETY: mapped by `grow` with this size; no longer referenced.
            unsafe { os_mem::unmap(old.cast(), old_cap * size_of::<Slot>()) };
        }
        true
    }

    fn clear(&mut self) {
        self.slots().fill(Slot { hash: 0, id: 0 });
        self.len = 0;
    }
}

/// The index shards' and the creator's locks, in the order `fork.rs` takes them.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    for s in &INDEX {
        // SAFETY: locked and unlocked in pairs by `fork.rs` only.
        f(unsafe { s.raw() });
    }
    // SAFETY: as above.
    f(unsafe { CREATOR.raw() });
}

/// Hashes a stack (never 0).
#[inline]
pub fn hash(frames: &[usize]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ frames.len() as u64;
    for &f in frames {
        h = (h.rotate_left(5) ^ f as u64).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
    h | 1
}

/// Returns the id of `frames`, storing the stack on first sight; returns
/// [`UNRECORDED`] (and counts it) when the stack could not be stored.
#[inline]
pub fn intern(frames: &[usize], ts: &ThreadState, generation: u32) -> u32 {
    let h = hash(frames);
    if ts.cache_gen.get() != generation {
        for c in &ts.cache {
            c.set((0, 0));
        }
        ts.cache_gen.set(generation);
    }
    let cell = &ts.cache[(h as usize) & (STACK_CACHE_SLOTS - 1)];
    let (ch, cid) = cell.get();
    if ch == h && cid != 0 && entry(cid).is_some_and(|e| e.frames() == frames) {
        return cid;
    }
    let id = intern_slow(frames, h);
    if id != UNRECORDED {
        cell.set((h, id));
    }
    id
}

#[cold]
fn intern_slow(frames: &[usize], h: u64) -> u32 {
    let mut shard = INDEX[(h >> 58) as usize % SHARDS].lock();
    if let Some(id) = shard.find(h, frames) {
        return id;
    }
    match create(frames) {
        Some(id) if shard.insert(h, id) => id,
        _ => {
            NOT_RECORDED.fetch_add(1, Ordering::Relaxed);
            UNRECORDED
        }
    }
}

/// Empties the table for a new session and creates the [`UNRECORDED`] entry.
/// Only called while no thread records.
pub fn reset() {
    for s in &INDEX {
        s.lock().clear();
    }
    {
        let mut c = CREATOR.lock();
        c.arena_chunk = 0;
        c.arena_used = 0;
        COUNT.store(0, Ordering::Release);
    }
    NOT_RECORDED.store(0, Ordering::Relaxed);
    let _ = create(&[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thread::with_state;

    // One test owns the global table, so the steps run in order.
    #[test]
    fn interning_is_stable_distinct_and_survives_reset() {
        reset();
        assert_eq!(count(), 1);
        with_state(|ts| {
            let a = intern(&[1, 2, 3], ts, 1);
            let b = intern(&[1, 2, 4], ts, 1);
            assert_ne!(a, UNRECORDED);
            assert_ne!(a, b);
            assert_eq!(intern(&[1, 2, 3], ts, 1), a, "cached");
            // Another thread finds the same id through the shared index.
            let from_other =
                std::thread::spawn(|| with_state(|ts| intern(&[1, 2, 3], ts, 1)).unwrap())
                    .join()
                    .unwrap();
            assert_eq!(from_other, a);
            assert_eq!(entry(a).unwrap().frames(), &[1, 2, 3]);
            // Many stacks force the index to grow.
            let n = if cfg!(miri) { 600 } else { 5000usize };
            let ids: Vec<u32> = (0..n).map(|i| intern(&[i, i + 1], ts, 1)).collect();
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(entry(id).unwrap().frames(), &[i, i + 1]);
            }
            reset();
            // A stale per-thread cache from the last session is not trusted.
            let c = intern(&[9, 9], ts, 2);
            assert_eq!(entry(c).unwrap().frames(), &[9, 9]);
            assert_eq!(count(), 2);
        })
        .unwrap();
    }

    #[test]
    fn agg_tracks_live_and_max_live() {
        let w = |b| W { n: 1, b };
        let mut a = Agg::NEW;
        a.attach(w(100));
        a.attach(w(50));
        a.detach(w(100), None);
        a.attach(w(10));
        assert_eq!(
            (a.live_bytes, a.live_blocks, a.max_live_bytes),
            (60, 2, 150)
        );
    }

    #[test]
    fn peak_counts_keep_only_the_newest_epoch() {
        let w = W { n: 1, b: 8 };
        let mut a = Agg::NEW;
        a.attach(w);
        a.attach(w);
        a.attach(w);
        a.detach(w, Some(3));
        a.detach(w, Some(5)); // a newer peak: the epoch-3 count is void
        a.detach(w, Some(3)); // stale: ignored
        assert_eq!((a.peak_epoch, a.peak_blocks, a.peak_bytes), (5, 1, 8));
    }
}
