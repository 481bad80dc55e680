//! The callsite and leak tables of the HTML report. Each callsite is one
//! `<tbody>` holding its row and its (hidden) full stack, so sorting moves the
//! two together; numeric cells carry their exact value in `data-v` for the
//! script to sort by.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::leaks::Leaks;
use alloc_core::names::{FrameClass, classify_frame, fold_generics, location};
use alloc_core::number::{bytes, count, fraction, percent};
use alloc_core::top::Top;

use super::escape::html;

/// A sortable column: its title, and whether it sorts as a number.
struct Column {
    title: &'static str,
    numeric: bool,
    hint: &'static str,
}

const fn col(title: &'static str, numeric: bool, hint: &'static str) -> Column {
    Column {
        title,
        numeric,
        hint,
    }
}

fn header(w: &mut dyn Write, columns: &[Column]) -> io::Result<()> {
    writeln!(w, "<thead><tr>")?;
    for c in columns {
        let class = if c.numeric { " class=\"num\"" } else { "" };
        writeln!(
            w,
            "<th{class} data-sort=\"{}\" title=\"{}\" tabindex=\"0\">{}</th>",
            if c.numeric { "num" } else { "text" },
            c.hint,
            c.title
        )?;
    }
    writeln!(w, "</tr></thead>")
}

/// A numeric cell: the value as people read it, the exact value to sort by.
fn num(w: &mut dyn Write, v: u64, shown: &str) -> io::Result<()> {
    write!(w, "<td class=\"num\" data-v=\"{v}\">{}</td>", html(shown))
}

/// The name cell: an expand button, the function the callsite is named by and
/// its location.
fn site_cell(
    w: &mut dyn Write,
    profile: &Profile,
    stack: u32,
    user_frame: usize,
) -> io::Result<()> {
    let frame = profile
        .stacks
        .get(stack as usize)
        .and_then(|s| s.frames.get(user_frame))
        .and_then(|&f| profile.frames.get(f as usize));
    let (name, full, loc) = frame.map_or_else(
        || ("[no frames]".to_owned(), String::new(), String::new()),
        |f| {
            (
                fold_generics(&f.function),
                f.function.clone(),
                location(f).unwrap_or_default(),
            )
        },
    );
    write!(
        w,
        "<td class=\"site\" data-v=\"{0}\"><button type=\"button\" class=\"expand\" \
         aria-expanded=\"false\" aria-label=\"Show the full stack\">▸</button>\
         <span class=\"fn\" title=\"{1}\">{0}</span>",
        html(&name),
        html(&full)
    )?;
    if !loc.is_empty() {
        write!(w, "<span class=\"loc\">{}</span>", html(&loc))?;
    }
    write!(w, "</td>")
}

/// The hidden row with the full stack, innermost frame first.
fn stack_row(
    w: &mut dyn Write,
    profile: &Profile,
    stack: u32,
    user_frame: usize,
    columns: usize,
) -> io::Result<()> {
    write!(
        w,
        "<tr class=\"stack\" hidden><td colspan=\"{columns}\"><ol class=\"frames\" start=\"0\">"
    )?;
    let frames = profile
        .stacks
        .get(stack as usize)
        .map_or(&[][..], |s| &s.frames[..]);
    if frames.is_empty() {
        write!(w, "<li class=\"unk\">[no frames]</li>")?;
    }
    for (i, &f) in frames.iter().enumerate() {
        let Some(frame) = profile.frames.get(f as usize) else {
            continue;
        };
        let mut class = match classify_frame(frame) {
            FrameClass::User => "user",
            FrameClass::Library => "lib",
            FrameClass::Unknown => "unk",
        }
        .to_owned();
        if i == user_frame {
            class.push_str(" named");
        }
        write!(
            w,
            "<li class=\"{class}\"><span class=\"fn\">{}</span>",
            html(&frame.function)
        )?;
        if frame.inlined {
            write!(w, " <span class=\"tag\">inlined</span>")?;
        }
        if let Some(loc) = location(frame) {
            write!(w, " <span class=\"loc\">{}</span>", html(&loc))?;
        }
        write!(w, "</li>")?;
    }
    writeln!(w, "</ol></td></tr>")
}

