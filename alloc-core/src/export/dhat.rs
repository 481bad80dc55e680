//! Valgrind DHAT's JSON (`dhatFileVersion` 2, heap mode with lifetimes), the
//! file its viewer `dh_view.html` opens.
//!
//! Each callsite becomes a program point (PP): `tb`/`tbk` are the bytes and
//! blocks handed out (DHAT counts a reallocation as a new block, so `tbk` is
//! allocations plus reallocations), `gb`/`gbk` what was live at the global
//! peak, `eb`/`ebk` what was live at the end, `mb`/`mbk` the most live at once,
//! `tl` the total lifetime of the blocks freed. Times are in microseconds
//! (`tu: "µs"`, so the viewer's rates are per second, `Mtu: "s"`); the
//! profile's nanoseconds are kept as fractions.
//!
//! **Merged program points.** The viewer builds a tree from the PPs' frame
//! lists and rejects two PPs with equal lists ("data file contains a repeated
//! location"). Stacks that differ only in trimmed allocator plumbing, or in
//! what a frame's label does not show, do become equal, so such PPs are merged:
//! totals, lifetimes and the at-peak and at-end figures are sums (they are
//! counted at the same moments for every PP). Maxima are not additive — each
//! PP's maximum may have been reached at a different time — so the merged `mb`
//! is the largest of the PPs' own maxima, their summed at-peak bytes and their
//! summed at-end bytes: a lower bound of the true combined maximum, which lies
//! between it and the sum of the maxima. `mbk` is the block count of whichever
//! of those was taken.
//!
//! **Blocks at the maximum.** The profile records the most bytes live per
//! callsite but not how many blocks held them. When the maximum equals the
//! bytes live at the peak or at the end, `mbk` is that moment's block count;
//! otherwise it is an estimate: the maximum in blocks of the callsite's mean
//! size, rounded up.
//!
//! **Lifetimes.** `tl` is the sum of the lifetimes of the freed blocks. DHAT
//! also counts blocks still live at the end up to the end; the profile does not
//! know when they were allocated, so they add nothing and the viewer's average
//! lifetime (`tl / tbk`) understates callsites that leak.

use std::collections::HashMap;

use serde::Serialize;

use super::{frame_at, function_name, trimmed_stacks};
use crate::format::{Callsite, Frame, Mode, Profile};

/// The DHAT file version this module writes, the one `dh_view.js` expects.
pub const DHAT_FILE_VERSION: u32 = 2;

/// Lifetimes at most this long (in [`Dhat::tu`]) count as short-lived in the
/// viewer's "Total (blocks), short-lived" sort: 10 µs.
pub const SHORT_LIVED_US: f64 = 10.0;

/// A DHAT file; field names are DHAT's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dhat {
    /// Always [`DHAT_FILE_VERSION`].
    #[serde(rename = "dhatFileVersion")]
    pub dhat_file_version: u32,
    /// Shown as the profile's mode: `rust-heap`, saying so when figures are
    /// estimates from a sampled session.
    pub mode: String,
    /// How PPs are introduced: `Allocated` (at …).
    pub verb: &'static str,
    /// Block lifetimes are present: always true.
    pub bklt: bool,
    /// Block accesses are present: always false (the profiler does not see reads and writes).
    pub bkacc: bool,
    /// The time unit: `µs`.
    pub tu: &'static str,
    /// A million time units: `s`.
    #[serde(rename = "Mtu")]
    pub mtu: &'static str,
    /// The short-lived threshold, [`SHORT_LIVED_US`].
    pub tuth: f64,
    /// The program and its arguments.
    pub cmd: String,
    /// Its process id.
    pub pid: u32,
    /// The session's length (t-end), in µs.
    pub te: f64,
    /// When the global peak was first reached (t-gmax), in µs.
    pub tg: f64,
    /// The program points.
    pub pps: Vec<ProgramPoint>,
    /// The frame table: `[root]` first, then each frame's label.
    pub ftbl: Vec<String>,
}

