//! Profiles written while other threads keep allocating: no deadlock, and
//! every one is a consistent snapshot (its totals equal the sum of its
//! callsites, which loading checks).

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

#[test]
fn snapshots_taken_under_load_are_consistent() {
    common::watchdog(300, "snapshot_concurrent");
    let stop = Arc::new(AtomicBool::new(false));
    let session = Session::builder()
        .output(common::temp_path("final.json"))
        .ring_capacity(256)
        .quiet()
        .start();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut held: Vec<Vec<u8>> = Vec::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let mut v = black_box(Vec::with_capacity(1 + i % 64));
                    v.extend(std::iter::repeat_n(t as u8, 1 + i % 200)); // reallocations
                    held.push(v);
                    if held.len() > 500 {
                        held.drain(..250);
                    }
                }
            })
        })
        .collect();
    let mut last = 0;
    for n in 0..12 {
        let path = common::temp_path(&format!("snap-{n}.json"));
        let summary = session.snapshot(&path).expect("snapshot");
        let p = common::load(&path); // validates that the figures add up
        assert_eq!(p.totals, summary.totals);
        assert!(p.totals.allocations >= last, "time moves forward");
        last = p.totals.allocations;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    session.finish().expect("final profile");
    common::load(&common::temp_path("final.json"));
    assert!(last > 0);
}
