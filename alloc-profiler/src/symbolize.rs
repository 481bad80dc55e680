//! Turning raw return addresses into frames, once per distinct address, when a
//! profile is written; and trimming the frames nobody wants to read: the
//! profiler's own, the allocator plumbing at the innermost end, and the Rust
//! runtime's start-up frames at the root end.

use std::collections::HashMap;

use alloc_core::format::Frame;

/// Resolves addresses, caching each one's frames.
#[derive(Default)]
pub struct Symbolizer {
    cache: HashMap<usize, Vec<Frame>>,
}

impl Symbolizer {
    /// The frames at return address `addr`, innermost (most inlined) first.
    pub fn frames(&mut self, addr: usize) -> &[Frame] {
        self.cache.entry(addr).or_insert_with(|| resolve(addr))
    }
}

fn resolve(addr: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    // A return address points after the call; look up the call instruction.
    let lookup = addr.saturating_sub(1);
    backtrace::resolve(lookup as *mut std::ffi::c_void, |sym| {
        let function = match sym.name() {
            Some(name) => format!("{name:#}"),
            None => format!("{addr:#x}"),
        };
        frames.push(Frame {
            function,
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
            column: sym.colno(),
            inlined: true,
        });
    });
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{addr:#x}"),
            file: None,
            line: None,
            column: None,
            inlined: false,
        });
    }
    if let Some(outer) = frames.last_mut() {
        outer.inlined = false;
    }
    frames
}

/// True for the frames through which every allocation enters the profiler:
/// the compiler's allocator shims and the `GlobalAlloc` methods of
/// `Profiler`. Everything inside (innermost of) the last such frame is the
/// profiler's own.
pub fn is_entry(function: &str) -> bool {
    is_allocator_shim(function)
        || (function.starts_with("<alloc_profiler::")
            && function.contains("Profiler<")
            && function.contains(" as core::alloc::global::GlobalAlloc>::"))
}

/// True for the compiler-generated allocator shims (`__rust_alloc`,
/// `__rust_realloc`, …, and the `__rdl_`/`__rg_` functions behind them), but
/// not for other `__rust_` symbols such as `__rust_try`.
pub fn is_allocator_shim(function: &str) -> bool {
    let shim = function.strip_prefix("__rustc::").unwrap_or(function);
    [
        "__rust_alloc",
        "__rust_realloc",
        "__rust_dealloc",
        "__rdl_",
        "__rg_",
    ]
    .iter()
    .any(|p| shim.starts_with(p))
}

/// True for frames of the profiler itself and of the allocation machinery
/// between the user's call and the allocator (`__rust_alloc`, `alloc::alloc`,
/// `alloc::raw_vec` growth, the `GlobalAlloc`/`Allocator` glue), and of the
/// unwinder when stacks are captured with it.
pub fn is_plumbing(function: &str) -> bool {
    if is_allocator_shim(function) {
        return true;
    }
    // `<alloc::alloc::Global>::alloc_impl` and `<X as Trait>::f` name the
    // type's path after the bracket.
    let function = function.trim_start_matches('<');
    const PREFIXES: &[&str] = &[
        "alloc_profiler::",
        "alloc::alloc::",
        "alloc::raw_vec::",
        "core::alloc::",
        "std::alloc::",
        "hashbrown::raw::alloc::",
        "backtrace::",
    ];
    PREFIXES.iter().any(|p| function.starts_with(p))
}

/// True for the frame below which (towards the root) only the Rust runtime's
/// start-up or thread-spawn machinery lies.
pub fn is_runtime_boundary(function: &str) -> bool {
    // Also with generic arguments: `…::__rust_begin_short_backtrace::<F, T>`.
    function.contains("__rust_begin_short_backtrace")
}

/// What trimming needs to know of a frame, computed once per distinct frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameKind {
    /// An allocator entry ([`is_entry`]).
    pub entry: bool,
    /// Allocator plumbing ([`is_plumbing`]).
    pub plumbing: bool,
    /// The runtime boundary ([`is_runtime_boundary`]).
    pub boundary: bool,
}

impl FrameKind {
    /// Classifies a function name.
    pub fn of(function: &str) -> Self {
        Self {
            entry: is_entry(function),
            plumbing: is_plumbing(function),
            boundary: is_runtime_boundary(function),
        }
    }
}

