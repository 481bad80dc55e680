//! Turning raw return addresses into frames, once per distinct address, when a
//! profile is written. Which frames are kept is `alloc_core::trim`'s rule.

use std::collections::HashMap;

use alloc_core::format::Frame;
pub use alloc_core::trim::{FrameKind, keep_range};

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

/// Trims a symbolized stack in place, by `alloc_core::trim`'s rules.
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

    #[test]
    fn resolves_a_function_of_this_binary() {
        #[inline(never)]
        fn here() -> usize {
            let mut out = crate::capture::buf::<4>();
            let hi = crate::capture::current_stack_hi().unwrap();
            let n = crate::capture::walk_frame_pointers(&mut out, hi).len;
            assert!(n > 1);
            crate::capture::written(&out, n)[0]
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