/// One program point; field names are DHAT's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramPoint {
    /// Bytes handed out: allocation sizes plus reallocation new sizes.
    pub tb: u64,
    /// Blocks handed out: allocations plus reallocations.
    pub tbk: u64,
    /// Total lifetime of the freed blocks, in µs.
    pub tl: f64,
    /// The most bytes live at once (for merged PPs, a lower bound).
    pub mb: u64,
    /// Blocks live then (see the module docs for when this is an estimate).
    pub mbk: u64,
    /// Bytes live at the global peak.
    pub gb: u64,
    /// Blocks live at the global peak.
    pub gbk: u64,
    /// Bytes live at the end.
    pub eb: u64,
    /// Blocks live at the end.
    pub ebk: u64,
    /// Indices into [`Dhat::ftbl`], innermost frame first.
    pub fs: Vec<u32>,
}

/// The DHAT file of `profile`, with program points whose frame lists are
/// equal merged (see the module docs).
///
/// # Examples
/// ```
/// use alloc_core::export::dhat::dhat;
/// use alloc_core::testing::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new("/bin/demo");
/// b.site(&[("demo::leaf", "src/main.rs", 4), ("demo::main", "src/main.rs", 9)], |c| {
///     c.blocks = 3; c.bytes = 96; c.freed_blocks = 3; c.lifetime_total_ns = 6_000;
///     c.peak_blocks = 1; c.peak_bytes = 32;
/// });
/// let d = dhat(&b.build());
/// assert_eq!(d.ftbl, ["[root]", "demo::leaf (src/main.rs:4)", "demo::main (src/main.rs:9)"]);
/// let pp = &d.pps[0];
/// assert_eq!((pp.tb, pp.tbk, pp.gb, pp.eb), (96, 3, 32, 0));
/// assert_eq!(pp.tl, 6.0); // µs
/// assert_eq!(pp.fs, [1, 2]);
/// ```
#[must_use]
pub fn dhat(profile: &Profile) -> Dhat {
    let mut ftbl = vec!["[root]".to_owned()];
    let mut label_index: HashMap<String, u32> = HashMap::new();
    let mut pps: Vec<Merged> = Vec::new();
    let mut pp_index: HashMap<Vec<u32>, usize> = HashMap::new();
    for (c, stack) in trimmed_stacks(profile) {
        let fs: Vec<u32> = stack
            .iter()
            .map(|&f| {
                let label = frame_label(&frame_at(profile, f));
                *label_index.entry(label).or_insert_with_key(|l| {
                    ftbl.push(l.clone());
                    u32::try_from(ftbl.len() - 1).unwrap_or(u32::MAX)
                })
            })
            .collect();
        match pp_index.get(&fs) {
            Some(&i) => pps[i].add(c),
            None => {
                pp_index.insert(fs.clone(), pps.len());
                let mut m = Merged::new(fs);
                m.add(c);
                pps.push(m);
            }
        }
    }
    let (program, sampled) = (&profile.meta.program, profile.meta.mode);
    let mut cmd = program.clone();
    for a in &profile.meta.args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    Dhat {
        dhat_file_version: DHAT_FILE_VERSION,
        mode: match sampled {
            Mode::Exact => "rust-heap".to_owned(),
            Mode::Sampled { rate_bytes } => format!(
                "rust-heap, sampled every {rate_bytes} bytes on average: figures are estimates"
            ),
        },
        verb: "Allocated",
        bklt: true,
        bkacc: false,
        tu: "µs",
        mtu: "s",
        tuth: SHORT_LIVED_US,
        cmd,
        pid: profile.meta.pid,
        te: micros(u128::from(profile.meta.duration_ns)),
        tg: micros(u128::from(profile.totals.peak_time_ns)),
        pps: pps.into_iter().map(Merged::finish).collect(),
        ftbl,
    }
}

/// A frame as the viewer lists it: `function (file:line:column)`, or the
/// function alone without a file.
///
/// ```
/// use alloc_core::export::dhat::frame_label;
/// use alloc_core::format::Frame;
/// let f = Frame { function: "demo::f::h0123456789abcdef".into(), file: Some("src/lib.rs".into()),
///                 line: Some(3), column: Some(9), inlined: false };
/// assert_eq!(frame_label(&f), "demo::f (src/lib.rs:3:9)");
/// ```
#[must_use]
pub fn frame_label(frame: &Frame) -> String {
    let name = function_name(frame);
    match (&frame.file, frame.line, frame.column) {
        (None, ..) => name,
        (Some(file), None, _) => format!("{name} ({file})"),
        (Some(file), Some(line), None) => format!("{name} ({file}:{line})"),
        (Some(file), Some(line), Some(col)) => format!("{name} ({file}:{line}:{col})"),
    }
}

