//! The benchmark's binaries, run for real at a tiny scale: each prints one
//! result line that parses and says what it should, and the driver runs every
//! section end to end. Quick enough for CI in a debug build.

use std::path::Path;
use std::process::Command;

use alloc_bench::Line;

const SYSTEM: &str = env!("CARGO_BIN_EXE_bench-system");
const PROFILER: &str = env!("CARGO_BIN_EXE_bench-profiler");
const DHAT: &str = env!("CARGO_BIN_EXE_bench-dhat");
const DRIVER: &str = env!("CARGO_BIN_EXE_bench-overhead");

fn run(bin: &str, args: &[&str]) -> Line {
    let out = Command::new(bin).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = Line::find(&stdout).unwrap_or_else(|e| panic!("{bin} {args:?}: {e}\n{stdout}"));
    assert!(line.workload_ns > 0, "{line:?}");
    line
}

#[test]
fn system_and_dhat_time_the_full_workload() {
    let l = run(SYSTEM, &["full", "--scale", "0.001"]);
    assert_eq!(
        (l.variant.as_str(), l.workload.as_str()),
        ("system", "full")
    );
    assert_eq!((l.scale, l.events, l.profile), (Some(0.001), None, None));

    let l = run(DHAT, &["full", "--scale", "0.001"]);
    assert_eq!(l.variant, "dhat");
    assert!(l.write_ns.is_some_and(|ns| ns > 0), "{l:?}");
}

#[test]
fn the_idle_wrapper_counts_the_events_exactly() {
    // micro makes exactly two events per allocation.
    let l = run(PROFILER, &["idle", "micro", "--n", "1000"]);
    assert_eq!((l.variant.as_str(), l.events), ("idle", Some(2000)));
    // The full workload makes thousands even at this scale, the same each run.
    let a = run(PROFILER, &["idle", "full", "--scale", "0.001"]);
    let b = run(PROFILER, &["idle", "full", "--scale", "0.001"]);
    let events = a.events.unwrap();
    assert!(events > 5_000, "{a:?}");
    let diff = events.abs_diff(b.events.unwrap());
    assert!(diff <= events / 100, "{a:?} vs {b:?}");
}

#[test]
fn sessions_record_the_whole_workload() {
    let dir = std::env::temp_dir().join(format!("alloc-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kept = dir.join("kept.json");
    let l = run(
        PROFILER,
        &[
            "exact",
            "full",
            "--scale",
            "0.001",
            "--profile",
            kept.to_str().unwrap(),
        ],
    );
    assert!(Path::new(&kept).exists(), "--profile keeps the profile");
    let p = l.profile.as_ref().expect("an exact run reads its profile");
    assert_eq!((p.mode.as_str(), p.internal_errors), ("exact", 0), "{p:?}");
    let events = l.events.unwrap();
    // The profile holds every event the workload made (the session also sees a
    // few of its own start's).
    assert!(
        p.events() >= events && p.events() <= events + 100,
        "{events} vs {p:?}"
    );
    assert!(
        l.write_ns.is_some() && p.profiler_bytes > 0 && p.callsites > 10,
        "{l:?}"
    );

    let l = run(PROFILER, &["sampled", "full", "--scale", "0.001"]);
    let p = l.profile.as_ref().expect("a sampled run reads its profile");
    assert_eq!(
        (p.mode.as_str(), p.rate_bytes, p.internal_errors),
        ("sampled", Some(512 * 1024), 0),
        "{p:?}"
    );

    let l = run(PROFILER, &["exact", "live", "--n", "2000"]);
    let (before, held) = (l.baseline.unwrap(), l.profile.unwrap());
    assert!(
        held.live_blocks >= before.live_blocks + 2000,
        "{before:?} {held:?}"
    );
    assert!(l.rss_delta_bytes.is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_are_refused() {
    for (bin, args) in [
        (PROFILER, &["fast"][..]),
        (SYSTEM, &["full", "--scale", "-1"][..]),
        (DRIVER, &["--only", "nothing"][..]),
    ] {
        let out = Command::new(bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    }
}

#[test]
fn the_driver_prints_every_section() {
    let bins = Path::new(SYSTEM).parent().unwrap();
    let mut args = vec![
        "--no-build",
        "--no-wait",
        "--bin-dir",
        bins.to_str().unwrap(),
        "--reps",
        "1",
        "--scale",
        "0.001",
        "--scaling-scale",
        "0.001",
        "--live",
        "2000",
        "--callgrind-n",
        "500",
        "--callgrind-scale",
        "0.0005",
        "--seeds",
        "2",
        "--skip",
        "heaptrack",
    ];
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !valgrind {
        args.extend(["--skip", "callgrind"]);
    }
    let out = Command::new(DRIVER).args(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "== Overhead",
        "system ",
        "idle ",
        "exact ",
        "sampled ",
        "dhat ",
        "x System",
        "== Accuracy",
        "sampled estimate",
        "over 2 seeds: mean error",
        "== Scaling",
        "throughput 2T / 1T",
        "== Memory",
        "bytes per live block",
        "== Issue 5's targets",
        "exact session <= 2.0x System",
    ] {
        assert!(stdout.contains(needle), "no `{needle}` in:\n{stdout}");
    }
    if valgrind {
        assert!(stdout.contains("== Callgrind"), "{stdout}");
        assert!(stdout.contains("top 10 functions"), "{stdout}");
        assert!(!stdout.contains("warning: the micro workload"), "{stdout}");
    }
}
