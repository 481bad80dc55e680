//! A builder of synthetic profiles whose totals add up, for tests of the reports
//! and of tools that read profiles (doc examples here use it too).
//!
//! ```
//! use alloc_core::testing::ProfileBuilder;
//! let mut b = ProfileBuilder::new("/bin/demo");
//! b.site(&[("alloc::vec::Vec<T,A>::push", "vec.rs", 1), ("demo::main", "src/main.rs", 7)], |c| {
//!     c.blocks = 3;
//!     c.bytes = 96;
//!     c.live_blocks = 1;
//!     c.live_bytes = 32;
//!     c.peak_blocks = 2;
//!     c.peak_bytes = 64;
//!     c.freed_blocks = 2;
//! });
//! let p = b.build();
//! assert_eq!(p.totals.bytes_allocated, 96);
//! assert!(alloc_core::load::validate(&p).is_ok());
//! ```

use std::collections::HashMap;

use crate::format::{
    Bookkeeping, Bucket, Callsite, Capture, Events, FORMAT_NAME, FORMAT_VERSION, Frame, Histograms,
    Meta, Mode, Profile, Stack, Totals, Untracked,
};
use crate::histogram::{
    ALIGN_BUCKETS, Bucketing, LOG2_BUCKETS, align_bucket, buckets_from_counts, log2_bucket,
};

/// Builds a [`Profile`] callsite by callsite; [`ProfileBuilder::build`] fills the
/// totals (and, unless they were set, the histograms) from the callsites, so the
/// result passes [`crate::load::validate`] when each callsite's figures are
/// possible: every block freed or live (`freed_blocks + live_blocks = blocks`
/// when there are no reallocations), each stack used by one callsite.
#[derive(Debug, Clone)]
pub struct ProfileBuilder {
    profile: Profile,
    frame_ids: HashMap<(String, String, u32), u32>,
    stack_ids: HashMap<Vec<u32>, u32>,
}

impl ProfileBuilder {
    /// An empty exact profile of `program`.
    #[must_use]
    pub fn new(program: &str) -> Self {
        Self {
            profile: Profile {
                format: FORMAT_NAME.to_owned(),
                format_version: FORMAT_VERSION,
                meta: Meta {
                    tool: "alloc-profiler 0.1.0".to_owned(),
                    program: program.to_owned(),
                    args: Vec::new(),
                    pid: 4242,
                    started_unix_ms: 1_700_000_000_000,
                    duration_ns: 1_500_000_000,
                    mode: Mode::Exact,
                    capture: Capture {
                        method: "frame_pointers".to_owned(),
                        max_frames: 64,
                        note: None,
                    },
                    calibration: None,
                },
                totals: Totals::default(),
                untracked: Untracked::default(),
                bookkeeping: Bookkeeping::default(),
                frames: Vec::new(),
                stacks: Vec::new(),
                callsites: Vec::new(),
                histograms: Histograms::default(),
                timeline: Vec::new(),
                events: Events::default(),
                threads: Vec::new(),
            },
            frame_ids: HashMap::new(),
            stack_ids: HashMap::new(),
        }
    }

    /// Marks the profile as sampled at one sample per `rate_bytes`.
    pub fn sampled(&mut self, rate_bytes: u64) -> &mut Self {
        self.profile.meta.mode = Mode::Sampled { rate_bytes };
        self
    }

    /// Interns a stack of `(function, file, line)` frames, innermost first, and
    /// returns its index.
    pub fn stack(&mut self, frames: &[(&str, &str, u32)]) -> u32 {
        let mut ids = Vec::with_capacity(frames.len());
        for &(function, file, line) in frames {
            let key = (function.to_owned(), file.to_owned(), line);
            let next = u32::try_from(self.profile.frames.len()).unwrap_or(u32::MAX);
            let id = *self.frame_ids.entry(key).or_insert_with(|| {
                self.profile.frames.push(Frame {
                    function: function.to_owned(),
                    file: (!file.is_empty()).then(|| file.to_owned()),
                    line: (line != 0).then_some(line),
                    column: None,
                    inlined: false,
                });
                next
            });
            ids.push(id);
        }
        if let Some(&i) = self.stack_ids.get(&ids) {
            return i;
        }
        let i = u32::try_from(self.profile.stacks.len()).unwrap_or(u32::MAX);
        self.stack_ids.insert(ids.clone(), i);
        self.profile.stacks.push(Stack { frames: ids });
        i
    }

