//! Naming callsites: which frame of a stack is the user's own code, which frames
//! are allocator plumbing, and Rust names and file paths shortened to fit a
//! terminal without cutting a word.
//!
//! The rules are plain string rules on demangled names (and, for the standard
//! library, on the `/rustc/<hash>/` source paths its debug info carries):
//!
//! * a frame is **library** code when its function belongs to one of
//!   [`LIBRARY_CRATES`] or is a runtime or allocator symbol (`__rust_alloc`,
//!   `malloc`, `_start`, …); for `<A as B>::f`, when the trait `B` is library
//!   code and the type `A` is too or is a primitive or generic parameter;
//! * a frame is **unknown** when it has no symbol (`0x…`) or is a placeholder
//!   such as `[stack not recorded]`;
//! * every other frame is **user** code.
//!
//! ```
//! use alloc_core::names::{classify, shorten, FrameClass};
//! assert_eq!(classify("alloc::vec::Vec<T,A>::push", None), FrameClass::Library);
//! assert_eq!(classify("leaky::make_buffers", None), FrameClass::User);
//! assert_eq!(shorten("alloc::vec::Vec<u8,alloc::alloc::Global>::push", 80), "alloc::vec::Vec<…>::push");
//! assert_eq!(shorten("alloc::vec::Vec<u8,alloc::alloc::Global>::push", 15), "Vec<…>::push");
//! ```

use crate::format::{Frame, Profile};

/// Crates whose frames are never "the user's code": the standard library, its
/// internals, and the profiler itself.
pub const LIBRARY_CRATES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "hashbrown",
    "std_detect",
    "compiler_builtins",
    "panic_unwind",
    "panic_abort",
    "unwind",
    "rustc_std_workspace_core",
    "alloc_profiler",
];

/// Symbols of the runtime and the C allocator, matched as name prefixes.
const RUNTIME_PREFIXES: &[&str] = &[
    // Reserved for the implementation in C, and used so by the Rust runtime:
    // `__rust_alloc`, `__rdl_alloc`, `__libc_start_main`, `__run_exit_handlers`.
    "__",
    "_start",
    "start_thread",
    "__clone",
    "clone3",
    "rust_begin_unwind",
];

/// Runtime and C allocator symbols, matched exactly. A bare `main` is the C
/// entry point rustc generates; the program's own `main` is `crate::main`.
const RUNTIME_SYMBOLS: &[&str] = &[
    "main",
    "malloc",
    "calloc",
    "realloc",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
];

fn is_runtime_symbol(f: &str) -> bool {
    RUNTIME_SYMBOLS.contains(&f) || RUNTIME_PREFIXES.iter().any(|p| f.starts_with(p))
}

/// Module paths whose frames are allocator plumbing: what sits between a
/// user-visible allocating call (`Vec::push`, `Box::new`) and the allocator.
const PLUMBING_PATHS: &[&str] = &[
    "alloc::alloc::",
    "alloc::raw_vec::",
    "std::alloc::",
    "std::sys::alloc::",
    "std::sys::pal::unix::alloc::",
    "core::alloc::",
    "alloc_profiler::",
    "hashbrown::raw::alloc::",
    // The unwinder's own frames, when stacks are captured with it.
    "backtrace::",
];

/// What kind of code a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// The program's own code (or a third-party crate it uses).
    User,
    /// The standard library, the runtime, the allocator or the profiler.
    Library,
    /// No symbol (`0x…`) or a placeholder such as `[stack not recorded]`.
    Unknown,
}

/// Classifies a frame by its demangled function name and, when known, its file.
///
/// ```
/// use alloc_core::names::{classify, FrameClass};
/// assert_eq!(classify("<alloc::vec::Vec<T> as core::clone::Clone>::clone", None), FrameClass::Library);
/// assert_eq!(classify("<myapp::Config as core::clone::Clone>::clone", None), FrameClass::User);
/// assert_eq!(classify("<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem", None), FrameClass::Library);
/// assert_eq!(classify("0x7f3a2c01", None), FrameClass::Unknown);
/// assert_eq!(classify("helper", Some("/rustc/90b35a62/library/std/src/rt.rs")), FrameClass::Library);
/// ```
#[must_use]
pub fn classify(function: &str, file: Option<&str>) -> FrameClass {
    let f = function.trim();
    if f.is_empty() || f.starts_with("0x") || f.starts_with('[') || f == "?" {
        return FrameClass::Unknown;
    }
    if file.is_some_and(|p| p.starts_with("/rustc/")) {
        return FrameClass::Library;
    }
    if is_library_path(f, 0) {
        FrameClass::Library
    } else {
        FrameClass::User
    }
}

