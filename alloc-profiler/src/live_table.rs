//! The live-block table: every block allocated in the session and not yet
//! freed, keyed by address, in sharded open-addressing hash tables whose memory
//! comes from the OS. A free on any thread finds its block in O(1) under one
//! shard's lock; no global lock is involved.
//!
//! A block is stored in a 24-byte slot whose size field is 32 bits wide. A
//! size that does not fit (`u32::MAX` bytes or more, rare) is marked [`BIG`]
//! in its slot and kept exactly in the shard's side table, keyed by address
//! as well, so moving slots (growth, backward-shift deletion) never touches it.

use std::ptr::NonNull;

use crate::os_mem;
use crate::spin::SpinMutex;

const SHARDS: usize = 64;
const MIN_CAP: usize = 1024;
/// The side table's first capacity: one page of [`Big`] entries.
const BIG_MIN_CAP: usize = 4096 / size_of::<Big>();
/// A slot's size when the block's size is in the side table.
const BIG: u32 = u32::MAX;

/// What the profiler remembers of a live block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Block {
    /// Size in bytes.
    pub size: u64,
    /// When the block was first allocated (its reallocations keep it).
    pub birth_ns: u64,
    /// The stack id the block belongs to.
    pub stack: u32,
}

/// A live block as stored: a [`Block`] with its address, in 24 bytes (on
/// 64-bit targets).
#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    /// The block's address; 0 marks an empty slot (no block lives at 0).
    key: usize,
    birth_ns: u64,
    /// The size in bytes, or [`BIG`]: the size is in the shard's side table.
    size: u32,
    stack: u32,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Slot>() == 24);

/// A side-table entry: the exact size of a block whose slot says [`BIG`].
#[derive(Clone, Copy)]
struct Big {
    /// The block's address; 0 marks an empty entry.
    key: usize,
    size: u64,
}

/// An entry of an open-addressing [`Table`].
///
/// # Safety
/// All-zero memory must be a valid `Self` whose `key` is 0 (an empty entry):
/// tables are fresh zeroed mappings read as entries.
unsafe trait Entry: Copy {
    const EMPTY: Self;
    fn key(&self) -> usize;
}

// SAFETY: Slot is integers only (repr(C)); all zero is a valid Slot with key 0.
unsafe impl Entry for Slot {
    const EMPTY: Self = Slot {
        key: 0,
        birth_ns: 0,
        size: 0,
        stack: 0,
    };
    #[inline]
    fn key(&self) -> usize {
        self.key
    }
}

// SAFETY: Big is integers only; all zero is a valid Big with key 0.
unsafe impl Entry for Big {
    const EMPTY: Self = Big { key: 0, size: 0 };
    #[inline]
    fn key(&self) -> usize {
        self.key
    }
}

/// A linear-probing hash table of entries keyed by address, in memory mapped
/// from the OS, grown by half when 7/8 full (so between 7/12 and 7/8 full
/// once it has grown: doubling would leave it as little as 7/16 full, and
/// cost up to twice the bytes per entry). Key 0 marks an empty entry.
struct Table<E: Entry> {
    slots: *mut E,
    /// A multiple of [`GROUP`] (or 0 before the first `grow`).
    cap: usize,
    len: usize,
    /// 7/8 of `cap`: the most entries before the table grows.
    limit: usize,
}

/// log2 of the slots in a group of neighbouring addresses (see `home`).
const GROUP_BITS: u32 = 6;
/// Slots in a group; a table's capacity is a multiple of it.
const GROUP: usize = 1 << GROUP_BITS;

impl<E: Entry> Table<E> {
    const EMPTY: Self = Table {
        slots: std::ptr::null_mut(),
        cap: 0,
        len: 0,
        limit: 0,
    };

    fn slots(&self) -> &[E] {
        if self.slots.is_null() {
            return &[];
        }
        // SAFETY: `slots` points to `cap` entries of this table's mapping
        // (zeroed memory is a valid empty entry, `Entry`'s contract); the
        // shard's lock is held by whoever reaches the table.
        unsafe { std::slice::from_raw_parts(self.slots, self.cap) }
    }

