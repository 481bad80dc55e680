//! `alloc-report html`: one self-contained HTML file (no network: the styles,
//! the script and the data are all inline) with the summary, an interactive
//! flamegraph per metric, the heap over time with its peak, the histograms,
//! and sortable tables of the top callsites and the leaks.
//!
//! The static parts (summary, tables) are written here as HTML, every name
//! escaped by [`escape::html`]; the charts are drawn by `report.js` from a
//! JSON blob ([`data`]) embedded with [`escape::script_json`], so a function
//! name cannot end the script element. The script draws without any library,
//! and after drawing writes what it drew into `data-*` attributes (frame,
//! point and bar counts, the search's match share), which the browser test
//! reads back from the page.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::format::Mode;
use alloc_core::leaks::{LeakOptions, leaks};
use alloc_core::metric::Metric;
use alloc_core::summary::{SummaryOptions, summary};
use alloc_core::top::{TopOptions, top};

pub mod data;
pub mod escape;
pub mod summary;
pub mod tables;

use escape::html;

/// Defaults of [`HtmlOptions`].
pub mod defaults {
    /// Rows of the callsite and leak tables.
    pub const ROWS: usize = 200;
}

/// What the report includes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HtmlOptions {
    /// Rows of the callsite and leak tables at most; `None` lists every one.
    pub rows: Option<usize>,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        Self {
            rows: Some(defaults::ROWS),
        }
    }
}

impl HtmlOptions {
    /// Options listing `rows` table rows at most (`None`: all).
    #[must_use]
    pub const fn new(rows: Option<usize>) -> Self {
        Self { rows }
    }
}

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The sampling rate of a sampled profile.
pub(crate) const fn sample_rate(profile: &Profile) -> Option<u64> {
    match profile.meta.mode {
        Mode::Exact => None,
        Mode::Sampled { rate_bytes } => Some(rate_bytes),
    }
}

