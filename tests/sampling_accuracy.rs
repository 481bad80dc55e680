//! A sampling session's per-callsite estimates are unbiased: on a known
//! workload they come within ±10% of an exact session's figures, and within
//! the 95% margins `alloc-report top` states, which match how far estimates
//! spread from seed to seed. Calibrated (the default), they share out exact
//! totals: a callsite alone in its thread at its size comes out exact, and
//! callsites that share one split its exact total.

use std::alloc::System;
use std::hint::black_box;

use alloc_core::format::{Mode, Profile};
use alloc_core::metric::Metric;
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
    stated_margins_match_the_spread_across_seeds();
    calibrated_estimates_share_out_exact_totals();
    println!("sampling_accuracy: 4 passed, 0 failed");
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
    run_work(name, sample, seed, workload)
}

/// Profiles `work` (exact when `sample` is 0) into `name` and loads it; a
/// sampled profile keeps the plain estimates, which the tests before
/// [`calibrated_estimates_share_out_exact_totals`] are about.
fn run_work(name: &str, sample: u64, seed: u64, work: fn()) -> Profile {
    run_calibrated(name, sample, seed, false, work)
}

fn run_calibrated(name: &str, sample: u64, seed: u64, calibrate: bool, work: fn()) -> Profile {
    let path = common::temp_path(name);
    let s = Session::builder()
        .output(&path)
        .sampling(sample)
        .sampling_seed(seed)
        .calibrate(calibrate)
        .quiet()
        .start();
    work();
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
    // Only a sampled profile keeps its estimates' variances.
    assert!(
        exact
            .callsites
            .iter()
            .all(|c| c.bytes_variance.is_none() && c.blocks_variance.is_none())
    );
    assert!(
        sampled
            .callsites
            .iter()
            .all(|c| c.bytes_variance.is_some() && c.blocks_variance.is_some())
    );
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
            if what == "bytes" {
                // Within three standard deviations of the stated spread (one
                // estimate in twenty lands outside the 95% margin itself).
                let m = margin(&sampled, &needle);
                assert!(
                    err <= 3.0 / alloc_core::margin::Z_95 * m,
                    "{f}: {:.2}% off, beyond 1.5 times the stated ±{:.2}%",
                    err * 100.0,
                    m * 100.0
                );
            }
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

/// The 95% margin of the bytes of the callsites whose stacks name `needle`,
/// from the variances the profile keeps (sampling chances are independent
/// between events, so the callsites' variances add); for one callsite, the
/// margin `alloc-report top` states.
fn margin(p: &Profile, needle: &str) -> f64 {
    let sites = common::callsites_in(p, needle);
    let bytes: u64 = sites.iter().map(|c| c.bytes).sum();
    let variance: u64 = sites
        .iter()
        .map(|c| c.bytes_variance.expect("a sampled profile keeps variances"))
        .sum();
    let m = alloc_core::margin::Z_95 * (variance as f64).sqrt() / bytes as f64;
    if let [one] = sites[..] {
        let stated = alloc_core::margin::callsite_margin_95(p, one, Metric::Bytes).unwrap();
        assert!((stated - m).abs() < 1e-12, "{needle}: {stated} vs {m}");
    }
    m
}

#[inline(never)]
fn small_work() {
    tiny_churn();
    kilobyte_churn();
}

fn stated_margins_match_the_spread_across_seeds() {
    // At 64 KiB, tiny_churn's 24 MB give about 370 samples (a 95% margin of
    // about 10%) and kilobyte_churn's 102 MB about 1,560 (5%).
    let rate = 64 * 1024;
    let session = |seed| run_work(&format!("spread-{seed}.json"), rate, seed, small_work);
    let exact = run_work("spread-exact.json", 0, 0, small_work);
    // Blocks of one size (24 bytes): the variance the session kept matches
    // the model of `alloc_core::margin::relative_sd`.
    let one = session(1);
    let needle = "sampling_accuracy::tiny_churn";
    let (bytes, events) = (
        common::sum_in(&one, needle, |c| c.bytes),
        common::sum_in(&one, needle, |c| c.blocks + c.reallocs),
    );
    let model = alloc_core::margin::margin_95(bytes, events, rate).unwrap();
    let kept = margin(&one, needle);
    assert!(
        (kept / model - 1.0).abs() < 0.1,
        "tiny_churn: kept {kept}, model {model}"
    );
    let seeds = 8u64;
    for f in ["tiny_churn", "kilobyte_churn"] {
        let needle = format!("sampling_accuracy::{f}");
        let e = common::sum_in(&exact, &needle, |c| c.bytes) as f64;
        let (mut sum_sq, mut stated) = (0.0, 0.0);
        for seed in 1..=seeds {
            let p = session(seed);
            let err = (common::sum_in(&p, &needle, |c| c.bytes) as f64 - e) / e;
            sum_sq += err * err;
            stated += margin(&p, &needle) / alloc_core::margin::Z_95 / seeds as f64;
        }
        // The spread the seeds show against the one the margins state: the
        // root mean square of eight normal errors lands within 0.52 to 1.48
        // of their standard deviation 95% of the time.
        let observed = (sum_sq / seeds as f64).sqrt();
        let ratio = observed / stated;
        eprintln!(
            "{f:>15}: errors spread {:.2}% (rms over {seeds} seeds), margins state {:.2}% (sd): ratio {ratio:.2}",
            observed * 100.0,
            stated * 100.0
        );
        assert!(
            (0.4..2.0).contains(&ratio),
            "{f}: the stated margins are off: spread {observed}, stated {stated}"
        );
    }
}

/// `n` boxes of 24 bytes, allocated three calls down: the callers of
/// `boxes_far_down` differ only beyond the innermost three frames, more of
/// the stack than the sampler's strata look at (`capture::SITE_FRAMES`), so
/// all of them share one stratum when called from the same depth.
#[inline(never)]
fn boxes_far_down(n: u32) {
    black_box(boxes_two_down(black_box(n)));
}

#[inline(never)]
fn boxes_two_down(n: u32) -> u32 {
    black_box(boxes_here(black_box(n)))
}

#[inline(never)]
fn boxes_here(n: u32) -> u32 {
    for i in 0..n {
        drop(black_box(Box::new([i; 6])));
    }
    n
}

#[inline(never)]
fn shared_first() {
    boxes_far_down(black_box(600_000));
}

#[inline(never)]
fn shared_second() {
    boxes_far_down(black_box(300_000));
}

#[inline(never)]
fn alone_on_a_thread() {
    std::thread::spawn(|| {
        for i in 0..400_000u32 {
            drop(black_box(Box::new([i; 6])));
        }
    })
    .join()
    .unwrap();
}

/// Kilobyte blocks from one callsite only (`vec![0; n]` takes another path,
/// through `alloc_zeroed`, from another callsite).
#[inline(never)]
fn kilobytes_alone() {
    for i in 0..100_000u32 {
        drop(black_box(vec![i as u8 | 1; 1024]));
    }
}

/// [`kilobytes_alone`] under a 4 KiB frame. A site is the stack pointer and
/// the innermost return addresses; in a debug build those are all the
/// standard library's allocation glue, so only the depth tells the
/// sites apart, and this one's is far below any other callsite's here.
#[inline(never)]
fn kilobytes_deep_down() {
    let pad = black_box([0u8; 4096]);
    kilobytes_alone();
    black_box(pad);
}

fn shared_work() {
    kilobytes_deep_down();
    shared_first();
    shared_second();
    alone_on_a_thread();
}

fn calibrated_estimates_share_out_exact_totals() {
    let rate = 64 * 1024;
    let exact = run_work("shared-exact.json", 0, 0, shared_work);
    let bytes =
        |p: &Profile, f: &str| common::sum_in(p, &format!("sampling_accuracy::{f}"), |c| c.bytes);
    let plain = run_calibrated("shared-plain.json", rate, 3, false, shared_work);
    assert_eq!(plain.meta.calibration, None);
    for seed in 1..=3 {
        let p = run_calibrated(
            &format!("shared-{seed}.json"),
            rate,
            seed,
            true,
            shared_work,
        );
        let c = p.meta.calibration.expect("a calibrated profile says so");
        assert!(c.strata >= 3 && c.bytes > 0, "{c:?}");
        // Alone in their thread and site: exact, whatever the seed.
        // (The thread's own allocations, not the spawn's in the caller.)
        // Sites are hashed into 4,096 strata per thread, and addresses move
        // from run to run: now and then another small callsite of the same
        // thread (each has one chance in 4,096) hashes into the same
        // stratum, and its bytes go to these when it drew no sample there.
        const OTHERS: u64 = 4096;
        for f in ["kilobytes_alone", "alone_on_a_thread::{{closure}}"] {
            let (e, s) = (bytes(&exact, f), bytes(&p, f));
            assert!(e.abs_diff(s) <= OTHERS, "{f}: exact {e}, calibrated {s}");
            let m = margin(&p, &format!("sampling_accuracy::{f}"));
            assert!(m < 1e-4, "{f}: exact {e}, calibrated {s}, margin {m}");
        }
        // Two callsites of one thread and site: they split its exact total
        // between them, each within its stated margin's reach.
        let (e1, e2) = (
            bytes(&exact, "shared_first"),
            bytes(&exact, "shared_second"),
        );
        let (s1, s2) = (bytes(&p, "shared_first"), bytes(&p, "shared_second"));
        assert!(
            (e1 + e2).abs_diff(s1 + s2) <= OTHERS,
            "{e1} + {e2} vs {s1} + {s2}"
        );
        for (f, e, s) in [("shared_first", e1, s1), ("shared_second", e2, s2)] {
            let err = (s as f64 - e as f64).abs() / e as f64;
            let m = margin(&p, &format!("sampling_accuracy::{f}"));
            eprintln!(
                "{f:>15} seed {seed}: {:+.2}%, stated ±{:.2}%",
                (s as f64 / e as f64 - 1.0) * 100.0,
                m * 100.0
            );
            assert!(
                m > 0.0 && err <= 3.0 / alloc_core::margin::Z_95 * m,
                "{f}: {err} off, stated {m}"
            );
            // Narrower than the plain estimate's, which also carries the
            // chance in how many samples the pair drew.
            assert!(
                m < margin(&plain, &format!("sampling_accuracy::{f}")),
                "{f}: {m}"
            );
        }
    }
}
