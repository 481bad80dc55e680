//! Memory for the profiler's own tables, mapped straight from the OS so that it
//! never goes through (or depends on) the wrapped allocator, with a running
//! total and an optional limit. A failed or refused mapping is reported to the
//! caller, which counts what it could not record.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

static MAPPED: AtomicU64 = AtomicU64::new(0);
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Bytes currently mapped by the profiler.
pub fn mapped_bytes() -> u64 {
    MAPPED.load(Ordering::Relaxed)
}

/// Sets the most bytes the profiler may map (`u64::MAX` for no limit).
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// Maps `len` bytes of zeroed, page-aligned memory, or returns `None` when the
/// OS refuses or the limit would be exceeded.
pub fn map_zeroed(len: usize) -> Option<NonNull<u8>> {
    let len64 = len as u64;
    let prev = MAPPED.fetch_add(len64, Ordering::Relaxed);
    if prev.saturating_add(len64) > LIMIT.load(Ordering::Relaxed) {
        MAPPED.fetch_sub(len64, Ordering::Relaxed);
        return None;
    }
    // SAFETY: an anonymous private mapping with a null hint has no
    // preconditions; the result is checked against MAP_FAILED below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        MAPPED.fetch_sub(len64, Ordering::Relaxed);
        return None;
    }
    NonNull::new(ptr.cast())
}

/// Returns memory obtained from [`map_zeroed`].
///
/// # Safety
/// `ptr` and `len` must come from one successful [`map_zeroed`] call, and
/// nothing may use the memory afterwards.
pub unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller passes a mapping we made, of this length, no longer used.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    MAPPED.fetch_sub(len as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_memory_is_zeroed_writable_and_accounted() {
        let before = mapped_bytes();
        let p = map_zeroed(8192).expect("mmap");
        assert!(mapped_bytes() >= before + 8192);
        // SAFETY: p points to 8192 mapped bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), 8192) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[8191] = 7;
        // SAFETY: mapped above with this length; `bytes` is not used after.
        unsafe { unmap(p, 8192) };
    }
}
