//! Capturing the callsite stack on the allocation path, as raw return
//! addresses and without allocating: a bounded frame-pointer walk validated
//! against the thread's stack bounds, or, where frame pointers are missing, the
//! system unwinder (correct, and much slower).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::stack_hash;

/// The most frames any stack keeps.
pub const MAX_FRAMES: usize = 128;

/// How stacks are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureMethod {
    /// Frame pointers when they are found to work, the unwinder otherwise.
    Auto,
    /// Walk frame pointers (needs `-C force-frame-pointers=yes`).
    FramePointers,
    /// The system unwinder through the `backtrace` crate.
    Unwind,
}

const FP: u8 = 1;
const UNWIND: u8 = 2;
static METHOD: AtomicU8 = AtomicU8::new(FP);

/// Whether the frame-pointer walk is available on this target.
pub const FRAME_POINTERS_SUPPORTED: bool =
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Decides the method for a session. Returns the name recorded in the profile
/// and, when the choice differs from the request, why.
pub fn choose(requested: CaptureMethod) -> (&'static str, Option<&'static str>) {
    let fp_works = FRAME_POINTERS_SUPPORTED && frame_pointers_work();
    let (method, note) = match requested {
        CaptureMethod::Unwind => (UNWIND, None),
        CaptureMethod::FramePointers if fp_works => (FP, None),
        CaptureMethod::Auto if fp_works => (FP, None),
        CaptureMethod::FramePointers | CaptureMethod::Auto => (
            UNWIND,
            Some(
                "frame pointers not found (build with RUSTFLAGS=\"-C force-frame-pointers=yes\" for fast capture); used the unwinder",
            ),
        ),
    };
    METHOD.store(method, Ordering::Relaxed);
    (
        if method == FP {
            "frame_pointers"
        } else {
            "unwind"
        },
        note,
    )
}

/// A buffer for return addresses that is written, never cleared: capturing
/// into a zeroed 1 KiB array cost every event a memset.
pub type Buf<const N: usize> = [MaybeUninit<usize>; N];

/// A fresh buffer (no memory is touched).
#[inline(always)]
pub const fn buf<const N: usize>() -> Buf<N> {
    [const { MaybeUninit::uninit() }; N]
}

/// The first `n` addresses of `out`, which a capture function of this module
/// wrote and reported as written (`n` is its return value).
#[inline]
pub fn written(out: &[MaybeUninit<usize>], n: usize) -> &[usize] {
    let init = out.get(..n).unwrap_or(&[]);
    // SAFETY: every capture function here writes slots 0..n, in order, before
    // returning n, so these slots are initialized; MaybeUninit<usize> has the
    // layout of usize.
    unsafe { std::slice::from_raw_parts(init.as_ptr().cast::<usize>(), init.len()) }
}

/// What a capture wrote: how many return addresses, and their hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Addresses written to the start of the buffer.
    pub len: usize,
    /// [`stack_hash::of`] those addresses.
    pub hash: u64,
}

impl Captured {
    fn of(out: &[MaybeUninit<usize>], len: usize) -> Self {
        Self {
            len,
            hash: stack_hash::of(written(out, len)),
        }
    }
}

/// Fills `out` with return addresses, innermost first, and says how many.
#[inline]
pub fn capture(out: &mut [MaybeUninit<usize>], stack_hi: usize) -> Captured {
    if METHOD.load(Ordering::Relaxed) == FP {
        walk_frame_pointers(out, stack_hi)
    } else {
        let len = unwind(out);
        Captured::of(out, len)
    }
}

/// Walks the frame-pointer chain from the caller's frame.
#[inline(never)]
pub fn walk_frame_pointers(out: &mut [MaybeUninit<usize>], stack_hi: usize) -> Captured {
    walk_from(frame_pointer(), stack_pointer(), stack_hi, out)
}

/// Walks frame records starting at `fp`, reading only inside `[lo, hi)`: the
/// live part of this thread's stack, from the stack pointer to the stack's
/// base, which is all mapped. Without frame pointers the register holds
/// anything (0, a heap address, a counter); such a value fails the bounds
/// check and the walk stops, having read nothing outside the stack. Each
/// address is hashed as it is read (`stack_hash`).
pub fn walk_from(mut fp: usize, lo: usize, hi: usize, out: &mut [MaybeUninit<usize>]) -> Captured {
    let mut h = stack_hash::SEED;
    let mut n = 0;
    if let Some(last) = first_record(fp, lo, hi) {
        while let Some(slot) = out.get_mut(n) {
            // SAFETY: `first_record` checked the first `fp`, and
            // `links_up` each next one.
            let (next, ret) = unsafe { read_record(fp) };
            if ret == 0 {
                break;
            }
            slot.write(ret);
            n += 1;
            h = stack_hash::step(h, ret);
            if !links_up(next, fp, last) {
                break;
            }
            fp = next;
        }
    }
    Captured {
        len: n,
        hash: stack_hash::finish(h, n),
    }
}

