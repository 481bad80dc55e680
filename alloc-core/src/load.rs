//! Reading a profile back: parsing, version checks and consistency checks, each
//! failure a [`LoadError`] that says what is wrong in one line.

use std::fmt;

use serde::Deserialize;
use serde_json::error::Category;

use crate::format::{FORMAT_NAME, FORMAT_VERSION, Mode, Profile};

/// Why bytes are not a usable profile. `Display` is one line without the file
/// name; callers prefix it with the path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// Nothing but whitespace.
    Empty,
    /// The text ends in the middle of the JSON document.
    Truncated {
        /// 1-based line where the input ended.
        line: usize,
    },
    /// Not JSON at all.
    NotJson {
        /// What the JSON parser said.
        detail: String,
    },
    /// JSON, but not an alloc-profiler profile.
    NotAProfile,
    /// A profile from a newer (or unknown) format version.
    UnsupportedVersion {
        /// The version in the file.
        found: u64,
    },
    /// A profile whose fields do not have the expected types.
    Malformed {
        /// What the JSON parser said.
        detail: String,
    },
    /// Figures that contradict each other.
    Inconsistent {
        /// The field at fault, as a path such as `callsites[3].stack`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the file is empty"),
            Self::Truncated { line } => {
                write!(f, "the profile is truncated (input ends at line {line})")
            }
            Self::NotJson { detail } => write!(f, "not JSON: {detail}"),
            Self::NotAProfile => write!(
                f,
                "not an alloc-profiler profile (no \"format\": \"{FORMAT_NAME}\" field)"
            ),
            Self::UnsupportedVersion { found } => write!(
                f,
                "profile format_version {found} is not supported; this build reads versions 1 to {FORMAT_VERSION} (upgrade alloc-report)"
            ),
            Self::Malformed { detail } => write!(f, "malformed profile: {detail}"),
            Self::Inconsistent { field, problem } => {
                write!(f, "inconsistent profile: {field}: {problem}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    format: Option<serde_json::Value>,
    #[serde(default)]
    format_version: Option<serde_json::Value>,
}

/// Parses and checks a profile from its bytes.
///
/// # Errors
/// A [`LoadError`] when the bytes are empty, truncated, not JSON, not a profile,
/// of an unsupported version, mistyped, or inconsistent (see [`validate`]).
///
/// # Examples
/// ```
/// use alloc_core::load::{parse_profile, LoadError};
/// assert_eq!(parse_profile(b"  \n"), Err(LoadError::Empty));
/// assert!(matches!(parse_profile(b"{\"format\": \"alloc-profiler\""), Err(LoadError::Truncated { .. })));
/// assert_eq!(parse_profile(b"[1, 2, 3]"), Err(LoadError::NotAProfile));
/// assert!(matches!(parse_profile(b"[1, 2"), Err(LoadError::Truncated { .. })));
/// ```
pub fn parse_profile(bytes: &[u8]) -> Result<Profile, LoadError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(LoadError::Empty);
    }
    // A profile is a JSON object; anything else that parses is foreign JSON
    // (serde would happily read a struct from an array).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => LoadError::NotAProfile,
                Err(e) if e.classify() == Category::Eof => LoadError::Truncated { line: e.line() },
                Err(e) => LoadError::NotJson {
                    detail: e.to_string(),
                },
            },
        );
    }
    let probe: Probe = match serde_json::from_slice(bytes) {
        Ok(p) => p,
        Err(e) => {
            return Err(match e.classify() {
                Category::Eof => LoadError::Truncated { line: e.line() },
                Category::Syntax | Category::Io => LoadError::NotJson {
                    detail: e.to_string(),
                },
                Category::Data => LoadError::NotAProfile,
            });
        }
    };
    if probe.format.as_ref().and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(LoadError::NotAProfile);
    }
    match probe.format_version.as_ref().map(|v| v.as_u64()) {
        Some(Some(v)) if (1..=u64::from(FORMAT_VERSION)).contains(&v) => {}
        Some(Some(v)) => return Err(LoadError::UnsupportedVersion { found: v }),
        _ => {
            return Err(LoadError::Malformed {
                detail: "format_version is missing or not a positive integer".into(),
            });
        }
    }
    let profile: Profile = serde_json::from_slice(bytes).map_err(|e| LoadError::Malformed {
        detail: e.to_string(),
    })?;
    validate(&profile)?;
    Ok(profile)
}

