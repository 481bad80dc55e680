//! Writes a large profile and times it: 131,072 distinct stacks (every path of
//! a 17-level binary call tree) holding 1,048,576 live blocks.
//!
//! ```text
//! cargo run --release --example large_profile [-- OUT.json]
//! ```

#![allow(clippy::vec_box)] // every box is one live block on purpose

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

const DEPTH: u32 = 17;
const BLOCKS_PER_LEAF: usize = 8;

#[inline(never)]
fn left(path: u32, depth: u32, keep: &mut Vec<Box<[u8; 16]>>) {
    descend(path, depth + 1, keep);
    black_box(());
}

#[inline(never)]
fn right(path: u32, depth: u32, keep: &mut Vec<Box<[u8; 16]>>) {
    descend(path, depth + 1, keep);
    black_box(());
}

/// Follows the bits of `path`, one call per bit, then allocates: each path is
/// a distinct stack.
#[inline(never)]
fn descend(path: u32, depth: u32, keep: &mut Vec<Box<[u8; 16]>>) {
    if depth == DEPTH {
        for _ in 0..BLOCKS_PER_LEAF {
            keep.push(black_box(Box::new([depth as u8; 16])));
        }
    } else if path >> depth & 1 == 0 {
        left(path, depth, keep);
    } else {
        right(path, depth, keep);
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "large-profile.json".into());
    let session = Session::builder()
        .output(&out)
        .ring_capacity(1024)
        .quiet()
        .start();
    let mut keep = Vec::with_capacity(BLOCKS_PER_LEAF << DEPTH);
    let t = Instant::now();
    for path in 0..1u32 << DEPTH {
        descend(path, 0, &mut keep);
    }
    let recorded = t.elapsed();
    let t = Instant::now();
    let summary = session.finish().expect("write the profile");
    let written = t.elapsed();
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} callsites, {} live blocks: recorded in {:.2} s, profile written in {:.2} s ({:.0} MB)",
        summary.callsites,
        summary.totals.live_blocks,
        recorded.as_secs_f64(),
        written.as_secs_f64(),
        size as f64 / 1e6
    );
    drop(keep);
}
