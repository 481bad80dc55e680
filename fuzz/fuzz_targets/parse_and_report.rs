//! Any bytes: `parse_profile` returns a profile or a one-line error; on a
//! profile, every analysis and JSON shape runs without panicking.
#![no_main]

use alloc_core::diff::{DiffOptions, diff};
use alloc_core::folded::{FoldedOptions, folded};
use alloc_core::hist::{HistKind, HistOptions, histogram};
use alloc_core::leaks::{LeakOptions, leaks};
use alloc_core::metric::Metric;
use alloc_core::names::{classify_frame, location, shorten, shorten_path};
use alloc_core::summary::{SummaryOptions, summary};
use alloc_core::top::{TopOptions, top};
use alloc_core::{json, parse_profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = match parse_profile(data) {
        Ok(p) => p,
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line:?}");
            return;
        }
    };
    // Vary the options with the input so every combination gets its turn.
    let pick = data.len();
    let by = Metric::ALL[pick % 4];
    let limit = [None, Some(0), Some(3)][pick % 3];
    let s = summary(&p, &SummaryOptions::default());
    let _ = serde_json::to_vec(&json::summary(&p, &s)).unwrap();
    let t = top(&p, &TopOptions::new(by, limit));
    let _ = serde_json::to_vec(&json::top(&p, &t)).unwrap();
    let l = leaks(&p, &LeakOptions::new((pick as u64) % 4096, limit));
    let _ = serde_json::to_vec(&json::leaks(&p, &l)).unwrap();
    for of in [HistKind::Size, HistKind::Align, HistKind::Lifetime] {
        let h = histogram(&p, &HistOptions::new(of, true));
        let _ = serde_json::to_vec(json::hist(&h)).unwrap();
        let _ = (h.max_blocks(), h.over_aligned());
    }
    let mut o = FoldedOptions::new(by);
    o.with_lines = pick % 2 == 0;
    o.trim_plumbing = pick % 3 != 0;
    let _ = folded(&p, &o);
    let d = diff(&p, &p, &DiffOptions::new(by, limit));
    assert!(d.rows.is_empty(), "a profile differs from itself");
    let _ = serde_json::to_vec(&json::diff(&p, &p, &d)).unwrap();
    let _ = d.increase_exceeds(5.0);
    for f in &p.frames {
        let _ = classify_frame(f);
        let _ = shorten(&f.function, 40);
        if let Some(loc) = location(f) {
            let _ = shorten_path(&loc, 30);
        }
    }
});
