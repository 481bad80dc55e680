//! Sessions: starting the full recording, and writing the profile.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use alloc_core::format::Totals;

use crate::capture::{self, CaptureMethod, MAX_FRAMES};
use crate::dump::{self, SessionInfo, WriteFailure};
use crate::recorder::{
    BUSY, GENERATION, MAX_FRAMES_CFG, OFF, ON, RING_CAP, START_NS, STATE, UNINIT,
};
use crate::spin::SpinMutex;
use crate::{heap, live_table, os_mem, stack_table, thread};

/// Why a session could not start or its profile could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Another session is running (one at a time per process).
    AlreadyRunning {
        /// Where that session writes its profile.
        output: Option<PathBuf>,
    },
    /// `Profiler` is not the program's `#[global_allocator]`, so nothing
    /// would be recorded.
    NotInstalled,
    /// The profile could not be written; the program carries on.
    Write {
        /// The profile's path.
        path: PathBuf,
        /// What was being done: `create`, `write`, `sync` or `rename`.
        stage: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The session was already finished, or the profile is being written from
    /// inside the allocator.
    NotRunning,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyRunning { output: Some(p) } => write!(
                f,
                "a profiling session is already running (writing {}); only one runs at a time",
                p.display()
            ),
            Self::AlreadyRunning { output: None } => {
                write!(
                    f,
                    "a profiling session is already running; only one runs at a time"
                )
            }
            Self::NotInstalled => f.write_str(crate::NOT_INSTALLED),
            Self::Write {
                path,
                stage,
                source,
            } => {
                write!(
                    f,
                    "cannot write profile {}: {stage} failed: {source}",
                    path.display()
                )
            }
            Self::NotRunning => f.write_str("no profiling session is running"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What was written when a session finished.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Summary {
    /// Where the profile is.
    pub path: PathBuf,
    /// The session's totals, as in the profile.
    pub totals: Totals,
    /// Distinct callsites in the profile.
    pub callsites: usize,
    /// Callsites with blocks still live at the end.
    pub leaking_callsites: usize,
    /// Events the per-thread rings dropped (timeline detail only).
    pub events_dropped: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        write!(
            f,
            "wrote {}: {} allocations, {} reallocations, {} bytes at peak, {} blocks ({} bytes) live at the end from {} callsites",
            self.path.display(),
            t.allocations,
            t.reallocations,
            t.peak_bytes,
            t.live_blocks,
            t.live_bytes,
            self.leaking_callsites,
        )
    }
}

/// Settings of a session; see [`Session::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct SessionBuilder {
    output: PathBuf,
    ring_capacity: usize,
    max_frames: usize,
    capture: CaptureMethod,
    memory_limit: Option<u64>,
    sample_rate: Option<u64>,
    sample_seed: u64,
    block_headers: bool,
    calibrate: bool,
    quiet: bool,
}

impl Default for SessionBuilder {
    fn default() -> Self {
        Self {
            output: PathBuf::from("alloc-profile.json"),
            ring_capacity: 16 * 1024,
            max_frames: 64,
            capture: CaptureMethod::Auto,
            memory_limit: None,
            sample_rate: None,
            sample_seed: 0,
            block_headers: true,
            calibrate: true,
            quiet: false,
        }
    }
}

impl SessionBuilder {
    /// Where to write the profile (default `alloc-profile.json`).
    pub fn output(mut self, path: impl Into<PathBuf>) -> Self {
        self.output = path.into();
        self
    }

    /// Events each thread's ring keeps for the timeline (default 16,384;
    /// 0 keeps none). Counts never depend on it.
    pub fn ring_capacity(mut self, events: usize) -> Self {
        self.ring_capacity = events;
        self
    }

    /// Frames kept per stack, 1 to 128 (default 64); deeper stacks lose their
    /// root-most frames.
    pub fn max_frames(mut self, frames: usize) -> Self {
        self.max_frames = frames.clamp(1, MAX_FRAMES);
        self
    }

    /// How to capture stacks (default [`CaptureMethod::Auto`]).
    pub fn capture(mut self, method: CaptureMethod) -> Self {
        self.capture = method;
        self
    }

