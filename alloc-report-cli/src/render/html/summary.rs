//! The summary at the top of the HTML report: headline figures as cards, how
//! the profile was taken, and what the profiler could not record.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::format::Mode;
use alloc_core::number::{bytes, count, duration_ns, percent};
use alloc_core::summary::Summary;

use super::escape::html;

/// One headline figure.
fn card(
    w: &mut dyn Write,
    id: &str,
    class: &str,
    label: &str,
    value: &str,
    detail: &str,
) -> io::Result<()> {
    writeln!(
        w,
        "<div class=\"stat {class}\" id=\"stat-{id}\"><div class=\"label\">{label}</div>\
         <div class=\"value\">{}</div><div class=\"detail\">{detail}</div></div>",
        html(value)
    )
}

/// `n thing` or `n things`.
fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", count(n))
    }
}

/// `2025-11-24 17:51:02 UTC` from milliseconds since the Unix epoch.
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes the summary section.
///
/// # Errors
/// Any error of `w`.
pub fn render(w: &mut dyn Write, profile: &Profile, s: &Summary) -> io::Result<()> {
    let meta = &profile.meta;
    writeln!(w, "<section id=\"summary\">")?;
    if let Mode::Sampled { rate_bytes } = meta.mode {
        writeln!(
            w,
            "<div class=\"banner\" id=\"sampled-banner\"><strong>Sampled profile.</strong> \
             One sample per {} allocated on average: callsite figures, the histograms, \
             the timeline and the peak are estimates; the allocation counts and totals \
             are exact.</div>",
            html(&bytes(rate_bytes))
        )?;
    }
    writeln!(w, "<div class=\"stats\">")?;
    card(
        w,
        "allocated",
        "",
        "Allocated",
        &bytes(s.total_bytes),
        &html(&plural(s.total_blocks, "block", "blocks")),
    )?;
    card(
        w,
        "peak",
        "accent",
        "Peak",
        &bytes(s.peak_bytes),
        &html(&format!(
            "{} live at {}",
            plural(s.peak_blocks, "block", "blocks"),
            duration_ns(s.peak_time_ns)
        )),
    )?;
    let (leak_class, leak_detail) = if s.leaking_callsites == 0 {
        ("good", "no leaks".to_owned())
    } else {
        (
            "bad",
            format!(
                "{} from <a href=\"#leaks-section\">{}</a>",
                html(&plural(s.live_blocks, "block", "blocks")),
                html(&plural(s.leaking_callsites as u64, "callsite", "callsites"))
            ),
        )
    };
    card(
        w,
        "live",
        leak_class,
        "Live at end",
        &bytes(s.live_bytes),
        &leak_detail,
    )?;
    card(
        w,
        "freed",
        "",
        "Freed",
        &bytes(s.freed_bytes),
        &html(&plural(s.freed_blocks, "block", "blocks")),
    )?;
    card(
        w,
        "reallocs",
        "",
        "Reallocations",
        &count(s.reallocs),
        &html(&format!(
            "{} of allocation calls",
            percent(s.reallocs, s.reallocs.saturating_add(s.total_blocks))
        )),
    )?;
    card(
        w,
        "duration",
        "",
        "Duration",
        &duration_ns(meta.duration_ns),
        &html(&format!(
            "{}, {}",
            plural(s.callsites as u64, "callsite", "callsites"),
            plural(s.threads as u64, "thread", "threads")
        )),
    )?;
    writeln!(w, "</div>")?;

    writeln!(w, "<div class=\"facts\">")?;
    writeln!(w, "<div class=\"card\"><h3>How it was taken</h3><dl>")?;
    let mut program = meta.program.clone();
    for a in &meta.args {
        program.push(' ');
        program.push_str(a);
    }
    fact(w, "Command", &format!("<code>{}</code>", html(&program)))?;
    let mode = match meta.mode {
        Mode::Exact => "exact: every allocation, reallocation and free recorded".to_owned(),
        Mode::Sampled { rate_bytes } => format!(
            "sampled: one sample per {} allocated on average",
            bytes(rate_bytes)
        ),
    };
    fact(w, "Mode", &html(&mode))?;
    let method = match meta.capture.method.as_str() {
        "frame_pointers" => "frame pointers",
        "unwind" => "unwinder",
        other => other,
    };
    let mut capture = format!(
        "{}, up to {} frames per stack",
        method, meta.capture.max_frames
    );
    if let Some(note) = &meta.capture.note {
        capture.push_str(" (");
        capture.push_str(note);
        capture.push(')');
    }
    fact(w, "Stacks", &html(&capture))?;
    fact(w, "Started", &html(&utc(meta.started_unix_ms)))?;
    fact(w, "Duration", &html(&duration_ns(meta.duration_ns)))?;
    fact(
        w,
        "Process",
        &html(&format!("pid {}, profiled by {}", meta.pid, meta.tool)),
    )?;
    writeln!(w, "</dl></div>")?;

    writeln!(w, "<div class=\"card\"><h3>What was recorded</h3><dl>")?;
    let dropped = if s.events_dropped == 0 {
        "none dropped".to_owned()
    } else {
        format!(
            "{} overwritten in the ring (timeline detail only; no count is affected)",
            count(s.events_dropped)
        )
    };
    fact(
        w,
        "Events",
        &html(&format!("{} recorded, {dropped}", count(s.events_recorded))),
    )?;
    fact(
        w,
        "Blocks",
        &html(&format!(
            "{} allocated, {} freed, {} reallocations",
            count(s.total_blocks),
            count(s.freed_blocks),
            count(s.reallocs)
        )),
    )?;
    let u = &s.untracked;
    if u.deallocations > 0 || u.reallocations > 0 {
        fact(
            w,
            "From before",
            &html(&format!(
                "{} frees ({}) and {} reallocations of blocks made before profiling",
                count(u.deallocations),
                bytes(u.bytes_deallocated),
                count(u.reallocations)
            )),
        )?;
    }
    let b = &s.bookkeeping;
    let warn = |w: &mut dyn Write, name: &str, text: String| -> io::Result<()> {
        fact(
            w,
            name,
            &format!("<span class=\"warn\">{}</span>", html(&text)),
        )
    };
    if b.untracked_blocks > 0 {
        warn(
            w,
            "Not tracked",
            format!(
                "{} ({}); they cannot show as leaks",
                plural(b.untracked_blocks, "block", "blocks"),
                bytes(b.untracked_bytes)
            ),
        )?;
    }
    if b.stacks_not_recorded > 0 {
        warn(
            w,
            "No stack",
            format!(
                "{} events, shown as [stack not recorded]",
                count(b.stacks_not_recorded)
            ),
        )?;
    }
    if s.failures > 0 {
        warn(
            w,
            "Failures",
            format!(
                "{} refused by the allocator",
                plural(s.failures, "allocation call", "allocation calls")
            ),
        )?;
    }
    if b.internal_errors > 0 {
        warn(
            w,
            "Errors",
            format!(
                "{} profiler internal errors; some figures may be missing",
                count(b.internal_errors)
            ),
        )?;
    }
    if b.profiler_bytes > 0 {
        fact(
            w,
            "Overhead",
            &html(&format!("{} of profiler memory", bytes(b.profiler_bytes))),
        )?;
    }
    writeln!(w, "</dl></div>")?;
    writeln!(w, "</div>")?;
    writeln!(w, "</section>")
}

