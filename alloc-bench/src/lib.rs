//! The overhead benchmark of issue 5: one allocation-heavy workload, run under
//! plain `System`, the idle profiler wrapper, an exact session, dhat-rs and
//! heaptrack, with the ratios between them.
//!
//! # Running it
//!
//! ```sh
//! cargo run --release -p alloc-bench --bin bench-overhead            # everything, 5 rounds
//! cargo run --release -p alloc-bench --bin bench-overhead -- --help  # sections, rounds, scale
//! ```
//!
//! The driver builds and runs one binary per variant, because each needs its
//! own `#[global_allocator]`:
//!
//! | binary | allocator | what it times |
//! |---|---|---|
//! | `bench-system` | `System` | the workload |
//! | `bench-profiler idle` | `Profiler<System>`, no session | the workload |
//! | `bench-profiler exact` | `Profiler<System>`, an exact session | the workload, and writing the profile apart |
//! | `bench-profiler sampled` | `Profiler<System>`, a sampling session (512 KiB) | the same |
//! | `bench-dhat` | `dhat::Alloc` with `dhat::Profiler::new_heap()`'s settings | the workload, and writing `dhat-heap.json` apart |
//!
//! Each prints one JSON line on stdout (a [`Line`]); everything else goes to
//! stderr. `docs/performance.md` has the figures and how they were taken.
//!
//! # The workload
//!
//! [`Workload::Full`] is what the issue describes, about 20 million allocation
//! events in about 2 seconds under glibc malloc at scale 1 on the reference
//! machine: one [`mix`] on the main thread, then the same mix on two threads at
//! once. A mix is
//!
//! - small-object churn: boxes, short vectors and growing strings (so also
//!   reallocations) made 5 to 10 helper calls deep, each kept in a window of
//!   recent objects so that blocks die out of order;
//! - building and dropping `BTreeMap`s with small vector values;
//! - parsing a JSON document of about 20 MB (generated deterministically by
//!   [`json_document`], before the timed part) into a `serde_json::Value`,
//!   walking it and dropping it.
//!
//! Everything is seeded: every variant does exactly the same work.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

mod args;
mod line;

pub use args::{Args, Mode, SAMPLE_RATE, USAGE};
pub use line::{Line, ProfileFacts};

/// Which work to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    /// The benchmark: one mix on the main thread, then one mix on each of two
    /// threads at once. `scale` 1.0 is about 20M events.
    Full {
        /// Multiplies every count and the document's size.
        scale: f64,
    },
    /// One mix on each of `threads` threads at once (for scaling: the work
    /// per thread is the same whatever the number of threads).
    Mix {
        /// Multiplies every count and the document's size.
        scale: f64,
        /// Threads running a mix each.
        threads: usize,
    },
    /// `n` allocations and frees of small boxes from a fixed-depth stack: the
    /// hot path alone, for Callgrind. Makes exactly `2 * n` events.
    Micro {
        /// Allocations (each freed later).
        n: u64,
    },
    /// Allocates `n` small blocks and holds them, for the memory the
    /// profiler spends per live block.
    Live {
        /// Blocks held.
        n: u64,
    },
}

impl Workload {
    /// The name used on the command line and in [`Line::workload`].
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Full { .. } => "full",
            Self::Mix { .. } => "mix",
            Self::Micro { .. } => "micro",
            Self::Live { .. } => "live",
        }
    }
}

/// What the workload needs prepared before it is timed: the JSON document.
#[derive(Debug, Default)]
pub struct Input {
    /// The document the mixes parse (empty for the micro and live workloads).
    pub json: String,
}

/// Bytes of JSON in the document at scale 1.
pub const JSON_BYTES_AT_SCALE_1: usize = 20 << 20;

/// Prepares `workload`'s input (untimed; made before any session starts).
#[must_use]
pub fn prepare(workload: &Workload) -> Input {
    match *workload {
        Workload::Full { scale } | Workload::Mix { scale, .. } => Input {
            json: json_document(scaled(JSON_BYTES_AT_SCALE_1 as u64, scale) as usize),
        },
        Workload::Micro { .. } | Workload::Live { .. } => Input::default(),
    }
}