    /// The most memory the profiler may map for its tables. Past it, blocks
    /// and stacks go untracked (counted in the profile's `bookkeeping`) while
    /// the program carries on. A session with a limit keeps every block in its
    /// tables, never in [block headers](Self::block_headers), whose memory
    /// comes from the program's allocator.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Samples instead of recording every event: Poisson byte sampling with
    /// a mean of one sample per `mean_bytes` allocated (jemalloc and tcmalloc
    /// use 512 KiB). Per-callsite figures become unbiased estimates (each
    /// sampled block of `size` bytes counts for `size / (1 - exp(-size /
    /// mean_bytes))` bytes), the cost drops to a counter decrement for most
    /// allocations, and the profile's `meta.mode` says it is sampled and at
    /// what rate. `0` means exact.
    pub fn sampling(mut self, mean_bytes: u64) -> Self {
        self.sample_rate = (mean_bytes > 0).then_some(mean_bytes);
        self
    }

    /// Seeds the sampler's random intervals (default 0). A program that does
    /// the same work gets the same samples with the same seed, and
    /// independent ones with another: run a sampled profile under a few
    /// seeds to see how much of a callsite's estimate is chance (its relative
    /// standard deviation is about `1 / sqrt(bytes / mean_bytes)`).
    ///
    /// ```no_run
    /// # use alloc_profiler::Session;
    /// let session = Session::builder()
    ///     .sampling(512 * 1024)
    ///     .sampling_seed(7)
    ///     .start();
    /// # drop(session);
    /// ```
    pub fn sampling_seed(mut self, seed: u64) -> Self {
        self.sample_seed = seed;
        self
    }

    /// Whether a sampling session calibrates its estimates (default true).
    /// The session then also counts every allocation's bytes exactly by
    /// thread and call site (the stack pointer and innermost return
    /// addresses), and the profile shares each of those totals out among
    /// the callsites sampled in it, in proportion to their samples there
    /// (post-stratification, `alloc_core::calibrate`). A callsite alone in
    /// its site then comes out exact, as the benchmark's top callsites of
    /// `docs/performance.md` all do.
    /// Off, each figure is the plain sum of its samples' weights: unbiased,
    /// and independent of what other callsites drew. Exact sessions ignore
    /// it.
    ///
    /// ```no_run
    /// # use alloc_profiler::Session;
    /// let session = Session::builder()
    ///     .sampling(512 * 1024)
    ///     .calibrate(false)
    ///     .start();
    /// # drop(session);
    /// ```
    pub fn calibrate(mut self, on: bool) -> Self {
        self.calibrate = on;
        self
    }

    /// Whether an exact session may put its bookkeeping in a header in front
    /// of each block (default true). A block allocated during an exact
    /// session, with an alignment of 16 bytes or less, then takes 16 bytes
    /// more from the wrapped allocator, and a free finds what the profiler
    /// knows of it next to it rather than in a table of the profiler's own:
    /// the session takes about a quarter less time (`docs/performance.md`).
    /// Sampling sessions and sessions with a [memory
    /// limit](Self::memory_limit) keep their blocks in the table.
    ///
    /// Turn it off for programs that hand blocks allocated in Rust to C's
    /// `free` (undefined behaviour, which a header turns into a crash), or to
    /// have the wrapped allocator see exactly the program's sizes and
    /// alignments (a headed block asks it for 16 bytes more, aligned to 16).
    /// `ALLOC_PROFILER_HEADERS=0` turns it off for the environment session.
    ///
    /// ```no_run
    /// # use alloc_profiler::Session;
    /// let session = Session::builder().block_headers(false).start();
    /// # drop(session);
    /// ```
    pub fn block_headers(mut self, on: bool) -> Self {
        self.block_headers = on;
        self
    }

