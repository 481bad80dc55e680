//! Blocks freed on another thread than the one that allocated them are
//! matched: they are not leaks and count as deallocations.

#![allow(clippy::vec_box)] // each box is one allocation on purpose

use std::alloc::System;
use std::hint::black_box;
use std::sync::mpsc;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

#[inline(never)]
fn produce(n: usize) -> Vec<Box<[u8; 64]>> {
    let boxes = (0..n).map(|_| black_box(Box::new([1u8; 64]))).collect();
    // Not a tail call: `produce` stays on the stack while `collect` allocates.
    black_box(boxes)
}

#[test]
fn frees_on_another_thread_are_matched() {
    let p = common::profile_of("cross_thread_free", || {
        let (tx, rx) = mpsc::sync_channel::<Box<[u8; 64]>>(0);
        let consumer =
            std::thread::spawn(move || rx.into_iter().map(|b| b[0] as usize).sum::<usize>());
        for b in produce(200) {
            tx.send(b).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), 200);
    });
    let blocks = common::sum_in(&p, "cross_thread_free::produce", |c| c.blocks);
    let live = common::sum_in(&p, "cross_thread_free::produce", |c| c.live_blocks);
    let freed = common::sum_in(&p, "cross_thread_free::produce", |c| c.freed_blocks);
    assert_eq!(blocks, 201, "200 boxes and the Vec that held them");
    assert_eq!(live, 0);
    assert_eq!(freed, 201);
    assert_eq!(p.untracked.deallocations, 0, "nothing freed was unknown");
    assert!(p.threads.len() >= 2, "both threads appear: {:?}", p.threads);
}
