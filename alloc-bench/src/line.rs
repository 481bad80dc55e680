//! The one machine-readable line each variant binary prints, and what it reads
//! back from a written profile.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Workload;

/// The version of [`Line`]'s layout, in its `alloc_bench` field.
pub const LINE_VERSION: u32 = 1;

/// One run of one variant, printed by the variant binary as a single JSON line
/// on stdout, e.g.
///
/// ```text
/// {"alloc_bench":1,"variant":"system","workload":"full","scale":1.0,"threads":1,"workload_ns":2012345678}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Always [`LINE_VERSION`]; also what marks the line among other output.
    pub alloc_bench: u32,
    /// `system`, `idle`, `exact`, `sampled` or `dhat`.
    pub variant: String,
    /// `full`, `mix`, `micro` or `live`.
    pub workload: String,
    /// The scale of `full` and `mix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Threads running a mix at once (`mix`; 1 otherwise).
    pub threads: usize,
    /// The count of `micro` and `live`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// Wall time of the workload alone, in nanoseconds.
    pub workload_ns: u64,
    /// Allocator calls the workload made (allocations, reallocations and
    /// frees, from `alloc_profiler::stats()`); known to the profiler variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Time to write the profile after the workload, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_ns: Option<u64>,
    /// `live`: growth of the resident set while the blocks were allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_delta_bytes: Option<u64>,
    /// What the profile says (sessions; for `live`, a snapshot taken while
    /// the blocks are held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileFacts>,
    /// `live`: a snapshot taken before the blocks were allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<ProfileFacts>,
}

impl Line {
    /// A line for `variant` having run `workload` in `workload_ns`.
    #[must_use]
    pub fn new(variant: &str, workload: &Workload, workload_ns: u64) -> Self {
        let (scale, threads, n) = match *workload {
            Workload::Full { scale } => (Some(scale), 1, None),
            Workload::Mix { scale, threads } => (Some(scale), threads, None),
            Workload::Micro { n } | Workload::Live { n } => (None, 1, Some(n)),
        };
        Self {
            alloc_bench: LINE_VERSION,
            variant: variant.to_owned(),
            workload: workload.name().to_owned(),
            scale,
            threads,
            n,
            workload_ns,
            events: None,
            write_ns: None,
            rss_delta_bytes: None,
            profile: None,
            baseline: None,
        }
    }

    /// Prints the line on stdout.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("alloc-bench: cannot serialize the result line: {e}");
                std::process::exit(2);
            }
        }
    }

    /// Finds and parses the line in a variant's stdout, which may hold other
    /// lines (heaptrack prints its own).
    ///
    /// # Errors
    /// When no line starts with `{"alloc_bench":`, or it does not parse.
    pub fn find(stdout: &str) -> Result<Self, String> {
        let text = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("{\"alloc_bench\":"))
            .ok_or("no {\"alloc_bench\":...} line in the output")?;
        let line: Self =
            serde_json::from_str(text).map_err(|e| format!("bad result line: {e}: {text}"))?;
        if line.alloc_bench != LINE_VERSION {
            return Err(format!(
                "result line version {} (expected {LINE_VERSION})",
                line.alloc_bench
            ));
        }
        Ok(line)
    }
}

/// The figures the benchmark reads from a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileFacts {
    /// `meta.mode.kind`: `exact` or `sampled`.
    pub mode: String,
    /// `meta.mode.rate_bytes` of a sampled profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bytes: Option<u64>,
    /// `meta.capture.method`: `frame_pointers` or `unwind`.
    pub capture: String,
    /// `totals.allocations`.
    pub allocations: u64,
    /// `totals.reallocations`.
    pub reallocations: u64,
    /// `totals.deallocations`.
    pub deallocations: u64,
    /// `totals.live_blocks`.
    pub live_blocks: u64,
    /// `totals.peak_blocks`: blocks live at the global peak.
    pub peak_blocks: u64,
    /// `bookkeeping.profiler_bytes`: memory the profiler had mapped.
    pub profiler_bytes: u64,
    /// `bookkeeping.internal_errors`.
    pub internal_errors: u64,
    /// `bookkeeping.untracked_blocks`.
    pub untracked_blocks: u64,
    /// `bookkeeping.stacks_not_recorded`.
    pub stacks_not_recorded: u64,
    /// Entries in `callsites`.
    pub callsites: u64,
    /// Size of the profile file in bytes.
    pub file_bytes: u64,
}

impl ProfileFacts {
    /// Reads an alloc-profiler profile.
    ///
    /// # Errors
    /// A one-line message naming the file and what was wrong.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let num = |ptr: &str| {
            v.pointer(ptr)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{}: no number at {ptr}", path.display()))
        };
        let text_at = |ptr: &str| {
            v.pointer(ptr)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("{}: no string at {ptr}", path.display()))
        };
        Ok(Self {
            mode: text_at("/meta/mode/kind")?,
            rate_bytes: v.pointer("/meta/mode/rate_bytes").and_then(Value::as_u64),
            capture: text_at("/meta/capture/method")?,
            allocations: num("/totals/allocations")?,
            reallocations: num("/totals/reallocations")?,
            deallocations: num("/totals/deallocations")?,
            live_blocks: num("/totals/live_blocks")?,
            peak_blocks: num("/totals/peak_blocks")?,
            profiler_bytes: num("/bookkeeping/profiler_bytes")?,
            internal_errors: num("/bookkeeping/internal_errors").unwrap_or(0),
            untracked_blocks: num("/bookkeeping/untracked_blocks")?,
            stacks_not_recorded: num("/bookkeeping/stacks_not_recorded")?,
            callsites: v
                .get("callsites")
                .and_then(Value::as_array)
                .map_or(0, |a| a.len() as u64),
            file_bytes: text.len() as u64,
        })
    }

    /// Events the profile recorded (allocations, reallocations and frees of
    /// blocks it saw allocated).
    #[must_use]
    pub fn events(&self) -> u64 {
        self.allocations + self.reallocations + self.deallocations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_is_found_among_other_output() {
        let mut l = Line::new(
            "exact",
            &Workload::Mix {
                scale: 0.5,
                threads: 2,
            },
            123,
        );
        l.events = Some(10);
        let text = serde_json::to_string(&l).unwrap();
        assert!(
            text.starts_with("{\"alloc_bench\":1,\"variant\":\"exact\""),
            "{text}"
        );
        let out = format!("heaptrack output will be written to x\n{text}\nheaptrack stats: ...\n");
        assert_eq!(Line::find(&out).unwrap(), l);
    }

    #[test]
    fn output_without_a_line_is_an_error() {
        assert!(Line::find("hello\n").is_err());
        assert!(
            Line::find("{\"alloc_bench\":1}\n")
                .unwrap_err()
                .contains("bad result line")
        );
        let other = "{\"alloc_bench\":9,\"variant\":\"x\",\"workload\":\"full\",\"threads\":1,\"workload_ns\":1}";
        assert!(Line::find(other).unwrap_err().contains("version 9"));
    }
}
