//! The callsites that matter most by one [`Metric`]: `alloc-report top`.

use std::cmp::Ordering;

use crate::format::Profile;
use crate::metric::Metric;
use crate::names::FrameCache;

/// Defaults of [`TopOptions`].
pub mod defaults {
    /// Rows shown when no limit is given.
    pub const LIMIT: usize = 10;
}

/// What [`top`] ranks by and how many rows it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopOptions {
    /// The figure to rank by.
    pub by: Metric,
    /// Rows to keep; `None` keeps every callsite.
    pub limit: Option<usize>,
}

impl Default for TopOptions {
    fn default() -> Self {
        Self {
            by: Metric::Bytes,
            limit: Some(defaults::LIMIT),
        }
    }
}

impl TopOptions {
    /// Options ranking by `by`, keeping `limit` rows.
    #[must_use]
    pub const fn new(by: Metric, limit: Option<usize>) -> Self {
        Self { by, limit }
    }
}

/// One ranked callsite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopRow {
    /// Index into [`Profile::callsites`].
    pub callsite: usize,
    /// Position in the callsite's stack (innermost first) of the frame it is
    /// named by: the first frame of the user's code
    /// ([`crate::names::user_frame_position`]).
    pub user_frame: usize,
    /// The ranked figure.
    pub value: u64,
    /// `value` as a fraction of [`Top::whole`], in `0.0..=1.0`.
    pub share: f64,
    /// In a sampled profile, the relative margin within which 95% of such
    /// estimates land ([`crate::margin::callsite_margin_95`]); `None` in an
    /// exact profile.
    pub margin_95: Option<f64>,
}

/// The result of [`top`].
#[derive(Debug, Clone, PartialEq)]
pub struct Top {
    /// The figure ranked by.
    pub by: Metric,
    /// The sum of that figure over every callsite.
    pub whole: u64,
    /// Callsites with a non-zero figure, before the limit.
    pub nonzero: usize,
    /// The kept rows, largest first; ties broken by total bytes, then by
    /// position in the profile.
    pub rows: Vec<TopRow>,
}

impl Top {
    /// True when some row has a margin (the profile is sampled and kept its
    /// estimates' variances): reports then show the margins.
    #[must_use]
    pub fn has_margins(&self) -> bool {
        self.rows.iter().any(|r| r.margin_95.is_some())
    }
}

