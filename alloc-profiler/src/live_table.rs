//! The live-block table: every block allocated in the session and not yet
//! freed, keyed by address, in sharded open-addressing hash tables whose memory
//! comes from the OS. A free on any thread finds its block in O(1) under one
//! shard's lock; no global lock is involved.

use std::ptr::NonNull;

use crate::os_mem;
use crate::spin::SpinMutex;

const SHARDS: usize = 64;
const MIN_CAP: usize = 1024;

/// What the profiler remembers of a live block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Block {
    /// Size in bytes.
    pub size: u64,
    /// When the block was first allocated (its reallocations keep it).
    pub birth_ns: u64,
    /// The lowest global peak the block is live at, set by its latest
    /// allocation or reallocation (`heap::Step::peak_from`).
    pub peak_from: u64,
    /// The stack id the block belongs to.
    pub stack: u32,
}

#[derive(Clone, Copy)]
struct Slot {
    /// The block's address; 0 marks an empty slot (no block lives at 0).
    key: usize,
    block: Block,
}

/// Aligned so that two shards (and their locks) never share a cache line
/// (or an adjacent-line prefetch pair).
#[repr(align(128))]
struct Shard {
    slots: *mut Slot,
    cap: usize,
    len: usize,
}

// SAFETY: the slots are a private mapping reached only through the shard's lock.
unsafe impl Send for Shard {}

static SHARDS_: [SpinMutex<Shard>; SHARDS] = [const {
    SpinMutex::new(Shard {
        slots: std::ptr::null_mut(),
        cap: 0,
        len: 0,
    })
}; SHARDS];

