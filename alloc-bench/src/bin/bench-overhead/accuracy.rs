//! How close a sampled profile's per-callsite estimates come to an exact
//! profile of the same workload (issue 5: within ±10% for the top callsites).

use std::path::Path;

use alloc_core::Profile;
use alloc_core::diff::{DiffOptions, diff};
use alloc_core::metric::Metric;
use alloc_core::names::{shorten, strip_hash, user_frame_position};

/// One callsite's exact figure and the sampled estimate.
pub struct Row {
    /// Bytes (or blocks) in the exact profile.
    pub exact: u64,
    /// The sampled profile's estimate.
    pub estimate: u64,
    /// The callsite's innermost frame in the program's own code, with its
    /// location (as `alloc-report` names callsites).
    pub name: String,
    /// Its stack id in the exact profile.
    pub stack: Option<u32>,
    /// Allocations and reallocations at that stack in the exact profile.
    pub events: u64,
    /// The 95% margin the sampled profile states for its estimate
    /// (`alloc-report top`'s `±95%`).
    pub margin: Option<f64>,
}

impl Row {
    /// `(estimate - exact) / exact`, in percent.
    pub fn error_pct(&self) -> f64 {
        100.0 * (self.estimate as f64 - self.exact as f64) / self.exact.max(1) as f64
    }
}

/// Reads a profile as the serde types alone, and separately whether
/// alloc-core's loader (which also validates) accepts it: the comparison is
/// made either way, and a refusal is reported.
pub fn load(path: &Path) -> Result<(Profile, Option<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let profile: Profile =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let refused = alloc_core::parse_profile(&bytes)
        .err()
        .map(|e| e.to_string());
    Ok((profile, refused))
}

/// The `n` callsites with the most of `by` in `exact`, with `sampled`'s
/// estimates (callsites are matched by their stacks' functions and lines, as
/// `alloc-report diff` does), those estimated exactly among them.
pub fn compare(exact: &Profile, sampled: &Profile, by: Metric, n: usize) -> Vec<Row> {
    let d = diff(exact, sampled, &DiffOptions::new(by, None).with_unchanged());
    let events: std::collections::HashMap<u32, u64> = exact
        .callsites
        .iter()
        .map(|c| (c.stack, c.blocks + c.reallocs))
        .collect();
    let sampled_sites: std::collections::HashMap<u32, &alloc_core::format::Callsite> =
        sampled.callsites.iter().map(|c| (c.stack, c)).collect();
    let mut rows: Vec<Row> = d
        .rows
        .iter()
        .map(|r| Row {
            margin: r
                .new_stack
                .and_then(|s| sampled_sites.get(&s))
                .and_then(|c| alloc_core::margin::callsite_margin_95(sampled, c, by)),
            exact: r.old,
            estimate: r.new,
            name: r.old_stack.map_or_else(|| "?".into(), |s| name(exact, s)),
            stack: r.old_stack,
            events: r
                .old_stack
                .and_then(|s| events.get(&s).copied())
                .unwrap_or(0),
        })
        .collect();
    rows.sort_unstable_by(|a, b| b.exact.cmp(&a.exact).then_with(|| a.name.cmp(&b.name)));
    rows.truncate(n);
    rows
}

fn name(p: &Profile, stack: u32) -> String {
    let Some(s) = p.stacks.get(stack as usize) else {
        return "?".into();
    };
    let at = user_frame_position(p, &s.frames);
    s.frames
        .get(at)
        .and_then(|f| p.frames.get(*f as usize))
        .map_or_else(
            || "?".into(),
            |f| {
                let function = shorten(strip_hash(&f.function), 70);
                let file = f.file.as_deref().map(|p| {
                    let parts: Vec<&str> = p.rsplit('/').take(2).collect();
                    parts.into_iter().rev().collect::<Vec<_>>().join("/")
                });
                match (file, f.line) {
                    (Some(file), Some(line)) => format!("{function} ({file}:{line})"),
                    (Some(file), None) => format!("{function} ({file})"),
                    _ => function,
                }
            },
        )
}

/// The relative standard deviation chance alone gives the byte estimate of
/// a callsite of `bytes` in `events` allocations at `rate`
/// ([`alloc_core::margin::relative_sd`], the model `alloc-report top`'s
/// margins use): 0 when there is nothing to estimate.
pub fn relative_sd(bytes: u64, events: u64, rate: u64) -> f64 {
    alloc_core::margin::relative_sd(bytes, events, rate).unwrap_or(0.0)
}

/// The probability that an estimate whose relative error is normal with
/// standard deviation `sd` lands within `±tol` (both as fractions).
pub fn chance_within(sd: f64, tol: f64) -> f64 {
    if sd <= 0.0 {
        return 1.0;
    }
    erf(tol / (sd * std::f64::consts::SQRT_2))
}

/// The error function, to within 1.5e-7 (Abramowitz and Stegun, 7.1.26).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u64 = 524_288;

    #[test]
    fn small_blocks_give_one_over_the_root_of_the_expected_samples() {
        // 100 MB in 64-byte blocks: about 200 samples, so about 7%.
        let sd = relative_sd(100_000_000, 100_000_000 / 64, RATE);
        let expected = 1.0 / (100_000_000.0 / RATE as f64).sqrt();
        assert!(
            (sd - expected).abs() < 0.001 * expected,
            "{sd} vs {expected}"
        );
    }

    #[test]
    fn blocks_far_larger_than_the_rate_are_exact() {
        // 1024 blocks of 8 MiB, 16 times the rate: each is missed with
        // probability exp(-16).
        assert!(relative_sd(8 << 30, 1024, RATE) < 1e-4);
        assert_eq!(relative_sd(0, 0, RATE), 0.0);
        assert_eq!(chance_within(0.0, 0.1), 1.0);
    }

    #[test]
    fn chance_within_follows_the_normal_distribution() {
        // One, two and three standard deviations.
        for (k, p) in [(1.0, 0.682_689), (2.0, 0.954_500), (3.0, 0.997_300)] {
            let got = chance_within(0.1 / k, 0.1);
            assert!((got - p).abs() < 1e-6, "{k} sd: {got} vs {p}");
        }
        assert!(erf(-1.0) < 0.0 && (erf(-1.0) + erf(1.0)).abs() < 1e-12);
    }
}
