//! `alloc-report export` end to end, each format read by its real consumer:
//! DHAT's JSON by Valgrind's own viewer `dh_view.html` in headless Chromium,
//! pprof by `go tool pprof`, folded stacks by inferno; speedscope (no offline
//! consumer) against its schema's required fields and a golden file.
//!
//! A test whose consumer is not installed prints why and how to get it, and
//! passes; CI installs them all.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloc_core::Profile;
use alloc_core::testing::ProfileBuilder;
use common::{alloc_report, golden, scratch, write_profile};
use serde_json::Value;

/// Valgrind's DHAT viewer.
const DH_VIEW: &str = "/usr/libexec/valgrind/dh_view.html";
/// How long a consumer may run before the test kills it and fails.
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `alloc-report export FILE --format F [extra…] -o OUT` in `dir` and
/// returns the output file's bytes.
fn export(dir: &Path, file: &str, format: &str, extra: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("out.{format}"));
    alloc_report(dir)
        .args(["export", file, "--format", format])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr("");
    std::fs::read(&out).unwrap()
}

/// Runs `cmd`, killing it after [`CONSUMER_TIMEOUT`]; returns its stdout and
/// stderr, panicking with both when it fails.
fn run_consumer(mut cmd: Command, what: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CONSUMER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {CONSUMER_TIMEOUT:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    assert!(
        status.success(),
        "{what} failed ({status}):\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The first of `candidates` that exists, or the program found on `PATH`.
fn find_program(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

// ---------------------------------------------------------------- DHAT

/// Chromium and the viewer, or `None` after printing why the test skips.
fn dhat_viewer() -> Option<PathBuf> {
    let Some(chromium) = find_program("chromium", &["/usr/bin/chromium"]) else {
        println!("skipping: chromium not found; apt-get install chromium");
        return None;
    };
    if !Path::new(DH_VIEW).is_file() {
        println!("skipping: {DH_VIEW} not found; apt-get install valgrind");
        return None;
    }
    Some(chromium)
}

/// Opens the DHAT file `json` in a copy of Valgrind's viewer in headless
/// Chromium, and returns the text of the page it rendered (tags removed).
///
/// The viewer reads a file chosen with its file picker: a small script added
/// to the copy builds a `File` from the data, puts it in the picker's
/// `files` and fires `change`, so the viewer's own `loadFile()` reads, parses,
/// checks and draws it as for a user.
fn render_in_dh_view(chromium: &Path, json: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let viewer = Path::new(DH_VIEW).parent().unwrap();
    for f in ["dh_view.js", "dh_view.css"] {
        std::fs::copy(viewer.join(f), dir.path().join(f)).unwrap();
    }
    let html = std::fs::read_to_string(DH_VIEW).unwrap();
    assert!(html.contains("</body>"), "{DH_VIEW} has no </body>");
    let html = html.replace(
        "</body>",
        "<script src=\"data.js\"></script><script src=\"feed.js\"></script></body>",
    );
    std::fs::write(dir.path().join("view.html"), html).unwrap();
    // A JSON string is a JavaScript string literal.
    let literal = serde_json::to_string(json).unwrap();
    std::fs::write(
        dir.path().join("data.js"),
        format!("const DHAT_TEXT = {literal};\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("feed.js"),
        r#"window.addEventListener("load", () => setTimeout(() => {
  const file = new File([DHAT_TEXT], "export.dhat.json", {type: "application/json"});
  const files = new DataTransfer();
  files.items.add(file);
  gInput.files = files.files;
  gInput.dispatchEvent(new Event("change"));
}, 0));
"#,
    )
    .unwrap();
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-US",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ])
    .arg(format!(
        "--user-data-dir={}",
        dir.path().join("profile").display()
    ))
    .arg(format!("file://{}", dir.path().join("view.html").display()));
    let (dom, _) = run_consumer(cmd, "chromium");
    assert!(dom.contains("DHAT Viewer"), "not the viewer's page:\n{dom}");
    text_of(&dom)
}

/// The text of an HTML document: tags removed, the entities the viewer's
/// output can hold decoded.
fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Asserts the viewer drew a tree with no error and no NaN.
fn assert_rendered(page: &str) {
    assert!(!page.contains("Error"), "the viewer failed:\n{page}");
    assert!(!page.contains("NaN"), "the viewer shows NaN:\n{page}");
    assert!(!page.contains("Loading..."), "never loaded:\n{page}");
    assert!(page.contains("PP 1/1"), "no tree:\n{page}");
}

#[test]
fn dhat_opens_in_valgrinds_viewer_with_our_totals() {
    let Some(chromium) = dhat_viewer() else {
        return;
    };
    let dir = scratch();
    let json = String::from_utf8(export(dir.path(), "demo.json", "dhat", &[])).unwrap();
    let page = render_in_dh_view(&chromium, &json);
    assert_rendered(&page);
    // The root: every block handed out (allocations plus reallocations, as
    // DHAT counts), the peak and the leaks, as `alloc-report summary` has them.
    for want in [
        "Total:     4,624,864 bytes (100%",
        "in 12,843 blocks (100%",
        "At t-gmax: 1,724,864 bytes (100%) in 553 blocks (100%)",
        "At t-end:  69,632 bytes (100%) in 3 blocks (100%)",
        "t-gmax: 750,000 µs (50% of program duration)",
        "t-end:  1,500,000 µs",
        "Command: /home/dev/demo/target/release/demo --input big.txt",
        // The tokenizer's callsite, its frames innermost first.
        "Total:     3,500,000 bytes (75.68%",
        "#2: demo::parse::tokenize (/home/dev/demo/src/parse.rs:42)",
        "Max:       600,000 bytes in 10 blocks",
        // Lifetimes are numbers: 9 ms over 12,300 blocks.
        "avg lifetime 0.73 µs",
    ] {
        assert!(page.contains(want), "missing {want:?} in:\n{page}");
    }
}

/// Two callsites whose stacks differ only in allocator plumbing: equal frame
/// lists once it is trimmed.
fn twins() -> Profile {
    let mut b = ProfileBuilder::new("/bin/twins");
    for (plumbing, bytes) in [
        ("alloc::raw_vec::finish_grow", 3000),
        ("alloc::alloc::alloc", 1000),
    ] {
        b.site(
            &[
                (plumbing, "/rustc/x/library/alloc/src/raw_vec.rs", 1),
                ("twins::fill", "src/main.rs", 10),
                ("twins::main", "src/main.rs", 20),
            ],
            |c| {
                c.blocks = bytes / 100;
                c.bytes = bytes;
                c.freed_blocks = bytes / 100;
                c.lifetime_total_ns = bytes * 10;
                c.peak_blocks = 1;
                c.peak_bytes = 100;
            },
        );
    }
    b.site(&[("twins::other", "src/main.rs", 30)], |c| {
        c.blocks = 1;
        c.bytes = 7;
        c.live_blocks = 1;
        c.live_bytes = 7;
        c.peak_blocks = 1;
        c.peak_bytes = 7;
    });
    b.build()
}

#[test]
fn dhat_merges_equal_frame_lists_which_the_viewer_would_reject() {
    let Some(chromium) = dhat_viewer() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_profile(dir.path(), "twins.json", &twins());
    let json = String::from_utf8(export(dir.path(), "twins.json", "dhat", &[])).unwrap();
    let page = render_in_dh_view(&chromium, &json);
    assert_rendered(&page);
    for want in [
        "Total:     4,007 bytes (100%",
        // The merged program point: sums, and 40 µs of lifetimes over 40 blocks.
        "Total:     4,000 bytes (99.83%",
        "in 40 blocks (97.56%",
        "avg lifetime 1 µs",
        "At t-gmax: 200 bytes (96.62%) in 2 blocks",
        "#1: twins::fill (src/main.rs:10)",
    ] {
        assert!(page.contains(want), "missing {want:?} in:\n{page}");
    }

    // The same data with the merged point split back into two: the viewer
    // rejects it, so this test would catch a missing merge.
    let mut v: Value = serde_json::from_str(&json).unwrap();
    let pps = v["pps"].as_array_mut().unwrap();
    let mut half = pps[0].clone();
    for key in ["tb", "tbk", "gb", "gbk"] {
        let n = half[key].as_u64().unwrap();
        half[key] = (n / 2).into();
        pps[0][key] = (n - n / 2).into();
    }
    pps.push(half);
    let page = render_in_dh_view(&chromium, &v.to_string());
    assert!(
        page.contains("data file contains a repeated location"),
        "the viewer accepted equal frame lists:\n{page}"
    );

    // And without `tl` the viewer shows NaN lifetimes, which the checks above catch.
    let mut v: Value = serde_json::from_str(&json).unwrap();
    for pp in v["pps"].as_array_mut().unwrap() {
        pp.as_object_mut().unwrap().remove("tl");
    }
    let page = render_in_dh_view(&chromium, &v.to_string());
    assert!(page.contains("avg lifetime NaN"), "{page}");
}

// ---------------------------------------------------------------- pprof

/// `go`, or `None` after printing why the test skips.
fn go() -> Option<PathBuf> {
    let found = find_program("go", &["/usr/bin/go", "/usr/lib/go/bin/go"]);
    if found.is_none() {
        println!("skipping: go not found; apt-get install golang-go");
    }
    found
}

/// `go tool pprof ARGS FILE` with its caches and home in `dir`; returns stdout.
fn pprof(go: &Path, dir: &Path, args: &[&str], file: &Path) -> String {
    let home = dir.join("go-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(go);
    cmd.args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .env("HOME", &home)
        .env("GOCACHE", home.join("cache"))
        .env("GOPATH", home.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("PPROF_TMPDIR", home.join("pprof"))
        .env_remove("PPROF_BINARY_PATH");
    run_consumer(cmd, "go tool pprof").0
}

/// Asserts `top` (pprof `-top -unit=B` output) has a row whose flat value is
/// `flat` for `function`.
fn assert_row(top: &str, flat: &str, function: &str) {
    assert!(
        top.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&flat) && l.trim_end().ends_with(function)
        }),
        "no row {flat} … {function} in:\n{top}"
    );
}

#[test]
fn pprof_reads_our_totals_and_function_names() {
    let Some(go) = go() else {
        return;
    };
    let dir = scratch();
    let gz = export(dir.path(), "demo.json", "pprof", &[]);
    assert_eq!(&gz[..2], [0x1f, 0x8b], "gzipped");
    let file = dir.path().join("out.pprof");
    let top = |index: &str| {
        pprof(
            &go,
            dir.path(),
            &[
                "-top",
                "-nodefraction=0",
                "-unit=B",
                &format!("-sample_index={index}"),
            ],
            &file,
        )
    };

    let alloc = top("alloc_space");
    assert!(alloc.contains("Type: alloc_space"), "{alloc}");
    assert!(alloc.contains("Total samples = 4624864B"), "{alloc}");
    assert_row(&alloc, "3564000B", "alloc::vec::Vec<T,A>::push");
    assert_row(
        &alloc,
        "1048576B",
        "<hashbrown::raw::RawTable<(alloc::string::String,alloc::vec::Vec<u8>),alloc::alloc::Global> as core::clone::Clone>::clone",
    );
    assert_row(&alloc, "8192B", "demo::page::Page::new");
    assert_row(&alloc, "0", "demo::parse::tokenize");

    let inuse = top("inuse_space");
    assert!(inuse.contains("Total samples = 69632B"), "{inuse}");
    assert_row(&inuse, "4096B", "alloc::vec::Vec<T>::with_capacity");

    let objects = top("alloc_objects");
    assert!(objects.contains("Total samples = 12843"), "{objects}");
    let objects = top("inuse_objects");
    assert!(objects.contains("Total samples = 3"), "{objects}");
}

#[test]
fn pprof_of_a_sampled_profile_carries_its_period() {
    let Some(go) = go() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut p = common::demo();
    p.meta.mode = alloc_core::format::Mode::Sampled { rate_bytes: 4096 };
    p.untracked = alloc_core::format::Untracked::default();
    write_profile(dir.path(), "sampled.json", &p);
    export(dir.path(), "sampled.json", "pprof", &[]);
    let raw = pprof(&go, dir.path(), &["-raw"], &dir.path().join("out.pprof"));
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    assert!(raw.contains("Period: 4096"), "{raw}");
    assert!(raw.contains("values are estimates"), "{raw}");
}

// ---------------------------------------------------------------- speedscope

/// Checks `v` against the required fields and types of speedscope's file
/// format schema (`FileFormat.File`, `SampledProfile`, `Frame`).
fn assert_speedscope_schema(v: &Value) {
    assert_eq!(
        v["$schema"],
        "https://www.speedscope.app/file-format-schema.json"
    );
    let frames = v["shared"]["frames"].as_array().expect("shared.frames");
    for f in frames {
        let f = f.as_object().unwrap();
        assert!(f["name"].is_string(), "{f:?}");
        for (key, ok) in [
            ("file", Value::is_string as fn(&Value) -> bool),
            ("line", Value::is_u64),
            ("col", Value::is_u64),
        ] {
            assert!(f.get(key).is_none_or(ok), "{key} in {f:?}");
        }
    }
    for p in v["profiles"].as_array().expect("profiles") {
        assert_eq!(p["type"], "sampled");
        assert!(p["name"].is_string());
        let unit = p["unit"].as_str().unwrap();
        assert!(
            [
                "none",
                "nanoseconds",
                "microseconds",
                "milliseconds",
                "seconds",
                "bytes"
            ]
            .contains(&unit),
            "{unit}"
        );
        let start = p["startValue"].as_u64().unwrap();
        let end = p["endValue"].as_u64().unwrap();
        let samples = p["samples"].as_array().unwrap();
        let weights = p["weights"].as_array().unwrap();
        assert_eq!(samples.len(), weights.len());
        let sum: u64 = weights.iter().map(|w| w.as_u64().unwrap()).sum();
        assert_eq!(end - start, sum);
        for s in samples {
            for i in s.as_array().unwrap() {
                assert!(i.as_u64().unwrap() < frames.len() as u64);
            }
        }
    }
    if let Some(i) = v.get("activeProfileIndex") {
        assert!(i.as_u64().unwrap() < v["profiles"].as_array().unwrap().len() as u64);
    }
}

#[test]
fn speedscope_follows_the_schema_and_its_golden_file() {
    let dir = scratch();
    let bytes = export(dir.path(), "demo.json", "speedscope", &[]);
    golden("speedscope.json", &bytes);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_speedscope_schema(&v);
    // One profile per metric, adding up to the totals `summary` shows.
    let ends: Vec<(&str, &str, u64)> = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["unit"].as_str().unwrap(),
                p["endValue"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("bytes allocated", "bytes", 4_624_864),
            ("blocks allocated", "none", 12_543),
            ("bytes live at end", "bytes", 69_632),
            ("bytes live at peak", "bytes", 1_724_864),
        ]
    );
}

