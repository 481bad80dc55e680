//! A small allocation-heavy workload (JSON, a BTreeMap, string churn, vector
//! growth), used to check our counts against Valgrind's DHAT in the same run:
//!
//! ```text
//! cargo build --example workload
//! ALLOC_PROFILER=ours.json valgrind --tool=dhat --dhat-out-file=dhat.json target/debug/examples/workload
//! ```
//!
//! `tests/dhat_agreement.rs` does exactly that and compares the two.

use std::alloc::System;
use std::collections::BTreeMap;
use std::hint::black_box;

use alloc_profiler::Profiler;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

/// Builds a JSON document of `n` records as text.
fn document(n: usize) -> String {
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": i,
                "name": format!("user-{i}"),
                "tags": ["a", "b", format!("t{}", i % 7)],
                "score": i as f64 * 1.5,
            })
        })
        .collect();
    serde_json::to_string(&records).expect("serialize")
}

/// The work the comparison looks at: every allocation below this frame.
#[inline(never)]
fn work(n: usize) -> usize {
    let text = document(n);
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("parse");
    let mut index: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for rec in parsed.as_array().expect("array") {
        let key = rec["name"].as_str().unwrap_or_default().to_uppercase();
        index
            .entry(key)
            .or_default()
            .push(rec["id"].as_u64().unwrap_or(0));
    }
    let mut grown = Vec::new();
    for i in 0..n * 4 {
        grown.push(i as u32);
    }
    let mut churn = 0;
    for i in 0..n {
        let s = black_box(format!("{i:>8}-{}", "x".repeat(i % 50)));
        churn += s.len();
    }
    index.len() + grown.len() + churn
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!("{}", work(n));
}
