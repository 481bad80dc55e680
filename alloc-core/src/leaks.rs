//! Blocks still live when the profile was written, grouped by callsite:
//! `alloc-report leaks`.

use std::collections::HashMap;

use crate::format::Profile;
use crate::names::FrameCache;

/// What [`leaks`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakOptions {
    /// Callsites leaking fewer bytes than this are counted but not listed.
    pub min_bytes: u64,
    /// Groups to list at most; `None` lists all.
    pub limit: Option<usize>,
}

impl LeakOptions {
    /// Options listing groups of at least `min_bytes`, at most `limit` of them.
    #[must_use]
    pub const fn new(min_bytes: u64, limit: Option<usize>) -> Self {
        Self { min_bytes, limit }
    }
}

/// The live blocks of one callsite (one stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakGroup {
    /// Index into [`Profile::stacks`].
    pub stack: u32,
    /// Position in that stack of the frame the group is named by.
    pub user_frame: usize,
    /// Blocks live at the end.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The result of [`leaks`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leaks {
    /// Groups at or above the threshold, largest first (by bytes, then blocks,
    /// then stack index), at most `limit` of them.
    pub groups: Vec<LeakGroup>,
    /// Groups at or above the threshold, before the limit.
    pub passing: usize,
    /// Blocks of those groups.
    pub passing_blocks: u64,
    /// Bytes of those groups.
    pub passing_bytes: u64,
    /// Groups below the threshold.
    pub below: usize,
    /// Blocks of the groups below the threshold.
    pub below_blocks: u64,
    /// Bytes of the groups below the threshold.
    pub below_bytes: u64,
}

impl Leaks {
    /// True when some group passed the threshold (what `--fail-on-leak` checks).
    #[must_use]
    pub const fn any(&self) -> bool {
        self.passing > 0
    }
}

/// Groups the blocks live at the end of `profile` by stack.
///
/// # Examples
/// ```
/// use alloc_core::leaks::{leaks, LeakOptions};
/// use alloc_core::testing::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new("demo");
/// b.site(&[("demo::leak", "src/main.rs", 5)], |c| {
///     c.blocks = 2; c.bytes = 64; c.live_blocks = 1; c.live_bytes = 32;
///     c.peak_blocks = 1; c.peak_bytes = 32;
/// });
/// let p = b.build();
/// let l = leaks(&p, &LeakOptions::default());
/// assert_eq!((l.groups[0].blocks, l.groups[0].bytes), (1, 32));
/// assert!(!leaks(&p, &LeakOptions::new(100, None)).any());
/// ```
#[must_use]
pub fn leaks(profile: &Profile, options: &LeakOptions) -> Leaks {
    // One callsite per stack is the format's rule; merging keeps a malformed
    // profile's duplicates from being listed twice.
    let mut by_stack: HashMap<u32, (u64, u64)> = HashMap::new();
    for c in &profile.callsites {
        if c.live_blocks == 0 && c.live_bytes == 0 {
            continue;
        }
        let e = by_stack.entry(c.stack).or_default();
        e.0 = e.0.saturating_add(c.live_blocks);
        e.1 = e.1.saturating_add(c.live_bytes);
    }
    let mut out = Leaks::default();
    let mut groups = Vec::new();
    for (stack, (blocks, bytes)) in by_stack {
        if bytes >= options.min_bytes {
            out.passing += 1;
            out.passing_blocks = out.passing_blocks.saturating_add(blocks);
            out.passing_bytes = out.passing_bytes.saturating_add(bytes);
            groups.push((stack, blocks, bytes));
        } else {
            out.below += 1;
            out.below_blocks = out.below_blocks.saturating_add(blocks);
            out.below_bytes = out.below_bytes.saturating_add(bytes);
        }
    }
    groups.sort_unstable_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
    groups.truncate(options.limit.unwrap_or(usize::MAX));
    let mut names = FrameCache::new(profile);
    out.groups = groups
        .into_iter()
        .map(|(stack, blocks, bytes)| {
            let frames = profile
                .stacks
                .get(stack as usize)
                .map_or(&[][..], |s| &s.frames[..]);
            LeakGroup {
                stack,
                user_frame: names.user_frame_position(frames),
                blocks,
                bytes,
            }
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new("demo");
        let leak = |blocks: u64, bytes: u64| {
            move |c: &mut crate::format::Callsite| {
                c.blocks = blocks + 1;
                c.bytes = bytes * 2;
                c.live_blocks = blocks;
                c.live_bytes = bytes;
                c.peak_blocks = blocks;
                c.peak_bytes = bytes;
                c.freed_blocks = 1;
            }
        };
        b.site(&[("demo::small", "src/main.rs", 1)], leak(1, 16));
        b.site(
            &[
                ("alloc::vec::Vec<T,A>::push", "", 0),
                ("demo::big", "src/main.rs", 2),
            ],
            leak(3, 4096),
        );
        b.site(&[("demo::freed", "src/main.rs", 3)], |c| {
            c.blocks = 5;
            c.bytes = 50;
            c.freed_blocks = 5;
        });
        b.site(
            &[("demo::same_bytes_more_blocks", "src/main.rs", 4)],
            leak(8, 4096),
        );
        b.build()
    }

    #[test]
    fn groups_live_blocks_largest_first_and_skips_freed_callsites() {
        let p = profile();
        let l = leaks(&p, &LeakOptions::default());
        let got: Vec<_> = l.groups.iter().map(|g| (g.blocks, g.bytes)).collect();
        assert_eq!(got, [(8, 4096), (3, 4096), (1, 16)]);
        assert_eq!(
            (l.passing, l.passing_blocks, l.passing_bytes),
            (3, 12, 8208)
        );
        assert_eq!(l.below, 0);
        assert_eq!(
            l.groups[1].user_frame, 1,
            "named by demo::big, not Vec::push"
        );
        assert!(l.any());
    }

    #[test]
    fn the_threshold_counts_what_it_hides() {
        let p = profile();
        let l = leaks(&p, &LeakOptions::new(17, None));
        assert_eq!(l.passing, 2);
        assert_eq!((l.below, l.below_blocks, l.below_bytes), (1, 1, 16));
        let l = leaks(&p, &LeakOptions::new(1 << 20, None));
        assert!(!l.any());
        assert!(l.groups.is_empty());
        assert_eq!(l.below, 3);
    }

    #[test]
    fn the_limit_lists_fewer_but_counts_all() {
        let p = profile();
        let l = leaks(&p, &LeakOptions::new(0, Some(1)));
        assert_eq!(l.groups.len(), 1);
        assert_eq!(l.passing, 3);
    }

    #[test]
    fn duplicate_stacks_are_merged() {
        let mut p = profile();
        let dup = p.callsites[0];
        p.callsites.push(dup);
        let l = leaks(&p, &LeakOptions::default());
        assert_eq!(l.passing, 3);
        assert!(l.groups.iter().any(|g| (g.blocks, g.bytes) == (2, 32)));
    }

    #[test]
    fn no_leaks_in_a_clean_profile() {
        let mut b = ProfileBuilder::new("clean");
        b.site(&[("demo::f", "src/main.rs", 1)], |c| {
            c.blocks = 1;
            c.bytes = 8;
            c.freed_blocks = 1;
        });
        assert_eq!(leaks(&b.build(), &LeakOptions::default()), Leaks::default());
    }
}
