//! The record lock: a lock biased towards the one thread that uses a
//! record, which takes and releases it with plain stores and no locked
//! instruction.
//!
//! Every event takes its thread's record lock, and nearly always nobody
//! else wants it: a merge or the profile writer takes every record now and
//! then, and threads share a record only beyond the pool's 256. A
//! compare-and-swap per event (about 20 cycles for the locked instruction
//! on the machines measured) is then the price of an exclusion that almost
//! never excludes. A biased lock makes the common case cheap and the rare
//! one expensive:
//!
//! - The *owner* (the first thread to lock the record in the process, when
//!   biasing is available) marks itself inside with a plain store to
//!   `inside`, then reads `bias`; if it still names the owner alone, the
//!   owner holds the lock. Leaving is a plain (release) store.
//! - Anyone else (an *intruder*: a merge, the profile writer, `fork`'s
//!   handler, session start) takes the spin lock that excludes intruders
//!   from each other, marks `bias` with [`INTRUDER`], then makes every
//!   running thread of the process execute a full memory barrier with
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, and waits until the
//!   owner is not inside. Either the owner's store to `inside` was visible
//!   before that barrier (the intruder sees it and waits for the owner to
//!   leave) or the owner read `bias` after it (and saw the mark, left
//!   again and queued on the spin lock). This is the asymmetric Dekker
//!   scheme of userspace RCU and hazard pointers: the barrier the owner
//!   would need on every event is paid by the rare intruder instead. One
//!   `membarrier` covers any number of records ([`lock_all`]).
//! - Another *thread* that locks a biased record (a thread beyond the
//!   pool's 256 sharing its record with a live owner) revokes the bias for
//!   the rest of the session rather than pay a `membarrier` per event: the
//!   record then works as a plain spin lock for both threads.
//!
//! Biasing needs `membarrier`'s private expedited command (Linux 4.14),
//! registered once per process; without it (another OS, an old kernel, a
//! sandbox that filters the call) no record is ever biased and every lock
//! is the spin lock's compare-and-swap. A record is only ever biased
//! towards the first thread that claimed it: a new session lets that
//! thread claim it again (a record revoked last session may be its alone
//! now), and a record whose owner exited stays a compare-and-swap lock,
//! since handing the bias on would need to know the owner gone. A `fork`
//! child, whose other threads are gone, starts with no owners and
//! unregistered (`fork.rs`).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering, compiler_fence};

use parking_lot::lock_api::RawMutex as _;

use crate::spin::RawSpin;

/// `bias`: no owner yet; the next thread to lock the record may claim it.
const FRESH: u32 = 0;
/// `bias`: shared by threads this session; a plain spin lock.
const REVOKED: u32 = u32::MAX;
/// `bias` bit: an intruder holds (or is taking) the lock.
const INTRUDER: u32 = 1 << 31;

/// The `bias` value naming thread `id` as owner, if its id can be one.
#[inline(always)]
fn tag(id: u32) -> Option<u32> {
    let t = id.wrapping_add(1);
    (t != FRESH && t < INTRUDER).then_some(t)
}