/// Return addresses [`site_hash`] reads. The recorder runs inlined in the
/// allocator's entry point, so the first is the program's call of the
/// allocator and the second its caller's call.
pub const SITE_FRAMES: usize = 2;

/// Whether stacks are captured by walking frame pointers (so that a frame
/// pointer may be followed at all).
pub fn walks_frame_pointers() -> bool {
    METHOD.load(Ordering::Relaxed) == FP
}

/// A cheap name for the code that called the allocator, for the sampler's
/// strata (`strata.rs`): the stack pointer, which tells apart the depths of
/// a recursion, and the innermost [`SITE_FRAMES`] return addresses of the
/// frame-pointer chain, which tell apart the calls made from one function,
/// hashed together. Deterministic: the same stack gives the same name. The
/// walk stays below `stack_hi`; with `stack_hi` 0 (when the frame pointers
/// are not to be trusted: see [`walks_frame_pointers`]) only the stack
/// pointer counts.
#[inline(always)]
pub fn site_hash(stack_hi: usize) -> u64 {
    let sp = stack_pointer();
    let mut h = stack_hash::step(stack_hash::SEED, sp);
    let mut fp = frame_pointer();
    if let Some(last) = first_record(fp, sp, stack_hi) {
        for _ in 0..SITE_FRAMES {
            // SAFETY: as in `walk_from`.
            let (next, ret) = unsafe { read_record(fp) };
            h = stack_hash::step(h, ret);
            if !links_up(next, fp, last) {
                break;
            }
            fp = next;
        }
    }
    h
}

/// When the frame record at `fp` lies inside `[lo, hi)`, the highest address
/// a 16-byte record may start at; each record links to a higher one
/// ([`links_up`]), so once the first is at or above `lo`, all are.
#[inline(always)]
fn first_record(fp: usize, lo: usize, hi: usize) -> Option<usize> {
    hi.checked_sub(16)
        .filter(|&last| fp >= lo && fp <= last && is_aligned(fp))
}

/// Whether the record at `next` may be read after the one at `fp`.
#[inline(always)]
fn links_up(next: usize, fp: usize, last: usize) -> bool {
    next > fp && next <= last && is_aligned(next)
}

/// The frame record at `fp`: (the saved frame pointer, the return address).
///
/// # Safety
/// `fp` is aligned and `[fp, fp + 16)` lies inside the live part of this
/// thread's stack (from the reading function's stack pointer to the stack's
/// base), which is mapped and readable: [`first_record`] checked it for the
/// first record, [`links_up`] for each next one.
#[inline(always)]
unsafe fn read_record(fp: usize) -> (usize, usize) {
    let rec = fp as *const usize;
    // SAFETY: the caller's promise: two aligned words inside the stack.
    unsafe { (rec.read(), rec.add(1).read()) }
}

#[inline(always)]
fn is_aligned(fp: usize) -> bool {
    fp.is_multiple_of(std::mem::align_of::<usize>())
}

/// The stack pointer of the calling function (an approximation from below is
/// fine: it only bounds the walk).
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads the rsp register; no memory access, no side effects.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads the stack pointer; no memory access, no side effects.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // No walk on other targets: an empty range.
        sp = usize::MAX;
    }
    sp
}

#[inline(always)]
fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads the rbp register; no memory access, no side effects.
    unsafe {
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads the x29 (frame pointer) register; no memory access.
    unsafe {
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    fp
}

/// Captures through the system unwinder.
#[inline(never)]
pub fn unwind(out: &mut [MaybeUninit<usize>]) -> usize {
    let mut n = 0;
    // SAFETY: the unsynchronized variant only skips backtrace's own global lock,
    // which exists to serialize Rust-level reentrancy; the callback neither
    // allocates nor calls back into backtrace, and the unwinder underneath is
    // thread-safe.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let ip = frame.ip() as usize;
            if ip == 0 {
                return false;
            }
            match out.get_mut(n) {
                Some(slot) => {
                    slot.write(ip);
                    n += 1;
                    true
                }
                None => false,
            }
        });
    }
    n
}

/// The highest address of the calling thread's stack.
pub fn current_stack_hi() -> Option<usize> {
    // SAFETY: pthread_attr_t is plain data; zeroed is a valid "uninitialized"
    // state that pthread_getattr_np overwrites.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_self() is always valid for the calling thread and attr is
    // writable; on success attr must be destroyed, which we do below.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), &mut attr) } != 0 {
        return None;
    }
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: attr was initialized by pthread_getattr_np; out-params are valid.
    let rc = unsafe { libc::pthread_attr_getstack(&attr, &mut addr, &mut size) };
    // SAFETY: attr was initialized by pthread_getattr_np and is not used after.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    if rc != 0 {
        return None;
    }
    (addr as usize).checked_add(size)
}

/// True when the frame-pointer walk sees the same callers as the unwinder.
#[inline(never)]
fn frame_pointers_work() -> bool {
    probe_outer()
}

