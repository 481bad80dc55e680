//! The size, alignment and lifetime histograms, read back for display:
//! `alloc-report hist`.

use serde::Serialize;

use crate::format::{Bucket, Profile};
use crate::histogram::{Bucketing, align_bucket, log2_bucket};

/// Which histogram of a profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistKind {
    /// Sizes of blocks handed out, in bytes.
    #[default]
    Size,
    /// Alignments requested, in bytes.
    Align,
    /// Lifetimes of freed blocks, in nanoseconds.
    Lifetime,
}

impl HistKind {
    /// `size`, `align` or `lifetime`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Align => "align",
            Self::Lifetime => "lifetime",
        }
    }

    /// What the histogram counts, for titles.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Size => "block sizes",
            Self::Align => "alignments requested",
            Self::Lifetime => "lifetimes of freed blocks",
        }
    }

    /// How its buckets are laid out.
    #[must_use]
    pub const fn bucketing(self) -> Bucketing {
        match self {
            Self::Size | Self::Lifetime => Bucketing::Log2,
            Self::Align => Bucketing::Align,
        }
    }
}

/// What [`histogram`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistOptions {
    /// Which histogram.
    pub of: HistKind,
    /// Insert empty buckets between the first and last non-empty ones, so a
    /// chart shows gaps (the profile leaves empty buckets out).
    pub fill_gaps: bool,
}

impl HistOptions {
    /// Options for histogram `of`.
    #[must_use]
    pub const fn new(of: HistKind, fill_gaps: bool) -> Self {
        Self { of, fill_gaps }
    }
}

/// One histogram, ready to draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Which histogram.
    pub of: HistKind,
    /// Buckets in increasing order, bounds inclusive.
    pub buckets: Vec<Bucket>,
    /// Blocks over all buckets.
    pub blocks: u64,
    /// Bytes over all buckets.
    pub bytes: u64,
}

/// The alignment the C allocator guarantees on 64-bit platforms (and Rust's
/// `System` allocator relies on): requests above it are over-aligned.
pub const MALLOC_ALIGN: u64 = 16;

impl Histogram {
    /// Blocks and bytes of alignment buckets above [`MALLOC_ALIGN`]; zero for
    /// other histograms.
    #[must_use]
    pub fn over_aligned(&self) -> (u64, u64) {
        if self.of != HistKind::Align {
            return (0, 0);
        }
        self.buckets
            .iter()
            .filter(|b| b.lo > MALLOC_ALIGN)
            .fold((0, 0), |(n, s), b| {
                (n.saturating_add(b.blocks), s.saturating_add(b.bytes))
            })
    }

    /// The most blocks in one bucket (what a bar chart scales to).
    #[must_use]
    pub fn max_blocks(&self) -> u64 {
        self.buckets.iter().map(|b| b.blocks).max().unwrap_or(0)
    }
}

/// Reads histogram `options.of` from `profile`: sorted by bounds, duplicate
/// buckets merged, empty ones dropped unless `fill_gaps` puts them between
/// non-empty ones.
///
/// # Examples
/// ```
/// use alloc_core::format::Bucket;
/// use alloc_core::hist::{histogram, HistKind, HistOptions};
/// use alloc_core::testing::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new("demo");
/// let size = [
///     Bucket { lo: 16, hi: 31, blocks: 4, bytes: 80 },
///     Bucket { lo: 4, hi: 7, blocks: 1, bytes: 4 },
/// ];
/// b.histograms(&size, &[], &[]);
/// let h = histogram(&b.build(), &HistOptions::new(HistKind::Size, true));
/// let bounds: Vec<_> = h.buckets.iter().map(|b| (b.lo, b.hi, b.blocks)).collect();
/// assert_eq!(bounds, [(4, 7, 1), (8, 15, 0), (16, 31, 4)]);
/// ```
#[must_use]
pub fn histogram(profile: &Profile, options: &HistOptions) -> Histogram {
    let source = match options.of {
        HistKind::Size => &profile.histograms.size,
        HistKind::Align => &profile.histograms.align,
        HistKind::Lifetime => &profile.histograms.lifetime,
    };
    let mut buckets: Vec<Bucket> = source.iter().filter(|b| b.blocks > 0).copied().collect();
    buckets.sort_unstable_by_key(|b| (b.lo, b.hi));
    buckets.dedup_by(|later, earlier| {
        if (later.lo, later.hi) == (earlier.lo, earlier.hi) {
            earlier.blocks = earlier.blocks.saturating_add(later.blocks);
            earlier.bytes = earlier.bytes.saturating_add(later.bytes);
            true
        } else {
            false
        }
    });
    let blocks = buckets.iter().fold(0u64, |a, b| a.saturating_add(b.blocks));
    let bytes = buckets.iter().fold(0u64, |a, b| a.saturating_add(b.bytes));
    if options.fill_gaps {
        buckets = fill_gaps(options.of.bucketing(), &buckets);
    }
    Histogram {
        of: options.of,
        buckets,
        blocks,
        bytes,
    }
}

