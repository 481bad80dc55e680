//! A program with a known leak and frees on another thread, for trying the
//! leak report. Writes the profile named by the first argument (default
//! `leaky-profile.json`), or the path in `ALLOC_PROFILER` when that is set.

use std::alloc::{Layout, System, alloc, dealloc};
use std::sync::mpsc;

use alloc_profiler::{Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

/// A cache that is never emptied: every entry it makes is leaked on purpose.
#[inline(never)]
fn leak_cache_entries(n: usize) {
    for i in 0..n {
        let entry = format!("cache entry number {i:06}").into_bytes();
        std::mem::forget(std::hint::black_box(entry));
    }
}

/// Buffers made here are freed on a worker thread: not leaks.
#[inline(never)]
fn make_buffers(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; 256]).collect()
}

/// Page-aligned blocks, as an I/O layer would use; freed before exit.
#[inline(never)]
fn page_aligned_blocks(n: usize) {
    let layout = Layout::from_size_align(4096, 4096).expect("layout");
    let blocks: Vec<*mut u8> = (0..n)
        // SAFETY: the layout has a non-zero size.
        .map(|_| unsafe { alloc(layout) })
        .collect();
    for p in blocks {
        assert!(!p.is_null() && (p as usize).is_multiple_of(4096));
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(p, layout) };
    }
}

fn main() {
    let session = std::env::var_os("ALLOC_PROFILER").is_none().then(|| {
        let output = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "leaky-profile.json".into());
        Session::builder().output(output).start()
    });

    leak_cache_entries(100);

    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let worker = std::thread::spawn(move || rx.into_iter().map(|b| b.len()).sum::<usize>());
    for b in make_buffers(50) {
        tx.send(b).expect("send");
    }
    drop(tx);
    let freed = worker.join().expect("worker");
    println!("worker freed {freed} bytes");

    page_aligned_blocks(8);

    if let Some(s) = session {
        s.finish().expect("write the profile");
    }
}
