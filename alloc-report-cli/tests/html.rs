//! `alloc-report html` through the real binary, without a browser: where the
//! report goes, and bad input. (`html_browser.rs` opens the report in Chromium.)

mod common;

use common::{alloc_report, scratch};
use predicates::prelude::*;

#[test]
fn the_report_is_written_to_the_output_file() {
    let dir = scratch();
    alloc_report(dir.path())
        .args(["html", "demo.json", "-o", "report.html"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    for section in [
        "id=\"summary\"",
        "id=\"timeline\"",
        "id=\"flame\"",
        "id=\"hist-size\"",
        "id=\"top-table\"",
        "id=\"leaks-table\"",
        "id=\"report-data\"",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    assert!(page.contains("demo::leak_on_purpose"));
}

#[test]
fn standard_output_works_in_a_pipe() {
    let dir = scratch();
    let out = alloc_report(dir.path())
        .args(["html", "-"])
        .write_stdin(std::fs::read(dir.path().join("demo.json")).unwrap())
        .assert()
        .success();
    assert!(out.get_output().stdout.starts_with(b"<!DOCTYPE html>"));
}

#[test]
fn bad_input_is_one_line_and_leaves_the_output_alone() {
    let dir = scratch();
    std::fs::write(dir.path().join("report.html"), "precious").unwrap();
    std::fs::write(dir.path().join("broken.json"), "{\"format\": ").unwrap();
    alloc_report(dir.path())
        .args(["html", "broken.json", "-o", "report.html"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::starts_with("alloc-report: broken.json: ")
                .and(predicate::function(|s: &str| s.lines().count() == 1)),
        );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.html")).unwrap(),
        "precious"
    );
    alloc_report(dir.path())
        .args(["html", "missing.json", "-o", "new.html"])
        .assert()
        .code(2)
        .stderr("alloc-report: missing.json: no such file\n");
    assert!(!dir.path().join("new.html").exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no temporary file left"
    );
}
