//! Histogram buckets shared by the profiler (which counts into them) and the
//! reports (which read them back): power-of-two buckets for sizes and lifetimes,
//! one bucket per power of two for alignments.

use crate::format::Bucket;

/// Number of power-of-two buckets: `[0,0]`, `[1,1]`, `[2,3]`, … `[2^63, u64::MAX]`.
pub const LOG2_BUCKETS: usize = 65;

/// Number of alignment buckets: one per power of two from 1 to 2^63.
pub const ALIGN_BUCKETS: usize = 64;

/// The power-of-two bucket of `value`: 0 for 0, else `floor(log2(value)) + 1`.
///
/// ```
/// use alloc_core::histogram::log2_bucket;
/// assert_eq!(log2_bucket(0), 0);
/// assert_eq!(log2_bucket(1), 1);
/// assert_eq!(log2_bucket(3), 2);
/// assert_eq!(log2_bucket(4), 3);
/// assert_eq!(log2_bucket(u64::MAX), 64);
/// ```
#[inline]
#[must_use]
pub const fn log2_bucket(value: u64) -> usize {
    (u64::BITS - value.leading_zeros()) as usize
}

/// The inclusive bounds of power-of-two bucket `index` (clamped to the last one).
///
/// ```
/// use alloc_core::histogram::log2_bucket_bounds;
/// assert_eq!(log2_bucket_bounds(0), (0, 0));
/// assert_eq!(log2_bucket_bounds(3), (4, 7));
/// assert_eq!(log2_bucket_bounds(64), (1 << 63, u64::MAX));
/// ```
#[must_use]
pub const fn log2_bucket_bounds(index: usize) -> (u64, u64) {
    match index {
        0 => (0, 0),
        i if i >= 64 => (1 << 63, u64::MAX),
        i => (1 << (i - 1), (1 << i) - 1),
    }
}

/// The alignment bucket of `align` (a power of two): its base-2 logarithm.
///
/// ```
/// use alloc_core::histogram::align_bucket;
/// assert_eq!(align_bucket(1), 0);
/// assert_eq!(align_bucket(4096), 12);
/// ```
#[inline]
#[must_use]
pub const fn align_bucket(align: u64) -> usize {
    if align == 0 {
        0
    } else {
        align.trailing_zeros() as usize
    }
}

/// The inclusive bounds of alignment bucket `index`: both equal `2^index`.
#[must_use]
pub const fn align_bucket_bounds(index: usize) -> (u64, u64) {
    let v = 1u64 << (if index > 63 { 63 } else { index });
    (v, v)
}

/// Which bucketing a histogram uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucketing {
    /// Power-of-two ranges ([`log2_bucket`]).
    Log2,
    /// One bucket per power of two ([`align_bucket`]).
    Align,
}

impl Bucketing {
    /// Inclusive bounds of bucket `index`.
    #[must_use]
    pub const fn bounds(self, index: usize) -> (u64, u64) {
        match self {
            Self::Log2 => log2_bucket_bounds(index),
            Self::Align => align_bucket_bounds(index),
        }
    }
}

/// Turns parallel per-bucket counts into the profile's list of non-empty buckets.
///
/// ```
/// use alloc_core::histogram::{buckets_from_counts, Bucketing};
/// let b = buckets_from_counts(Bucketing::Log2, &[0, 2, 0, 1], &[0, 2, 0, 5]);
/// assert_eq!(b.len(), 2);
/// assert_eq!((b[1].lo, b[1].hi, b[1].blocks, b[1].bytes), (4, 7, 1, 5));
/// ```
#[must_use]
pub fn buckets_from_counts(bucketing: Bucketing, blocks: &[u64], bytes: &[u64]) -> Vec<Bucket> {
    blocks
        .iter()
        .zip(bytes)
        .enumerate()
        .filter(|(_, (b, _))| **b != 0)
        .map(|(i, (&blocks, &bytes))| {
            let (lo, hi) = bucketing.bounds(i);
            Bucket {
                lo,
                hi,
                blocks,
                bytes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_inside_its_bucket_bounds() {
        for v in [
            0u64,
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            1000,
            4096,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let (lo, hi) = log2_bucket_bounds(log2_bucket(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo},{hi}]");
        }
    }

    #[test]
    fn log2_buckets_tile_the_range_without_gaps() {
        for i in 1..LOG2_BUCKETS {
            let (_, prev_hi) = log2_bucket_bounds(i - 1);
            let (lo, _) = log2_bucket_bounds(i);
            assert_eq!(prev_hi + 1, lo);
        }
    }

    #[test]
    fn alignments_get_one_bucket_each() {
        for k in 0..64 {
            let a = 1u64 << k;
            assert_eq!(align_bucket(a), k);
            assert_eq!(align_bucket_bounds(k), (a, a));
        }
    }
}
