//! `alloc-report flamegraph`: folded stacks from [`alloc_core::folded`] drawn
//! by inferno as an interactive SVG.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::format::Mode;
use alloc_core::metric::Metric;
use alloc_core::number::bytes;
use inferno::flamegraph::{self, Options, Palette, color::BasicPalette};

/// Settings of the SVG.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SvgOptions {
    /// The title; `None` names the metric.
    pub title: Option<String>,
}

/// The default title: `Heap flamegraph: bytes allocated`.
#[must_use]
pub fn default_title(metric: Metric) -> String {
    format!("Heap flamegraph: {}", metric.describe())
}

/// Draws `lines` (folded stacks, sorted) as an SVG of `profile` weighed by `metric`.
///
/// The output is deterministic: colours come from a hash of each function name.
///
/// # Errors
/// Any error of `w`; `InvalidData` when `lines` is empty (there is nothing to draw).
pub fn render(
    w: &mut dyn Write,
    profile: &Profile,
    metric: Metric,
    lines: &[(String, u64)],
    svg: &SvgOptions,
) -> io::Result<()> {
    if lines.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "nothing to draw: no callsite has any",
        ));
    }
    let mut options = Options::default();
    options.title = svg.title.clone().unwrap_or_else(|| default_title(metric));
    let mut subtitle = profile.meta.program.clone();
    for a in &profile.meta.args {
        subtitle.push(' ');
        subtitle.push_str(a);
    }
    if let Mode::Sampled { rate_bytes } = profile.meta.mode {
        subtitle.push_str(&format!(
            " (sampled every {}: estimates)",
            bytes(rate_bytes)
        ));
    }
    options.subtitle = Some(alloc_core::names::printable(&subtitle).into_owned());
    options.count_name = if metric.is_bytes() { "bytes" } else { "blocks" }.to_owned();
    options.name_type = "Function:".to_owned();
    options.colors = Palette::Basic(BasicPalette::Mem);
    // Colour by name hash, not at random, so the same profile draws the same SVG.
    options.hash = true;
    let text: Vec<String> = lines.iter().map(|(s, n)| format!("{s} {n}")).collect();
    flamegraph::from_lines(&mut options, text.iter().map(String::as_str), w)
}

#[cfg(test)]
mod tests {
    use alloc_core::folded::{FoldedOptions, folded};

    use super::*;
    use crate::render::test_support::profile;

    #[test]
    fn the_same_profile_draws_the_same_svg() {
        let p = profile();
        let lines = folded(&p, &FoldedOptions::new(Metric::Bytes));
        let draw = || {
            let mut out = Vec::new();
            render(&mut out, &p, Metric::Bytes, &lines, &SvgOptions::default()).unwrap();
            String::from_utf8(out).unwrap()
        };
        let a = draw();
        assert_eq!(a, draw());
        assert!(a.contains("Heap flamegraph: bytes allocated"));
        assert!(a.contains("/home/dev/projects/demo/target/release/demo --fast"));
        assert!(a.contains("demo::parse::tokenize"));
        // Escaped, not raw, generics.
        assert!(a.contains("Vec&lt;T,A&gt;::push"));
    }

    #[test]
    fn nothing_to_draw_is_an_error() {
        let p = alloc_core::testing::ProfileBuilder::new("x").build();
        let err = render(
            &mut Vec::new(),
            &p,
            Metric::Live,
            &[],
            &SvgOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