/// Nanoseconds as (fractional) microseconds.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ns (104 days)
fn micros(ns: u128) -> f64 {
    ns as f64 / 1000.0
}

/// The figures of one or more callsites whose frame lists are equal.
struct Merged {
    fs: Vec<u32>,
    tb: u64,
    tbk: u64,
    tl_ns: u128,
    /// The largest of the callsites' own maxima, with its block count.
    own_max: (u64, u64),
    gb: u64,
    gbk: u64,
    eb: u64,
    ebk: u64,
}

impl Merged {
    const fn new(fs: Vec<u32>) -> Self {
        Self {
            fs,
            tb: 0,
            tbk: 0,
            tl_ns: 0,
            own_max: (0, 0),
            gb: 0,
            gbk: 0,
            eb: 0,
            ebk: 0,
        }
    }

    fn add(&mut self, c: &Callsite) {
        self.tb = self.tb.saturating_add(c.bytes);
        self.tbk = self.tbk.saturating_add(c.blocks.saturating_add(c.reallocs));
        self.tl_ns += u128::from(c.lifetime_total_ns);
        let max = (c.max_live_bytes, blocks_at_max(c));
        if max.0 > self.own_max.0 {
            self.own_max = max;
        }
        self.gb = self.gb.saturating_add(c.peak_bytes);
        self.gbk = self.gbk.saturating_add(c.peak_blocks);
        self.eb = self.eb.saturating_add(c.live_bytes);
        self.ebk = self.ebk.saturating_add(c.live_blocks);
    }

    fn finish(self) -> ProgramPoint {
        let mut max = self.own_max;
        for candidate in [(self.gb, self.gbk), (self.eb, self.ebk)] {
            if candidate.0 > max.0 {
                max = candidate;
            }
        }
        ProgramPoint {
            tb: self.tb,
            tbk: self.tbk,
            tl: micros(self.tl_ns),
            mb: max.0,
            mbk: max.1,
            gb: self.gb,
            gbk: self.gbk,
            eb: self.eb,
            ebk: self.ebk,
            fs: self.fs,
        }
    }
}

