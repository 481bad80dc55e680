//! Counting what one piece of code allocates, for tests: [`measure`],
//! [`forbid_alloc`], [`follow`] and [`AllocStats`]'s assertions.
//!
//! Counts live in the calling thread's own state, so tests running in parallel
//! and background threads never disturb them, and they work with or without a
//! session. While a thread is measured, each allocation's stack is captured
//! (raw addresses only) into a small per-thread table, so that a failed
//! assertion can name the callsites; symbols are looked up only then.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use alloc_core::names::{FrameClass, classify_frame};

use crate::capture;
use crate::symbolize::{self, Symbolizer};
use crate::thread::{self, ThreadState};

/// Distinct callsites a measured scope remembers (the rest are counted as
/// "other callsites").
pub const SITES: usize = 16;
/// Frames kept per remembered callsite (the profiler's own frames included).
pub const SITE_FRAMES: usize = 32;

/// One remembered callsite of a measured scope.
#[derive(Clone, Copy)]
pub struct RawSite {
    hash: u64,
    events: u64,
    bytes: u64,
    len: u32,
    frames: [usize; SITE_FRAMES],
}

impl RawSite {
    const EMPTY: Self = Self {
        hash: 0,
        events: 0,
        bytes: 0,
        len: 0,
        frames: [0; SITE_FRAMES],
    };
}

/// The callsites of a scope, in the order they first allocated.
#[derive(Clone, Copy)]
struct Sites {
    sites: [RawSite; SITES],
    len: usize,
    other_events: u64,
    other_bytes: u64,
}

impl Sites {
    const EMPTY: Self = Self {
        sites: [RawSite::EMPTY; SITES],
        len: 0,
        other_events: 0,
        other_bytes: 0,
    };

    fn add(&mut self, site: &RawSite) {
        let used = self.sites.get_mut(..self.len).unwrap_or(&mut []);
        if let Some(s) = used.iter_mut().find(|s| {
            s.hash == site.hash && s.frames[..s.len as usize] == site.frames[..site.len as usize]
        }) {
            s.events += site.events;
            s.bytes += site.bytes;
        } else if let Some(slot) = self.sites.get_mut(self.len) {
            *slot = *site;
            self.len += 1;
        } else {
            self.other_events += site.events;
            self.other_bytes += site.bytes;
        }
    }

    fn merge(&mut self, other: &Sites) {
        for s in other.sites.iter().take(other.len) {
            self.add(s);
        }
        self.other_events += other.other_events;
        self.other_bytes += other.other_bytes;
    }
}

/// Counts shared by a measured scope and the threads it follows.
pub struct Sink {
    parent: Option<Arc<Sink>>,
    allocations: AtomicU64,
    deallocations: AtomicU64,
    reallocations: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_deallocated: AtomicU64,
    /// Net bytes of the scope (its own thread and followed threads), relative
    /// to its start.
    net: AtomicI64,
    /// Highest value of `net`.
    peak: AtomicI64,
}

impl Sink {
    fn move_net(&self, delta: i64) {
        let mut s = Some(self);
        while let Some(sink) = s {
            let now = sink
                .net
                .fetch_add(delta, Ordering::Relaxed)
                .wrapping_add(delta);
            sink.peak.fetch_max(now, Ordering::Relaxed);
            s = sink.parent.as_deref();
        }
    }
}

/// An `Arc<Sink>` made and dropped inside the reentrancy guard, so that the
/// measuring machinery never shows up in the counts it keeps.
struct SinkRef(Option<Arc<Sink>>);

impl SinkRef {
    fn new(sink: Sink) -> Option<Self> {
        thread::enter(|_| Self(Some(Arc::new(sink))))
    }

    fn get(&self) -> Option<&Arc<Sink>> {
        self.0.as_ref()
    }

    fn share(&self) -> Option<Self> {
        let arc = self.0.as_ref()?;
        thread::enter(|_| Self(Some(Arc::clone(arc))))
    }
}

