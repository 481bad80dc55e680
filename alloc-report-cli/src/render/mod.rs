//! Text renderers: each takes a profile, an analysis result from
//! [`alloc_core`] and [`TextOptions`], and writes to any `impl Write`. They
//! compute nothing beyond layout.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::format::{Frame, Mode};
use alloc_core::names::{location, shorten, shorten_path, width};
use alloc_core::number;

pub mod diff;
pub mod flamegraph;
pub mod hist;
pub mod html;
pub mod leaks;
pub mod summary;
pub mod top;

/// Defaults of [`TextOptions`].
pub mod defaults {
    /// Terminal width assumed when none is known.
    pub const WIDTH: usize = 80;
    /// The narrowest layout supported.
    pub const MIN_WIDTH: usize = 70;
    /// The widest layout: wider terminals get this many columns (a bar chart
    /// scaled to an absurd `COLUMNS` would be absurd too).
    pub const MAX_WIDTH: usize = 1000;
}

/// How text is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextOptions {
    /// Use ANSI colour and bold.
    pub color: bool,
    /// Columns available; output never exceeds it.
    pub width: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            color: false,
            width: defaults::WIDTH,
        }
    }
}

impl TextOptions {
    /// Options with colour `color` and `width` columns (at least
    /// [`defaults::MIN_WIDTH`], at most [`defaults::MAX_WIDTH`]).
    #[must_use]
    pub fn new(color: bool, width: usize) -> Self {
        Self {
            color,
            width: width.clamp(defaults::MIN_WIDTH, defaults::MAX_WIDTH),
        }
    }

    pub(crate) fn style(&self) -> Style {
        Style { on: self.color }
    }
}

/// ANSI styling that is a no-op when colour is off. Pad text before styling it:
/// escape codes take no columns but count as characters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    on: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.on && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub(crate) fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
    pub(crate) fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
    pub(crate) fn red(self, s: &str) -> String {
        self.paint("31", s)
    }
    pub(crate) fn green(self, s: &str) -> String {
        self.paint("32", s)
    }
    pub(crate) fn yellow(self, s: &str) -> String {
        self.paint("33", s)
    }
    pub(crate) fn cyan(self, s: &str) -> String {
        self.paint("36", s)
    }
}

/// `name  file:line` for a frame, fitted to `max` columns. The name comes
/// first: it keeps its full (generics-folded) form when the location still fits
/// as `…/file.rs:line`; otherwise the location keeps up to two fifths of the
/// room and the name is shortened, both whole-word.
pub(crate) fn frame_label(frame: &Frame, max: usize) -> (String, String) {
    let loc = location(frame).unwrap_or_default();
    if loc.is_empty() {
        return (shorten(&frame.function, max), String::new());
    }
    let name_full = shorten(&frame.function, usize::MAX);
    let file_only = loc.rsplit('/').next().unwrap_or(&loc);
    let loc_min = width(file_only) + 2;
    if width(&name_full) + 2 + width(&loc).min(loc_min) <= max {
        let loc = shorten_path(&loc, max - width(&name_full) - 2);
        return (name_full, loc);
    }
    let loc = shorten_path(&loc, (max * 2 / 5).max(12).min(width(&loc)));
    let name = shorten(&frame.function, max.saturating_sub(width(&loc) + 2).max(8));
    (name, loc)
}

/// Writes `name  file:line` for the frame at `position` of `stack`, indented,
/// with the name in bold.
pub(crate) fn write_site(
    w: &mut dyn Write,
    profile: &Profile,
    stack: u32,
    position: usize,
    indent: usize,
    o: &TextOptions,
) -> io::Result<()> {
    let st = o.style();
    let frame = profile
        .stacks
        .get(stack as usize)
        .and_then(|s| s.frames.get(position))
        .and_then(|&f| profile.frames.get(f as usize));
    let Some(frame) = frame else {
        return writeln!(w, "{:indent$}{}", "", st.dim("[no frames]"));
    };
    let (name, loc) = frame_label(frame, o.width.saturating_sub(indent));
    if loc.is_empty() {
        writeln!(w, "{:indent$}{}", "", st.bold(&name))
    } else {
        writeln!(w, "{:indent$}{}  {}", "", st.bold(&name), st.dim(&loc))
    }
}

