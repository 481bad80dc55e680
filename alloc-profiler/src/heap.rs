//! The session's heap clock: one small lock-protected state that orders every
//! event (a sequence number), keeps the exact totals, finds the global peak and
//! samples the heap-over-time series. Its critical sections are a handful of
//! additions, so it never holds anyone up for long.

use crate::live_table::Block;
use crate::sampling::W;
use crate::spin::SpinMutex;
use crate::stack_table::{Agg, StackEntry};

/// Points the heap-over-time series holds before it halves its resolution.
pub const SERIES_CAP: usize = 1024;

/// One point of the series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Point {
    /// Nanoseconds since the session started.
    pub t_ns: u64,
    /// Live bytes then.
    pub live_bytes: u64,
    /// Live blocks then.
    pub live_blocks: u64,
    /// Most live bytes since the previous point.
    pub max_bytes: u64,
}

/// Exact session state. See `docs/format.md` for what each total means.
#[derive(Clone, Copy)]
pub struct Heap {
    /// Sequence number of the latest event.
    pub seq: u64,
    /// Successful `alloc`/`alloc_zeroed` calls.
    pub allocations: u64,
    /// Successful `realloc` calls.
    pub reallocations: u64,
    /// Frees of tracked blocks.
    pub deallocations: u64,
    /// Bytes handed out.
    pub bytes_allocated: u64,
    /// Bytes given back (tracked blocks only).
    pub bytes_deallocated: u64,
    /// Tracked blocks live now.
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Most bytes ever live.
    pub peak_bytes: u64,
    /// Blocks live at that moment.
    pub peak_blocks: u64,
    /// Sequence number of the peak.
    pub peak_seq: u64,
    /// Time of the peak.
    pub peak_t_ns: u64,
    /// Increments with each new peak.
    pub epoch: u64,
    /// Frees of blocks the session never saw allocated.
    pub untracked_frees: u64,
    /// Their bytes.
    pub untracked_free_bytes: u64,
    /// Reallocations of such blocks.
    pub untracked_reallocs: u64,
    /// Blocks the live table could not hold.
    pub missed_blocks: u64,
    /// Their bytes.
    pub missed_bytes: u64,
    /// Calls the inner allocator refused.
    pub failures: u64,
    /// The latest event time seen.
    pub last_t_ns: u64,
    series: [Point; SERIES_CAP],
    series_len: usize,
    stride: u64,
    since_point: u64,
    interval_max: u64,
}

impl Heap {
    const fn new() -> Self {
        Self {
            seq: 0,
            allocations: 0,
            reallocations: 0,
            deallocations: 0,
            bytes_allocated: 0,
            bytes_deallocated: 0,
            live_blocks: 0,
            live_bytes: 0,
            peak_bytes: 0,
            peak_blocks: 0,
            peak_seq: 0,
            peak_t_ns: 0,
            epoch: 0,
            untracked_frees: 0,
            untracked_free_bytes: 0,
            untracked_reallocs: 0,
            missed_blocks: 0,
            missed_bytes: 0,
            failures: 0,
            last_t_ns: 0,
            series: [Point {
                t_ns: 0,
                live_bytes: 0,
                live_blocks: 0,
                max_bytes: 0,
            }; SERIES_CAP],
            series_len: 0,
            stride: 1,
            since_point: 0,
            interval_max: 0,
        }
    }

    #[inline]
    fn tick(&mut self, t_ns: u64) -> u64 {
        self.seq += 1;
        self.last_t_ns = self.last_t_ns.max(t_ns);
        if self.live_bytes > self.peak_bytes {
            self.peak_bytes = self.live_bytes;
            self.peak_blocks = self.live_blocks;
            self.peak_seq = self.seq;
            self.peak_t_ns = t_ns;
            self.epoch += 1;
        }
        self.interval_max = self.interval_max.max(self.live_bytes);
        self.since_point += 1;
        if self.since_point >= self.stride {
            self.push_point(t_ns);
        }
        self.seq
    }

    fn push_point(&mut self, t_ns: u64) {
        if self.series_len == SERIES_CAP {
            for i in 0..SERIES_CAP / 2 {
                let (a, b) = (self.series[2 * i], self.series[2 * i + 1]);
                self.series[i] = Point {
                    max_bytes: a.max_bytes.max(b.max_bytes),
                    ..b
                };
            }
            self.series_len = SERIES_CAP / 2;
            self.stride *= 2;
        }
        self.series[self.series_len] = Point {
            t_ns,
            live_bytes: self.live_bytes,
            live_blocks: self.live_blocks,
            max_bytes: self.interval_max,
        };
        self.series_len += 1;
        self.since_point = 0;
        self.interval_max = 0;
    }