impl Drop for SinkRef {
    fn drop(&mut self) {
        let arc = self.0.take();
        if let Some(arc) = arc {
            // Outside the guard only if the thread state is gone; dropping
            // then cannot be counted anyway.
            let mut arc = Some(arc);
            if thread::enter(|_| drop(arc.take())).is_none() {
                drop(arc);
            }
        }
    }
}

/// Counters a thread keeps while it is being measured.
pub struct ThreadCounters {
    /// Nesting depth of measure scopes on this thread (0: not measuring).
    pub depth: Cell<u32>,
    allocations: Cell<u64>,
    deallocations: Cell<u64>,
    reallocations: Cell<u64>,
    bytes_allocated: Cell<u64>,
    bytes_deallocated: Cell<u64>,
    peak_net: Cell<i64>,
    /// The innermost scope's callsites, changed in place (a `Cell` would
    /// copy all of them in and out on every measured allocation).
    sites: RefCell<Sites>,
    sink: Cell<*const Sink>,
}

impl ThreadCounters {
    /// All zero, not measuring.
    pub const fn new() -> Self {
        Self {
            depth: Cell::new(0),
            allocations: Cell::new(0),
            deallocations: Cell::new(0),
            reallocations: Cell::new(0),
            bytes_allocated: Cell::new(0),
            bytes_deallocated: Cell::new(0),
            peak_net: Cell::new(0),
            sites: RefCell::new(Sites::EMPTY),
            sink: Cell::new(std::ptr::null()),
        }
    }

    fn net(&self) -> i64 {
        self.bytes_allocated
            .get()
            .wrapping_sub(self.bytes_deallocated.get()) as i64
    }

    fn bump_peak(&self) {
        let net = self.net();
        if net > self.peak_net.get() {
            self.peak_net.set(net);
        }
    }

    fn sink(&self) -> Option<&Sink> {
        // SAFETY: a non-null `sink` points into an Arc<Sink> that the scope
        // which set it (or the `follow` wrapper running on this thread) keeps
        // alive, and that clears or restores the pointer before letting go.
        unsafe { self.sink.get().as_ref() }
    }

    fn snapshot(&self) -> Counts {
        Counts {
            allocations: self.allocations.get(),
            deallocations: self.deallocations.get(),
            reallocations: self.reallocations.get(),
            bytes_allocated: self.bytes_allocated.get(),
            bytes_deallocated: self.bytes_deallocated.get(),
        }
    }
}

impl Default for ThreadCounters {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Default)]
struct Counts {
    allocations: u64,
    deallocations: u64,
    reallocations: u64,
    bytes_allocated: u64,
    bytes_deallocated: u64,
}

fn remember_site(ts: &ThreadState, bytes: u64) {
    let mut site = RawSite::EMPTY;
    let mut buf = capture::buf::<SITE_FRAMES>();
    let captured = capture::capture(&mut buf, ts.stack_hi());
    let n = captured.len;
    let frames = capture::written(&buf, n);
    if let Some(dst) = site.frames.get_mut(..n) {
        dst.copy_from_slice(frames);
    }
    site.len = n as u32;
    site.hash = captured.hash;
    site.events = 1;
    site.bytes = bytes;
    // Never borrowed elsewhere while an allocation is counted (scopes borrow
    // only between allocations); try_ keeps the allocator free of panics.
    if let Ok(mut sites) = ts.measure.sites.try_borrow_mut() {
        sites.add(&site);
    }
}

/// Counts an allocation of `size` bytes (called on the allocation path while
/// the thread is measured). Out of line: the allocator's entry point, which
/// calls it, is inlined everywhere and should carry only what every event
/// runs.
#[inline(never)]
pub fn on_alloc(ts: &ThreadState, size: usize) {
    let m = &ts.measure;
    m.allocations.set(m.allocations.get().wrapping_add(1));
    m.bytes_allocated
        .set(m.bytes_allocated.get().wrapping_add(size as u64));
    m.bump_peak();
    if let Some(s) = m.sink() {
        s.move_net(size as i64);
    }
    remember_site(ts, size as u64);
}

