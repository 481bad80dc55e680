//! speedscope's JSON file format
//! (<https://www.speedscope.app/file-format-schema.json>): the frames once in
//! `shared.frames`, then one `sampled` profile per [`Metric`] — bytes
//! allocated, blocks allocated, bytes live at the end, bytes live at the peak —
//! so the viewer's profile switcher moves between them. Each callsite is one
//! sample (its stack, root first) weighed by the metric; callsites where the
//! metric is zero are left out of that profile.

use std::collections::HashMap;

use serde::Serialize;

use super::{frame_at, function_name, trimmed_stacks};
use crate::format::{Mode, Profile};
use crate::metric::Metric;

/// The value of [`File::schema`].
pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// A speedscope file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    /// Always [`SCHEMA`].
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    /// Data the profiles share.
    pub shared: Shared,
    /// One profile per metric, in the order of [`Metric::ALL`].
    pub profiles: Vec<SampledProfile>,
    /// The name of the group: the program, and whether figures are estimates.
    pub name: String,
    /// The profile shown first: 0, bytes allocated.
    #[serde(rename = "activeProfileIndex")]
    pub active_profile_index: usize,
    /// What wrote the file.
    pub exporter: String,
}

/// The frames, shared by every profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shared {
    /// Every frame some sample refers to.
    pub frames: Vec<Frame>,
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Frame {
    /// The function, without its hash suffix.
    pub name: String,
    /// The source file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The source line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The source column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
}

/// A profile of type `sampled`: stacks and their weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampledProfile {
    /// Always `sampled`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What the weights are, e.g. `bytes allocated`.
    pub name: String,
    /// `bytes`, or `none` for counts of blocks.
    pub unit: &'static str,
    /// Always 0.
    #[serde(rename = "startValue")]
    pub start_value: u64,
    /// The sum of the weights.
    #[serde(rename = "endValue")]
    pub end_value: u64,
    /// Stacks as indices into [`Shared::frames`], root first.
    pub samples: Vec<Vec<u32>>,
    /// The weight of each sample.
    pub weights: Vec<u64>,
}