    fn slots_mut(&mut self) -> &mut [E] {
        if self.slots.is_null() {
            return &mut [];
        }
        // SAFETY: as in `slots`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.slots, self.cap) }
    }

    /// The key's first slot. Blocks within 1 KiB of each other get slots in
    /// one group of 64 (each 16-byte step of address one slot on), and the
    /// groups are spread over the table by a hash: a program frees blocks
    /// near those it just touched (a structure dropped in the order it was
    /// built), and those slots are then in cache. Spreading each whole
    /// window of `cap` addresses instead made two dense windows overlap
    /// slot for slot, and the probe sequences long (Callgrind, one mix at
    /// scale 0.05: 31% more instructions against 9% with groups of 64, for
    /// the same wall time).
    ///
    /// The group's place is the hash's high bits scaled to the number of
    /// groups (a multiply-shift, so any number of groups works).
    #[inline]
    fn home(&self, key: usize) -> usize {
        let p = key >> 4;
        let hash = ((p >> GROUP_BITS) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let groups = (self.cap / GROUP) as u64;
        let group = ((u128::from(hash) * u128::from(groups)) >> 64) as usize;
        (group << GROUP_BITS) | (p & (GROUP - 1))
    }

    /// The slot after `i`, wrapping around.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.cap { 0 } else { i + 1 }
    }

    fn find(&self, key: usize) -> Option<usize> {
        self.probe(key).ok()
    }

    /// Where `key` is (`Ok`), or else the empty slot its probe sequence
    /// reached (`Err`; `None` when the table has no memory yet).
    #[inline]
    fn probe(&self, key: usize) -> Result<usize, Option<usize>> {
        if self.cap == 0 {
            return Err(None);
        }
        let mut i = self.home(key);
        let slots = self.slots();
        loop {
            let k = slots.get(i).ok_or(None)?.key();
            if k == key {
                return Ok(i);
            }
            if k == 0 {
                return Err(Some(i));
            }
            i = self.next(i);
        }
    }

    /// Makes room for one more entry, growing the table by half (to at
    /// least `min_cap`) when it would be over 7/8 full. False if it cannot
    /// grow.
    #[inline]
    fn reserve(&mut self, min_cap: usize) -> bool {
        self.len < self.limit || self.grow(min_cap)
    }

    #[cold]
    fn grow(&mut self, min_cap: usize) -> bool {
        let half_more = self.cap.saturating_add(self.cap / 2);
        let new_cap = half_more.max(min_cap).next_multiple_of(GROUP);
        let Some(bytes) = new_cap.checked_mul(size_of::<E>()) else {
            return false;
        };
        let Some(mem) = os_mem::map_populated(bytes) else {
            return false;
        };
        let new = Table {
            slots: mem.cast::<E>().as_ptr(),
            cap: new_cap,
            len: 0,
            limit: new_cap - new_cap / 8,
        };
        let old = std::mem::replace(self, new);
        for e in old.slots().iter().filter(|e| e.key() != 0) {
            self.put(*e);
        }
        // `old` unmaps its memory as it drops.
        true
    }

    /// Places an entry whose key is absent, in a table with room (`reserve`).
    fn put(&mut self, e: E) {
        let mut i = self.home(e.key());
        while self.slots().get(i).is_some_and(|s| s.key() != 0) {
            i = self.next(i);
        }
        if let Some(s) = self.slots_mut().get_mut(i) {
            *s = e;
        }
        self.len += 1;
    }

