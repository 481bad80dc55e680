//! The benchmark's workload under `alloc_profiler::Profiler<System>`, in one of
//! its modes: `idle` (the wrapper installed, no session: counters only),
//! `exact` (a session records every event), `sampled` (a sampling session,
//! one sample per 512 KiB allocated on average) or `exact-unwind` (an exact
//! session capturing stacks with the unwinder, as without frame pointers);
//! writing a session's profile
//! afterwards is timed apart. Prints one JSON result line on stdout, with the events the
//! workload made (from `alloc_profiler::stats()`) and, for a session, what the
//! profile says.

use std::alloc::System;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloc_bench::{Args, Line, Mode, ProfileFacts, Workload};
use alloc_profiler::{CaptureMethod, GlobalStats, Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

fn events(s: &GlobalStats) -> u64 {
    s.allocations + s.reallocations + s.deallocations
}

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("bench-profiler: {what}");
    std::process::exit(1);
}

fn facts(path: &Path) -> ProfileFacts {
    ProfileFacts::read(path).unwrap_or_else(|e| fail(e))
}

fn main() {
    let args = Args::from_env(true);
    let mode = args.mode.unwrap_or(Mode::Idle);
    let input = alloc_bench::prepare(&args.workload);
    let live = matches!(args.workload, Workload::Live { .. });
    let tmp = |what: &str| -> PathBuf {
        std::env::temp_dir().join(format!("alloc-bench-{what}-{}.json", std::process::id()))
    };
    let path = args.profile.clone().unwrap_or_else(|| tmp("profile"));
    let (snap_before, snap_held) = (tmp("before"), tmp("held"));

    let session = match mode {
        Mode::Idle => None,
        Mode::Exact => Some(Session::builder().output(&path).quiet().start()),
        Mode::ExactUnwind => Some(
            Session::builder()
                .output(&path)
                .quiet()
                .capture(CaptureMethod::Unwind)
                .start(),
        ),
        Mode::Sampled => Some(
            Session::builder()
                .output(&path)
                .quiet()
                .sampling(alloc_bench::SAMPLE_RATE)
                .sampling_seed(args.seed)
                .start(),
        ),
    };
    if let (Some(s), true) = (&session, live) {
        // Warms the symbolizer too, so that the resident set measured below
        // grows by the blocks and their bookkeeping only.
        s.snapshot(&snap_before).unwrap_or_else(|e| fail(e));
    }
    let rss_before = alloc_bench::rss_bytes();
    let mut rss_held = 0;
    let before = alloc_profiler::stats();
    let ns = alloc_bench::run(&args.workload, &input, || {
        rss_held = alloc_bench::rss_bytes();
        if let Some(s) = &session {
            s.snapshot(&snap_held).unwrap_or_else(|e| fail(e));
        }
    });
    let after = alloc_profiler::stats();

    let mut line = Line::new(mode.variant(), &args.workload, ns);
    line.events = Some(events(&after) - events(&before));
    if live {
        line.rss_delta_bytes = Some(rss_held.saturating_sub(rss_before));
    }
    if session.is_some() && args.no_write {
        // Callgrind counts the workload alone: skip the profile, which would
        // take long under Valgrind. `exit` runs no destructor, so the session
        // is not finished (nor its profile written) on the way out.
        line.print();
        std::process::exit(0);
    }
    if let Some(s) = session {
        let write = Instant::now();
        s.finish().unwrap_or_else(|e| fail(e));
        line.write_ns = Some(u64::try_from(write.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if live {
            line.baseline = Some(facts(&snap_before));
            line.profile = Some(facts(&snap_held));
            let _ = std::fs::remove_file(&snap_before);
            let _ = std::fs::remove_file(&snap_held);
        } else {
            line.profile = Some(facts(&path));
        }
        if args.profile.is_none() {
            let _ = std::fs::remove_file(&path);
        }
    }
    line.print();
}
