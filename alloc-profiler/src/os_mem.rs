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
/// OS refuses or the limit would be exceeded. Pages are committed as they
/// are first touched.
pub fn map_zeroed(len: usize) -> Option<NonNull<u8>> {
    map(len, 0)
}

/// Like [`map_zeroed`], with every page committed and writable at once.
///
/// For tables read before they are written (hash tables probed for a free
/// slot): a read of an untouched page maps the shared zero page, and the
/// first write then replaces it, which makes the kernel flush that page
/// from every CPU running the program (an interprocessor interrupt per
/// page). With two threads, a growing live table spent 10% of the run in
/// those flushes. (Huge pages for the largest tables, tried too, measured
/// no faster.)
pub fn map_populated(len: usize) -> Option<NonNull<u8>> {
    map(len, POPULATE)
}

// Linux's mapping flags; elsewhere (and under Miri, which does not model
// them) none: pages are committed on first touch and the address space
// reserved as the OS does by default, which is still correct.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
const POPULATE: libc::c_int = libc::MAP_POPULATE;
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
const NORESERVE: libc::c_int = libc::MAP_NORESERVE;
#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
const POPULATE: libc::c_int = 0;
#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
const NORESERVE: libc::c_int = 0;

fn map(len: usize, extra_flags: libc::c_int) -> Option<NonNull<u8>> {
    let len64 = len as u64;
    let prev = MAPPED.fetch_add(len64, Ordering::Relaxed);
    if prev.saturating_add(len64) > LIMIT.load(Ordering::Relaxed) {
        MAPPED.fetch_sub(len64, Ordering::Relaxed);
        return None;
    }
    let mem = mmap_anonymous(len, extra_flags);
    if mem.is_none() {
        MAPPED.fetch_sub(len64, Ordering::Relaxed);
    }
    mem
}

/// A fresh anonymous, private, readable and writable mapping of `len` bytes.
fn mmap_anonymous(len: usize, extra_flags: libc::c_int) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with a null hint has no
    // preconditions; the result is checked against MAP_FAILED below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(ptr.cast())
}

/// Returns memory obtained from [`map_zeroed`] or [`map_populated`].
///
/// # Safety
/// `ptr` and `len` must come from one successful mapping call of this module, and
/// nothing may use the memory afterwards.
pub unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller passes a mapping we made, of this length, no longer used.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    MAPPED.fetch_sub(len as u64, Ordering::Relaxed);
}

/// Maps `len` bytes of zeroed address space for a sparse table, committed
/// page by page as it is touched, outside the running total and the limit:
/// what such a table costs is what [`resident_bytes`] finds in memory.
pub fn reserve(len: usize) -> Option<NonNull<u8>> {
    mmap_anonymous(len, NORESERVE)
}

/// Returns memory obtained from [`reserve`].
///
/// # Safety
/// `ptr` and `len` must come from one successful [`reserve`], and nothing may
/// use the memory afterwards.
pub unsafe fn unreserve(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller passes a mapping we made, of this length, no longer used.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// Bytes of the mapping `ptr..ptr + len` (page-aligned, from [`reserve`])
/// that are in memory; all of it where the OS cannot say.
pub fn resident_bytes(ptr: NonNull<u8>, len: usize) -> u64 {
    #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page).unwrap_or(4096).max(1);
        const CHUNK: usize = 4096;
        let mut vec = [0u8; CHUNK];
        let mut resident = 0u64;
        let mut off = 0;
        while off < len {
            let n = (len - off).div_ceil(page).min(CHUNK);
            // SAFETY: `ptr + off` is page-aligned inside the caller's
            // mapping, `n` pages of it are within `len` (rounded up to the
            // page, as the mapping is), and `vec` has room for `n` entries.
            let r = unsafe {
                libc::mincore(
                    ptr.as_ptr().add(off).cast(),
                    (n * page).min(len - off),
                    vec.as_mut_ptr().cast(),
                )
            };
            if r != 0 {
                return len as u64;
            }
            resident += vec.iter().take(n).filter(|&&v| v & 1 != 0).count() as u64 * page as u64;
            off += n * page;
        }
        resident
    }
    #[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
    {
        let _ = ptr;
        len as u64
    }
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

    #[test]
    fn populated_memory_is_zeroed_writable_and_accounted_alike() {
        let before = mapped_bytes();
        let len = 64 << 10;
        let p = map_populated(len).expect("mmap");
        assert!(mapped_bytes() >= before + len as u64);
        // SAFETY: p points to len mapped bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[len - 1] = 7;
        // SAFETY: mapped above with this length; `bytes` is not used after.
        unsafe { unmap(p, len) };
    }

    #[test]
    fn reserved_memory_is_zeroed_and_counts_only_the_pages_touched() {
        // 1 MiB: too small for a transparent huge page to back it whole.
        let len = 1 << 20;
        let p = reserve(len).expect("mmap");
        // SAFETY: p points to len mapped bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) };
        assert_eq!(bytes[3 * 4096], 0);
        bytes[3 * 4096] = 1;
        let resident = resident_bytes(p, len);
        if cfg!(all(
            any(target_os = "linux", target_os = "android"),
            not(miri)
        )) {
            assert!(
                (4096..=64 * 1024).contains(&resident),
                "one page touched, {resident} bytes resident"
            );
        } else {
            assert_eq!(resident, len as u64, "all of it where the OS cannot say");
        }
        // SAFETY: reserved above with this length; `bytes` is not used after.
        unsafe { unreserve(p, len) };
    }
}