/// Counts a deallocation of `size` bytes (out of line, as [`on_alloc`]).
#[inline(never)]
pub fn on_dealloc(ts: &ThreadState, size: usize) {
    let m = &ts.measure;
    m.deallocations.set(m.deallocations.get().wrapping_add(1));
    m.bytes_deallocated
        .set(m.bytes_deallocated.get().wrapping_add(size as u64));
    if let Some(s) = m.sink() {
        s.move_net(-(size as i64));
    }
}

/// Counts a reallocation from `old` to `new` bytes.
#[inline]
pub fn on_realloc(ts: &ThreadState, old: usize, new: usize) {
    let m = &ts.measure;
    m.reallocations.set(m.reallocations.get().wrapping_add(1));
    m.bytes_deallocated
        .set(m.bytes_deallocated.get().wrapping_add(old as u64));
    m.bytes_allocated
        .set(m.bytes_allocated.get().wrapping_add(new as u64));
    m.bump_peak();
    if let Some(s) = m.sink() {
        s.move_net(new as i64 - old as i64);
    }
    remember_site(ts, new as u64);
}

/// What a measured closure allocated. Counting rules are the profiler's:
/// `alloc_zeroed` is an allocation, a `realloc` is one reallocation (its new
/// size counts as bytes allocated, its old size as bytes deallocated).
///
/// Equality and `Debug` look at the counts only.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct AllocStats {
    /// `alloc` and `alloc_zeroed` calls.
    pub allocations: u64,
    /// `dealloc` calls.
    pub deallocations: u64,
    /// `realloc` calls.
    pub reallocations: u64,
    /// Bytes handed out: allocation sizes plus reallocation new sizes.
    pub bytes_allocated: u64,
    /// Bytes given back: deallocation sizes plus reallocation old sizes.
    pub bytes_deallocated: u64,
    /// The highest net bytes (allocated minus deallocated) at any moment of
    /// the scope; 0 if it never went above its start.
    pub peak_bytes: u64,
    sites: Sites,
}

impl PartialEq for AllocStats {
    fn eq(&self, other: &Self) -> bool {
        self.counts() == other.counts()
    }
}

impl Eq for AllocStats {}

impl fmt::Debug for AllocStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllocStats")
            .field("allocations", &self.allocations)
            .field("deallocations", &self.deallocations)
            .field("reallocations", &self.reallocations)
            .field("bytes_allocated", &self.bytes_allocated)
            .field("bytes_deallocated", &self.bytes_deallocated)
            .field("peak_bytes", &self.peak_bytes)
            .finish()
    }
}

impl AllocStats {
    fn counts(&self) -> [u64; 6] {
        [
            self.allocations,
            self.deallocations,
            self.reallocations,
            self.bytes_allocated,
            self.bytes_deallocated,
            self.peak_bytes,
        ]
    }

    /// Blocks allocated and not freed within the scope (negative when it freed
    /// blocks made before it).
    #[must_use]
    pub fn net_blocks(&self) -> i64 {
        self.allocations as i64 - self.deallocations as i64
    }

    /// Bytes allocated and not freed within the scope.
    #[must_use]
    pub fn net_bytes(&self) -> i64 {
        self.bytes_allocated as i64 - self.bytes_deallocated as i64
    }

