//! Block headers: while an exact session runs, every block the program
//! allocates with an alignment of 16 bytes or less gets [`SIZE`] bytes in
//! front of it that hold what the profiler knows of it (its callsite, when it
//! was born, which session saw it). A free then finds that next to the inner
//! allocator's own bookkeeping, in a cache line the free touches anyway,
//! instead of in a hash table of its own: that table's lookups were most of an
//! exact session's cost (`docs/performance.md`).
//!
//! Which blocks carry a header is in a bitmap of one bit per 16 bytes of
//! address space, mapped lazily a leaf at a time. A headed block's inner
//! layout is aligned to 16, so the block the program sees is too: a block at
//! an address that is not a multiple of 16 has no header, whatever its bit
//! says. That keeps blocks apart even when the inner allocator packs small
//! blocks end to end: another block can start in the same 16 bytes as a
//! headed one only after it, off that alignment. (Aligning to 16 costs glibc
//! and Rust's `System` nothing: `malloc` aligns every block to 16.)
//!
//! A free leaves its block's bit set: the next block the inner allocator
//! makes at that address either has a header too (its bit is already right,
//! and [`mark`] only reads it) or has none, and then the wrapper clears the
//! bit ([`note_plain`]) before handing the block out. So a program that
//! reuses addresses, as every allocator makes it do, pays no atomic write to
//! the bitmap on its frees or on most of its allocations.
//!
//! Blocks allocated before the session, outside one, or with a larger
//! alignment have none; the live table keeps those. A headed block keeps its
//! header for its whole life, session or not, so the wrapper strips it
//! whenever the block is freed or reallocated.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::os_mem;

/// Bytes in front of a headed block.
pub const SIZE: usize = 16;

/// What a header holds.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// When the block was first allocated (its reallocations keep it).
    pub birth_ns: u64,
    /// The block's stack id in session `generation`.
    pub stack: u32,
    /// The session that recorded the block; 0 for none.
    pub generation: u32,
}

const _: () = assert!(size_of::<Header>() == SIZE);

/// The header of a block no session recorded.
pub const UNRECORDED: Header = Header {
    birth_ns: 0,
    stack: u32::MAX,
    generation: 0,
};

/// A promise that the block it travels with carries a header: the recorder
/// reads and writes headers only for blocks that come with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headed(());

impl Headed {
    /// Vouches for a block.
    ///
    /// # Safety
    /// The block passed along with the result must be a headed block (made
    /// by [`inner_ptr`] from a live inner block of an [`outer`] layout, its
    /// header written), allocated until the callee returns.
    #[inline]
    pub unsafe fn vouch() -> Self {
        Headed(())
    }
}

/// The layout the inner allocator gets for a headed block of `layout`: `SIZE`
/// bytes more, aligned to `SIZE` (16). `None` when the block cannot have a
/// header (an alignment over 16, or a size that would overflow).
#[inline]
pub fn outer(layout: Layout) -> Option<Layout> {
    if layout.align() > SIZE {
        return None;
    }
    Layout::from_size_align(layout.size().checked_add(SIZE)?, SIZE).ok()
}

/// The block the program sees in the inner allocator's block `base`.
#[inline]
pub fn inner_ptr(base: *mut u8) -> *mut u8 {
    base.wrapping_add(SIZE)
}

/// The inner allocator's block that holds the headed block `ptr`.
#[inline]
pub fn base_ptr(ptr: *mut u8) -> *mut u8 {
    ptr.wrapping_sub(SIZE)
}

/// Writes the header of the headed block `ptr`.
///
/// # Safety
/// `ptr` must be a block made by [`inner_ptr`] of a live inner block of an
/// [`outer`] layout.
#[inline]
pub unsafe fn write(ptr: *mut u8, h: Header) {
    // SAFETY: the `SIZE` bytes before `ptr` belong to the same inner block
    // (the caller's contract); blocks of alignment under 8 may leave them
    // unaligned.
    unsafe { base_ptr(ptr).cast::<Header>().write_unaligned(h) }
}

/// Reads the header of the headed block `ptr`.
///
/// # Safety
/// As for [`write`], and the header must have been written.
#[inline]
pub unsafe fn read(ptr: *mut u8) -> Header {
    // SAFETY: as in `write`.
    unsafe { base_ptr(ptr).cast::<Header>().read_unaligned() }
}