    /// Adds a callsite for the stack `frames` (innermost first) whose figures
    /// `fill` sets; `max_live_bytes` is raised to at least the live and peak bytes.
    pub fn site(
        &mut self,
        frames: &[(&str, &str, u32)],
        fill: impl FnOnce(&mut Callsite),
    ) -> &mut Self {
        let stack = self.stack(frames);
        let mut c = Callsite {
            stack,
            ..Callsite::default()
        };
        fill(&mut c);
        c.stack = stack;
        c.max_live_bytes = c.max_live_bytes.max(c.live_bytes).max(c.peak_bytes);
        self.profile.callsites.push(c);
        self
    }

    /// Sets the size, alignment and lifetime histograms.
    pub fn histograms(
        &mut self,
        size: &[Bucket],
        align: &[Bucket],
        lifetime: &[Bucket],
    ) -> &mut Self {
        self.profile.histograms = Histograms {
            size: size.to_vec(),
            align: align.to_vec(),
            lifetime: lifetime.to_vec(),
        };
        self
    }

    /// Gives direct access to the profile under construction, for fields the
    /// builder has no method for.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    /// The finished profile, with totals summed from the callsites
    /// (`deallocations` from their `freed_blocks`). When no histogram was set,
    /// they are made from the callsites too: each callsite's blocks and
    /// reallocations at its mean size (split between two neighbouring sizes so
    /// the bytes add up exactly), alignment 8, and its freed blocks at their
    /// mean lifetime.
    #[must_use]
    pub fn build(&self) -> Profile {
        let mut p = self.profile.clone();
        let mut t = Totals {
            peak_time_ns: p.totals.peak_time_ns.max(750_000_000),
            ..Totals::default()
        };
        for c in &p.callsites {
            t.allocations += c.blocks;
            t.reallocations += c.reallocs;
            t.bytes_allocated += c.bytes;
            t.live_blocks += c.live_blocks;
            t.live_bytes += c.live_bytes;
            t.peak_blocks += c.peak_blocks;
            t.peak_bytes += c.peak_bytes;
            t.deallocations += c.freed_blocks;
        }
        t.bytes_deallocated = t.bytes_allocated
            - t.live_bytes
            - p.bookkeeping
                .untracked_bytes
                .min(t.bytes_allocated - t.live_bytes);
        p.totals = t;
        let h = &p.histograms;
        if h.size.is_empty() && h.align.is_empty() && h.lifetime.is_empty() {
            p.histograms = histograms_of(&p.callsites);
        }
        p
    }
}

/// Histograms that add up to `callsites` (see [`ProfileBuilder::build`]).
fn histograms_of(callsites: &[Callsite]) -> Histograms {
    let mut size_blocks = [0u64; LOG2_BUCKETS];
    let mut size_bytes = [0u64; LOG2_BUCKETS];
    let mut life_blocks = [0u64; LOG2_BUCKETS];
    let life_bytes = [0u64; LOG2_BUCKETS];
    let (mut all_blocks, mut all_bytes) = (0u64, 0u64);
    for c in callsites {
        let n = c.blocks + c.reallocs;
        if let (Some(mean), Some(r)) = (c.bytes.checked_div(n), c.bytes.checked_rem(n)) {
            // `n - r` blocks of `mean` bytes and `r` of `mean + 1`.
            for (count, size) in [(n - r, mean), (r, mean + 1)] {
                if count > 0 {
                    size_blocks[log2_bucket(size)] += count;
                    size_bytes[log2_bucket(size)] += count * size;
                }
            }
        }
        all_blocks += n;
        all_bytes += c.bytes;
        if c.freed_blocks > 0 {
            life_blocks[log2_bucket(c.lifetime_total_ns / c.freed_blocks)] += c.freed_blocks;
        }
    }
    let mut align_blocks = [0u64; ALIGN_BUCKETS];
    let mut align_bytes = [0u64; ALIGN_BUCKETS];
    align_blocks[align_bucket(8)] = all_blocks;
    align_bytes[align_bucket(8)] = all_bytes;
    Histograms {
        size: buckets_from_counts(Bucketing::Log2, &size_blocks, &size_bytes),
        align: buckets_from_counts(Bucketing::Align, &align_blocks, &align_bytes),
        lifetime: buckets_from_counts(Bucketing::Log2, &life_blocks, &life_bytes),
    }
}