    /// Do not print the one-line summary to stderr when the profile is written.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Starts the session.
    ///
    /// # Errors
    /// [`Error::AlreadyRunning`] when a session runs, [`Error::NotInstalled`]
    /// when `Profiler` is not the global allocator.
    pub fn try_start(self) -> Result<Session, Error> {
        if !crate::is_installed() {
            return Err(Error::NotInstalled);
        }
        let config = Config {
            ring_capacity: self.ring_capacity,
            max_frames: self.max_frames,
            capture: self.capture,
            memory_limit: self.memory_limit,
            sample_rate: self.sample_rate,
            sample_seed: self.sample_seed,
            block_headers: self.block_headers,
            calibrate: self.calibrate,
        };
        match thread::enter(|_| begin(&config)) {
            Some(Ok(())) => {}
            Some(Err(())) => {
                return Err(Error::AlreadyRunning {
                    output: crate::env_session::output(),
                });
            }
            None => return Err(Error::NotRunning),
        }
        Ok(Session {
            output: self.output,
            quiet: self.quiet,
            finished: false,
        })
    }

    /// Starts the session.
    ///
    /// # Panics
    /// When [`try_start`](Self::try_start) fails: another session is running
    /// or `Profiler` is not the global allocator.
    pub fn start(self) -> Session {
        match self.try_start() {
            Ok(s) => s,
            Err(e) => panic!("alloc-profiler: {e}"),
        }
    }
}

/// A running profiling session: every allocation event is recorded until it
/// finishes. Dropping it finishes it too (printing any error to stderr).
///
/// ```no_run
/// use alloc_profiler::Session;
/// let session = Session::builder().output("alloc-profile.json").start();
/// let v: Vec<u64> = (0..1000).collect();
/// drop(v);
/// session.finish().unwrap();
/// ```
#[derive(Debug)]
#[must_use = "a session records until it is finished or dropped"]
pub struct Session {
    output: PathBuf,
    quiet: bool,
    finished: bool,
}

impl Session {
    /// Settings for a new session.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// Where the profile will be written.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Writes a profile of the session so far to `path` without ending it.
    /// Other threads may keep allocating; the profile is a consistent snapshot.
    ///
    /// # Errors
    /// [`Error::Write`] naming the path; the session keeps running.
    pub fn snapshot(&self, path: impl AsRef<Path>) -> Result<Summary, Error> {
        write_profile(path.as_ref(), false)
    }

    /// Ends the session and writes its profile.
    ///
    /// # Errors
    /// [`Error::Write`] naming the path when the profile cannot be written
    /// (the session ends all the same and the program carries on).
    pub fn finish(mut self) -> Result<Summary, Error> {
        self.finished = true;
        let r = write_profile(&self.output, true);
        if let (Ok(s), false) = (&r, self.quiet) {
            eprintln!("alloc-profiler: {s}");
        }
        r
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        match write_profile(&self.output, true) {
            Ok(s) if !self.quiet => eprintln!("alloc-profiler: {s}"),
            Ok(_) => {}
            Err(e) => eprintln!("alloc-profiler: {e}"),
        }
    }
}

/// Settings applied when a session begins.
pub(crate) struct Config {
    pub ring_capacity: usize,
    pub max_frames: usize,
    pub capture: CaptureMethod,
    pub memory_limit: Option<u64>,
    pub sample_rate: Option<u64>,
    /// The sampler's seed.
    pub sample_seed: u64,
    /// Whether an exact session puts headers in front of blocks.
    pub block_headers: bool,
    /// Whether a sampling session calibrates its estimates.
    pub calibrate: bool,
}

static INFO: SpinMutex<Option<SessionInfo>> = SpinMutex::new(None);