/// One `<dt>`/`<dd>` pair; `value` is HTML already.
fn fact(w: &mut dyn Write, name: &str, value: &str) -> io::Result<()> {
    writeln!(w, "<dt>{name}</dt><dd>{value}</dd>")
}

#[cfg(test)]
mod tests {
    use alloc_core::summary::{SummaryOptions, summary};

    use super::*;
    use crate::render::test_support::profile;

    fn text(p: &Profile) -> String {
        let s = summary(p, &SummaryOptions::default());
        let mut out = Vec::new();
        render(&mut out, p, &s).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn headline_figures_read_as_people_read_them() {
        let t = text(&profile());
        for needle in [
            "<div class=\"value\">4.3 MiB</div><div class=\"detail\">12,041 blocks</div>",
            "at 750.0 ms",
            "from <a href=\"#leaks-section\">2 callsites</a>",
            "<code>/home/dev/projects/demo/target/release/demo --fast</code>",
            "exact: every allocation",
            "24,341 recorded, 8,000 overwritten in the ring",
        ] {
            assert!(t.contains(needle), "missing {needle:?} in\n{t}");
        }
        assert!(!t.contains("sampled-banner"));
        assert!(
            !t.contains("class=\"warn\""),
            "a healthy profile has no warnings"
        );
    }

    #[test]
    fn problems_and_sampling_are_called_out() {
        let mut p = profile();
        p.meta.mode = Mode::Sampled { rate_bytes: 4096 };
        p.bookkeeping.internal_errors = 2;
        p.totals.failures = 1;
        let t = text(&p);
        assert!(t.contains("id=\"sampled-banner\""));
        assert!(t.contains("One sample per 4.0 KiB allocated on average"));
        assert!(t.contains("2 profiler internal errors"));
        assert!(t.contains("1 allocation call refused"));
    }

    #[test]
    fn start_times_are_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_764_006_662_123), "2025-11-24 17:51:02 UTC");
    }
}