    fn remove_at(&mut self, mut hole: usize) {
        // Backward-shift deletion keeps probe sequences unbroken without tombstones.
        let cap = self.cap;
        // How far `to` is past `from`, going round.
        let dist = |from: usize, to: usize| {
            if to >= from {
                to - from
            } else {
                to + cap - from
            }
        };
        let mut j = hole;
        loop {
            j = self.next(j);
            let Some(&s) = self.slots().get(j) else { break };
            if s.key() == 0 {
                break;
            }
            let home = self.home(s.key());
            // Move s into the hole if its home is not in (hole, j] cyclically.
            let dist_home = dist(home, j);
            let dist_hole = dist(hole, j);
            if dist_home >= dist_hole {
                if let Some(h) = self.slots_mut().get_mut(hole) {
                    *h = s;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots_mut().get_mut(hole) {
            *h = E::EMPTY;
        }
        self.len = self.len.saturating_sub(1);
    }

    /// Empties the table, keeping its memory.
    fn clear(&mut self) {
        self.slots_mut().fill(E::EMPTY);
        self.len = 0;
    }
}

impl<E: Entry> Drop for Table<E> {
    fn drop(&mut self) {
        if let Some(mem) = NonNull::new(self.slots) {
            // SAFETY: mapped by `grow` for `cap` entries; the table is going
            // away, so nothing refers to the memory any more.
            unsafe { os_mem::unmap(mem.cast(), self.cap * size_of::<E>()) };
        }
    }
}

/// Aligned so that two shards (and their locks) never share a cache line
/// (or an adjacent-line prefetch pair).
#[repr(align(128))]
struct Shard {
    table: Table<Slot>,
    /// The exact sizes of the blocks whose slot says [`BIG`], and no others.
    /// Before `make` runs it always has room for one more entry, so a block
    /// is never refused after `make`, whatever its size.
    big: Table<Big>,
}

// SAFETY: the tables are private mappings reached only through the shard's lock.
unsafe impl Send for Shard {}

static SHARDS_: [SpinMutex<Shard>; SHARDS] = [const {
    SpinMutex::new(Shard {
        table: Table::EMPTY,
        big: Table::EMPTY,
    })
}; SHARDS];

impl Slot {
    /// `block` at `key`, its size saturated at [`BIG`].
    #[inline]
    fn new(key: usize, block: Block) -> Slot {
        Slot {
            key,
            birth_ns: block.birth_ns,
            size: block.size.min(u64::from(BIG)) as u32,
            stack: block.stack,
        }
    }

    /// The block, with the size the slot holds (not the real one if [`BIG`]).
    #[inline]
    fn block(&self) -> Block {
        Block {
            size: u64::from(self.size),
            birth_ns: self.birth_ns,
            stack: self.stack,
        }
    }
}

impl Shard {
    /// The slot for `block` at `key`; a size that does not fit goes to the
    /// side table, which must have room (`big.reserve`) and not hold `key`.
    #[inline]
    fn pack(&mut self, key: usize, block: Block) -> Slot {
        let slot = Slot::new(key, block);
        if slot.size == BIG {
            self.keep_big(key, block.size);
        }
        slot
    }

    /// The block a slot holds, with its exact size.
    #[cfg(test)]
    fn unpack(&self, s: &Slot) -> Block {
        let mut block = s.block();
        if s.size == BIG {
            block.size = self.big_size(s.key);
        }
        block
    }

    #[cold]
    fn keep_big(&mut self, key: usize, size: u64) {
        self.big.put(Big { key, size });
    }

    /// The size kept for `key` (which has a [`BIG`] slot).
    #[cfg(test)]
    fn big_size(&self, key: usize) -> u64 {
        let entry = self.big.find(key).and_then(|i| self.big.slots().get(i));
        entry.map_or(u64::from(BIG), |b| b.size)
    }

    /// Removes `key`'s side-table entry, returning the size it kept.
    #[cold]
    fn take_big(&mut self, key: usize) -> Option<u64> {
        let i = self.big.find(key)?;
        let size = self.big.slots().get(i)?.size;
        self.big.remove_at(i);
        Some(size)
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
/// table cannot grow. A stale entry for the same address is replaced (or, when
/// the table cannot grow, dropped, so a later free does not take it for the
/// block that was not kept).
#[inline]
pub fn insert_with(ptr: usize, make: impl FnOnce() -> Block) -> bool {
    let mut guard = shard_of(ptr).lock();
    let shard = &mut *guard;
    let probe = shard.table.probe(ptr);
    let found = probe.ok();
    let stale_big = found
        .and_then(|i| shard.table.slots().get(i))
        .is_some_and(|s| s.size == BIG);
    // `make` runs only once the block can be kept whatever its size, so the
    // side table needs room for one more entry first (unless the stale entry
    // frees its own).
    if !stale_big && !shard.big.reserve(BIG_MIN_CAP) {
        if let Some(i) = found {
            shard.table.remove_at(i);
        }
        return false;
    }
    if let Some(i) = found {
        if stale_big {
            shard.take_big(ptr);
        }
        let slot = shard.pack(ptr, make());
        if let Some(s) = shard.table.slots_mut().get_mut(i) {
            *s = slot;
        }
        return true;
    }
    // The empty slot that ended the probe is the key's place, unless the
    // table must grow first.
    let vacant = match probe {
        Err(Some(i)) if shard.table.len < shard.table.limit => Some(i),
        _ if !shard.table.reserve(MIN_CAP) => None,
        _ => shard.table.probe(ptr).err().flatten(),
    };
    let Some(i) = vacant.filter(|&i| i < shard.table.cap) else {
        return false;
    };
    let slot = shard.pack(ptr, make());
    if let Some(s) = shard.table.slots_mut().get_mut(i) {
        *s = slot;
        shard.table.len += 1;
    }
    true
}

/// Removes and returns the block at `ptr`, if the table has it.
#[inline]
pub fn remove(ptr: usize) -> Option<Block> {
    let mut guard = shard_of(ptr).lock();
    let shard = &mut *guard;
    let i = shard.table.find(ptr)?;
    let slot = *shard.table.slots().get(i)?;
    shard.table.remove_at(i);
    let mut block = slot.block();
    if slot.size == BIG {
        block.size = shard.take_big(ptr).unwrap_or(block.size);
    }
    Some(block)
}

/// Calls `f` with every live block. Each shard is locked while it is visited.
#[cfg(test)]
pub fn for_each(mut f: impl FnMut(usize, &Block)) {
    for s in &SHARDS_ {
        let shard = s.lock();
        for slot in shard.table.slots().iter().filter(|s| s.key != 0) {
            f(slot.key, &shard.unpack(slot));
        }
    }
}

/// Number of live blocks in the table.
pub fn len() -> usize {
    SHARDS_.iter().map(|s| s.lock().table.len).sum()
}

/// Empties the table for a new session (keeping its memory).
pub fn clear() {
    for s in &SHARDS_ {
        let mut shard = s.lock();
        shard.table.clear();
        shard.big.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, MutexGuard};

    use super::*;

    const GIB: u64 = 1 << 30;

    fn block(size: u64) -> Block {
        Block {
            size,
            ..Block::default()
        }
    }

    /// A block whose every field tells it apart, so a mixed-up slot shows.
    fn big(size: u64, tag: u64) -> Block {
        Block {
            size,
            birth_ns: tag,
            stack: tag as u32,
        }
    }

    /// The table is global: each test owns it while it runs, starting from
    /// shards with no memory at all.
    fn own_table() -> MutexGuard<'static, ()> {
        static TABLE: Mutex<()> = Mutex::new(());
        let guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        for s in &SHARDS_ {
            let mut shard = s.lock();
            shard.table = Table::EMPTY;
            shard.big = Table::EMPTY;
        }
        guard
    }

    fn live() -> BTreeMap<usize, Block> {
        let mut m = BTreeMap::new();
        for_each(|p, b| assert!(m.insert(p, *b).is_none(), "{p} seen twice"));
        m
    }

    /// Entries in the side tables of all shards.
    fn side_entries() -> usize {
        SHARDS_.iter().map(|s| s.lock().big.len).sum()
    }

    fn slot_index(ptr: usize) -> Option<usize> {
        shard_of(ptr).lock().table.find(ptr)
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_slot_is_24_bytes() {
        assert_eq!(size_of::<Slot>(), 24);
    }

    #[test]
    fn inserts_finds_removes_and_grows_exactly() {
        let _t = own_table();
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

    #[test]
    fn strided_and_interleaved_addresses_stay_exact() {
        // Slots follow addresses, so feed the table what defeats that:
        // dense runs, page strides, strides of whole windows of the table,
        // all interleaved, then removed out of order.
        let _t = own_table();
        let n = if cfg!(miri) { 400 } else { 20_000usize };
        let base = 0x7f00_0000_0000usize;
        let addr = |i: usize| match i % 4 {
            0 => base + 16 * i,                          // dense
            1 => base + (1 << 30) + 4096 * i,            // page stride
            2 => base + (2 << 30) + (16 << 14) * i,      // a window of 2^14 slots
            _ => base + (3 << 30) + (16 << 20) * i + 16, // far apart, one region each few
        };
        for i in 0..n {
            assert!(insert_with(addr(i), || block(i as u64)));
        }
        assert_eq!(len(), n);
        let mut i = 0;
        for _ in 0..n {
            i = (i + 7919) % n;
            assert_eq!(
                remove(addr(i)),
                Some(block(i as u64)),
                "address {:#x}",
                addr(i)
            );
        }
        assert_eq!(len(), 0);
    }

    #[test]
    fn sizes_of_u32_max_bytes_and_more_round_trip_exactly() {
        let _t = own_table();
        let sizes = [
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            5 * GIB,
            u64::MAX,
        ];
        let at = |k: usize| 0x1000 + k * 16;
        for (k, &size) in sizes.iter().enumerate() {
            assert!(insert_with(at(k), || big(size, k as u64)));
        }
        let expect: BTreeMap<_, _> = (sizes.iter().enumerate())
            .map(|(k, &s)| (at(k), big(s, k as u64)))
            .collect();
        assert_eq!(live(), expect);
        // Only the sizes a slot cannot hold are in the side table.
        assert_eq!(side_entries(), 4);
        for (k, &size) in sizes.iter().enumerate() {
            assert_eq!(remove(at(k)), Some(big(size, k as u64)));
            assert_eq!(remove(at(k)), None);
        }
        assert_eq!((len(), side_entries()), (0, 0));
        // `clear` empties the side table as well.
        assert!(insert_with(at(0), || block(5 * GIB)));
        clear();
        assert_eq!((len(), side_entries()), (0, 0));
        assert!(live().is_empty());
        assert!(insert_with(at(0), || block(6)));
        assert_eq!(remove(at(0)), Some(block(6)));
    }

    #[test]
    fn a_grown_table_is_always_more_than_half_full() {
        // Memory per live block is the slot's size over how full the table
        // is: growing by half keeps that between 24 / (7/8) and about
        // 24 / (7/12) bytes, where doubling would let it reach 24 / (7/16).
        let _t = own_table();
        let n = if cfg!(miri) {
            4 * MIN_CAP
        } else {
            64 * MIN_CAP
        };
        let shard = || shard_of(16).lock();
        let mut grew = 0;
        let mut cap = 0;
        for i in 1..=n {
            assert!(insert_with(i * 16, || block(1)));
            let s = shard();
            if s.table.cap != cap {
                if cap > 0 {
                    grew += 1;
                    let ratio = s.table.cap as f64 / cap as f64;
                    assert!((1.5..1.6).contains(&ratio), "{cap} -> {}", s.table.cap);
                }
                cap = s.table.cap;
            }
            if grew > 0 {
                let full = s.table.len as f64 / cap as f64;
                assert!((0.55..=0.875).contains(&full), "{} of {cap}", s.table.len);
            }
        }
        assert!(grew >= 3, "grew {grew} times");
        for i in 1..=n {
            assert_eq!(remove(i * 16), Some(block(1)));
        }
    }

    #[test]
    fn big_blocks_keep_their_sizes_while_both_tables_grow() {
        let _t = own_table();
        // Small blocks at 16, 32, ..., big ones from 48 MiB: one region, one shard.
        // A big block joins after every `every` small ones, while the
        // main table grows; enough of them to grow the side table too.
        let (smalls, every) = if cfg!(miri) {
            (8 * MIN_CAP, 32)
        } else {
            (64 * MIN_CAP, 64)
        };
        let bigs = smalls / every;
        let big_at = |k: usize| (48 << 20) + k * 16;
        let big_size = |k: usize| [5 * GIB, u64::from(u32::MAX)][k % 2] + k as u64;
        assert!(std::ptr::eq(shard_of(16), shard_of(big_at(bigs))));
        assert!(insert_with(big_at(0), || big(big_size(0), 0)));
        let (cap0, big_cap0) = {
            let s = shard_of(16).lock();
            (s.table.cap, s.big.cap)
        };
        for i in 1..=smalls {
            if i % every == 0 {
                let k = i / every;
                assert!(insert_with(big_at(k), || big(big_size(k), k as u64)));
            }
            assert!(insert_with(i * 16, || block(i as u64)));
        }
        let (cap, big_cap) = {
            let s = shard_of(16).lock();
            (s.table.cap, s.big.cap)
        };
        assert!(cap >= 8 * cap0, "main table: {cap0} -> {cap} slots");
        assert!(big_cap > big_cap0, "side table: {big_cap0} -> {big_cap}");
        let live = live();
        assert_eq!(live.len(), smalls + bigs + 1);
        for k in 0..=bigs {
            assert_eq!(live.get(&big_at(k)), Some(&big(big_size(k), k as u64)));
        }
        for i in 1..=smalls {
            assert_eq!(remove(i * 16), Some(block(i as u64)));
        }
        for k in 0..=bigs {
            assert_eq!(remove(big_at(k)), Some(big(big_size(k), k as u64)));
        }
        assert_eq!((len(), side_entries()), (0, 0));
    }

    #[test]
    fn replacing_a_stale_entry_moves_its_size_in_and_out_of_the_side_table() {
        let _t = own_table();
        let p = 4096;
        let mut makes = 0;
        let mut insert = |b: Block| {
            insert_with(p, || {
                makes += 1;
                b
            })
        };
        assert!(insert(big(5 * GIB, 1)));
        assert!(insert(big(7, 2)), "big -> small");
        assert_eq!(live(), BTreeMap::from([(p, big(7, 2))]));
        assert_eq!(side_entries(), 0);
        assert!(insert(big(u64::from(u32::MAX), 3)), "small -> big");
        assert_eq!(live(), BTreeMap::from([(p, big(u64::from(u32::MAX), 3))]));
        assert_eq!(side_entries(), 1);
        assert!(insert(big(6 * GIB, 4)), "big -> big");
        assert_eq!(live(), BTreeMap::from([(p, big(6 * GIB, 4))]));
        assert_eq!(side_entries(), 1);
        assert!(
            insert(big(u64::from(u32::MAX) - 1, 5)),
            "big -> largest small"
        );
        assert_eq!(side_entries(), 0);
        assert_eq!(makes, 5);
        assert_eq!(len(), 1);
        assert_eq!(remove(p), Some(big(u64::from(u32::MAX) - 1, 5)));
        assert_eq!((len(), side_entries()), (0, 0));
    }

    #[test]
    fn backward_shift_deletion_moves_big_blocks_with_their_sizes() {
        let _t = own_table();
        let a = 16;
        assert!(insert_with(a, || block(1)));
        // Two more addresses of a's shard whose probe sequence starts at a's slot.
        let (home, cap) = {
            let s = shard_of(a).lock();
            (s.table.home(a), s.table.cap)
        };
        let mut same_home = (2..1 << 20).map(|k| k * 16).filter(|&p| {
            std::ptr::eq(shard_of(p), shard_of(a)) && shard_of(a).lock().table.home(p) == home
        });
        let (b, c) = (same_home.next().unwrap(), same_home.next().unwrap());
        let (b_block, c_block) = (big(5 * GIB, 2), big(u64::from(u32::MAX), 3));
        assert!(insert_with(b, || b_block));
        assert!(insert_with(c, || c_block));
        let at = |k: usize| Some((home + k) % cap);
        assert_eq!([a, b, c].map(slot_index), [at(0), at(1), at(2)]);

        // Removing a shifts b and c back one slot each.
        assert_eq!(remove(a), Some(block(1)));
        assert_eq!([b, c].map(slot_index), [at(0), at(1)]);
        assert_eq!(live(), BTreeMap::from([(b, b_block), (c, c_block)]));

        // Removing big b shifts big c back to the home slot.
        assert_eq!(remove(b), Some(b_block));
        assert_eq!(slot_index(c), at(0));
        assert_eq!(side_entries(), 1);
        assert_eq!(live(), BTreeMap::from([(c, c_block)]));
        assert_eq!(remove(c), Some(c_block));
        assert_eq!((len(), side_entries()), (0, 0));
    }
}