#[inline]
fn hash(ptr: usize) -> u64 {
    ((ptr as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Shard {
    fn slots(&mut self) -> &mut [Slot] {
        if self.slots.is_null() {
            return &mut [];
        }
        // SAFETY: `slots` points to `cap` slots of this shard's mapping (zeroed
        // memory is a valid empty Slot); we hold the shard's lock (&mut self).
        unsafe { std::slice::from_raw_parts_mut(self.slots, self.cap) }
    }

    /// The key's first slot.
    #[inline]
    fn home(&self, ptr: usize) -> usize {
        ((hash(ptr) >> 20) as usize) & (self.cap - 1)
    }

    fn find(&mut self, ptr: usize) -> Option<usize> {
        if self.cap == 0 {
            return None;
        }
        let mask = self.cap - 1;
        let mut i = self.home(ptr);
        let slots = self.slots();
        loop {
            let key = slots.get(i)?.key;
            if key == ptr {
                return Some(i);
            }
            if key == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) -> bool {
        let new_cap = (self.cap * 2).max(MIN_CAP);
        let Some(mem) = os_mem::map_zeroed(new_cap * size_of::<Slot>()) else {
            return false;
        };
        let (old_ptr, old_cap) = (self.slots, self.cap);
        self.slots = mem.cast::<Slot>().as_ptr();
        self.cap = new_cap;
        self.len = 0;
        if let Some(old) = NonNull::new(old_ptr) {
            // SAFETY: the old mapping holds old_cap slots and is ours alone.
            let old_slots = unsafe { std::slice::from_raw_parts(old.as_ptr(), old_cap) };
            for s in old_slots.iter().filter(|s| s.key != 0) {
                self.put(s.key, s.block);
            }
            // SAFETY: mapped by `grow` with this size; nothing refers to it now.
            unsafe { os_mem::unmap(old.cast(), old_cap * size_of::<Slot>()) };
        }
        true
    }

    /// Places a key known to be absent, in a table with room.
    fn put(&mut self, key: usize, block: Block) -> usize {
        let mask = self.cap - 1;
        let mut i = self.home(key);
        let slots = self.slots();
        while slots.get(i).is_some_and(|s| s.key != 0) {
            i = (i + 1) & mask;
        }
        if let Some(s) = slots.get_mut(i) {
            *s = Slot { key, block };
        }
        self.len += 1;
        i
    }

    fn remove_at(&mut self, mut hole: usize) {
        // Backward-shift deletion keeps probe sequences unbroken without tombstones.
        let mask = self.cap - 1;
        let cap = self.cap;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(&s) = self.slots().get(j) else { break };
            if s.key == 0 {
                break;
            }
            let home = self.home(s.key);
            // Move s into the hole if its home is not in (hole, j] cyclically.
            let dist_home = j.wrapping_sub(home) & (cap - 1);
            let dist_hole = j.wrapping_sub(hole) & (cap - 1);
            if dist_home >= dist_hole {
                let slots = self.slots();
                if let Some(h) = slots.get_mut(hole) {
                    *h = s;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots().get_mut(hole) {
            h.key = 0;
        }
        self.len -= 1;
    }
}

/// The shards' locks, in the order `fork.rs` takes them.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    for s in &SHARDS_ {
        // SAFETY: locked and unlocked in pairs by `fork.rs` only.
        f(unsafe { s.raw() });
    }
}

/// Addresses of one region share a shard. Allocators hand each thread
/// memory from its own regions (glibc: an arena of 64 MiB heaps per thread),
/// so a thread mostly works in shards no other thread touches, and their
/// locks and slots stay in its core's cache; sharding by the address alone
/// made every event of two threads fetch a shard's lines from the other core.
const REGION_SHIFT: u32 = 26;

#[inline]
fn shard_of(ptr: usize) -> &'static SpinMutex<Shard> {
    let region = ((ptr >> REGION_SHIFT) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    &SHARDS_[(region >> 58) as usize % SHARDS]
}

/// Adds the block at `ptr`, with what `make` returns (called under the shard's
/// lock once room is secured). Returns false, without calling `make`, when the
/// table cannot grow. A stale entry for the same address is replaced.
#[inline]
pub fn insert_with(ptr: usize, make: impl FnOnce() -> Block) -> bool {
    let mut shard = shard_of(ptr).lock();
    if let Some(i) = shard.find(ptr) {
        let block = make();
        if let Some(s) = shard.slots().get_mut(i) {
            s.block = block;
        }
        return true;
    }
    if (shard.len + 1) * 8 > shard.cap * 7 && !shard.grow() {
        return false;
    }
    let block = make();
    shard.put(ptr, block);
    true
}

/// Removes and returns the block at `ptr`, if the table has it.
#[inline]
pub fn remove(ptr: usize) -> Option<Block> {
    let mut shard = shard_of(ptr).lock();
    let i = shard.find(ptr)?;
    let block = shard.slots().get(i)?.block;
    shard.remove_at(i);
    Some(block)
}

/// Calls `f` with every live block. Each shard is locked while it is visited.
pub fn for_each(mut f: impl FnMut(usize, &Block)) {
    for s in &SHARDS_ {
        let mut shard = s.lock();
        for slot in shard.slots().iter().filter(|s| s.key != 0) {
            f(slot.key, &slot.block);
        }
    }
}

/// Number of live blocks in the table.
#[cfg(test)]
pub fn len() -> usize {
    SHARDS_.iter().map(|s| s.lock().len).sum()
}

/// Empties the table for a new session (keeping its memory).
pub fn clear() {
    for s in &SHARDS_ {
        let mut shard = s.lock();
        shard.slots().fill(Slot {
            key: 0,
            block: Block::default(),
        });
        shard.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(size: u64) -> Block {
        Block {
            size,
            ..Block::default()
        }
    }

    // One test owns the global table.
    #[test]
    fn inserts_finds_removes_and_grows_exactly() {
        clear();
        // Addresses that collide on purpose: same low bits, 16-byte steps.
        let n = if cfg!(miri) { 3_000 } else { 50_000usize };
        for i in 1..=n {
            assert!(insert_with(i * 16, || block(i as u64)));
        }
        assert_eq!(len(), n);
        // Remove every third; the rest must still be found.
        for i in (1..=n).step_by(3) {
            assert_eq!(remove(i * 16), Some(block(i as u64)));
        }
        for i in 1..=n {
            let expect = if (i - 1) % 3 == 0 {
                None
            } else {
                Some(block(i as u64))
            };
            assert_eq!(remove(i * 16), expect, "address {}", i * 16);
        }
        assert_eq!(len(), 0);
        assert_eq!(remove(16), None);
        let mut seen = 0;
        assert!(insert_with(4096, || block(1)));
        assert!(insert_with(4096, || block(2)), "replaces a stale entry");
        for_each(|p, b| {
            assert_eq!((p, b.size), (4096, 2));
            seen += 1;
        });
        assert_eq!(seen, 1);
        clear();
        assert_eq!(len(), 0);
    }
}
