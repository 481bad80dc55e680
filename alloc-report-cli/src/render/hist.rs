//! `alloc-report hist` as a terminal bar chart.

use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::format::Bucket;
use alloc_core::hist::{HistKind, Histogram, MALLOC_ALIGN};
use alloc_core::histogram::Bucketing;
use alloc_core::names::width;
use alloc_core::number::{bytes, count, duration_ns};

use super::{TextOptions, right, write_sampling_note};

/// Eighths of a bar cell, for bars finer than one column.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// A size in bytes, exact: `512`, `4 KiB`; `1.5 KiB` only when not a whole unit.
pub(crate) fn size_value(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let (mut v, mut unit) = (n, 0);
    while v >= 1024 && v % 1024 == 0 && unit < UNITS.len() {
        v /= 1024;
        unit += 1;
    }
    match unit {
        0 if n < 1024 => n.to_string(),
        u if u > 0 && v < 1024 => format!("{v} {}", UNITS[u - 1]),
        _ => bytes(n),
    }
}

/// The label of a bucket: a single value, or a half-open range `[lo, hi+1)`
/// for standard power-of-two buckets, or `[lo, hi]`.
pub(crate) fn label(of: HistKind, b: &Bucket) -> String {
    let fmt = |v: u64| match of {
        HistKind::Lifetime => duration_ns(v),
        HistKind::Size | HistKind::Align => size_value(v),
    };
    if b.lo == b.hi {
        return fmt(b.lo);
    }
    let standard = Bucketing::Log2.bounds(alloc_core::histogram::log2_bucket(b.lo)) == (b.lo, b.hi);
    match b.hi.checked_add(1) {
        Some(end) if standard => format!("[{}, {})", fmt(b.lo), fmt(end)),
        _ => format!("[{}, {}]", fmt(b.lo), fmt(b.hi)),
    }
}

/// A bar of `cells` columns at most for `v` of `max`.
fn bar(v: u64, max: u64, cells: usize) -> String {
    if v == 0 || max == 0 || cells == 0 {
        return String::new();
    }
    let eighths = (u128::from(v) * (cells as u128) * 8).div_ceil(u128::from(max));
    let eighths = usize::try_from(eighths)
        .unwrap_or(usize::MAX)
        .clamp(1, cells * 8);
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(EIGHTHS[eighths % 8]);
    }
    s
}

/// Writes `h` as a bar chart, one row per bucket, bars by blocks.
///
/// # Errors
/// Any error of `w`.
pub fn render(
    w: &mut dyn Write,
    profile: &Profile,
    h: &Histogram,
    o: &TextOptions,
) -> io::Result<()> {
    let st = o.style();
    write_sampling_note(w, profile, o)?;
    let title = match h.of {
        HistKind::Size => "Block sizes",
        HistKind::Align => "Alignments requested",
        HistKind::Lifetime => "Lifetimes of freed blocks",
    };
    writeln!(
        w,
        "{} {}",
        st.bold(&format!("{title}:")),
        format_args!("{} blocks, {}", count(h.blocks), bytes(h.bytes))
    )?;
    if h.buckets.is_empty() {
        return writeln!(w, "  (empty)");
    }
    let over = |b: &Bucket| h.of == HistKind::Align && b.lo > MALLOC_ALIGN && b.blocks > 0;
    let labels: Vec<String> = h
        .buckets
        .iter()
        .map(|b| {
            let l = label(h.of, b);
            if over(b) { format!("{l}*") } else { l }
        })
        .collect();
    let head = match h.of {
        HistKind::Size => "size",
        HistKind::Align => "align",
        HistKind::Lifetime => "lifetime",
    };
    let label_w = labels
        .iter()
        .map(|l| width(l))
        .max()
        .unwrap_or(0)
        .max(width(head))
        + 2;
    let bar_w = o.width.saturating_sub(label_w + 12 + 12 + 2);
    writeln!(
        w,
        "{}",
        st.dim(&format!(
            "{}{}{}",
            right(head, label_w),
            right("blocks", 12),
            right("bytes", 12)
        ))
    )?;
    let max = h.max_blocks();
    for (b, l) in h.buckets.iter().zip(&labels) {
        let bar = bar(b.blocks, max, bar_w);
        let bar = if over(b) {
            st.yellow(&bar)
        } else {
            st.cyan(&bar)
        };
        let line = format!(
            "{}{}{}",
            right(l, label_w),
            right(&count(b.blocks), 12),
            right(&bytes(b.bytes), 12)
        );
        if bar.is_empty() {
            writeln!(w, "{line}")?;
        } else {
            writeln!(w, "{line}  {bar}")?;
        }
    }
    let (n, size) = h.over_aligned();
    if n > 0 {
        writeln!(w)?;
        writeln!(
            w,
            "* over-aligned (more than {MALLOC_ALIGN} bytes): {}, {}",
            super::blocks_word(n),
            bytes(size)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc_core::hist::{HistOptions, histogram};

    use super::*;
    use crate::render::test_support::{profile, render as run};

    fn b(lo: u64, hi: u64) -> Bucket {
        Bucket {
            lo,
            hi,
            blocks: 1,
            bytes: 1,
        }
    }

    #[test]
    fn labels_read_as_ranges_with_units() {
        assert_eq!(label(HistKind::Size, &b(0, 0)), "0");
        assert_eq!(label(HistKind::Size, &b(64, 127)), "[64, 128)");
        assert_eq!(label(HistKind::Size, &b(512, 1023)), "[512, 1 KiB)");
        assert_eq!(
            label(HistKind::Size, &b(1 << 20, (2 << 20) - 1)),
            "[1 MiB, 2 MiB)"
        );
        assert_eq!(
            label(HistKind::Size, &b(1 << 63, u64::MAX)),
            "[8 EiB, 16.0 EiB]"
        );
        assert_eq!(label(HistKind::Size, &b(3, 9)), "[3, 9]");
        assert_eq!(label(HistKind::Align, &b(4096, 4096)), "4 KiB");
        assert_eq!(
            label(HistKind::Lifetime, &b(1024, 2047)),
            "[1.0 µs, 2.0 µs)"
        );
        assert_eq!(size_value(1536), "1.5 KiB");
    }

    #[test]
    fn bars_scale_to_the_largest_bucket() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 1000, 4), "▏", "anything non-zero shows");
        assert_eq!(bar(0, 10, 4), "");
        assert_eq!(bar(3, 8, 1), "▍");
    }

    #[test]
    fn sizes_with_gaps_and_over_aligned_rows_marked() {
        let p = profile();
        let h = histogram(&p, &HistOptions::new(HistKind::Size, true));
        let text = run(80, |w| render(w, &p, &h, &TextOptions::default()));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Block sizes: 12,041 blocks, 2.0 MiB");
        assert_eq!(lines[1], "              size      blocks       bytes");
        assert_eq!(lines[2], "           [8, 16)         100     1.2 KiB  ▍");
        assert_eq!(lines[3], "          [16, 32)           0         0 B");
        assert_eq!(
            lines[5],
            format!(
                "         [64, 128)      11,900   976.6 KiB  {}",
                "█".repeat(36)
            )
        );
        let h = histogram(&p, &HistOptions::new(HistKind::Align, true));
        let text = run(80, |w| render(w, &p, &h, &TextOptions::default()));
        assert!(
            text.contains("\n  4 KiB*           1     4.0 KiB  ▏\n"),
            "{text}"
        );
        assert!(
            text.contains("\n      32           0         0 B\n"),
            "{text}"
        );
        assert!(text.ends_with("* over-aligned (more than 16 bytes): 1 block, 4.0 KiB\n"));
    }
}