/// Ranks the callsites of `profile` with a non-zero figure by `options.by`.
///
/// Runs in `O(n + k log k)` for `n` callsites and a limit of `k`.
///
/// # Examples
/// ```
/// use alloc_core::metric::Metric;
/// use alloc_core::testing::ProfileBuilder;
/// use alloc_core::top::{top, TopOptions};
///
/// let mut b = ProfileBuilder::new("demo");
/// b.site(&[("demo::small", "src/main.rs", 3)], |c| { c.blocks = 1; c.bytes = 10; });
/// b.site(&[("demo::big", "src/main.rs", 9)], |c| { c.blocks = 1; c.bytes = 30; });
/// let p = b.build();
/// let t = top(&p, &TopOptions::new(Metric::Bytes, Some(1)));
/// assert_eq!(t.whole, 40);
/// assert_eq!(t.rows.len(), 1);
/// assert_eq!(p.callsites[t.rows[0].callsite].bytes, 30);
/// assert_eq!(t.rows[0].share, 0.75);
/// ```
#[must_use]
pub fn top(profile: &Profile, options: &TopOptions) -> Top {
    let by = options.by;
    let mut whole = 0u64;
    let mut candidates: Vec<usize> = Vec::new();
    for (i, c) in profile.callsites.iter().enumerate() {
        let v = by.of(c);
        whole = whole.saturating_add(v);
        if v > 0 {
            candidates.push(i);
        }
    }
    let nonzero = candidates.len();
    let cmp = |a: &usize, b: &usize| -> Ordering {
        let (ca, cb) = (&profile.callsites[*a], &profile.callsites[*b]);
        by.of(cb)
            .cmp(&by.of(ca))
            .then(cb.bytes.cmp(&ca.bytes))
            .then(a.cmp(b))
    };
    let limit = options.limit.unwrap_or(usize::MAX).min(candidates.len());
    if limit == 0 {
        candidates.clear();
    } else if limit < candidates.len() {
        candidates.select_nth_unstable_by(limit - 1, cmp);
        candidates.truncate(limit);
    }
    candidates.sort_unstable_by(cmp);
    let mut names = FrameCache::new(profile);
    let rows = candidates
        .into_iter()
        .map(|i| {
            let c = &profile.callsites[i];
            let stack = profile
                .stacks
                .get(c.stack as usize)
                .map_or(&[][..], |s| &s.frames[..]);
            TopRow {
                callsite: i,
                user_frame: names.user_frame_position(stack),
                value: by.of(c),
                share: crate::number::fraction(by.of(c), whole),
                margin_95: crate::margin::callsite_margin_95(profile, c, by),
            }
        })
        .collect();
    Top {
        by,
        whole,
        nonzero,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new("demo");
        b.site(
            &[
                ("alloc::vec::Vec<T,A>::push", "/rustc/x/vec.rs", 1),
                ("demo::fill", "src/main.rs", 12),
                ("demo::main", "src/main.rs", 30),
            ],
            |c| {
                c.blocks = 100;
                c.bytes = 1000;
                c.peak_blocks = 1;
                c.peak_bytes = 10;
            },
        );
        b.site(&[("demo::leak", "src/main.rs", 20)], |c| {
            c.blocks = 1;
            c.bytes = 4000;
            c.live_blocks = 1;
            c.live_bytes = 4000;
            c.peak_blocks = 1;
            c.peak_bytes = 4000;
        });
        b.site(&[("demo::tie", "src/main.rs", 40)], |c| {
            c.blocks = 100;
            c.bytes = 500;
        });
        b.build()
    }

    #[test]
    fn ranks_by_each_metric_with_shares_of_the_whole() {
        let p = profile();
        let t = top(&p, &TopOptions::new(Metric::Bytes, None));
        assert_eq!(t.whole, 5500);
        assert_eq!(
            t.rows.iter().map(|r| r.callsite).collect::<Vec<_>>(),
            [1, 0, 2]
        );
        let total_share: f64 = t.rows.iter().map(|r| r.share).sum();
        assert!((total_share - 1.0).abs() < 1e-9);

        // Equal block counts: the one with more bytes first.
        let t = top(&p, &TopOptions::new(Metric::Blocks, None));
        assert_eq!(
            t.rows.iter().map(|r| r.callsite).collect::<Vec<_>>(),
            [0, 2, 1]
        );

        let t = top(&p, &TopOptions::new(Metric::Live, None));
        assert_eq!(t.nonzero, 1, "callsites with nothing live are left out");
        assert_eq!(t.rows[0].callsite, 1);
        assert!((t.rows[0].share - 1.0).abs() < f64::EPSILON);

        let t = top(&p, &TopOptions::new(Metric::Peak, None));
        assert_eq!(t.whole, 4010);
        assert_eq!(
            t.rows.iter().map(|r| r.value).collect::<Vec<_>>(),
            [4000, 10]
        );
    }

    #[test]
    fn rows_are_named_by_the_first_user_frame() {
        let p = profile();
        let t = top(&p, &TopOptions::default());
        let row = t.rows.iter().find(|r| r.callsite == 0).unwrap();
        assert_eq!(row.user_frame, 1);
    }

    #[test]
    fn the_limit_keeps_the_largest() {
        let p = profile();
        for (limit, want) in [
            (0, vec![]),
            (1, vec![1]),
            (2, vec![1, 0]),
            (9, vec![1, 0, 2]),
        ] {
            let t = top(&p, &TopOptions::new(Metric::Bytes, Some(limit)));
            assert_eq!(t.rows.iter().map(|r| r.callsite).collect::<Vec<_>>(), want);
            assert_eq!(t.nonzero, 3);
        }
    }

    #[test]
    fn an_empty_profile_has_an_empty_top() {
        let p = ProfileBuilder::new("empty").build();
        let t = top(&p, &TopOptions::default());
        assert!(t.rows.is_empty());
        assert_eq!(t.whole, 0);
    }

    #[test]
    fn many_callsites_select_the_same_rows_as_a_full_sort() {
        let mut b = ProfileBuilder::new("many");
        for i in 0..500u64 {
            let name = format!("demo::f{i}");
            b.site(&[(name.as_str(), "src/lib.rs", 1)], |c| {
                c.blocks = 1;
                c.bytes = (i * 7919) % 101 + 1;
            });
        }
        let p = b.build();
        let all = top(&p, &TopOptions::new(Metric::Bytes, None));
        let some = top(&p, &TopOptions::new(Metric::Bytes, Some(25)));
        assert_eq!(&all.rows[..25], &some.rows[..]);
    }
}
