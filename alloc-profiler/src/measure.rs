//! Per-thread counting for `measure` scopes: plain cells in the thread's state,
//! updated on the allocation path only while the thread is inside a scope.

use std::cell::Cell;

/// Counters a thread keeps while it is being measured.
pub struct ThreadCounters {
    /// Nesting depth of measure scopes on this thread (0: not measuring).
    pub depth: Cell<u32>,
    /// `alloc` and `alloc_zeroed` calls.
    pub allocations: Cell<u64>,
    /// `dealloc` calls.
    pub deallocations: Cell<u64>,
    /// `realloc` calls.
    pub reallocations: Cell<u64>,
    /// Bytes handed out (allocation sizes and reallocation new sizes).
    pub bytes_allocated: Cell<u64>,
    /// Bytes given back (deallocation sizes and reallocation old sizes).
    pub bytes_deallocated: Cell<u64>,
    /// Highest `bytes_allocated - bytes_deallocated` since the innermost scope began.
    pub peak_net: Cell<i64>,
}

impl ThreadCounters {
    /// All zero, not measuring.
    pub const fn new() -> Self {
        Self {
            depth: Cell::new(0),
            allocations: Cell::new(0),
            deallocations: Cell::new(0),
            reallocations: Cell::new(0),
            bytes_allocated: Cell::new(0),
            bytes_deallocated: Cell::new(0),
            peak_net: Cell::new(0),
        }
    }

    /// Net bytes this thread has allocated while measured.
    #[inline]
    pub fn net(&self) -> i64 {
        self.bytes_allocated
            .get()
            .wrapping_sub(self.bytes_deallocated.get()) as i64
    }

    #[inline]
    fn bump_peak(&self) {
        let net = self.net();
        if net > self.peak_net.get() {
            self.peak_net.set(net);
        }
    }

    /// Counts an allocation of `size` bytes.
    #[inline]
    pub fn on_alloc(&self, size: usize) {
        self.allocations.set(self.allocations.get().wrapping_add(1));
        self.bytes_allocated
            .set(self.bytes_allocated.get().wrapping_add(size as u64));
        self.bump_peak();
    }

    /// Counts a deallocation of `size` bytes.
    #[inline]
    pub fn on_dealloc(&self, size: usize) {
        self.deallocations
            .set(self.deallocations.get().wrapping_add(1));
        self.bytes_deallocated
            .set(self.bytes_deallocated.get().wrapping_add(size as u64));
    }

    /// Counts a reallocation from `old` to `new` bytes.
    #[inline]
    pub fn on_realloc(&self, old: usize, new: usize) {
        self.reallocations
            .set(self.reallocations.get().wrapping_add(1));
        self.bytes_deallocated
            .set(self.bytes_deallocated.get().wrapping_add(old as u64));
        self.bytes_allocated
            .set(self.bytes_allocated.get().wrapping_add(new as u64));
        self.bump_peak();
    }
}

impl Default for ThreadCounters {
    fn default() -> Self {
        Self::new()
    }
}
