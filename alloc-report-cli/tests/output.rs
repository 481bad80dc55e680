//! Where output goes: `-o` never clobbers on error, `-` reads standard input, a
//! closed pipe is not an error, colour only when asked and never with NO_COLOR.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use alloc_core::testing::ProfileBuilder;
use common::{alloc_report, demo, scratch, write_profile};

#[test]
fn o_writes_the_report_to_a_file_and_nothing_to_stdout() {
    let dir = scratch();
    alloc_report(dir.path())
        .args(["summary", "demo.json", "-o", "summary.txt"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let written = std::fs::read_to_string(dir.path().join("summary.txt")).unwrap();
    let printed = alloc_report(dir.path())
        .args(["summary", "demo.json"])
        .assert()
        .success();
    assert_eq!(written.as_bytes(), &printed.get_output().stdout[..]);
    // Replacing an existing file works.
    alloc_report(dir.path())
        .args(["top", "demo.json", "--json", "-o", "summary.txt"])
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.txt")).unwrap())
            .unwrap();
    assert!(v.is_array());
}

#[test]
fn o_never_clobbers_on_error_and_leaves_no_temporary_file() {
    let dir = scratch();
    std::fs::write(dir.path().join("keep.svg"), "precious").unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\"format\": ").unwrap();
    for args in [
        &["flamegraph", "bad.json", "-o", "keep.svg"][..],
        &["flamegraph", "missing.json", "-o", "keep.svg"],
        &["summary", "bad.json", "-o", "keep.svg"],
        &[
            "flamegraph",
            "demo.json",
            "--metric",
            "live",
            "-o",
            "keep.svg",
            "--title",
            "x",
            "--folded",
        ],
    ] {
        alloc_report(dir.path()).args(args).assert().code(2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.svg")).unwrap(),
            "precious"
        );
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");
}

#[test]
fn o_into_a_missing_directory_or_onto_a_directory_is_one_line() {
    let dir = scratch();
    alloc_report(dir.path())
        .args(["summary", "demo.json", "-o", "no/such/dir/out.txt"])
        .assert()
        .code(2)
        .stderr("alloc-report: no/such/dir/out.txt: cannot write: its directory does not exist\n");
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    let out = alloc_report(dir.path())
        .args(["summary", "demo.json", "-o", "adir"])
        .assert()
        .code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("alloc-report: adir: cannot write: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("adir")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary file left"
    );
}

#[test]
fn dash_reads_standard_input() {
    let dir = scratch();
    let bytes = std::fs::read(dir.path().join("demo.json")).unwrap();
    let from_stdin = alloc_report(dir.path())
        .args(["top", "-"])
        .write_stdin(bytes)
        .assert()
        .success();
    let from_file = alloc_report(dir.path())
        .args(["top", "demo.json"])
        .assert()
        .success();
    assert_eq!(
        from_stdin.get_output().stdout,
        from_file.get_output().stdout
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    // Enough callsites for several megabytes of text, far beyond a pipe buffer.
    let dir = tempfile::tempdir().unwrap();
    let mut b = ProfileBuilder::new("/bin/many");
    for i in 0..20_000u64 {
        let name = format!("many::module_{}::function_{i}", i % 50);
        b.site(
            &[(name.as_str(), "src/lib.rs", 1 + (i % 1000) as u32)],
            |c| {
                c.blocks = 1;
                c.bytes = 1 + i;
                c.live_blocks = 1;
                c.live_bytes = 1 + i;
                c.peak_blocks = 1;
                c.peak_bytes = 1 + i;
            },
        );
    }
    write_profile(dir.path(), "many.json", &b.build());
    for args in [
        &["top", "many.json", "-n", "0"][..],
        &["leaks", "many.json"],
        &["top", "many.json", "-n", "0", "--json"],
        &["flamegraph", "many.json", "--folded"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alloc-report"))
            .current_dir(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, like `head`, then close the pipe.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(stderr, "", "{args:?}");
        assert!(status.success(), "{args:?}: {status}");
    }
}

#[test]
fn a_shell_pipe_into_head_is_quiet_and_successful() {
    let dir = scratch();
    let bin = env!("CARGO_BIN_EXE_alloc-report");
    let out = Command::new("bash")
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "'{bin}' leaks demo.json | head -n 1; echo \"status=${{PIPESTATUS[0]}}\""
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout,
        "Leaks: 2 callsites, 3 blocks, 68.0 KiB live at the end\nstatus=0\n"
    );
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

#[test]
fn colour_when_forced_but_never_with_no_color_or_into_files_or_json() {
    let dir = scratch();
    let coloured = alloc_report(dir.path())
        .args(["--color", "always", "summary", "demo.json"])
        .assert()
        .success();
    assert!(coloured.get_output().stdout.contains(&b'\x1b'));
    for (args, env) in [
        (
            &["--color", "always", "summary", "demo.json"][..],
            Some("1"),
        ),
        (&["summary", "demo.json"], None),
        (&["--color", "always", "top", "demo.json", "--json"], None),
        (&["top", "demo.json", "--color", "never"], None),
    ] {
        let mut cmd = alloc_report(dir.path());
        cmd.args(args);
        if let Some(v) = env {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.assert().success();
        assert!(
            !out.get_output().stdout.contains(&b'\x1b'),
            "{args:?} {env:?}"
        );
    }
    alloc_report(dir.path())
        .args(["--color", "always", "leaks", "demo.json", "-o", "leaks.txt"])
        .assert()
        .success();
    assert!(
        !std::fs::read(dir.path().join("leaks.txt"))
            .unwrap()
            .contains(&b'\x1b')
    );
    let _ = demo();
}
