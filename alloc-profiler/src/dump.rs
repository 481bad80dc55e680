//! Writing a profile: a consistent snapshot taken while every thread's record
//! is locked (so no event is half-done), then symbolization and JSON writing
//! with no lock held, to a temporary file renamed into place.
//!
//! Everything here runs inside the reentrancy guard: its allocations go
//! straight to the inner allocator, unrecorded, and are freed before it ends.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use alloc_core::format::{
    Bookkeeping, Callsite, Capture, Event, EventKind, Events, FORMAT_NAME, FORMAT_VERSION, Frame,
    HeapPoint, Histograms, Meta, Mode, Profile, Stack, ThreadInfo, Totals, Untracked,
};
use alloc_core::histogram::{ALIGN_BUCKETS, Bucketing, LOG2_BUCKETS, buckets_from_counts};

use crate::figures::Figures;
use crate::heap::{Heap, Point};
use crate::record::{self, Hist, Kind, RawEvent};
use crate::recorder::{self, GENERATION, OFF, STATE};
use crate::stack_table::{self, UNRECORDED};
use crate::symbolize::{self, FastMap, FrameKind, Symbolizer};

/// What the session settled at start, needed to describe it.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    /// Wall-clock start.
    pub started_unix_ms: u64,
    /// Capture method name.
    pub capture: &'static str,
    /// Why the capture method differs from the one asked for.
    pub capture_note: Option<&'static str>,
    /// Frames kept per stack.
    pub max_frames: u32,
    /// Mean bytes between samples; 0 for an exact session.
    pub sample_rate: u64,
    /// The global counters when the session began (a sampled profile's
    /// event counts are exact: the counters' growth).
    pub counters_at_start: crate::counters::GlobalStats,
}

struct RawCallsite {
    frames: Vec<usize>,
    agg: Callsite,
}

/// Everything copied out under the locks.
struct Snapshot {
    heap: Box<Heap>,
    now_ns: u64,
    callsites: Vec<RawCallsite>,
    sizes: Hist<LOG2_BUCKETS>,
    aligns: Hist<ALIGN_BUCKETS>,
    lifetimes: Hist<LOG2_BUCKETS>,
    events: Vec<RawEvent>,
    recorded: u64,
    dropped: u64,
    threads: Vec<ThreadInfo>,
    not_recorded: u64,
    ring_capacity: u64,
    /// What a calibrated sampling session's estimates were held against.
    calibration: Option<alloc_core::format::Calibration>,
}

