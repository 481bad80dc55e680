//! The quickstart: profile a small word-counting program and write
//! `alloc-profile.json` (or the path given as the first argument).
//!
//! ```text
//! cargo run --release --example quickstart
//! cargo run --release -p alloc-report-cli -- summary alloc-profile.json
//! ```

use std::collections::HashMap;

use alloc_profiler::{Profiler, Session};
use std::alloc::System;

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

/// Splits text into owned words.
fn tokenize(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Counts each word.
fn count_words(words: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for w in words {
        *counts.entry(w.clone()).or_insert(0) += 1;
    }
    counts
}

/// The most frequent words, with their counts.
fn top_words(counts: &HashMap<String, usize>, n: usize) -> Vec<(String, usize)> {
    let mut all: Vec<(String, usize)> = counts.iter().map(|(w, c)| (w.clone(), *c)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

fn main() {
    // With ALLOC_PROFILER set, the whole run is already being profiled.
    let session = std::env::var_os("ALLOC_PROFILER").is_none().then(|| {
        let output = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "alloc-profile.json".into());
        Session::builder().output(output).start()
    });

    let text = "the quick brown fox jumps over the lazy dog and the dog sleeps ".repeat(2000);
    let words = tokenize(&text);
    let counts = count_words(&words);
    let top = top_words(&counts, 3);
    for (word, n) in &top {
        println!("{word:>8} {n}");
    }
    drop((text, words, counts, top));

    if let Some(session) = session {
        session.finish().expect("write the profile");
    }
}
