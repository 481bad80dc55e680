//! Per-callsite changes between two profiles of (builds of) one program:
//! `alloc-report diff`.
//!
//! Callsites are matched by their stacks' function names and line numbers, never
//! by address (addresses move between builds) nor by file path (checkouts move).
//! Several callsites of one profile with the same key are added together.

use std::collections::HashMap;

use crate::format::Profile;
use crate::metric::Metric;
use crate::names::{FrameCache, strip_hash};

/// What [`diff`] compares.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiffOptions {
    /// The figure compared.
    pub by: Metric,
    /// Rows kept at most; `None` keeps all.
    pub limit: Option<usize>,
    /// Also rows of callsites whose figure did not change (after the
    /// changed ones, largest first), as when comparing estimates against
    /// exact figures, where "unchanged" means "estimated exactly".
    pub unchanged: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self::new(Metric::Bytes, None)
    }
}

impl DiffOptions {
    /// Options comparing `by`, keeping at most `limit` rows.
    #[must_use]
    pub const fn new(by: Metric, limit: Option<usize>) -> Self {
        Self {
            by,
            limit,
            unchanged: false,
        }
    }

    /// These options, with rows for unchanged callsites too.
    ///
    /// ```
    /// use alloc_core::diff::{diff, DiffOptions};
    /// use alloc_core::testing::ProfileBuilder;
    /// let mut b = ProfileBuilder::new("demo");
    /// b.site(&[("demo::f", "src/main.rs", 1)], |c| { c.blocks = 1; c.bytes = 100; });
    /// let p = b.build();
    /// let d = diff(&p, &p, &DiffOptions::default().with_unchanged());
    /// assert_eq!((d.changed, d.rows.len(), d.rows[0].old), (0, 1, 100));
    /// ```
    #[must_use]
    pub const fn with_unchanged(mut self) -> Self {
        self.unchanged = true;
        self
    }
}

/// One matched callsite: its figure in each profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffRow {
    /// The figure in the old profile (0 when the callsite is new).
    pub old: u64,
    /// The figure in the new profile (0 when the callsite is gone).
    pub new: u64,
    /// A stack of the callsite in the new profile, when it is there.
    pub new_stack: Option<u32>,
    /// A stack of the callsite in the old profile, when it is there.
    pub old_stack: Option<u32>,
    /// Position of the frame the row is named by in the stack it is shown with
    /// (the new one when present, else the old one).
    pub user_frame: usize,
}

impl DiffRow {
    /// `new - old`.
    #[must_use]
    pub fn delta(&self) -> i128 {
        i128::from(self.new) - i128::from(self.old)
    }

    /// The change in percent of `old`; `None` when `old` is zero.
    #[must_use]
    pub fn change_pct(&self) -> Option<f64> {
        change_pct(self.old, self.new)
    }
}

/// `(new - old) / old` in percent; `None` when `old` is zero.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn change_pct(old: u64, new: u64) -> Option<f64> {
    (old != 0).then(|| (new as f64 - old as f64) / old as f64 * 100.0)
}

/// The result of [`diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The figure compared.
    pub by: Metric,
    /// Its sum over the old profile's callsites.
    pub old_total: u64,
    /// Its sum over the new profile's callsites.
    pub new_total: u64,
    /// Callsites whose figure changed, before the limit.
    pub changed: usize,
    /// Callsites whose figure did not change, before the limit: counted
    /// only with [`DiffOptions::unchanged`], 0 otherwise.
    pub unchanged: usize,
    /// Those callsites, biggest increase first, biggest decrease last; then,
    /// with [`DiffOptions::unchanged`], the unchanged ones, largest first.
    pub rows: Vec<DiffRow>,
}

impl Diff {
    /// `new_total - old_total`.
    #[must_use]
    pub fn delta(&self) -> i128 {
        i128::from(self.new_total) - i128::from(self.old_total)
    }