/// Copies the session's state; with `stop`, the session ends at that instant.
fn snapshot(stop: bool) -> Snapshot {
    let generation = GENERATION.load(Ordering::Relaxed);
    // Every record's lock, in pool order: no thread is inside an event's
    // bookkeeping once we hold them all.
    let (mut clock, mut all) = crate::heap::lock_all();
    let now_ns = crate::clock::now_ns().saturating_sub(recorder::START_NS.load(Ordering::Relaxed));
    let n = stack_table::count();
    let mut heap = Box::new(Heap::collect(&mut clock, &mut all, generation, n, now_ns));
    let records: Vec<&record::Record> = all.iter().collect();
    // Never earlier than an event already stamped (clocks read on different
    // CPUs may disagree by a little).
    let now_ns = now_ns.max(heap.last_t_ns);
    // Each callsite's figures are spread over the records whose threads
    // touched it: add them up. The clock knows each one's live bytes, their
    // maximum and its blocks live at the peak.
    let mut figures = vec![Figures::default(); n as usize];
    for r in records.iter().filter(|r| r.is_current(generation)) {
        r.callsites.for_each(n, |id, f| {
            if let Some(sum) = figures.get_mut(id as usize) {
                sum.add(f);
            }
        });
    }
    let mut callsites = Vec::with_capacity(n as usize);
    for (id, a) in (0..n).zip(&figures) {
        let Some(e) = stack_table::entry(id) else {
            callsites.push(RawCallsite {
                frames: Vec::new(),
                agg: Callsite::default(),
            });
            continue;
        };
        let (live_bytes, max_live_bytes, peak_blocks, peak_bytes) =
            heap.sites.get(id as usize).copied().unwrap_or_default();
        // A sampling session's variances (0 in an exact one, whose profile
        // `build` leaves them out of).
        let (bytes_var, blocks_var) = e.variances();
        callsites.push(RawCallsite {
            frames: e.frames().to_vec(),
            agg: Callsite {
                stack: id,
                blocks: a.blocks,
                bytes: a.bytes,
                reallocs: a.reallocs,
                live_blocks: a.live_blocks,
                live_bytes,
                peak_blocks,
                peak_bytes,
                max_live_bytes,
                freed_blocks: a.freed_blocks,
                lifetime_total_ns: a.lifetime_total_ns,
                lifetime_min_ns: a.lifetime_min_ns().unwrap_or(0),
                lifetime_max_ns: a.lifetime_max_ns,
                bytes_variance: Some(bytes_var),
                blocks_variance: Some(blocks_var),
            },
        });
    }
    // Every block live at the peak belongs to exactly one callsite.
    heap.peak_blocks = callsites
        .iter()
        .fold(0u64, |s, c| s.wrapping_add(c.agg.peak_blocks));
    let mut snap = Snapshot {
        heap,
        now_ns,
        callsites,
        sizes: Hist {
            blocks: [0; LOG2_BUCKETS],
            bytes: [0; LOG2_BUCKETS],
        },
        aligns: Hist {
            blocks: [0; ALIGN_BUCKETS],
            bytes: [0; ALIGN_BUCKETS],
        },
        lifetimes: Hist {
            blocks: [0; LOG2_BUCKETS],
            bytes: [0; LOG2_BUCKETS],
        },
        events: Vec::new(),
        recorded: 0,
        dropped: 0,
        threads: Vec::new(),
        not_recorded: stack_table::not_recorded(),
        ring_capacity: recorder::RING_CAP.load(Ordering::Relaxed) as u64,
        calibration: None,
    };
    for r in records.iter().filter(|r| r.is_current(generation)) {
        snap.sizes.merge(&r.sizes);
        snap.aligns.merge(&r.aligns);
        snap.lifetimes.merge(&r.lifetimes);
        snap.recorded += r.written;
        snap.dropped += r.dropped();
        snap.events.extend(r.events().copied());
    }
    record::names::for_each(generation, |id, name| {
        snap.threads.push(ThreadInfo {
            id,
            name: (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned()),
        });
    });
    let strata = (crate::sampling::sampling() && crate::strata::ENABLED.load(Ordering::Relaxed))
        .then(|| crate::strata::collect(generation));
    if stop {
        STATE.store(OFF, Ordering::Release);
    }
    drop(records);
    drop(all);
    drop(clock);
    if let Some(strata) = strata {
        let mut sites: Vec<&mut Callsite> = snap.callsites.iter_mut().map(|c| &mut c.agg).collect();
        snap.calibration = Some(crate::strata::apply(&mut sites, &strata));
    }
    snap.events.sort_by_key(|e| e.t_ns);
    snap
}

fn kind(k: Kind) -> EventKind {
    match k {
        Kind::Alloc => EventKind::Alloc,
        Kind::AllocZeroed => EventKind::AllocZeroed,
        Kind::Realloc => EventKind::Realloc,
        Kind::Dealloc => EventKind::Dealloc,
    }
}

fn program() -> (String, Vec<String>) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let args = std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0)
                .skip(1)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    (exe, args)
}

