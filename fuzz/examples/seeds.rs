//! Writes the synthetic part of the seed corpus: profiles from
//! `alloc_core::testing::ProfileBuilder`, one per shape (empty, one callsite,
//! leaks, reallocations, events and a timeline, sampled).
//!
//! `cargo run --example seeds -- DIR` (stable is enough).

use alloc_core::format::{Event, EventKind, HeapPoint, Mode, ThreadInfo};
use alloc_core::testing::ProfileBuilder;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, p: &alloc_core::Profile| {
        alloc_core::load::validate(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(format!("{dir}/{name}.json"), serde_json::to_vec(p).unwrap()).unwrap();
    };
    write("empty", &ProfileBuilder::new("/bin/empty").build());

    let mut b = ProfileBuilder::new("/bin/demo");
    b.site(&[("demo::main", "src/main.rs", 3)], |c| {
        c.blocks = 2;
        c.bytes = 48;
        c.freed_blocks = 2;
        c.lifetime_total_ns = 30;
        c.lifetime_min_ns = 10;
        c.lifetime_max_ns = 20;
    });
    write("one", &b.build());

    b.site(
        &[
            (
                "alloc::raw_vec::finish_grow",
                "/rustc/0123abc/library/alloc/src/raw_vec.rs",
                481,
            ),
            (
                "alloc::vec::Vec<T,A>::push",
                "/rustc/0123abc/library/alloc/src/vec/mod.rs",
                1900,
            ),
            (
                "<demo::Cache<K,V> as core::clone::Clone>::clone",
                "src/cache.rs",
                7,
            ),
            ("demo::main", "src/main.rs", 9),
        ],
        |c| {
            c.blocks = 10;
            c.reallocs = 5;
            c.bytes = 4_000;
            c.live_blocks = 3;
            c.live_bytes = 1_200;
            c.peak_blocks = 4;
            c.peak_bytes = 1_600;
            c.freed_blocks = 7;
            c.lifetime_total_ns = 1_000;
            c.lifetime_min_ns = 10;
            c.lifetime_max_ns = 500;
        },
    );
    b.site(
        &[("0x55d1c0ffee", "", 0), ("[stack not recorded]", "", 0)],
        |c| {
            c.blocks = 1;
            c.bytes = 1 << 20;
            c.live_blocks = 1;
            c.live_bytes = 1 << 20;
            c.peak_blocks = 1;
            c.peak_bytes = 1 << 20;
        },
    );
    {
        let p = b.profile_mut();
        p.threads = vec![
            ThreadInfo {
                id: 0,
                name: Some("main".into()),
            },
            ThreadInfo { id: 3, name: None },
        ];
        p.events.ring_capacity = 8;
        p.events.recorded = 4;
        p.events.items = [
            (5, EventKind::Alloc, 64, None, Some(1)),
            (6, EventKind::Realloc, 128, Some(64), Some(1)),
            (7, EventKind::AllocZeroed, 4096, None, Some(2)),
            (9, EventKind::Dealloc, 16, None, None),
        ]
        .into_iter()
        .map(|(t_ns, kind, size, old_size, stack)| Event {
            t_ns,
            thread: 3,
            kind,
            size,
            old_size,
            align: 4096,
            stack,
            addr: 0x7f00_0000 + t_ns,
        })
        .collect();
        p.untracked.deallocations = 1;
        p.untracked.bytes_deallocated = 16;
    }
    let mut p = b.build();
    let t = p.totals;
    p.timeline = vec![
        HeapPoint {
            t_ns: 1,
            live_bytes: 100,
            live_blocks: 2,
            max_bytes: 200,
        },
        HeapPoint {
            t_ns: 2,
            live_bytes: t.live_bytes,
            live_blocks: t.live_blocks,
            max_bytes: t.peak_bytes,
        },
    ];
    write("full", &p);
    let mut s = p.clone();
    s.meta.mode = Mode::Sampled {
        rate_bytes: 524_288,
    };
    s.untracked = Default::default();
    write("sampled", &s);
}