    /// The change of the total in percent; `None` when the old total is zero.
    #[must_use]
    pub fn change_pct(&self) -> Option<f64> {
        change_pct(self.old_total, self.new_total)
    }

    /// True when the total grew by more than `pct` percent (any growth from
    /// zero counts): what `--fail-if-increase PCT` checks.
    ///
    /// ```
    /// use alloc_core::diff::{diff, DiffOptions};
    /// use alloc_core::testing::ProfileBuilder;
    /// let mut b = ProfileBuilder::new("demo");
    /// b.site(&[("demo::f", "src/main.rs", 1)], |c| { c.blocks = 1; c.bytes = 100; });
    /// let old = b.build();
    /// b.profile_mut().callsites[0].bytes = 110;
    /// let d = diff(&old, &b.build(), &DiffOptions::default());
    /// assert!(d.increase_exceeds(5.0));
    /// assert!(!d.increase_exceeds(10.0));
    /// ```
    #[must_use]
    pub fn increase_exceeds(&self, pct: f64) -> bool {
        match self.change_pct() {
            _ if self.new_total <= self.old_total => false,
            None => true,
            Some(change) => change > pct,
        }
    }
}

/// Interns frame keys (normalized function name, line) shared by both profiles.
#[derive(Default)]
struct Keys<'a> {
    ids: HashMap<(&'a str, Option<u32>), u32>,
}

impl<'a> Keys<'a> {
    fn stack_keys(&mut self, profile: &'a Profile) -> Vec<Option<Box<[u32]>>> {
        let frame_keys: Vec<u32> = profile
            .frames
            .iter()
            .map(|f| {
                let name = strip_hash(&f.function);
                // Unsymbolized frames (`0x…`) are addresses: they never match, so
                // treat them all as one unknown function.
                let name = if name.starts_with("0x") { "?" } else { name };
                let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
                *self.ids.entry((name, f.line)).or_insert(next)
            })
            .collect();
        profile
            .stacks
            .iter()
            .map(|s| {
                s.frames
                    .iter()
                    .map(|&f| frame_keys.get(f as usize).copied())
                    .collect::<Option<Box<[u32]>>>()
            })
            .collect()
    }
}