/// Runs the timed part of `workload` and returns its wall time in nanoseconds.
/// [`Workload::Live`] runs `while_held` while its blocks are held; the other
/// workloads never call it. The blocks are freed before this returns.
pub fn run(workload: &Workload, input: &Input, while_held: impl FnOnce()) -> u64 {
    let start = Instant::now();
    match *workload {
        Workload::Full { scale } => {
            mix(scale, input, 1);
            on_threads(2, |t| mix(scale, input, 2 + t as u64));
        }
        Workload::Mix { scale, threads } => {
            on_threads(threads, |t| mix(scale, input, 1 + t as u64))
        }
        Workload::Micro { n } => micro(n),
        Workload::Live { n } => {
            let held = hold(n);
            while_held();
            drop(black_box(held));
        }
    }
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `f(0..threads)` on that many threads at once (on the calling thread
/// alone when `threads` is 1).
fn on_threads(threads: usize, f: impl Fn(usize) + Sync) {
    if threads <= 1 {
        f(0);
        return;
    }
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || f(t));
        }
    });
}

fn scaled(count: u64, scale: f64) -> u64 {
    // Rounding a non-negative float to a count: the cast saturates.
    ((count as f64) * scale).round().max(1.0) as u64
}

/// A small deterministic generator (xorshift64*): the same seed makes the same
/// work under every variant.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Churn iterations per mix at scale 1.
pub const CHURN_ITERS: u64 = 400_000;
/// `BTreeMap` rounds per mix at scale 1, and entries per map.
pub const BTREE_ROUNDS: u64 = 20;
/// Entries in each map.
pub const BTREE_ENTRIES: u64 = 25_000;
/// Lookups per entry in each map (half of them hits).
pub const BTREE_LOOKUPS: u64 = 2;

/// One mix: churn, `BTreeMap`s, then parsing `input.json`; `seed` varies the
/// churn and the maps between threads.
pub fn mix(scale: f64, input: &Input, seed: u64) {
    churn(scaled(CHURN_ITERS, scale), seed);
    // Full-size maps from scale 1/BTREE_ROUNDS up; smaller ones below it.
    let entries = scaled(BTREE_ENTRIES, (scale * BTREE_ROUNDS as f64).min(1.0));
    for round in 0..scaled(BTREE_ROUNDS, scale) {
        btree(entries, seed * 1000 + round);
    }
    if !input.json.is_empty() {
        parse_json(&input.json);
    }
}

// ---------------------------------------------------------------------------
// Small-object churn at 5 to 10 calls of depth.

