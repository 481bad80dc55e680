//! The profile file: serde types for the JSON document the profiler writes and
//! every report reads. `docs/format.md` documents each field; keep the two in step
//! and bump [`FORMAT_VERSION`] on any incompatible change.

use serde::{Deserialize, Serialize};

/// The value of [`Profile::format`]; identifies a file as an alloc-profiler profile.
pub const FORMAT_NAME: &str = "alloc-profiler";

/// The format version this crate writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole profile: what one session recorded, symbolized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The version of this layout, [`FORMAT_VERSION`] when written by this crate.
    pub format_version: u32,
    /// How and on what the profile was taken.
    pub meta: Meta,
    /// Session-wide counts and the global peak.
    pub totals: Totals,
    /// Frees and reallocations of blocks the session never saw allocated.
    #[serde(default)]
    pub untracked: Untracked,
    /// The profiler's own health: what it could not record.
    #[serde(default)]
    pub bookkeeping: Bookkeeping,
    /// Symbolized frames; stacks refer to them by index.
    pub frames: Vec<Frame>,
    /// Interned stacks; callsites and events refer to them by index.
    pub stacks: Vec<Stack>,
    /// Per-callsite figures, one entry per distinct stack that allocated.
    pub callsites: Vec<Callsite>,
    /// Size, alignment and lifetime histograms.
    pub histograms: Histograms,
    /// Live heap over time, bounded in length.
    #[serde(default)]
    pub timeline: Vec<HeapPoint>,
    /// The most recent events, from per-thread ring buffers.
    #[serde(default)]
    pub events: Events,
    /// The threads that allocated during the session.
    #[serde(default)]
    pub threads: Vec<ThreadInfo>,
}

/// How the profile was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The writer, e.g. `alloc-profiler 0.1.0`.
    pub tool: String,
    /// The profiled program's executable path.
    pub program: String,
    /// The program's command-line arguments, without the program itself.
    #[serde(default)]
    pub args: Vec<String>,
    /// Process id.
    pub pid: u32,
    /// Wall-clock start of the session, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Session length in nanoseconds (monotonic clock).
    pub duration_ns: u64,
    /// Exact or sampled.
    pub mode: Mode,
    /// How stacks were captured.
    pub capture: Capture,
    /// In a sampled profile whose callsite figures were calibrated against
    /// exact totals, what they were held against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// What a sampled profile's callsite estimates were calibrated against
/// (`alloc_core::calibrate`): exact totals by thread and call site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calibration {
    /// Strata (a thread's allocations from one call site) whose exact bytes
    /// were shared out among the callsites sampled in them.
    pub strata: u64,
    /// The bytes allocated in those strata.
    pub bytes: u64,
    /// Strata with samples left with the plain estimates: samples the
    /// session could not keep by callsite.
    pub strata_plain: u64,
}

/// Whether every event was recorded or a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mode {
    /// Every allocation event was recorded.
    Exact,
    /// Poisson byte sampling: on average one sample per `rate_bytes` allocated;
    /// callsite figures are unbiased estimates.
    Sampled {
        /// Mean bytes between samples.
        rate_bytes: u64,
    },
}

/// How stacks were captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// `frame_pointers` or `unwind`.
    pub method: String,
    /// Frames kept per stack at most; deeper stacks are cut at the root end.
    pub max_frames: u32,
    /// Why the method was chosen when it was not the one asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Session-wide counts. Allocations and reallocations are separate events: a
/// `realloc` is one reallocation, never an allocation plus a deallocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// `alloc` and `alloc_zeroed` calls that succeeded.
    pub allocations: u64,
    /// `realloc` calls that succeeded.
    pub reallocations: u64,
    /// `dealloc` calls of blocks allocated during the session.
    pub deallocations: u64,
    /// Bytes handed out: allocation sizes plus each reallocation's new size.
    pub bytes_allocated: u64,
    /// Bytes given back: deallocation sizes plus each reallocation's old size.
    pub bytes_deallocated: u64,
    /// Blocks live when the profile was written.
    pub live_blocks: u64,
    /// Bytes live when the profile was written.
    pub live_bytes: u64,
    /// The most bytes live at any moment of the session.
    pub peak_bytes: u64,
    /// Blocks live at that moment.
    pub peak_blocks: u64,
    /// When the peak was first reached, nanoseconds since the session started.
    pub peak_time_ns: u64,
    /// Allocation and reallocation calls the inner allocator refused
    /// (returned null); passed on to the caller and not otherwise counted.
    #[serde(default)]
    pub failures: u64,
}

/// Events on blocks the session did not see allocated (made before it started).
/// They are counted here, never as negatives in the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Untracked {
    /// Frees of such blocks.
    pub deallocations: u64,
    /// Their bytes.
    pub bytes_deallocated: u64,
    /// Reallocations of such blocks; the new block is tracked from then on.
    pub reallocations: u64,
}

