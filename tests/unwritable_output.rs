//! An unwritable output path makes `finish()` return an error naming the path;
//! the program carries on, and nothing already at the path is harmed.

use std::alloc::System;
use std::hint::black_box;

use alloc_profiler::{Error, Profiler, Session};

#[global_allocator]
static ALLOC: Profiler<System> = Profiler::new(System);

mod common;

#[test]
fn a_missing_directory_is_an_error_naming_the_path() {
    let _one = common::one_session_at_a_time();
    let path = common::temp_path("no-such-dir").join("profile.json");
    let session = Session::builder().output(&path).quiet().start();
    drop(black_box(vec![1u8; 100]));
    let err = session
        .finish()
        .expect_err("cannot create a file in a missing directory");
    assert!(
        matches!(
            err,
            Error::Write {
                stage: "create",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    // The program carries on, and a new session can start.
    let v: Vec<u64> = black_box((0..1000).collect());
    assert_eq!(v.len(), 1000);
    let ok = common::temp_path("after-error.json");
    Session::builder()
        .output(&ok)
        .quiet()
        .start()
        .finish()
        .expect("a new session works");
}

#[test]
fn a_directory_in_the_way_is_not_clobbered() {
    let _one = common::one_session_at_a_time();
    let dir = common::temp_path("in-the-way");
    std::fs::create_dir_all(dir.join("keep")).unwrap();
    std::fs::write(dir.join("keep/file.txt"), "precious").unwrap();
    let session = Session::builder().output(&dir).quiet().start();
    let err = session
        .finish()
        .expect_err("cannot replace a directory with a file");
    assert!(
        matches!(
            err,
            Error::Write {
                stage: "rename",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("keep/file.txt")).unwrap(),
        "precious"
    );
    // No temporary file is left behind.
    let parent = dir.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_existing_profile_is_replaced_whole() {
    let _one = common::one_session_at_a_time();
    let path = common::temp_path("replaced.json");
    std::fs::write(&path, "old contents").unwrap();
    let s = Session::builder().output(&path).quiet().start();
    drop(black_box(Box::new(5u8)));
    s.finish().unwrap();
    common::load(&path);
}
