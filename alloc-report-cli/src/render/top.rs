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
    let mut header = String::new();
    for (i, (name, width)) in COLS.iter().enumerate() {
        let cell = right(name, *width);
        header.push_str(&if i == ranked { st.bold(&cell) } else { cell });
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
