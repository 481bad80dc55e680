//! How far a sampled profile's per-callsite figures may be from the exact
//! ones: the margin `alloc-report top` prints next to each estimate.
//!
//! A sampling session samples an event on a block of `s` bytes with
//! probability `p = 1 - exp(-s / rate)` (Poisson byte sampling) and counts a
//! sampled event `1 / p` times, its bytes `w = s / p`. The estimates are
//! unbiased; their spread comes from chance alone, and its variance is the
//! sum over every event of `s² (1 - p) / p`. The session estimates that sum
//! from the events it sampled, each adding `w (w - s)` (Horvitz–Thompson),
//! and the profile keeps it per callsite ([`Callsite::bytes_variance`]):
//! [`callsite_margin_95`] turns it into a margin. That holds for any mix of
//! block sizes. In a calibrated profile (`meta.calibration`) the variance kept
//! is the calibrated estimate's instead ([`crate::calibrate`]), and the margin
//! follows it.
//!
//! [`relative_sd`] is the model for a callsite whose events all have one
//! size, `sqrt((1 - p) / (p * n))` for `n` events: about
//! `1 / sqrt(bytes / rate)`, one over the root of the samples expected, for
//! blocks far smaller than the rate, and nothing for blocks far larger,
//! which are always sampled. Taken at a callsite's mean size it is right for
//! small blocks whatever their sizes, and far too narrow for a callsite whose
//! bytes are mostly in a few large blocks and whose chance is in many small
//! ones: what the kept variances are for.
//!
//! ```
//! use alloc_core::margin::{margin_95, relative_sd};
//!
//! // 100 MiB of 64-byte blocks sampled every 512 KiB: about 200 samples.
//! let sd = relative_sd(100 << 20, (100 << 20) / 64, 512 << 10).unwrap();
//! assert!((sd - 1.0 / 200f64.sqrt()).abs() < 1e-3);
//! // 95% of estimates land within 1.96 standard deviations: about ±13.9%.
//! let m = margin_95(100 << 20, (100 << 20) / 64, 512 << 10).unwrap();
//! assert!((m - 0.1386).abs() < 1e-3);
//! ```

use crate::format::{Callsite, Mode, Profile};
use crate::metric::Metric;

/// Standard deviations on either side of the mean that hold 95% of a normal
/// distribution.
pub const Z_95: f64 = 1.959_964;

/// The relative standard deviation of an estimate of `bytes` in `events`
/// events (taken at their mean size) under Poisson byte sampling every `rate`
/// bytes; `None` when there are no events or bytes to speak of, or no rate.
#[must_use]
pub fn relative_sd(bytes: u64, events: u64, rate: u64) -> Option<f64> {
    if bytes == 0 || events == 0 || rate == 0 {
        return None;
    }
    let n = events as f64;
    let size = bytes as f64 / n;
    let p = -(-size / rate as f64).exp_m1();
    Some(((1.0 - p) / (p * n)).sqrt())
}

/// The relative margin within which 95% of such estimates land:
/// [`Z_95`] times [`relative_sd`].
#[must_use]
pub fn margin_95(bytes: u64, events: u64, rate: u64) -> Option<f64> {
    relative_sd(bytes, events, rate).map(|sd| Z_95 * sd)
}

