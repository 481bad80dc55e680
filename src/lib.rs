//! Examples and end-to-end tests for alloc-profiler; see the README.
