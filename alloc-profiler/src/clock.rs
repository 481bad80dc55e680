//! Time without allocating. Events are stamped with the CPU's time-stamp
//! counter where the kernel itself trusts it as its clock source (invariant
//! TSC): reading it costs about half of a `clock_gettime` call, and an exact
//! session reads the clock on every event. Ticks are turned into nanoseconds
//! with a factor calibrated against the monotonic clock for 1 ms when a
//! session starts (relative error about 1e-5); the factor then stays fixed,
//! so time never jumps. Elsewhere, `clock_gettime` it is.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clocks used always exist.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Monotonic nanoseconds since an arbitrary fixed point, from the OS.
#[inline]
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    read(libc::CLOCK_REALTIME) / 1_000_000
}

static USE_TSC: AtomicBool = AtomicBool::new(false);
static T0_TICKS: AtomicU64 = AtomicU64::new(0);
static T0_NS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per tick, 32.32 fixed point.
static MULT: AtomicU64 = AtomicU64::new(0);

#[cfg(target_arch = "x86_64")]
#[inline]
fn ticks() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64; it reads a counter.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn ticks() -> u64 {
    0
}

/// Whether the kernel uses the TSC as its clock source, which it does only
/// for an invariant, synchronized TSC.
fn tsc_trusted() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

/// Chooses the clock for a session and calibrates the TSC (about 1 ms).
/// Call inside the reentrancy guard (it may allocate reading `/sys`).
pub fn calibrate() {
    if !tsc_trusted() {
        USE_TSC.store(false, Ordering::Relaxed);
        return;
    }
    let (t0, n0) = pair();
    while monotonic_ns().saturating_sub(n0) < 1_000_000 {
        std::hint::spin_loop();
    }
    let (t1, n1) = pair();
    if t1 <= t0 {
        USE_TSC.store(false, Ordering::Relaxed);
        return;
    }
    T0_TICKS.store(t0, Ordering::Relaxed);
    T0_NS.store(n0, Ordering::Relaxed);
    MULT.store(mult(t1 - t0, n1 - n0), Ordering::Relaxed);
    USE_TSC.store(true, Ordering::Release);
}

/// A tick count and the monotonic time at the same instant: the TSC read
/// between two clock reads, the closest of a few tries (a thread preempted
/// between the reads would otherwise skew the rate by a whole time slice).
fn pair() -> (u64, u64) {
    let mut best = (0, 0, u64::MAX);
    for _ in 0..8 {
        let a = monotonic_ns();
        let t = ticks();
        let b = monotonic_ns();
        let width = b.saturating_sub(a);
        if width < best.2 {
            best = (t, a + width / 2, width);
        }
    }
    (best.0, best.1)
}

fn mult(ticks: u64, ns: u64) -> u64 {
    ((u128::from(ns) << 32) / u128::from(ticks.max(1))) as u64
}

/// Monotonic nanoseconds (same origin as [`monotonic_ns`]), from the TSC
/// when calibrated.
#[inline]
pub fn now_ns() -> u64 {
    if !USE_TSC.load(Ordering::Relaxed) {
        return monotonic_ns();
    }
    let t = ticks();
    let elapsed = t.saturating_sub(T0_TICKS.load(Ordering::Relaxed));
    let ns = (u128::from(elapsed) * u128::from(MULT.load(Ordering::Relaxed))) >> 32;
    T0_NS.load(Ordering::Relaxed).wrapping_add(ns as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsc_time_tracks_the_monotonic_clock() {
        calibrate();
        for _ in 0..5 {
            let (a, b) = (now_ns(), monotonic_ns());
            let diff = a.abs_diff(b);
            assert!(
                diff < 200_000,
                "TSC time {a} vs monotonic {b}: {diff} ns apart"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn fixed_point_factor() {
        assert_eq!(mult(2_000, 1_000), 1 << 31); // half a nanosecond per tick
    }
}
