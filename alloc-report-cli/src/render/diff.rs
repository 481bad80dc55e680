//! `alloc-report diff` as text.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::diff::Diff;
use alloc_core::names::{shorten_path, width};
use alloc_core::number::{count, signed_bytes, signed_count, signed_percent};

use super::{TextOptions, right, value, write_sampling_note, write_site};

const NAME_INDENT: usize = 6;

/// Writes the changes of `diff` between `old` (read from `old_name`) and `new`.
///
/// # Errors
/// Any error of `w`.
pub fn render(
    w: &mut dyn Write,
    (old, old_name): (&Profile, &str),
    (new, new_name): (&Profile, &str),
    diff: &Diff,
    o: &TextOptions,
) -> io::Result<()> {
    let st = o.style();
    let by = diff.by;
    let is_bytes = by.is_bytes();
    let signed = |d: i128| {
        if is_bytes {
            signed_bytes(d)
        } else {
            signed_count(d)
        }
    };
    let paint = |d: i128, s: &str| match d.signum() {
        1 => st.red(s),
        -1 => st.green(s),
        _ => s.to_owned(),
    };
    write_sampling_note(w, old, o)?;
    if new.meta.mode != old.meta.mode {
        write_sampling_note(w, new, o)?;
    }
    let mut describe = by.describe().to_owned();
    if let Some(first) = describe.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let delta = diff.delta();
    writeln!(
        w,
        "{} {} → {} ({}, {})",
        st.bold(&format!("{describe}:")),
        value(is_bytes, diff.old_total),
        value(is_bytes, diff.new_total),
        paint(delta, &signed(delta)),
        paint(delta, &signed_percent(diff.change_pct())),
    )?;
    let room = o.width.saturating_sub(7);
    writeln!(w, "  old: {}", shorten_path(old_name, room))?;
    writeln!(w, "  new: {}", shorten_path(new_name, room))?;
    let changed = match diff.changed {
        0 => "No callsite changed".to_owned(),
        1 => "1 callsite changed".to_owned(),
        n => format!("{} callsites changed", count(n as u64)),
    };
    if diff.rows.is_empty() {
        return writeln!(w, "{changed}.");
    }
    let shown_changed = diff.rows.len().min(diff.changed);
    let order = match diff.changed {
        0 => String::new(),
        n if shown_changed < n => format!(", the {shown_changed} largest increases first"),
        _ => ", largest increase first".to_owned(),
    };
    let unchanged = match (diff.unchanged, diff.changed) {
        (0, _) => String::new(),
        (n, 0) => format!("; {} unchanged, largest first", count(n as u64)),
        (n, _) => format!("; then {} unchanged, largest first", count(n as u64)),
    };
    writeln!(w, "{changed}{order}{unchanged}")?;
    writeln!(w)?;
    let cols = [("old", 12), ("new", 12), ("change", 14), ("%", 10)];
    let header: String = cols.iter().map(|(n, w)| right(n, *w)).collect();
    writeln!(w, "{}", st.dim(&header))?;
    for r in &diff.rows {
        let d = r.delta();
        let cells = [
            value(is_bytes, r.old),
            value(is_bytes, r.new),
            signed(d),
            signed_percent(r.change_pct()),
        ];
        let mut line = String::new();
        for (i, (cell, (_, cw))) in cells.iter().zip(cols).enumerate() {
            let cell = right(cell, cw);
            line.push_str(&if i >= 2 { paint(d, &cell) } else { cell });
        }
        writeln!(w, "{line}")?;
        match (r.new_stack, r.old_stack) {
            (Some(s), _) => write_site(w, new, s, r.user_frame, NAME_INDENT, o)?,
            (None, Some(s)) => write_site(w, old, s, r.user_frame, NAME_INDENT, o)?,
            (None, None) => {}
        }
    }
    let listed = diff.changed + diff.unchanged;
    if diff.rows.len() < listed {
        let more = format!(
            "… and {} more (-n 0 lists all)",
            count((listed - diff.rows.len()) as u64)
        );
        debug_assert!(width(&more) < o.width);
        writeln!(w, "{}", st.dim(&more))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc_core::diff::{DiffOptions, diff};
    use alloc_core::metric::Metric;

    use super::*;
    use crate::render::test_support::{profile, render as run};

    #[test]
    fn a_profile_against_itself_changes_nothing() {
        let p = profile();
        let d = diff(&p, &p, &DiffOptions::default());
        let text = run(80, |w| {
            render(
                w,
                (&p, "a.json"),
                (&p, "a.json"),
                &d,
                &TextOptions::default(),
            )
        });
        assert_eq!(
            text,
            "Bytes allocated: 4.3 MiB → 4.3 MiB (0 B, 0.0%)\n  old: a.json\n  new: a.json\nNo callsite changed.\n"
        );
    }

    #[test]
    fn regressions_first_with_their_callsites() {
        let old = profile();
        let mut new = profile();
        new.callsites[2].bytes *= 3;
        new.callsites[0].bytes -= 1000;
        new.totals.bytes_allocated = new.callsites.iter().map(|c| c.bytes).sum();
        let d = diff(&old, &new, &DiffOptions::default());
        let text = run(80, |w| {
            render(
                w,
                (&old, "old.json"),
                (&new, "new.json"),
                &d,
                &TextOptions::default(),
            )
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Bytes allocated: 4.3 MiB → 4.3 MiB (+7.0 KiB, +0.2%)"
        );
        assert_eq!(lines[3], "2 callsites changed, largest increase first");
        assert_eq!(lines[5], "         old         new        change         %");
        assert_eq!(lines[6], "     4.0 KiB    12.0 KiB      +8.0 KiB   +200.0%");
        assert_eq!(lines[7], "      demo::leak_on_purpose  src/main.rs:20");
        assert_eq!(lines[8], "     3.3 MiB     3.3 MiB       -1000 B      0.0%");
        let d = diff(&old, &new, &DiffOptions::new(Metric::Blocks, Some(1)));
        let text = run(80, |w| {
            render(w, (&old, "o"), (&new, "n"), &d, &TextOptions::default())
        });
        assert!(
            text.starts_with("Blocks allocated: 12,041 → 12,041 (0, 0.0%)"),
            "{text}"
        );
    }

    #[test]
    fn unchanged_callsites_follow_the_changed_ones_when_asked_for() {
        let old = profile();
        let mut new = profile();
        new.callsites[2].bytes *= 3;
        new.totals.bytes_allocated = new.callsites.iter().map(|c| c.bytes).sum();
        let text = |old: &Profile, new: &Profile, options: &DiffOptions| {
            let d = diff(old, new, options);
            let t = run(80, |w| {
                render(w, (old, "o"), (new, "n"), &d, &TextOptions::default())
            });
            (d, t)
        };
        let (d, t) = text(&old, &new, &DiffOptions::default().with_unchanged());
        assert!(d.unchanged >= 2, "{d:?}");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[3],
            format!(
                "1 callsite changed, largest increase first; then {} unchanged, largest first",
                d.unchanged
            )
        );
        assert_eq!(lines[6], "     4.0 KiB    12.0 KiB      +8.0 KiB   +200.0%");
        assert_eq!(lines.len(), 6 + 2 * (1 + d.unchanged), "{t}");
        // A profile against itself: nothing changed, everything listed.
        let (d, t) = text(&old, &old, &DiffOptions::default().with_unchanged());
        assert_eq!(
            t.lines().nth(3),
            Some(
                format!(
                    "No callsite changed; {} unchanged, largest first",
                    d.unchanged
                )
                .as_str()
            )
        );
        // The limit counts them too.
        let (d, t) = text(
            &old,
            &new,
            &DiffOptions::new(Metric::Bytes, Some(2)).with_unchanged(),
        );
        assert!(
            t.ends_with(&format!(
                "… and {} more (-n 0 lists all)\n",
                d.unchanged - 1
            )),
            "{t}"
        );
    }
}
