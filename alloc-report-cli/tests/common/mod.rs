//! Shared helpers of the end-to-end tests: synthetic profiles written to a
//! scratch directory, the real `alloc-report` binary, and golden files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use alloc_core::Profile;
use alloc_core::format::Bucket;
use alloc_core::testing::ProfileBuilder;
use assert_cmd::Command;
use tempfile::TempDir;

/// The binary under test, run in `dir` with no colour-related environment.
pub fn alloc_report(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alloc-report"));
    cmd.current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    cmd
}

/// A scratch directory with `demo.json` (the fixture) in it.
pub fn scratch() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_profile(dir.path(), "demo.json", &demo());
    dir
}

/// Writes `profile` as JSON to `dir/name` and returns the path.
pub fn write_profile(dir: &Path, name: &str, profile: &Profile) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(profile).unwrap()).unwrap();
    path
}

const STD: &str = "/rustc/4eb161250e340c8f48f66e2b929ef4a5bed7c181/library";

fn bucket(lo: u64, hi: u64, blocks: u64, bytes: u64) -> Bucket {
    Bucket {
        lo,
        hi,
        blocks,
        bytes,
    }
}

/// The fixture: a program that tokenizes in a hot loop (through `Vec::push`),
/// clones a generic cache, leaks one buffer on purpose, over-aligns a page, and
/// frees on another thread.
pub fn demo() -> Profile {
    let mut b = ProfileBuilder::new("/home/dev/demo/target/release/demo");
    b.profile_mut().meta.args = vec!["--input".into(), "big.txt".into()];
    b.site(
        &[
            (
                "alloc::raw_vec::finish_grow",
                &format!("{STD}/alloc/src/raw_vec.rs"),
                481,
            ),
            (
                "alloc::raw_vec::RawVec<T,A>::grow_one",
                &format!("{STD}/alloc/src/raw_vec.rs"),
                340,
            ),
            (
                "alloc::vec::Vec<T,A>::push",
                &format!("{STD}/alloc/src/vec/mod.rs"),
                1900,
            ),
            ("demo::parse::tokenize", "/home/dev/demo/src/parse.rs", 42),
            ("demo::main", "/home/dev/demo/src/main.rs", 10),
            (
                "core::ops::function::FnOnce::call_once",
                &format!("{STD}/core/src/ops/function.rs"),
                250,
            ),
            (
                "std::rt::lang_start::{{closure}}",
                &format!("{STD}/std/src/rt.rs"),
                206,
            ),
        ],
        |c| {
            c.blocks = 12_000;
            c.bytes = 3_500_000;
            c.reallocs = 300;
            c.peak_blocks = 10;
            c.peak_bytes = 600_000;
            // Reallocations move blocks, they do not make new ones to free.
            c.freed_blocks = 12_000;
            c.lifetime_total_ns = 9_000_000;
            c.lifetime_min_ns = 400;
            c.lifetime_max_ns = 90_000;
        },
    );
    b.site(
        &[
            (
                "<hashbrown::raw::RawTable<(alloc::string::String,alloc::vec::Vec<u8>),alloc::alloc::Global> as core::clone::Clone>::clone",
                "/home/dev/.cargo/registry/src/index.crates.io-6f17d22bba15001f/hashbrown-0.14.5/src/raw/mod.rs",
                3120,
            ),
            (
                "<demo::cache::Cache<alloc::string::String,alloc::vec::Vec<u8>> as core::clone::Clone>::clone",
                "/home/dev/demo/src/cache.rs",
                77,
            ),
            ("demo::main", "/home/dev/demo/src/main.rs", 12),
        ],
        |c| {
            c.blocks = 40;
            c.bytes = 1_048_576;
            c.live_blocks = 2;
            c.live_bytes = 65_536;
            c.peak_blocks = 40;
            c.peak_bytes = 1_048_576;
            c.freed_blocks = 38;
        },
    );
    b.site(
        &[
            (
                "alloc::alloc::alloc",
                &format!("{STD}/alloc/src/alloc.rs"),
                95,
            ),
            (
                "alloc::vec::Vec<T>::with_capacity",
                &format!("{STD}/alloc/src/vec/mod.rs"),
                480,
            ),
            ("demo::leak_on_purpose", "/home/dev/demo/src/main.rs", 20),
            ("demo::main", "/home/dev/demo/src/main.rs", 14),
        ],
        |c| {
            c.blocks = 1;
            c.bytes = 4096;
            c.live_blocks = 1;
            c.live_bytes = 4096;
            c.peak_blocks = 1;
            c.peak_bytes = 4096;
        },
    );
    b.site(
        &[
            (
                "std::alloc::System::alloc",
                &format!("{STD}/std/src/alloc.rs"),
                140,
            ),
            ("demo::page::Page::new", "/home/dev/demo/src/page.rs", 9),
            ("demo::main", "/home/dev/demo/src/main.rs", 16),
        ],
        |c| {
            c.blocks = 2;
            c.bytes = 8192;
            c.peak_blocks = 2;
            c.peak_bytes = 8192;
            c.freed_blocks = 2;
        },
    );
    b.site(
        &[
            (
                "alloc::vec::Vec<T,A>::push",
                &format!("{STD}/alloc/src/vec/mod.rs"),
                1900,
            ),
            ("demo::worker::produce", "/home/dev/demo/src/worker.rs", 31),
            (
                "std::thread::Builder::spawn_unchecked_::{{closure}}",
                &format!("{STD}/std/src/thread/mod.rs"),
                559,
            ),
        ],
        |c| {
            c.blocks = 500;
            c.bytes = 64_000;
            c.peak_blocks = 500;
            c.peak_bytes = 64_000;
            c.freed_blocks = 500;
        },
    );
    // Blocks handed out (allocations and reallocations) by size and alignment,
    // adding up to the callsites as `alloc_core::load::validate` checks.
    b.histograms(
        &[
            bucket(8, 15, 100, 1_200),
            bucket(128, 255, 500, 64_000),
            bucket(256, 511, 12_200, 3_498_800),
            bucket(4096, 8191, 3, 12_288),
            bucket(16_384, 32_767, 40, 1_048_576),
        ],
        &[
            bucket(8, 8, 12_800, 3_564_000),
            bucket(16, 16, 41, 1_052_672),
            bucket(4096, 4096, 2, 8192),
        ],
        &[
            bucket(256, 511, 200, 20_000),
            bucket(512, 1023, 9_700, 2_900_000),
            bucket(65_536, 131_071, 2_600, 600_000),
            bucket(1_048_576, 2_097_151, 40, 1_000_000),
        ],
    );
    {
        let p = b.profile_mut();
        p.events.recorded = 25_341;
        p.events.dropped = 8_957;
        p.events.ring_capacity = 16_384;
        p.threads = vec![
            alloc_core::format::ThreadInfo {
                id: 0,
                name: Some("main".into()),
            },
            alloc_core::format::ThreadInfo {
                id: 1,
                name: Some("worker".into()),
            },
        ];
        p.untracked.deallocations = 3;
        p.untracked.bytes_deallocated = 96;
    }
    b.build()
}