/// A line saying the figures are estimates, for sampled profiles.
pub(crate) fn write_sampling_note(
    w: &mut dyn Write,
    profile: &Profile,
    o: &TextOptions,
) -> io::Result<()> {
    if let Mode::Sampled { rate_bytes } = profile.meta.mode {
        let calibrated = match profile.meta.calibration {
            Some(c) if c.strata > 0 => ", calibrated to exact totals by thread and call site",
            _ => "",
        };
        writeln!(
            w,
            "{}",
            o.style().yellow(&format!(
                "Sampled profile (one sample per {} on average{calibrated}): figures are estimates.",
                number::bytes(rate_bytes)
            ))
        )?;
    }
    Ok(())
}

/// Formats a metric value: bytes with a unit, blocks as a count.
pub(crate) fn value(is_bytes: bool, v: u64) -> String {
    if is_bytes {
        number::bytes(v)
    } else {
        number::count(v)
    }
}

/// `1 block`, `12,345 blocks`.
pub(crate) fn blocks_word(n: u64) -> String {
    if n == 1 {
        "1 block".to_owned()
    } else {
        format!("{} blocks", number::count(n))
    }
}

/// Right-aligns `s` in `w` columns (by characters, not bytes).
pub(crate) fn right(s: &str, w: usize) -> String {
    let n = width(s);
    if n >= w {
        s.to_owned()
    } else {
        format!("{}{s}", " ".repeat(w - n))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared fixtures for the renderer tests.
    use alloc_core::Profile;
    use alloc_core::format::Bucket;
    use alloc_core::testing::ProfileBuilder;

    /// A small profile with a leak, a hot loop, long generic names and histograms.
    pub fn profile() -> Profile {
        let mut b = ProfileBuilder::new("/home/dev/projects/demo/target/release/demo");
        b.profile_mut().meta.args = vec!["--fast".into()];
        b.site(
            &[
                (
                    "alloc::raw_vec::finish_grow",
                    "/rustc/abc/library/alloc/src/raw_vec.rs",
                    481,
                ),
                (
                    "alloc::vec::Vec<T,A>::push",
                    "/rustc/abc/library/alloc/src/vec/mod.rs",
                    1900,
                ),
                (
                    "demo::parse::tokenize",
                    "/home/dev/projects/demo/src/parse.rs",
                    42,
                ),
                ("demo::main", "/home/dev/projects/demo/src/main.rs", 10),
            ],
            |c| {
                c.blocks = 12_000;
                c.bytes = 3_500_000;
                c.reallocs = 300;
                c.peak_blocks = 10;
                c.peak_bytes = 600_000;
                c.freed_blocks = 12_300;
            },
        );
        b.site(
            &[
                ("<hashbrown::raw::RawTable<(alloc::string::String,alloc::vec::Vec<u8>),alloc::alloc::Global> as core::clone::Clone>::clone", "", 0),
                ("<demo::cache::Cache<alloc::string::String,alloc::vec::Vec<u8>> as core::clone::Clone>::clone", "/home/dev/projects/demo/src/cache.rs", 77),
                ("demo::main", "/home/dev/projects/demo/src/main.rs", 12),
            ],
            |c| {
                c.blocks = 40;
                c.bytes = 1_048_576;
                c.live_blocks = 2;
                c.live_bytes = 65_536;
                c.peak_blocks = 40;
                c.peak_bytes = 1_048_576;
            },
        );
        b.site(&[("demo::leak_on_purpose", "src/main.rs", 20)], |c| {
            c.blocks = 1;
            c.bytes = 4096;
            c.live_blocks = 1;
            c.live_bytes = 4096;
            c.peak_blocks = 1;
            c.peak_bytes = 4096;
        });
        let bucket = |lo, hi, blocks, bytes| Bucket {
            lo,
            hi,
            blocks,
            bytes,
        };
        b.histograms(
            &[
                bucket(8, 15, 100, 1200),
                bucket(64, 127, 11_900, 1_000_000),
                bucket(4096, 8191, 1, 4096),
                bucket(32768, 65535, 40, 1_048_576),
            ],
            &[
                bucket(8, 8, 12_000, 3_000_000),
                bucket(16, 16, 40, 1_000_000),
                bucket(4096, 4096, 1, 4096),
            ],
            &[
                bucket(512, 1023, 10_000, 1000),
                bucket(1_048_576, 2_097_151, 2_300, 500),
            ],
        );
        {
            let p = b.profile_mut();
            p.events.recorded = 24_341;
            p.events.dropped = 8_000;
            p.events.ring_capacity = 16_384;
        }
        b.build()
    }

    /// Renders with `f` into a string, checking every line fits `width`.
    pub fn render(
        width: usize,
        f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(
                alloc_core::names::width(line) <= width,
                "line wider than {width}: {line:?}"
            );
        }
        text
    }
}