fn inconsistent(field: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError::Inconsistent {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Checks that a profile's references are in range and, for exact profiles,
/// that its figures add up: the callsites sum to the totals and
/// `bytes_allocated - bytes_deallocated = live_bytes + bookkeeping.untracked_bytes`.
///
/// # Errors
/// [`LoadError::Inconsistent`] naming the first field at fault.
pub fn validate(p: &Profile) -> Result<(), LoadError> {
    let n_frames = p.frames.len();
    for (i, s) in p.stacks.iter().enumerate() {
        if let Some(&f) = s.frames.iter().find(|&&f| f as usize >= n_frames) {
            return Err(inconsistent(
                format!("stacks[{i}].frames"),
                format!("frame index {f} out of range ({n_frames} frames)"),
            ));
        }
    }
    let n_stacks = p.stacks.len();
    let mut sum = crate::format::Totals::default();
    for (i, c) in p.callsites.iter().enumerate() {
        if c.stack as usize >= n_stacks {
            return Err(inconsistent(
                format!("callsites[{i}].stack"),
                format!("stack index {} out of range ({n_stacks} stacks)", c.stack),
            ));
        }
        let events = c.blocks.saturating_add(c.reallocs);
        for (name, value) in [
            ("live_blocks", c.live_blocks),
            ("peak_blocks", c.peak_blocks),
            ("freed_blocks", c.freed_blocks),
        ] {
            if value > events {
                return Err(inconsistent(
                    format!("callsites[{i}].{name}"),
                    format!("{value} exceeds blocks + reallocs ({events})"),
                ));
            }
        }
        for (name, value) in [
            ("live_bytes", c.live_bytes),
            ("peak_bytes", c.peak_bytes),
            ("max_live_bytes", c.max_live_bytes),
        ] {
            if value > c.bytes {
                return Err(inconsistent(
                    format!("callsites[{i}].{name}"),
                    format!("{value} exceeds the callsite's bytes ({})", c.bytes),
                ));
            }
        }
        if c.freed_blocks > 0 && c.lifetime_min_ns > c.lifetime_max_ns {
            return Err(inconsistent(
                format!("callsites[{i}].lifetime_min_ns"),
                "greater than lifetime_max_ns",
            ));
        }
        sum.allocations = sum.allocations.saturating_add(c.blocks);
        sum.reallocations = sum.reallocations.saturating_add(c.reallocs);
        sum.bytes_allocated = sum.bytes_allocated.saturating_add(c.bytes);
        sum.live_blocks = sum.live_blocks.saturating_add(c.live_blocks);
        sum.live_bytes = sum.live_bytes.saturating_add(c.live_bytes);
        sum.peak_blocks = sum.peak_blocks.saturating_add(c.peak_blocks);
        sum.peak_bytes = sum.peak_bytes.saturating_add(c.peak_bytes);
    }
    for (i, e) in p.events.items.iter().enumerate() {
        if let Some(s) = e.stack
            && s as usize >= n_stacks
        {
            return Err(inconsistent(
                format!("events.items[{i}].stack"),
                format!("stack index {s} out of range ({n_stacks} stacks)"),
            ));
        }
    }
    let t = &p.totals;
    if t.live_bytes > t.peak_bytes {
        return Err(inconsistent(
            "totals.live_bytes",
            format!("{} exceeds peak_bytes {}", t.live_bytes, t.peak_bytes),
        ));
    }
    if p.meta.mode != Mode::Exact {
        return Ok(());
    }
    let checks = [
        ("allocations", t.allocations, sum.allocations),
        ("reallocations", t.reallocations, sum.reallocations),
        ("bytes_allocated", t.bytes_allocated, sum.bytes_allocated),
        ("live_blocks", t.live_blocks, sum.live_blocks),
        ("live_bytes", t.live_bytes, sum.live_bytes),
        ("peak_blocks", t.peak_blocks, sum.peak_blocks),
        ("peak_bytes", t.peak_bytes, sum.peak_bytes),
    ];
    for (name, total, of_callsites) in checks {
        if total != of_callsites {
            return Err(inconsistent(
                format!("totals.{name}"),
                format!("{total} but the callsites add up to {of_callsites}"),
            ));
        }
    }
    let net = i128::from(t.bytes_allocated) - i128::from(t.bytes_deallocated);
    let expected = i128::from(t.live_bytes) + i128::from(p.bookkeeping.untracked_bytes);
    if net != expected {
        return Err(inconsistent(
            "totals.bytes_deallocated",
            format!(
                "bytes_allocated - bytes_deallocated = {net}, but live_bytes + untracked bytes = {expected}"
            ),
        ));
    }
    Ok(())
}