/// What the profiler could not record. All zero in a healthy profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookkeeping {
    /// Blocks allocated in the session that the live table could not hold (the
    /// profiler's memory ran out or hit its limit). Counted in the totals, but
    /// their frees count as untracked and they cannot appear among leaks.
    pub untracked_blocks: u64,
    /// Bytes of those blocks.
    pub untracked_bytes: u64,
    /// Events whose stack could not be stored; they are attributed to a stack
    /// with the single frame `[stack not recorded]`.
    pub stacks_not_recorded: u64,
    /// Bytes of memory the profiler itself had mapped when it wrote the profile.
    pub profiler_bytes: u64,
    /// Events whose bookkeeping failed inside the profiler (a bug, caught so
    /// the program's allocation still succeeded); their figures may be missing.
    #[serde(default)]
    pub internal_errors: u64,
}

/// One symbolized frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frame {
    /// Demangled function name, with the hash suffix removed; `0x…` when unknown.
    pub function: String,
    /// Source file, when debug info has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Source line, when debug info has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Source column, when debug info has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// True when the compiler inlined this frame into its caller.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

/// An interned stack: frame indices, innermost (the allocating call) first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// Indices into [`Profile::frames`], innermost first.
    pub frames: Vec<u32>,
}

/// The figures of one callsite (one distinct stack). A block belongs to the
/// callsite of its latest allocation or reallocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callsite {
    /// Index into [`Profile::stacks`].
    pub stack: u32,
    /// Allocations (`alloc`, `alloc_zeroed`) made here.
    pub blocks: u64,
    /// Bytes handed out here: allocation sizes plus reallocation new sizes.
    pub bytes: u64,
    /// Reallocations made here.
    pub reallocs: u64,
    /// Blocks belonging here still live at the end (leaks).
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Blocks belonging here live at the moment of the global peak.
    pub peak_blocks: u64,
    /// Their bytes.
    pub peak_bytes: u64,
    /// The most bytes belonging here that were live at any one moment.
    pub max_live_bytes: u64,
    /// Blocks belonging here that were freed.
    pub freed_blocks: u64,
    /// Sum of their lifetimes (allocation to free), nanoseconds.
    pub lifetime_total_ns: u64,
    /// Shortest of those lifetimes (0 when none were freed).
    pub lifetime_min_ns: u64,
    /// Longest of those lifetimes.
    pub lifetime_max_ns: u64,
    /// In a sampled profile, the estimated variance of `bytes` (bytes²):
    /// the sum over the sampled events here of `w * (w - size)`, `w` being
    /// the event's weighted bytes. `None` in exact profiles and in sampled
    /// profiles written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_variance: Option<u64>,
    /// In a sampled profile, the estimated variance of `blocks`: the sum over
    /// the sampled allocations here of `n * (n - 1)`, `n` being the
    /// allocation's weight in blocks. `None` as for `bytes_variance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_variance: Option<u64>,
}

/// The session's histograms. Buckets with nothing in them are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histograms {
    /// Sizes of blocks handed out (allocations and reallocation results), in
    /// power-of-two buckets: `[0,0]`, `[1,1]`, `[2,3]`, `[4,7]`, …
    pub size: Vec<Bucket>,
    /// Alignments requested, one bucket per power of two (`lo == hi`).
    pub align: Vec<Bucket>,
    /// Lifetimes of freed blocks in nanoseconds, power-of-two buckets as for sizes.
    pub lifetime: Vec<Bucket>,
}

/// One histogram bucket; bounds are inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Smallest value in the bucket.
    pub lo: u64,
    /// Largest value in the bucket.
    pub hi: u64,
    /// Blocks that fell in it.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// One point of the heap-over-time series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapPoint {
    /// Nanoseconds since the session started.
    pub t_ns: u64,
    /// Bytes live at that moment.
    pub live_bytes: u64,
    /// Blocks live at that moment.
    pub live_blocks: u64,
    /// The most bytes live at any moment since the previous point.
    pub max_bytes: u64,
}

/// The recent event timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// Events each thread's ring holds at most.
    pub ring_capacity: u64,
    /// Events written to the rings in all.
    pub recorded: u64,
    /// Events overwritten before the profile was written (timeline detail lost;
    /// no count is affected).
    pub dropped: u64,
    /// The events kept, oldest first.
    pub items: Vec<Event>,
}

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `alloc`.
    Alloc,
    /// `alloc_zeroed`.
    AllocZeroed,
    /// `realloc`.
    Realloc,
    /// `dealloc`.
    Dealloc,
}

/// One allocator event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Nanoseconds since the session started.
    pub t_ns: u64,
    /// The thread, as [`ThreadInfo::id`].
    pub thread: u32,
    /// What happened.
    pub kind: EventKind,
    /// The block's size after the event (for a free: the size freed).
    pub size: u64,
    /// For a reallocation, the size before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    /// The alignment of the layout.
    pub align: u64,
    /// The callsite's stack: for a free, the stack the block belonged to;
    /// absent for frees of untracked blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<u32>,
    /// The block's address (after a reallocation, the new one).
    pub addr: u64,
}

/// A thread seen during the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// The id events use; 0 is the first thread that allocated in the session.
    pub id: u32,
    /// The OS thread name when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