    /// The series so far, plus a final point at `now_ns`.
    pub fn series(&self, now_ns: u64) -> impl Iterator<Item = Point> + '_ {
        // A last point whenever the series does not already end at the
        // present figures (events since the last point, or a block moved to
        // the untracked count without an event).
        let stale = self
            .series
            .get(self.series_len.wrapping_sub(1))
            .is_none_or(|p| (p.live_bytes, p.live_blocks) != (self.live_bytes, self.live_blocks));
        let tail = (self.since_point > 0 || stale).then_some(Point {
            t_ns: now_ns,
            live_bytes: self.live_bytes,
            live_blocks: self.live_blocks,
            max_bytes: self.interval_max.max(self.live_bytes),
        });
        self.series[..self.series_len].iter().copied().chain(tail)
    }

    /// The figures of the callsite `entry`. Holding `&mut Heap` means
    /// holding the heap lock, which guards every callsite's figures.
    #[inline]
    pub fn agg<'h>(&'h mut self, entry: &'h StackEntry) -> &'h mut Agg {
        // SAFETY: callsite figures are only ever reached through this method
        // (and `Heap::agg_copy`), which needs the heap lock held (the `&mut
        // self` borrow of the guarded `Heap`); the returned borrow ends before
        // another can be made from the same `&mut self`, so no two references
        // to one `Agg` coexist.
        unsafe { &mut *entry.agg.get() }
    }

    /// A copy of the figures of the callsite `entry`.
    pub fn agg_copy(&mut self, entry: &StackEntry) -> Agg {
        *self.agg(entry)
    }

    /// An allocation of weight `w` at callsite `at` was tracked; returns its
    /// sequence number.
    #[inline]
    pub fn alloc(&mut self, at: Option<&StackEntry>, w: W, t_ns: u64) -> u64 {
        self.allocations = self.allocations.wrapping_add(w.n);
        self.bytes_allocated = self.bytes_allocated.wrapping_add(w.b);
        self.live_blocks = self.live_blocks.wrapping_add(w.n);
        self.live_bytes = self.live_bytes.wrapping_add(w.b);
        if let Some(e) = at {
            let a = self.agg(e);
            a.blocks = a.blocks.wrapping_add(w.n);
            a.bytes = a.bytes.wrapping_add(w.b);
            a.attach(w);
        }
        self.tick(t_ns)
    }

    /// An allocation the live table could not hold: counted, not live.
    pub fn missed_alloc(&mut self, at: Option<&StackEntry>, w: W) {
        self.allocations = self.allocations.wrapping_add(w.n);
        self.bytes_allocated = self.bytes_allocated.wrapping_add(w.b);
        self.missed_blocks = self.missed_blocks.wrapping_add(w.n);
        self.missed_bytes = self.missed_bytes.wrapping_add(w.b);
        if let Some(e) = at {
            let a = self.agg(e);
            a.blocks = a.blocks.wrapping_add(w.n);
            a.bytes = a.bytes.wrapping_add(w.b);
        }
    }

    /// Whether a block last (re)allocated at `seq` was live at the current
    /// peak, as that peak's epoch.
    #[inline]
    fn at_peak(&self, seq: u64) -> Option<u64> {
        (self.epoch > 0 && seq <= self.peak_seq).then_some(self.epoch)
    }

    /// The tracked block `b` (of callsite `at`, weight `w`) was freed; returns
    /// its lifetime.
    #[inline]
    pub fn free(&mut self, at: Option<&StackEntry>, b: &Block, w: W, t_ns: u64) -> u64 {
        let peak = self.at_peak(b.seq);
        self.deallocations = self.deallocations.wrapping_add(w.n);
        self.bytes_deallocated = self.bytes_deallocated.wrapping_add(w.b);
        self.live_blocks = self.live_blocks.wrapping_sub(w.n);
        self.live_bytes = self.live_bytes.wrapping_sub(w.b);
        let lifetime = t_ns.saturating_sub(b.birth_ns);
        if let Some(e) = at {
            let a = self.agg(e);
            a.detach(w, peak);
            a.freed(w, lifetime);
        }
        self.tick(t_ns);
        lifetime
    }

    /// A block the session never saw allocated was freed.
    pub fn untracked_free(&mut self, size: u64) {
        self.untracked_frees += 1;
        self.untracked_free_bytes = self.untracked_free_bytes.wrapping_add(size);
    }

    /// A reallocation to weight `w_new` succeeded at callsite `to`. `from` is
    /// the old block, its callsite and weight when it was tracked; otherwise
    /// `untracked_old` is the old size of a block the session never saw
    /// (counted apart), if it is to be counted. Returns the new block's
    /// sequence number.
    #[inline]
    pub fn realloc(
        &mut self,
        from: Option<(Option<&StackEntry>, &Block, W)>,
        untracked_old: Option<u64>,
        to: Option<&StackEntry>,
        w_new: W,
        t_ns: u64,
    ) -> u64 {
        self.reallocations = self.reallocations.wrapping_add(w_new.n);
        self.bytes_allocated = self.bytes_allocated.wrapping_add(w_new.b);
        if let Some((owner, b, w_old)) = from {
            let peak = self.at_peak(b.seq);
            self.bytes_deallocated = self.bytes_deallocated.wrapping_add(w_old.b);
            self.live_blocks = self.live_blocks.wrapping_sub(w_old.n);
            self.live_bytes = self.live_bytes.wrapping_sub(w_old.b);
            if let Some(e) = owner {
                self.agg(e).detach(w_old, peak);
            }
        } else if let Some(old) = untracked_old {
            self.untracked_reallocs += 1;
            self.untracked_free_bytes = self.untracked_free_bytes.wrapping_add(old);
        }
        self.live_blocks = self.live_blocks.wrapping_add(w_new.n);
        self.live_bytes = self.live_bytes.wrapping_add(w_new.b);
        if let Some(e) = to {
            let a = self.agg(e);
            a.reallocs = a.reallocs.wrapping_add(w_new.n);
            a.bytes = a.bytes.wrapping_add(w_new.b);
            a.attach(w_new);
        }
        self.tick(t_ns)
    }

    /// A block of weight `w` (of callsite `at`) counted as live could not be
    /// kept in the live table: it moves to the untracked count.
    pub fn lose(&mut self, at: Option<&StackEntry>, w: W) {
        self.live_blocks = self.live_blocks.wrapping_sub(w.n);
        self.live_bytes = self.live_bytes.wrapping_sub(w.b);
        self.missed_blocks = self.missed_blocks.wrapping_add(w.n);
        self.missed_bytes = self.missed_bytes.wrapping_add(w.b);
        if let Some(e) = at {
            self.agg(e).detach(w, None);
        }
    }
}

