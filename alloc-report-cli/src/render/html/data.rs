//! The JSON blob the page's script draws from: folded stacks per metric (from
//! [`alloc_core::folded`]), the heap-over-time series with its peak, and the
//! histograms (from [`alloc_core::hist`]). Everything is computed here; the
//! script only lays it out.

use std::collections::HashMap;

use alloc_core::Profile;
use alloc_core::folded::{FoldedOptions, folded};
use alloc_core::hist::{HistKind, HistOptions, histogram};
use alloc_core::metric::Metric;
use alloc_core::names::{FrameClass, classify};
use alloc_core::number::{bytes, count, duration_ns};
use serde::Serialize;

use crate::render::hist::{label as bucket_label, size_value};

/// The whole blob.
#[derive(Debug, Serialize)]
pub struct ReportData {
    /// Frame labels of every flamegraph, interned: stacks refer to them by index.
    pub names: Vec<String>,
    /// Per name: 0 for the user's code, 1 for library code, 2 for unknown frames.
    pub kinds: Vec<u8>,
    /// The flamegraphs, in the order of [`Metric::ALL`].
    pub flames: Vec<Flame>,
    /// The heap over time.
    pub timeline: Timeline,
    /// Size, alignment and lifetime histograms.
    pub hists: Vec<Hist>,
    /// Mean bytes between samples, for a sampled profile.
    pub sample_rate_bytes: Option<u64>,
}

/// The folded stacks of one metric.
#[derive(Debug, Serialize)]
pub struct Flame {
    /// `bytes`, `blocks`, `live` or `peak`.
    pub metric: &'static str,
    /// What widths mean, e.g. `bytes allocated`.
    pub describe: &'static str,
    /// True when values are bytes, false when they count blocks.
    pub is_bytes: bool,
    /// The sum of all values.
    pub total: u64,
    /// `total` as people read it (the script's own formatting must agree).
    pub total_label: String,
    /// Each stack root first, as indices into [`ReportData::names`], and its value.
    pub stacks: Vec<(Vec<u32>, u64)>,
}

/// The live-heap series.
#[derive(Debug, Serialize)]
pub struct Timeline {
    /// The session's length in nanoseconds.
    pub duration_ns: u64,
    /// `[t_ns, live_bytes, max_bytes, live_blocks]`, in time order.
    pub points: Vec<[u64; 4]>,
    /// The global peak.
    pub peak: Peak,
}

/// The global peak, for the marker on the chart.
#[derive(Debug, Serialize)]
pub struct Peak {
    /// When it was first reached.
    pub t_ns: u64,
    /// Bytes live then.
    pub bytes: u64,
    /// Blocks live then.
    pub blocks: u64,
    /// `990.6 KiB at 8.7 ms`.
    pub label: String,
}

/// One histogram, buckets with gaps filled.
#[derive(Debug, Serialize)]
pub struct Hist {
    /// `size`, `align` or `lifetime`.
    pub kind: &'static str,
    /// The chart's title.
    pub title: &'static str,
    /// Blocks over all buckets.
    pub blocks: u64,
    /// `12,843 blocks, 4.4 MiB`.
    pub total_label: String,
    /// The buckets.
    pub buckets: Vec<HistBucket>,
}

/// One bar.
#[derive(Debug, Serialize)]
pub struct HistBucket {
    /// Blocks in the bucket (the bar's height).
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The bucket's bounds, e.g. `[64, 128)` or `[1.0 µs, 2.0 µs)`.
    pub range: String,
    /// Its lower bound alone, for the axis.
    pub tick: String,
    /// `1,234 blocks, 56.0 KiB`.
    pub value_label: String,
}

/// Interns frame labels.
#[derive(Default)]
struct Names {
    index: HashMap<String, u32>,
    names: Vec<String>,
    kinds: Vec<u8>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.index.insert(name.to_owned(), i);
        self.names.push(name.to_owned());
        self.kinds.push(match classify(name, None) {
            FrameClass::User => 0,
            FrameClass::Library => 1,
            FrameClass::Unknown => 2,
        });
        i
    }
}

/// A metric's value as people read it.
fn value_label(is_bytes: bool, v: u64) -> String {
    if is_bytes { bytes(v) } else { count(v) }
}

