//! A leak is reported at the function and line that made it.

use std::alloc::System;
use std::hint::black_box;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Process-wide figures are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    the_leaking_function_and_line_are_named();
    println!("leak_found: 1 passed, 0 failed");
}

#[inline(never)]
fn remember_forever(n: usize) -> u32 {
    let line = line!() + 2;
    for i in 0..n {
        std::mem::forget(black_box(vec![i as u8; 40]));
    }
    line
}

#[inline(never)]
fn tidy(n: usize) {
    for i in 0..n {
        drop(black_box(vec![i as u8; 40]));
    }
}

fn the_leaking_function_and_line_are_named() {
    let mut leak_line = 0;
    let p = common::profile_of("leak_found", || {
        leak_line = remember_forever(25);
        tidy(25);
    });
    let leaks: Vec<_> = p.callsites.iter().filter(|c| c.live_blocks > 0).collect();
    // `vec![0; n]` allocates zeroed memory through another path than
    // `vec![i; n]`: one user line, two distinct stacks.
    assert!(!leaks.is_empty());
    for leak in &leaks {
        assert!(common::functions(&p, leak).contains(&"leak_found::remember_forever"));
    }
    let live: (u64, u64) = leaks
        .iter()
        .fold((0, 0), |a, c| (a.0 + c.live_blocks, a.1 + c.live_bytes));
    assert_eq!(live, (25, 1000));
    let leak = leaks.iter().max_by_key(|c| c.live_blocks).unwrap();
    let stack = &p.stacks[leak.stack as usize].frames;
    let user = stack
        .iter()
        .map(|&f| &p.frames[f as usize])
        .find(|f| f.function.contains("remember_forever"))
        .expect("remember_forever in the leak's stack");
    assert_eq!(user.function, "leak_found::remember_forever");
    assert_eq!(user.line, Some(leak_line));
    assert!(
        user.file
            .as_deref()
            .unwrap()
            .ends_with("tests/leak_found.rs")
    );
    // Plumbing is trimmed: the stack starts at the allocating API, not in the
    // profiler or __rust_alloc.
    let first = &p.frames[stack[0] as usize].function;
    assert!(
        !first.contains("alloc_profiler") && !first.contains("__rust_alloc"),
        "{first}"
    );
    assert_eq!(common::sum_in(&p, "leak_found::tidy", |c| c.live_blocks), 0);
}