/// [`classify`] applied to a [`Frame`].
#[must_use]
pub fn classify_frame(frame: &Frame) -> FrameClass {
    classify(&frame.function, frame.file.as_deref())
}

/// True when `function` is allocator plumbing: the runtime's allocation shims,
/// `alloc::alloc`, `alloc::raw_vec`, `std::alloc` or the profiler. Flamegraphs
/// trim these from the leaf end of each stack.
///
/// ```
/// use alloc_core::names::is_plumbing;
/// assert!(is_plumbing("__rust_alloc"));
/// assert!(is_plumbing("alloc::raw_vec::finish_grow"));
/// assert!(is_plumbing("<alloc::alloc::Global as core::alloc::Allocator>::allocate"));
/// assert!(!is_plumbing("alloc::vec::Vec<T,A>::push"));
/// ```
#[must_use]
pub fn is_plumbing(function: &str) -> bool {
    let f = function.trim();
    // Shims may carry the compiler's `__rustc::` namespace.
    let f = f.strip_prefix("__rustc::").unwrap_or(f);
    if [
        "__rust_alloc",
        "__rust_realloc",
        "__rust_dealloc",
        "__rdl_",
        "__rg_",
    ]
    .iter()
    .any(|p| f.starts_with(p))
        || RUNTIME_SYMBOLS[1..].contains(&f)
    {
        return true;
    }
    // For `<A as B>::f` the implementing type `A` decides: `<alloc::alloc::Global
    // as core::alloc::Allocator>::allocate` is plumbing, `<Vec<T> as Clone>` is not.
    let path = match split_qualified(f) {
        Some((self_ty, _, _)) => strip_sigils(self_ty),
        None => f,
    };
    PLUMBING_PATHS.iter().any(|p| path.starts_with(p))
}

/// The position, within `stack` (innermost first), of the frame a callsite is
/// named by: the first [`FrameClass::User`] frame, else the innermost frame.
/// Returns 0 for an empty stack.
#[must_use]
pub fn user_frame_position(profile: &Profile, stack: &[u32]) -> usize {
    stack
        .iter()
        .position(|&f| {
            profile
                .frames
                .get(f as usize)
                .is_some_and(|fr| classify_frame(fr) == FrameClass::User)
        })
        .unwrap_or(0)
}

/// The number of frames at the innermost end of `stack` that are allocator
/// plumbing ([`is_plumbing`]), never all of them.
#[must_use]
pub fn plumbing_len(profile: &Profile, stack: &[u32]) -> usize {
    let n = stack
        .iter()
        .take_while(|&&f| {
            profile
                .frames
                .get(f as usize)
                .is_some_and(|fr| is_plumbing(&fr.function))
        })
        .count();
    n.min(stack.len().saturating_sub(1))
}

/// How deep qualified paths (`<<A as B>::C as D>`) are followed; real names
/// nest a few levels, and a bound keeps a hostile name from overflowing the
/// stack or taking quadratic time.
const MAX_NESTING: usize = 16;

/// [`user_frame_position`] and [`plumbing_len`] for many stacks of one
/// profile, classifying each frame once: stacks share frames, so classifying
/// per stack would cost the length of every stack written out in full.
#[derive(Debug, Clone)]
pub struct FrameCache<'p> {
    profile: &'p Profile,
    user: Vec<Option<bool>>,
    plumbing: Vec<Option<bool>>,
}

impl<'p> FrameCache<'p> {
    /// An empty cache for the frames of `profile`.
    #[must_use]
    pub fn new(profile: &'p Profile) -> Self {
        Self {
            profile,
            user: vec![None; profile.frames.len()],
            plumbing: vec![None; profile.frames.len()],
        }
    }

