//! Without `Profiler` as the global allocator, a session refuses to start
//! rather than silently recording nothing.

use alloc_profiler::{Error, Session};

#[test]
fn a_session_without_the_global_allocator_is_refused() {
    assert!(!alloc_profiler::is_installed());
    let err = Session::builder().try_start().expect_err("not installed");
    assert!(matches!(err, Error::NotInstalled));
    assert!(err.to_string().contains("#[global_allocator]"), "{err}");
    assert_eq!(alloc_profiler::stats().allocations, 0);
}