/// Address bits the bitmap covers; a block above them gets no header.
#[cfg(not(miri))]
const ADDRESS_BITS: u32 = 48;
/// log2 of the bytes of address space one leaf covers (1 GiB).
#[cfg(not(miri))]
const LEAF_SHIFT: u32 = 30;
// Under Miri, which sets up a static and zeroes a mapping byte by byte, a
// directory of 1,024 leaves of 32 KiB.
#[cfg(miri)]
const ADDRESS_BITS: u32 = 32;
#[cfg(miri)]
const LEAF_SHIFT: u32 = 22;
/// Words in a leaf: one bit per 16 bytes.
const LEAF_WORDS: usize = 1 << (LEAF_SHIFT - 4 - 6);
/// A leaf's size in bytes (8 MiB, mapped without reserving memory: pages
/// are committed as blocks in their 512 KiB of address space get headers).
const LEAF_BYTES: usize = LEAF_WORDS * size_of::<u64>();

/// Entries of [`LEAVES`].
const LEAF_SLOTS: usize = 1 << (ADDRESS_BITS - LEAF_SHIFT);
/// The leaves, by address >> `LEAF_SHIFT` (a 2 MiB table of null pointers
/// until sessions run).
static LEAVES: [AtomicPtr<AtomicU64>; LEAF_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; LEAF_SLOTS];

/// The indices of the leaves mapped, in the order they were, for
/// [`bitmap_resident_bytes`] (4,096: 4 TiB of address space with headed
/// blocks; past that, the leaves that do not fit go uncounted).
static MAPPED: [AtomicUsize; 4096] = [const { AtomicUsize::new(0) }; 4096];
/// Entries of [`MAPPED`] taken.
static MAPPED_LEN: AtomicUsize = AtomicUsize::new(0);

/// The entry of [`LEAVES`] for `leaf`, if the bitmap reaches that far.
#[inline]
fn leaf_slot(leaf: usize) -> Option<&'static AtomicPtr<AtomicU64>> {
    if leaf >= LEAF_SLOTS {
        return None;
    }
    // SAFETY: `leaf` is in bounds. A pointer to the one entry, not a
    // reference to the whole array: the same code, but Miri would otherwise
    // retag all 2 MiB of it on every call.
    Some(unsafe { &*(&raw const LEAVES).cast::<AtomicPtr<AtomicU64>>().add(leaf) })
}

/// The leaf index, word index and bit mask of the block at `ptr`.
#[inline]
fn place(ptr: usize) -> (usize, usize, u64) {
    let unit = ptr >> 4;
    let in_leaf = unit & ((1 << (LEAF_SHIFT - 4)) - 1);
    (ptr >> LEAF_SHIFT, in_leaf >> 6, 1 << (in_leaf & 63))
}

/// The word of `leaf` at `word`.
///
/// # Safety
/// `leaf` must be a non-null entry of [`LEAVES`] (a leaf of `LEAF_WORDS`
/// zeroed words, mapped once and never unmapped), and `word` below
/// `LEAF_WORDS` (as [`place`] makes it).
#[inline]
unsafe fn word_of(leaf: *mut AtomicU64, word: usize) -> &'static AtomicU64 {
    debug_assert!(word < LEAF_WORDS);
    // SAFETY: the caller's contract.
    unsafe { &*leaf.add(word) }
}

/// Whether a session that puts headers ever started in this process: until
/// one does, every bit is clear, and neither a free nor an allocation needs
/// to look at the bitmap.
static ANY: AtomicBool = AtomicBool::new(false);

/// Notes that headers are put from now on: called before the session that
/// puts them turns on. A thread makes a headed block only after it read the
/// session on with acquire ordering (`recorder::header_layout`), and any
/// thread that frees or reallocates the block was handed it later still,
/// so both see this.
pub fn in_use() {
    ANY.store(true, Ordering::Relaxed);
}

/// True when the block at `ptr` carries a header.
#[inline]
pub fn is_headed(ptr: *mut u8) -> bool {
    // Headed blocks are aligned to 16; a block that is not can share its 16
    // bytes (and bit) with a small headed block just before it.
    if !ANY.load(Ordering::Relaxed) || !(ptr as usize).is_multiple_of(SIZE) {
        return false;
    }
    let (leaf, word, bit) = place(ptr as usize);
    let Some(slot) = leaf_slot(leaf) else {
        return false;
    };
    let leaf = slot.load(Ordering::Acquire);
    // SAFETY: a non-null entry of `LEAVES`, and `word` from `place`.
    !leaf.is_null() && unsafe { word_of(leaf, word) }.load(Ordering::Relaxed) & bit != 0
}

