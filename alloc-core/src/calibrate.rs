//! Calibrated estimates for sampled profiles: each callsite's sampled figure
//! held against exact totals the session counted without sampling.
//!
//! A sampling session samples few events, but it can count all of them by
//! thread and call site (the stack pointer and the innermost return
//! addresses, hashed) at the cost of a short frame walk and two additions
//! each. Those groups ("strata") are exact. A callsite's plain (Horvitz–Thompson) estimate is
//! the sum of its samples' weights; its calibrated estimate shares out each
//! stratum's exact total among the callsites sampled in it, in proportion to
//! their weights there (post-stratification):
//!
//! ```text
//! estimate(c) = Σ over strata s of  exact(s) × sampled(c, s) / sampled(s)
//! ```
//!
//! A callsite that is alone in its strata, as most callsites are at their
//! own site in their own thread, is then exact; one that shares a stratum
//! keeps only the chance in how the samples split between the callsites, not the
//! chance in how many samples the stratum drew. The estimate is a ratio
//! estimator: its bias is of the order of one over a stratum's samples and
//! comes only from strata shared by several callsites. Strata the session
//! could not follow to the end (`usable: false`) keep the plain estimate.
//!
//! The variance comes from the same samples (linearization): within a
//! calibrated stratum each sample counts for its residual, its weight minus
//! the callsite's share of it, scaled by the stratum's correction
//! `exact(s) / sampled(s)`.
//!
//! ```
//! use alloc_core::calibrate::{Cell, Stratum, calibrate};
//!
//! // One stratum that held 1,000 bytes; callsite 7 drew 30 samples worth
//! // 600 bytes and callsite 9 drew 20 worth 300.
//! let strata = [Stratum { exact: 1000.0, usable: true }];
//! let cells = [
//!     Cell { callsite: 7, stratum: 0, samples: 30, estimate: 600.0, variance: 9000.0 },
//!     Cell { callsite: 9, stratum: 0, samples: 20, estimate: 300.0, variance: 4000.0 },
//! ];
//! let adjusted = calibrate(&strata, &cells);
//! // Shared out in proportion: 1000 × 600 / 900 and 1000 × 300 / 900.
//! assert!((600.0 + adjusted[&7].estimate - 666.67).abs() < 0.01);
//! assert!((300.0 + adjusted[&9].estimate - 333.33).abs() < 0.01);
//! ```

use std::collections::HashMap;

/// One group of events whose total the session counted exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stratum {
    /// The exact total (bytes, or blocks) of the stratum's events.
    pub exact: f64,
    /// False when some of the stratum's samples could not be kept by
    /// callsite: the stratum then keeps the plain estimates.
    pub usable: bool,
}

/// What one callsite's samples in one stratum add up to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// The callsite (any id the caller uses for it).
    pub callsite: u32,
    /// Index into the strata.
    pub stratum: usize,
    /// Samples.
    pub samples: u32,
    /// The plain estimate: the samples' weights summed.
    pub estimate: f64,
    /// The plain estimate's variance, estimated from the samples (for
    /// Poisson sampling, `w (w - y)` summed over samples of value `y` and
    /// weight `w`).
    pub variance: f64,
}

/// What calibration changes in a callsite's plain estimate and variance.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Adjustment {
    /// To add to the plain estimate.
    pub estimate: f64,
    /// To add to the plain estimate's variance (the sum stays at least 0
    /// when the plain variance covers the callsite's cells).
    pub variance: f64,
}

/// Each stratum's samples, plain estimate and variance, over its cells.
fn sums(strata: &[Stratum], cells: &[Cell]) -> Vec<(u64, f64, f64)> {
    let mut sums = vec![(0u64, 0.0f64, 0.0f64); strata.len()];
    for c in cells {
        if let Some(s) = sums.get_mut(c.stratum) {
            s.0 += u64::from(c.samples);
            s.1 += c.estimate;
            s.2 += c.variance;
        }
    }
    sums
}

/// Whether a stratum with these sums gets calibrated.
fn calibrated(st: &Stratum, &(samples, sampled, _): &(u64, f64, f64)) -> bool {
    st.usable && samples > 0 && sampled > 0.0
}

/// For each stratum: `Some(true)` when [`calibrate`] holds its cells against
/// its exact total, `Some(false)` when it has samples but keeps the plain
/// estimates, `None` when nothing was sampled in it.
#[must_use]
pub fn strata_used(strata: &[Stratum], cells: &[Cell]) -> Vec<Option<bool>> {
    strata
        .iter()
        .zip(sums(strata, cells))
        .map(|(st, s)| (s.0 > 0).then(|| calibrated(st, &s)))
        .collect()
}