/// One object of the churn window.
enum Obj {
    Boxed(#[allow(dead_code)] Box<[u64; 4]>),
    List(#[allow(dead_code)] Vec<u32>),
    Text(#[allow(dead_code)] String),
}

impl Obj {
    fn first(&self) -> u64 {
        match self {
            Self::Boxed(b) => b[0],
            Self::List(v) => v.first().copied().map_or(0, u64::from),
            Self::Text(s) => s.len() as u64,
        }
    }
}

const WINDOW: usize = 512;

/// Rounds of arithmetic per churn object (see [`busy_work`]).
pub const WORK_ROUNDS: u32 = 384;

/// The work a program does with its objects between allocations: a chain of
/// `rounds` multiply-xorshift steps (about 4 cycles each). It gives the mix
/// the allocation density of the issue's workload, about 10M events a second
/// under glibc malloc, instead of a bare allocation loop's.
#[inline(never)]
#[must_use]
pub fn busy_work(mut h: u64, rounds: u32) -> u64 {
    for _ in 0..rounds {
        h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    black_box(h)
}

/// The churn's state: a window of recent objects; each new object replaces the
/// one in a pseudo-random slot, so blocks are freed out of allocation order.
struct Churn {
    window: Vec<Option<Obj>>,
    rng: Rng,
    checksum: u64,
}

impl Churn {
    #[inline]
    fn put(&mut self, o: Obj) {
        self.checksum = busy_work(self.checksum ^ o.first(), WORK_ROUNDS);
        let slot = self.rng.below(WINDOW as u64) as usize;
        if let Some(s) = self.window.get_mut(slot) {
            *s = Some(o);
        }
    }
}

/// `n` churn iterations, each entered at a depth of 5 to 10 helper frames
/// through one of three chains.
#[inline(never)]
fn churn(n: u64, seed: u64) {
    let mut st = Churn {
        window: (0..WINDOW).map(|_| None).collect(),
        rng: Rng::new(seed),
        checksum: 0,
    };
    for i in 0..n {
        let depth = 5 + (i % 6) as u32;
        match i % 3 {
            0 => level_a(depth, &mut st),
            1 => level_b(depth, &mut st),
            _ => level_c(depth, &mut st),
        }
    }
    drop(black_box(st));
}

// Three helpers calling each other in a cycle: `depth` frames of them sit
// between `churn` and the leaf, and the paths differ by where they start, so
// the workload has a few hundred distinct stacks, like a real program's hot
// paths. `black_box` after the call keeps them from becoming tail calls.

#[inline(never)]
fn level_a(depth: u32, st: &mut Churn) {
    if depth <= 1 {
        leaf_small(st);
    } else {
        level_b(depth - 1, st);
    }
    black_box(depth);
}

#[inline(never)]
fn level_b(depth: u32, st: &mut Churn) {
    if depth <= 1 {
        leaf_text(st);
    } else {
        level_c(depth - 1, st);
    }
    black_box(depth);
}

#[inline(never)]
fn level_c(depth: u32, st: &mut Churn) {
    if depth <= 1 {
        leaf_small(st);
        leaf_text(st);
    } else {
        level_a(depth - 1, st);
    }
    black_box(depth);
}

/// A box and a short vector.
#[inline(never)]
fn leaf_small(st: &mut Churn) {
    let x = st.rng.next_u64();
    st.put(Obj::Boxed(Box::new(black_box([x, x ^ 1, x ^ 2, x ^ 3]))));
    let len = 1 + (x % 24) as u32;
    st.put(Obj::List(black_box((0..len).collect())));
}

/// A string grown by appending (one allocation, then up to two reallocations).
#[inline(never)]
fn leaf_text(st: &mut Churn) {
    let parts = 1 + st.rng.below(4);
    let mut s = String::new();
    for _ in 0..parts {
        s.push_str(black_box("abcdefghij"));
    }
    st.put(Obj::Text(s));
}

// ---------------------------------------------------------------------------
// BTreeMap build and drop.

/// Builds a map of `entries` pseudo-random keys to small vectors, looks some
/// up, and drops it.
#[inline(never)]
fn btree(entries: u64, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut map = BTreeMap::new();
    for _ in 0..entries {
        let k = rng.next_u64();
        map.insert(k, vec![k as u8; 1 + (k % 16) as usize]);
    }
    let mut hits = 0u64;
    let (mut probe, mut miss) = (Rng::new(seed), Rng::new(!seed));
    for i in 0..entries * BTREE_LOOKUPS {
        if i % entries == 0 {
            probe = Rng::new(seed);
        }
        hits += u64::from(map.contains_key(&probe.next_u64()));
        hits += u64::from(map.contains_key(&miss.next_u64()));
    }
    black_box(hits);
    drop(black_box(map));
}

// ---------------------------------------------------------------------------
// JSON.

/// A deterministic JSON document of about `bytes` bytes: an array of user-like
/// records with strings, numbers, nested objects and arrays.
#[must_use]
pub fn json_document(bytes: usize) -> String {
    use std::fmt::Write as _;
    let mut rng = Rng::new(42);
    let mut s = String::with_capacity(bytes + 1024);
    s.push('[');
    let mut i = 0u64;
    while s.len() < bytes {
        if i > 0 {
            s.push(',');
        }
        let tags = 1 + rng.below(4);
        let history = rng.below(12);
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            r#"{{"id":{i},"name":"user-{i}","email":"user{i}@example.org","active":{},"score":{}.{},"tags":["#,
            rng.below(2) == 0,
            rng.below(1000),
            rng.below(100),
        );
        for t in 0..tags {
            let _ = write!(
                s,
                "{}\"tag-{}\"",
                if t > 0 { "," } else { "" },
                rng.below(50)
            );
        }
        let _ = write!(
            s,
            r#"],"address":{{"street":"{} Main Street","city":"City {}","zip":"{:05}"}},"history":["#,
            rng.below(999),
            rng.below(300),
            rng.below(100_000),
        );
        for h in 0..history {
            let _ = write!(
                s,
                "{}{}",
                if h > 0 { "," } else { "" },
                rng.below(1_000_000)
            );
        }
        s.push_str("]}");
        i += 1;
    }
    s.push(']');
    s
}

/// Parses the document into a `Value`, walks it and drops it.
#[inline(never)]
fn parse_json(doc: &str) {
    let value: serde_json::Value = match serde_json::from_str(doc) {
        Ok(v) => v,
        Err(e) => {
            // The document is generated above: failing to parse it is a bug.
            eprintln!("alloc-bench: the generated JSON does not parse: {e}");
            std::process::exit(2);
        }
    };
    black_box(walk(&value));
    // Writing it back out: one growing string.
    let out = serde_json::to_string(&value).unwrap_or_default();
    black_box(out.len());
    drop(black_box(value));
}

/// Sums something from every node, so the parse cannot be skipped.
fn walk(v: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match v {
        Value::Null => 0,
        Value::Bool(b) => u64::from(*b),
        Value::Number(n) => n.as_u64().unwrap_or(1),
        Value::String(s) => s.len() as u64,
        Value::Array(a) => a.iter().map(walk).sum(),
        Value::Object(o) => o.iter().map(|(k, v)| k.len() as u64 + walk(v)).sum(),
    }
}

// ---------------------------------------------------------------------------
// Micro and live.

/// Allocations in flight in the micro workload.
const MICRO_WINDOW: usize = 64;

/// `n` allocations of a small box, each freed `MICRO_WINDOW` allocations
/// later, all from the same stack 8 helper frames deep: `2 * n` events.
#[inline(never)]
pub fn micro(n: u64) {
    let mut window: [Option<Box<[u64; 2]>>; MICRO_WINDOW] = [const { None }; MICRO_WINDOW];
    hot_depth(8, n, &mut window);
    // Free what is still held so the count is exactly 2 * n.
    for slot in &mut window {
        drop(black_box(slot.take()));
    }
}

#[inline(never)]
fn hot_depth(depth: u32, n: u64, window: &mut [Option<Box<[u64; 2]>>; MICRO_WINDOW]) {
    if depth == 0 {
        hot_loop(n, window);
    } else {
        hot_depth(depth - 1, n, window);
    }
    black_box(depth);
}

#[inline(never)]
fn hot_loop(n: u64, window: &mut [Option<Box<[u64; 2]>>; MICRO_WINDOW]) {
    for i in 0..n {
        let b = Box::new(black_box([i, !i]));
        if let Some(slot) = window.get_mut(i as usize % MICRO_WINDOW) {
            // Replacing the slot frees the box made MICRO_WINDOW iterations ago.
            drop(black_box(slot.replace(b)));
        }
    }
}

/// `n` live 16-byte blocks from four callsites.
#[inline(never)]
#[allow(
    clippy::vec_box,
    reason = "each box is one of the live blocks measured"
)]
fn hold(n: u64) -> Vec<Box<[u64; 2]>> {
    let mut v = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for i in 0..n {
        let b = match i % 4 {
            0 => Box::new([i, 0]),
            1 => Box::new([i, 1]),
            2 => Box::new([i, 2]),
            _ => Box::new([i, 3]),
        };
        v.push(black_box(b));
    }
    v
}

/// The process's resident set size in bytes (`VmRSS`), 0 when unknown.
#[must_use]
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
