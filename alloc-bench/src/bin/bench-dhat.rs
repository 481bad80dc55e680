//! The benchmark's workload under dhat-rs 0.3 (`dhat::Alloc`, a heap profiler
//! with `dhat::Profiler::new_heap()`'s settings): the comparison baseline of
//! issue 5. The profile is written when the profiler is dropped, timed apart
//! from the workload. Prints one JSON result line on stdout.

use std::time::Instant;

use alloc_bench::{Args, Line};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let args = Args::from_env(false);
    let input = alloc_bench::prepare(&args.workload);
    let (path, keep) = match &args.profile {
        Some(p) => (p.clone(), true),
        None => (
            std::env::temp_dir().join(format!("alloc-bench-dhat-{}.json", std::process::id())),
            false,
        ),
    };
    // new_heap() with the file name set: the same settings, written elsewhere
    // than ./dhat-heap.json.
    let profiler = dhat::Profiler::builder().file_name(&path).build();
    let ns = alloc_bench::run(&args.workload, &input, || {});
    let write = Instant::now();
    drop(profiler);
    let write_ns = u64::try_from(write.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if !keep {
        let _ = std::fs::remove_file(&path);
    }
    let mut line = Line::new("dhat", &args.workload, ns);
    line.write_ns = Some(write_ns);
    line.print();
}