    /// [`user_frame_position`], with each frame classified once.
    pub fn user_frame_position(&mut self, stack: &[u32]) -> usize {
        let (frames, user) = (&self.profile.frames, &mut self.user);
        stack
            .iter()
            .position(|&f| {
                let Some(slot) = user.get_mut(f as usize) else {
                    return false;
                };
                *slot.get_or_insert_with(|| {
                    frames
                        .get(f as usize)
                        .is_some_and(|fr| classify_frame(fr) == FrameClass::User)
                })
            })
            .unwrap_or(0)
    }

    /// [`plumbing_len`], with each frame classified once.
    pub fn plumbing_len(&mut self, stack: &[u32]) -> usize {
        let (frames, plumbing) = (&self.profile.frames, &mut self.plumbing);
        let n = stack
            .iter()
            .take_while(|&&f| {
                let Some(slot) = plumbing.get_mut(f as usize) else {
                    return false;
                };
                *slot.get_or_insert_with(|| {
                    frames
                        .get(f as usize)
                        .is_some_and(|fr| is_plumbing(&fr.function))
                })
            })
            .count();
        n.min(stack.len().saturating_sub(1))
    }
}

fn is_library_path(f: &str, depth: usize) -> bool {
    if is_runtime_symbol(f) {
        return true;
    }
    if depth < MAX_NESTING
        && let Some((self_ty, trait_path, _)) = split_qualified(f)
    {
        let self_ty = strip_sigils(self_ty);
        let self_class = if is_primitive_or_param(self_ty) {
            None
        } else {
            Some(is_library_path(self_ty, depth + 1))
        };
        return match trait_path {
            // `<[T]>::to_vec`, `<str>::to_owned`: inherent impls on primitives live in std.
            None => self_class.unwrap_or(true),
            Some(t) => is_library_path(strip_sigils(t), depth + 1) && self_class.unwrap_or(true),
        };
    }
    let first = split_path(f).into_iter().next().unwrap_or(f);
    let krate = first.split('<').next().unwrap_or(first);
    LIBRARY_CRATES.contains(&krate)
}

fn is_primitive_or_param(ty: &str) -> bool {
    ty.starts_with(['[', '(', '!', '*'])
        || ty.starts_with("fn(")
        || ty.starts_with("fn ")
        || ty.starts_with("unsafe ")
        || ty.starts_with("extern ")
        || split_path(ty).len() < 2
}

/// Strips `&`, `&mut `, `*const `, `*mut `, `dyn ` and `impl ` from the front of a type.
fn strip_sigils(mut ty: &str) -> &str {
    loop {
        let before = ty;
        ty = ty.trim_start();
        for p in [
            "&", "mut ", "*const ", "*mut ", "dyn ", "impl ", "'_ ", "'static ",
        ] {
            if let Some(rest) = ty.strip_prefix(p) {
                ty = rest;
            }
        }
        if ty == before {
            return ty;
        }
    }
}

/// Splits `<A as B>::rest` into `(A, Some(B), rest)` and `<A>::rest` into
/// `(A, None, rest)`; `None` for a name that does not start with a qualified path.
fn split_qualified(f: &str) -> Option<(&str, Option<&str>, &str)> {
    if !f.starts_with('<') {
        return None;
    }
    let close = matching_close(f, 0)?;
    let inner = &f[1..close];
    let rest = f[close + 1..].trim_start_matches("::");
    match find_top_level(inner, " as ") {
        Some(i) => Some((&inner[..i], Some(&inner[i + 4..]), rest)),
        None => Some((inner, None, rest)),
    }
}

/// The index of the `>` closing the `<` at byte `open`, skipping `->`.
fn matching_close(s: &str, open: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every `<` of `s` that is closed, with the index of the `>` closing it (as
/// [`matching_close`] finds it), in order of the `<`: one pass, where calling
/// [`matching_close`] for each `<` would be quadratic on unbalanced names.
fn matching_closes(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut open = Vec::new();
    let mut pairs = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => open.push(i),
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => {
                if let Some(o) = open.pop() {
                    pairs.push((o, i));
                }
            }
            _ => {}
        }
    }
    pairs.sort_unstable();
    pairs
}

