//! Which frames of a captured stack are worth keeping, shared by the profiler
//! (which trims stacks when it writes a profile) and the reports.
//!
//! A raw stack, innermost first, starts inside the profiler and the
//! allocator machinery and ends in the Rust runtime's start-up code. What is
//! kept runs from the first frame after the allocator entry and its plumbing
//! to the frame before `__rust_begin_short_backtrace`.
//!
//! ```
//! use alloc_core::trim::{keep_range, FrameKind};
//! let stack = [
//!     "<alloc_profiler::global_alloc::Profiler<A> as core::alloc::global::GlobalAlloc>::alloc",
//!     "__rustc::__rust_alloc",
//!     "alloc::raw_vec::RawVecInner<A>::grow_one",
//!     "alloc::vec::Vec<T,A>::push",
//!     "app::load",
//!     "app::main",
//!     "std::sys::backtrace::__rust_begin_short_backtrace::<fn(), ()>",
//!     "std::rt::lang_start_internal",
//! ];
//! let keep = keep_range(&stack, |f| FrameKind::of(f));
//! assert_eq!(&stack[keep], ["alloc::vec::Vec<T,A>::push", "app::load", "app::main"]);
//! ```

use crate::names::is_plumbing;

/// True for the compiler-generated allocator shims (`__rust_alloc`,
/// `__rust_realloc`, …, and the `__rdl_`/`__rg_` functions behind them), but
/// not for other `__rust_` symbols such as `__rust_try`.
#[must_use]
pub fn is_allocator_shim(function: &str) -> bool {
    let f = function.strip_prefix("__rustc::").unwrap_or(function);
    [
        "__rust_alloc",
        "__rust_realloc",
        "__rust_dealloc",
        "__rdl_",
        "__rg_",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// True for the frames through which every allocation enters the profiler:
/// the allocator shims and the `GlobalAlloc` methods of `alloc_profiler`'s
/// `Profiler`. Everything innermost of the last such frame is the profiler's.
#[must_use]
pub fn is_allocator_entry(function: &str) -> bool {
    is_allocator_shim(function)
        || (function.starts_with("<alloc_profiler::")
            && function.contains("Profiler<")
            && function.contains(" as core::alloc::global::GlobalAlloc>::"))
}

/// True for the frame below which (towards the root) only the Rust runtime's
/// start-up or thread-spawn machinery lies, with or without generic arguments.
#[must_use]
pub fn is_runtime_boundary(function: &str) -> bool {
    function.contains("__rust_begin_short_backtrace")
}

/// What trimming needs to know of a frame; compute it once per distinct frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameKind {
    /// An allocator entry ([`is_allocator_entry`]).
    pub entry: bool,
    /// Allocator plumbing ([`is_plumbing`]).
    pub plumbing: bool,
    /// The runtime boundary ([`is_runtime_boundary`]).
    pub boundary: bool,
}

impl FrameKind {
    /// Classifies a function name.
    #[must_use]
    pub fn of(function: &str) -> Self {
        Self {
            entry: is_allocator_entry(function),
            plumbing: is_plumbing(function),
            boundary: is_runtime_boundary(function),
        }
    }
}

/// The part of a stack (innermost first) worth keeping: after the outermost
/// allocator entry frame and the plumbing that follows it (keeping at least
/// one frame), and before the runtime boundary.
pub fn keep_range<T>(frames: &[T], kind: impl Fn(&T) -> FrameKind) -> std::ops::Range<usize> {
    let mut end = frames.len();
    if let Some(cut) = frames.iter().position(|f| kind(f).boundary)
        && cut > 0
    {
        end = cut;
    }
    let mut start = 0;
    if let Some(entry) = frames[..end].iter().rposition(|f| kind(f).entry)
        && entry + 1 < end
    {
        start = entry + 1;
    }
    let lead = frames[start..end]
        .iter()
        .take_while(|f| kind(f).plumbing)
        .count();
    start += lead.min((end - start).saturating_sub(1));
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept<'a>(stack: &[&'a str]) -> Vec<&'a str> {
        stack[keep_range(stack, |f| FrameKind::of(f))].to_vec()
    }

    #[test]
    fn trims_the_profiler_plumbing_and_the_runtime() {
        let stack = [
            "alloc_profiler::capture::walk_frame_pointers",
            "alloc_profiler::recorder::realloc_take",
            "std::thread::local::LocalKey<T>::try_with",
            "alloc_profiler::thread::enter",
            "<alloc_profiler::global_alloc::Profiler<A> as core::alloc::global::GlobalAlloc>::realloc",
            "__rustc::__rust_realloc",
            "<alloc::alloc::Global>::grow_impl",
            "<alloc::alloc::Global as core::alloc::Allocator>::grow",
            "<alloc::raw_vec::RawVecInner>::finish_grow",
            "alloc::raw_vec::RawVecInner<A>::grow_one",
            "alloc::vec::Vec<T,A>::push",
            "leaky::build_index",
            "leaky::main",
            "core::ops::function::FnOnce::call_once",
            "std::sys::backtrace::__rust_begin_short_backtrace",
            "std::rt::lang_start::{{closure}}",
            "main",
        ];
        assert_eq!(
            kept(&stack),
            [
                "alloc::vec::Vec<T,A>::push",
                "leaky::build_index",
                "leaky::main",
                "core::ops::function::FnOnce::call_once"
            ]
        );
    }

    #[test]
    fn catch_unwind_frames_are_not_allocator_entries() {
        let stack = [
            "__rustc::__rust_alloc",
            "<alloc::vec::Vec<u8>>::with_capacity_in",
            "app::inner",
            "__rust_try",
            "std::panicking::catch_unwind",
            "app::outer",
            "test::__rust_begin_short_backtrace::<fn(), ()>",
            "test::run_test",
        ];
        assert_eq!(
            kept(&stack),
            [
                "<alloc::vec::Vec<u8>>::with_capacity_in",
                "app::inner",
                "__rust_try",
                "std::panicking::catch_unwind",
                "app::outer"
            ]
        );
    }

    #[test]
    fn a_stack_of_only_plumbing_keeps_one_frame() {
        assert_eq!(kept(&["__rust_alloc", "alloc::alloc::alloc"]).len(), 1);
    }

    #[test]
    fn user_crates_with_similar_names_are_kept() {
        assert!(!is_plumbing("alloc_profiler_suite::helper"));
        assert!(!is_plumbing("my_alloc::alloc::thing"));
        assert!(is_plumbing("alloc_profiler::measure"));
        assert!(!is_allocator_entry("__rust_try"));
        assert!(is_allocator_entry("__rustc::__rust_alloc_zeroed"));
    }
}