    /// The callsites that allocated most (by bytes), up to `n`, as
    /// `function (file:line)` of the first frame in the user's code, with
    /// their allocation and reallocation count and bytes.
    #[must_use]
    pub fn top_callsites(&self, n: usize) -> Vec<CallsiteStats> {
        let mut order: Vec<&RawSite> = self.sites.sites.iter().take(self.sites.len).collect();
        order.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.events.cmp(&a.events)));
        let mut sym = Symbolizer::default();
        order
            .into_iter()
            .take(n)
            .map(|s| CallsiteStats {
                location: name_site(&mut sym, s),
                events: s.events,
                bytes: s.bytes,
            })
            .collect()
    }

    /// Where the first allocation or reallocation of the scope was made.
    #[must_use]
    pub fn first_callsite(&self) -> Option<String> {
        let first = self.sites.sites.first().filter(|_| self.sites.len > 0)?;
        Some(name_site(&mut Symbolizer::default(), first))
    }

    fn report(&self, headline: &str) -> String {
        let mut msg = String::new();
        let _ = write!(
            msg,
            "{headline}\n  measured: {} allocations, {} reallocations, {} deallocations; {} bytes allocated, {} deallocated, peak {} bytes",
            self.allocations,
            self.reallocations,
            self.deallocations,
            self.bytes_allocated,
            self.bytes_deallocated,
            self.peak_bytes
        );
        let top = self.top_callsites(5);
        if !top.is_empty() {
            msg.push_str("\n  top callsites (allocations + reallocations, bytes):");
            for c in &top {
                let _ = write!(
                    msg,
                    "\n    {:>6} × {:>10} B  {}",
                    c.events, c.bytes, c.location
                );
            }
        }
        if self.sites.other_events > 0 {
            let _ = write!(
                msg,
                "\n    {:>6} × {:>10} B  (other callsites)",
                self.sites.other_events, self.sites.other_bytes
            );
        }
        msg
    }

    /// Panics, naming the top callsites, unless the scope made at most `n`
    /// allocations (`alloc`/`alloc_zeroed`; see
    /// [`assert_at_most_reallocations`](Self::assert_at_most_reallocations)).
    #[track_caller]
    pub fn assert_at_most_allocations(&self, n: u64) -> &Self {
        if self.allocations > n {
            panic!(
                "{}",
                self.report(&format!(
                    "expected at most {n} allocations, got {}",
                    self.allocations
                ))
            );
        }
        self
    }

    /// Panics, naming the top callsites, unless the scope made at most `n`
    /// reallocations.
    #[track_caller]
    pub fn assert_at_most_reallocations(&self, n: u64) -> &Self {
        if self.reallocations > n {
            panic!(
                "{}",
                self.report(&format!(
                    "expected at most {n} reallocations, got {}",
                    self.reallocations
                ))
            );
        }
        self
    }

    /// Panics, naming the top callsites, unless the scope allocated at most
    /// `n` bytes (allocation sizes plus reallocation new sizes).
    #[track_caller]
    pub fn assert_at_most_bytes(&self, n: u64) -> &Self {
        if self.bytes_allocated > n {
            panic!(
                "{}",
                self.report(&format!(
                    "expected at most {n} bytes allocated, got {}",
                    self.bytes_allocated
                ))
            );
        }
        self
    }

    /// Panics, naming the top callsites, unless the scope's net live memory
    /// peaked at `n` bytes or less.
    #[track_caller]
    pub fn assert_peak_at_most(&self, n: u64) -> &Self {
        if self.peak_bytes > n {
            panic!(
                "{}",
                self.report(&format!(
                    "expected a peak of at most {n} bytes, got {}",
                    self.peak_bytes
                ))
            );
        }
        self
    }

    /// Panics, naming the top callsites, unless everything the scope
    /// allocated was freed by its end.
    #[track_caller]
    pub fn assert_nothing_left(&self) -> &Self {
        if self.net_blocks() > 0 || self.net_bytes() > 0 {
            panic!(
                "{}",
                self.report(&format!(
                    "expected nothing left allocated, but {} blocks ({} bytes) were",
                    self.net_blocks().max(0),
                    self.net_bytes().max(0)
                ))
            );
        }
        self
    }
}

/// One callsite of a measured scope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallsiteStats {
    /// `function (file:line)` of the first frame in the user's code.
    pub location: String,
    /// Allocations plus reallocations made there.
    pub events: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Names a site by its first user frame, symbolizing under the guard so that
/// the work is not counted by a measure still running on this thread.
fn name_site(sym: &mut Symbolizer, site: &RawSite) -> String {
    let mut buf = FixedBuf::<512>::new();
    thread::enter(|_| {
        let mut frames: Vec<_> = site
            .frames
            .iter()
            .take(site.len as usize)
            .flat_map(|&a| sym.frames(a).to_vec())
            .collect();
        symbolize::trim(&mut frames);
        let pick = frames
            .iter()
            .find(|f| classify_frame(f) == FrameClass::User)
            .or_else(|| frames.first());
        match pick {
            Some(f) => {
                let _ = write!(buf, "{}", f.function);
                if let (Some(file), Some(line)) = (&f.file, f.line) {
                    let _ = write!(buf, " ({file}:{line})");
                }
            }
            None => {
                let _ = buf.write_str("<unknown>");
            }
        }
    });
    buf.as_str().to_string()
}

