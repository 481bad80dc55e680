//! `measure` counts exactly what the calling thread allocates, while the test
//! harness runs these tests in parallel and background threads allocate all the
//! while; measures nest; `forbid_alloc` names the offending callsite; `follow`
//! counts spawned threads.

#![allow(clippy::vec_box)] // each box is one allocation on purpose

use std::alloc::System;
use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use alloc_profiler::{AllocStats, Profiler, follow, forbid_alloc, measure};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

static BACKGROUND_WORK: AtomicU64 = AtomicU64::new(0);

/// Threads that allocate and free for as long as the test binary runs.
fn background_noise() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        for t in 0..3 {
            std::thread::spawn(move || {
                loop {
                    let v: Vec<String> = (0..64).map(|i| format!("{t}-{i}")).collect();
                    black_box(&v);
                    BACKGROUND_WORK.fetch_add(1, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            });
        }
    });
    while BACKGROUND_WORK.load(Ordering::Relaxed) < 10 {
        std::thread::yield_now();
    }
}

#[inline(never)]
fn make_boxes(n: usize) -> Vec<Box<u64>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push(black_box(Box::new(i as u64)));
    }
    v
}

fn exact_workload(n: usize) -> AllocStats {
    let ((), stats) = measure(|| drop(black_box(make_boxes(n))));
    stats
}

macro_rules! parallel_exact_test {
    ($name:ident, $n:expr) => {
        #[test]
        fn $name() {
            background_noise();
            for _ in 0..200 {
                let s = exact_workload($n);
                assert_eq!(s.allocations, $n + 1, "{s:?}");
                assert_eq!(s.deallocations, $n + 1, "{s:?}");
                assert_eq!(s.reallocations, 0, "{s:?}");
                assert_eq!(s.bytes_allocated, ($n * 8 + $n * 8) as u64, "{s:?}");
                assert_eq!(s.bytes_deallocated, s.bytes_allocated);
                assert_eq!(
                    s.peak_bytes, s.bytes_allocated,
                    "all live at once before the drop"
                );
                s.assert_nothing_left();
            }
        }
    };
}

parallel_exact_test!(exact_in_parallel_1, 1);
parallel_exact_test!(exact_in_parallel_7, 7);
parallel_exact_test!(exact_in_parallel_50, 50);
parallel_exact_test!(exact_in_parallel_100, 100);
parallel_exact_test!(exact_in_parallel_333, 333);

#[test]
fn realloc_is_one_reallocation() {
    background_noise();
    let ((), s) = measure(|| {
        let mut v: Vec<u8> = Vec::with_capacity(1);
        v.reserve_exact(10);
        v.reserve_exact(100);
        black_box(&v);
    });
    assert_eq!(
        (s.allocations, s.reallocations, s.deallocations),
        (1, 2, 1),
        "{s:?}"
    );
    assert_eq!(s.bytes_allocated, 1 + 10 + 100);
    assert_eq!(s.bytes_deallocated, 1 + 10 + 100);
    assert_eq!(s.peak_bytes, 100);
}

#[test]
fn zeroed_allocations_count_as_allocations() {
    let ((), s) = measure(|| drop(black_box(vec![0u8; 4096])));
    assert_eq!((s.allocations, s.deallocations), (1, 1));
}

#[test]
fn measures_nest_without_disturbing_each_other() {
    background_noise();
    let (inner, outer) = measure(|| {
        let a = black_box(Box::new([0u8; 100]));
        let ((), inner) = measure(|| drop(black_box(Box::new([0u8; 1000]))));
        drop(a);
        let kept = black_box(Box::new(1u32));
        std::mem::forget(kept);
        inner
    });
    assert_eq!(
        (inner.allocations, inner.bytes_allocated, inner.peak_bytes),
        (1, 1000, 1000)
    );
    assert_eq!(outer.allocations, 3, "the outer scope includes the inner");
    assert_eq!(outer.deallocations, 2);
    assert_eq!(outer.bytes_allocated, 100 + 1000 + 4);
    assert_eq!(
        outer.peak_bytes, 1100,
        "100 held while the inner scope held 1000"
    );
    assert_eq!(outer.net_blocks(), 1);
    // And an empty scope is empty, inside or outside another.
    let ((), empty) = measure(|| {});
    assert_eq!(empty, measure(|| {}).1);
    assert_eq!(
        empty.allocations + empty.deallocations + empty.bytes_allocated,
        0
    );
}

#[test]
fn a_panic_inside_a_measure_leaves_the_thread_clean() {
    let r = std::panic::catch_unwind(|| {
        measure(|| {
            black_box(vec![1u8; 10]);
            panic!("inside");
        })
    });
    assert!(r.is_err());
    let ((), s) = measure(|| drop(black_box(Box::new(1u8))));
    assert_eq!((s.allocations, s.deallocations), (1, 1));
}

#[inline(never)]
fn sum_without_allocating(data: &[u32]) -> u32 {
    data.iter().sum()
}

#[inline(never)]
fn sneaky_allocation(data: &[u32]) -> u32 {
    let copy: Vec<u32> = data.to_vec();
    black_box(copy).iter().sum()
}

#[test]
fn forbid_alloc_returns_the_value_when_nothing_allocates() {
    let data = [1u32, 2, 3];
    assert_eq!(forbid_alloc(|| sum_without_allocating(&data)), 6);
}