/// A value behind a biased lock; see the module docs.
pub struct BiasedMutex<T> {
    /// Excludes everyone but the owner's fast path from each other.
    spin: RawSpin,
    /// [`FRESH`], [`REVOKED`], or the owner's tag, with [`INTRUDER`] while
    /// an intruder holds the lock. Written only under `spin`.
    bias: AtomicU32,
    /// The owner is inside (written by the owner only).
    inside: AtomicBool,
    /// The only thread that may ever own the bias (its tag; [`FRESH`]
    /// before a thread claimed it). Written under `spin`. Were the bias
    /// handed to another thread, a former owner that read its own tag just
    /// before being preempted could wake and clear `inside` under the new
    /// owner's feet; so it never is, but in a `fork` child, where the other
    /// threads are gone.
    first: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and a guard exists only
// while its holder has excluded every other holder (module docs); `T: Send`
// because the holder may be any thread.
unsafe impl<T: Send> Sync for BiasedMutex<T> {}

/// Proof of holding a [`BiasedMutex`]; releases it when dropped, on the
/// thread that took it (not `Send`: an owner's guard dropped elsewhere
/// could clear `inside` while the owner is in again).
pub struct Guard<'a, T> {
    m: &'a BiasedMutex<T>,
    /// Taken on the owner's fast path (release `inside`), or through the
    /// spin lock.
    fast: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl<T> BiasedMutex<T> {
    /// An unlocked, unbiased mutex.
    pub const fn new(data: T) -> Self {
        Self {
            spin: RawSpin::INIT,
            bias: AtomicU32::new(FRESH),
            inside: AtomicBool::new(false),
            first: AtomicU32::new(FRESH),
            data: UnsafeCell::new(data),
        }
    }

    /// Locks on behalf of thread `id`, the calling thread. The record's
    /// owner takes it with two plain stores and a load; anyone else as a
    /// spin lock.
    #[inline(always)]
    pub fn lock_as(&self, id: u32) -> Guard<'_, T> {
        if let Some(me) = tag(id)
            && self.bias.load(Ordering::Relaxed) == me
        {
            self.inside.store(true, Ordering::Relaxed);
            // The store above and the load below are the owner's half of
            // the exclusion; the hardware barrier between them is the
            // intruder's `membarrier`, the compiler's is this.
            compiler_fence(Ordering::SeqCst);
            if self.bias.load(Ordering::Acquire) == me {
                return Guard {
                    m: self,
                    fast: true,
                    _not_send: std::marker::PhantomData,
                };
            }
            // An intruder came: step back and queue behind it.
            self.inside.store(false, Ordering::Release);
        }
        self.lock_as_slow(id)
    }