/// A fixed-capacity string that formats without allocating (truncating).
struct FixedBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        let b = self.bytes.get(..self.len).unwrap_or(&[]);
        match std::str::from_utf8(b) {
            Ok(s) => s,
            // Truncation split a character: keep the valid prefix.
            Err(e) => std::str::from_utf8(b.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
        }
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let take = s.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// A measured scope on the current thread; restores the outer scope's state
/// when it ends, also if the closure panics.
struct Scope {
    start: Counts,
    start_net: i64,
    outer_peak: i64,
    outer_sites: Sites,
    outer_sink: *const Sink,
    outer_target: Option<*mut Scope>,
    /// The sink this scope made for threads it follows, if any.
    own_sink: Option<SinkRef>,
    done: bool,
}

fn with_counters<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    match thread::with_state(f) {
        Some(r) => r,
        None => panic!("alloc-profiler: measure called while the thread is exiting"),
    }
}

thread_local! {
    /// The innermost running scope on this thread, for [`follow`].
    static FOLLOW_TARGET: Cell<Option<*mut Scope>> = const { Cell::new(None) };
}

impl Scope {
    fn enter() -> Self {
        with_counters(|ts| {
            let m = &ts.measure;
            let scope = Scope {
                start: m.snapshot(),
                start_net: m.net(),
                outer_peak: m.peak_net.get(),
                outer_sites: m.sites.replace(Sites::EMPTY),
                outer_sink: m.sink.get(),
                outer_target: FOLLOW_TARGET.with(Cell::get),
                own_sink: None,
                done: false,
            };
            m.peak_net.set(m.net());
            m.depth.set(m.depth.get() + 1);
            scope
        })
    }

    /// A share of this scope's sink, made on first use. Its parent is the sink
    /// this thread already fed (an outer scope's or the one it is followed
    /// by), so followed work counts for every enclosing scope.
    fn sink(&mut self, ts: &ThreadState) -> Option<SinkRef> {
        if self.own_sink.is_none() {
            let m = &ts.measure;
            let parent = match m.sink.get() {
                p if p.is_null() => None,
                // SAFETY: a non-null sink pointer comes from `Arc::as_ptr` of
                // an Arc that an enclosing scope or `follow` wrapper holds for
                // as long as the pointer is set; taking one more strong count
                // keeps it alive for the new sink's parent link.
                p => thread::enter(|_| unsafe {
                    Arc::increment_strong_count(p);
                    Arc::from_raw(p)
                }),
            };
            let made = SinkRef::new(Sink {
                parent,
                allocations: AtomicU64::new(0),
                deallocations: AtomicU64::new(0),
                reallocations: AtomicU64::new(0),
                bytes_allocated: AtomicU64::new(0),
                bytes_deallocated: AtomicU64::new(0),
                net: AtomicI64::new(m.net() - self.start_net),
                peak: AtomicI64::new((m.peak_net.get() - self.start_net).max(0)),
            })?;
            m.sink.set(made.get().map_or(std::ptr::null(), Arc::as_ptr));
            self.own_sink = Some(made);
        }
        self.own_sink.as_ref().and_then(SinkRef::share)
    }

    fn exit(mut self) -> AllocStats {
        with_counters(|ts| self.finish(ts))
    }

