//! `alloc-report top` as text.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::metric::Metric;
use alloc_core::number::{bytes, count, percent};
use alloc_core::top::Top;

use super::{TextOptions, right, value, write_sampling_note, write_site};

/// Columns of the numbers: `#`, share, bytes, blocks, reallocs, live, peak.
const COLS: [(&str, usize); 7] = [
    ("#", 4),
    ("share", 8),
    ("bytes", 11),
    ("blocks", 10),
    ("reallocs", 10),
    ("live", 11),
    ("peak", 11),
];
/// The margin column of a sampled profile, after the others.
const MARGIN_COL: (&str, usize) = ("±95%", 8);
/// Indent of the line naming a callsite.
const NAME_INDENT: usize = 6;

/// Writes the ranked callsites of `top`.
///
/// # Errors
/// Any error of `w`.
pub fn render(w: &mut dyn Write, profile: &Profile, top: &Top, o: &TextOptions) -> io::Result<()> {
    write_sampling_note(w, profile, o)?;
    render_table(w, profile, top, o)
}

/// A relative margin as the `±95%` columns (text and HTML) show it: `±7.2%`, `±14%`, or
/// `–` when there is none to give.
pub(crate) fn margin_cell(m: Option<f64>) -> String {
    match m {
        None => "–".to_string(),
        Some(m) if m * 100.0 < 0.05 => "±0.0%".to_string(),
        Some(m) if m * 100.0 < 9.95 => format!("±{:.1}%", m * 100.0),
        Some(m) if m * 100.0 < 999.5 => format!("±{:.0}%", m * 100.0),
        Some(_) => "±999%+".to_string(),
    }
}

