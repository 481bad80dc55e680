//! More threads than the profiler has records (256), all allocating at
//! once while another thread keeps taking snapshots: threads that share a
//! record take its lock from its owner (the bias, see `biased.rs`, is
//! revoked), the snapshots take every record from their owners, and every
//! count stays exact.

use std::alloc::System;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

const THREADS: usize = 300;
const ROUNDS: u64 = 1_000;
const SIZE: u64 = 48;

#[inline(never)]
fn shared_work(rounds: u64) {
    for i in 0..rounds {
        let b = black_box(Box::new([i as u8; SIZE as usize]));
        drop(b);
    }
}

#[test]
fn threads_beyond_the_pool_share_records_exactly() {
    common::watchdog(300, "shared_records");
    let path = common::temp_path("shared.json");
    let session = Session::builder().output(&path).quiet().start();
    let start = Arc::new(Barrier::new(THREADS));
    let stop = AtomicBool::new(false);
    let taken = std::thread::scope(|scope| {
        let snapshots = scope.spawn(|| {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let snap = common::temp_path(&format!("snap-{}.json", n % 2));
                session.snapshot(&snap).expect("snapshot");
                n += 1;
            }
            n
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    // All alive at once, so that threads meeting in one
                    // record really do take turns.
                    start.wait();
                    shared_work(ROUNDS);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        snapshots.join().unwrap()
    });
    session.finish().expect("final profile");
    let p = common::load(&path);
    assert_eq!(p.bookkeeping.internal_errors, 0);
    let n = THREADS as u64 * ROUNDS;
    assert_eq!(common::sum_in(&p, "shared_work", |c| c.blocks), n);
    assert_eq!(common::sum_in(&p, "shared_work", |c| c.bytes), n * SIZE);
    assert_eq!(common::sum_in(&p, "shared_work", |c| c.freed_blocks), n);
    assert_eq!(common::sum_in(&p, "shared_work", |c| c.live_blocks), 0);
    assert!(taken > 0, "snapshots were taken while the threads ran");
}
