//! Examples and end-to-end tests for the alloc-profiler workspace. The README
//! is included below so that its Rust examples are compiled and run as doc
//! tests: the front door cannot drift from the code.
#![doc = include_str!("../README.md")]