/// The blocks of `c` live when its bytes were at their maximum: known when the
/// maximum is the bytes at the peak or at the end, else estimated as the
/// maximum in blocks of the callsite's mean size, rounded up (at least one).
fn blocks_at_max(c: &Callsite) -> u64 {
    let max = c.max_live_bytes;
    if max == c.peak_bytes {
        return c.peak_blocks;
    }
    if max == c.live_bytes {
        return c.live_blocks;
    }
    let handed_out = u128::from(c.blocks) + u128::from(c.reallocs);
    if c.bytes == 0 || handed_out == 0 {
        return u64::from(max > 0);
    }
    let estimate = (u128::from(max) * handed_out).div_ceil(u128::from(c.bytes));
    u64::try_from(estimate.max(1)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    /// Two callsites whose stacks differ only in allocator plumbing, so they
    /// have equal frame lists once it is trimmed, and a third elsewhere.
    fn twins() -> Profile {
        let mut b = ProfileBuilder::new("/bin/demo");
        b.profile_mut().meta.args = vec!["--fast".into()];
        b.site(
            &[
                ("alloc::raw_vec::finish_grow", "/rustc/x/raw_vec.rs", 1),
                ("demo::fill", "src/main.rs", 10),
                ("demo::main", "src/main.rs", 20),
            ],
            |c| {
                c.blocks = 4;
                c.bytes = 400;
                c.reallocs = 1;
                c.freed_blocks = 3;
                c.lifetime_total_ns = 3_000;
                c.live_blocks = 1;
                c.live_bytes = 100;
                c.peak_blocks = 2;
                c.peak_bytes = 200;
                c.max_live_bytes = 300;
            },
        );
        b.site(
            &[
                ("alloc::alloc::alloc", "/rustc/x/alloc.rs", 2),
                ("demo::fill", "src/main.rs", 10),
                ("demo::main", "src/main.rs", 20),
            ],
            |c| {
                c.blocks = 2;
                c.bytes = 1000;
                c.freed_blocks = 2;
                c.lifetime_total_ns = 500;
                c.peak_blocks = 1;
                c.peak_bytes = 500;
            },
        );
        b.site(&[("demo::other", "src/main.rs", 30)], |c| {
            c.blocks = 1;
            c.bytes = 8;
            c.freed_blocks = 1;
            c.lifetime_total_ns = 1_234;
        });
        b.build()
    }

    #[test]
    fn equal_frame_lists_merge_into_one_program_point() {
        let d = dhat(&twins());
        assert_eq!(d.pps.len(), 2, "{:?}", d.pps);
        let pp = &d.pps[0];
        assert_eq!(
            (pp.tb, pp.tbk, pp.gb, pp.gbk, pp.eb, pp.ebk),
            (1400, 7, 700, 3, 100, 1)
        );
        assert!((pp.tl - 3.5).abs() < 1e-9, "{}", pp.tl);
        // The merged max: the summed bytes at the peak (700) beat either
        // callsite's own maximum (300, 500).
        assert_eq!((pp.mb, pp.mbk), (700, 3));
        let labels: Vec<_> = pp.fs.iter().map(|&i| d.ftbl[i as usize].as_str()).collect();
        assert_eq!(
            labels,
            ["demo::fill (src/main.rs:10)", "demo::main (src/main.rs:20)"]
        );
        // Every frame list is distinct, which is what the viewer demands.
        assert_ne!(d.pps[0].fs, d.pps[1].fs);
    }

    #[test]
    fn a_merged_maximum_keeps_the_largest_own_maximum_when_that_is_larger() {
        let mut p = twins();
        p.callsites[1].max_live_bytes = 900;
        let pp = &dhat(&p).pps[0];
        // 900 bytes in 2 blocks of the callsite's 500-byte mean.
        assert_eq!((pp.mb, pp.mbk), (900, 2));
    }

    #[test]
    fn blocks_at_the_maximum_are_known_at_the_peak_or_the_end_else_estimated() {
        let c = Callsite {
            blocks: 10,
            bytes: 1000,
            peak_bytes: 300,
            peak_blocks: 2,
            live_bytes: 250,
            live_blocks: 5,
            max_live_bytes: 300,
            ..Callsite::default()
        };
        assert_eq!(blocks_at_max(&c), 2);
        let c = Callsite {
            max_live_bytes: 250,
            peak_bytes: 100,
            ..c
        };
        assert_eq!(blocks_at_max(&c), 5);
        let c = Callsite {
            max_live_bytes: 301,
            ..c
        };
        assert_eq!(blocks_at_max(&c), 4, "301 bytes of 100-byte blocks");
        assert_eq!(blocks_at_max(&Callsite::default()), 0);
    }

    #[test]
    fn the_header_has_every_field_the_viewer_checks_and_honest_units() {
        let d = dhat(&twins());
        let v = serde_json::to_value(&d).unwrap();
        for key in [
            "dhatFileVersion",
            "mode",
            "verb",
            "bklt",
            "bkacc",
            "tu",
            "Mtu",
            "cmd",
            "pid",
            "te",
            "pps",
            "ftbl",
            "tg",
            "tuth",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for pp in v["pps"].as_array().unwrap() {
            for key in [
                "tb", "tbk", "tl", "mb", "mbk", "gb", "gbk", "eb", "ebk", "fs",
            ] {
                assert!(pp.get(key).is_some(), "missing {key}");
            }
        }
        assert_eq!(v["dhatFileVersion"], 2);
        assert_eq!((d.tu, d.mtu), ("µs", "s"));
        assert_eq!(d.cmd, "/bin/demo --fast");
        assert_eq!(d.te, 1_500_000.0, "1.5 s in µs");
        assert_eq!(d.tg, 750_000.0);
        assert_eq!(d.ftbl[0], "[root]");
        assert_eq!(d.mode, "rust-heap");
    }

    #[test]
    fn sampled_profiles_say_so_in_the_mode() {
        let mut b = ProfileBuilder::new("/bin/demo");
        b.sampled(4096);
        assert!(dhat(&b.build()).mode.contains("estimates"));
    }
}
