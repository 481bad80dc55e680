//! The hash of a stack of return addresses, which names it in the stack
//! table's caches and index.
//!
//! It is built one frame at a time ([`step`]), so that the frame-pointer walk
//! can hash each address as it reads it: there the step runs in the shadow of
//! the walk's own chain of dependent loads, and the stack is not read a
//! second time. [`of`] hashes a stack already captured, to the same value.
//! Collisions only cost time: every lookup compares the frames themselves.

/// The hash before any frame.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Adds one frame. A rotation and an exclusive or: a two-cycle dependency
/// chain (a multiplication per frame made it five cycles long, longer than
/// the frame walk's own loads).
#[inline(always)]
pub fn step(h: u64, frame: usize) -> u64 {
    h.rotate_left(7) ^ frame as u64
}

/// The hash of the `len` frames folded into `h`: the length mixed in, one
/// multiplication to spread the bits, and never 0 (0 marks an empty cache
/// slot).
#[inline(always)]
pub fn finish(h: u64, len: usize) -> u64 {
    let mut h = h ^ (len as u64).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 31;
    h = h.wrapping_mul(0x517C_C1B7_2722_0A95);
    (h ^ (h >> 29)) | 1
}

/// The hash of `frames`.
#[inline]
pub fn of(frames: &[usize]) -> u64 {
    finish(frames.iter().fold(SEED, |h, &f| step(h, f)), frames.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_stacks_hash_alike_and_order_and_length_matter() {
        assert_eq!(of(&[1, 2, 3]), of(&[1, 2, 3]));
        assert_ne!(of(&[1, 2, 3]), of(&[3, 2, 1]));
        assert_ne!(of(&[1, 2]), of(&[1, 2, 0]));
        assert_ne!(of(&[]), 0);
    }

    #[test]
    fn stepping_frame_by_frame_gives_the_hash_of_the_slice() {
        let frames = [0x5555_0000_1234, 0x5555_0000_5678, 0x7fff_0000_9abc];
        let mut h = SEED;
        for &f in &frames {
            h = step(h, f);
        }
        assert_eq!(finish(h, frames.len()), of(&frames));
    }
}
