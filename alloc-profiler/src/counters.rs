//! The exact global counters kept even without a session.
//!
//! Each thread counts into a slot of its own, claimed on its first allocation,
//! with plain loads and stores (only the owner writes), so the idle wrapper
//! costs no atomic read-modify-write and no shared cache line. When the thread
//! exits, a thread-local destructor folds its slot into the retired totals and
//! frees the slot. Threads without a slot (more than [`SLOTS`] alive at once,
//! or allocating after their destructor ran) count into shared atomic stripes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::spin::SpinMutex;
use crate::thread::{self, ThreadState};

/// Threads that can own a slot at once.
pub const SLOTS: usize = 1024;
const STRIPES: usize = 16;

const ALLOCATIONS: usize = 0;
const DEALLOCATIONS: usize = 1;
const REALLOCATIONS: usize = 2;
const BYTES_ALLOCATED: usize = 3;
const BYTES_DEALLOCATED: usize = 4;
const FAILURES: usize = 5;
const COUNTERS: usize = 6;

/// One thread's counters.
#[repr(align(128))]
pub struct Slot {
    owned: AtomicBool,
    c: [AtomicU64; COUNTERS],
}

#[repr(align(128))]
struct Stripe {
    c: [AtomicU64; COUNTERS],
}

static SLOTS_: [Slot; SLOTS] = [const {
    Slot {
        owned: AtomicBool::new(false),
        c: [const { AtomicU64::new(0) }; COUNTERS],
    }
}; SLOTS];
static STRIPES_: [Stripe; STRIPES] = [const {
    Stripe {
        c: [const { AtomicU64::new(0) }; COUNTERS],
    }
}; STRIPES];
/// Counts of threads that have exited; also the lock under which slots are
/// retired and read, so no count is ever seen twice or missed.
static RETIRED: SpinMutex<[u64; COUNTERS]> = SpinMutex::new([0; COUNTERS]);

/// The retired-totals lock, for `fork.rs`.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    // SAFETY: locked and unlocked in pairs by `fork.rs` only.
    f(unsafe { RETIRED.raw() });
}

/// `counter_slot` values: 0 = none claimed yet; `NO_SLOT` = use the stripes.
const NO_SLOT: u32 = u32::MAX;

/// Folds the thread's slot into the retired totals when the thread exits.
struct Retire;

impl Drop for Retire {
    fn drop(&mut self) {
        let _ = thread::with_state(retire);
    }
}

thread_local! {
    static RETIRE: Retire = const { Retire };
}

fn retire(ts: &ThreadState) {
    crate::strata::detach(ts);
    let i = ts.counter_slot.get();
    ts.counter_slot.set(NO_SLOT);
    ts.counters.set(None);
    let Some(slot) = (i as usize).checked_sub(1).and_then(|i| SLOTS_.get(i)) else {
        return;
    };
    let mut retired = RETIRED.lock();
    for (r, c) in retired.iter_mut().zip(&slot.c) {
        *r = r.wrapping_add(c.swap(0, Ordering::Relaxed));
    }
    slot.owned.store(false, Ordering::Release);
}

#[cold]
#[inline(never)]
fn claim(ts: &ThreadState) -> Option<&'static Slot> {
    // Start at a place that depends on the thread, to avoid contending.
    let start = ts.id() as usize % SLOTS;
    let found = (0..SLOTS).map(|k| (start + k) % SLOTS).find(|&k| {
        SLOTS_[k]
            .owned
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    });
    let Some(k) = found else {
        ts.counter_slot.set(NO_SLOT);
        return None;
    };
    ts.counter_slot.set(k as u32 + 1);
    // Registers the destructor; fails once the thread's thread-locals are
    // being destroyed, in which case the slot is given back at once.
    if RETIRE.try_with(|_| ()).is_err() {
        retire(ts);
        return None;
    }
    let slot = SLOTS_.get(k);
    ts.counters.set(slot);
    slot
}

/// The calling thread's slot: the one it holds (a load), else one claimed
/// now, else none.
#[inline(always)]
fn slot(ts: &ThreadState) -> Option<&'static Slot> {
    ts.counters.get().or_else(|| no_slot_held(ts))
}