/// The session's heap state.
pub static HEAP: SpinMutex<Heap> = SpinMutex::new(Heap::new());

/// The heap lock, for `fork.rs`.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    // SAFETY: locked and unlocked in pairs by `fork.rs` only.
    f(unsafe { HEAP.raw() });
}

/// Zeroes the state for a new session.
pub fn reset() {
    *HEAP.lock() = Heap::new();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(b: u64) -> W {
        W { n: 1, b }
    }

    fn blk(seq: u64, size: u64) -> Block {
        Block {
            size,
            birth_ns: 0,
            seq,
            stack: 0,
        }
    }

    #[test]
    fn peak_is_the_first_time_the_maximum_is_reached() {
        let mut h = Heap::new();
        let a = h.alloc(None, w(100), 1);
        let b = h.alloc(None, w(50), 2);
        assert_eq!((h.peak_bytes, h.peak_blocks, h.peak_seq), (150, 2, b));
        assert_eq!(h.at_peak(a), Some(h.epoch), "a was live at the peak");
        h.free(None, &blk(a, 100), w(100), 3);
        let c = h.alloc(None, w(100), 4);
        assert_eq!(h.peak_bytes, 150, "equal, not higher: the peak stays first");
        assert_eq!(h.at_peak(c), None, "c came after the peak");
        h.free(None, &blk(c, 100), w(100), 5);
        assert_eq!(h.live_bytes, 50);
    }

    #[test]
    fn reallocation_moves_bytes_without_counting_a_free() {
        let mut h = Heap::new();
        let s = h.alloc(None, w(10), 0);
        h.realloc(Some((None, &blk(s, 10), w(10))), None, None, w(40), 1);
        assert_eq!((h.allocations, h.reallocations, h.deallocations), (1, 1, 0));
        assert_eq!(
            (h.bytes_allocated, h.bytes_deallocated, h.live_bytes),
            (50, 10, 40)
        );
        assert_eq!(h.peak_bytes, 40);
    }

    #[test]
    fn series_stays_bounded_and_keeps_the_peak() {
        let mut h = Heap::new();
        let mut seqs = Vec::new();
        for i in 0..10_000u64 {
            seqs.push(h.alloc(None, w(8), i));
        }
        for (i, s) in seqs.into_iter().enumerate() {
            h.free(None, &blk(s, 8), w(8), 10_000 + i as u64);
        }
        let pts: Vec<Point> = h.series(30_000).collect();
        assert!(pts.len() <= SERIES_CAP + 1);
        assert!(pts.len() >= SERIES_CAP / 2);
        assert_eq!(pts.iter().map(|p| p.max_bytes).max(), Some(80_000));
        assert!(pts.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
        assert_eq!(pts.last().unwrap().live_bytes, 0);
    }
}