/// The part of a symbolized stack (innermost first) worth keeping: after the
/// outermost allocator entry frame and the plumbing that follows it (keeping
/// at least one frame), and before the runtime boundary.
pub fn keep_range<T>(frames: &[T], kind: impl Fn(&T) -> FrameKind) -> std::ops::Range<usize> {
    let mut end = frames.len();
    if let Some(cut) = frames.iter().position(|f| kind(f).boundary)
        && cut > 0
    {
        end = cut;
    }
    let mut start = 0;
    if let Some(entry) = frames[..end].iter().rposition(|f| kind(f).entry)
        && entry + 1 < end
    {
        start = entry + 1;
    }
    let lead = frames[start..end]
        .iter()
        .take_while(|f| kind(f).plumbing)
        .count();
    start += lead.min((end - start).saturating_sub(1));
    start..end
}

/// Trims a symbolized stack in place (see [`keep_range`]).
pub fn trim(frames: &mut Vec<Frame>) {
    let keep = keep_range(frames, |f| FrameKind::of(&f.function));
    frames.truncate(keep.end);
    frames.drain(..keep.start);
}

/// A fast hasher for the dump's tables keyed by addresses and frame-id lists
/// (SipHash, std's default, dominated writing large profiles).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517C_C1B7_2722_0A95);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> Frame {
        Frame {
            function: name.to_string(),
            file: None,
            line: None,
            column: None,
            inlined: false,
        }
    }

    #[test]
    fn trims_plumbing_inside_and_runtime_outside() {
        let mut s = vec![
            f("alloc_profiler::capture::walk_frame_pointers"),
            f("alloc_profiler::recorder::realloc_take"),
            f("std::thread::local::LocalKey<T>::try_with"),
            f("alloc_profiler::thread::enter"),
            f(
                "<alloc_profiler::global_alloc::Profiler<A> as core::alloc::global::GlobalAlloc>::realloc",
            ),
            f("__rustc::__rust_realloc"),
            f("<alloc::alloc::Global>::grow_impl"),
            f("<alloc::alloc::Global as core::alloc::Allocator>::grow"),
            f("<alloc::raw_vec::RawVecInner>::finish_grow"),
            f("alloc::raw_vec::finish_grow"),
            f("alloc::raw_vec::RawVecInner<A>::grow_one"),
            f("alloc::vec::Vec<T,A>::push"),
            f("leaky::build_index"),
            f("leaky::main"),
            f("core::ops::function::FnOnce::call_once"),
            f("std::sys::backtrace::__rust_begin_short_backtrace"),
            f("std::rt::lang_start::{{closure}}"),
            f("main"),
        ];
        trim(&mut s);
        let names: Vec<&str> = s.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "alloc::vec::Vec<T,A>::push",
                "leaky::build_index",
                "leaky::main",
                "core::ops::function::FnOnce::call_once"
            ]
        );
    }

    #[test]
    fn catch_unwind_frames_are_not_allocator_entries() {
        let mut s = vec![
            f("__rustc::__rust_alloc"),
            f("<alloc::vec::Vec<u8>>::with_capacity_in"),
            f("app::inner"),
            f("__rust_try"),
            f("std::panicking::catch_unwind"),
            f("app::outer"),
            f("test::__rust_begin_short_backtrace::<fn(), ()>"),
            f("test::run_test"),
        ];
        trim(&mut s);
        let names: Vec<&str> = s.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "<alloc::vec::Vec<u8>>::with_capacity_in",
                "app::inner",
                "__rust_try",
                "std::panicking::catch_unwind",
                "app::outer"
            ]
        );
    }

    #[test]
    fn a_stack_of_only_plumbing_keeps_one_frame() {
        let mut s = vec![f("__rust_alloc"), f("alloc::alloc::alloc")];
        trim(&mut s);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn user_crates_with_similar_names_are_not_plumbing() {
        assert!(!is_plumbing("alloc_profiler_suite::helper"));
        assert!(!is_plumbing("my_alloc::alloc::thing"));
        assert!(is_plumbing("alloc_profiler::measure"));
    }

    #[test]
    fn resolves_a_function_of_this_binary() {
        #[inline(never)]
        fn here() -> usize {
            let mut out = [0usize; 4];
            let hi = crate::capture::current_stack_hi().unwrap();
            let n = crate::capture::walk_frame_pointers(&mut out, hi);
            assert!(n > 1);
            out[0]
        }
        let addr = std::hint::black_box(here());
        let mut s = Symbolizer::default();
        let frames = s.frames(addr).to_vec();
        assert!(
            frames
                .iter()
                .any(|f| f.function.contains("resolves_a_function_of_this_binary")),
            "{frames:?}"
        );
        assert!(frames.iter().any(|f| {
            f.file
                .as_deref()
                .is_some_and(|p| p.ends_with("symbolize.rs"))
        }));
    }
}