/// The relative 95% margin of `callsite`'s figure `by` in `profile`, from
/// the variances the sampling session kept ([`Callsite::bytes_variance`],
/// [`Callsite::blocks_variance`]): `1.96 * sqrt(variance) / figure`. `None`
/// for an exact profile, whose figures are exact; for a figure of zero; for
/// live and peak bytes, whose variance the profile does not keep; and for a
/// sampled profile written before the variances were kept.
///
/// ```
/// use alloc_core::format::{Callsite, Mode};
/// use alloc_core::margin::callsite_margin_95;
/// use alloc_core::metric::Metric;
/// use alloc_core::testing::ProfileBuilder;
///
/// // 64 MiB estimated with a variance of (4 MiB)²: a standard error of 6.25%.
/// let c = Callsite {
///     blocks: 1 << 20,
///     bytes: 64 << 20,
///     bytes_variance: Some(1 << 44),
///     ..Callsite::default()
/// };
/// let mut p = ProfileBuilder::new("demo").build();
/// assert_eq!(callsite_margin_95(&p, &c, Metric::Bytes), None, "exact");
/// p.meta.mode = Mode::Sampled { rate_bytes: 512 << 10 };
/// let m = callsite_margin_95(&p, &c, Metric::Bytes).unwrap();
/// assert!((m - 1.96 * 0.0625).abs() < 1e-4, "{m}");
/// assert_eq!(callsite_margin_95(&p, &c, Metric::Blocks), None, "no variance kept");
/// assert_eq!(callsite_margin_95(&p, &c, Metric::Live), None);
/// ```
#[must_use]
pub fn callsite_margin_95(profile: &Profile, callsite: &Callsite, by: Metric) -> Option<f64> {
    if !matches!(profile.meta.mode, Mode::Sampled { .. }) {
        return None;
    }
    let variance = match by {
        Metric::Bytes => callsite.bytes_variance,
        Metric::Blocks => callsite.blocks_variance,
        Metric::Live | Metric::Peak => None,
    }?;
    let figure = by.of(callsite);
    (figure > 0).then(|| Z_95 * (variance as f64).sqrt() / figure as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    const RATE: u64 = 512 << 10;

    #[test]
    fn small_blocks_give_one_over_the_root_of_the_expected_samples() {
        // 100 MB in 64-byte blocks: about 191 samples, so about 7.2%.
        let sd = relative_sd(100_000_000, 100_000_000 / 64, RATE).unwrap();
        let expected = 1.0 / (100_000_000.0 / RATE as f64).sqrt();
        assert!(
            (sd - expected).abs() < 0.001 * expected,
            "{sd} vs {expected}"
        );
        // Four times the bytes, half the spread.
        let quarter = relative_sd(400_000_000, 400_000_000 / 64, RATE).unwrap();
        assert!((sd / quarter - 2.0).abs() < 1e-3);
    }

    #[test]
    fn blocks_far_larger_than_the_rate_are_exact() {
        // 1024 blocks of 8 MiB, 16 times the rate: each is missed with
        // probability exp(-16).
        assert!(relative_sd(8 << 30, 1024, RATE).unwrap() < 1e-4);
    }

    #[test]
    fn nothing_to_estimate_has_no_margin() {
        assert_eq!(relative_sd(0, 0, RATE), None);
        assert_eq!(relative_sd(100, 0, RATE), None);
        assert_eq!(relative_sd(100, 1, 0), None);
    }

    #[test]
    fn the_95_margin_is_1_96_standard_deviations() {
        let (b, n) = (50_000_000, 50_000_000 / 32);
        let ratio = margin_95(b, n, RATE).unwrap() / relative_sd(b, n, RATE).unwrap();
        assert!((ratio - 1.96).abs() < 1e-3);
    }

    #[test]
    fn margins_come_from_the_variances_the_session_kept() {
        let mut p = ProfileBuilder::new("demo").build();
        p.meta.mode = Mode::Sampled { rate_bytes: RATE };
        let c = Callsite {
            blocks: 1_000_000,
            bytes: 100_000_000,
            live_bytes: 1_000,
            peak_bytes: 2_000,
            bytes_variance: Some(25_000_000_000_000), // sd 5,000,000: 5%
            blocks_variance: Some(2_500_000_000),     // sd 50,000: 5%
            ..Callsite::default()
        };
        let m = |by| callsite_margin_95(&p, &c, by);
        assert!((m(Metric::Bytes).unwrap() - Z_95 * 0.05).abs() < 1e-9);
        assert!((m(Metric::Blocks).unwrap() - Z_95 * 0.05).abs() < 1e-9);
        assert_eq!(m(Metric::Live), None);
        assert_eq!(m(Metric::Peak), None);
        // A figure estimated without variance is exact.
        let sure = Callsite {
            bytes_variance: Some(0),
            ..c
        };
        assert_eq!(callsite_margin_95(&p, &sure, Metric::Bytes), Some(0.0));
        // Nothing allocated: no margin to give.
        let none = Callsite { bytes: 0, ..c };
        assert_eq!(callsite_margin_95(&p, &none, Metric::Bytes), None);
    }
}
