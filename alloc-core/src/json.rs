//! The `--json` shapes of `alloc-report`: a stable contract for scripts. Key
//! names are never renamed or removed within a major version; new keys may be
//! added. Each report has one entry point returning a value to serialize.
//!
//! Frames are `{"function": str, "file": str|null, "line": int|null}`, innermost
//! first; `user_frame` is the index in `frames` of the frame the callsite is named
//! by (the first frame of the user's code). Counts are integers; shares are
//! fractions in `0..=1`; percentages are floats or `null` where undefined.
//!
//! * `summary`: an object: `program`, `args`, `mode` (`"exact"` or `"sampled"`),
//!   `sample_rate_bytes` (null when exact), `duration_ns`, `total_blocks`,
//!   `total_bytes`, `reallocs`, `freed_blocks`, `freed_bytes`, `live_blocks`,
//!   `live_bytes`, `leaking_callsites`, `peak_bytes`, `peak_blocks`, `peak_time_ns`,
//!   `callsites`, `threads`, `events_recorded`, `events_dropped`,
//!   `untracked_frees`, `untracked_bytes_freed`, `untracked_reallocs`,
//!   `unrecorded_blocks`, `unrecorded_bytes`, `stacks_not_recorded`,
//!   `alloc_failures`, `internal_errors`, `top_by` and `top` (an array of `top`
//!   rows).
//! * `top`: an array of `{blocks, bytes, reallocs, live_blocks, live_bytes,
//!   peak_blocks, peak_bytes, max_live_bytes, freed_blocks, share, margin_95,
//!   user_frame, frames}`, where `blocks` and `bytes` are the callsite's totals,
//!   `share` is its part of the whole for the ranking metric, and `margin_95`,
//!   in a sampled profile, the fraction within which 95% of estimates of that
//!   figure land (null when exact; [`crate::margin`]).
//! * `leaks`: an array of `{blocks, bytes, user_frame, frames}`, live at the end.
//! * `hist`: an array of `{lo, hi, blocks, bytes}`, bounds inclusive.
//! * `diff`: an object `{by, old_total, new_total, delta, change_pct, changed,
//!   rows}`, rows being `{old, new, delta, change_pct, user_frame, frames}`;
//!   `change_pct` is null when the old figure is zero.

use serde::Serialize as DeriveSerialize;
use serde::ser::{Serialize, Serializer};

use crate::diff::Diff;
use crate::format::{Bucket, Mode, Profile};
use crate::hist::Histogram;
use crate::leaks::Leaks;
use crate::metric::Metric;
use crate::summary::Summary;
use crate::top::Top;

/// One frame as the JSON shapes show it.
#[derive(Debug, Clone, Copy, DeriveSerialize)]
pub struct FrameJson<'a> {
    /// Demangled function name.
    pub function: &'a str,
    /// Source file, or null.
    pub file: Option<&'a str>,
    /// Source line, or null.
    pub line: Option<u32>,
}

/// The frames of one stack, serialized lazily (no copy of the stack is made).
#[derive(Debug, Clone, Copy)]
pub struct StackJson<'a> {
    profile: &'a Profile,
    stack: Option<u32>,
}

impl Serialize for StackJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let frames = self
            .stack
            .and_then(|i| self.profile.stacks.get(i as usize))
            .map_or(&[][..], |st| &st.frames[..]);
        s.collect_seq(frames.iter().filter_map(|&f| {
            self.profile.frames.get(f as usize).map(|fr| FrameJson {
                function: &fr.function,
                file: fr.file.as_deref(),
                line: fr.line,
            })
        }))
    }
}

/// A row of `top`.
#[derive(Debug, Clone, Copy, DeriveSerialize)]
pub struct TopRowJson<'a> {
    /// Allocations made at the callsite.
    pub blocks: u64,
    /// Bytes handed out at the callsite.
    pub bytes: u64,
    /// Reallocations made at the callsite.
    pub reallocs: u64,
    /// Blocks live at the end.
    pub live_blocks: u64,
    /// Bytes live at the end.
    pub live_bytes: u64,
    /// Blocks live at the global peak.
    pub peak_blocks: u64,
    /// Bytes live at the global peak.
    pub peak_bytes: u64,
    /// Most bytes of the callsite live at one moment.
    pub max_live_bytes: u64,
    /// Blocks freed.
    pub freed_blocks: u64,
    /// Part of the whole for the ranking metric, `0..=1`.
    pub share: f64,
    /// The ranking figure's relative 95% margin in a sampled profile; `None`
    /// (null) when exact.
    pub margin_95: Option<f64>,
    /// Index in `frames` of the frame the callsite is named by.
    pub user_frame: usize,
    /// The stack, innermost first.
    pub frames: StackJson<'a>,
}

