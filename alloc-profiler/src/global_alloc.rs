//! The `GlobalAlloc` wrapper: forwards every call to the inner allocator's own
//! method (never emulating `realloc` or zeroing) and reports the event to the
//! recorder, which never panics, never unwinds and never calls back here.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::record::Kind;
use crate::recorder;

/// A global allocator that profiles the allocator it wraps.
///
/// ```
/// use alloc_profiler::Profiler;
/// use std::alloc::System;
///
/// #[global_allocator]
/// static ALLOC: Profiler<System> = Profiler::new(System);
/// # fn main() {}
/// ```
#[derive(Debug, Default)]
pub struct Profiler<A = System> {
    inner: A,
}

impl<A> Profiler<A> {
    /// Wraps `inner`; any `GlobalAlloc` works (System, jemalloc, mimalloc, …).
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method returns exactly what the inner allocator returned for
// the same arguments, so `Profiler` upholds the `GlobalAlloc` contract exactly
// when `A` does. The recorder calls around it never unwind, never touch the
// block's memory and never allocate through this allocator.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Profiler<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        let ptr = unsafe { self.inner.alloc(layout) };
        recorder::on_alloc(ptr, layout, Kind::Alloc);
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc_zeroed`'s contract for `layout`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        recorder::on_alloc(ptr, layout, Kind::AllocZeroed);
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Before the inner call: once freed, the address may be handed to
        // another thread, whose allocation must not meet our stale entry.
        recorder::on_dealloc(ptr, layout);
        // SAFETY: the caller guarantees ptr was allocated by this allocator
        // (hence by the inner one) with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) };
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let pending = recorder::realloc_begin(ptr, new_size);
        // SAFETY: the caller upholds `realloc`'s contract for ptr, layout and
        // new_size; the inner allocator allocated ptr.
        let new_ptr = unsafe { self.inner.realloc(ptr, layout, new_size) };
        recorder::realloc_end(pending, ptr, new_ptr, layout, new_size);
        new_ptr
    }
}
