//! Without `Profiler` as the global allocator, `measure` panics with how to
//! install it instead of reporting zeros that would make a test pass.

#[test]
fn measure_panics_with_install_instructions() {
    let err = std::panic::catch_unwind(|| alloc_profiler::measure(|| vec![1u8; 10]))
        .expect_err("not installed");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("not the global allocator"), "{msg}");
    assert!(msg.contains("#[global_allocator]"), "{msg}");
}

#[test]
fn forbid_alloc_panics_too() {
    assert!(std::panic::catch_unwind(|| alloc_profiler::forbid_alloc(|| 1)).is_err());
}