// ---------------------------------------------------------------- folded

#[test]
fn folded_is_the_flamegraph_s_and_inferno_draws_it() {
    let dir = scratch();
    let bytes = export(dir.path(), "demo.json", "folded", &[]);
    // The same collapsed stacks as `flamegraph --folded`.
    golden("folded-bytes.txt", &bytes);
    for metric in ["bytes", "blocks", "live", "peak"] {
        let bytes = export(dir.path(), "demo.json", "folded", &["--metric", metric]);
        let text = String::from_utf8(bytes).unwrap();
        let total: u64 = text
            .lines()
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum();
        let want = match metric {
            "bytes" => 4_624_864,
            "blocks" => 12_543,
            "live" => 69_632,
            _ => 1_724_864,
        };
        assert_eq!(total, want, "{metric}");
        let mut svg = Vec::new();
        let mut options = inferno::flamegraph::Options::default();
        inferno::flamegraph::from_lines(&mut options, text.lines(), &mut svg)
            .unwrap_or_else(|e| panic!("inferno rejected --metric {metric}: {e}"));
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.starts_with("<?xml"), "{metric}");
        assert!(svg.contains("demo::main"), "{metric}");
    }
}

// ---------------------------------------------------------------- the command

#[test]
fn without_o_or_with_o_dash_the_export_goes_to_standard_output() {
    let dir = scratch();
    for args in [&[][..], &["-o", "-"][..]] {
        let out = alloc_report(dir.path())
            .args(["export", "demo.json", "--format", "pprof"])
            .args(args)
            .assert()
            .success()
            .get_output()
            .clone();
        assert_eq!(&out.stdout[..2], [0x1f, 0x8b], "pprof into a pipe");
    }
    assert!(!dir.path().join("-").exists(), "no file named `-`");
    let out = alloc_report(dir.path())
        .args(["export", "demo.json", "--format", "dhat"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dhatFileVersion"], 2);
}

#[test]
fn bad_input_and_bad_flags_are_one_line_with_status_2() {
    let dir = scratch();
    std::fs::write(dir.path().join("cut.json"), b"{\"format\": \"alloc-prof").unwrap();
    for (args, want) in [
        (
            &["export", "missing.json", "--format", "dhat"][..],
            "alloc-report: missing.json: no such file\n",
        ),
        (
            &[
                "export",
                "demo.json",
                "--format",
                "pprof",
                "--metric",
                "live",
            ][..],
            "alloc-report: --metric applies to --format folded; the other formats carry every metric\n",
        ),
        (
            &[
                "export",
                "demo.json",
                "--format",
                "speedscope",
                "-o",
                "no/such/dir/out.json",
            ][..],
            "alloc-report: no/such/dir/out.json: cannot write: its directory does not exist\n",
        ),
    ] {
        alloc_report(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(want);
    }
    let out = alloc_report(dir.path())
        .args(["export", "cut.json", "--format", "pprof", "-o", "x.pb.gz"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("alloc-report: cut.json: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.path().join("x.pb.gz").exists(), "nothing written");
}
