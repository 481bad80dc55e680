//! A heap profiler for Rust programs: install it as the global allocator and it
//! records every allocation by callsite, exactly, with the peak, the leaks, the
//! size/alignment/lifetime histograms and a heap timeline, then writes a JSON
//! profile that `alloc-report` turns into reports and flamegraphs.
//!
//! # Setup
//!
//! ```no_run
//! use alloc_profiler::{Profiler, Session};
//! use std::alloc::System;
//!
//! #[global_allocator]
//! static ALLOC: Profiler<System> = Profiler::new(System); // any GlobalAlloc works
//!
//! fn main() {
//!     let session = Session::builder().output("alloc-profile.json").start();
//!     let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
//!     drop(v);
//!     session.finish().unwrap(); // dropping the session writes it too
//! }
//! ```
//!
//! When the profile is written, one line goes to stderr:
//!
//! ```text
//! alloc-profiler: wrote alloc-profile.json: 101 allocations, 0 reallocations, 4200 bytes at peak, 0 blocks (0 bytes) live at the end from 0 callsites
//! ```
//!
//! Without a session the wrapper only keeps exact global counters
//! ([`stats`]). A program that installs the wrapper can also be profiled with
//! no code change: run it with `ALLOC_PROFILER=path.json` in the environment and
//! a session starts with the first allocation and is written at exit.
//!
//! # Asserting allocations in tests
//!
//! [`measure`] counts what the calling thread allocates while a closure runs;
//! [`forbid_alloc`] fails a test when a hot path allocates at all:
//!
//! ```
//! use alloc_profiler::{forbid_alloc, measure, Profiler};
//! use std::alloc::System;
//!
//! #[global_allocator] // in the test file: each tests/*.rs is its own program
//! static ALLOC: Profiler<System> = Profiler::new(System);
//!
//! fn parse(line: &str) -> Vec<&str> {
//!     line.split(',').collect()
//! }
//!
//! # fn main() {
//! let (fields, stats) = measure(|| parse("a,b,c"));
//! assert_eq!(fields, ["a", "b", "c"]);
//! stats.assert_at_most_allocations(1).assert_at_most_reallocations(0);
//!
//! let total = forbid_alloc(|| fields.iter().map(|f| f.len()).sum::<usize>());
//! assert_eq!(total, 3);
//!
//! drop(fields);
//! # }
//! ```
//!
//! Counts are exact and per thread, so they hold under parallel `cargo test`
//! and with background threads allocating. Scopes nest. Work on threads the
//! code spawns counts when their closures are wrapped in [`follow`]. A failed
//! assertion, or `forbid_alloc`, names the function and `file:line` of the
//! callsites (the first user frame of each stack).
//!
//! # What counts as what
//!
//! `alloc` and `alloc_zeroed` are allocations; a `realloc` is one reallocation,
//! never an allocation plus a deallocation. A block belongs to the callsite of
//! its latest allocation or reallocation. `docs/format.md` describes every field
//! of the profile.
//!
//! # Stack capture
//!
//! Build with `RUSTFLAGS="-C force-frame-pointers=yes"` (or the same in
//! `.cargo/config.toml`): stacks are then captured by walking frame pointers,
//! which costs little. Without frame pointers the profiler notices at session
//! start and falls back to the system unwinder, which is correct but many times
//! slower; the profile's `meta.capture` says which was used.
//!
//! # Guarantees
//!
//! The allocator methods never panic or unwind, never hold a profiler lock
//! while calling the inner allocator, and take no lock that can allocate or
//! park. The profiler's own allocations are never recorded. If its bookkeeping
//! runs out of memory, the program's allocation still succeeds and the profile
//! counts what could not be tracked.

mod biased;
mod capture;
mod clock;
mod counters;
mod dump;
mod env_session;
mod figures;
mod fork;
mod global_alloc;
mod header;
mod heap;
mod live_table;
mod measure;
mod os_mem;
mod record;
mod recorder;
mod sampling;
mod session;
mod spin;
mod stack_hash;
mod stack_table;
mod strata;
mod symbolize;
mod thread;

use std::sync::atomic::{AtomicBool, Ordering};

pub use alloc_core::format::Totals;
pub use capture::CaptureMethod;
pub use counters::GlobalStats;
pub use global_alloc::Profiler;
pub use measure::{AllocStats, CallsiteStats, follow, forbid_alloc, measure};
pub use session::{Error, Session, SessionBuilder, Summary};

/// Exact counts of every allocator call since the program started, kept even
/// without a session. All zero when [`Profiler`] is not the global allocator.
///
/// ```
/// let s = alloc_profiler::stats();
/// assert!(s.allocations >= s.deallocations || s.allocations == 0);
/// ```
#[must_use]
pub fn stats() -> GlobalStats {
    counters::read()
}

pub(crate) const NOT_INSTALLED: &str = "alloc_profiler::Profiler is not the global allocator; add \
     `#[global_allocator] static ALLOC: alloc_profiler::Profiler<std::alloc::System> = \
     alloc_profiler::Profiler::new(std::alloc::System);` to your program (in a test, to the test file)";

/// Hooks for this crate's own tests. Not part of the API.
#[doc(hidden)]
pub mod __test_hooks {
    /// Makes the bookkeeping of the next recorded event panic.
    pub fn panic_in_next_bookkeeping() {
        crate::recorder::INJECT_PANIC.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// True when [`Profiler`] is the program's global allocator.
#[must_use]
pub fn is_installed() -> bool {
    static SEEN: AtomicBool = AtomicBool::new(false);
    if SEEN.load(Ordering::Relaxed) {
        return true;
    }
    let before = counters::read().allocations;
    drop(std::hint::black_box(Box::new(std::hint::black_box(0u64))));
    let installed = counters::read().allocations != before;
    if installed {
        SEEN.store(true, Ordering::Relaxed);
    }
    installed
}
