//! Callsite figures kept per record: what a callsite's blocks did, as seen by
//! the events of one record's threads, under that record's lock (which each
//! event already holds). Every figure here adds up across records, so a
//! profile sums them; nothing here is shared between threads, and two threads
//! allocating at the same callsite at the same moment touch none of each
//! other's lines. (A callsite's live bytes and their maximum cannot be split
//! that way; they stay shared, in `stack_table::Live`. Its blocks live at
//! the peak are counted in time order, by the heap clock's merge.)
//!
//! A record's table is indexed by stack id, in chunks mapped from the OS the
//! first time one of their ids is touched (the OS commits the pages touched,
//! not the whole chunk), and dropped when the record joins a new session.

use std::ptr::NonNull;

use crate::os_mem;
use crate::sampling::W;
use crate::stack_table::{ENTRIES_PER_CHUNK, MAX_CHUNKS};

/// One callsite's figures from one record's events. All zero is "nothing
/// yet", so that fresh mapped memory is a table of empty entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Allocations made here.
    pub blocks: u64,
    /// Bytes handed out here.
    pub bytes: u64,
    /// Reallocations made here.
    pub reallocs: u64,
    /// Blocks that started belonging here less those that stopped (a
    /// record may free blocks another allocated: only the sum over records
    /// is the callsite's live count).
    pub live_blocks: u64,
    /// Blocks belonging here that were freed.
    pub freed_blocks: u64,
    /// Sum of their lifetimes (weighted when sampling).
    pub lifetime_total_ns: u64,
    /// The shortest lifetime, bit-inverted so that 0 means "none yet".
    lifetime_min_inv: u64,
    /// Longest lifetime.
    pub lifetime_max_ns: u64,
}

impl Figures {
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

    /// A block of weight `w` starts belonging here.
    #[inline]
    pub fn attach(&mut self, w: W) {
        self.live_blocks = self.live_blocks.wrapping_add(w.n);
    }

    /// A block of weight `w` stops belonging here (freed or reallocated).
    #[inline]
    pub fn detach(&mut self, w: W) {
        self.live_blocks = self.live_blocks.wrapping_sub(w.n);
    }

    /// A block of weight `w` belonging here was freed after living
    /// `lifetime_ns`.
    #[inline]
    pub fn freed(&mut self, w: W, lifetime_ns: u64) {
        self.freed_blocks = self.freed_blocks.wrapping_add(w.n);
        let weighted = if w.n == 1 {
            lifetime_ns
        } else {
            (u128::from(lifetime_ns) * u128::from(w.n) / u128::from(crate::sampling::ONE)) as u64
        };
        self.lifetime_total_ns = self.lifetime_total_ns.wrapping_add(weighted);
        self.lifetime_min_inv = self.lifetime_min_inv.max(!lifetime_ns);
        self.lifetime_max_ns = self.lifetime_max_ns.max(lifetime_ns);
    }

    /// The shortest lifetime of a block freed here, if any was.
    pub fn lifetime_min_ns(&self) -> Option<u64> {
        (self.lifetime_min_inv != 0).then_some(!self.lifetime_min_inv)
    }

    /// Adds another record's figures for the same callsite.
    pub fn add(&mut self, o: &Figures) {
        self.blocks = self.blocks.wrapping_add(o.blocks);
        self.bytes = self.bytes.wrapping_add(o.bytes);
        self.reallocs = self.reallocs.wrapping_add(o.reallocs);
        self.live_blocks = self.live_blocks.wrapping_add(o.live_blocks);
        self.freed_blocks = self.freed_blocks.wrapping_add(o.freed_blocks);
        self.lifetime_total_ns = self.lifetime_total_ns.wrapping_add(o.lifetime_total_ns);
        self.lifetime_min_inv = self.lifetime_min_inv.max(o.lifetime_min_inv);
        self.lifetime_max_ns = self.lifetime_max_ns.max(o.lifetime_max_ns);
    }
}

const CHUNK_BYTES: usize = ENTRIES_PER_CHUNK * size_of::<Figures>();

/// One record's figures for every callsite it touched.
pub struct Table {
    chunks: [*mut Figures; MAX_CHUNKS],
}

impl Table {
    /// No callsite touched yet.
    pub const EMPTY: Self = Self {
        chunks: [std::ptr::null_mut(); MAX_CHUNKS],
    };