    fn finish(&mut self, ts: &ThreadState) -> AllocStats {
        self.done = true;
        FOLLOW_TARGET.with(|t| t.set(self.outer_target));
        let m = &ts.measure;
        let end = m.snapshot();
        let own_peak = (m.peak_net.get() - self.start_net).max(0);
        let mut stats = AllocStats {
            allocations: end.allocations.wrapping_sub(self.start.allocations),
            deallocations: end.deallocations.wrapping_sub(self.start.deallocations),
            reallocations: end.reallocations.wrapping_sub(self.start.reallocations),
            bytes_allocated: end.bytes_allocated.wrapping_sub(self.start.bytes_allocated),
            bytes_deallocated: end
                .bytes_deallocated
                .wrapping_sub(self.start.bytes_deallocated),
            peak_bytes: own_peak as u64,
            sites: *m.sites.borrow(),
        };
        if let Some(sink) = self.own_sink.as_ref().and_then(SinkRef::get) {
            let followed = [
                sink.allocations.load(Ordering::Relaxed),
                sink.deallocations.load(Ordering::Relaxed),
                sink.reallocations.load(Ordering::Relaxed),
                sink.bytes_allocated.load(Ordering::Relaxed),
                sink.bytes_deallocated.load(Ordering::Relaxed),
            ];
            stats.allocations += followed[0];
            stats.deallocations += followed[1];
            stats.reallocations += followed[2];
            stats.bytes_allocated += followed[3];
            stats.bytes_deallocated += followed[4];
            stats.peak_bytes = stats
                .peak_bytes
                .max(sink.peak.load(Ordering::Relaxed).max(0) as u64);
            // Enclosing scopes on this thread see the followed threads' work
            // too: fold it into this thread's counters.
            m.allocations.set(m.allocations.get() + followed[0]);
            m.deallocations.set(m.deallocations.get() + followed[1]);
            m.reallocations.set(m.reallocations.get() + followed[2]);
            m.bytes_allocated.set(m.bytes_allocated.get() + followed[3]);
            m.bytes_deallocated
                .set(m.bytes_deallocated.get() + followed[4]);
        }
        // Restore the outer scope: its peak is the higher of its own and ours
        // (in absolute net terms), and our callsites are its callsites too.
        let abs_peak = self.start_net + stats.peak_bytes as i64;
        m.peak_net.set(self.outer_peak.max(abs_peak));
        let mut outer = self.outer_sites;
        outer.merge(&stats.sites);
        *m.sites.borrow_mut() = outer;
        m.sink.set(self.outer_sink);
        m.depth.set(m.depth.get().saturating_sub(1));
        self.own_sink = None;
        stats
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Only when the measured closure panicked: put the outer scope back.
        if !self.done {
            let _ = thread::with_state(|ts| self.finish(ts));
        }
    }
}

/// Runs `f` inside a new scope that [`follow`] can find.
fn run_scoped<R>(scope: &mut Scope, f: impl FnOnce() -> R) -> R {
    FOLLOW_TARGET.with(|t| t.set(Some(scope as *mut Scope)));
    f()
}

fn assert_installed() {
    if !crate::is_installed() {
        panic!("alloc-profiler: cannot measure: {}", crate::NOT_INSTALLED);
    }
    // Callsites are captured like a session's: check once whether frame
    // pointers work, unless a session already did.
    static CHOSEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !CHOSEN.swap(true, Ordering::Relaxed)
        && crate::recorder::GENERATION.load(Ordering::Relaxed) == 0
    {
        thread::enter(|_| capture::choose(capture::CaptureMethod::Auto));
    }
}

/// Runs `f` and counts what the calling thread allocates while it runs.
///
/// The counts are exact and the calling thread's alone: tests running in
/// parallel and background threads do not disturb them. Measures nest (an
/// inner one does not disturb the outer one, which includes it) and work with
/// or without a profiling session. Threads `f` spawns are counted when their
/// closures are wrapped in [`follow`].
///
/// # Panics
/// When [`Profiler`](crate::Profiler) is not the global allocator (the counts
/// would silently be zero), and when `f` panics.
///
/// # Examples
/// ```
/// use alloc_profiler::{measure, Profiler};
/// use std::alloc::System;
///
/// #[global_allocator]
/// static ALLOC: Profiler<System> = Profiler::new(System);
///
/// # fn main() {
/// let mut v = Vec::with_capacity(1);
/// let ((), stats) = measure(|| {
///     v.push(1u64);
///     v.push(2);
/// });
/// assert_eq!(stats.allocations, 0);
/// assert_eq!(stats.reallocations, 1);
/// stats.assert_at_most_allocations(0);
/// # }
/// ```
#[track_caller]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    assert_installed();
    let mut scope = Scope::enter();
    let value = run_scoped(&mut scope, f);
    let stats = scope.exit();
    (value, stats)
}