fn index_of(bucketing: Bucketing, b: &Bucket) -> Option<usize> {
    let i = match bucketing {
        Bucketing::Log2 => log2_bucket(b.lo),
        Bucketing::Align => align_bucket(b.lo),
    };
    // Only standard buckets take part in gap filling.
    (bucketing.bounds(i) == (b.lo, b.hi)).then_some(i)
}

fn fill_gaps(bucketing: Bucketing, buckets: &[Bucket]) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(buckets.len());
    let mut prev: Option<usize> = None;
    for b in buckets {
        let this = index_of(bucketing, b);
        if let (Some(p), Some(t)) = (prev, this) {
            for i in p + 1..t {
                let (lo, hi) = bucketing.bounds(i);
                out.push(Bucket {
                    lo,
                    hi,
                    blocks: 0,
                    bytes: 0,
                });
            }
        }
        out.push(*b);
        prev = this;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    fn bucket(lo: u64, hi: u64, blocks: u64, bytes: u64) -> Bucket {
        Bucket {
            lo,
            hi,
            blocks,
            bytes,
        }
    }

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new("demo");
        b.histograms(
            &[
                bucket(64, 127, 2, 200),
                bucket(1, 1, 3, 3),
                bucket(0, 0, 0, 0),
            ],
            &[
                bucket(8, 8, 5, 40),
                bucket(4096, 4096, 1, 4096),
                bucket(8, 8, 1, 8),
            ],
            &[bucket(1024, 2047, 7, 70)],
        );
        b.build()
    }

    #[test]
    fn buckets_come_sorted_merged_and_without_empties() {
        let p = profile();
        let h = histogram(&p, &HistOptions::new(HistKind::Size, false));
        assert_eq!(h.buckets, [bucket(1, 1, 3, 3), bucket(64, 127, 2, 200)]);
        assert_eq!((h.blocks, h.bytes), (5, 203));
        let h = histogram(&p, &HistOptions::new(HistKind::Align, false));
        assert_eq!(
            h.buckets,
            [bucket(8, 8, 6, 48), bucket(4096, 4096, 1, 4096)]
        );
        assert_eq!(h.max_blocks(), 6);
        let h = histogram(&p, &HistOptions::new(HistKind::Lifetime, false));
        assert_eq!(h.buckets, [bucket(1024, 2047, 7, 70)]);
    }

    #[test]
    fn gaps_are_filled_between_the_first_and_last_buckets() {
        let p = profile();
        let h = histogram(&p, &HistOptions::new(HistKind::Size, true));
        let bounds: Vec<_> = h.buckets.iter().map(|b| (b.lo, b.hi)).collect();
        assert_eq!(
            bounds,
            [
                (1, 1),
                (2, 3),
                (4, 7),
                (8, 15),
                (16, 31),
                (32, 63),
                (64, 127)
            ]
        );
        let h = histogram(&p, &HistOptions::new(HistKind::Align, true));
        assert_eq!(h.buckets.len(), 10, "8, 16, … 4096");
        assert_eq!(h.over_aligned(), (1, 4096));
        let sizes = histogram(&p, &HistOptions::new(HistKind::Size, true));
        assert_eq!(sizes.over_aligned(), (0, 0));
        assert_eq!((h.blocks, h.bytes), (7, 4144), "gaps add nothing");
    }

    #[test]
    fn odd_buckets_are_shown_but_not_gap_filled() {
        let mut b = ProfileBuilder::new("odd");
        b.histograms(&[bucket(3, 9, 1, 5), bucket(64, 127, 1, 64)], &[], &[]);
        let h = histogram(&b.build(), &HistOptions::new(HistKind::Size, true));
        assert_eq!(h.buckets.len(), 2);
    }

    #[test]
    fn an_empty_histogram() {
        let p = ProfileBuilder::new("none").build();
        let h = histogram(&p, &HistOptions::new(HistKind::Lifetime, true));
        assert!(h.buckets.is_empty());
        assert_eq!(h.max_blocks(), 0);
        assert_eq!(HistKind::Lifetime.name(), "lifetime");
        assert_eq!(HistKind::Align.describe(), "alignments requested");
    }
}