/// Symbolizes, trims and merges a snapshot into a profile.
fn build(snap: Snapshot, info: &SessionInfo) -> Profile {
    let mut sym = Symbolizer::default();
    // Distinct frames, their kinds, and the frame ids of each return address:
    // every address is symbolized once and every frame hashed once.
    let mut frames: Vec<Frame> = Vec::new();
    let mut kinds: Vec<FrameKind> = Vec::new();
    let mut frame_ids: HashMap<Frame, u32> = HashMap::new();
    let mut addr_frames: FastMap<usize, Vec<u32>> = FastMap::default();
    let mut intern_frame = |f: Frame, frames: &mut Vec<Frame>, kinds: &mut Vec<FrameKind>| -> u32 {
        *frame_ids.entry(f).or_insert_with_key(|f| {
            kinds.push(FrameKind::of(&f.function));
            frames.push(f.clone());
            (frames.len() - 1) as u32
        })
    };
    let unrecorded = intern_frame(
        Frame {
            function: "[stack not recorded]".into(),
            file: None,
            line: None,
            column: None,
            inlined: false,
        },
        &mut frames,
        &mut kinds,
    );
    let sampled = info.sample_rate > 0;
    let mut stacks: Vec<Stack> = Vec::new();
    let mut stack_ids: FastMap<Vec<u32>, u32> = FastMap::default();
    let mut callsites: Vec<Callsite> = Vec::new();
    // Raw stack id -> merged stack index.
    let mut remap: Vec<Option<u32>> = vec![None; snap.callsites.len()];
    let mut ids: Vec<u32> = Vec::new();

    for (raw_id, raw) in snap.callsites.iter().enumerate() {
        let c = &raw.agg;
        if c.blocks == 0 && c.reallocs == 0 && c.live_blocks == 0 {
            continue;
        }
        ids.clear();
        if raw_id as u32 == UNRECORDED {
            ids.push(unrecorded);
        } else {
            for &a in &raw.frames {
                let of_addr = addr_frames.entry(a).or_insert_with(|| {
                    sym.frames(a)
                        .iter()
                        .map(|f| intern_frame(f.clone(), &mut frames, &mut kinds))
                        .collect()
                });
                ids.extend_from_slice(of_addr);
            }
        }
        let keep = symbolize::keep_range(&ids, |&i| kinds[i as usize]);
        let key = &ids[keep];
        let merged = match stack_ids.get(key) {
            Some(&m) => m,
            None => {
                let m = stacks.len() as u32;
                stacks.push(Stack {
                    frames: key.to_vec(),
                });
                stack_ids.insert(key.to_vec(), m);
                callsites.push(Callsite {
                    stack: m,
                    ..Callsite::default()
                });
                m
            }
        };
        remap[raw_id] = Some(merged);
        let m = &mut callsites[merged as usize];
        if c.freed_blocks > 0 {
            m.lifetime_min_ns = if m.freed_blocks == 0 {
                c.lifetime_min_ns
            } else {
                m.lifetime_min_ns.min(c.lifetime_min_ns)
            };
        }
        m.blocks += c.blocks;
        m.bytes += c.bytes;
        m.reallocs += c.reallocs;
        m.live_blocks += c.live_blocks;
        m.live_bytes += c.live_bytes;
        m.peak_blocks += c.peak_blocks;
        m.peak_bytes += c.peak_bytes;
        m.max_live_bytes = m.max_live_bytes.max(c.max_live_bytes);
        m.freed_blocks += c.freed_blocks;
        m.lifetime_total_ns += c.lifetime_total_ns;
        m.lifetime_max_ns = m.lifetime_max_ns.max(c.lifetime_max_ns);
        if sampled {
            // Sampling chances are independent between events: variances add.
            let add = |m: Option<u64>, c: Option<u64>| {
                Some(m.unwrap_or(0).saturating_add(c.unwrap_or(0)))
            };
            m.bytes_variance = add(m.bytes_variance, c.bytes_variance);
            m.blocks_variance = add(m.blocks_variance, c.blocks_variance);
        }
    }

    // Fixed-point estimates to whole numbers: totals round to nearest, and
    // figures that are part of another (live, peak, freed, maxima) round
    // down, so "part <= whole" still holds after scaling (floor(a) <=
    // round(b) whenever a <= b, also for a whole that is a sum of two).
    let sc = |v: u64| {
        if sampled {
            crate::sampling::scale(v)
        } else {
            v
        }
    };
    let part = |v: u64| {
        if sampled {
            crate::sampling::scale_down(v)
        } else {
            v
        }
    };
    if sampled {
        for c in &mut callsites {
            for v in [&mut c.blocks, &mut c.bytes, &mut c.reallocs] {
                *v = sc(*v);
            }
            for v in [
                &mut c.live_blocks,
                &mut c.live_bytes,
                &mut c.peak_blocks,
                &mut c.peak_bytes,
                &mut c.max_live_bytes,
                &mut c.freed_blocks,
            ] {
                *v = part(*v);
            }
        }
    }
    let h = &snap.heap;
    let items = snap
        .events
        .iter()
        .map(|e| Event {
            t_ns: e.t_ns,
            thread: e.thread,
            kind: kind(e.kind),
            size: e.size,
            old_size: (e.kind == Kind::Realloc).then_some(e.old_size),
            align: 1u64 << e.align_log2.min(63),
            stack: remap.get(e.stack as usize).copied().flatten(),
            addr: e.addr,
        })
        .collect();
    let (program, args) = program();
    Profile {
        format: FORMAT_NAME.to_string(),
        format_version: FORMAT_VERSION,
        meta: Meta {
            tool: concat!("alloc-profiler ", env!("CARGO_PKG_VERSION")).to_string(),
            program,
            args,
            pid: std::process::id(),
            started_unix_ms: info.started_unix_ms,
            duration_ns: snap.now_ns,
            mode: if sampled {
                Mode::Sampled {
                    rate_bytes: info.sample_rate,
                }
            } else {
                Mode::Exact
            },
            capture: Capture {
                method: info.capture.to_string(),
                max_frames: info.max_frames,
                note: info.capture_note.map(str::to_string),
            },
            calibration: snap.calibration,
        },
        totals: if sampled {
            // Event counts and bytes are exact (the global counters' growth);
            // what is live, and the peak, are estimates from the samples.
            let (a, b) = (info.counters_at_start, crate::counters::read());
            Totals {
                allocations: b.allocations - a.allocations,
                reallocations: b.reallocations - a.reallocations,
                deallocations: b.deallocations - a.deallocations,
                bytes_allocated: b.bytes_allocated - a.bytes_allocated,
                bytes_deallocated: b.bytes_deallocated - a.bytes_deallocated,
                live_blocks: part(h.live_blocks),
                live_bytes: part(h.live_bytes),
                peak_bytes: part(h.peak_bytes),
                peak_blocks: part(h.peak_blocks),
                peak_time_ns: h.peak_t_ns,
                failures: b.failures - a.failures,
            }
        } else {
            Totals {
                allocations: h.counts.allocations,
                reallocations: h.counts.reallocations,
                deallocations: h.counts.deallocations,
                bytes_allocated: h.counts.bytes_allocated,
                bytes_deallocated: h.counts.bytes_deallocated,
                live_blocks: h.live_blocks,
                live_bytes: h.live_bytes,
                peak_bytes: h.peak_bytes,
                peak_blocks: h.peak_blocks,
                peak_time_ns: h.peak_t_ns,
                failures: h.counts.failures,
            }
        },
        untracked: Untracked {
            deallocations: h.counts.untracked_frees,
            bytes_deallocated: h.counts.untracked_free_bytes,
            reallocations: h.counts.untracked_reallocs,
        },
        bookkeeping: Bookkeeping {
            untracked_blocks: sc(h.counts.missed_blocks),
            untracked_bytes: sc(h.counts.missed_bytes),
            stacks_not_recorded: snap.not_recorded,
            profiler_bytes: profiler_bytes(if sampled { 0 } else { h.live_blocks }),
            internal_errors: recorder::internal_errors(),
        },
        frames,
        stacks,
        callsites,
        histograms: Histograms {
            size: buckets_from_counts(
                Bucketing::Log2,
                &snap.sizes.blocks.map(sc),
                &snap.sizes.bytes.map(sc),
            ),
            align: buckets_from_counts(
                Bucketing::Align,
                &snap.aligns.blocks.map(sc),
                &snap.aligns.bytes.map(sc),
            ),
            lifetime: buckets_from_counts(
                Bucketing::Log2,
                &snap.lifetimes.blocks.map(sc),
                &snap.lifetimes.bytes.map(sc),
            ),
        },
        timeline: h
            .series
            .iter()
            .map(|p: &Point| HeapPoint {
                t_ns: p.t_ns,
                live_bytes: part(p.live_bytes),
                live_blocks: part(p.live_blocks),
                max_bytes: part(p.max_bytes),
            })
            .collect(),
        events: Events {
            ring_capacity: snap.ring_capacity,
            recorded: snap.recorded,
            dropped: snap.dropped,
            items,
        },
        threads: snap.threads,
    }
}

