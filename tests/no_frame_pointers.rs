//! A program built without frame pointers (the default when the user skips
//! the setup step) is profiled correctly through the unwinder: no crash, the
//! profile says which capture was used and why, and stacks still reach the
//! user's functions.
//!
//! Builds `examples/quickstart` with `-C force-frame-pointers=no` into its
//! own target directory (about a minute the first time).

use std::path::PathBuf;
use std::process::Command;

mod common;

#[test]
fn a_program_without_frame_pointers_falls_back_to_the_unwinder() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("no-frame-pointers");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--quiet", "--example", "quickstart"])
        .env("CARGO_TARGET_DIR", &target)
        // Overrides .cargo/config.toml's force-frame-pointers=yes.
        .env("RUSTFLAGS", "-C force-frame-pointers=no -C opt-level=1")
        .status()
        .expect("run cargo");
    assert!(
        build.success(),
        "building the example without frame pointers failed"
    );
    let out = common::temp_path("no-fp.json");
    let run = Command::new(target.join("debug").join("examples").join("quickstart"))
        .arg(&out)
        .output()
        .expect("run the example");
    assert!(run.status.success(), "{run:?}");
    let p = common::load(&out);
    assert_eq!(p.meta.capture.method, "unwind", "{:?}", p.meta.capture);
    assert!(
        p.meta
            .capture
            .note
            .as_deref()
            .unwrap_or("")
            .contains("force-frame-pointers")
    );
    assert!(common::sum_in(&p, "quickstart::tokenize", |c| c.blocks + c.reallocs) > 0);
    assert!(common::sum_in(&p, "quickstart::count_words", |c| c.blocks) >= 26_000);
}