/// Notes that the block at `ptr`, just made by the inner allocator, carries
/// a header (its bit is often still set by a headed block freed there: then
/// it is only read). False, with nothing noted, when its address is beyond
/// the bitmap or the leaf cannot be mapped.
#[inline]
pub fn mark(ptr: *mut u8) -> bool {
    let (leaf, word, bit) = place(ptr as usize);
    let Some(slot) = leaf_slot(leaf) else {
        return false;
    };
    let mut l = slot.load(Ordering::Acquire);
    if l.is_null() {
        match map_leaf(leaf, slot) {
            Some(new) => l = new,
            None => return false,
        }
    }
    // SAFETY: `l` is the entry of `LEAVES` (just mapped, or found non-null),
    // and `word` from `place`.
    let w = unsafe { word_of(l, word) };
    // No other thread changes this bit while the block is ours, so a plain
    // read first spares the locked write when the bit is already set.
    if w.load(Ordering::Relaxed) & bit == 0 {
        w.fetch_or(bit, Ordering::Relaxed);
    }
    true
}

/// Notes that the block at `ptr`, just returned by the inner allocator's
/// `alloc`, `alloc_zeroed` or `realloc`, has no header: clears the bit a
/// headed block freed at that address left set. Nothing for a null pointer
/// (no block).
#[inline]
pub fn note_plain(ptr: *mut u8) {
    if !ANY.load(Ordering::Relaxed) || ptr.is_null() || !(ptr as usize).is_multiple_of(SIZE) {
        // No bit was ever set; no block; or one never taken for headed (see
        // `is_headed`), whose bit may be a live headed block's just before it.
        return;
    }
    let (leaf, word, bit) = place(ptr as usize);
    if let Some(slot) = leaf_slot(leaf) {
        let l = slot.load(Ordering::Acquire);
        if !l.is_null() {
            // SAFETY: a non-null entry of `LEAVES`, and `word` from `place`.
            let w = unsafe { word_of(l, word) };
            // Set only if a headed block was freed here; no other thread
            // sets it while the block is ours.
            if w.load(Ordering::Relaxed) & bit != 0 {
                w.fetch_and(!bit, Ordering::Relaxed);
            }
        }
    }
}

#[cold]
fn map_leaf(leaf: usize, slot: &AtomicPtr<AtomicU64>) -> Option<*mut AtomicU64> {
    let mem = os_mem::reserve(LEAF_BYTES)?.cast::<AtomicU64>().as_ptr();
    match slot.compare_exchange(
        std::ptr::null_mut(),
        mem,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            if let Some(entry) = MAPPED.get(MAPPED_LEN.fetch_add(1, Ordering::Relaxed)) {
                entry.store(leaf, Ordering::Release);
            }
            Some(mem)
        }
        Err(theirs) => {
            // Another thread mapped it first.
            if let Some(p) = NonNull::new(mem.cast::<u8>()) {
                // SAFETY: reserved above with this length and never shared.
                unsafe { os_mem::unreserve(p, LEAF_BYTES) };
            }
            Some(theirs)
        }
    }
}