/// Why writing failed, without allocating (it crosses out of the guard).
#[derive(Debug, Clone, Copy)]
pub struct WriteFailure {
    /// What was being done.
    pub stage: &'static str,
    /// The I/O error's kind.
    pub kind: io::ErrorKind,
    /// The OS error code, when there was one.
    pub os: Option<i32>,
}

impl WriteFailure {
    fn new(stage: &'static str, e: &io::Error) -> Self {
        Self {
            stage,
            kind: e.kind(),
            os: e.raw_os_error(),
        }
    }
}

/// Brief figures of a written profile.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// The session's totals.
    pub totals: Totals,
    /// Distinct callsites.
    pub callsites: usize,
    /// Callsites with blocks still live.
    pub leaking_callsites: usize,
    /// Events dropped from the rings.
    pub events_dropped: u64,
}

/// Takes a snapshot (ending the session when `stop`) and writes it to `path`.
/// Must run inside the reentrancy guard.
pub fn write(path: &Path, stop: bool, info: &SessionInfo) -> Result<Written, WriteFailure> {
    let profile = build(snapshot(stop), info);
    let written = Written {
        totals: profile.totals,
        callsites: profile.callsites.len(),
        leaking_callsites: profile
            .callsites
            .iter()
            .filter(|c| c.live_blocks > 0)
            .count(),
        events_dropped: profile.events.dropped,
    };
    write_atomically(path, &profile)?;
    Ok(written)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `profile` as JSON to a temporary file beside `path`, then renames it
/// over `path`: readers never see a half-written profile, and on failure
/// whatever was at `path` is untouched.
pub fn write_atomically(path: &Path, profile: &Profile) -> Result<(), WriteFailure> {
    let tmp = temp_path(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| WriteFailure::new("create", &e))?;
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        serde_json::to_writer(&mut out, profile).map_err(|e| {
            let e: io::Error = e.into();
            WriteFailure::new("write", &e)
        })?;
        out.write_all(b"\n")
            .map_err(|e| WriteFailure::new("write", &e))?;
        let file = out
            .into_inner()
            .map_err(|e| WriteFailure::new("write", e.error()))?;
        file.sync_all().map_err(|e| WriteFailure::new("sync", &e))?;
        std::fs::rename(&tmp, path).map_err(|e| WriteFailure::new("rename", &e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The profiler's memory: its tables, the header bitmap's pages in memory,
/// and the headers of the session's `live_blocks` that are not in the live
/// table (the wrapped allocator's memory, but the profiler's doing).
fn profiler_bytes(live_blocks: u64) -> u64 {
    let headed = live_blocks.saturating_sub(crate::live_table::len() as u64);
    crate::os_mem::mapped_bytes()
        + crate::header::bitmap_resident_bytes()
        + headed * crate::header::SIZE as u64
}
