//! How close a sampled profile's per-callsite estimates come to an exact
//! profile of the same workload (issue 5: within ±10% for the top callsites).

use std::path::Path;

use alloc_core::Profile;
use alloc_core::diff::{DiffOptions, diff};
use alloc_core::metric::Metric;
use alloc_core::names::{shorten, strip_hash, user_frame_position};

/// One callsite's exact figure and the sampled estimate.
pub struct Row {
    /// Bytes (or blocks) in the exact profile.
    pub exact: u64,
    /// The sampled profile's estimate.
    pub estimate: u64,
    /// The callsite's innermost frame in the program's own code, with its
    /// location (as `alloc-report` names callsites).
    pub name: String,
    /// Its stack id in the exact profile.
    pub stack: Option<u32>,
}

impl Row {
    /// `(estimate - exact) / exact`, in percent.
    pub fn error_pct(&self) -> f64 {
        100.0 * (self.estimate as f64 - self.exact as f64) / self.exact.max(1) as f64
    }
}

/// Reads a profile as the serde types alone, and separately whether
/// alloc-core's loader (which also validates) accepts it: the comparison is
/// made either way, and a refusal is reported.
pub fn load(path: &Path) -> Result<(Profile, Option<String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let profile: Profile =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let refused = alloc_core::parse_profile(&bytes)
        .err()
        .map(|e| e.to_string());
    Ok((profile, refused))
}

/// The `n` callsites with the most of `by` in `exact`, with `sampled`'s
/// estimates (callsites are matched by their stacks' functions and lines, as
/// `alloc-report diff` does). A callsite whose estimate is exactly right is
/// not listed (diff keeps changes only): with byte sampling that does not
/// happen to a large callsite.
pub fn compare(exact: &Profile, sampled: &Profile, by: Metric, n: usize) -> Vec<Row> {
    let d = diff(exact, sampled, &DiffOptions::new(by, None));
    let mut rows: Vec<Row> = d
        .rows
        .iter()
        .map(|r| Row {
            exact: r.old,
            estimate: r.new,
            name: r.old_stack.map_or_else(|| "?".into(), |s| name(exact, s)),
            stack: r.old_stack,
        })
        .collect();
    rows.sort_unstable_by(|a, b| b.exact.cmp(&a.exact).then_with(|| a.name.cmp(&b.name)));
    rows.truncate(n);
    rows
}

fn name(p: &Profile, stack: u32) -> String {
    let Some(s) = p.stacks.get(stack as usize) else {
        return "?".into();
    };
    let at = user_frame_position(p, &s.frames);
    s.frames
        .get(at)
        .and_then(|f| p.frames.get(*f as usize))
        .map_or_else(
            || "?".into(),
            |f| {
                let function = shorten(strip_hash(&f.function), 70);
                let file = f.file.as_deref().map(|p| {
                    let parts: Vec<&str> = p.rsplit('/').take(2).collect();
                    parts.into_iter().rev().collect::<Vec<_>>().join("/")
                });
                match (file, f.line) {
                    (Some(file), Some(line)) => format!("{function} ({file}:{line})"),
                    (Some(file), None) => format!("{function} ({file})"),
                    _ => function,
                }
            },
        )
}
