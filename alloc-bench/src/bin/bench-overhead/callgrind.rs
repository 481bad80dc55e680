//! Instruction counts under `valgrind --tool=callgrind`: deterministic, so
//! stable on a noisy machine, where wall times are not.

use std::path::Path;
use std::process::Command;

use alloc_bench::Line;

use crate::runner::{Variant, run_command};

/// Where the count is collected: only inside this function (inclusive of
/// everything it calls), so that process start, session start and the
/// profile's writing stay out. Names must not prefix any other function's.
pub const MICRO_FN: &str = "alloc_bench::micro";
/// The same for the mix workload.
pub const MIX_FN: &str = "alloc_bench::mix";

/// Runs `variant` on `args` under Callgrind, collecting inside `function`.
/// Returns the instructions counted and the variant's line.
pub fn measure(
    variant: &Variant,
    args: &[String],
    function: &str,
    out: &Path,
) -> Result<(u64, Line), String> {
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--toggle-collect={function}"));
    variant.append(&mut cmd, args);
    if matches!(
        variant,
        Variant::Exact | Variant::Sampled | Variant::ExactUnwind
    ) {
        cmd.arg("--no-write");
    }
    let line = run_command(cmd)?;
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let ir = instructions(&text).ok_or_else(|| format!("{}: no totals line", out.display()))?;
    if ir == 0 {
        return Err(format!(
            "callgrind collected nothing inside {function}: was it inlined or renamed?"
        ));
    }
    Ok((ir, line))
}

/// The `Ir` total of a Callgrind output file (its `totals:` or `summary:` line).
pub fn instructions(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One function of `callgrind_annotate`'s exclusive listing.
pub struct TopFn {
    /// Instructions executed in the function itself (code inlined into it
    /// included, whatever file it came from).
    pub ir: u64,
    /// Its share of the collected total, in percent.
    pub percent: f64,
    /// The function's name.
    pub name: String,
}

/// The `n` functions with the most instructions of their own.
pub fn top(out: &Path, n: usize) -> Result<Vec<TopFn>, String> {
    let o = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=100", "--auto=no"])
        .arg(out)
        .output()
        .map_err(|e| format!("callgrind_annotate: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(parse_annotate(&String::from_utf8_lossy(&o.stdout), n))
}

/// Reads the function listing, lines like
/// `1,234,567 (12.34%)  src/x.rs:crate::f [/path/bin]`, and adds up each
/// function's lines (callgrind_annotate lists code inlined into a function
/// under the inlined code's file).
fn parse_annotate(text: &str, n: usize) -> Vec<TopFn> {
    let mut total = 0u64;
    let mut by_fn: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut in_listing = false;
    for l in text.lines() {
        let t = l.trim();
        if t.ends_with("PROGRAM TOTALS") {
            total = t
                .split_whitespace()
                .next()
                .and_then(|c| c.replace(',', "").parse().ok())
                .unwrap_or(0);
            continue;
        }
        if t.starts_with("Ir") && t.ends_with("file:function") {
            in_listing = true;
            continue;
        }
        if !in_listing || t.starts_with("---") {
            continue;
        }
        if t.is_empty() {
            if !by_fn.is_empty() {
                break;
            }
            continue;
        }
        let Some((count, rest)) = t.split_once(' ') else {
            continue;
        };
        let Ok(ir) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // Skip "(12.34%)", then drop " [/path/to/object]" and "file:".
        let rest = rest.trim_start();
        let rest = rest.split_once(')').map_or(rest, |(_, r)| r).trim();
        let rest = rest.rfind(" [").map_or(rest, |i| &rest[..i]);
        let name = rest.split_once(':').map_or(rest, |(_, f)| f);
        *by_fn.entry(name.to_owned()).or_default() += ir;
    }
    let mut v: Vec<TopFn> = by_fn
        .into_iter()
        .map(|(name, ir)| TopFn {
            ir,
            percent: 100.0 * ir as f64 / total.max(1) as f64,
            name,
        })
        .collect();
    v.sort_by(|a, b| b.ir.cmp(&a.ir).then_with(|| a.name.cmp(&b.name)));
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_totals_and_annotate_lines() {
        assert_eq!(
            instructions("events: Ir\nfoo\ntotals: 12345\n"),
            Some(12345)
        );
        assert_eq!(instructions("summary: 77\n"), Some(77));
        let text = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
2,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                 file:function
--------------------------------------------------------------------------------
1,000 (50.00%)  src/recorder.rs:alloc_profiler::recorder::record_alloc [/x/bench-profiler]
  600 (30.00%)  ./malloc/malloc.c:malloc [/usr/lib/libc.so.6]
  200 (10.00%)  /rustc/abc/library/core/src/sync/atomic.rs:alloc_profiler::recorder::record_alloc

--------------------------------------------------------------------------------
-- Auto-annotated source: src/recorder.rs
  9,999 (99.00%)  => src/recorder.rs:alloc_profiler::recorder::callsite (2x)
";
        let t = parse_annotate(text, 10);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].ir, 1200);
        assert!((t[0].percent - 60.0).abs() < 1e-9);
        assert_eq!(t[0].name, "alloc_profiler::recorder::record_alloc");
        assert_eq!(t[1].name, "malloc");
        assert_eq!(parse_annotate(text, 1).len(), 1);
    }
}