/// The `top` array.
#[derive(Debug, Clone, Copy)]
pub struct TopJson<'a> {
    profile: &'a Profile,
    top: &'a Top,
}

impl Serialize for TopJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.profile;
        s.collect_seq(self.top.rows.iter().filter_map(|r| {
            let c = p.callsites.get(r.callsite)?;
            Some(TopRowJson {
                blocks: c.blocks,
                bytes: c.bytes,
                reallocs: c.reallocs,
                live_blocks: c.live_blocks,
                live_bytes: c.live_bytes,
                peak_blocks: c.peak_blocks,
                peak_bytes: c.peak_bytes,
                max_live_bytes: c.max_live_bytes,
                freed_blocks: c.freed_blocks,
                share: r.share,
                margin_95: r.margin_95,
                user_frame: r.user_frame,
                frames: StackJson {
                    profile: p,
                    stack: Some(c.stack),
                },
            })
        }))
    }
}

/// The `top` shape of `top`.
#[must_use]
pub const fn top<'a>(profile: &'a Profile, top: &'a Top) -> TopJson<'a> {
    TopJson { profile, top }
}

/// The `summary` object.
#[derive(Debug, Clone, DeriveSerialize)]
pub struct SummaryJson<'a> {
    /// The profiled program.
    pub program: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// `exact` or `sampled`.
    pub mode: &'static str,
    /// Mean bytes between samples, or null for an exact profile.
    pub sample_rate_bytes: Option<u64>,
    /// Session length.
    pub duration_ns: u64,
    /// Allocations.
    pub total_blocks: u64,
    /// Bytes handed out.
    pub total_bytes: u64,
    /// Reallocations.
    pub reallocs: u64,
    /// Frees.
    pub freed_blocks: u64,
    /// Bytes given back.
    pub freed_bytes: u64,
    /// Blocks live at the end.
    pub live_blocks: u64,
    /// Bytes live at the end.
    pub live_bytes: u64,
    /// Callsites with blocks live at the end.
    pub leaking_callsites: usize,
    /// Bytes live at the peak.
    pub peak_bytes: u64,
    /// Blocks live at the peak.
    pub peak_blocks: u64,
    /// When the peak was reached.
    pub peak_time_ns: u64,
    /// Callsites in the profile.
    pub callsites: usize,
    /// Threads that allocated.
    pub threads: usize,
    /// Events written to the rings.
    pub events_recorded: u64,
    /// Events overwritten.
    pub events_dropped: u64,
    /// Frees of blocks allocated before the session.
    pub untracked_frees: u64,
    /// Their bytes.
    pub untracked_bytes_freed: u64,
    /// Reallocations of blocks allocated before the session.
    pub untracked_reallocs: u64,
    /// Blocks the profiler could not track.
    pub unrecorded_blocks: u64,
    /// Their bytes.
    pub unrecorded_bytes: u64,
    /// Events whose stack could not be stored.
    pub stacks_not_recorded: u64,
    /// Allocation and reallocation calls the allocator refused.
    pub alloc_failures: u64,
    /// Events whose bookkeeping failed inside the profiler.
    pub internal_errors: u64,
    /// The metric `top` is ranked by.
    pub top_by: Metric,
    /// The top callsites.
    pub top: TopJson<'a>,
}

/// The `summary` shape of `s`.
#[must_use]
pub fn summary<'a>(profile: &'a Profile, s: &'a Summary) -> SummaryJson<'a> {
    let (mode, sample_rate_bytes) = match profile.meta.mode {
        Mode::Exact => ("exact", None),
        Mode::Sampled { rate_bytes } => ("sampled", Some(rate_bytes)),
    };
    SummaryJson {
        program: &profile.meta.program,
        args: &profile.meta.args,
        mode,
        sample_rate_bytes,
        duration_ns: profile.meta.duration_ns,
        total_blocks: s.total_blocks,
        total_bytes: s.total_bytes,
        reallocs: s.reallocs,
        freed_blocks: s.freed_blocks,
        freed_bytes: s.freed_bytes,
        live_blocks: s.live_blocks,
        live_bytes: s.live_bytes,
        leaking_callsites: s.leaking_callsites,
        peak_bytes: s.peak_bytes,
        peak_blocks: s.peak_blocks,
        peak_time_ns: s.peak_time_ns,
        callsites: s.callsites,
        threads: s.threads,
        events_recorded: s.events_recorded,
        events_dropped: s.events_dropped,
        untracked_frees: s.untracked.deallocations,
        untracked_bytes_freed: s.untracked.bytes_deallocated,
        untracked_reallocs: s.untracked.reallocations,
        unrecorded_blocks: s.bookkeeping.untracked_blocks,
        unrecorded_bytes: s.bookkeeping.untracked_bytes,
        stacks_not_recorded: s.bookkeeping.stacks_not_recorded,
        alloc_failures: s.failures,
        internal_errors: s.bookkeeping.internal_errors,
        top_by: s.top.by,
        top: top(profile, &s.top),
    }
}

