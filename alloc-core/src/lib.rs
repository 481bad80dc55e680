//! The data model and every analysis of alloc-profiler.
//!
//! This crate is the one definition of the profile format ([`format`](mod@format)) shared by
//! the profiler, which writes it, and `alloc-report`, which reads it, and it holds
//! every analysis the reports show. It is pure safe Rust with no global state.
//!
//! * Reading: [`load::parse_profile`] checks and parses a profile's bytes.
//! * Analyses, one module per report, each with an options struct (`Default`
//!   gives the CLI's defaults): [`summary`], [`top`], [`leaks`], [`hist`],
//!   [`folded`] (collapsed stacks for flamegraphs) and [`diff`]; [`metric`] says
//!   what they rank by.
//! * Presentation helpers: [`names`] (the first frame of the user's code,
//!   allocator plumbing, Rust names shortened whole-word) and [`number`]
//!   (`1.2 MiB`, `12,345`).
//! * [`margin`]: how far a sampled profile's estimates may be from the exact
//!   figures.
//! * [`export`]: the profile in other tools' formats: DHAT's viewer, pprof,
//!   speedscope.
//! * [`json`]: the documented `--json` shapes of `alloc-report`.
//! * [`testing`]: a builder of consistent synthetic profiles for tests.
//!
//! ```
//! use alloc_core::leaks::{leaks, LeakOptions};
//! use alloc_core::testing::ProfileBuilder;
//!
//! let mut b = ProfileBuilder::new("/bin/demo");
//! b.site(&[("alloc::vec::Vec<T,A>::push", "", 0), ("demo::cache_forever", "src/main.rs", 12)], |c| {
//!     c.blocks = 3; c.bytes = 96; c.live_blocks = 3; c.live_bytes = 96;
//!     c.peak_blocks = 3; c.peak_bytes = 96;
//! });
//! let profile = b.build();
//! let found = leaks(&profile, &LeakOptions::default());
//! let g = found.groups[0];
//! let named_by = &profile.frames[profile.stacks[g.stack as usize].frames[g.user_frame] as usize];
//! assert_eq!((named_by.function.as_str(), named_by.line), ("demo::cache_forever", Some(12)));
//! ```
//!
//! ```
//! use alloc_core::load::parse_profile;
//!
//! let err = parse_profile(b"{\"hello\": 1}").unwrap_err();
//! assert!(err.to_string().contains("not an alloc-profiler profile"));
//! ```
#![forbid(unsafe_code)]

pub mod calibrate;
pub mod diff;
pub mod export;
pub mod folded;
pub mod format;
pub mod hist;
pub mod histogram;
pub mod json;
pub mod leaks;
pub mod load;
pub mod margin;
pub mod metric;
pub mod names;
pub mod number;
pub mod summary;
pub mod testing;
pub mod top;
pub mod trim;
mod validate;

pub use format::{FORMAT_NAME, FORMAT_VERSION, Profile};
pub use load::{LoadError, parse_profile};