    #[cold]
    #[inline(never)]
    fn lock_as_slow(&self, id: u32) -> Guard<'_, T> {
        self.spin.lock();
        let b = self.bias.load(Ordering::Relaxed);
        let me = tag(id);
        if b == FRESH {
            let first = self.first.load(Ordering::Relaxed);
            if let Some(me) = me
                && enabled()
                && (first == FRESH || first == me)
            {
                // Claimed under the spin lock; our next event takes the
                // fast path.
                self.first.store(me, Ordering::Relaxed);
                self.bias.store(me, Ordering::Relaxed);
            }
        } else if b != REVOKED && Some(b) != me {
            // Another live thread's record: share it as a spin lock.
            self.bias.store(REVOKED, Ordering::SeqCst);
            heavy_barrier();
            self.wait_owner_out();
        }
        Guard {
            m: self,
            fast: false,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Spins until the owner is not inside.
    fn wait_owner_out(&self) {
        let mut spins = 0u32;
        while self.inside.load(Ordering::Acquire) {
            spins = spins.saturating_add(1);
            if spins > 2000 {
                std::thread::yield_now();
            }
        }
    }

    /// The protected value, for callers that hold the lock by other means
    /// ([`lock_all`]).
    pub fn data_ptr(&self) -> *mut T {
        self.data.get()
    }

    /// Whether a thread owns the bias (for tests).
    #[cfg(test)]
    fn is_biased(&self) -> bool {
        let b = self.bias.load(Ordering::Relaxed);
        b != FRESH && b != REVOKED && b & INTRUDER == 0
    }
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock (see `BiasedMutex`'s Sync).
        unsafe { &*self.m.data.get() }
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` is unique.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.fast {
            self.m.inside.store(false, Ordering::Release);
        } else {
            // SAFETY: this guard took the spin lock in `lock_as_slow`.
            unsafe { self.m.spin.unlock() };
        }
    }
}

/// Locks every mutex of `all`, in order, as an intruder: every spin lock,
/// then one `membarrier` for all the biased ones, then waits for their
/// owners to leave. Unlock with [`unlock_all`] (or [`reset_all`]).
pub fn lock_all<T>(all: &[BiasedMutex<T>]) {
    let mut biased = false;
    for m in all {
        m.spin.lock();
        let b = m.bias.load(Ordering::Relaxed);
        if b != FRESH && b != REVOKED {
            m.bias.store(b | INTRUDER, Ordering::SeqCst);
            biased = true;
        }
    }
    if biased {
        heavy_barrier();
        for m in all {
            m.wait_owner_out();
        }
    }
}

/// Releases what [`lock_all`] took, owners keeping their bias.
///
/// # Safety
/// The calling thread holds every mutex of `all` by [`lock_all`], and
/// neither they nor references obtained through them are used afterwards.
pub unsafe fn unlock_all<T>(all: &[BiasedMutex<T>]) {
    for m in all {
        let b = m.bias.load(Ordering::Relaxed);
        if b & INTRUDER != 0 && b != REVOKED {
            m.bias.store(b & !INTRUDER, Ordering::Release);
        }
        // SAFETY: held since `lock_all`, per the contract.
        unsafe { m.spin.unlock() };
    }
}

/// Releases what [`lock_all`] took with every bias set aside, so that each
/// mutex goes to its owner again when the owner next locks it (a new
/// session: a record shared last session may be the owner's alone now).
///
/// # Safety
/// As for [`unlock_all`].
pub unsafe fn reset_all<T>(all: &[BiasedMutex<T>]) {
    for m in all {
        m.bias.store(FRESH, Ordering::Release);
        // SAFETY: held since `lock_all`, per the contract.
        unsafe { m.spin.unlock() };
    }
}

/// [`reset_all`] in a `fork` child, where the calling thread is the only
/// one: every owner but perhaps the caller is gone, so each mutex goes to
/// whichever thread locks it first.
///
/// # Safety
/// As for [`unlock_all`], and the calling process has one thread.
pub unsafe fn forget_owners<T>(all: &[BiasedMutex<T>]) {
    for m in all {
        m.first.store(FRESH, Ordering::Relaxed);
        // [`lock_all`] waited only for the owners of biased records; an
        // owner of a revoked one may have been between its two stores to
        // `inside` at the fork, and is not in the child to clear it.
        m.inside.store(false, Ordering::Relaxed);
    }
    // SAFETY: per the contract.
    unsafe { reset_all(all) };
}

// ---- membarrier ------------------------------------------------------------

// From <linux/membarrier.h>; the `libc` crate does not define them.
const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Registration: not tried (in this process), registered, unavailable.
const UNTRIED: u8 = 0;
const READY: u8 = 1;
const UNAVAILABLE: u8 = 2;
static REGISTRATION: AtomicU8 = AtomicU8::new(UNTRIED);
/// Records may be biased this session.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// `membarrier` calls that failed, which should not happen once registered.
static BARRIER_FAILURES: AtomicU64 = AtomicU64::new(0);

#[cfg(target_os = "linux")]
fn membarrier(cmd: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes a command and flags (and, since 5.10, a CPU
    // id ignored without MEMBARRIER_CMD_FLAG_CPU); it touches no memory of
    // ours and fails cleanly where unsupported.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    }
}

#[cfg(not(target_os = "linux"))]
fn membarrier(_cmd: libc::c_long) -> libc::c_long {
    -1
}

/// Decides whether records may be biased this session, registering for
/// expedited `membarrier`s if not done yet in this process. A session start
/// calls it, before it takes the record locks. `ALLOC_PROFILER_RECORD_LOCK=spin`
/// keeps every record lock a compare-and-swap (for measuring the bias).
pub fn register() {
    let wanted = crate::env_session::getenv(c"ALLOC_PROFILER_RECORD_LOCK") != Some(b"spin");
    ENABLED.store(wanted && registered(), Ordering::Relaxed);
}

/// Whether this process is registered for expedited `membarrier`s,
/// registering it on the first call.
fn registered() -> bool {
    match REGISTRATION.load(Ordering::Acquire) {
        READY => true,
        UNAVAILABLE => false,
        _ => {
            let supported = membarrier(MEMBARRIER_CMD_QUERY);
            let ok = supported >= 0
                && supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0
                && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
            REGISTRATION.store(if ok { READY } else { UNAVAILABLE }, Ordering::Release);
            ok
        }
    }
}

/// In a `fork` child: no record is biased any more ([`reset_all`]), and the
/// registration was the parent process's, so the child's next session
/// registers anew.
pub fn forget_registration() {
    ENABLED.store(false, Ordering::Relaxed);
    REGISTRATION.store(UNTRIED, Ordering::Release);
}

/// Whether a record may be biased now.
#[inline]
fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// `membarrier`s that failed this process.
#[cfg(test)]
fn barrier_failures() -> u64 {
    BARRIER_FAILURES.load(Ordering::Relaxed)
}

/// Makes every running thread of the process execute a full memory barrier
/// before returning. Only called with a record biased, which happens only
/// after [`register`] succeeded, so the call cannot fail; were it to, the
/// failure is counted (an internal error of the session, in the profile)
/// and a local fence is the best left to do.
fn heavy_barrier() {
    if membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
        BARRIER_FAILURES.fetch_add(1, Ordering::Relaxed);
        crate::recorder::note_internal_error();
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// A counter whose increments are two steps, so that a lost exclusion
    /// shows as a lost update.
    struct Pair {
        a: u64,
        b: u64,
    }

    fn bump(p: &mut Pair) {
        let a = p.a;
        std::hint::black_box(&p.b);
        p.a = a + 1;
        p.b += 1;
    }

    #[test]
    fn the_owner_and_intruders_exclude_each_other() {
        register();
        let all: Arc<[BiasedMutex<Pair>; 2]> =
            Arc::new([const { BiasedMutex::new(Pair { a: 0, b: 0 }) }; 2]);
        const OWNER_ROUNDS: u64 = 200_000;
        const INTRUDER_ROUNDS: u64 = 2_000;
        let owner = {
            let all = Arc::clone(&all);
            std::thread::spawn(move || {
                for _ in 0..OWNER_ROUNDS {
                    bump(&mut all[0].lock_as(7));
                }
                all[0].is_biased()
            })
        };
        for _ in 0..INTRUDER_ROUNDS {
            lock_all(&all[..]);
            // SAFETY: held by lock_all just above, released just below.
            unsafe {
                bump(&mut *all[0].data_ptr());
                bump(&mut *all[1].data_ptr());
                unlock_all(&all[..]);
            }
        }
        let was_biased = owner.join().unwrap();
        assert_eq!(was_biased, enabled(), "the owner kept its bias");
        let p = all[0].lock_as(7);
        assert_eq!(
            (p.a, p.b),
            (
                OWNER_ROUNDS + INTRUDER_ROUNDS,
                OWNER_ROUNDS + INTRUDER_ROUNDS
            )
        );
        assert_eq!(barrier_failures(), 0);
    }

    #[test]
    fn a_second_thread_revokes_the_bias_and_both_stay_exact() {
        register();
        let m = Arc::new(BiasedMutex::new(Pair { a: 0, b: 0 }));
        drop(m.lock_as(1));
        assert_eq!(m.is_biased(), enabled(), "the first locker owns it");
        let started = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = [1u32, 257]
            .into_iter()
            .map(|id| {
                let (m, started) = (Arc::clone(&m), Arc::clone(&started));
                std::thread::spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    while started.load(Ordering::Relaxed) < 2 {}
                    for _ in 0..100_000 {
                        bump(&mut m.lock_as(id));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(!m.is_biased(), "shared, so revoked");
        let p = m.lock_as(1);
        assert_eq!((p.a, p.b), (200_000, 200_000));
    }

    #[test]
    fn a_reset_keeps_the_owner_and_a_fork_child_forgets_it() {
        register();
        let all = [const { BiasedMutex::new(0u32) }; 1];
        drop(all[0].lock_as(3));
        assert_eq!(all[0].is_biased(), enabled(), "claimed by thread 3");
        lock_all(&all);
        // SAFETY: held by lock_all just above.
        unsafe { reset_all(&all) };
        assert!(!all[0].is_biased());
        *all[0].lock_as(4) += 1;
        assert!(!all[0].is_biased(), "thread 4 never owns thread 3's record");
        *all[0].lock_as(3) += 1;
        assert_eq!(all[0].is_biased(), enabled(), "thread 3 owns it again");
        lock_all(&all);
        // SAFETY: held by lock_all just above; this test's mutex is seen
        // by this thread only, as a fork child's would be.
        unsafe { forget_owners(&all) };
        *all[0].lock_as(4) += 1;
        assert_eq!(all[0].is_biased(), enabled(), "in a child, thread 4 may");
        assert_eq!(*all[0].lock_as(4), 3);
    }

    #[test]
    fn ids_beyond_the_tag_space_are_never_owners() {
        assert_eq!(tag(u32::MAX), None);
        assert_eq!(tag(INTRUDER - 1), None);
        assert_eq!(tag(0), Some(1));
    }
}