/// Runs `f` and panics (after it returns, never inside the allocator) if it
/// allocated or reallocated, naming the function and `file:line` of the first
/// offending allocation and how many there were. Returns `f`'s value.
///
/// # Panics
/// As described, and as [`measure`] does.
///
/// # Examples
/// ```
/// use alloc_profiler::{forbid_alloc, Profiler};
/// use std::alloc::System;
///
/// #[global_allocator]
/// static ALLOC: Profiler<System> = Profiler::new(System);
///
/// # fn main() {
/// let data = [3u32, 1, 2];
/// let sum = forbid_alloc(|| data.iter().sum::<u32>());
/// assert_eq!(sum, 6);
/// # }
/// ```
#[track_caller]
pub fn forbid_alloc<R>(f: impl FnOnce() -> R) -> R {
    let (value, stats) = measure(f);
    let n = stats.allocations + stats.reallocations;
    if n > 0 {
        let first = stats.first_callsite().unwrap_or_else(|| "<unknown>".into());
        panic!(
            "{}",
            stats.report(&format!(
                "forbid_alloc: the closure allocated {n} time{} ({} allocations, {} reallocations); the first at {first}",
                if n == 1 { "" } else { "s" },
                stats.allocations,
                stats.reallocations
            ))
        );
    }
    value
}

/// Wraps a closure that will run on another thread so that what it allocates
/// there counts in the [`measure`] scope running on the calling thread now.
/// Outside a measured scope it returns `f` unchanged in effect.
///
/// Join the threads before the measured closure returns (as
/// `std::thread::scope` does): work a followed thread does after the scope
/// ended is not counted.
///
/// # Examples
/// ```
/// use alloc_profiler::{follow, measure, Profiler};
/// use std::alloc::System;
///
/// #[global_allocator]
/// static ALLOC: Profiler<System> = Profiler::new(System);
///
/// # fn main() {
/// let ((), stats) = measure(|| {
///     std::thread::scope(|s| {
///         s.spawn(follow(|| drop(std::hint::black_box(vec![0u8; 100]))));
///         s.spawn(follow(|| drop(std::hint::black_box(vec![0u8; 200]))));
///     });
/// });
/// // Both threads' vectors, plus what spawning threads allocates itself.
/// assert!(stats.bytes_allocated >= 300);
/// # }
/// ```
pub fn follow<R, F: FnOnce() -> R + Send>(f: F) -> impl FnOnce() -> R + Send {
    let sink = thread::with_state(|ts| {
        let scope = FOLLOW_TARGET.with(Cell::get)?;
        if ts.measure.depth.get() == 0 {
            return None;
        }
        // SAFETY: FOLLOW_TARGET points to the innermost `Scope` of this
        // thread, which lives on `measure`'s stack frame for as long as the
        // pointer is set (it is reset when the scope finishes), and `measure`
        // does not touch it while its closure runs.
        unsafe { (*scope).sink(ts) }
    })
    .flatten();
    move || match sink {
        None => f(),
        Some(sink) => run_followed(sink, f),
    }
}

fn run_followed<R>(sink: SinkRef, f: impl FnOnce() -> R) -> R {
    let Some(shared) = sink.get() else { return f() };
    let mut scope = Scope::enter();
    // This thread's net moves go to the shared sink as they happen.
    with_counters(|ts| ts.measure.sink.set(Arc::as_ptr(shared)));
    let value = run_scoped(&mut scope, f);
    let stats = scope.exit();
    // Its counts are added once, at the end.
    shared
        .allocations
        .fetch_add(stats.allocations, Ordering::Relaxed);
    shared
        .deallocations
        .fetch_add(stats.deallocations, Ordering::Relaxed);
    shared
        .reallocations
        .fetch_add(stats.reallocations, Ordering::Relaxed);
    shared
        .bytes_allocated
        .fetch_add(stats.bytes_allocated, Ordering::Relaxed);
    shared
        .bytes_deallocated
        .fetch_add(stats.bytes_deallocated, Ordering::Relaxed);
    value
}
