//! Numbers as people read them: `1.2 MiB`, `12,345`, `3.4 ms`, `41.7%`, and
//! sizes as people type them (`64KiB`).

/// Bytes with a binary unit: `512 B`, `1.2 KiB`, `12.3 MiB`, one decimal from KiB up.
///
/// ```
/// use alloc_core::number::bytes;
/// assert_eq!(bytes(0), "0 B");
/// assert_eq!(bytes(1023), "1023 B");
/// assert_eq!(bytes(1024), "1.0 KiB");
/// assert_eq!(bytes(1_258_291), "1.2 MiB");
/// ```
#[must_use]
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Choose the unit after rounding, so 1048575 B reads `1.0 MiB`, not `1024.0 KiB`.
    while unit + 1 < UNITS.len() && (value * 10.0).round() / 10.0 >= 1024.0 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A signed byte difference: `+1.2 KiB`, `-512 B`, `0 B`.
///
/// ```
/// use alloc_core::number::signed_bytes;
/// assert_eq!(signed_bytes(2048), "+2.0 KiB");
/// assert_eq!(signed_bytes(-5), "-5 B");
/// assert_eq!(signed_bytes(0), "0 B");
/// ```
#[must_use]
pub fn signed_bytes(delta: i128) -> String {
    let magnitude = u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX);
    match delta.signum() {
        1 => format!("+{}", bytes(magnitude)),
        -1 => format!("-{}", bytes(magnitude)),
        _ => bytes(0),
    }
}

/// A count with thousands separators: `12,345`.
///
/// ```
/// use alloc_core::number::count;
/// assert_eq!(count(0), "0");
/// assert_eq!(count(999), "999");
/// assert_eq!(count(12_345), "12,345");
/// assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
/// ```
#[must_use]
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count difference: `+12`, `-1,024`, `0`.
#[must_use]
pub fn signed_count(delta: i128) -> String {
    let magnitude = u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX);
    match delta.signum() {
        1 => format!("+{}", count(magnitude)),
        -1 => format!("-{}", count(magnitude)),
        _ => "0".to_owned(),
    }
}

/// A duration given in nanoseconds: `850 ns`, `1.5 µs`, `12.3 ms`, `2.05 s`,
/// `3m 05s`, `1h 02m`.
///
/// ```
/// use alloc_core::number::duration_ns;
/// assert_eq!(duration_ns(850), "850 ns");
/// assert_eq!(duration_ns(1_500), "1.5 µs");
/// assert_eq!(duration_ns(12_345_678), "12.3 ms");
/// assert_eq!(duration_ns(2_050_000_000), "2.05 s");
/// assert_eq!(duration_ns(185_000_000_000), "3m 05s");
/// ```
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn duration_ns(ns: u64) -> String {
    const SEC: u64 = 1_000_000_000;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 999_950 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 999_950_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns < 59_995 * (SEC / 1000) {
        format!("{:.2} s", ns as f64 / 1e9)
    } else if ns < 3600 * SEC {
        let s = ns.saturating_add(SEC / 2) / SEC;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = ns.saturating_add(30 * SEC) / (60 * SEC);
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

/// `part` as a percentage of `whole` with one decimal: `41.7%`; `<0.1%` for a
/// non-zero share too small to show, `-` when `whole` is zero.
///
/// ```
/// use alloc_core::number::percent;
/// assert_eq!(percent(1, 3), "33.3%");
/// assert_eq!(percent(0, 3), "0.0%");
/// assert_eq!(percent(1, 100_000), "<0.1%");
/// assert_eq!(percent(1, 0), "-");
/// ```
#[must_use]
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    let share = fraction(part, whole) * 100.0;
    if part > 0 && share < 0.05 {
        "<0.1%".to_owned()
    } else {
        format!("{share:.1}%")
    }
}

/// A signed percentage change: `+25.0%`, `-3.1%`; `new` when there was nothing before.
///
/// ```
/// use alloc_core::number::signed_percent;
/// assert_eq!(signed_percent(Some(25.0)), "+25.0%");
/// assert_eq!(signed_percent(Some(-3.14)), "-3.1%");
/// assert_eq!(signed_percent(None), "new");
/// ```
#[must_use]
pub fn signed_percent(change: Option<f64>) -> String {
    match change {
        None => "new".to_owned(),
        Some(p) if p.abs() < 0.05 => "0.0%".to_owned(),
        Some(p) => format!("{p:+.1}%"),
    }
}

/// `part / whole` as a float in `0.0..=1.0` for sensible inputs; 0 when `whole` is 0.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Parses a size as typed on a command line: `4096`, `64KiB`, `64k`, `1.5 MiB`,
/// `2MB` (decimal units: KB, MB, GB, TB), `1_000`.
///
/// # Errors
/// A message saying what is wrong, for a CLI to print.
///
/// ```
/// use alloc_core::number::parse_size;
/// assert_eq!(parse_size("4096"), Ok(4096));
/// assert_eq!(parse_size("64KiB"), Ok(65_536));
/// assert_eq!(parse_size("64k"), Ok(65_536));
/// assert_eq!(parse_size("1.5 MiB"), Ok(1_572_864));
/// assert_eq!(parse_size("2MB"), Ok(2_000_000));
/// assert!(parse_size("lots").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            ));
        }
    };
    if num.is_empty() {
        return Err(format!(
            "{text:?} is not a size (expected e.g. 4096 or 64KiB)"
        ));
    }
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(multiplier)
            .ok_or_else(|| format!("{text:?} is too large"));
    }
    match num.parse::<f64>() {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        Ok(f) if f.is_finite() && f >= 0.0 => {
            let v = (f * multiplier as f64).round();
            if v >= 18_446_744_073_709_551_615.0 {
                Err(format!("{text:?} is too large"))
            } else {
                Ok(v as u64)
            }
        }
        _ => Err(format!(
            "{text:?} is not a size (expected e.g. 4096 or 64KiB)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pick_the_unit_after_rounding() {
        assert_eq!(bytes(1_048_575), "1.0 MiB");
        assert_eq!(bytes(1_048_576), "1.0 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
    }

    #[test]
    fn signed_forms() {
        assert_eq!(signed_count(-1024), "-1,024");
        assert_eq!(signed_count(12), "+12");
        assert_eq!(signed_count(0), "0");
        assert_eq!(signed_bytes(i128::from(u64::MAX) * 4), "+16.0 EiB");
        assert_eq!(signed_percent(Some(0.01)), "0.0%");
    }

    #[test]
    fn durations_across_units() {
        assert_eq!(duration_ns(0), "0 ns");
        assert_eq!(duration_ns(999), "999 ns");
        assert_eq!(duration_ns(999_999), "1.0 ms");
        assert_eq!(duration_ns(1_000_000_000), "1.00 s");
        assert_eq!(duration_ns(59_999_000_000), "1m 00s");
        assert_eq!(duration_ns(3_720_000_000_000), "1h 02m");
        assert_eq!(duration_ns(u64::MAX), "5124095h 34m");
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(3, 3), "100.0%");
        assert_eq!(percent(1, 1000), "0.1%");
        assert!((fraction(1, 4) - 0.25).abs() < f64::EPSILON);
        assert!(fraction(1, 0).abs() < f64::EPSILON);
    }

    #[test]
    fn sizes_parse_or_say_why_not() {
        assert_eq!(parse_size(" 1_024 "), Ok(1024));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("").unwrap_err().contains("not a size"));
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_size("-5").is_err());
        assert!(
            parse_size("99999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_size("20000000 TiB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_size("1.2.3").is_err());
    }
}
