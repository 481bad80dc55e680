//! The consistency rules a profile must keep before any report reads it
//! ([`crate::load::validate`] documents them). Each rule names the first field
//! at fault, as a path (`callsites[3].stack`), and says what is wrong in words
//! and numbers: never a string taken from the profile, so the message stays one
//! line whatever the file holds.
//!
//! Rules are of three kinds: references in range (frames, stacks), values a
//! writer cannot produce (bucket bounds, sizes no allocation can have, events
//! out of time order), and, for exact profiles, figures that must
//! add up (callsites to totals, histograms to totals, blocks in to blocks out).
//! Sampled profiles keep the first two kinds only: their figures are
//! independent estimates.

use std::collections::HashSet;

use crate::format::{Bucket, Callsite, EventKind, Mode, Profile, Totals};
use crate::histogram::{Bucketing, align_bucket, log2_bucket};
use crate::load::{LoadError, MAX_STACK_FRAMES};

/// The largest size any allocation can have: a `Layout` never exceeds `isize::MAX`.
const MAX_ALLOCATION: u64 = isize::MAX as u64;

type Checked = Result<(), LoadError>;

fn fail(field: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError::Inconsistent {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Runs every rule, in the order of the document's fields.
pub(crate) fn profile(p: &Profile) -> Checked {
    // Each part alone, then the totals against the callsites, then what is
    // derived from the totals: when figures disagree, the odd one out is named.
    let exact = meta(p)?;
    stacks(p)?;
    let sums = callsites(p, exact)?;
    let hist = histograms(p, exact)?;
    timeline(p)?;
    events(p)?;
    threads(p)?;
    totals(p, exact, &sums)?;
    histogram_sums(p, exact, &hist)?;
    timeline_against_totals(p, exact)
}

/// Returns whether the profile is exact.
fn meta(p: &Profile) -> Result<bool, LoadError> {
    match p.meta.mode {
        Mode::Exact => Ok(true),
        Mode::Sampled { rate_bytes: 0 } => Err(fail(
            "meta.mode.rate_bytes",
            "0: a sampled profile needs a sampling rate of at least 1 byte",
        )),
        Mode::Sampled { .. } => Ok(false),
    }
}

fn stacks(p: &Profile) -> Checked {
    let n_frames = p.frames.len();
    for (i, s) in p.stacks.iter().enumerate() {
        if s.frames.len() > MAX_STACK_FRAMES {
            return Err(fail(
                format!("stacks[{i}].frames"),
                format!(
                    "{} frames, more than a profile's stacks hold (at most {MAX_STACK_FRAMES})",
                    s.frames.len()
                ),
            ));
        }
        if let Some(&f) = s.frames.iter().find(|&&f| f as usize >= n_frames) {
            return Err(fail(
                format!("stacks[{i}].frames"),
                format!("frame index {f} out of range ({n_frames} frames)"),
            ));
        }
    }
    Ok(())
}

/// Checks each callsite alone and returns their sums (saturating), for [`totals`].
fn callsites(p: &Profile, exact: bool) -> Result<Totals, LoadError> {
    let n_stacks = p.stacks.len();
    // Which callsite holds each stack: every stack belongs to at most one.
    let mut owner: Vec<u32> = vec![u32::MAX; n_stacks];
    let mut sum = Totals::default();
    for (i, c) in p.callsites.iter().enumerate() {
        let field = |name: &str| format!("callsites[{i}].{name}");
        let Some(slot) = owner.get_mut(c.stack as usize) else {
            return Err(fail(
                field("stack"),
                format!("stack index {} out of range ({n_stacks} stacks)", c.stack),
            ));
        };
        if *slot != u32::MAX {
            return Err(fail(
                field("stack"),
                format!(
                    "stack {} already belongs to callsites[{}]; a stack has one callsite",
                    c.stack, *slot
                ),
            ));
        }
        *slot = u32::try_from(i).unwrap_or(u32::MAX - 1);
        callsite_figures(c, exact).map_err(|(name, problem)| fail(field(name), problem))?;
        sum.allocations = sum.allocations.saturating_add(c.blocks);
        sum.reallocations = sum.reallocations.saturating_add(c.reallocs);
        sum.bytes_allocated = sum.bytes_allocated.saturating_add(c.bytes);
        sum.live_blocks = sum.live_blocks.saturating_add(c.live_blocks);
        sum.live_bytes = sum.live_bytes.saturating_add(c.live_bytes);
        sum.peak_blocks = sum.peak_blocks.saturating_add(c.peak_blocks);
        sum.peak_bytes = sum.peak_bytes.saturating_add(c.peak_bytes);
        sum.deallocations = sum.deallocations.saturating_add(c.freed_blocks);
    }
    Ok(sum)
}

/// The rules on one callsite's own figures, as (field, problem).
fn callsite_figures(c: &Callsite, exact: bool) -> Result<(), (&'static str, String)> {
    let events = c.blocks.saturating_add(c.reallocs);
    for (name, value) in [
        ("live_blocks", c.live_blocks),
        ("peak_blocks", c.peak_blocks),
        ("freed_blocks", c.freed_blocks),
    ] {
        if value > events {
            return Err((
                name,
                format!("{value} exceeds blocks + reallocs ({events})"),
            ));
        }
    }
    // Each block ends once, freed or live at the end, at the callsite of its
    // latest allocation or reallocation. (Estimates are rounded one by one.)
    if exact && c.live_blocks.saturating_add(c.freed_blocks) > events {
        return Err((
            "freed_blocks",
            format!(
                "{} freed and {} live at the end, but only {events} blocks + reallocs",
                c.freed_blocks, c.live_blocks
            ),
        ));
    }
    for (name, value) in [
        ("live_bytes", c.live_bytes),
        ("peak_bytes", c.peak_bytes),
        ("max_live_bytes", c.max_live_bytes),
    ] {
        if value > c.bytes {
            return Err((
                name,
                format!("{value} exceeds the callsite's bytes ({})", c.bytes),
            ));
        }
    }
    if c.freed_blocks > 0 && c.lifetime_min_ns > c.lifetime_max_ns {
        return Err(("lifetime_min_ns", "greater than lifetime_max_ns".to_owned()));
    }
    if exact
        && c.freed_blocks == 0
        && (c.lifetime_total_ns, c.lifetime_min_ns, c.lifetime_max_ns) != (0, 0, 0)
    {
        return Err((
            "lifetime_total_ns",
            "lifetimes given, but no block was freed (freed_blocks is 0)".to_owned(),
        ));
    }
    Ok(())
}

/// Blocks and bytes summed over one histogram (saturating).
#[derive(Default)]
struct HistSum {
    blocks: u64,
    bytes: u64,
}

/// The sums of the three histograms.
struct HistSums {
    size: HistSum,
    align: HistSum,
    lifetime: HistSum,
}

fn histograms(p: &Profile, exact: bool) -> Result<HistSums, LoadError> {
    let h = &p.histograms;
    Ok(HistSums {
        size: buckets("size", &h.size, Bucketing::Log2, exact)?,
        align: buckets("align", &h.align, Bucketing::Align, false)?,
        lifetime: buckets("lifetime", &h.lifetime, Bucketing::Log2, false)?,
    })
}

fn histogram_sums(p: &Profile, exact: bool, sums: &HistSums) -> Checked {
    let HistSums {
        size,
        align,
        lifetime,
    } = sums;
    // Sampled histograms are not compared with the totals: the totals' event
    // counts are exact while the histograms are built from samples.
    if !exact || p.bookkeeping.internal_errors > 0 {
        return Ok(());
    }
    let t = &p.totals;
    let handed_out = u128::from(t.allocations) + u128::from(t.reallocations);
    if u128::from(size.blocks) != handed_out {
        return Err(fail(
            "histograms.size",
            format!(
                "{} blocks, but allocations + reallocations = {handed_out}",
                size.blocks
            ),
        ));
    }
    if size.bytes != t.bytes_allocated {
        return Err(fail(
            "histograms.size",
            format!(
                "{} bytes, but totals.bytes_allocated = {}",
                size.bytes, t.bytes_allocated
            ),
        ));
    }
    if (align.blocks, align.bytes) != (size.blocks, size.bytes) {
        return Err(fail(
            "histograms.align",
            format!(
                "{} blocks of {} bytes, but the size histogram holds {} blocks of {} bytes",
                align.blocks, align.bytes, size.blocks, size.bytes
            ),
        ));
    }
    if lifetime.blocks != t.deallocations {
        return Err(fail(
            "histograms.lifetime",
            format!(
                "{} freed blocks, but totals.deallocations = {}",
                lifetime.blocks, t.deallocations
            ),
        ));
    }
    Ok(())
}

/// Checks the bounds of every bucket (and, for exact size histograms, that its
/// bytes fit its bounds) and returns the sums.
fn buckets(
    name: &str,
    list: &[Bucket],
    bucketing: Bucketing,
    bytes_within_bounds: bool,
) -> Result<HistSum, LoadError> {
    let mut sum = HistSum::default();
    for (i, b) in list.iter().enumerate() {
        let field = || format!("histograms.{name}[{i}]");
        if b.lo > b.hi {
            return Err(fail(
                field(),
                format!("lo {} is greater than hi {}", b.lo, b.hi),
            ));
        }
        let index = match bucketing {
            Bucketing::Log2 => log2_bucket(b.lo),
            Bucketing::Align => align_bucket(b.lo),
        };
        if bucketing.bounds(index) != (b.lo, b.hi) {
            let expected = match bucketing {
                Bucketing::Log2 => "a power-of-two range ([0, 0], [1, 1], [2, 3], [4, 7], …)",
                Bucketing::Align => "a power of two with lo == hi",
            };
            return Err(fail(
                field(),
                format!("[{}, {}] is not a bucket: expected {expected}", b.lo, b.hi),
            ));
        }
        if bytes_within_bounds {
            let (least, most) = (
                u128::from(b.blocks) * u128::from(b.lo),
                u128::from(b.blocks) * u128::from(b.hi),
            );
            if !(least..=most).contains(&u128::from(b.bytes)) {
                return Err(fail(
                    format!("histograms.{name}[{i}].bytes"),
                    format!(
                        "{} bytes cannot be {} blocks of {} to {} bytes each",
                        b.bytes, b.blocks, b.lo, b.hi
                    ),
                ));
            }
        }
        sum.blocks = sum.blocks.saturating_add(b.blocks);
        sum.bytes = sum.bytes.saturating_add(b.bytes);
    }
    Ok(sum)
}

fn timeline(p: &Profile) -> Checked {
    // Points are not required to be in time order, nor within
    // `meta.duration_ns`: the profiler stamps a point outside the lock that
    // orders it, so threads racing can write one a little earlier than the
    // point before it, and it has written a duration of 0 beside a timeline.
    for (i, h) in p.timeline.iter().enumerate() {
        if h.live_bytes > h.max_bytes {
            return Err(fail(
                format!("timeline[{i}].live_bytes"),
                format!("{} exceeds max_bytes {}", h.live_bytes, h.max_bytes),
            ));
        }
    }
    Ok(())
}

fn timeline_against_totals(p: &Profile, exact: bool) -> Checked {
    let peak = p.totals.peak_bytes;
    if let Some((i, h)) = p
        .timeline
        .iter()
        .enumerate()
        .find(|(_, h)| h.max_bytes > peak)
    {
        return Err(fail(
            format!("timeline[{i}].max_bytes"),
            format!("{} exceeds totals.peak_bytes {peak}", h.max_bytes),
        ));
    }
    if exact && let Some(last) = p.timeline.last() {
        let t = &p.totals;
        if (last.live_bytes, last.live_blocks) != (t.live_bytes, t.live_blocks) {
            return Err(fail(
                format!("timeline[{}].live_bytes", p.timeline.len() - 1),
                format!(
                    "the last point has {} bytes in {} blocks live, but the totals {} bytes in {} blocks",
                    last.live_bytes, last.live_blocks, t.live_bytes, t.live_blocks
                ),
            ));
        }
    }
    Ok(())
}

fn events(p: &Profile) -> Checked {
    let ev = &p.events;
    if ev.dropped > ev.recorded {
        return Err(fail(
            "events.dropped",
            format!("{} exceeds events.recorded {}", ev.dropped, ev.recorded),
        ));
    }
    let kept = ev.recorded - ev.dropped;
    // At most: a writer keeps every event not dropped, but a reader may be
    // given a profile with the items cut out to save space.
    if ev.items.len() as u64 > kept {
        return Err(fail(
            "events.items",
            format!(
                "{} events, more than recorded - dropped = {kept}",
                ev.items.len()
            ),
        ));
    }
    let n_stacks = p.stacks.len();
    let mut last_t = 0;
    for (i, e) in ev.items.iter().enumerate() {
        let field = |name: &str| format!("events.items[{i}].{name}");
        if let Some(s) = e.stack
            && s as usize >= n_stacks
        {
            return Err(fail(
                field("stack"),
                format!("stack index {s} out of range ({n_stacks} stacks)"),
            ));
        }
        if e.t_ns < last_t {
            return Err(fail(
                field("t_ns"),
                format!("{} is earlier than the event before it ({last_t})", e.t_ns),
            ));
        }
        last_t = e.t_ns;
        if !e.align.is_power_of_two() || e.align > MAX_ALLOCATION {
            return Err(fail(
                field("align"),
                format!(
                    "{} is not an alignment (a power of two up to 2^62)",
                    e.align
                ),
            ));
        }
        for (name, size) in [("size", Some(e.size)), ("old_size", e.old_size)] {
            if let Some(size) = size.filter(|&s| s > MAX_ALLOCATION) {
                return Err(fail(
                    field(name),
                    format!("{size} bytes, more than any allocation can have (isize::MAX)"),
                ));
            }
        }
        match (e.kind, e.old_size) {
            (EventKind::Realloc, None) => {
                return Err(fail(field("old_size"), "missing on a reallocation"));
            }
            (EventKind::Alloc | EventKind::AllocZeroed | EventKind::Dealloc, Some(_)) => {
                return Err(fail(
                    field("old_size"),
                    "given on an event that is not a reallocation",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn threads(p: &Profile) -> Checked {
    // Events may name threads this list leaves out: the writer names only the
    // first thread of each per-thread record.
    let mut seen = HashSet::with_capacity(p.threads.len());
    for (i, t) in p.threads.iter().enumerate() {
        if !seen.insert(t.id) {
            return Err(fail(
                format!("threads[{i}].id"),
                format!("thread id {} is listed twice", t.id),
            ));
        }
    }
    Ok(())
}

fn totals(p: &Profile, exact: bool, sum: &Totals) -> Checked {
    let t = &p.totals;
    if t.live_bytes > t.peak_bytes {
        return Err(fail(
            "totals.live_bytes",
            format!("{} exceeds peak_bytes {}", t.live_bytes, t.peak_bytes),
        ));
    }
    let u = &p.untracked;
    if u.reallocations > t.reallocations {
        return Err(fail(
            "untracked.reallocations",
            format!(
                "{} exceeds totals.reallocations {} (which include them)",
                u.reallocations, t.reallocations
            ),
        ));
    }
    if !exact {
        // A sampled session cannot tell an unsampled block from one made
        // before it started: it never counts untracked events.
        for (name, value) in [
            ("deallocations", u.deallocations),
            ("bytes_deallocated", u.bytes_deallocated),
            ("reallocations", u.reallocations),
        ] {
            if value != 0 {
                return Err(fail(
                    format!("untracked.{name}"),
                    format!("{value}, but a sampled profile counts no untracked events"),
                ));
            }
        }
        return Ok(());
    }
    let checks = [
        ("allocations", t.allocations, sum.allocations),
        ("reallocations", t.reallocations, sum.reallocations),
        ("bytes_allocated", t.bytes_allocated, sum.bytes_allocated),
        ("live_blocks", t.live_blocks, sum.live_blocks),
        ("live_bytes", t.live_bytes, sum.live_bytes),
        ("peak_blocks", t.peak_blocks, sum.peak_blocks),
        ("peak_bytes", t.peak_bytes, sum.peak_bytes),
        ("deallocations", t.deallocations, sum.deallocations),
    ];
    for (name, total, of_callsites) in checks {
        if total != of_callsites {
            return Err(fail(
                format!("totals.{name}"),
                format!("{total} but the callsites add up to {of_callsites}"),
            ));
        }
    }
    let net = i128::from(t.bytes_allocated) - i128::from(t.bytes_deallocated);
    let expected = i128::from(t.live_bytes) + i128::from(p.bookkeeping.untracked_bytes);
    if net != expected {
        return Err(fail(
            "totals.bytes_deallocated",
            format!(
                "bytes_allocated - bytes_deallocated = {net}, but live_bytes + untracked bytes = {expected}"
            ),
        ));
    }
    // Blocks in = blocks out: every tracked block (allocated, or adopted by a
    // reallocation from before the session) was freed or is live.
    let tracked = i128::from(t.allocations) - i128::from(p.bookkeeping.untracked_blocks)
        + i128::from(u.reallocations);
    let ended = i128::from(t.deallocations) + i128::from(t.live_blocks);
    if p.bookkeeping.internal_errors == 0 && tracked != ended {
        return Err(fail(
            "totals.deallocations",
            format!(
                "allocations - untracked blocks + untracked reallocations = {tracked}, \
                 but deallocations + live_blocks = {ended}"
            ),
        ));
    }
    Ok(())
}
