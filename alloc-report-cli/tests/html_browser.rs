//! `alloc-report html` opened in a real browser: headless Chromium loads the
//! report of a real profile (the `leaky` example run under the profiler) and
//! the test reads back what the page's script drew (`--dump-dom`), what it
//! logged (`--enable-logging=stderr`) and what it looked like (`--screenshot`).
//!
//! Without a Chromium binary every test here prints why and passes; with one,
//! each launch is limited to [`BROWSER_TIMEOUT`] so a hung browser cannot
//! hang the suite.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloc_core::testing::ProfileBuilder;
use common::{alloc_report, write_profile};

/// Longest a browser launch may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// The browser, or `None` after saying why the test is skipped.
fn browser_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        eprintln!("skipping: chromium not found; install it with apt-get install chromium");
    }
    found
}

/// What one headless run produced.
struct Run {
    /// Standard output: the serialized DOM with `--dump-dom`.
    dom: String,
    /// The browser's log.
    log: String,
}

impl Run {
    /// Console messages and uncaught exceptions from the page. The report logs
    /// nothing, so any console line is a finding.
    fn console_problems(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect()
    }

    fn assert_clean_console(&self) {
        let problems = self.console_problems();
        assert!(
            problems.is_empty(),
            "the page logged to the console:\n{}",
            problems.join("\n")
        );
    }
}

/// Runs headless Chromium on `url` with `extra` flags, in a fresh profile
/// directory under `dir`, killed after [`BROWSER_TIMEOUT`].
fn headless(browser: &Path, dir: &Path, url: &str, extra: &[&str]) -> Run {
    let user_data = tempfile::tempdir_in(dir).unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--timeout=5000",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", user_data.path().display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Its own process group, so a timeout can end the browser and its helpers.
    .process_group(0);
    let mut child = cmd.spawn().expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!("chromium did not finish {url} within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run {
        dom: out.join().unwrap().unwrap(),
        log: err.join().unwrap().unwrap(),
    }
}

/// `file://` URL of `path` with a fragment.
fn url(path: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", path.display())
}

/// The opening tag of the element with `id` in `dom`.
fn tag_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in the page"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// The value of attribute `name` of the element with `id`, if it has one.
fn attr(dom: &str, id: &str, name: &str) -> Option<String> {
    let tag = tag_of(dom, id);
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(
        tag[at..at + len]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn num_attr(dom: &str, id: &str, name: &str) -> f64 {
    attr(dom, id, name)
        .unwrap_or_else(|| panic!("#{id} has no {name}: {}", tag_of(dom, id)))
        .parse()
        .unwrap()
}

/// The path of example program `name`, built by `cargo test --workspace`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: the example programs are built by `cargo test --workspace`",
        path.display()
    );
    path
}

