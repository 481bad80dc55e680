//! A host program that itself hammers parking_lot and std locks from 8
//! threads while allocating, during a session, finishes (dhat-rs deadlocked
//! here: its issues 18 and 25). A watchdog aborts the process if it hangs.

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;

use alloc_profiler::Profiler;
use parking_lot::{Mutex, RwLock};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

#[test]
fn parking_lot_heavy_host_finishes() {
    common::watchdog(120, "parking_lot_host");
    let shared = Arc::new(Mutex::new(Vec::<String>::new()));
    let table = Arc::new(RwLock::new(std::collections::HashMap::<u64, Vec<u8>>::new()));
    let std_log = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let std_map = Arc::new(std::sync::RwLock::new(std::collections::BTreeMap::<
        u64,
        String,
    >::new()));
    let p = common::profile_of("parking_lot_host", || {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let shared = Arc::clone(&shared);
                let table = Arc::clone(&table);
                let std_log = Arc::clone(&std_log);
                let std_map = Arc::clone(&std_map);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        // Allocate while holding the lock, and contend for it:
                        // parking_lot parks contended threads.
                        let mut v = shared.lock();
                        v.push(black_box(format!("{t}:{i}")));
                        if v.len() > 64 {
                            v.clear();
                            v.shrink_to_fit();
                        }
                        drop(v);
                        // std's futex locks, allocating while held, too.
                        if i % 3 == 0 {
                            let mut log = std_log.lock().unwrap();
                            log.push(black_box(vec![t as u8; (i % 64) as usize + 1]));
                            if log.len() > 128 {
                                log.clear();
                            }
                        } else if i % 5 == 0 {
                            std_map.write().unwrap().insert(i % 256, format!("{t}"));
                        } else {
                            black_box(std_map.read().unwrap().get(&(i % 256)).map(String::len));
                        }
                        if i % 8 == 0 {
                            table
                                .write()
                                .insert(i % 512, vec![t as u8; (i % 300) as usize + 1]);
                        } else {
                            black_box(table.read().get(&(i % 512)).map(Vec::len));
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert!(p.totals.allocations >= 8 * 20_000);
}