/// The speedscope file of `profile`.
///
/// # Examples
/// ```
/// use alloc_core::export::speedscope::{speedscope, SCHEMA};
/// use alloc_core::testing::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new("demo");
/// b.site(&[("demo::leaf", "src/main.rs", 4), ("demo::main", "src/main.rs", 9)], |c| {
///     c.blocks = 2; c.bytes = 48; c.live_blocks = 1; c.live_bytes = 16;
///     c.peak_blocks = 2; c.peak_bytes = 48; c.freed_blocks = 1;
/// });
/// let file = speedscope(&b.build());
/// assert_eq!(file.schema, SCHEMA);
/// let names: Vec<_> = file.profiles.iter().map(|p| (p.name.as_str(), p.end_value)).collect();
/// assert_eq!(names, [("bytes allocated", 48), ("blocks allocated", 2),
///                    ("bytes live at end", 16), ("bytes live at peak", 48)]);
/// // Stacks run root first.
/// let root = file.profiles[0].samples[0][0] as usize;
/// assert_eq!(file.shared.frames[root].name, "demo::main");
/// ```
#[must_use]
pub fn speedscope(profile: &Profile) -> File {
    let stacks = trimmed_stacks(profile);
    let mut frames: Vec<Frame> = Vec::new();
    let mut index_of: HashMap<Frame, u32> = HashMap::new();
    let mut intern = |frame: Frame| -> u32 {
        *index_of.entry(frame).or_insert_with_key(|f| {
            frames.push(f.clone());
            u32::try_from(frames.len() - 1).unwrap_or(u32::MAX)
        })
    };
    // Each callsite's stack, root first, as indices into `frames`.
    let root_first: Vec<Vec<u32>> = stacks
        .iter()
        .map(|(_, stack)| {
            if stack.is_empty() {
                return vec![intern(Frame {
                    name: "[no frames]".to_owned(),
                    file: None,
                    line: None,
                    col: None,
                })];
            }
            stack
                .iter()
                .rev()
                .map(|&f| {
                    let frame = frame_at(profile, f);
                    intern(Frame {
                        name: function_name(&frame),
                        file: frame.file.clone(),
                        line: frame.line,
                        col: frame.column,
                    })
                })
                .collect()
        })
        .collect();
    let profiles = Metric::ALL
        .iter()
        .map(|&metric| {
            let (mut samples, mut weights) = (Vec::new(), Vec::new());
            for ((c, _), stack) in stacks.iter().zip(&root_first) {
                let weight = metric.of(c);
                if weight > 0 {
                    samples.push(stack.clone());
                    weights.push(weight);
                }
            }
            SampledProfile {
                kind: "sampled",
                name: metric.describe().to_owned(),
                unit: if metric.is_bytes() { "bytes" } else { "none" },
                start_value: 0,
                end_value: weights.iter().fold(0u64, |a, &w| a.saturating_add(w)),
                samples,
                weights,
            }
        })
        .collect();
    let estimates = match profile.meta.mode {
        Mode::Exact => String::new(),
        Mode::Sampled { rate_bytes } => {
            format!(" (sampled every {rate_bytes} bytes on average: figures are estimates)")
        }
    };
    File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles,
        name: format!("{}{estimates}", profile.meta.program),
        active_profile_index: 0,
        exporter: concat!("alloc-profiler ", env!("CARGO_PKG_VERSION")).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    fn two_sites() -> Profile {
        let mut b = ProfileBuilder::new("/bin/demo");
        b.site(
            &[
                ("alloc::raw_vec::finish_grow", "/rustc/x/raw_vec.rs", 1),
                ("demo::fill", "src/main.rs", 10),
                ("demo::main", "src/main.rs", 20),
            ],
            |c| {
                c.blocks = 4;
                c.bytes = 100;
                c.freed_blocks = 4;
            },
        );
        b.site(
            &[
                ("demo::keep", "src/main.rs", 30),
                ("demo::main", "src/main.rs", 21),
            ],
            |c| {
                c.blocks = 1;
                c.bytes = 50;
                c.live_blocks = 1;
                c.live_bytes = 50;
                c.peak_blocks = 1;
                c.peak_bytes = 50;
            },
        );
        b.build()
    }

    #[test]
    fn every_metric_is_a_profile_whose_weights_add_up_to_the_totals() {
        let p = two_sites();
        let f = speedscope(&p);
        let t = p.totals;
        let ends: Vec<_> = f.profiles.iter().map(|s| s.end_value).collect();
        assert_eq!(
            ends,
            [t.bytes_allocated, t.allocations, t.live_bytes, t.peak_bytes]
        );
        let units: Vec<_> = f.profiles.iter().map(|s| s.unit).collect();
        assert_eq!(units, ["bytes", "none", "bytes", "bytes"]);
        for s in &f.profiles {
            assert_eq!(s.samples.len(), s.weights.len());
            assert_eq!(s.kind, "sampled");
        }
        // Live at end: only the callsite that still holds memory.
        assert_eq!(f.profiles[2].weights, [50]);
    }

    #[test]
    fn frames_are_shared_once_with_plumbing_trimmed_and_stacks_root_first() {
        let f = speedscope(&two_sites());
        let names: Vec<_> = f.shared.frames.iter().map(|fr| fr.name.as_str()).collect();
        // `demo::main` appears twice: the two calls are on different lines.
        assert_eq!(
            names,
            ["demo::main", "demo::fill", "demo::main", "demo::keep"]
        );
        assert_eq!(f.profiles[0].samples, [vec![0, 1], vec![2, 3]]);
        assert_eq!(f.shared.frames[1].file.as_deref(), Some("src/main.rs"));
        assert_eq!(f.shared.frames[1].line, Some(10));
    }

    #[test]
    fn sampled_profiles_say_their_figures_are_estimates() {
        let mut b = ProfileBuilder::new("/bin/demo");
        b.sampled(4096);
        assert!(speedscope(&b.build()).name.contains("estimates"));
        assert_eq!(speedscope(&two_sites()).name, "/bin/demo");
    }

    #[test]
    fn the_json_has_the_schema_s_required_fields() {
        let v = serde_json::to_value(speedscope(&two_sites())).unwrap();
        assert_eq!(v["$schema"], SCHEMA);
        assert!(v["shared"]["frames"].is_array());
        for p in v["profiles"].as_array().unwrap() {
            for key in [
                "type",
                "name",
                "unit",
                "startValue",
                "endValue",
                "samples",
                "weights",
            ] {
                assert!(p.get(key).is_some(), "{key}");
            }
        }
        // Optional frame fields are left out, never null.
        assert!(!v.to_string().contains("null"));
    }
}