/// The adjustment of every callsite with a cell in a calibrated stratum.
#[must_use]
pub fn calibrate(strata: &[Stratum], cells: &[Cell]) -> HashMap<u32, Adjustment> {
    let sums = sums(strata, cells);
    let mut out: HashMap<u32, Adjustment> = HashMap::new();
    for c in cells {
        let (Some(st), Some(s)) = (strata.get(c.stratum), sums.get(c.stratum)) else {
            continue;
        };
        if !calibrated(st, s) {
            continue;
        }
        let &(_, sampled, var) = s;
        let g = st.exact / sampled;
        let share = c.estimate / sampled;
        // The residuals' variance: the callsite's own samples count for
        // (1 - share) of themselves, the stratum's others for -share.
        let residual = (1.0 - share).powi(2) * c.variance + share.powi(2) * (var - c.variance);
        let a = out.entry(c.callsite).or_default();
        a.estimate += c.estimate * (g - 1.0);
        a.variance += g * g * residual.max(0.0) - c.variance;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(callsite: u32, stratum: usize, samples: u32, estimate: f64, variance: f64) -> Cell {
        Cell {
            callsite,
            stratum,
            samples,
            estimate,
            variance,
        }
    }

    #[test]
    fn a_callsite_alone_in_its_stratum_gets_the_exact_total_and_no_variance() {
        let strata = [Stratum {
            exact: 5000.0,
            usable: true,
        }];
        let a = calibrate(&strata, &[cell(1, 0, 40, 5600.0, 7e5)])[&1];
        assert!((5600.0 + a.estimate - 5000.0).abs() < 1e-9);
        assert!((7e5 + a.variance).abs() < 1e-6);
    }

    #[test]
    fn a_shared_stratum_is_split_by_the_samples_weights() {
        let strata = [Stratum {
            exact: 1200.0,
            usable: true,
        }];
        let out = calibrate(
            &strata,
            &[cell(1, 0, 10, 900.0, 100.0), cell(2, 0, 10, 300.0, 100.0)],
        );
        assert!((900.0 + out[&1].estimate - 900.0).abs() < 1e-9);
        assert!((300.0 + out[&2].estimate - 300.0).abs() < 1e-9);
        // g = 1: each keeps (1 - share)² of its own variance and share² of
        // the other's: 1/16 × 100 + 9/16 × 100 = 62.5.
        assert!((100.0 + out[&1].variance - 62.5).abs() < 1e-9);
        assert!((100.0 + out[&2].variance - 62.5).abs() < 1e-9);
    }

    #[test]
    fn estimates_add_up_to_the_exact_totals_of_calibrated_strata() {
        let strata = [
            Stratum {
                exact: 1000.0,
                usable: true,
            },
            Stratum {
                exact: 70.0,
                usable: true,
            },
        ];
        let cells = [
            cell(1, 0, 8, 500.0, 1.0),
            cell(2, 0, 9, 700.0, 1.0),
            cell(2, 1, 6, 60.0, 1.0),
            cell(3, 1, 7, 20.0, 1.0),
        ];
        let out = calibrate(&strata, &cells);
        let plain: f64 = cells.iter().map(|c| c.estimate).sum();
        let total: f64 = plain + out.values().map(|a| a.estimate).sum::<f64>();
        assert!((total - 1070.0).abs() < 1e-9);
    }

    #[test]
    fn unusable_and_empty_strata_keep_the_plain_estimates() {
        let (unusable, usable) = (
            Stratum {
                exact: 10.0,
                usable: false,
            },
            Stratum {
                exact: 10.0,
                usable: true,
            },
        );
        let cells = [cell(1, 0, 50, 500.0, 1.0), cell(2, 1, 0, 0.0, 0.0)];
        let out = calibrate(&[unusable, usable], &cells);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(
            strata_used(&[unusable, usable], &cells),
            [Some(false), None]
        );
    }

    #[test]
    fn strata_used_counts_samples_over_every_callsite() {
        let usable = Stratum {
            exact: 10.0,
            usable: true,
        };
        // A cell without samples does not make its stratum sampled; one
        // sample of another callsite does. The second stratum has none.
        let cells = [cell(1, 0, 0, 0.0, 0.0), cell(2, 0, 1, 5.0, 1.0)];
        assert_eq!(strata_used(&[usable, usable], &cells), [Some(true), None]);
        assert_eq!(calibrate(&[usable, usable], &cells).len(), 2);
    }

    #[test]
    fn cells_of_strata_that_do_not_exist_are_left_alone() {
        let out = calibrate(&[], &[cell(1, 3, 50, 500.0, 1.0)]);
        assert!(out.is_empty());
    }
}
