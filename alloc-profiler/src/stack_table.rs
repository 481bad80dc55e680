//! Interned stacks.
//!
//! Each distinct stack of raw return addresses is stored once, in memory mapped
//! from the OS, and named by a small id. A per-thread direct-mapped cache sits
//! in front of a sharded hash index, so a repeated stack costs one cache slot
//! and one comparison of its frames; its hash comes with it from the capture
//! (`stack_hash.rs`). Id 0 is reserved for events whose stack could not be
//! stored. (A callsite's figures are kept by the records, `figures.rs`, and
//! the heap clock.)
//!
//! Entries are never freed during a session and are reused by the next one;
//! an id is published (through a shard lock) only after its entry is written.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::os_mem;
use crate::spin::SpinMutex;
use crate::thread::{STACK_CACHE_SLOTS, ThreadState};

/// The id of the stack events get when theirs could not be stored.
pub const UNRECORDED: u32 = 0;

/// Entries per chunk of the table (and of each record's `figures::Table`).
pub(crate) const ENTRIES_PER_CHUNK: usize = 4096;
/// Chunks at most.
pub(crate) const MAX_CHUNKS: usize = 1024;
/// The most distinct stacks one session can hold.
pub const MAX_STACKS: usize = ENTRIES_PER_CHUNK * MAX_CHUNKS;
const ARENA_CHUNK_WORDS: usize = 1 << 17;
const MAX_ARENA_CHUNKS: usize = 4096;
const SHARDS: usize = 64;

/// One interned stack: where its frames are, and how many; in a sampling
/// session, the variance of its estimates. (A callsite's figures are kept by
/// the records and the heap clock.)
pub struct StackEntry {
    frames: NonNull<usize>,
    len: u32,
    /// Sum of `w * (w - size)` over the sampled events here (bytes²).
    bytes_var: AtomicU64,
    /// Sum of `n * (n - 1)` over the sampled allocations here.
    blocks_var: AtomicU64,
}

// SAFETY: `frames` is immutable after publication and the variances are
// atomics, so sharing entries between threads is data-race free.
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

    /// In a sampling session, the estimated variances of this callsite's
    /// bytes and blocks (`docs/format.md`, `bytes_variance`).
    pub fn variances(&self) -> (u64, u64) {
        (
            self.bytes_var.load(Ordering::Relaxed),
            self.blocks_var.load(Ordering::Relaxed),
        )
    }
}

/// Adds a sampled event of `size` bytes and weight `w` at stack `id` to its
/// estimates' variances: an allocation (`alloc`) adds to that of the blocks
/// too, a reallocation only to that of the bytes. Sampled events are rare
/// (one per sampling interval), so the shared atomics cost nothing that
/// matters.
#[cold]
#[inline(never)]
pub fn note_sampled(id: u32, size: u64, w: crate::sampling::W, alloc: bool) {
    let Some(e) = entry(id) else { return };
    let one = crate::sampling::ONE as f64;
    let (b, n) = (w.b as f64 / one, w.n as f64 / one);
    // `as` saturates, and a weight is never below its size (p <= 1).
    let add = |sum: &AtomicU64, v: f64| {
        let v = v.max(0.0).round() as u64;
        let _ = sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            Some(s.saturating_add(v))
        });
    };
    add(&e.bytes_var, b * (b - size as f64));
    if alloc {
        add(&e.blocks_var, n * (n - 1.0));
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
                bytes_var: AtomicU64::new(0),
                blocks_var: AtomicU64::new(0),
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
        let Some(mem) = os_mem::map_populated(new_cap * size_of::<Slot>()) else {
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

/// Returns the id of `frames`, whose hash ([`crate::stack_hash`]) is `h`,
/// storing the stack on first sight; returns [`UNRECORDED`] (and counts it)
/// when the stack could not be stored.
#[inline]
pub fn intern(frames: &[usize], h: u64, ts: &ThreadState, generation: u32) -> u32 {
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

    fn put(frames: &[usize], ts: &ThreadState, generation: u32) -> u32 {
        intern(frames, crate::stack_hash::of(frames), ts, generation)
    }

    // One test owns the global table, so the steps run in order.
    #[test]
    fn interning_is_stable_distinct_and_survives_reset() {
        reset();
        assert_eq!(count(), 1);
        with_state(|ts| {
            let a = put(&[1, 2, 3], ts, 1);
            let b = put(&[1, 2, 4], ts, 1);
            assert_ne!(a, UNRECORDED);
            assert_ne!(a, b);
            assert_eq!(put(&[1, 2, 3], ts, 1), a, "cached");
            // Another thread finds the same id through the shared index.
            let from_other =
                std::thread::spawn(|| with_state(|ts| put(&[1, 2, 3], ts, 1)).unwrap())
                    .join()
                    .unwrap();
            assert_eq!(from_other, a);
            assert_eq!(entry(a).unwrap().frames(), &[1, 2, 3]);
            // Many stacks force the index to grow.
            let n = if cfg!(miri) { 600 } else { 5000usize };
            let ids: Vec<u32> = (0..n).map(|i| put(&[i, i + 1], ts, 1)).collect();
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(entry(id).unwrap().frames(), &[i, i + 1]);
            }
            reset();
            // A stale per-thread cache from the last session is not trusted.
            let c = put(&[9, 9], ts, 2);
            assert_eq!(entry(c).unwrap().frames(), &[9, 9]);
            assert_eq!(count(), 2);
        })
        .unwrap();
    }
}