#[test]
fn forbid_alloc_panics_after_the_closure_naming_the_function_and_line() {
    let data = [1u32, 2, 3];
    let mut returned = false;
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        forbid_alloc(|| {
            let s = sneaky_allocation(&data);
            returned = true;
            s
        })
    }))
    .expect_err("an allocation is forbidden");
    assert!(returned, "the closure ran to its end before the panic");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("forbid_alloc: the closure allocated 1 time"),
        "{msg}"
    );
    assert!(
        msg.contains("the first at measure::sneaky_allocation (")
            && msg.contains("tests/measure.rs:"),
        "{msg}"
    );
}

#[test]
fn followed_threads_are_counted_with_thread_scope() {
    background_noise();
    let ((), s) = measure(|| {
        std::thread::scope(|scope| {
            for n in [10usize, 20, 30] {
                scope.spawn(follow(move || drop(black_box(make_boxes(n)))));
            }
            // A thread that is not followed is not counted.
            scope.spawn(|| drop(black_box(make_boxes(1000))));
        });
    });
    // The followed threads' 60 boxes and 3 vectors, plus what spawning
    // allocates on this thread (a few blocks per thread; which thread frees
    // them depends on timing inside std).
    assert!(s.allocations >= 63 && s.allocations < 63 + 4 * 8, "{s:?}");
    assert!(s.bytes_allocated >= 960, "{s:?}");
    assert!(s.deallocations >= 63, "{s:?}");
}

type Job = Box<dyn FnOnce() + Send>;

/// Three pre-spawned workers, each polling its own slot for a job. Handing a
/// job over and waiting for it use only a mutex and atomics, which allocate
/// nothing, so the only allocations are the jobs' boxes and their work.
struct Workers {
    slots: Vec<std::sync::Arc<(std::sync::Mutex<Option<Job>>, std::sync::atomic::AtomicBool)>>,
}

impl Workers {
    fn start() -> Self {
        let slots: Vec<_> = (0..3)
            .map(|_| {
                std::sync::Arc::new((
                    std::sync::Mutex::new(None::<Job>),
                    std::sync::atomic::AtomicBool::new(false),
                ))
            })
            .collect();
        for slot in &slots {
            let slot = std::sync::Arc::clone(slot);
            std::thread::spawn(move || {
                loop {
                    let job = slot.0.lock().unwrap().take();
                    match job {
                        Some(job) => {
                            job();
                            slot.1.store(true, Ordering::Release);
                        }
                        None => std::thread::yield_now(),
                    }
                }
            });
        }
        Self { slots }
    }

    /// Runs `scale * (10, 20, 30)` boxes on the workers inside a measure,
    /// each job wrapped in `follow`.
    fn run(&self, scale: usize) -> AllocStats {
        measure(|| {
            for (slot, n) in self.slots.iter().zip([10usize, 20, 30]) {
                slot.1.store(false, Ordering::Relaxed);
                let job: Job = Box::new(follow(move || drop(black_box(make_boxes(n * scale)))));
                *slot.0.lock().unwrap() = Some(job);
            }
            for slot in &self.slots {
                while !slot.1.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            }
        })
        .1
    }
}

#[test]
fn followed_work_is_counted_exactly() {
    background_noise();
    let workers = Workers::start();
    for _ in 0..20 {
        let with_work = workers.run(1);
        let without = workers.run(0);
        assert_eq!(without.allocations, 3, "the three boxed jobs: {without:?}");
        assert_eq!(
            with_work.allocations - without.allocations,
            63,
            "60 boxes and 3 vectors"
        );
        assert_eq!(with_work.deallocations - without.deallocations, 63);
        assert_eq!(with_work.bytes_allocated - without.bytes_allocated, 960);
        assert_eq!(with_work.bytes_deallocated - without.bytes_deallocated, 960);
    }
}

#[test]
fn the_peak_covers_followed_threads_alive_at_once() {
    let barrier = std::sync::Barrier::new(2);
    let ((), s) = measure(|| {
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(follow(|| {
                    let v = black_box(vec![7u8; 1 << 20]);
                    barrier.wait(); // both megabytes are live here
                    barrier.wait();
                    drop(v);
                }));
            }
        });
    });
    assert!(s.peak_bytes >= 2 << 20, "{s:?}");
}

#[test]
fn assertions_fail_with_the_numbers_and_the_top_callsites() {
    let ((), s) = measure(|| std::mem::forget(black_box(make_boxes(5))));
    let err = std::panic::catch_unwind(|| {
        s.assert_at_most_allocations(2);
    })
    .expect_err("6 > 2");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("expected at most 2 allocations, got 6"),
        "{msg}"
    );
    assert!(
        msg.contains("measure::make_boxes (") && msg.contains("tests/measure.rs:"),
        "{msg}"
    );
    let err = std::panic::catch_unwind(|| {
        s.assert_nothing_left();
    })
    .expect_err("leaked");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("expected nothing left allocated, but 6 blocks (80 bytes) were"),
        "{msg}"
    );
    let err = std::panic::catch_unwind(|| {
        s.assert_at_most_bytes(10);
    })
    .expect_err("80 > 10");
    assert!(err.downcast_ref::<String>().unwrap().contains("got 80"));
    s.assert_at_most_allocations(6)
        .assert_at_most_bytes(80)
        .assert_peak_at_most(80);
    let top = s.top_callsites(3);
    assert!(
        top[0].location.starts_with("measure::make_boxes"),
        "{top:?}"
    );
}
