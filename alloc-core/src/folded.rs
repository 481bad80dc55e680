//! Collapsed ("folded") stacks, the input of flamegraph tools: one line per
//! stack, frames from root to leaf separated by `;`, then a space and a count.
//! `alloc-report flamegraph` feeds them to inferno; `--folded` writes them out
//! for speedscope and `flamegraph.pl`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::format::Profile;
use crate::metric::Metric;
use crate::names::{FrameCache, printable, strip_hash};

/// How [`folded`] weighs and labels stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoldedOptions {
    /// The figure each stack is weighed by; stacks where it is zero are left out.
    pub metric: Metric,
    /// Label frames `function (file.rs:line)` instead of `function`, so calls
    /// from different lines of one function stay apart.
    pub with_lines: bool,
    /// Drop allocator plumbing ([`crate::names::is_plumbing`]) from the leaf end.
    pub trim_plumbing: bool,
}

impl Default for FoldedOptions {
    fn default() -> Self {
        Self {
            metric: Metric::Bytes,
            with_lines: false,
            trim_plumbing: true,
        }
    }
}

impl FoldedOptions {
    /// Options weighing by `metric`, with the other settings at their defaults.
    #[must_use]
    pub fn new(metric: Metric) -> Self {
        Self {
            metric,
            ..Self::default()
        }
    }
}

/// The folded stacks of `profile`, sorted by stack text, identical labels merged.
///
/// A `;` inside a name (as in `[u8; 4]`) becomes `:` so it cannot split a
/// frame, and a control character `?` so it cannot split a line.
///
/// # Examples
/// ```
/// use alloc_core::folded::{folded, FoldedOptions};
/// use alloc_core::metric::Metric;
/// use alloc_core::testing::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new("demo");
/// b.site(&[("__rust_alloc", "", 0), ("demo::leaf", "src/main.rs", 4), ("demo::main", "src/main.rs", 9)], |c| {
///     c.blocks = 1; c.bytes = 48;
/// });
/// let lines = folded(&b.build(), &FoldedOptions::new(Metric::Bytes));
/// assert_eq!(lines, [("demo::main;demo::leaf".to_owned(), 48)]);
/// ```
#[must_use]
pub fn folded(profile: &Profile, options: &FoldedOptions) -> Vec<(String, u64)> {
    let labels: Vec<String> = profile
        .frames
        .iter()
        .map(|f| {
            let name = strip_hash(&f.function);
            let label = match (options.with_lines, f.file.as_deref(), f.line) {
                (true, Some(file), Some(line)) => {
                    let base = file.rsplit('/').next().unwrap_or(file);
                    format!("{name} ({base}:{line})")
                }
                _ => name.to_owned(),
            };
            printable(&label).replace(';', ":")
        })
        .collect();
    let mut names = FrameCache::new(profile);
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    let mut line = String::new();
    for c in &profile.callsites {
        let value = options.metric.of(c);
        if value == 0 {
            continue;
        }
        let Some(stack) = profile.stacks.get(c.stack as usize) else {
            continue;
        };
        let trim = if options.trim_plumbing {
            names.plumbing_len(&stack.frames)
        } else {
            0
        };
        line.clear();
        for (i, &f) in stack.frames[trim..].iter().rev().enumerate() {
            if i > 0 {
                line.push(';');
            }
            line.push_str(labels.get(f as usize).map_or("?", String::as_str));
        }
        if line.is_empty() {
            line.push_str("[no frames]");
        }
        let e = merged.entry(line.clone()).or_default();
        *e = e.saturating_add(value);
    }
    merged.into_iter().collect()
}

/// Writes `lines` as folded text, one `stack count` per line.
///
/// # Errors
/// Any error of `w`.
pub fn write_folded(mut w: impl Write, lines: &[(String, u64)]) -> io::Result<()> {
    for (stack, count) in lines {
        writeln!(w, "{stack} {count}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new("demo");
        b.site(
            &[
                ("__rust_alloc", "", 0),
                ("alloc::raw_vec::finish_grow", "/rustc/x/raw_vec.rs", 1),
                ("alloc::vec::Vec<T,A>::push", "/rustc/x/vec.rs", 2),
                ("demo::fill", "src/main.rs", 10),
                ("demo::main", "src/main.rs", 20),
            ],
            |c| {
                c.blocks = 4;
                c.bytes = 100;
            },
        );
        b.site(
            &[
                ("demo::fill", "src/main.rs", 11),
                ("demo::main", "src/main.rs", 20),
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
        b.site(
            &[("<[u8; 4] as demo::Make>::make", "src/main.rs", 30)],
            |c| {
                c.blocks = 2;
                c.bytes = 8;
            },
        );
        b.build()
    }

    #[test]
    fn stacks_run_root_to_leaf_with_plumbing_trimmed() {
        let lines = folded(&profile(), &FoldedOptions::new(Metric::Bytes));
        assert_eq!(
            lines,
            [
                ("<[u8: 4] as demo::Make>::make".to_owned(), 8),
                ("demo::main;demo::fill".to_owned(), 50),
                (
                    "demo::main;demo::fill;alloc::vec::Vec<T,A>::push".to_owned(),
                    100
                ),
            ]
        );
    }

    #[test]
    fn live_shows_only_what_is_still_allocated() {
        let lines = folded(&profile(), &FoldedOptions::new(Metric::Live));
        assert_eq!(lines, [("demo::main;demo::fill".to_owned(), 50)]);
        let lines = folded(&profile(), &FoldedOptions::new(Metric::Blocks));
        assert_eq!(lines.iter().map(|l| l.1).sum::<u64>(), 7);
    }

    #[test]
    fn lines_keep_calls_apart_and_untrimmed_keeps_everything() {
        let mut o = FoldedOptions::new(Metric::Bytes);
        o.with_lines = true;
        o.trim_plumbing = false;
        let lines = folded(&profile(), &o);
        assert!(
            lines
                .iter()
                .any(|(s, n)| s == "demo::main (main.rs:20);demo::fill (main.rs:11)" && *n == 50)
        );
        assert!(lines.iter().any(|(s, _)| s.ends_with(";__rust_alloc")));
    }

    #[test]
    fn identical_labels_merge() {
        // Two stacks differing only by line merge when lines are not shown.
        let mut b = ProfileBuilder::new("demo");
        for line in [1, 2] {
            b.site(&[("demo::f", "src/main.rs", line)], |c| {
                c.blocks = 1;
                c.bytes = 10;
            });
        }
        let lines = folded(&b.build(), &FoldedOptions::default());
        assert_eq!(lines, [("demo::f".to_owned(), 20)]);
        let mut out = Vec::new();
        write_folded(&mut out, &lines).unwrap();
        assert_eq!(out, b"demo::f 20\n");
    }
}
