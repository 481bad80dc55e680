//! The `GlobalAlloc` wrapper: forwards every call to the inner allocator's own
//! method (never emulating `realloc` or zeroing) and reports the event to the
//! recorder, which never panics, never unwinds and never calls back here.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::header::{self, Headed};
use crate::record::Kind;
use crate::recorder::{self, Home};

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

// SAFETY: every method returns what the inner allocator returned for the same
// arguments, or, during an exact session, a block `header::SIZE` bytes into
// what it returned for a layout that many bytes larger and aligned to 16 (a
// requested alignment is at most 16 there, so the block is as aligned as
// asked): a block of the requested layout either way. The bitmap of
// `header.rs` says which blocks are offset (a block's bit is set when it is
// made with a header, and cleared when a block without one is made at its
// address), so each goes back to the inner allocator exactly as it came. The
// recorder calls around it never unwind, never touch the program's bytes and
// never allocate through this allocator.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Profiler<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout`, and
        // `A::alloc` is the inner allocator's own method.
        unsafe { self.allocate(layout, Kind::Alloc, A::alloc) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`, with `alloc_zeroed`.
        unsafe { self.allocate(layout, Kind::AllocZeroed, A::alloc_zeroed) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The recorder runs before the inner call: once freed, the address
        // may be handed to another thread, whose allocation must not meet our
        // stale entry. (The block's bit stays set: whoever gets the address
        // next sets or clears it, `header::note_plain`.)
        if header::is_headed(ptr)
            && let Some(outer) = header::outer(layout)
        {
            // SAFETY: `ptr` is headed, and ours until the inner call below.
            recorder::on_dealloc(ptr, layout, Home::Header(unsafe { Headed::vouch() }));
            // SAFETY: `ptr` is headed, so the inner allocator allocated
            // `base_ptr(ptr)` with `outer` (the same computation on the same
            // layout, which the caller guarantees).
            unsafe { self.inner.dealloc(header::base_ptr(ptr), outer) };
            return;
        }
        recorder::on_dealloc(ptr, layout, Home::Table);
        // SAFETY: the caller guarantees ptr was allocated by this allocator
        // with `layout`, and it has no header, so by the inner one as it is.
        unsafe { self.inner.dealloc(ptr, layout) };
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if header::is_headed(ptr)
            && let Some(outer) = header::outer(layout)
        {
            // SAFETY: as in `dealloc`, and the caller's `realloc` contract.
            return unsafe { self.realloc_headed(ptr, layout, outer, new_size) };
        }
        let pending = recorder::realloc_begin(ptr, layout, new_size, Home::Table);
        // SAFETY: the caller upholds `realloc`'s contract for ptr, layout and
        // new_size; the inner allocator allocated ptr as it is.
        let new_ptr = unsafe { self.inner.realloc(ptr, layout, new_size) };
        header::note_plain(new_ptr);
        recorder::realloc_end(pending, ptr, new_ptr, layout, new_size, Home::Table);
        new_ptr
    }
}

impl<A: GlobalAlloc> Profiler<A> {
    /// `alloc` or `alloc_zeroed` (`kind`), through the inner allocator's
    /// method `inner_alloc`: with a header when the session wants one.
    ///
    /// # Safety
    /// The caller upholds `alloc`'s contract for `layout`, and `inner_alloc`
    /// is `A::alloc` or `A::alloc_zeroed`.
    #[inline(always)]
    unsafe fn allocate(
        &self,
        layout: Layout,
        kind: Kind,
        inner_alloc: unsafe fn(&A, Layout) -> *mut u8,
    ) -> *mut u8 {
        if let Some(outer) = recorder::header_layout(layout) {
            // SAFETY: `outer` is `layout` grown by the header, so non-zero.
            let base = unsafe { inner_alloc(&self.inner, outer) };
            // SAFETY: `base` is null or a fresh block of `outer`.
            if let Some(ptr) = unsafe { self.headed(base, outer, layout, kind) } {
                return ptr;
            }
        }
        // SAFETY: the caller's contract for `layout`.
        let ptr = unsafe { inner_alloc(&self.inner, layout) };
        header::note_plain(ptr);
        recorder::on_alloc(ptr, layout, kind, Home::Table);
        ptr
    }

    /// Makes the inner block `base` (of `outer`, for the program's `layout`) a
    /// headed block, or, when it is null or cannot be marked, gives it back
    /// and returns `None` (the caller allocates it plain).
    ///
    /// # Safety
    /// `base` must be null or a block the inner allocator just allocated
    /// with `outer`, which is `header::outer(layout)`.
    ///
    /// Out of line: only sessions that put headers come here, and the entry
    /// point's path for every other event stays short.
    #[inline(never)]
    unsafe fn headed(
        &self,
        base: *mut u8,
        outer: Layout,
        layout: Layout,
        kind: Kind,
    ) -> Option<*mut u8> {
        if base.is_null() {
            return None;
        }
        let ptr = header::inner_ptr(base);
        if !header::mark(ptr) {
            // SAFETY: allocated above with `outer`, never handed out.
            unsafe { self.inner.dealloc(base, outer) };
            return None;
        }
        // SAFETY: `ptr` is headed in the fresh block `base` of `outer`.
        unsafe { header::write(ptr, header::UNRECORDED) };
        // SAFETY: `ptr` was just made headed, its header written.
        recorder::on_alloc(ptr, layout, kind, Home::Header(unsafe { Headed::vouch() }));
        Some(ptr)
    }

    /// `realloc` of the headed block `ptr`: the inner block is reallocated
    /// with its header, which the new block keeps.
    ///
    /// # Safety
    /// `ptr` must be headed, `outer` be `header::outer(layout)`, and the
    /// caller uphold `realloc`'s contract.
    unsafe fn realloc_headed(
        &self,
        ptr: *mut u8,
        layout: Layout,
        outer: Layout,
        new_size: usize,
    ) -> *mut u8 {
        let new_layout = Layout::from_size_align(new_size, layout.align()).ok();
        let Some((new_layout, new_outer)) = new_layout.and_then(|l| Some((l, header::outer(l)?)))
        else {
            // No block of that size (with its header) can exist: as an
            // allocator that cannot satisfy it, leave the old block as it is.
            return std::ptr::null_mut();
        };
        // SAFETY: `ptr` is headed (the caller's contract), and allocated
        // until the inner call below.
        let headed = unsafe { Headed::vouch() };
        let pending = recorder::realloc_begin(ptr, layout, new_size, Home::Header(headed));
        // SAFETY: `ptr` is headed, so `base_ptr(ptr)` is the inner block of
        // `outer`; `new_outer.size()` is valid for its alignment.
        let base = unsafe {
            self.inner
                .realloc(header::base_ptr(ptr), outer, new_outer.size())
        };
        if base.is_null() {
            // The old block is untouched, header, bit and all.
            recorder::realloc_end(pending, ptr, base, layout, new_size, Home::Header(headed));
            return base;
        }
        let new_ptr = header::inner_ptr(base);
        if header::mark(new_ptr) {
            // SAFETY: `new_ptr` is headed in the live block `base`.
            unsafe { header::write(new_ptr, header::UNRECORDED) };
            // The new block is headed too (its header written just above).
            recorder::realloc_end(
                pending,
                ptr,
                new_ptr,
                layout,
                new_size,
                Home::Header(headed),
            );
            return new_ptr;
        }
        // The bitmap cannot hold the new address (beyond the bits it covers,
        // or no memory for a leaf): the block moves to a plain one.
        // SAFETY: `new_layout` has a non-zero size (`new_size` is one of
        // `realloc`'s sizes).
        let plain = unsafe { self.inner.alloc(new_layout) };
        if plain.is_null() {
            // Out of memory with a block we can neither mark nor move: the
            // program cannot go on correctly.
            std::process::abort();
        }
        header::note_plain(plain);
        // SAFETY: both blocks are live, distinct and at least `new_size`
        // bytes past `new_ptr` and `plain`.
        unsafe { std::ptr::copy_nonoverlapping(new_ptr, plain, new_size) };
        // SAFETY: `base` is the inner block of `new_outer`, no longer used.
        unsafe { self.inner.dealloc(base, new_outer) };
        recorder::realloc_end(pending, ptr, plain, layout, new_size, Home::Table);
        plain
    }
}