/// A share as a number and a small bar.
fn share_cell(w: &mut dyn Write, part: u64, whole: u64) -> io::Result<()> {
    let f = fraction(part, whole).clamp(0.0, 1.0);
    write!(
        w,
        "<td class=\"num share\" data-v=\"{part}\"><span class=\"bar\" style=\"width:{:.1}%\">\
         </span>{}</td>",
        f * 100.0,
        html(&percent(part, whole))
    )
}

/// Writes the table of the top callsites by bytes allocated.
///
/// # Errors
/// Any error of `w`.
pub fn render_top(w: &mut dyn Write, profile: &Profile, top: &Top) -> io::Result<()> {
    writeln!(w, "<section id=\"top-section\" class=\"card\">")?;
    let shown = if top.rows.len() < top.nonzero {
        format!(
            "the largest {} of {}",
            count(top.rows.len() as u64),
            count(top.nonzero as u64)
        )
    } else {
        format!("{} in all", count(top.rows.len() as u64))
    };
    writeln!(
        w,
        "<h2>Top callsites <small>by {}; {}; click a header to sort, a row for its stack</small></h2>",
        top.by.describe(),
        html(&shown)
    )?;
    if top.rows.is_empty() {
        writeln!(
            w,
            "<p class=\"empty\">No callsites were recorded: the program allocated \
             nothing while it was profiled.</p>"
        )?;
        return writeln!(w, "</section>");
    }
    let mut columns = vec![
        col("#", true, "rank by bytes allocated"),
        col("Callsite", false, "named by the first frame of your code"),
        col(
            "Bytes",
            true,
            "bytes allocated, reallocations' new sizes included",
        ),
        col("Blocks", true, "allocations"),
        col("Reallocs", true, "reallocations"),
        col("Avg size", true, "bytes per allocation or reallocation"),
        col("Peak", true, "bytes live at the global peak"),
        col("Live", true, "bytes still live at the end"),
        col("Share", true, "share of all bytes allocated"),
    ];
    // A sampled profile's estimates come with their 95% margins.
    let margins = top.has_margins();
    if margins {
        columns.push(col(
            "±95%",
            true,
            "the bytes estimate's 95% margin: chance keeps 19 estimates in 20 this close to the exact figure",
        ));
    }
    writeln!(
        w,
        "<div class=\"table-wrap\"><table id=\"top-table\" class=\"sortable\">"
    )?;
    header(w, &columns)?;
    for (rank, row) in top.rows.iter().enumerate() {
        let Some(c) = profile.callsites.get(row.callsite) else {
            continue;
        };
        write!(w, "<tbody class=\"site-group\"><tr class=\"row\">")?;
        num(w, rank as u64 + 1, &(rank + 1).to_string())?;
        site_cell(w, profile, c.stack, row.user_frame)?;
        num(w, c.bytes, &bytes(c.bytes))?;
        num(w, c.blocks, &count(c.blocks))?;
        num(w, c.reallocs, &count(c.reallocs))?;
        let calls = c.blocks.saturating_add(c.reallocs);
        let avg = c.bytes.checked_div(calls).unwrap_or(0);
        num(w, avg, &bytes(avg))?;
        num(w, c.peak_bytes, &bytes(c.peak_bytes))?;
        num(w, c.live_bytes, &bytes(c.live_bytes))?;
        share_cell(w, row.value, top.whole)?;
        if margins {
            // Sorted by tenths of a percent; "–" (none kept) sorts first.
            let key = row.margin_95.map_or(0, |m| (m * 1000.0).round() as u64);
            num(w, key, &crate::render::top::margin_cell(row.margin_95))?;
        }
        writeln!(w, "</tr>")?;
        stack_row(w, profile, c.stack, row.user_frame, columns.len())?;
        writeln!(w, "</tbody>")?;
    }
    writeln!(w, "</table></div>")?;
    writeln!(w, "</section>")
}