/// A row of `leaks`.
#[derive(Debug, Clone, Copy, DeriveSerialize)]
pub struct LeakJson<'a> {
    /// Blocks live at the end.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Index in `frames` of the frame the group is named by.
    pub user_frame: usize,
    /// The stack, innermost first.
    pub frames: StackJson<'a>,
}

/// The `leaks` array.
#[derive(Debug, Clone, Copy)]
pub struct LeaksJson<'a> {
    profile: &'a Profile,
    leaks: &'a Leaks,
}

impl Serialize for LeaksJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.leaks.groups.iter().map(|g| LeakJson {
            blocks: g.blocks,
            bytes: g.bytes,
            user_frame: g.user_frame,
            frames: StackJson {
                profile: self.profile,
                stack: Some(g.stack),
            },
        }))
    }
}

/// The `leaks` shape of `leaks`.
#[must_use]
pub const fn leaks<'a>(profile: &'a Profile, leaks: &'a Leaks) -> LeaksJson<'a> {
    LeaksJson { profile, leaks }
}

/// The `hist` shape of `h`: its buckets.
#[must_use]
pub fn hist(h: &Histogram) -> &[Bucket] {
    &h.buckets
}

/// A row of `diff`.
#[derive(Debug, Clone, Copy, DeriveSerialize)]
pub struct DiffRowJson<'a> {
    /// The figure in the old profile.
    pub old: u64,
    /// The figure in the new profile.
    pub new: u64,
    /// `new - old`.
    pub delta: i128,
    /// The change in percent of `old`, or null when `old` is zero.
    pub change_pct: Option<f64>,
    /// Index in `frames` of the frame the row is named by.
    pub user_frame: usize,
    /// The stack (from the new profile when there, else the old), innermost first.
    pub frames: StackJson<'a>,
}

/// The rows of `diff`.
#[derive(Debug, Clone, Copy)]
pub struct DiffRowsJson<'a> {
    old: &'a Profile,
    new: &'a Profile,
    diff: &'a Diff,
}

impl Serialize for DiffRowsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.diff.rows.iter().map(|r| DiffRowJson {
            old: r.old,
            new: r.new,
            delta: r.delta(),
            change_pct: r.change_pct(),
            user_frame: r.user_frame,
            frames: match r.new_stack {
                Some(stack) => StackJson {
                    profile: self.new,
                    stack: Some(stack),
                },
                None => StackJson {
                    profile: self.old,
                    stack: r.old_stack,
                },
            },
        }))
    }
}

/// The `diff` object.
#[derive(Debug, Clone, Copy, DeriveSerialize)]
pub struct DiffJson<'a> {
    /// The metric compared.
    pub by: Metric,
    /// Its total in the old profile.
    pub old_total: u64,
    /// Its total in the new profile.
    pub new_total: u64,
    /// `new_total - old_total`.
    pub delta: i128,
    /// The change of the total in percent, or null when the old total is zero.
    pub change_pct: Option<f64>,
    /// Callsites that changed, before any limit.
    pub changed: usize,
    /// Callsites that did not change, before any limit (counted when they
    /// are asked for, 0 otherwise).
    pub unchanged: usize,
    /// The changed callsites, biggest increase first; then, when asked for,
    /// the unchanged ones, largest first.
    pub rows: DiffRowsJson<'a>,
}

