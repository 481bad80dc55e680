//! Per-thread state: the reentrancy guard, the thread's id, its stack bounds and
//! its stack-interning cache. All of it lives in one thread-local with a `const`
//! initializer and no destructor, so it is usable at any point of a thread's life,
//! including thread exit and other thread-locals' destructors, and touching it
//! never allocates.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

/// Entries in each thread's stack cache (a power of two).
pub const STACK_CACHE_SLOTS: usize = 256;

/// Everything a thread keeps for the profiler.
pub struct ThreadState {
    busy: Cell<bool>,
    id: Cell<u32>,
    stack_hi: Cell<usize>,
    /// This thread's slot of global counters (see `counters.rs`): its index
    /// plus one, 0 before one is claimed, `u32::MAX` for none.
    pub counter_slot: Cell<u32>,
    /// The slot `counter_slot` names, while the thread holds it.
    pub counters: Cell<Option<&'static crate::counters::Slot>>,
    /// Bytes left before the next sample (see `sampling.rs`).
    pub sample_left: Cell<i64>,
    /// Session generation this thread's name was noted for.
    pub named_gen: Cell<u32>,
    /// Session generation `sample_left` belongs to.
    pub sample_gen: Cell<u32>,
    /// The sampler's random state.
    pub sample_rng: Cell<u64>,
    /// Session generation the stack cache belongs to.
    pub cache_gen: Cell<u32>,
    /// Direct-mapped cache of stack hash -> interned stack id.
    pub cache: [Cell<(u64, u32)>; STACK_CACHE_SLOTS],
    /// Per-thread counters for `measure` (see `measure.rs`).
    pub measure: crate::measure::ThreadCounters,
    /// This thread's exact counts by site in a sampling session (see
    /// `strata.rs`).
    pub strata: Cell<Option<&'static crate::strata::Strata>>,
    /// Where `strata::count`'s frame walk stops: the stack's top, or 0 to
    /// walk no frame.
    pub site_hi: Cell<usize>,
}

impl ThreadState {
    const fn new() -> Self {
        Self {
            busy: Cell::new(false),
            id: Cell::new(u32::MAX),
            stack_hi: Cell::new(0),
            counter_slot: Cell::new(0),
            counters: Cell::new(None),
            sample_left: Cell::new(0),
            named_gen: Cell::new(0),
            sample_gen: Cell::new(0),
            sample_rng: Cell::new(0),
            cache_gen: Cell::new(0),
            cache: [const { Cell::new((0, 0)) }; STACK_CACHE_SLOTS],
            measure: crate::measure::ThreadCounters::new(),
            strata: Cell::new(None),
            site_hi: Cell::new(0),
        }
    }

    /// This thread's small sequential id (0 for the first thread that asked).
    #[inline]
    pub fn id(&self) -> u32 {
        let id = self.id.get();
        if id != u32::MAX {
            return id;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed) % (u32::MAX - 1);
        self.id.set(id);
        id
    }

    /// The highest address of this thread's stack, or 0 when unknown.
    #[inline]
    pub fn stack_hi(&self) -> usize {
        let hi = self.stack_hi.get();
        if hi != 0 {
            return if hi == usize::MAX { 0 } else { hi };
        }
        let hi = crate::capture::current_stack_hi().unwrap_or(usize::MAX);
        self.stack_hi.set(hi);
        if hi == usize::MAX { 0 } else { hi }
    }
}

thread_local! {
    static STATE: ThreadState = const { ThreadState::new() };
}

/// The calling thread inside the profiler: its state, marked busy until
/// this is dropped (even if the guarded code unwinds). Not `Send`: it never
/// leaves its thread.
pub struct Entered {
    ts: *const ThreadState,
}

impl Entered {
    /// The thread's state.
    #[inline(always)]
    pub fn state(&self) -> &ThreadState {
        // SAFETY: `ts` points at this thread's `STATE` (see `entered`),
        // which is never torn down while the thread runs, and this value
        // cannot leave the thread.
        unsafe { &*self.ts }
    }
}

impl Drop for Entered {
    #[inline(always)]
    fn drop(&mut self) {
        self.state().busy.set(false);
    }
}

/// Marks this thread as inside the profiler, so that allocations made until
/// the returned guard is dropped (directly or through libraries) pass
/// straight to the inner allocator unrecorded. `None` when the thread is
/// already inside the profiler (a recursive call) or its state cannot be
/// reached.
///
/// A guard, not a closure, and always inlined: the allocator's entry points
/// call this on every event, and LLVM would outline a closure holding their
/// whole path, at the cost of a call and a spill of every captured value.
#[inline(always)]
pub fn entered() -> Option<Entered> {
    // The thread-local has a `const` initializer and no destructor, so it
    // stays valid as long as its thread runs, past the call.
    let ts = STATE.try_with(std::ptr::from_ref).ok()?;
    // SAFETY: as above; the pointer is this thread's, read on this thread.
    let s = unsafe { &*ts };
    if s.busy.get() {
        return None;
    }
    s.busy.set(true);
    Some(Entered { ts })
}

/// Runs `f` with this thread marked as inside the profiler (see [`entered`]).
/// Returns `None` without running `f` when the thread is already inside the
/// profiler or its state cannot be reached.
#[inline]
pub fn enter<R>(f: impl FnOnce(&ThreadState) -> R) -> Option<R> {
    let entered = entered()?;
    Some(f(entered.state()))
}

/// True when the calling thread is inside the profiler.
#[cfg(test)]
pub fn is_busy() -> bool {
    STATE.try_with(|s| s.busy.get()).unwrap_or(true)
}

/// Runs `f` on this thread's state without marking it busy (for reads and for
/// counters that never allocate).
#[inline]
pub fn with_state<R>(f: impl FnOnce(&ThreadState) -> R) -> Option<R> {
    STATE.try_with(f).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_refuses_recursion_and_resets_after() {
        let inner = enter(|_| enter(|_| ()).is_none());
        assert_eq!(inner, Some(true));
        assert!(!is_busy());
        assert!(enter(|_| ()).is_some());
    }

    #[test]
    fn the_guard_holds_the_thread_inside_until_dropped() {
        let outer = entered().expect("not inside yet");
        assert!(is_busy());
        assert!(entered().is_none(), "a recursive entry is refused");
        assert_eq!(
            outer.state().id(),
            with_state(|s| s.id()).unwrap(),
            "the guard's state is this thread's"
        );
        drop(outer);
        assert!(!is_busy());
        assert!(entered().is_some());
    }

    #[test]
    fn busy_is_cleared_when_guarded_code_panics() {
        let r = std::panic::catch_unwind(|| enter(|_| panic!("boom")));
        assert!(r.is_err());
        assert!(!is_busy());
    }

    #[test]
    fn threads_get_distinct_ids() {
        let a = with_state(|s| s.id()).unwrap();
        let b = std::thread::spawn(|| with_state(|s| s.id()).unwrap())
            .join()
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(with_state(|s| s.id()).unwrap(), a);
    }
}