#[cold]
#[inline(never)]
fn no_slot_held(ts: &ThreadState) -> Option<&'static Slot> {
    match ts.counter_slot.get() {
        0 => claim(ts),
        _ => None,
    }
}

/// The index of the calling thread's slot (claiming one if it has none
/// yet); `None` when it counts into the stripes.
pub fn slot_index(ts: &ThreadState) -> Option<usize> {
    slot(ts)?;
    (ts.counter_slot.get() as usize).checked_sub(1)
}

#[inline]
fn add(ts: &ThreadState, updates: &[(usize, u64)]) {
    match slot(ts) {
        Some(s) => {
            for &(k, v) in updates {
                if let Some(c) = s.c.get(k) {
                    // Only this thread writes its slot: a plain load and store.
                    c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
                }
            }
        }
        None => {
            let stripe = &STRIPES_[ts.id() as usize % STRIPES];
            for &(k, v) in updates {
                if let Some(c) = stripe.c.get(k) {
                    c.fetch_add(v, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Counts a successful allocation.
#[inline]
pub fn on_alloc(ts: &ThreadState, size: usize) {
    add(ts, &[(ALLOCATIONS, 1), (BYTES_ALLOCATED, size as u64)]);
}

/// Counts a deallocation.
#[inline]
pub fn on_dealloc(ts: &ThreadState, size: usize) {
    add(ts, &[(DEALLOCATIONS, 1), (BYTES_DEALLOCATED, size as u64)]);
}

/// Counts a successful reallocation.
#[inline]
pub fn on_realloc(ts: &ThreadState, old: usize, new: usize) {
    add(
        ts,
        &[
            (REALLOCATIONS, 1),
            (BYTES_ALLOCATED, new as u64),
            (BYTES_DEALLOCATED, old as u64),
        ],
    );
}

/// Counts an allocation or reallocation the inner allocator refused.
#[inline]
pub fn on_failure(ts: &ThreadState) {
    add(ts, &[(FAILURES, 1)]);
}

/// Exact process-wide allocation counters since the program started, as
/// returned by [`stats`](crate::stats). The profiler's own allocations are not
/// included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalStats {
    /// `alloc` and `alloc_zeroed` calls that succeeded.
    pub allocations: u64,
    /// `dealloc` calls.
    pub deallocations: u64,
    /// `realloc` calls that succeeded.
    pub reallocations: u64,
    /// Bytes handed out: allocation sizes plus each reallocation's new size.
    pub bytes_allocated: u64,
    /// Bytes given back: deallocation sizes plus each reallocation's old size.
    pub bytes_deallocated: u64,
    /// Allocation and reallocation calls the inner allocator refused (null).
    pub failures: u64,
}

impl GlobalStats {
    /// Blocks currently live (allocations minus deallocations).
    #[must_use]
    pub fn live_blocks(&self) -> u64 {
        self.allocations.saturating_sub(self.deallocations)
    }

    /// Bytes currently live.
    #[must_use]
    pub fn live_bytes(&self) -> u64 {
        self.bytes_allocated.saturating_sub(self.bytes_deallocated)
    }
}

/// Sums the retired totals, every owned slot and the stripes.
pub fn read() -> GlobalStats {
    let retired = RETIRED.lock();
    let mut c = *retired;
    let live_slots = SLOTS_.iter().filter(|s| s.owned.load(Ordering::Acquire));
    for counters in live_slots
        .map(|s| &s.c)
        .chain(STRIPES_.iter().map(|s| &s.c))
    {
        for (sum, v) in c.iter_mut().zip(counters) {
            *sum = sum.wrapping_add(v.load(Ordering::Relaxed));
        }
    }
    drop(retired);
    GlobalStats {
        allocations: c[ALLOCATIONS],
        deallocations: c[DEALLOCATIONS],
        reallocations: c[REALLOCATIONS],
        bytes_allocated: c[BYTES_ALLOCATED],
        bytes_deallocated: c[BYTES_DEALLOCATED],
        failures: c[FAILURES],
    }
}
