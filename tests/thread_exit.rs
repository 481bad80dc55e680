//! Allocation and free in thread-local destructors, during thread exit, while
//! a session runs: no crash, no recursion, counts consistent.

use std::alloc::System;
use std::cell::RefCell;
use std::hint::black_box;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

struct AllocatesOnDrop(Vec<u8>);

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        let v: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        black_box(&v);
        self.0.clear();
        self.0.shrink_to_fit();
    }
}

thread_local! {
    static LOCAL: RefCell<AllocatesOnDrop> = const { RefCell::new(AllocatesOnDrop(Vec::new())) };
}

#[test]
fn tls_destructors_that_allocate_are_recorded_safely() {
    let p = common::profile_of("thread_exit", || {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                std::thread::spawn(move || {
                    LOCAL.with(|l| l.borrow_mut().0.extend(std::iter::repeat_n(t as u8, 1000)));
                    black_box(vec![t; 100]);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    // Every destructor ran and freed what it allocated.
    assert_eq!(common::sum_in(&p, "AllocatesOnDrop", |c| c.live_blocks), 0);
    assert!(common::sum_in(&p, "AllocatesOnDrop", |c| c.blocks) >= 16 * 50);
}
