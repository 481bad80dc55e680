//! `alloc-report summary` as text.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::format::Mode;
use alloc_core::names::{shorten_path, width};
use alloc_core::number::{bytes, count, duration_ns};
use alloc_core::summary::Summary;

use super::{TextOptions, right, write_sampling_note};

/// Writes the summary of `profile`.
///
/// # Errors
/// Any error of `w`.
pub fn render(
    w: &mut dyn Write,
    profile: &Profile,
    s: &Summary,
    o: &TextOptions,
) -> io::Result<()> {
    let st = o.style();
    let meta = &profile.meta;
    let mut program = meta.program.clone();
    for a in &meta.args {
        program.push(' ');
        program.push_str(a);
    }
    let label = "Program: ";
    let program = shorten_path(&program, o.width - width(label));
    writeln!(w, "{}{}", st.bold(label), program)?;
    let mode = match meta.mode {
        Mode::Exact => "exact".to_owned(),
        Mode::Sampled { rate_bytes } => format!("sampled every {}", bytes(rate_bytes)),
    };
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{} {many}", count(n as u64))
        }
    };
    writeln!(
        w,
        "pid {}, ran {}, {mode}, {}, {}",
        meta.pid,
        duration_ns(meta.duration_ns),
        plural(s.callsites, "callsite", "callsites"),
        plural(s.threads, "thread", "threads"),
    )?;
    write_sampling_note(w, profile, o)?;
    writeln!(w)?;

    writeln!(w, "{:14}{}{}", "", right("blocks", 14), right("bytes", 12))?;
    let row = |w: &mut dyn Write, name: &str, blocks: u64, b: u64, note: &str| {
        let note = if note.is_empty() {
            String::new()
        } else {
            format!("   {note}")
        };
        writeln!(
            w,
            "  {}{}{}{note}",
            st.bold(&format!("{name:<12}")),
            right(&count(blocks), 14),
            right(&bytes(b), 12),
        )
    };
    let reallocs = if s.reallocs == 0 {
        String::new()
    } else {
        format!("and {} reallocations", count(s.reallocs))
    };
    row(w, "allocated", s.total_blocks, s.total_bytes, &reallocs)?;
    row(w, "freed", s.freed_blocks, s.freed_bytes, "")?;
    row(
        w,
        "peak",
        s.peak_blocks,
        s.peak_bytes,
        &format!("at {}", duration_ns(s.peak_time_ns)),
    )?;
    let leaks = match s.leaking_callsites {
        0 => String::new(),
        1 => st.red("from 1 callsite: see `leaks`"),
        n => st.red(&format!("from {} callsites: see `leaks`", count(n as u64))),
    };
    row(w, "live at end", s.live_blocks, s.live_bytes, &leaks)?;
    writeln!(w)?;

    if s.events_recorded > 0 || s.events_dropped > 0 {
        let dropped = if s.events_dropped == 0 {
            "none dropped".to_owned()
        } else {
            st.yellow(&format!(
                "{} dropped from the ring (timeline only)",
                count(s.events_dropped)
            ))
        };
        writeln!(
            w,
            "  events: {} recorded, {dropped}",
            count(s.events_recorded)
        )?;
    }
    let u = &s.untracked;
    if u.deallocations > 0 || u.reallocations > 0 {
        writeln!(
            w,
            "  from before profiling: {} frees ({}), {} reallocations",
            count(u.deallocations),
            bytes(u.bytes_deallocated),
            count(u.reallocations)
        )?;
    }
    let b = &s.bookkeeping;
    if b.untracked_blocks > 0 {
        writeln!(
            w,
            "  {}",
            st.yellow(&format!(
                "not tracked: {} blocks ({}); they cannot show as leaks",
                count(b.untracked_blocks),
                bytes(b.untracked_bytes)
            ))
        )?;
    }
    if b.stacks_not_recorded > 0 {
        writeln!(
            w,
            "  {}",
            st.yellow(&format!(
                "stacks not recorded: {} events, shown as [stack not recorded]",
                count(b.stacks_not_recorded)
            ))
        )?;
    }
    if s.failures > 0 {
        writeln!(
            w,
            "  {}",
            st.yellow(&format!(
                "allocation failures: {} (the allocator returned null)",
                count(s.failures)
            ))
        )?;
    }
    if b.internal_errors > 0 {
        writeln!(
            w,
            "  {}",
            st.red(&format!(
                "profiler internal errors: {}; some figures may be missing",
                count(b.internal_errors)
            ))
        )?;
    }
    if b.profiler_bytes > 0 {
        writeln!(w, "  profiler's own memory: {}", bytes(b.profiler_bytes))?;
    }
    writeln!(w)?;
    super::top::render_table(w, profile, &s.top, o)
}

#[cfg(test)]
mod tests {
    use alloc_core::summary::{SummaryOptions, summary};

    use super::*;
    use crate::render::test_support::{profile, render as run};

    #[test]
    fn fits_and_mentions_every_headline_figure() {
        let p = profile();
        let s = summary(&p, &SummaryOptions::default());
        let text = run(80, |w| render(w, &p, &s, &TextOptions::default()));
        for needle in [
            "Program: /home/dev/projects/demo/target/release/demo --fast",
            "allocated           12,041     4.3 MiB   and 300 reallocations",
            "peak",
            "at 750.0 ms",
            "live at end",
            "from 2 callsites: see `leaks`",
            "8,000 dropped from the ring",
            "Top 3 callsites by bytes allocated",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains('\x1b'));
        assert!(!text.contains("failures") && !text.contains("internal errors"));
    }

    #[test]
    fn health_problems_are_shown_when_there_are_any() {
        let mut p = profile();
        p.totals.failures = 2;
        p.bookkeeping.internal_errors = 1;
        p.bookkeeping.untracked_blocks = 3;
        p.bookkeeping.untracked_bytes = 300;
        p.bookkeeping.stacks_not_recorded = 4;
        p.untracked.deallocations = 5;
        let s = summary(&p, &SummaryOptions::default());
        let text = run(80, |w| render(w, &p, &s, &TextOptions::default()));
        for needle in [
            "allocation failures: 2 (the allocator returned null)",
            "profiler internal errors: 1; some figures may be missing",
            "not tracked: 3 blocks (300 B); they cannot show as leaks",
            "stacks not recorded: 4 events, shown as [stack not recorded]",
            "from before profiling: 5 frees (0 B), 0 reallocations",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn sampled_profiles_say_their_figures_are_estimates() {
        let mut p = profile();
        p.meta.mode = alloc_core::format::Mode::Sampled {
            rate_bytes: 524_288,
        };
        let s = summary(&p, &SummaryOptions::default());
        let text = run(80, |w| render(w, &p, &s, &TextOptions::default()));
        assert!(!text.contains("exact") && text.contains("sampled every 512.0 KiB"));
        assert!(text.contains(
            "Sampled profile (one sample per 512.0 KiB on average): figures are estimates."
        ));
        p.meta.calibration = Some(alloc_core::format::Calibration {
            strata: 12,
            bytes: 1 << 30,
            strata_plain: 3,
        });
        let text = run(200, |w| render(w, &p, &s, &TextOptions::default()));
        assert!(text.contains(
            "Sampled profile (one sample per 512.0 KiB on average, calibrated to exact totals \
             by thread and call site): figures are estimates."
        ));
    }

    #[test]
    fn colour_only_when_asked() {
        let p = profile();
        let s = summary(&p, &SummaryOptions::default());
        let text = run(200, |w| render(w, &p, &s, &TextOptions::new(true, 80)));
        assert!(text.contains("\x1b[1m"));
    }
}