/// Gathers the blob for `profile`.
pub fn report_data(profile: &Profile) -> ReportData {
    let mut names = Names::default();
    let flames = Metric::ALL
        .iter()
        .map(|&metric| {
            let lines = folded(profile, &FoldedOptions::new(metric));
            let total = lines.iter().fold(0u64, |a, l| a.saturating_add(l.1));
            let stacks = lines
                .iter()
                .map(|(stack, v)| (stack.split(';').map(|f| names.intern(f)).collect(), *v))
                .collect();
            Flame {
                metric: metric.name(),
                describe: metric.describe(),
                is_bytes: metric.is_bytes(),
                total,
                total_label: value_label(metric.is_bytes(), total),
                stacks,
            }
        })
        .collect();
    let t = &profile.totals;
    let timeline = Timeline {
        duration_ns: profile.meta.duration_ns,
        points: profile
            .timeline
            .iter()
            .map(|p| {
                [
                    p.t_ns,
                    p.live_bytes,
                    p.max_bytes.max(p.live_bytes),
                    p.live_blocks,
                ]
            })
            .collect(),
        peak: Peak {
            t_ns: t.peak_time_ns,
            bytes: t.peak_bytes,
            blocks: t.peak_blocks,
            label: format!(
                "peak {} at {}",
                bytes(t.peak_bytes),
                duration_ns(t.peak_time_ns)
            ),
        },
    };
    let hists = [HistKind::Size, HistKind::Align, HistKind::Lifetime]
        .into_iter()
        .map(|of| {
            let h = histogram(profile, &HistOptions::new(of, true));
            Hist {
                kind: of.name(),
                title: match of {
                    HistKind::Size => "Block sizes",
                    HistKind::Align => "Alignments requested",
                    HistKind::Lifetime => "Lifetimes of freed blocks",
                },
                blocks: h.blocks,
                total_label: format!("{} blocks, {}", count(h.blocks), bytes(h.bytes)),
                buckets: h
                    .buckets
                    .iter()
                    .map(|b| HistBucket {
                        blocks: b.blocks,
                        bytes: b.bytes,
                        range: bucket_label(of, b),
                        tick: match of {
                            HistKind::Lifetime => duration_ns(b.lo),
                            HistKind::Size | HistKind::Align if b.lo < 1024 => {
                                format!("{} B", b.lo)
                            }
                            HistKind::Size | HistKind::Align => size_value(b.lo),
                        },
                        value_label: format!("{} blocks, {}", count(b.blocks), bytes(b.bytes)),
                    })
                    .collect(),
            }
        })
        .collect();
    ReportData {
        names: names.names,
        kinds: names.kinds,
        flames,
        timeline,
        hists,
        sample_rate_bytes: crate::render::html::sample_rate(profile),
    }
}

#[cfg(test)]
mod tests {
    use alloc_core::testing::ProfileBuilder;

    use super::*;
    use crate::render::test_support::profile;

    #[test]
    fn every_metric_gets_the_folded_stacks_of_alloc_core() {
        let p = profile();
        let d = report_data(&p);
        let metrics: Vec<_> = d.flames.iter().map(|f| f.metric).collect();
        assert_eq!(metrics, ["bytes", "blocks", "live", "peak"]);
        for (flame, &metric) in d.flames.iter().zip(&Metric::ALL) {
            let want = folded(&p, &FoldedOptions::new(metric));
            let got: Vec<(String, u64)> = flame
                .stacks
                .iter()
                .map(|(s, v)| {
                    let labels: Vec<&str> =
                        s.iter().map(|&i| d.names[i as usize].as_str()).collect();
                    (labels.join(";"), *v)
                })
                .collect();
            assert_eq!(got, want, "{metric:?}");
            assert_eq!(flame.total, want.iter().map(|l| l.1).sum::<u64>());
        }
        let live = &d.flames[2];
        assert_eq!(live.total, 65_536 + 4096);
        assert_eq!(live.total_label, "68.0 KiB");
        assert_eq!(d.flames[1].total_label, "12,041");
    }

    #[test]
    fn names_are_interned_once_and_classified() {
        let d = report_data(&profile());
        let main = d.names.iter().position(|n| n == "demo::main").unwrap();
        assert_eq!(d.names.iter().filter(|n| *n == "demo::main").count(), 1);
        assert_eq!(d.kinds[main], 0);
        let push = d
            .names
            .iter()
            .position(|n| n == "alloc::vec::Vec<T,A>::push")
            .unwrap();
        assert_eq!(d.kinds[push], 1);
        assert_eq!(d.names.len(), d.kinds.len());
    }

    #[test]
    fn histograms_are_gap_filled_and_labelled() {
        let d = report_data(&profile());
        let kinds: Vec<_> = d.hists.iter().map(|h| h.kind).collect();
        assert_eq!(kinds, ["size", "align", "lifetime"]);
        let size = &d.hists[0];
        assert_eq!(size.buckets[0].range, "[8, 16)");
        assert_eq!(size.buckets[0].tick, "8 B");
        assert_eq!(size.buckets[1].blocks, 0, "the gap [16, 32) is shown");
        assert_eq!(size.buckets.last().unwrap().tick, "32 KiB");
        assert_eq!(size.total_label, "12,041 blocks, 2.0 MiB");
        let lifetime = &d.hists[2];
        assert_eq!(lifetime.buckets[0].tick, "512 ns");
    }

    #[test]
    fn the_timeline_carries_the_peak() {
        let mut p = profile();
        p.timeline = vec![
            alloc_core::format::HeapPoint {
                t_ns: 10,
                live_bytes: 100,
                live_blocks: 1,
                max_bytes: 150,
            },
            alloc_core::format::HeapPoint {
                t_ns: 20,
                live_bytes: 50,
                live_blocks: 1,
                max_bytes: 0,
            },
        ];
        let d = report_data(&p);
        assert_eq!(d.timeline.points, [[10, 100, 150, 1], [20, 50, 50, 1]]);
        assert_eq!(d.timeline.peak.bytes, p.totals.peak_bytes);
        assert!(d.timeline.peak.label.starts_with("peak "));
    }

    #[test]
    fn an_empty_profile_has_empty_data_not_errors() {
        let d = report_data(&ProfileBuilder::new("empty").build());
        assert!(d.names.is_empty());
        assert!(d.flames.iter().all(|f| f.total == 0 && f.stacks.is_empty()));
        assert!(d.timeline.points.is_empty());
        assert!(d.hists.iter().all(|h| h.buckets.is_empty()));
        assert_eq!(d.sample_rate_bytes, None);
    }
}