#[inline(never)]
fn probe_outer() -> bool {
    std::hint::black_box(probe_inner())
}

#[inline(never)]
fn probe_inner() -> bool {
    let hi = current_stack_hi().unwrap_or(0);
    let mut fp = buf::<8>();
    let mut uw = buf::<16>();
    let nf = walk_frame_pointers(&mut fp, hi).len;
    let nu = unwind(&mut uw);
    let fp = written(&fp, nf);
    let uw = written(&uw, nu);
    // The walk must find our callers (its first address is a different call
    // site in this function than the unwinder's, so it is skipped), each of
    // which the unwinder also reports.
    fp.len() >= 4 && fp.iter().skip(1).take(3).all(|a| uw.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn nested(depth: u32, out: &mut [MaybeUninit<usize>], hi: usize) -> Captured {
        if depth == 0 {
            walk_frame_pointers(out, hi)
        } else {
            std::hint::black_box(nested(depth - 1, out, hi))
        }
    }

    /// The site of a call made `depth` calls deep, through `first_caller`
    /// (or `second_caller`, a copy of it).
    #[inline(never)]
    fn site_at_depth(depth: u32, second: bool, hi: usize) -> u64 {
        if depth > 0 {
            return std::hint::black_box(site_at_depth(depth - 1, second, hi));
        }
        // Not tail calls: each returns here, to its own call instruction.
        if second {
            std::hint::black_box(second_caller(hi))
        } else {
            std::hint::black_box(first_caller(hi))
        }
    }

    #[inline(never)]
    fn first_caller(hi: usize) -> u64 {
        std::hint::black_box(site_hash(std::hint::black_box(hi)))
    }

    #[inline(never)]
    fn second_caller(hi: usize) -> u64 {
        std::hint::black_box(site_hash(std::hint::black_box(hi)))
    }

    #[test]
    fn a_site_names_the_depth_and_the_calling_code() {
        let hi = current_stack_hi().unwrap();
        let site = |depth, second| site_at_depth(depth, second, hi);
        assert_eq!(site(3, false), site(3, false), "one stack, one site");
        assert_eq!(site(3, true), site(3, true));
        assert_ne!(site(3, false), site(3, true), "another caller");
        assert_ne!(site(3, false), site(4, false), "another depth");
        // Without a frame walk, only the depth tells sites apart.
        let unwalked = |depth, second| site_at_depth(depth, second, 0);
        assert_eq!(unwalked(3, false), unwalked(3, true));
        assert_ne!(unwalked(3, false), unwalked(4, false));
        let mut depths: Vec<u64> = (0..64).map(|d| site(d, false)).collect();
        depths.sort_unstable();
        depths.dedup();
        assert_eq!(depths.len(), 64);
    }

    #[test]
    fn stack_bounds_contain_a_local() {
        let x = 0u8;
        let hi = current_stack_hi().unwrap();
        assert!((&x as *const u8 as usize) < hi);
    }

    #[test]
    fn frame_pointer_walk_matches_unwinder_when_built_with_frame_pointers() {
        // The workspace builds with -C force-frame-pointers=yes (.cargo/config.toml).
        assert!(frame_pointers_work());
        let hi = current_stack_hi().unwrap();
        let mut out = buf::<64>();
        let walked = nested(10, &mut out, hi);
        assert!(walked.len >= 11, "walked only {} frames", walked.len);
        assert_eq!(walked.hash, stack_hash::of(written(&out, walked.len)));
    }

    #[test]
    fn garbage_frame_pointers_are_never_followed() {
        let hi = current_stack_hi().unwrap();
        let lo = stack_pointer();
        let mut out = buf::<8>();
        let heap = Box::new([0usize; 4]);
        for fp in [
            0,
            8,
            lo - 64,
            hi,
            hi - 8,
            usize::MAX - 7,
            &*heap as *const _ as usize,
            lo + 3,
        ] {
            assert_eq!(walk_from(fp, lo, hi, &mut out).len, 0, "followed {fp:#x}");
        }
        // A record chain pointing out of the stack stops there.
        let mut record = [0usize, 0x1234];
        record[0] = &*heap as *const _ as usize;
        let fp = record.as_ptr() as usize;
        let walked = walk_from(fp, lo, hi, &mut out);
        assert_eq!(walked.len, 1);
        assert_eq!(written(&out, 1), [0x1234]);
        assert_eq!(walked.hash, stack_hash::of(&[0x1234]));
    }

    #[test]
    fn walk_stops_at_the_buffer_size() {
        let hi = current_stack_hi().unwrap();
        let mut out = buf::<3>();
        let walked = nested(10, &mut out, hi);
        assert_eq!(walked.len, 3);
        assert_eq!(walked.hash, stack_hash::of(written(&out, 3)));
    }

    #[test]
    fn unwind_captures_frames() {
        let mut out = buf::<32>();
        let n = unwind(&mut out);
        assert!(n >= 3);
        assert!(written(&out, n).iter().all(|&a| a != 0));
    }
}