/// Profiles the `leaky` example (with `env` added) and writes its report.
fn leaky_report(dir: &Path, env: &[(&str, &str)]) -> PathBuf {
    let profile = dir.join("profile.json");
    let out = Command::new(example("leaky"))
        .current_dir(dir)
        .env("ALLOC_PROFILER", &profile)
        .env("ALLOC_PROFILER_QUIET", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    html_of(dir, "profile.json")
}

/// Runs `alloc-report html` on `dir/name` and returns the report's path.
fn html_of(dir: &Path, name: &str) -> PathBuf {
    alloc_report(dir)
        .args(["html", name, "-o", "report.html"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    dir.join("report.html")
}

/// Folded stacks of the profile in `dir` by `metric`, from the CLI.
fn folded(dir: &Path, metric: &str) -> Vec<(String, u64)> {
    let out = alloc_report(dir)
        .args(["flamegraph", "profile.json", "--folded", "--metric", metric])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            let (stack, n) = l.rsplit_once(' ').unwrap();
            (stack.to_owned(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_console_check_catches_errors() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("throws.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><p id=\"x\">x</p><script>console.error('logged on purpose');\
         document.getElementById('x').dataset.ran = '1';\
         throw new Error('thrown on purpose');</script>",
    )
    .unwrap();
    let run = headless(&browser, dir.path(), &url(&page, ""), &["--dump-dom"]);
    assert_eq!(attr(&run.dom, "x", "data-ran").as_deref(), Some("1"));
    let problems = run.console_problems();
    assert!(
        problems.iter().any(|l| l.contains("thrown on purpose")),
        "an uncaught exception went unnoticed:\n{}",
        run.log
    );
    assert!(
        problems.iter().any(|l| l.contains("logged on purpose")),
        "console.error went unnoticed:\n{}",
        run.log
    );
}

#[test]
fn a_real_profile_draws_every_chart_and_table() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = leaky_report(dir.path(), &[]);
    let run = headless(
        &browser,
        dir.path(),
        &url(&report, ""),
        &["--dump-dom", "--window-size=1280,2400"],
    );
    run.assert_clean_console();
    let dom = &run.dom;
    assert_eq!(attr(dom, "flame", "data-metric").as_deref(), Some("bytes"));
    let frames = num_attr(dom, "flame", "data-frames");
    assert!(frames >= 20.0, "only {frames} flame frames drawn");
    assert_eq!(
        dom.matches("<div class=\"fr ").count() as f64,
        frames,
        "data-frames counts the frames in the page"
    );
    // The script's number formatting agrees with alloc_core::number.
    let total: u64 = folded(dir.path(), "bytes").iter().map(|l| l.1).sum();
    assert_eq!(
        attr(dom, "flame", "data-total-label"),
        Some(alloc_core::number::bytes(total))
    );
    // Heap over time: the series and the peak with its label.
    assert!(num_attr(dom, "timeline", "data-points") >= 2.0);
    assert!(dom.contains("<path class=\"tl-line\" d=\"M"));
    assert!(dom.contains("<path class=\"tl-band\" d=\"M"));
    tag_of(dom, "peak-marker");
    assert!(dom.contains("class=\"peak-dot\""));
    let peak_label = dom.find("id=\"peak-label\"").unwrap();
    assert!(dom[peak_label..].starts_with("id=\"peak-label\" class=\"peak-label\""));
    assert!(dom[peak_label..peak_label + 200].contains(">peak "));
    // Histograms: bars in each (leaky frees blocks, so lifetimes exist too).
    for kind in ["size", "align", "lifetime"] {
        let bars = num_attr(dom, &format!("hist-{kind}"), "data-bars");
        assert!(bars >= 1.0, "no {kind} bars");
    }
    assert!(dom.matches("<rect class=\"bar\"").count() >= 5);
    // Tables: a row per callsite, and the leaks with the known one.
    let rows = dom.matches("<tr class=\"row\">").count();
    assert!(rows >= 10, "{rows} table rows");
    let leaks = &dom[dom.find("id=\"leaks-table\"").unwrap()..];
    assert!(leaks.contains("leaky::leak_cache_entries"));
    assert_eq!(attr(dom, "flame-match", "data-pct"), None, "no search yet");
    assert!(dom.contains("<body data-ready=\"1\">"));
}

#[test]
fn the_url_fragment_drives_metric_search_and_sort() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = leaky_report(dir.path(), &[]);
    let query = "Leak_Cache";
    let run = headless(
        &browser,
        dir.path(),
        &url(&report, &format!("#metric=live&search={query}&sort=blocks")),
        &["--dump-dom", "--window-size=1280,2400"],
    );
    run.assert_clean_console();
    let dom = &run.dom;
    assert_eq!(attr(dom, "flame", "data-metric").as_deref(), Some("live"));
    assert!(num_attr(dom, "flame", "data-frames") >= 2.0);
    // The share the page reports is the share of folded `live` stacks with a
    // frame containing the query, case-insensitively.
    let lines = folded(dir.path(), "live");
    let total: u64 = lines.iter().map(|l| l.1).sum();
    let q = query.to_lowercase();
    let hit: u64 = lines
        .iter()
        .filter(|(s, _)| s.split(';').any(|f| f.to_lowercase().contains(&q)))
        .map(|l| l.1)
        .sum();
    assert!(hit > 0 && hit < total, "leaky leaks elsewhere too");
    let want = format!("{:.1}", hit as f64 * 100.0 / total as f64);
    assert_eq!(attr(dom, "flame-match", "data-pct"), Some(want.clone()));
    assert!(num_attr(dom, "flame-match", "data-frames") >= 1.0);
    let readout = &dom[dom.find("id=\"flame-match\"").unwrap()..];
    assert!(
        readout[..readout.find("</span>").unwrap()].contains(&format!("Matched {want}%")),
        "{}",
        &readout[..200]
    );
    assert!(dom.matches("class=\"fr user hit\"").count() >= 1);
    assert!(dom.contains("class=\"flame searching\""));
    // sort=blocks: the callsite table in descending numeric order of blocks.
    let table = &dom[dom.find("id=\"top-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains("aria-sort=\"descending\""));
    let blocks_col = 3;
    let blocks: Vec<u64> = table
        .split("<tr class=\"row\">")
        .skip(1)
        .map(|row| {
            let cell = row.split("<td").nth(blocks_col + 1).unwrap();
            let v = &cell[cell.find("data-v=\"").unwrap() + 8..];
            v[..v.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    assert!(blocks.len() >= 10);
    assert!(
        blocks.windows(2).all(|w| w[0] >= w[1]),
        "not sorted numerically: {blocks:?}"
    );
    assert!(
        blocks[0] >= 100,
        "the 100-entry cache allocates the most blocks"
    );
}

/// Clicks and hovers through the page's own event handlers, from a script
/// added to a copy of the report, and records what each step changed.
const DRIVER: &str = r##"<script>
(function () {
  const out = {};
  const frame = Array.from(document.querySelectorAll("#flame .fr"))
    .find((f) => f.textContent === "leaky::leak_cache_entries");
  const before = document.querySelectorAll("#flame .fr").length;
  frame.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 50, clientY: 50 }));
  const tip = document.getElementById("tooltip");
  out.tip = tip.hidden ? "hidden" : tip.textContent;
  frame.click();
  const zoomed = Array.from(document.querySelectorAll("#flame .fr"))
    .find((f) => f.textContent === "leaky::leak_cache_entries");
  out.zoomCaption = document.getElementById("flame-caption").textContent;
  out.zoomWidth = zoomed ? zoomed.style.width : "gone";
  out.flameWidth = document.getElementById("flame").clientWidth;
  out.resetEnabled = !document.getElementById("flame-reset").disabled;
  document.getElementById("flame-reset").click();
  out.resetCaption = document.getElementById("flame-caption").textContent;
  out.framesBack = document.querySelectorAll("#flame .fr").length === before;
  document.querySelector("#metric-buttons button[data-metric=blocks]").click();
  out.metric = document.getElementById("flame").dataset.metric;
  out.hash = location.hash;
  const search = document.getElementById("flame-search");
  search.value = "make_buffers";
  search.dispatchEvent(new Event("input"));
  out.match = document.getElementById("flame-match").dataset.pct;
  const table = document.getElementById("top-table");
  const bytesHead = Array.from(table.tHead.rows[0].cells).find((th) => th.textContent === "Bytes");
  bytesHead.click();
  bytesHead.click();
  out.sort = bytesHead.getAttribute("aria-sort");
  out.bytesOrder = Array.from(table.tBodies).map((b) => Number(b.rows[0].cells[2].dataset.v));
  const row = table.tBodies[0].rows[0];
  row.click();
  out.stackShown = !row.nextElementSibling.hidden;
  out.stackFrames = row.nextElementSibling.querySelectorAll("li").length;
  document.body.dataset.driver = JSON.stringify(out);
})();
</script>"##;

#[test]
fn clicks_zoom_sort_and_expand() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = leaky_report(dir.path(), &[]);
    let page = std::fs::read_to_string(&report).unwrap();
    let driven = dir.path().join("driven.html");
    std::fs::write(
        &driven,
        page.replace("</body>", &format!("{DRIVER}</body>")),
    )
    .unwrap();
    let run = headless(
        &browser,
        dir.path(),
        &url(&driven, ""),
        &["--dump-dom", "--window-size=1280,2400"],
    );
    run.assert_clean_console();
    let at = run.dom.find("data-driver=\"").expect("the driver ran") + 13;
    let raw = &run.dom[at..at + run.dom[at..].find('"').unwrap()];
    let out: serde_json::Value =
        serde_json::from_str(&raw.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();
    let tip = out["tip"].as_str().unwrap();
    assert!(tip.starts_with("leaky::leak_cache_entries"), "{tip}");
    assert!(
        tip.contains("bytes allocated:") && tip.contains("click to zoom"),
        "{tip}"
    );
    assert!(
        out["zoomCaption"]
            .as_str()
            .unwrap()
            .starts_with("Zoomed into leaky::leak_cache_entries")
    );
    let width: f64 = out["zoomWidth"]
        .as_str()
        .unwrap()
        .trim_end_matches("px")
        .parse()
        .unwrap();
    assert!(
        width >= out["flameWidth"].as_f64().unwrap() - 2.0,
        "the zoomed frame fills the width: {out}"
    );
    assert_eq!(out["resetEnabled"], true);
    assert!(
        out["resetCaption"]
            .as_str()
            .unwrap()
            .starts_with("Showing all")
    );
    assert_eq!(out["framesBack"], true);
    assert_eq!(out["metric"], "blocks");
    assert_eq!(out["hash"], "#metric=blocks", "the view is kept in the URL");
    assert!(out["match"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    assert_eq!(
        out["sort"], "ascending",
        "a second click reverses the order"
    );
    let order: Vec<u64> = out["bytesOrder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    assert_eq!(out["stackShown"], true);
    assert!(out["stackFrames"].as_u64().unwrap() >= 1);
}

#[test]
fn the_screenshot_is_a_drawn_page() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = leaky_report(dir.path(), &[]);
    let shot = dir.path().join("shot.png");
    let run = headless(
        &browser,
        dir.path(),
        &url(&report, ""),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
        ],
    );
    run.assert_clean_console();
    let decoder = png::Decoder::new(std::fs::File::open(&shot).expect("a screenshot"));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2400));
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let mut colours = std::collections::HashSet::new();
    let mut not_white = 0usize;
    let mut total = 0usize;
    for p in pixels {
        total += 1;
        if p[..3] != [255, 255, 255] {
            not_white += 1;
        }
        colours.insert([p[0], p[1], p[2]]);
    }
    assert!(
        colours.len() > 500,
        "only {} distinct colours: a blank or unstyled page",
        colours.len()
    );
    assert!(
        not_white * 4 > total,
        "only {not_white} of {total} pixels are not white"
    );
}

#[test]
fn empty_hostile_and_sampled_profiles_open_without_errors() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Empty: nothing allocated, no timeline, no leaks.
    write_profile(
        dir.path(),
        "profile.json",
        &ProfileBuilder::new("/bin/idle").build(),
    );
    let report = html_of(dir.path(), "profile.json");
    let run = headless(
        &browser,
        dir.path(),
        &url(&report, "#search=x"),
        &["--dump-dom"],
    );
    run.assert_clean_console();
    let dom = &run.dom;
    assert_eq!(attr(dom, "flame", "data-frames").as_deref(), Some("0"));
    assert!(dom.contains("No allocations were recorded"));
    assert_eq!(attr(dom, "timeline", "data-points").as_deref(), Some("0"));
    assert!(dom.contains("No heap timeline was recorded"));
    assert!(dom.contains("No leaks"));
    assert!(dom.contains("<body data-ready=\"1\">"));

    // Hostile names in a sampled profile: the names show as text, nothing runs.
    let evil = "evil::</script><script>document.title='pwned'</script><!--";
    let mut b = ProfileBuilder::new("/bin/<img src=x onerror=\"document.title='img'\">");
    b.sampled(4096);
    for (i, name) in [evil, "demo::main"].into_iter().enumerate() {
        b.site(
            &[
                (name, "src/<b>main</b>.rs", 3),
                ("demo::root", "src/main.rs", 1),
            ],
            |c| {
                c.blocks = 2 + i as u64;
                c.bytes = 4096 * (1 + i as u64);
                c.live_blocks = 1;
                c.live_bytes = 4096;
                c.peak_blocks = 1;
                c.peak_bytes = 4096;
            },
        );
    }
    write_profile(dir.path(), "profile.json", &b.build());
    let report = html_of(dir.path(), "profile.json");
    let run = headless(
        &browser,
        dir.path(),
        &url(&report, "#search=%3C%2Fscript"),
        &["--dump-dom"],
    );
    run.assert_clean_console();
    let dom = &run.dom;
    let title = &dom[dom.find("<title>").unwrap() + 7..dom.find("</title>").unwrap()];
    assert!(
        title.starts_with("Heap profile: &lt;img"),
        "title changed: {title}"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "no element came from a name"
    );
    assert_eq!(dom.matches("<script").count(), 2);
    assert!(dom.contains("id=\"sampled-banner\""));
    assert!(num_attr(dom, "flame", "data-frames") >= 3.0);
    assert_eq!(
        attr(dom, "flame-match", "data-pct").as_deref(),
        Some("33.3")
    );
    assert!(dom.contains("&lt;/script&gt;&lt;script&gt;document.title"));
}