/// Byte index of `needle` in `s` outside any `<…>`, `(…)` or `[…]`.
fn find_top_level(s: &str, needle: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0isize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' | b'(' | b'[' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' | b')' | b']' => depth -= 1,
            // Bytes, not `&s[i..]`: `i` may be inside a multi-byte character.
            _ if depth == 0 && bytes[i..].starts_with(needle.as_bytes()) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits a path at its top-level `::` separators.
fn split_path(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let bytes = s.as_bytes();
    let mut depth = 0isize;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' | b'(' | b'[' | b'{' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' | b')' | b']' | b'}' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                parts.push(&s[start..i]);
                i += 2;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

/// Removes a legacy-mangling hash suffix such as `::h0123456789abcdef`.
#[must_use]
pub fn strip_hash(name: &str) -> &str {
    if let Some(i) = name.rfind("::h") {
        let hash = &name[i + 3..];
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return &name[..i];
        }
    }
    name
}

/// Folds every generic argument list to `<…>`, keeping qualified paths
/// (`<A as B>::f`) and `impl` blocks readable.
///
/// ```
/// use alloc_core::names::fold_generics;
/// assert_eq!(fold_generics("alloc::vec::Vec<T,A>::push"), "alloc::vec::Vec<…>::push");
/// assert_eq!(
///     fold_generics("<alloc::vec::Vec<u8> as core::ops::drop::Drop>::drop"),
///     "<alloc::vec::Vec<…> as core::ops::drop::Drop>::drop"
/// );
/// assert_eq!(fold_generics("core::ptr::drop_in_place::<Vec<u8>>"), "core::ptr::drop_in_place::<…>");
/// assert_eq!(fold_generics("alloc::slice::<impl [T]>::to_vec"), "alloc::slice::<impl [T]>::to_vec");
/// ```
#[must_use]
pub fn fold_generics(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let bytes = name.as_bytes();
    let closes = matching_closes(name);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'<'
            && opens_generics(name, i)
            && let Some(&(_, close)) = closes
                .get(closes.partition_point(|&(open, _)| open < i))
                .filter(|&&(open, _)| open == i)
        {
            out.push_str("<…>");
            i = close + 1;
            continue;
        }
        // Copy one whole UTF-8 character.
        let len = name[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&name[i..i + len]);
        i += len;
    }
    out
}

/// True when the `<` at byte `i` opens generic arguments rather than a qualified path.
fn opens_generics(name: &str, i: usize) -> bool {
    let before = &name[..i];
    let Some(prev) = before.chars().next_back() else {
        return false;
    };
    if prev.is_alphanumeric() || prev == '_' {
        return true;
    }
    // A turbofish `::<T>`, but not the impl path `::<impl Foo>`.
    before.ends_with("::") && !name[i + 1..].starts_with("impl ")
}

/// `s` with every control character (newlines, tabs, the escape that starts a
/// terminal control sequence) replaced by `?`: names and paths come from the
/// profile, and must neither break a line of a report nor drive the terminal.
///
/// ```
/// use alloc_core::names::printable;
/// assert_eq!(printable("demo::f"), "demo::f");
/// assert_eq!(printable("a\nb\u{1b}[31m"), "a?b?[31m");
/// ```
#[must_use]
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// The display width of `s` in terminal columns (one per character).
#[must_use]
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// A Rust function name shortened to at most `max` columns: hash suffix removed,
/// generic arguments folded, then leading module segments dropped (keeping at
/// least `Type::method`), then qualified paths reduced to their last segments.
/// Only a single identifier longer than `max` is ever cut, with a leading `…`.
/// Control characters become `?` ([`printable`]).
///
/// ```
/// use alloc_core::names::shorten;
/// let n = "<alloc::vec::Vec<T,A> as alloc::vec::spec_extend::SpecExtend<T,I>>::spec_extend";
/// assert_eq!(shorten(n, 80), "<alloc::vec::Vec<…> as alloc::vec::spec_extend::SpecExtend<…>>::spec_extend");
/// assert_eq!(shorten(n, 40), "<Vec<…> as SpecExtend<…>>::spec_extend");
/// assert_eq!(shorten("leaky::main::{{closure}}", 18), "main::{{closure}}");
/// ```
#[must_use]
pub fn shorten(name: &str, max: usize) -> String {
    let name = printable(name);
    let folded = fold_generics(strip_hash(name.trim()));
    if width(&folded) <= max {
        return folded;
    }
    let segments = split_path(&folded);
    // Drop leading module segments while at least two remain.
    let widths: Vec<usize> = segments.iter().map(|s| width(s)).collect();
    if let Some(k) = first_fitting_suffix(&widths, 2, max).filter(|&k| k >= 1) {
        return segments[k..].join("::");
    }
    // Reduce qualified paths to their last segments, then drop again.
    let simple: Vec<String> = segments.iter().map(|s| simplify_qualified(s, 0)).collect();
    let widths: Vec<usize> = simple.iter().map(|s| width(s)).collect();
    if let Some(k) = first_fitting_suffix(&widths, 1, max) {
        return simple[k..].join("::");
    }
    cut_left(simple.last().map_or("", String::as_str), max)
}

/// The first `k` such that the parts from `k` on, joined by a two-column
/// separator, fit in `max` columns while at least `keep` parts remain (or the
/// last part alone when there are fewer). Linear: suffix widths are summed
/// from the end rather than joined for every `k`.
fn first_fitting_suffix(widths: &[usize], keep: usize, max: usize) -> Option<usize> {
    let last = widths.len().saturating_sub(keep.max(1));
    let mut suffix = vec![0usize; widths.len() + 1];
    for k in (0..widths.len()).rev() {
        let sep = if k + 1 < widths.len() { 2 } else { 0 };
        suffix[k] = suffix[k + 1].saturating_add(widths[k]).saturating_add(sep);
    }
    (0..=last).find(|&k| k < widths.len() && suffix[k] <= max)
}

/// `<a::b::A<…> as c::d::B>` becomes `<A<…> as B>`; other segments are
/// returned as they are, as are those nested deeper than [`MAX_NESTING`].
fn simplify_qualified(segment: &str, depth: usize) -> String {
    let Some(close) = (depth < MAX_NESTING && segment.starts_with('<'))
        .then(|| matching_close(segment, 0))
        .flatten()
    else {
        return segment.to_owned();
    };
    let inner = &segment[1..close];
    let last = |ty: &str| -> String {
        let stripped = strip_sigils(ty);
        let sigils = &ty[..ty.len() - stripped.len()];
        let tail = split_path(stripped).last().copied().unwrap_or(stripped);
        format!("{sigils}{}", simplify_qualified(tail, depth + 1))
    };
    let body = match find_top_level(inner, " as ") {
        Some(i) => format!("{} as {}", last(&inner[..i]), last(&inner[i + 4..])),
        None => last(inner),
    };
    format!("<{body}>{}", &segment[close + 1..])
}

/// The last `max` columns of `s` behind a `…`.
fn cut_left(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    let skip = width(s) - keep;
    let mut out = String::from("…");
    out.extend(s.chars().skip(skip));
    out
}

/// A source path shortened to at most `max` columns by dropping leading
/// directories (`…/src/main.rs`); only a file name longer than `max` is cut.
/// Control characters become `?` ([`printable`]).
///
/// ```
/// use alloc_core::names::shorten_path;
/// assert_eq!(shorten_path("/home/me/proj/src/main.rs", 80), "/home/me/proj/src/main.rs");
/// assert_eq!(shorten_path("/home/me/proj/src/main.rs", 16), "…/src/main.rs");
/// assert_eq!(shorten_path("/home/me/proj/src/main.rs", 8), "main.rs");
/// ```
#[must_use]
pub fn shorten_path(path: &str, max: usize) -> String {
    let path = &*printable(path);
    if width(path) <= max {
        return path.to_owned();
    }
    let parts: Vec<&str> = path.split('/').collect();
    // `…/` and the parts from `k` on, joined by `/`: find the first that fits
    // by summing widths from the end (joining for every `k` is quadratic).
    let mut fits = None;
    let mut tail = 1; // the `…`
    for k in (1..parts.len()).rev() {
        tail += width(parts[k]) + 1;
        if tail <= max {
            fits = Some(k);
        } else {
            break;
        }
    }
    if let Some(k) = fits {
        return format!("…/{}", parts[k..].join("/"));
    }
    cut_left(parts.last().copied().unwrap_or(path), max)
}

/// A source path for display: the commit hash in the standard library's
/// `/rustc/<hash>/library/…` paths becomes `…`.
///
/// ```
/// use alloc_core::names::display_path;
/// assert_eq!(
///     display_path("/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/rt.rs"),
///     "/rustc/…/library/std/src/rt.rs"
/// );
/// assert_eq!(display_path("src/main.rs"), "src/main.rs");
/// ```
#[must_use]
pub fn display_path(path: &str) -> std::borrow::Cow<'_, str> {
    if let Some(rest) = path.strip_prefix("/rustc/")
        && let Some((hash, tail)) = rest.split_once('/')
        && hash.len() >= 7
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("/rustc/…/{tail}").into();
    }
    path.into()
}

/// `file:line` for a frame (the path as [`display_path`] shows it), `file`
/// alone without a line, `None` without a file.
#[must_use]
pub fn location(frame: &Frame) -> Option<String> {
    let file = display_path(frame.file.as_deref()?);
    Some(match frame.line {
        Some(line) => format!("{file}:{line}"),
        None => file.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    #[test]
    fn std_alloc_core_and_hashbrown_frames_are_library() {
        for f in [
            "alloc::vec::Vec<T,A>::push",
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "alloc::raw_vec::finish_grow",
            "core::ops::function::FnOnce::call_once",
            "std::rt::lang_start::{{closure}}",
            "hashbrown::raw::RawTable<T,A>::reserve_rehash",
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "<alloc::string::String as core::clone::Clone>::clone",
            "<T as alloc::slice::hack::ConvertVec>::to_vec",
            "<[T]>::to_vec",
            "<&mut W as core::fmt::Write>::write_str",
            "__rust_alloc",
            "__rdl_alloc",
            "__libc_start_main",
            "_start",
            "main",
            "malloc",
            "__run_exit_handlers",
            "alloc_profiler::capture::capture",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
        ] {
            assert_eq!(classify(f, None), FrameClass::Library, "{f}");
        }
    }

    #[test]
    fn program_frames_are_user_code_even_in_std_trait_impls() {
        for f in [
            "leaky::main",
            "leaky::main::{{closure}}",
            "quickstart::build_index",
            "<myapp::Cache as core::default::Default>::default",
            "<alloc::vec::Vec<T> as myapp::Extend2>::extend2",
            "<myapp::Node>::new",
            "serde_json::de::from_str",
            "freeze::free_list",
        ] {
            assert_eq!(classify(f, Some("src/main.rs")), FrameClass::User, "{f}");
        }
    }

    #[test]
    fn unknown_frames() {
        assert_eq!(classify("0x55d1c0ffee", None), FrameClass::Unknown);
        assert_eq!(classify("[stack not recorded]", None), FrameClass::Unknown);
        assert_eq!(classify("  ", None), FrameClass::Unknown);
    }

    #[test]
    fn std_source_paths_mark_library_frames() {
        assert_eq!(
            classify(
                "do_reserve_and_handle",
                Some(
                    "/rustc/4eb161250e340c8f48f66e2b929ef4a5bed7c181/library/alloc/src/raw_vec.rs"
                )
            ),
            FrameClass::Library
        );
    }

    fn stack_of(names: &[&str]) -> (crate::format::Profile, Vec<u32>) {
        let mut b = ProfileBuilder::new("prog");
        let frames: Vec<(&str, &str, u32)> = names.iter().map(|n| (*n, "x.rs", 1)).collect();
        b.site(&frames, |c| {
            c.blocks = 1;
            c.bytes = 8;
        });
        let p = b.build();
        let s = p.stacks[0].frames.clone();
        (p, s)
    }

    #[test]
    fn the_user_frame_skips_std_frames_and_falls_back_to_the_innermost() {
        let (p, s) = stack_of(&[
            "alloc::raw_vec::finish_grow",
            "alloc::vec::Vec<T,A>::push",
            "0x1234",
            "leaky::fill",
            "leaky::main",
            "std::rt::lang_start",
        ]);
        assert_eq!(user_frame_position(&p, &s), 3);
        let (p, s) = stack_of(&["alloc::vec::Vec<T,A>::push", "std::rt::lang_start"]);
        assert_eq!(user_frame_position(&p, &s), 0);
        assert_eq!(user_frame_position(&p, &[]), 0);
    }

    #[test]
    fn plumbing_is_trimmed_from_the_leaf_but_never_everything() {
        let (p, s) = stack_of(&[
            "__rust_alloc",
            "alloc::alloc::alloc",
            "alloc::raw_vec::finish_grow",
            "alloc::vec::Vec<T,A>::push",
            "leaky::main",
        ]);
        assert_eq!(plumbing_len(&p, &s), 3);
        let (p, s) = stack_of(&["__rust_alloc", "alloc::alloc::alloc"]);
        assert_eq!(plumbing_len(&p, &s), 1);
        assert!(!is_plumbing(
            "<alloc::vec::Vec<T> as core::clone::Clone>::clone"
        ));
        assert!(is_plumbing("std::alloc::System::alloc"));
        assert!(is_plumbing("malloc"));
        assert!(!is_plumbing("main"));
        assert!(!is_plumbing("_start"));
    }

    #[test]
    fn generic_folding_handles_nesting_arrows_and_closures() {
        assert_eq!(
            fold_generics("core::iter::Map<I,F>::fold<Box<dyn Fn() -> Vec<u8>>>"),
            "core::iter::Map<…>::fold<…>"
        );
        assert_eq!(
            fold_generics("leaky::main::{{closure}}"),
            "leaky::main::{{closure}}"
        );
        assert_eq!(
            fold_generics("a<b"),
            "a<b",
            "unbalanced brackets are left alone"
        );
        assert_eq!(fold_generics("é<x>::ü"), "é<…>::ü");
    }

    #[test]
    fn shortening_never_cuts_a_word_while_a_segment_fits() {
        let long = "hashbrown::raw::RawTable<(alloc::string::String,alloc::vec::Vec<u8>),alloc::alloc::Global>::reserve_rehash::{{closure}}";
        for max in [30, 40, 60, 80] {
            let s = shorten(long, max);
            assert!(width(&s) <= max, "{s} wider than {max}");
            assert!(!s.starts_with('…'), "{s}");
            assert!(s.ends_with("::{{closure}}") || s == "reserve_rehash::{{closure}}");
        }
        assert_eq!(
            shorten(long, 40),
            "RawTable<…>::reserve_rehash::{{closure}}"
        );
        assert_eq!(shorten(long, 30), "reserve_rehash::{{closure}}");
        assert_eq!(shorten(long, 20), "{{closure}}");
        assert_eq!(shorten("a::averyveryverylongidentifier", 10), "…dentifier");
        assert_eq!(shorten("x::h0123456789abcdef", 80), "x");
    }

    #[test]
    fn multi_byte_characters_beside_qualified_paths_do_not_panic() {
        // Found by the property test: `find_top_level` sliced `&s[i..]` at
        // every byte, inside `é` here, and panicked.
        assert_eq!(classify("<é::A as x::B>::f", None), FrameClass::User);
        assert!(!is_plumbing("<é as ü>::f"));
        assert_eq!(shorten("<é::ü::A as x::y::B>::f", 12), "<A as B>::f");
    }

    #[test]
    fn hostile_names_take_linear_time_and_little_stack() {
        // Deep qualified paths once recursed per level and quadratic scans:
        // these took minutes or overflowed the stack.
        let n = 20_000;
        let deep = "<".repeat(n) + "a::b" + &" as c::d>::e".repeat(n);
        let _ = classify(&deep, None);
        let _ = is_plumbing(&deep);
        assert!(width(&shorten(&deep, 40)) <= 40);
        let unbalanced = "a<".repeat(n);
        assert_eq!(fold_generics(&unbalanced), unbalanced);
        assert!(width(&shorten(&"a::".repeat(n), 40)) <= 40);
        assert!(width(&shorten_path(&"a/".repeat(n), 40)) <= 40);
        assert_eq!(printable("a\nb"), "a?b");
    }

    #[test]
    fn paths_drop_leading_directories() {
        assert_eq!(shorten_path("src/main.rs", 5), "…n.rs");
        let f = Frame {
            function: "f".into(),
            file: Some("src/a.rs".into()),
            line: Some(3),
            column: None,
            inlined: false,
        };
        assert_eq!(location(&f).as_deref(), Some("src/a.rs:3"));
    }
}