/// The program and its arguments, one line.
pub(crate) fn command_line(profile: &Profile) -> String {
    let mut s = profile.meta.program.clone();
    for a in &profile.meta.args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Writes the report of `profile`.
///
/// # Errors
/// Any error of `w`, or of serializing the data (which cannot fail for these types).
pub fn render(w: &mut dyn Write, profile: &Profile, options: &HtmlOptions) -> io::Result<()> {
    let s = summary(profile, &SummaryOptions::default());
    let t = top(profile, &TopOptions::new(Metric::Bytes, options.rows));
    let l = leaks(profile, &LeakOptions::new(0, options.rows));
    let blob = escape::script_json(&data::report_data(profile)).map_err(io::Error::from)?;
    let program = command_line(profile);
    let short_program = profile
        .meta
        .program
        .rsplit('/')
        .next()
        .unwrap_or(&profile.meta.program);

    writeln!(w, "<!DOCTYPE html>")?;
    writeln!(w, "<html lang=\"en\">")?;
    writeln!(w, "<head>")?;
    writeln!(w, "<meta charset=\"utf-8\">")?;
    writeln!(
        w,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    // Nothing may be fetched: no network, not even a favicon.
    writeln!(
        w,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
    )?;
    writeln!(w, "<link rel=\"icon\" href=\"data:,\">")?;
    writeln!(w, "<title>Heap profile: {}</title>", html(short_program))?;
    writeln!(w, "<style>\n{STYLE}</style>")?;
    writeln!(w, "</head>")?;
    writeln!(w, "<body>")?;
    writeln!(w, "<header class=\"top\"><div class=\"wrap\">")?;
    writeln!(
        w,
        "<div class=\"brand\">alloc-profiler <span>heap report</span></div>"
    )?;
    writeln!(w, "<h1 title=\"{0}\">{0}</h1>", html(&program))?;
    writeln!(w, "<nav>")?;
    for (id, name) in [
        ("summary", "Summary"),
        ("timeline-section", "Heap over time"),
        ("flame-section", "Flamegraph"),
        ("hist-section", "Histograms"),
        ("top-section", "Callsites"),
        ("leaks-section", "Leaks"),
    ] {
        write!(w, "<a href=\"#{id}\">{name}</a>")?;
    }
    writeln!(w, "\n</nav>")?;
    writeln!(w, "</div></header>")?;
    writeln!(w, "<main class=\"wrap\">")?;
    summary::render(w, profile, &s)?;

    writeln!(w, "<section id=\"timeline-section\" class=\"card\">")?;
    writeln!(
        w,
        "<h2>Heap over time <small>bytes live; the shaded band reaches the most \
         live between two points</small></h2>"
    )?;
    writeln!(w, "<div id=\"timeline\" class=\"chart\"></div>")?;
    writeln!(w, "</section>")?;

    writeln!(w, "<section id=\"flame-section\" class=\"card\">")?;
    writeln!(
        w,
        "<h2>Flamegraph <small>callers above callees; width is the share of the \
         metric; click a frame to zoom</small></h2>"
    )?;
    writeln!(w, "<div class=\"toolbar\">")?;
    writeln!(
        w,
        "<div class=\"segmented\" id=\"metric-buttons\" role=\"tablist\">"
    )?;
    for m in Metric::ALL {
        writeln!(
            w,
            "<button type=\"button\" data-metric=\"{}\" title=\"{}\">{}</button>",
            m.name(),
            m.describe(),
            m.name()
        )?;
    }
    writeln!(w, "</div>")?;
    writeln!(
        w,
        "<input id=\"flame-search\" type=\"search\" placeholder=\"Search functions…\" \
         spellcheck=\"false\" autocomplete=\"off\" aria-label=\"Search functions\">"
    )?;
    writeln!(
        w,
        "<button type=\"button\" id=\"flame-reset\" class=\"plain\">Reset zoom</button>"
    )?;
    writeln!(
        w,
        "<span id=\"flame-match\" class=\"match\" aria-live=\"polite\"></span>"
    )?;
    writeln!(w, "</div>")?;
    writeln!(w, "<div id=\"flame-caption\" class=\"caption\"></div>")?;
    writeln!(w, "<div id=\"flame\" class=\"flame\"></div>")?;
    writeln!(
        w,
        "<div class=\"legend\"><span class=\"sw user\"></span>your code \
         <span class=\"sw lib\"></span>standard library and runtime \
         <span class=\"sw unk\"></span>unknown <span class=\"sw hit\"></span>search match</div>"
    )?;
    writeln!(w, "</section>")?;

    writeln!(w, "<section id=\"hist-section\" class=\"card\">")?;
    writeln!(
        w,
        "<h2>Histograms <small>bars count blocks; hover for bytes</small></h2>"
    )?;
    writeln!(w, "<div class=\"hist-grid\">")?;
    for kind in ["size", "align", "lifetime"] {
        writeln!(w, "<div class=\"hist\" id=\"hist-{kind}\"></div>")?;
    }
    writeln!(w, "</div>")?;
    writeln!(w, "</section>")?;

    tables::render_top(w, profile, &t)?;
    tables::render_leaks(w, profile, &l)?;

    writeln!(w, "</main>")?;
    writeln!(
        w,
        "<footer class=\"wrap\">Written by {} from a profile by {}.</footer>",
        html(concat!("alloc-report ", env!("CARGO_PKG_VERSION"))),
        html(&profile.meta.tool)
    )?;
    writeln!(w, "<div id=\"tooltip\" role=\"tooltip\" hidden></div>")?;
    writeln!(
        w,
        "<script type=\"application/json\" id=\"report-data\">{blob}</script>"
    )?;
    writeln!(w, "<script>\n{SCRIPT}</script>")?;
    writeln!(w, "</body>")?;
    writeln!(w, "</html>")
}

#[cfg(test)]
mod tests {
    use alloc_core::testing::ProfileBuilder;

    use super::*;
    use crate::render::test_support::profile;

    fn page(p: &Profile) -> String {
        let mut out = Vec::new();
        render(&mut out, p, &HtmlOptions::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The text of the data blob.
    fn blob(page: &str) -> &str {
        let start = page
            .find("<script type=\"application/json\" id=\"report-data\">")
            .unwrap();
        let rest = &page[start..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest.find("</script>").unwrap();
        &rest[open..close]
    }

    #[test]
    fn the_page_is_self_contained() {
        let text = page(&profile());
        assert!(text.starts_with("<!DOCTYPE html>"));
        for needle in [
            "src=\"",
            "href=\"http",
            "<link rel=\"stylesheet\"",
            "url(",
            "@import",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(!text.contains(needle), "{needle} in the page");
        }
        assert!(
            text.contains("default-src 'none'"),
            "a policy forbids loads"
        );
        assert_eq!(text.matches("<script").count(), 2, "the data and the code");
        assert!(text.contains("<style>"));
    }

    #[test]
    fn hostile_names_cannot_break_out_of_the_script_or_the_markup() {
        let mut b = ProfileBuilder::new("/bin/<b>evil</b>");
        b.profile_mut().meta.args = vec!["</script><script>alert(1)</script>".into()];
        let evil = "evil::</script><script>alert(2)</script><!--";
        b.site(&[(evil, "src/<i>x</i>.rs", 1)], |c| {
            c.blocks = 1;
            c.bytes = 8;
            c.live_blocks = 1;
            c.live_bytes = 8;
            c.peak_blocks = 1;
            c.peak_bytes = 8;
        });
        let p = b.build();
        let text = page(&p);
        // Exactly the two script elements of the page open and close.
        assert_eq!(text.matches("<script").count(), 2);
        assert_eq!(text.matches("</script>").count(), 2);
        assert!(!text.contains("<b>") && !text.contains("<i>"));
        assert!(!text.contains("<!--"));
        assert!(text.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
        // The blob still carries the name exactly.
        let data: serde_json::Value = serde_json::from_str(blob(&text)).unwrap();
        let names = data["names"].as_array().unwrap();
        assert!(names.iter().any(|n| n == evil), "{names:?}");
    }

    #[test]
    fn the_blob_holds_every_metric_the_timeline_and_the_histograms() {
        let text = page(&profile());
        let data: serde_json::Value = serde_json::from_str(blob(&text)).unwrap();
        let metrics: Vec<&str> = data["flames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["metric"].as_str().unwrap())
            .collect();
        assert_eq!(metrics, ["bytes", "blocks", "live", "peak"]);
        assert_eq!(data["hists"].as_array().unwrap().len(), 3);
        assert!(data["timeline"]["peak"]["bytes"].as_u64().unwrap() > 0);
        assert_eq!(data["sample_rate_bytes"], serde_json::Value::Null);
    }

    #[test]
    fn an_empty_profile_renders_with_messages() {
        let text = page(&ProfileBuilder::new("/bin/nothing").build());
        assert!(text.contains("No callsites were recorded"), "{text}");
        assert!(text.contains("No leaks"));
        let data: serde_json::Value = serde_json::from_str(blob(&text)).unwrap();
        assert_eq!(data["timeline"]["points"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn a_sampled_profile_says_so_with_its_rate() {
        let mut p = profile();
        p.meta.mode = Mode::Sampled {
            rate_bytes: 524_288,
        };
        let text = page(&p);
        assert!(
            text.contains("one sample per 512.0 KiB allocated on average"),
            "{text}"
        );
        let data: serde_json::Value = serde_json::from_str(blob(&text)).unwrap();
        assert_eq!(data["sample_rate_bytes"], 524_288);
        assert!(!text.contains("±95%"), "no variances kept, no margins");
        // With its estimates' variances, the callsite table gives margins.
        p.callsites[0].bytes_variance = Some(175_000 * 175_000);
        let text = page(&p);
        assert!(text.contains("tabindex=\"0\">±95%</th>"), "{text}");
        // 1.96 * 175,000 / 3,500,000 = 9.8%.
        assert!(text.contains(">±9.8%<"), "{text}");
        assert!(!page(&profile()).contains("±95%"), "exact: no margins");
    }
}
