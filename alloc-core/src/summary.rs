//! The one-screen overview of a profile: `alloc-report summary`.

use crate::format::{Bookkeeping, Mode, Profile, Untracked};
use crate::metric::Metric;
use crate::top::{Top, TopOptions, top};

/// Defaults of [`SummaryOptions`].
pub mod defaults {
    /// Callsites listed in a summary.
    pub const TOP: usize = 5;
}

/// What a [`Summary`] includes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SummaryOptions {
    /// The figure the top callsites are ranked by.
    pub top_by: Metric,
    /// How many top callsites to include.
    pub top: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            top_by: Metric::Bytes,
            top: defaults::TOP,
        }
    }
}

/// Totals, peak, live at end, leaks, reallocations, the profiler's health and
/// the top callsites of one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Allocations (`alloc`, `alloc_zeroed`).
    pub total_blocks: u64,
    /// Bytes handed out, reallocations' new sizes included.
    pub total_bytes: u64,
    /// Reallocations.
    pub reallocs: u64,
    /// Allocation and reallocation calls the allocator refused.
    pub failures: u64,
    /// Frees of blocks allocated in the session.
    pub freed_blocks: u64,
    /// Bytes given back.
    pub freed_bytes: u64,
    /// Bytes live at the global peak.
    pub peak_bytes: u64,
    /// Blocks live at the global peak.
    pub peak_blocks: u64,
    /// When the peak was first reached, nanoseconds after the start.
    pub peak_time_ns: u64,
    /// Blocks live at the end.
    pub live_blocks: u64,
    /// Bytes live at the end.
    pub live_bytes: u64,
    /// Callsites with blocks live at the end.
    pub leaking_callsites: usize,
    /// Callsites (distinct stacks) in the profile.
    pub callsites: usize,
    /// Events written to the rings.
    pub events_recorded: u64,
    /// Events overwritten before the profile was written.
    pub events_dropped: u64,
    /// Events on blocks allocated before the session.
    pub untracked: Untracked,
    /// What the profiler could not record.
    pub bookkeeping: Bookkeeping,
    /// Threads that allocated.
    pub threads: usize,
    /// The top callsites.
    pub top: Top,
}

impl Summary {
    /// True when the profile is a sample, so every figure is an estimate.
    #[must_use]
    pub fn sampled(profile: &Profile) -> Option<u64> {
        match profile.meta.mode {
            Mode::Exact => None,
            Mode::Sampled { rate_bytes } => Some(rate_bytes),
        }
    }
}

/// Summarizes `profile`.
///
/// # Examples
/// ```
/// use alloc_core::summary::{summary, SummaryOptions};
/// use alloc_core::testing::ProfileBuilder;
/// let mut b = ProfileBuilder::new("demo");
/// b.site(&[("demo::f", "src/main.rs", 1)], |c| {
///     c.blocks = 3; c.bytes = 30; c.reallocs = 1; c.live_blocks = 1; c.live_bytes = 10;
///     c.peak_blocks = 2; c.peak_bytes = 20; c.freed_blocks = 3;
/// });
/// let s = summary(&b.build(), &SummaryOptions::default());
/// assert_eq!((s.total_blocks, s.total_bytes, s.reallocs), (3, 30, 1));
/// assert_eq!((s.live_blocks, s.live_bytes, s.leaking_callsites), (1, 10, 1));
/// assert_eq!(s.peak_bytes, 20);
/// ```
#[must_use]
pub fn summary(profile: &Profile, options: &SummaryOptions) -> Summary {
    let t = &profile.totals;
    Summary {
        total_blocks: t.allocations,
        total_bytes: t.bytes_allocated,
        reallocs: t.reallocations,
        failures: t.failures,
        freed_blocks: t.deallocations,
        freed_bytes: t.bytes_deallocated,
        peak_bytes: t.peak_bytes,
        peak_blocks: t.peak_blocks,
        peak_time_ns: t.peak_time_ns,
        live_blocks: t.live_blocks,
        live_bytes: t.live_bytes,
        leaking_callsites: profile
            .callsites
            .iter()
            .filter(|c| c.live_blocks > 0 || c.live_bytes > 0)
            .count(),
        callsites: profile.callsites.len(),
        events_recorded: profile.events.recorded,
        events_dropped: profile.events.dropped,
        untracked: profile.untracked,
        bookkeeping: profile.bookkeeping,
        threads: profile.threads.len(),
        top: top(profile, &TopOptions::new(options.top_by, Some(options.top))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    #[test]
    fn figures_come_from_the_totals_and_the_callsites() {
        let mut b = ProfileBuilder::new("demo");
        for i in 0..7u64 {
            let name = format!("demo::f{i}");
            b.site(&[(name.as_str(), "src/main.rs", 1)], |c| {
                c.blocks = i + 1;
                c.bytes = (i + 1) * 100;
                c.freed_blocks = i + 1;
            });
        }
        b.site(&[("demo::leak", "src/main.rs", 2)], |c| {
            c.blocks = 1;
            c.bytes = 64;
            c.live_blocks = 1;
            c.live_bytes = 64;
            c.peak_blocks = 1;
            c.peak_bytes = 64;
        });
        let p = {
            let pm = b.profile_mut();
            pm.events.recorded = 100;
            pm.events.dropped = 40;
            pm.untracked.deallocations = 2;
            b.build()
        };
        let s = summary(&p, &SummaryOptions::default());
        assert_eq!(s.total_blocks, 29);
        assert_eq!(s.total_bytes, 2864);
        assert_eq!(s.freed_blocks, 28);
        assert_eq!(s.freed_bytes, 2800);
        assert_eq!((s.events_recorded, s.events_dropped), (100, 40));
        assert_eq!(s.untracked.deallocations, 2);
        assert_eq!(s.callsites, 8);
        assert_eq!(s.leaking_callsites, 1);
        assert_eq!(s.top.rows.len(), 5);
        assert_eq!(s.top.rows[0].value, 700);
        assert_eq!(Summary::sampled(&p), None);
        let mut b2 = ProfileBuilder::new("s");
        b2.sampled(4096);
        assert_eq!(Summary::sampled(&b2.build()), Some(4096));
    }
}
