//! The session started from the environment: with `ALLOC_PROFILER=path.json`
//! set, the first allocation starts a session and the profile is written when
//! the process exits normally (from an `atexit` handler). The variable is read
//! with `getenv`, which does not allocate.

use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::CaptureMethod;
use crate::recorder::{STATE, UNINIT};
use crate::session::{self, Config};
use crate::spin::SpinMutex;
use crate::thread;

const PATH_MAX: usize = 4096;

struct EnvPath {
    bytes: [u8; PATH_MAX],
    len: usize,
}

static PATH: SpinMutex<EnvPath> = SpinMutex::new(EnvPath {
    bytes: [0; PATH_MAX],
    len: 0,
});
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The path lock, for `fork.rs`.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    // SAFETY: locked and unlocked in pairs by `fork.rs` only.
    f(unsafe { PATH.raw() });
}

/// In a forked child: the parent's environment session is not the child's
/// to write.
pub(crate) fn forget_in_child() {
    ACTIVE.store(false, Ordering::Release);
}

/// Reads a variable without allocating.
pub(crate) fn getenv(name: &std::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: name is NUL-terminated. getenv's result points into the
    // environment block, which nothing in this program modifies concurrently
    // (Rust's set_var is unsafe for exactly this reason).
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a valid NUL-terminated string that stays valid
    // while the environment is not modified.
    Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes())
}

fn env_number(name: &std::ffi::CStr) -> Option<u64> {
    std::str::from_utf8(getenv(name)?).ok()?.trim().parse().ok()
}

/// Called on the allocation path while the state is `UNINIT` (inside the
/// reentrancy guard). Returns whether a session now records.
#[cold]
#[inline(never)]
pub fn start_from_env() -> bool {
    crate::fork::register();
    if STATE.load(Ordering::Acquire) != UNINIT {
        return STATE.load(Ordering::Acquire) == crate::recorder::ON;
    }
    let path = match getenv(c"ALLOC_PROFILER") {
        Some(p) if !p.is_empty() && p.len() < PATH_MAX => p,
        _ => {
            session::env_checked_nothing();
            return false;
        }
    };
    {
        let mut stored = PATH.lock();
        stored.bytes[..path.len()].copy_from_slice(path);
        stored.len = path.len();
    }
    let config = Config {
        ring_capacity: env_number(c"ALLOC_PROFILER_RING").map_or(16 * 1024, |n| n as usize),
        max_frames: env_number(c"ALLOC_PROFILER_FRAMES").map_or(64, |n| n as usize),
        capture: CaptureMethod::Auto,
        memory_limit: env_number(c"ALLOC_PROFILER_MEMORY_LIMIT"),
        sample_rate: env_number(c"ALLOC_PROFILER_SAMPLE"),
        sample_seed: env_number(c"ALLOC_PROFILER_SAMPLE_SEED").unwrap_or(0),
        block_headers: env_number(c"ALLOC_PROFILER_HEADERS") != Some(0),
        calibrate: env_number(c"ALLOC_PROFILER_CALIBRATE") != Some(0),
    };
    if session::begin(&config).is_err() {
        return false;
    }
    ACTIVE.store(true, Ordering::Release);
    // SAFETY: at_exit is an `extern "C" fn()` that never unwinds (it catches
    // panics); registering it has no other precondition.
    unsafe { libc::atexit(at_exit) };
    true
}

/// The environment session's output path, when one runs.
pub fn output() -> Option<PathBuf> {
    if !ACTIVE.load(Ordering::Acquire) {
        return None;
    }
    let p = PATH.lock();
    Some(PathBuf::from(
        String::from_utf8_lossy(&p.bytes[..p.len]).into_owned(),
    ))
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if !ACTIVE.swap(false, Ordering::AcqRel) {
            return;
        }
        // Everything here runs inside the guard: the profiler's exit work
        // (the path, the message) must not show up in the profile it writes.
        thread::enter(|_| {
            let path = {
                let p = PATH.lock();
                PathBuf::from(std::ffi::OsStr::from_bytes(&p.bytes[..p.len]))
            };
            let quiet = getenv(c"ALLOC_PROFILER_QUIET").is_some_and(|v| v != b"0");
            let result = session::write_profile_guarded(&path, true);
            let mut err = std::io::stderr();
            match result {
                Ok(s) if !quiet => {
                    let _ = writeln!(err, "alloc-profiler: {s}");
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = writeln!(err, "alloc-profiler: {e}");
                }
            }
        });
    });
}
