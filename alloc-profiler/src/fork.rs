//! `fork()` from a multithreaded program: another thread may hold one of the
//! profiler's locks at the moment of the fork, and in the child that thread
//! does not exist, so the lock would stay held forever and the child's next
//! allocation would hang. `pthread_atfork` handlers take every profiler lock
//! before the fork (in the order the allocation path takes them, so this
//! waits for events in flight and cannot deadlock), and release them in
//! parent and child after it. The child stops recording: the session and its
//! output belong to the parent. The records' locks are taken as a merge takes
//! them (one `membarrier` for every record biased towards a thread), and in
//! the child, whose other threads are gone, they lose their biases and the
//! process its `membarrier` registration (`biased.rs`).
//!
//! No profiler lock is ever held while the wrapped allocator runs, so a
//! thread inside `malloc` (holding malloc's locks, which glibc takes around
//! `fork` too) is never waiting for one of ours.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::lock_api::RawMutex as _;

use crate::spin::RawSpin;

/// Every lock but the heap clock's and the records', which come first.
fn other_locks(f: &mut dyn FnMut(&'static RawSpin)) {
    crate::stack_table::fork_locks(f);
    crate::live_table::fork_locks(f);
    crate::record::names::fork_locks(f);
    crate::session::fork_locks(f);
    crate::env_session::fork_locks(f);
    crate::counters::fork_locks(f);
}

extern "C" fn prepare() {
    // The heap clock first: a merge holds it while it takes every record.
    crate::heap::fork_locks(&mut |l| l.lock());
    crate::record::fork_prepare();
    other_locks(&mut |l| l.lock());
}

/// Unlocks what `prepare` locked but the records.
fn release_others() {
    // SAFETY: `prepare` locked every one of these on this thread, and
    // nothing else unlocks them.
    other_locks(&mut |l| unsafe { l.unlock() });
    // SAFETY: as above.
    crate::heap::fork_locks(&mut |l| unsafe { l.unlock() });
}

extern "C" fn parent() {
    crate::record::fork_parent();
    release_others();
}

extern "C" fn child() {
    crate::recorder::STATE.store(crate::recorder::OFF, Ordering::Release);
    crate::env_session::forget_in_child();
    crate::record::fork_child();
    release_others();
}

/// Installs the handlers, once per process.
pub fn register() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the handlers are `extern "C"` functions that never unwind and
    // only lock and unlock the profiler's spin locks and store atomics.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}
