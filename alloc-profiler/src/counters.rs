//! The exact global counters kept even without a session, striped across cache
//! lines by thread so that threads rarely write the same line.

use std::sync::atomic::{AtomicU64, Ordering};

const STRIPES: usize = 16;

#[repr(align(128))]
struct Stripe {
    allocations: AtomicU64,
    deallocations: AtomicU64,
    reallocations: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_deallocated: AtomicU64,
    failures: AtomicU64,
}

impl Stripe {
    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: Self = Self {
        allocations: AtomicU64::new(0),
        deallocations: AtomicU64::new(0),
        reallocations: AtomicU64::new(0),
        bytes_allocated: AtomicU64::new(0),
        bytes_deallocated: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    };
}

static STRIPES_: [Stripe; STRIPES] = [Stripe::ZERO; STRIPES];

#[inline]
fn stripe(thread: u32) -> &'static Stripe {
    &STRIPES_[thread as usize % STRIPES]
}

/// Counts a successful allocation.
#[inline]
pub fn on_alloc(thread: u32, size: usize) {
    let s = stripe(thread);
    s.allocations.fetch_add(1, Ordering::Relaxed);
    s.bytes_allocated.fetch_add(size as u64, Ordering::Relaxed);
}

/// Counts a deallocation.
#[inline]
pub fn on_dealloc(thread: u32, size: usize) {
    let s = stripe(thread);
    s.deallocations.fetch_add(1, Ordering::Relaxed);
    s.bytes_deallocated
        .fetch_add(size as u64, Ordering::Relaxed);
}

/// Counts a successful reallocation.
#[inline]
pub fn on_realloc(thread: u32, old: usize, new: usize) {
    let s = stripe(thread);
    s.reallocations.fetch_add(1, Ordering::Relaxed);
    s.bytes_allocated.fetch_add(new as u64, Ordering::Relaxed);
    s.bytes_deallocated.fetch_add(old as u64, Ordering::Relaxed);
}

/// Counts an allocation or reallocation the inner allocator refused.
#[inline]
pub fn on_failure(thread: u32) {
    stripe(thread).failures.fetch_add(1, Ordering::Relaxed);
}

/// Exact process-wide allocation counters since the program started, as
/// returned by [`stats`](crate::stats). The profiler's own allocations are not
/// included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalStats {
    /// `alloc` and `alloc_zeroed` calls that succeeded.
    pub allocations: u64,
    /// `dealloc` calls.
    pub deallocations: u64,
    /// `realloc` calls that succeeded.
    pub reallocations: u64,
    /// Bytes handed out: allocation sizes plus each reallocation's new size.
    pub bytes_allocated: u64,
    /// Bytes given back: deallocation sizes plus each reallocation's old size.
    pub bytes_deallocated: u64,
    /// Allocation and reallocation calls the inner allocator refused (null).
    pub failures: u64,
}

impl GlobalStats {
    /// Blocks currently live (allocations minus deallocations).
    #[must_use]
    pub fn live_blocks(&self) -> u64 {
        self.allocations.saturating_sub(self.deallocations)
    }

    /// Bytes currently live.
    #[must_use]
    pub fn live_bytes(&self) -> u64 {
        self.bytes_allocated.saturating_sub(self.bytes_deallocated)
    }
}

/// Sums the stripes.
pub fn read() -> GlobalStats {
    let mut g = GlobalStats::default();
    for s in &STRIPES_ {
        g.allocations += s.allocations.load(Ordering::Relaxed);
        g.deallocations += s.deallocations.load(Ordering::Relaxed);
        g.reallocations += s.reallocations.load(Ordering::Relaxed);
        g.bytes_allocated += s.bytes_allocated.load(Ordering::Relaxed);
        g.bytes_deallocated += s.bytes_deallocated.load(Ordering::Relaxed);
        g.failures += s.failures.load(Ordering::Relaxed);
    }
    g
}
