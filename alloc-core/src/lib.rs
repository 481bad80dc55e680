//! The data model and every analysis of alloc-profiler.
//!
//! This crate is the one definition of the profile format ([`format`]) shared by
//! the profiler, which writes it, and `alloc-report`, which reads it. It is pure
//! safe Rust with no global state.
//!
//! ```
//! use alloc_core::load::parse_profile;
//!
//! let err = parse_profile(b"{\"hello\": 1}").unwrap_err();
//! assert!(err.to_string().contains("not an alloc-profiler profile"));
//! ```
#![forbid(unsafe_code)]

pub mod diff;
pub mod folded;
pub mod format;
pub mod hist;
pub mod histogram;
pub mod json;
pub mod leaks;
pub mod load;
pub mod metric;
pub mod names;
pub mod number;
pub mod summary;
pub mod testing;
pub mod top;

pub use format::{FORMAT_NAME, FORMAT_VERSION, Profile};
pub use load::{LoadError, parse_profile};