/// The table alone, shared with `summary`.
pub(crate) fn render_table(
    w: &mut dyn Write,
    profile: &Profile,
    top: &Top,
    o: &TextOptions,
) -> io::Result<()> {
    let st = o.style();
    let by = top.by;
    let shown = top.rows.len();
    let title = if shown == top.nonzero {
        format!("Top {shown} callsites by {}", by.describe())
    } else {
        format!(
            "Top {shown} of {} callsites by {}",
            count(top.nonzero as u64),
            by.describe()
        )
    };
    writeln!(
        w,
        "{} {}",
        st.bold(&title),
        st.dim(&format!("(total {})", value(by.is_bytes(), top.whole)))
    )?;
    if top.rows.is_empty() {
        let why = match by {
            Metric::Live => "nothing was live at the end",
            Metric::Peak => "nothing was live at the peak",
            Metric::Bytes | Metric::Blocks => "nothing was allocated",
        };
        return writeln!(w, "  ({why})");
    }
    let ranked = match by {
        Metric::Bytes => 2,
        Metric::Blocks => 3,
        Metric::Live => 5,
        Metric::Peak => 6,
    };
    let sampled = top.has_margins();
    let mut header = String::new();
    for (i, (name, width)) in COLS.iter().enumerate() {
        let cell = right(name, *width);
        header.push_str(&if i == ranked { st.bold(&cell) } else { cell });
    }
    if sampled {
        header.push_str(&right(MARGIN_COL.0, MARGIN_COL.1));
    }
    if sampled {
        let note = "±95%: chance keeps 19 estimates in 20 this close to the exact figure.";
        writeln!(w, "{}", st.dim(note))?;
    }
    writeln!(w, "{}", st.dim(&header))?;
    for (rank, row) in top.rows.iter().enumerate() {
        let Some(c) = profile.callsites.get(row.callsite) else {
            continue;
        };
        let cells = [
            (rank + 1).to_string(),
            percent(row.value, top.whole),
            bytes(c.bytes),
            count(c.blocks),
            count(c.reallocs),
            bytes(c.live_bytes),
            bytes(c.peak_bytes),
        ];
        let mut line = String::new();
        for (i, (cell, (_, width))) in cells.iter().zip(COLS).enumerate() {
            let cell = right(cell, width);
            line.push_str(&if i == ranked || i == 1 {
                st.bold(&cell)
            } else {
                cell
            });
        }
        if sampled {
            line.push_str(&right(&margin_cell(row.margin_95), MARGIN_COL.1));
        }
        writeln!(w, "{line}")?;
        write_site(w, profile, c.stack, row.user_frame, NAME_INDENT, o)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc_core::top::{TopOptions, top};

    use super::*;
    use crate::render::test_support::{profile, render as run};

    #[test]
    fn rows_are_named_by_user_frames_and_fit_80_columns() {
        let p = profile();
        let t = top(&p, &TopOptions::default());
        let text = run(80, |w| render(w, &p, &t, &TextOptions::default()));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Top 3 callsites by bytes allocated (total 4.3 MiB)"
        );
        assert_eq!(
            lines[1],
            "   #   share      bytes    blocks  reallocs       live       peak"
        );
        assert_eq!(
            lines[2],
            "   1   76.9%    3.3 MiB    12,000       300        0 B  585.9 KiB"
        );
        assert_eq!(
            lines[3],
            "      demo::parse::tokenize  /home/dev/projects/demo/src/parse.rs:42"
        );
        assert!(
            lines[5].starts_with("      <demo::cache::Cache<…> as "),
            "{}",
            lines[5]
        );
    }

    #[test]
    fn a_sampled_profile_gives_each_estimate_its_95_margin() {
        let mut p = profile();
        p.meta.mode = alloc_core::format::Mode::Sampled {
            rate_bytes: 16 << 10,
        };
        // The first callsite's 3.3 MiB with a standard error of 230 KiB
        // (6.8%); the second's with none kept (a profile from before).
        p.callsites[0].bytes_variance = Some(230_000 * 230_000);
        let t = top(&p, &TopOptions::default());
        let text = run(80, |w| render(w, &p, &t, &TextOptions::default()));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Sampled profile"), "{text}");
        assert_eq!(
            lines[2],
            "±95%: chance keeps 19 estimates in 20 this close to the exact figure."
        );
        assert_eq!(
            lines[3],
            "   #   share      bytes    blocks  reallocs       live       peak    ±95%"
        );
        assert_eq!(
            lines[4],
            "   1   76.9%    3.3 MiB    12,000       300        0 B  585.9 KiB    ±13%"
        );
        assert!(lines[6].ends_with("–"), "{}", lines[6]);
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        let m = t.rows[0].margin_95.unwrap();
        let c = &p.callsites[t.rows[0].callsite];
        assert!((m - 1.96 * 230_000.0 / c.bytes as f64).abs() < 1e-4, "{m}");
    }

    #[test]
    fn margins_are_shown_to_a_tenth_below_ten_percent() {
        assert_eq!(margin_cell(None), "–");
        assert_eq!(margin_cell(Some(0.0001)), "±0.0%");
        assert_eq!(margin_cell(Some(0.072)), "±7.2%");
        assert_eq!(margin_cell(Some(0.1386)), "±14%");
        assert_eq!(margin_cell(Some(25.0)), "±999%+");
    }

    #[test]
    fn live_lists_only_live_callsites_and_says_when_there_are_none() {
        let p = profile();
        let t = top(&p, &TopOptions::new(Metric::Live, None));
        let text = run(80, |w| render(w, &p, &t, &TextOptions::default()));
        assert!(text.starts_with("Top 2 callsites by bytes live at end (total 68.0 KiB)"));
        let empty = alloc_core::testing::ProfileBuilder::new("x").build();
        let t = top(&empty, &TopOptions::new(Metric::Live, None));
        let text = run(80, |w| render(w, &empty, &t, &TextOptions::default()));
        assert!(text.contains("(nothing was live at the end)"));
    }

    #[test]
    fn a_narrow_terminal_shortens_names_whole_words() {
        let p = profile();
        let t = top(&p, &TopOptions::new(Metric::Bytes, Some(2)));
        let text = run(70, |w| render(w, &p, &t, &TextOptions::new(false, 60)));
        assert!(text.contains("Top 2 of 3 callsites"));
        assert!(text.contains("<Cache<…> as Clone>::clone"), "{text}");
    }
}
