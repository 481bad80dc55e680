//! Reading a profile back: parsing, version checks and consistency checks, each
//! failure a [`LoadError`] that says what is wrong in one line.

use std::fmt;

use serde::Deserialize;
use serde_json::error::Category;

use crate::format::{FORMAT_NAME, FORMAT_VERSION, Profile};

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
    /// A profile whose fields do not have the expected types (or are missing).
    Malformed {
        /// The field at fault, as a path such as `callsites[3].bytes`, when
        /// the fault is inside the document rather than at its top level.
        field: Option<String>,
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
            Self::Malformed {
                field: Some(field),
                detail,
            } => write!(f, "malformed profile: {field}: {detail}"),
            Self::Malformed {
                field: None,
                detail,
            } => write!(f, "malformed profile: {detail}"),
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
                    detail: one_line(&e.to_string()),
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
                    detail: one_line(&e.to_string()),
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
                field: Some("format_version".into()),
                detail: "missing or not a positive integer".into(),
            });
        }
    }
    let profile: Profile = serde_json::from_slice(bytes).map_err(|_| malformed(bytes))?;
    validate(&profile)?;
    Ok(profile)
}

/// The most characters of a parser's message kept in an error.
const MAX_DETAIL: usize = 200;

/// A parser's message made fit for one line: it may quote the profile (`unknown
/// variant "…"`), so control characters become `?` and a long quote is cut in
/// the middle, keeping where the fault is (`at line 1 column 2709`).
fn one_line(detail: &str) -> String {
    let text = crate::names::printable(detail);
    let n = text.chars().count();
    if n <= MAX_DETAIL {
        return text.into_owned();
    }
    let head: String = text.chars().take(MAX_DETAIL * 2 / 3).collect();
    let tail: String = text.chars().skip(n - MAX_DETAIL / 3).collect();
    format!("{head}…{tail}")
}

/// The error of a profile that does not deserialize, with the path of the
/// field at fault. Parsing again with `serde_path_to_error` costs nothing on
/// the way to a good profile (only failed parses pay for it), and it tracks the
/// path through every `Deserialize` impl, which hand-written code would have
/// to mirror type by type.
fn malformed(bytes: &[u8]) -> LoadError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Profile>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            let field = (path != ".").then_some(path);
            LoadError::Malformed {
                field,
                detail: one_line(&e.into_inner().to_string()),
            }
        }
        // The same bytes parsed once already failed; say so rather than panic.
        Ok(_) => LoadError::Malformed {
            field: None,
            detail: "the profile could not be parsed".into(),
        },
    }
}

/// The most frames a stack may hold. The profiler keeps at most 128 return
/// addresses per stack, and each becomes its chain of inlined frames when
/// symbolized; 4,096 is 32 frames per address, far beyond real inlining.
pub const MAX_STACK_FRAMES: usize = 4096;

/// Checks that a profile's references are in range, that it holds nothing a
/// writer cannot produce, and, for exact profiles, that its figures add up.
///
/// The rules, each reported with the path of the first field at fault:
///
/// * references: every frame index of `stacks[i].frames`, `callsites[i].stack`
///   and `events.items[i].stack` in range; each stack in at most one callsite;
///   at most [`MAX_STACK_FRAMES`] frames a stack;
/// * values: `meta.mode.rate_bytes` above 0 when sampled; histogram buckets
///   with `lo <= hi` and the documented bounds (power-of-two ranges for `size`
///   and `lifetime`, single powers of two for `align`); events in time
///   order; a timeline point's `live_bytes <= max_bytes <=
///   totals.peak_bytes`; event sizes no allocation can exceed (`isize::MAX`),
///   alignments that are powers of two, `old_size` on reallocations only;
///   `events.dropped <= events.recorded` and no more items than were kept;
///   thread ids listed once; `untracked.reallocations <=
///   totals.reallocations`, and no untracked events in a sampled profile;
/// * per callsite: live, peak and freed blocks at most `blocks + reallocs`,
///   live, peak and max-live bytes at most `bytes`, `lifetime_min_ns <=
///   lifetime_max_ns`;
/// * exact profiles: the callsites' `blocks`, `reallocs`, `bytes`,
///   `live_*`, `peak_*` and `freed_blocks` sum to the totals;
///   `bytes_allocated - bytes_deallocated = live_bytes +
///   bookkeeping.untracked_bytes`; each callsite's freed and live blocks
///   together at most its `blocks + reallocs`, and no lifetimes without a freed
///   block; each size bucket's bytes within its bounds times its blocks; the
///   last timeline point equal to the live totals; and, unless
///   `bookkeeping.internal_errors` says figures may be missing, the histograms
///   sum to the totals and every tracked block is freed or live.
///
/// # Errors
/// [`LoadError::Inconsistent`] naming the first field at fault.
pub fn validate(p: &Profile) -> Result<(), LoadError> {
    crate::validate::profile(p)
}