/// Compares `old` and `new` callsite by callsite.
///
/// # Examples
/// ```
/// use alloc_core::diff::{diff, DiffOptions};
/// use alloc_core::testing::ProfileBuilder;
/// let mut b = ProfileBuilder::new("demo");
/// b.site(&[("demo::f", "src/main.rs", 1)], |c| { c.blocks = 1; c.bytes = 100; });
/// let p = b.build();
/// assert!(diff(&p, &p, &DiffOptions::default()).rows.is_empty());
/// ```
#[must_use]
pub fn diff(old: &Profile, new: &Profile, options: &DiffOptions) -> Diff {
    let by = options.by;
    let mut keys = Keys::default();
    let old_keys = keys.stack_keys(old);
    let new_keys = keys.stack_keys(new);
    // key -> (old value, new value, old stack, new stack)
    type Entry = (u64, u64, Option<u32>, Option<u32>);
    let mut table: HashMap<&[u32], Entry> = HashMap::new();
    let mut old_total = 0u64;
    for c in &old.callsites {
        let v = by.of(c);
        old_total = old_total.saturating_add(v);
        if let Some(Some(k)) = old_keys.get(c.stack as usize) {
            let e = table.entry(k).or_default();
            e.0 = e.0.saturating_add(v);
            e.2.get_or_insert(c.stack);
        }
    }
    let mut new_total = 0u64;
    for c in &new.callsites {
        let v = by.of(c);
        new_total = new_total.saturating_add(v);
        if let Some(Some(k)) = new_keys.get(c.stack as usize) {
            let e = table.entry(k).or_default();
            e.1 = e.1.saturating_add(v);
            e.3.get_or_insert(c.stack);
        }
    }
    let (mut rows, mut same): (Vec<DiffRow>, Vec<DiffRow>) = table
        .into_values()
        .filter(|e| options.unchanged || e.0 != e.1)
        .map(|(o, n, old_stack, new_stack)| DiffRow {
            old: o,
            new: n,
            old_stack,
            new_stack,
            user_frame: 0,
        })
        .partition(|r| r.old != r.new);
    let (changed, unchanged) = (rows.len(), same.len());
    let by_stacks = |a: &DiffRow, b: &DiffRow| {
        a.new_stack
            .cmp(&b.new_stack)
            .then(a.old_stack.cmp(&b.old_stack))
    };
    rows.sort_unstable_by(|a, b| b.delta().cmp(&a.delta()).then(by_stacks(a, b)));
    same.sort_unstable_by(|a, b| b.old.cmp(&a.old).then(by_stacks(a, b)));
    rows.append(&mut same);
    rows.truncate(options.limit.unwrap_or(usize::MAX));
    let (mut old_names, mut new_names) = (FrameCache::new(old), FrameCache::new(new));
    for r in &mut rows {
        let (profile, names, stack) = match (r.new_stack, r.old_stack) {
            (Some(s), _) => (new, &mut new_names, s),
            (None, Some(s)) => (old, &mut old_names, s),
            (None, None) => continue,
        };
        if let Some(s) = profile.stacks.get(stack as usize) {
            r.user_frame = names.user_frame_position(&s.frames);
        }
    }
    Diff {
        by,
        old_total,
        new_total,
        changed,
        unchanged,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    fn build(sites: &[(&str, &str, u32, u64)]) -> Profile {
        let mut b = ProfileBuilder::new("demo");
        for &(f, file, line, bytes) in sites {
            b.site(&[(f, file, line), ("demo::main", file, 99)], |c| {
                c.blocks = 1;
                c.bytes = bytes;
            });
        }
        b.build()
    }

    #[test]
    fn a_profile_against_itself_is_empty() {
        let p = build(&[
            ("demo::a", "src/a.rs", 1, 10),
            ("demo::b", "src/b.rs", 2, 20),
        ]);
        for by in Metric::ALL {
            let d = diff(&p, &p, &DiffOptions::new(by, None));
            assert!(d.rows.is_empty());
            assert_eq!(d.old_total, d.new_total);
            assert!(!d.increase_exceeds(0.0));
        }
    }

    #[test]
    fn callsites_match_by_names_and_lines_not_paths_or_order() {
        let old = build(&[
            ("demo::a", "/old/src/a.rs", 1, 10),
            ("demo::b", "/old/src/b.rs", 2, 20),
        ]);
        // Another checkout, frames in another order, one figure changed.
        let new = build(&[
            ("demo::b", "/new/src/b.rs", 2, 20),
            ("demo::a", "/new/src/a.rs", 1, 15),
        ]);
        let d = diff(&old, &new, &DiffOptions::default());
        assert_eq!(d.rows.len(), 1);
        let r = d.rows[0];
        assert_eq!((r.old, r.new, r.delta()), (10, 15, 5));
        assert_eq!(r.change_pct(), Some(50.0));
        assert_eq!(
            new.frames[new.stacks[r.new_stack.unwrap() as usize].frames[0] as usize].function,
            "demo::a"
        );
    }

    #[test]
    fn a_moved_line_is_a_new_callsite_and_the_old_one_goes() {
        let old = build(&[("demo::a", "src/a.rs", 1, 10)]);
        let new = build(&[("demo::a", "src/a.rs", 2, 10)]);
        let d = diff(&old, &new, &DiffOptions::default());
        let got: Vec<_> = d
            .rows
            .iter()
            .map(|r| (r.old, r.new, r.change_pct()))
            .collect();
        assert_eq!(got, [(0, 10, None), (10, 0, Some(-100.0))]);
        assert_eq!(d.delta(), 0);
    }

    #[test]
    fn biggest_regressions_first_and_the_gate() {
        let old = build(&[
            ("demo::a", "f", 1, 100),
            ("demo::b", "f", 2, 100),
            ("demo::c", "f", 3, 100),
        ]);
        let new = build(&[
            ("demo::a", "f", 1, 150),
            ("demo::b", "f", 2, 400),
            ("demo::c", "f", 3, 10),
        ]);
        let d = diff(&old, &new, &DiffOptions::default());
        let deltas: Vec<_> = d.rows.iter().map(DiffRow::delta).collect();
        assert_eq!(deltas, [300, 50, -90]);
        assert_eq!((d.old_total, d.new_total), (300, 560));
        assert!(d.increase_exceeds(86.0));
        assert!(!d.increase_exceeds(87.0));
        let d = diff(&old, &new, &DiffOptions::new(Metric::Bytes, Some(1)));
        assert_eq!((d.rows.len(), d.changed), (1, 3));
        let d = diff(&new, &old, &DiffOptions::default());
        assert!(!d.increase_exceeds(0.0), "a decrease never fails the gate");
    }

    #[test]
    fn unchanged_callsites_follow_the_changed_ones_when_asked_for() {
        let old = build(&[
            ("demo::a", "f", 1, 100),
            ("demo::b", "f", 2, 300),
            ("demo::c", "f", 3, 200),
        ]);
        let new = build(&[
            ("demo::a", "f", 1, 90),
            ("demo::b", "f", 2, 300),
            ("demo::c", "f", 3, 200),
        ]);
        let d = diff(&old, &new, &DiffOptions::default().with_unchanged());
        let got: Vec<_> = d.rows.iter().map(|r| (r.old, r.new)).collect();
        assert_eq!(got, [(100, 90), (300, 300), (200, 200)]);
        assert_eq!((d.changed, d.unchanged), (1, 2));
        // Without the option they are neither listed nor counted.
        let d = diff(&old, &new, &DiffOptions::default());
        assert_eq!((d.rows.len(), d.changed, d.unchanged), (1, 1, 0));
    }

    #[test]
    fn growth_from_nothing_fails_any_gate_and_unknown_frames_match() {
        let empty = ProfileBuilder::new("demo").build();
        let new = build(&[("0x5555deadbeef", "", 0, 8)]);
        let d = diff(&empty, &new, &DiffOptions::default());
        assert_eq!(d.change_pct(), None);
        assert!(d.increase_exceeds(1000.0));
        let other_build = build(&[("0x5555feedface", "", 0, 8)]);
        assert!(
            diff(&new, &other_build, &DiffOptions::default())
                .rows
                .is_empty()
        );
    }

    #[test]
    fn duplicate_keys_within_a_profile_add_up() {
        let old = build(&[("demo::a", "x", 1, 10), ("demo::a", "y", 1, 5)]);
        let new = build(&[("demo::a", "x", 1, 15)]);
        assert!(diff(&old, &new, &DiffOptions::default()).rows.is_empty());
    }

    #[test]
    fn diff_by_live_and_blocks() {
        let mut b = ProfileBuilder::new("demo");
        b.site(
            &[
                ("demo::leak", "src/main.rs", 3),
                ("demo::main", "src/main.rs", 99),
            ],
            |c| {
                c.blocks = 2;
                c.bytes = 64;
                c.live_blocks = 1;
                c.live_bytes = 32;
                c.peak_blocks = 1;
                c.peak_bytes = 32;
            },
        );
        let new = b.build();
        let old = build(&[("demo::leak", "src/main.rs", 3, 64)]);
        let d = diff(&old, &new, &DiffOptions::new(Metric::Live, None));
        assert_eq!((d.old_total, d.new_total), (0, 32));
        let d = diff(&old, &new, &DiffOptions::new(Metric::Blocks, None));
        let got: Vec<_> = d.rows.iter().map(|r| (r.old, r.new)).collect();
        assert_eq!(got, [(1, 2)]);
    }
}