/// Bytes of the bitmap's leaves in memory. (Only the leaves mapped are
/// visited: reading all of [`LEAVES`] would also make Miri track each of its
/// entries apart, and slow every test after.)
pub fn bitmap_resident_bytes() -> u64 {
    let n = MAPPED_LEN.load(Ordering::Acquire).min(MAPPED.len());
    MAPPED[..n]
        .iter()
        .filter_map(|e| leaf_slot(e.load(Ordering::Acquire)))
        .filter_map(|slot| NonNull::new(slot.load(Ordering::Acquire)))
        .map(|p| os_mem::resident_bytes(p.cast(), LEAF_BYTES))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_adds_16_bytes_to_blocks_aligned_to_16_or_less() {
        for align in [1, 2, 4, 8, 16] {
            let l = Layout::from_size_align(24, align).unwrap();
            assert_eq!(
                outer(l),
                Layout::from_size_align(40, 16).ok(),
                "aligned to 16, so the program's block is too"
            );
        }
        let wide = Layout::from_size_align(64, 32).unwrap();
        assert_eq!(outer(wide), None, "larger alignments keep their layout");
        let huge = Layout::from_size_align(isize::MAX as usize - 7, 8).unwrap();
        assert_eq!(outer(huge), None, "no layout past isize::MAX");
    }

    #[test]
    fn a_header_round_trips_at_any_base_alignment() {
        let mut buf = [0u8; 64];
        for offset in [1, 3, 8] {
            let base = buf.as_mut_ptr().wrapping_add(offset);
            let ptr = inner_ptr(base);
            assert_eq!(base_ptr(ptr), base);
            let h = Header {
                birth_ns: u64::MAX - offset as u64,
                stack: 7,
                generation: 3,
            };
            // SAFETY: `buf` holds the header and the block at every offset.
            unsafe {
                write(ptr, h);
                assert_eq!(read(ptr), h);
            }
        }
    }

    /// Addresses in leaves no program block is in: the upper half of the
    /// bitmap's range, plus `leaf` leaves and `unit` 16-byte units.
    fn addr(leaf: usize, unit: usize) -> *mut u8 {
        std::ptr::without_provenance_mut(
            (1 << (ADDRESS_BITS - 1)) + (leaf << LEAF_SHIFT) + unit * 16,
        )
    }

    /// 16-byte units in a leaf.
    const UNITS: usize = 1 << (LEAF_SHIFT - 4);

    #[test]
    fn each_16_bytes_of_address_space_has_its_own_bit() {
        in_use();
        let (a, b, c) = (addr(1, 0), addr(1, 1), addr(1, 64));
        assert!(!is_headed(a));
        assert!(mark(a));
        assert!(is_headed(a));
        for off in [1, 8, 15] {
            assert!(
                !is_headed(a.wrapping_add(off)),
                "a block off the 16-byte alignment of headed ones, in the same unit"
            );
        }
        assert!(!is_headed(b), "the next 16 bytes are another block's");
        assert!(mark(b) && mark(c));
        note_plain(a);
        assert!(!is_headed(a) && is_headed(b) && is_headed(c));
        note_plain(b);
        note_plain(c);
        assert!(!is_headed(b) && !is_headed(c));
        // The last unit of a leaf and the first of the next.
        let (end, next) = (addr(2, UNITS - 1), addr(3, 0));
        assert!(mark(end) && mark(next));
        assert!(is_headed(end) && is_headed(next));
        assert!(!is_headed(addr(2, UNITS - 2)));
        note_plain(end);
        note_plain(next);
        assert!(bitmap_resident_bytes() > 0);
    }

    #[test]
    fn a_freed_headed_block_s_bit_stays_until_a_plain_block_takes_its_place() {
        in_use();
        let (a, off) = (addr(4, 10), addr(4, 20).wrapping_add(8));
        assert!(mark(a));
        // Freed, then another headed block at the same address: still set.
        assert!(mark(a) && is_headed(a));
        // A plain block there clears it; one off the alignment leaves the
        // bit of the headed block whose 16 bytes it shares.
        note_plain(a);
        assert!(!is_headed(a));
        note_plain(a);
        assert!(!is_headed(a), "clearing a clear bit changes nothing");
        let headed = addr(4, 20);
        assert!(mark(headed));
        note_plain(off);
        assert!(is_headed(headed) && !is_headed(off));
        note_plain(headed);
        note_plain(std::ptr::null_mut()); // no block: nothing to clear
    }

    #[test]
    fn addresses_past_the_bitmap_are_never_headed() {
        in_use();
        let far = std::ptr::without_provenance_mut(1 << ADDRESS_BITS);
        assert!(!mark(far));
        assert!(!is_headed(far));
        note_plain(far);
    }

    #[test]
    fn threads_marking_neighbours_in_one_word_keep_every_bit() {
        in_use();
        // Under Miri, a word and a half: enough to interleave, and quick.
        let (rounds, units) = if cfg!(miri) { (2, 96) } else { (200, 256) };
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for round in 0..rounds {
                        // Each thread owns every fourth unit of the same words.
                        for i in (t..units).step_by(4) {
                            let p = addr(5, i);
                            assert!(mark(p));
                            assert!(is_headed(p), "round {round}");
                        }
                        for i in (t..units).step_by(4) {
                            note_plain(addr(5, i));
                        }
                    }
                });
            }
        });
        assert!((0..units).all(|i| !is_headed(addr(5, i))));
    }
}