/// Writes the table of leaks: blocks live at the end, by callsite.
///
/// # Errors
/// Any error of `w`.
pub fn render_leaks(w: &mut dyn Write, profile: &Profile, leaks: &Leaks) -> io::Result<()> {
    writeln!(w, "<section id=\"leaks-section\" class=\"card\">")?;
    if leaks.passing == 0 {
        writeln!(w, "<h2>Leaks</h2>")?;
        writeln!(
            w,
            "<p class=\"empty good\">No leaks: every block allocated while profiling was \
             freed by the end.</p>"
        )?;
        return writeln!(w, "</section>");
    }
    let shown = if leaks.groups.len() < leaks.passing {
        format!(" (the largest {} shown)", count(leaks.groups.len() as u64))
    } else {
        String::new()
    };
    writeln!(
        w,
        "<h2>Leaks <small>{} from {} still live at the end{}</small></h2>",
        html(&bytes(leaks.passing_bytes)),
        html(&if leaks.passing == 1 {
            "1 callsite".to_owned()
        } else {
            format!("{} callsites", count(leaks.passing as u64))
        }),
        html(&shown)
    )?;
    let columns = [
        col("#", true, "rank by bytes live at the end"),
        col("Callsite", false, "named by the first frame of your code"),
        col("Live bytes", true, "bytes still live at the end"),
        col("Live blocks", true, "blocks still live at the end"),
        col("Share", true, "share of all bytes live at the end"),
    ];
    writeln!(
        w,
        "<div class=\"table-wrap\"><table id=\"leaks-table\" class=\"sortable\">"
    )?;
    header(w, &columns)?;
    for (rank, g) in leaks.groups.iter().enumerate() {
        write!(w, "<tbody class=\"site-group\"><tr class=\"row\">")?;
        num(w, rank as u64 + 1, &(rank + 1).to_string())?;
        site_cell(w, profile, g.stack, g.user_frame)?;
        num(w, g.bytes, &bytes(g.bytes))?;
        num(w, g.blocks, &count(g.blocks))?;
        share_cell(w, g.bytes, leaks.passing_bytes)?;
        writeln!(w, "</tr>")?;
        stack_row(w, profile, g.stack, g.user_frame, columns.len())?;
        writeln!(w, "</tbody>")?;
    }
    writeln!(w, "</table></div>")?;
    writeln!(w, "</section>")
}

#[cfg(test)]
mod tests {
    use alloc_core::leaks::{LeakOptions, leaks};
    use alloc_core::metric::Metric;
    use alloc_core::top::{TopOptions, top};

    use super::*;
    use crate::render::test_support::profile;

    fn render(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn top_rows_sort_by_exact_values_and_carry_their_stacks() {
        let p = profile();
        let t = top(&p, &TopOptions::new(Metric::Bytes, None));
        let html = render(|w| render_top(w, &p, &t));
        assert_eq!(html.matches("<tbody class=\"site-group\">").count(), 3);
        assert_eq!(html.matches("<tr class=\"stack\" hidden>").count(), 3);
        // Shown rounded, sorted exact.
        assert!(html.contains("<td class=\"num\" data-v=\"3500000\">3.3 MiB</td>"));
        assert!(html.contains("<td class=\"num\" data-v=\"12000\">12,000</td>"));
        // Named by the user's frame, with generics folded and the location.
        assert!(html.contains(
            "<span class=\"fn\" title=\"demo::parse::tokenize\">demo::parse::tokenize</span>"
        ));
        assert!(
            html.contains("<span class=\"loc\">/home/dev/projects/demo/src/parse.rs:42</span>")
        );
        // The full stack lists library frames too, escaped, with the named frame marked.
        assert!(html.contains(
            "<li class=\"lib\"><span class=\"fn\">alloc::vec::Vec&lt;T,A&gt;::push</span>"
        ));
        assert!(
            html.contains(
                "<li class=\"user named\"><span class=\"fn\">demo::parse::tokenize</span>"
            )
        );
        assert!(html.contains("in all"));
    }

    #[test]
    fn a_limit_says_how_many_are_hidden() {
        let p = profile();
        let t = top(&p, &TopOptions::new(Metric::Bytes, Some(1)));
        let html = render(|w| render_top(w, &p, &t));
        assert!(html.contains("the largest 1 of 3"));
        let l = leaks(&p, &LeakOptions::new(0, Some(1)));
        let html = render(|w| render_leaks(w, &p, &l));
        assert!(html.contains("(the largest 1 shown)"));
    }

    #[test]
    fn leaks_list_live_blocks_or_say_there_are_none() {
        let p = profile();
        let l = leaks(&p, &LeakOptions::default());
        let html = render(|w| render_leaks(w, &p, &l));
        assert_eq!(html.matches("<tbody class=\"site-group\">").count(), 2);
        assert!(html.contains("68.0 KiB from 2 callsites still live at the end"));
        assert!(html.contains("data-v=\"65536\">64.0 KiB</td>"));
        let none = render(|w| render_leaks(w, &p, &Leaks::default()));
        assert!(none.contains("No leaks"));
        assert!(!none.contains("<table"));
    }
}
