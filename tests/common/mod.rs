//! Helpers shared by the end-to-end tests (each `tests/*.rs` is its own process
//! with `Profiler` as its global allocator).
#![allow(dead_code, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use alloc_core::format::{Callsite, Profile};

/// A fresh path in the temporary directory for this test.
pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alloc-profiler-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir.join(name)
}

/// Reads and validates a profile (alloc-core checks that its figures add up).
pub fn load(path: &std::path::Path) -> Profile {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    alloc_core::parse_profile(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serializes the tests of one file that start sessions (one runs at a time).
pub fn one_session_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` inside a session and returns the validated profile.
pub fn profile_of(name: &str, work: impl FnOnce()) -> Profile {
    let _one = one_session_at_a_time();
    let path = temp_path(&format!("{name}.json"));
    let session = alloc_profiler::Session::builder()
        .output(&path)
        .quiet()
        .start();
    work();
    session.finish().expect("write profile");
    load(&path)
}

/// The function names of a callsite's stack, innermost first.
pub fn functions<'a>(p: &'a Profile, c: &Callsite) -> Vec<&'a str> {
    p.stacks[c.stack as usize]
        .frames
        .iter()
        .map(|&f| p.frames[f as usize].function.as_str())
        .collect()
}

/// Callsites with a frame whose function contains `needle`.
pub fn callsites_in<'a>(p: &'a Profile, needle: &str) -> Vec<&'a Callsite> {
    p.callsites
        .iter()
        .filter(|c| functions(p, c).iter().any(|f| f.contains(needle)))
        .collect()
}

/// Sums a figure over the callsites with a frame in `needle`.
pub fn sum_in(p: &Profile, needle: &str, figure: impl Fn(&Callsite) -> u64) -> u64 {
    callsites_in(p, needle).into_iter().map(figure).sum()
}

/// Aborts the process with a message if it is still running after `secs`:
/// a deadlock fails the test loudly instead of hanging CI.
/// Returns once the watchdog thread runs, so that its start-up (which frees
/// blocks made before any session) is over.
pub fn watchdog(secs: u64, what: &'static str) {
    let (started, running) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        started.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("watchdog: {what} did not finish within {secs} s (deadlock?)");
        std::process::abort();
    });
    running.recv().unwrap();
}
