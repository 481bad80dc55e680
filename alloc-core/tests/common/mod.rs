//! Valid profiles to start from, and every analysis run on a profile.
#![allow(dead_code)]

use alloc_core::Profile;
use alloc_core::diff::{DiffOptions, diff};
use alloc_core::folded::{FoldedOptions, folded, write_folded};
use alloc_core::format::{Event, EventKind, HeapPoint, ThreadInfo};
use alloc_core::hist::{HistKind, HistOptions, histogram};
use alloc_core::leaks::{LeakOptions, leaks};
use alloc_core::metric::Metric;
use alloc_core::names::{classify_frame, location, shorten, shorten_path};
use alloc_core::summary::{SummaryOptions, summary};
use alloc_core::testing::ProfileBuilder;
use alloc_core::top::{TopOptions, top};
use alloc_core::{json, load};

/// An exact profile with every part filled in and consistent: four callsites
/// (four stacks) with reallocations, frees and leaks, events, a timeline and
/// threads. It passes `validate`.
pub fn exact() -> Profile {
    let mut b = ProfileBuilder::new("/bin/demo");
    b.profile_mut().meta.args = vec!["--fast".into()];
    b.site(
        &[
            (
                "alloc::raw_vec::finish_grow",
                "/rustc/abc1234/library/alloc/src/raw_vec.rs",
                481,
            ),
            (
                "alloc::vec::Vec<T,A>::push",
                "/rustc/abc1234/library/alloc/src/vec/mod.rs",
                1900,
            ),
            ("demo::parse::tokenize", "src/parse.rs", 42),
            ("demo::main", "src/main.rs", 10),
        ],
        |c| {
            c.blocks = 100;
            c.reallocs = 20;
            c.bytes = 6_400;
            c.freed_blocks = 100;
            c.peak_blocks = 3;
            c.peak_bytes = 300;
            c.max_live_bytes = 640;
            c.lifetime_total_ns = 50_000;
            c.lifetime_min_ns = 100;
            c.lifetime_max_ns = 2_000;
        },
    );
    b.site(
        &[
            (
                "<demo::Cache<K,V> as core::clone::Clone>::clone",
                "src/cache.rs",
                7,
            ),
            ("demo::main", "src/main.rs", 12),
        ],
        |c| {
            c.blocks = 3;
            c.bytes = 3_072;
            c.live_blocks = 2;
            c.live_bytes = 2_048;
            c.freed_blocks = 1;
            c.peak_blocks = 3;
            c.peak_bytes = 3_072;
            c.lifetime_total_ns = 900;
            c.lifetime_min_ns = 900;
            c.lifetime_max_ns = 900;
        },
    );
    b.site(&[("demo::leak", "src/main.rs", 20)], |c| {
        c.blocks = 1;
        c.bytes = 4_096;
        c.live_blocks = 1;
        c.live_bytes = 4_096;
        c.peak_blocks = 1;
        c.peak_bytes = 4_096;
    });
    b.site(
        &[("0x55d1c0ffee", "", 0), ("std::rt::lang_start", "", 0)],
        |c| {
            c.blocks = 2;
            c.bytes = 16;
            c.freed_blocks = 2;
            c.lifetime_total_ns = 10;
            c.lifetime_min_ns = 5;
            c.lifetime_max_ns = 5;
        },
    );
    {
        let p = b.profile_mut();
        p.threads = vec![
            ThreadInfo {
                id: 0,
                name: Some("main".into()),
            },
            ThreadInfo { id: 1, name: None },
        ];
        let ev = |t_ns, thread, kind, size, old_size, stack| Event {
            t_ns,
            thread,
            kind,
            size,
            old_size,
            align: 8,
            stack,
            addr: 0x1000 + t_ns,
        };
        p.events.ring_capacity = 16;
        p.events.recorded = 10;
        p.events.dropped = 5;
        p.events.items = vec![
            ev(10, 0, EventKind::Alloc, 64, None, Some(0)),
            ev(20, 0, EventKind::Realloc, 128, Some(64), Some(0)),
            ev(30, 1, EventKind::AllocZeroed, 1024, None, Some(1)),
            ev(40, 1, EventKind::Dealloc, 1024, None, Some(1)),
            ev(50, 0, EventKind::Dealloc, 32, None, None),
        ];
        p.untracked.deallocations = 1;
        p.untracked.bytes_deallocated = 32;
    }
    let mut p = b.build();
    let t = p.totals;
    p.timeline = vec![
        HeapPoint {
            t_ns: 100,
            live_bytes: 1_000,
            live_blocks: 3,
            max_bytes: 2_000,
        },
        HeapPoint {
            t_ns: 200,
            live_bytes: t.peak_bytes,
            live_blocks: t.peak_blocks,
            max_bytes: t.peak_bytes,
        },
        HeapPoint {
            t_ns: 300,
            live_bytes: t.live_bytes,
            live_blocks: t.live_blocks,
            max_bytes: t.live_bytes,
        },
    ];
    p
}