/// The fixture after a change: tokenizing allocates more, the leak is fixed.
pub fn demo_after() -> Profile {
    let mut p = demo();
    p.callsites[0].bytes = 4_200_000;
    p.callsites[0].blocks = 14_000;
    p.callsites[0].freed_blocks = 14_000;
    p.callsites[2].live_blocks = 0;
    p.callsites[2].live_bytes = 0;
    p.callsites[2].freed_blocks = 1;
    // Another build: different addresses would not matter; different paths do not either.
    for f in &mut p.frames {
        if let Some(file) = &mut f.file {
            *file = file.replace("/home/dev/demo", "/ci/build/demo");
        }
    }
    retotal(p)
}

/// Recomputes the totals of `p` from its callsites, as the builder does, and
/// moves any change in blocks or bytes into the fullest bucket of each
/// histogram, so that the profile still adds up.
pub fn retotal(mut p: Profile) -> Profile {
    let before = p.totals;
    let t = &mut p.totals;
    t.allocations = p.callsites.iter().map(|c| c.blocks).sum();
    t.reallocations = p.callsites.iter().map(|c| c.reallocs).sum();
    t.bytes_allocated = p.callsites.iter().map(|c| c.bytes).sum();
    t.live_blocks = p.callsites.iter().map(|c| c.live_blocks).sum();
    t.live_bytes = p.callsites.iter().map(|c| c.live_bytes).sum();
    t.peak_blocks = p.callsites.iter().map(|c| c.peak_blocks).sum();
    t.peak_bytes = p.callsites.iter().map(|c| c.peak_bytes).sum();
    t.deallocations = p.callsites.iter().map(|c| c.freed_blocks).sum();
    t.bytes_deallocated = t.bytes_allocated - t.live_bytes;
    let after = *t;
    let handed_out = |t: &alloc_core::format::Totals| t.allocations + t.reallocations;
    let h = &mut p.histograms;
    for list in [&mut h.size, &mut h.align] {
        adjust_fullest(
            list,
            handed_out(&after) as i128 - handed_out(&before) as i128,
            i128::from(after.bytes_allocated) - i128::from(before.bytes_allocated),
        );
    }
    adjust_fullest(
        &mut h.lifetime,
        i128::from(after.deallocations) - i128::from(before.deallocations),
        0,
    );
    p
}

fn adjust_fullest(list: &mut [Bucket], blocks: i128, bytes: i128) {
    if let Some(b) = list.iter_mut().max_by_key(|b| b.blocks) {
        b.blocks = u64::try_from(i128::from(b.blocks) + blocks).unwrap();
        b.bytes = u64::try_from(i128::from(b.bytes) + bytes).unwrap();
    }
}

/// Compares `actual` with `tests/golden/<name>`; with `ALLOC_REPORT_BLESS=1`
/// in the environment, rewrites the golden file instead.
pub fn golden(name: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("ALLOC_REPORT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with ALLOC_REPORT_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let actual_path = path.with_extension(format!(
            "{}.actual",
            path.extension().and_then(|e| e.to_str()).unwrap_or("out")
        ));
        std::fs::write(&actual_path, actual).unwrap();
        panic!(
            "{} differs from the output (written to {}); if the change is intended, \
             rerun with ALLOC_REPORT_BLESS=1",
            path.display(),
            actual_path.display()
        );
    }
}

/// Asserts that `text` has no line wider than 80 columns.
pub fn fits_80(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
}
