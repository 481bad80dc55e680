//! The benchmark's workload under plain `System` (glibc malloc): the baseline
//! every ratio is taken against. Prints one JSON result line on stdout.

use std::alloc::System;

use alloc_bench::{Args, Line, Workload};

#[global_allocator]
static ALLOC: System = System;

fn main() {
    let args = Args::from_env(false);
    let input = alloc_bench::prepare(&args.workload);
    let before = alloc_bench::rss_bytes();
    let mut held = 0;
    let ns = alloc_bench::run(&args.workload, &input, || held = alloc_bench::rss_bytes());
    let mut line = Line::new("system", &args.workload, ns);
    if let Workload::Live { .. } = args.workload {
        line.rss_delta_bytes = Some(held.saturating_sub(before));
    }
    line.print();
}