/// [`exact`] as a sampled profile at one sample per 4 KiB.
pub fn sampled() -> Profile {
    let mut p = exact();
    p.meta.mode = alloc_core::format::Mode::Sampled { rate_bytes: 4096 };
    p.untracked = alloc_core::format::Untracked::default();
    p
}

/// Runs every analysis and JSON shape of the crate on `p` (and on `p` against
/// `other` for diffs), and the naming helpers on each frame; returns a
/// checksum of the output so nothing is optimized away.
pub fn every_analysis(p: &Profile, other: &Profile) -> usize {
    let mut n = 0;
    let mut out = Vec::new();
    for by in Metric::ALL {
        for limit in [None, Some(0), Some(3)] {
            let mut so = SummaryOptions::default();
            so.top_by = by;
            so.top = limit.unwrap_or(usize::MAX);
            let s = summary(p, &so);
            n += serde_json::to_vec(&json::summary(p, &s)).unwrap().len();
            let t = top(p, &TopOptions::new(by, limit));
            n += serde_json::to_vec(&json::top(p, &t)).unwrap().len();
            for (a, b) in [(p, other), (other, p), (p, p)] {
                let d = diff(a, b, &DiffOptions::new(by, limit));
                n += serde_json::to_vec(&json::diff(a, b, &d)).unwrap().len();
                let _ = d.increase_exceeds(10.0);
            }
        }
        for min in [0, 100, u64::MAX] {
            let l = leaks(p, &LeakOptions::new(min, None));
            n += serde_json::to_vec(&json::leaks(p, &l)).unwrap().len();
        }
        for with_lines in [false, true] {
            for trim_plumbing in [false, true] {
                let mut o = FoldedOptions::new(by);
                o.with_lines = with_lines;
                o.trim_plumbing = trim_plumbing;
                let lines = folded(p, &o);
                out.clear();
                write_folded(&mut out, &lines).unwrap();
                n += out.len();
            }
        }
    }
    for of in [HistKind::Size, HistKind::Align, HistKind::Lifetime] {
        for fill in [false, true] {
            let h = histogram(p, &HistOptions::new(of, fill));
            n += serde_json::to_vec(json::hist(&h)).unwrap().len();
            n += usize::from(h.max_blocks() > 0) + usize::from(h.over_aligned().0 > 0);
        }
    }
    n += serde_json::to_vec(&alloc_core::export::dhat::dhat(p))
        .unwrap()
        .len();
    n += serde_json::to_vec(&alloc_core::export::speedscope::speedscope(p))
        .unwrap()
        .len();
    n += alloc_core::export::pprof::pprof(p).len();
    for f in &p.frames {
        let _ = classify_frame(f);
        for w in [0, 8, 40, 80] {
            n += shorten(&f.function, w).len();
            if let Some(loc) = location(f) {
                n += shorten_path(&loc, w).len();
            }
        }
    }
    n
}

/// Asserts `p` is valid.
pub fn assert_valid(p: &Profile) {
    if let Err(e) = load::validate(p) {
        panic!("the base profile is not valid: {e}");
    }
    let bytes = serde_json::to_vec(p).unwrap();
    if let Err(e) = load::parse_profile(&bytes) {
        panic!("the base profile does not parse: {e}");
    }
}