    /// The figures of stack `id`, or `None` when the id is out of range or
    /// its chunk cannot be mapped (the caller then counts nothing for it).
    #[inline]
    pub fn get(&mut self, id: u32) -> Option<&mut Figures> {
        let (c, i) = (
            id as usize / ENTRIES_PER_CHUNK,
            id as usize % ENTRIES_PER_CHUNK,
        );
        let slot = self.chunks.get_mut(c)?;
        if slot.is_null() {
            *slot = map_chunk()?;
        }
        // SAFETY: the chunk holds ENTRIES_PER_CHUNK figures (zeroed memory
        // is valid, empty figures), i is below that, and the table (hence
        // the chunk) is only reached through its record's lock, which the
        // caller holds (`&mut self`).
        Some(unsafe { &mut *slot.add(i) })
    }

    /// Calls `f` with every touched id's figures (`ids` is the session's
    /// stack count: entries past it were never written).
    pub fn for_each(&self, ids: u32, mut f: impl FnMut(u32, &Figures)) {
        for (c, &chunk) in self.chunks.iter().enumerate() {
            if chunk.is_null() {
                continue;
            }
            let first = c * ENTRIES_PER_CHUNK;
            let n = (ids as usize).saturating_sub(first).min(ENTRIES_PER_CHUNK);
            // SAFETY: a mapped chunk of ENTRIES_PER_CHUNK figures, n of them
            // at most; the caller holds the record's lock (`&self` through
            // the guard).
            let entries = unsafe { std::slice::from_raw_parts(chunk, n) };
            for (i, e) in entries.iter().enumerate() {
                if *e != Figures::default() {
                    f((first + i) as u32, e);
                }
            }
        }
    }

    /// Forgets every figure and returns the memory (a new session reuses
    /// the ids).
    pub fn clear(&mut self) {
        for slot in &mut self.chunks {
            if let Some(p) = NonNull::new(std::mem::replace(slot, std::ptr::null_mut())) {
                // SAFETY: mapped by `map_chunk` with CHUNK_BYTES; the pointer
                // was just taken out of the table, so nothing refers to it.
                unsafe { os_mem::unmap(p.cast(), CHUNK_BYTES) };
            }
        }
    }
}

#[cold]
fn map_chunk() -> Option<*mut Figures> {
    os_mem::map_zeroed(CHUNK_BYTES).map(|p| p.cast::<Figures>().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: W = W { n: 1, b: 8 };

    #[test]
    fn records_add_up() {
        // Record A allocated three blocks; record B freed two of them.
        let mut a = Figures::default();
        for _ in 0..3 {
            a.allocated(ONE);
            a.attach(ONE);
        }
        let mut b = Figures::default();
        b.detach(ONE);
        b.freed(ONE, 70);
        b.detach(ONE);
        b.freed(ONE, 30);
        let mut sum = Figures::default();
        sum.add(&a);
        sum.add(&b);
        assert_eq!((sum.blocks, sum.bytes, sum.live_blocks), (3, 24, 1));
        assert_eq!((sum.freed_blocks, sum.lifetime_total_ns), (2, 100));
        assert_eq!((sum.lifetime_min_ns(), sum.lifetime_max_ns), (Some(30), 70));
        assert_eq!(a.lifetime_min_ns(), None, "nothing freed yet");
    }

    #[test]
    fn a_table_maps_chunks_on_first_touch_and_lists_what_was_touched() {
        let mut t = Table::EMPTY;
        let far = (ENTRIES_PER_CHUNK * 2 + 5) as u32;
        t.get(3).unwrap().allocated(ONE);
        t.get(far).unwrap().allocated(ONE);
        t.get(far).unwrap().allocated(ONE);
        assert!(t.get((ENTRIES_PER_CHUNK * MAX_CHUNKS) as u32).is_none());
        let mut seen = Vec::new();
        t.for_each(far + 1, |id, f| seen.push((id, f.blocks)));
        assert_eq!(seen, [(3, 1), (far, 2)]);
        let mut below = Vec::new();
        t.for_each(far, |id, _| below.push(id));
        assert_eq!(below, [3], "ids past the session's count are not read");
        t.clear();
        let mut after = 0;
        t.for_each(far + 1, |_, _| after += 1);
        assert_eq!(after, 0);
    }
}