/// The session-info lock, for `fork.rs`.
pub(crate) fn fork_locks(f: &mut dyn FnMut(&'static crate::spin::RawSpin)) {
    // SAFETY: locked and unlocked in pairs by `fork.rs` only.
    f(unsafe { INFO.raw() });
}

/// Begins a session: claims the state, resets the tables, turns recording on.
/// Must run inside the reentrancy guard. `Err` when a session runs.
pub(crate) fn begin(config: &Config) -> Result<(), ()> {
    loop {
        let s = STATE.load(Ordering::Acquire);
        if s == ON || s == BUSY {
            return Err(());
        }
        if STATE
            .compare_exchange(s, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            break;
        }
    }
    crate::fork::register();
    crate::biased::register();
    // Every record's lock, as a snapshot takes them: no thread is inside an
    // event's bookkeeping (interning a stack, say) while the tables reset.
    let (mut clock, records) = heap::lock_all();
    os_mem::set_limit(config.memory_limit.unwrap_or(u64::MAX));
    RING_CAP.store(config.ring_capacity, Ordering::Relaxed);
    MAX_FRAMES_CFG.store(config.max_frames.clamp(1, MAX_FRAMES), Ordering::Relaxed);
    heap::reset(&mut clock);
    crate::sampling::reset();
    crate::sampling::RATE.store(config.sample_rate.unwrap_or(0), Ordering::Relaxed);
    crate::sampling::SEED.store(config.sample_seed, Ordering::Relaxed);
    crate::strata::ENABLED.store(config.calibrate, Ordering::Relaxed);
    // Headers take their memory from the program's allocator, which a memory
    // limit on the profiler's own tables cannot bound.
    let headers =
        config.block_headers && config.sample_rate.is_none() && config.memory_limit.is_none();
    if headers {
        crate::header::in_use();
    }
    crate::recorder::HEADERS.store(headers, Ordering::Relaxed);
    crate::recorder::reset_internal_errors();
    live_table::clear();
    stack_table::reset();
    let (method, note) = capture::choose(config.capture);
    *INFO.lock() = Some(SessionInfo {
        started_unix_ms: crate::clock::unix_ms(),
        capture: method,
        capture_note: note,
        max_frames: config.max_frames as u32,
        sample_rate: config.sample_rate.unwrap_or(0),
        counters_at_start: crate::counters::read(),
    });
    crate::clock::calibrate();
    GENERATION.fetch_add(1, Ordering::Relaxed);
    START_NS.store(crate::clock::now_ns(), Ordering::Relaxed);
    STATE.store(ON, Ordering::Release);
    // Each record's bias waits for its thread's next event (a record that
    // was shared last session may be its thread's alone now).
    records.release_unbiased();
    Ok(())
}

/// Writes the running session's profile (ending it when `stop`).
pub(crate) fn write_profile(path: &Path, stop: bool) -> Result<Summary, Error> {
    let outcome = thread::enter(|_| write_inside(path, stop)).unwrap_or(Err(None));
    // Back outside the guard: what we hand the caller is allocated normally.
    outcome_to_result(path, outcome)
}

/// [`write_profile`] for a caller already inside the reentrancy guard (the
/// exit handler); the result's allocations are the profiler's own.
pub(crate) fn write_profile_guarded(path: &Path, stop: bool) -> Result<Summary, Error> {
    outcome_to_result(path, write_inside(path, stop))
}

fn write_inside(path: &Path, stop: bool) -> Result<dump::Written, Option<WriteFailure>> {
    if STATE.load(Ordering::Acquire) != ON {
        return Err(None);
    }
    let info = (*INFO.lock()).ok_or(None)?;
    let r = dump::write(path, stop, &info).map_err(Some);
    if stop {
        // Also when writing failed: the session is over either way.
        STATE.store(OFF, Ordering::Release);
    }
    r
}

fn outcome_to_result(
    path: &Path,
    outcome: Result<dump::Written, Option<WriteFailure>>,
) -> Result<Summary, Error> {
    match outcome {
        Ok(w) => Ok(Summary {
            path: path.to_path_buf(),
            totals: w.totals,
            callsites: w.callsites,
            leaking_callsites: w.leaking_callsites,
            events_dropped: w.events_dropped,
        }),
        Err(Some(f)) => Err(Error::Write {
            path: path.to_path_buf(),
            stage: f.stage,
            source: f
                .os
                .map_or_else(|| io::Error::from(f.kind), io::Error::from_raw_os_error),
        }),
        Err(None) => Err(Error::NotRunning),
    }
}

/// Marks the environment as looked at with no session to start.
pub(crate) fn env_checked_nothing() {
    let _ = STATE.compare_exchange(UNINIT, OFF, Ordering::AcqRel, Ordering::Relaxed);
}