/// The `diff` shape of `diff`.
#[must_use]
pub fn diff<'a>(old: &'a Profile, new: &'a Profile, diff: &'a Diff) -> DiffJson<'a> {
    DiffJson {
        by: diff.by,
        old_total: diff.old_total,
        new_total: diff.new_total,
        delta: diff.delta(),
        change_pct: diff.change_pct(),
        changed: diff.changed,
        unchanged: diff.unchanged,
        rows: DiffRowsJson { old, new, diff },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::diff::DiffOptions;
    use crate::hist::{HistKind, HistOptions, histogram};
    use crate::leaks::LeakOptions;
    use crate::summary::SummaryOptions;
    use crate::testing::ProfileBuilder;
    use crate::top::TopOptions;

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new("/bin/demo");
        b.site(
            &[
                ("alloc::vec::Vec<T,A>::push", "", 0),
                ("demo::leak", "src/main.rs", 7),
            ],
            |c| {
                c.blocks = 2;
                c.bytes = 96;
                c.reallocs = 1;
                c.live_blocks = 1;
                c.live_bytes = 64;
                c.peak_blocks = 1;
                c.peak_bytes = 64;
                c.freed_blocks = 1;
            },
        );
        b.histograms(
            &[crate::format::Bucket {
                lo: 32,
                hi: 63,
                blocks: 1,
                bytes: 32,
            }],
            &[],
            &[],
        );
        b.build()
    }

    fn to_value(v: impl Serialize) -> Value {
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn top_rows_have_the_documented_keys_and_frames_innermost_first() {
        let p = profile();
        let t = crate::top::top(&p, &TopOptions::default());
        let v = to_value(top(&p, &t));
        assert_eq!(
            v,
            json!([{
                "blocks": 2, "bytes": 96, "reallocs": 1, "live_blocks": 1, "live_bytes": 64,
                "peak_blocks": 1, "peak_bytes": 64, "max_live_bytes": 64, "freed_blocks": 1,
                "share": 1.0, "margin_95": null, "user_frame": 1,
                "frames": [
                    {"function": "alloc::vec::Vec<T,A>::push", "file": null, "line": null},
                    {"function": "demo::leak", "file": "src/main.rs", "line": 7}
                ]
            }])
        );
    }

    #[test]
    fn sampled_top_rows_carry_their_margin() {
        let mut p = profile();
        p.meta.mode = Mode::Sampled { rate_bytes: 64 };
        p.callsites[0].bytes_variance = Some(144);
        let t = crate::top::top(&p, &TopOptions::default());
        let v = to_value(top(&p, &t));
        // A standard error of 12 bytes on 96.
        let m = v[0]["margin_95"].as_f64().unwrap();
        assert!((m - crate::margin::Z_95 * 12.0 / 96.0).abs() < 1e-12, "{m}");
    }

    #[test]
    fn summary_has_at_least_the_issue_keys() {
        let p = profile();
        let s = crate::summary::summary(&p, &SummaryOptions::default());
        let v = to_value(summary(&p, &s));
        for (key, want) in [
            ("total_blocks", json!(2)),
            ("total_bytes", json!(96)),
            ("reallocs", json!(1)),
            ("live_blocks", json!(1)),
            ("live_bytes", json!(64)),
            ("peak_bytes", json!(64)),
            ("mode", json!("exact")),
            ("sample_rate_bytes", Value::Null),
            ("program", json!("/bin/demo")),
            ("top_by", json!("bytes")),
        ] {
            assert_eq!(v[key], want, "{key}");
        }
        assert_eq!(v["top"].as_array().unwrap().len(), 1);

        let mut sampled = p.clone();
        sampled.meta.mode = Mode::Sampled { rate_bytes: 4096 };
        let v = to_value(summary(&sampled, &s));
        assert_eq!(
            (v["mode"].as_str(), v["sample_rate_bytes"].as_u64()),
            (Some("sampled"), Some(4096))
        );
    }

    #[test]
    fn leaks_hist_and_diff_shapes() {
        let p = profile();
        let l = crate::leaks::leaks(&p, &LeakOptions::default());
        let v = to_value(leaks(&p, &l));
        assert_eq!(v[0]["blocks"], 1);
        assert_eq!(v[0]["bytes"], 64);
        assert_eq!(v[0]["frames"][1]["function"], "demo::leak");

        let h = histogram(&p, &HistOptions::new(HistKind::Size, false));
        assert_eq!(
            to_value(hist(&h)),
            json!([{"lo": 32, "hi": 63, "blocks": 1, "bytes": 32}])
        );

        let empty = ProfileBuilder::new("/bin/demo").build();
        let d = crate::diff::diff(&p, &empty, &DiffOptions::default());
        let v = to_value(diff(&p, &empty, &d));
        assert_eq!(v["by"], "bytes");
        assert_eq!(
            (v["old_total"].as_u64(), v["new_total"].as_u64()),
            (Some(96), Some(0))
        );
        assert_eq!(v["delta"], -96);
        assert_eq!(v["change_pct"], -100.0);
        assert_eq!(v["rows"][0]["change_pct"], -100.0);
        assert_eq!(
            v["rows"][0]["frames"][1]["line"], 7,
            "a gone callsite shows its old stack"
        );
        let d = crate::diff::diff(&empty, &p, &DiffOptions::default());
        let v = to_value(diff(&empty, &p, &d));
        assert_eq!(v["change_pct"], Value::Null);
        assert_eq!(v["rows"][0]["change_pct"], Value::Null);
    }
}
