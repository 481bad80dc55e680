//! A sampling session's per-callsite estimates are unbiased: on a known
//! workload they come within ±10% of an exact session's figures.

use std::alloc::System;
use std::hint::black_box;

use alloc_core::format::{Mode, Profile};
use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

// Process-wide figures are asserted, so this test runs without the libtest
// harness (`harness = false` in Cargo.toml): no harness thread allocates
// during the session.
fn main() {
    sampled_estimates_are_within_ten_percent_of_exact_counts();
    a_seed_repeats_its_samples_and_another_draws_new_ones();
    println!("sampling_accuracy: 2 passed, 0 failed");
}

#[inline(never)]
fn tiny_churn() {
    for i in 0..1_000_000u32 {
        drop(black_box(Box::new([i; 6])));
    }
}

#[inline(never)]
fn kilobyte_churn() {
    for i in 0..100_000u32 {
        drop(black_box(vec![i as u8; 1024]));
    }
}

#[inline(never)]
fn big_blocks() -> Vec<Vec<u8>> {
    (0..2000)
        .map(|i| black_box(vec![i as u8; 64 * 1024]))
        .collect()
}

#[inline(never)]
fn huge_blocks() {
    for i in 0..100u32 {
        drop(black_box(vec![i as u8; 1 << 20]));
    }
}

fn workload() {
    tiny_churn();
    kilobyte_churn();
    let kept = big_blocks();
    huge_blocks();
    drop(kept);
}

fn run(name: &str, sample: u64) -> Profile {
    run_seeded(name, sample, 0)
}

fn run_seeded(name: &str, sample: u64, seed: u64) -> Profile {
    let path = common::temp_path(name);
    let s = Session::builder()
        .output(&path)
        .sampling(sample)
        .sampling_seed(seed)
        .quiet()
        .start();
    workload();
    s.finish().unwrap();
    common::load(&path)
}

fn sampled_estimates_are_within_ten_percent_of_exact_counts() {
    // Both profiles load: `common::load` runs alloc-core's validation, which a
    // sampled profile must pass like any other.
    let exact = run("exact.json", 0);
    let rate = 16 * 1024;
    let sampled = run("sampled.json", rate);
    assert_eq!(exact.meta.mode, Mode::Exact);
    assert_eq!(sampled.meta.mode, Mode::Sampled { rate_bytes: rate });
    // Far fewer events were recorded.
    assert!(sampled.events.recorded * 20 < exact.events.recorded);
    for f in ["tiny_churn", "kilobyte_churn", "big_blocks", "huge_blocks"] {
        let needle = format!("sampling_accuracy::{f}");
        let sum = |p: &Profile, fig: fn(&alloc_core::format::Callsite) -> u64| {
            common::sum_in(p, &needle, fig)
        };
        for (what, fig) in [
            (
                "bytes",
                (|c| c.bytes) as fn(&alloc_core::format::Callsite) -> u64,
            ),
            ("blocks", |c| c.blocks),
            ("freed blocks", |c| c.freed_blocks),
        ] {
            let (e, s) = (sum(&exact, fig) as f64, sum(&sampled, fig) as f64);
            let err = (s - e).abs() / e;
            eprintln!(
                "{f:>15} {what:>12}: exact {e:>12}, sampled {s:>12} ({:+.2}%)",
                (s - e) / e * 100.0
            );
            assert!(
                err < 0.10,
                "{f} {what}: exact {e}, sampled {s} ({:.1}% off)",
                err * 100.0
            );
        }
    }
    // The peak is estimated too: 128 MiB of big blocks held at once.
    let (e, s) = (
        exact.totals.peak_bytes as f64,
        sampled.totals.peak_bytes as f64,
    );
    assert!((s - e).abs() / e < 0.10, "peak: exact {e}, sampled {s}");
    // Histograms are estimates too, on the same scale.
    let hist_blocks = |p: &Profile| p.histograms.size.iter().map(|b| b.blocks).sum::<u64>() as f64;
    let (e, s) = (hist_blocks(&exact), hist_blocks(&sampled));
    assert!(
        (s - e).abs() / e < 0.10,
        "size histogram: exact {e} blocks, sampled {s}"
    );
    // Counts of events stay exact in a sampled profile.
    assert_eq!(sampled.totals.allocations, exact.totals.allocations);
    assert_eq!(sampled.totals.bytes_allocated, exact.totals.bytes_allocated);
}

fn a_seed_repeats_its_samples_and_another_draws_new_ones() {
    let rate = 16 * 1024;
    let tiny = |p: &Profile| common::sum_in(p, "sampling_accuracy::tiny_churn", |c| c.bytes);
    let exact = tiny(&run("seed-exact.json", 0)) as f64;
    let (a, again, b) = (
        run_seeded("seed-1.json", rate, 1),
        run_seeded("seed-1-again.json", rate, 1),
        run_seeded("seed-2.json", rate, 2),
    );
    assert_eq!(a.meta.mode, Mode::Sampled { rate_bytes: rate });
    assert_eq!(tiny(&a), tiny(&again), "the same seed, the same samples");
    assert_ne!(tiny(&a), tiny(&b), "another seed, other samples");
    for p in [&a, &b] {
        let s = tiny(p) as f64;
        assert!(
            (s - exact).abs() / exact < 0.10,
            "tiny_churn: exact {exact}, sampled {s}"
        );
    }
}
