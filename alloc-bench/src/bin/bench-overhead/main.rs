//! bench-overhead: issue 5's benchmark in one run. Runs the workload under
//! each variant in turn (interleaved rounds, several of them, medians), then
//! prints the medians and the ratios against System and against dhat-rs and
//! heaptrack, how close a sampled profile's estimates come to an exact one's,
//! the two-thread scaling of the sessions, the profiler's memory per live
//! block, and Callgrind's instructions per allocation event of the hot path.
//! `docs/performance.md` has the figures of the reference machine.
//!
//! ```sh
//! cargo run --release -p alloc-bench --bin bench-overhead
//! cargo run --release -p alloc-bench --bin bench-overhead -- --reps 3 --only callgrind
//! ```

mod accuracy;
mod callgrind;
mod machine;
mod runner;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use alloc_bench::Line;
use serde::Serialize;

use machine::Machine;
use runner::Variant;

const USAGE: &str = "\
usage: bench-overhead [OPTIONS]

Runs issue 5's overhead benchmark and prints the figures. Sections:
  overhead   the full workload under system, idle, exact, sampled, dhat and
             heaptrack, in interleaved rounds; medians and ratios
  accuracy   a sampled profile's per-callsite bytes against an exact one's
  scaling    one mix per thread on 1 and on 2 threads: throughput ratio
  memory     the profiler's bytes per live block (profile and resident set)
  callgrind  instructions per allocation event of the hot path (needs valgrind)

OPTIONS:
  --reps N          rounds of each timed section (default 5)
  --scale F         scale of the full workload (default 1: ~20M events)
  --scaling-scale F scale of each thread's mix in `scaling` (default 1)
  --live N          live blocks held in `memory` (default 1000000)
  --callgrind-n N   allocations of the micro workload in `callgrind` (default 200000)
  --callgrind-scale F  scale of the mix in `callgrind` (default 0.05)
  --seeds N         sampled sessions in `accuracy`, seeds 0 to N-1 (default 5)
  --only LIST       run only these sections (comma-separated)
  --skip LIST       leave out these sections or variants (dhat, heaptrack)
  --no-build        do not run `cargo build` for the variant binaries first
  --bin-dir DIR     where bench-system, bench-profiler and bench-dhat are
                    (default: beside this binary)
  --save FILE       also write every run's result line and the summary as JSON
  --no-wait         time runs even while other processes use the CPU (by
                    default each timed run waits until the machine is idle,
                    and is repeated, up to 3 tries, when another process took
                    more than 5% of the CPU time during it)
  --max-wait SECS   the longest wait for an idle machine before a run
                    (default 300; then the run is timed anyway)
  -h, --help        this text";

const SECTIONS: [&str; 5] = ["overhead", "accuracy", "scaling", "memory", "callgrind"];

#[derive(Debug, Clone)]
struct Opts {
    reps: usize,
    scale: f64,
    scaling_scale: f64,
    live: u64,
    callgrind_n: u64,
    callgrind_scale: f64,
    seeds: u64,
    sections: BTreeSet<String>,
    skip: BTreeSet<String>,
    build: bool,
    bin_dir: Option<PathBuf>,
    save: Option<PathBuf>,
    wait: bool,
    max_wait: u64,
}

impl Opts {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut o = Self {
            reps: 5,
            scale: 1.0,
            scaling_scale: 1.0,
            live: 1_000_000,
            callgrind_n: 200_000,
            callgrind_scale: 0.05,
            seeds: 5,
            sections: SECTIONS.iter().map(|s| (*s).to_owned()).collect(),
            skip: BTreeSet::new(),
            build: true,
            bin_dir: None,
            save: None,
            wait: true,
            max_wait: 300,
        };
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
            fn positive<T: std::str::FromStr + PartialOrd + Default>(
                flag: &str,
                v: &str,
            ) -> Result<T, String> {
                v.parse::<T>()
                    .ok()
                    .filter(|x| *x > T::default())
                    .ok_or_else(|| format!("{flag} needs a positive number, not `{v}`"))
            }
            match a.as_str() {
                "--reps" => o.reps = positive("--reps", &value("--reps")?)?,
                "--scale" => o.scale = positive("--scale", &value("--scale")?)?,
                "--scaling-scale" => {
                    o.scaling_scale = positive("--scaling-scale", &value("--scaling-scale")?)?;
                }
                "--live" => o.live = positive("--live", &value("--live")?)?,
                "--seeds" => o.seeds = positive("--seeds", &value("--seeds")?)?,
                "--callgrind-n" => {
                    o.callgrind_n = positive("--callgrind-n", &value("--callgrind-n")?)?
                }
                "--callgrind-scale" => {
                    o.callgrind_scale =
                        positive("--callgrind-scale", &value("--callgrind-scale")?)?;
                }
                "--only" => {
                    let v = value("--only")?;
                    o.sections = v.split(',').map(str::to_owned).collect();
                    if let Some(bad) = o.sections.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
                        return Err(format!("unknown section `{bad}` ({})", SECTIONS.join(", ")));
                    }
                }
                "--skip" => {
                    for s in value("--skip")?.split(',') {
                        if !SECTIONS.contains(&s) && s != "dhat" && s != "heaptrack" {
                            return Err(format!(
                                "unknown section or variant `{s}` ({}, dhat, heaptrack)",
                                SECTIONS.join(", ")
                            ));
                        }
                        o.sections.remove(s);
                        o.skip.insert(s.to_owned());
                    }
                }
                "--no-build" => o.build = false,
                "--no-wait" => o.wait = false,
                "--max-wait" => o.max_wait = positive("--max-wait", &value("--max-wait")?)?,
                "--bin-dir" => o.bin_dir = Some(PathBuf::from(value("--bin-dir")?)),
                "--save" => o.save = Some(PathBuf::from(value("--save")?)),
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unexpected argument `{other}`")),
            }
        }
        Ok(o)
    }

    fn wants(&self, section: &str) -> bool {
        self.sections.contains(section)
    }
}

/// Every run, for `--save`.
#[derive(Default, Serialize)]
struct Saved {
    machine: BTreeMapS,
    runs: Vec<SavedRun>,
    summary: Vec<Target>,
    /// Timed runs repeated because other processes used the CPU.
    repeated: u32,
    /// Timed runs kept although disturbed (after the last try).
    disturbed: u32,
    #[serde(skip)]
    wait: bool,
    #[serde(skip)]
    max_wait: u64,
}

/// Tries per timed run before a disturbed one is kept.
const TRIES: u32 = 3;

impl Saved {
    /// Runs `v` on `args` once for the timing tables: waits for an idle
    /// machine first and repeats a run during which other processes took more
    /// than `DISTURBED` of the CPU time (see `--no-wait`).
    fn timed(&mut self, section: &'static str, round: usize, v: &Variant, args: &[String]) -> Line {
        let mut tries = 0;
        loop {
            tries += 1;
            if self.wait
                && machine::wait_idle(std::time::Duration::from_secs(self.max_wait)).is_none()
            {
                eprintln!(
                    "(the machine stayed busy for {} s; timing anyway)",
                    self.max_wait
                );
            }
            let before = machine::CpuSample::now();
            let line = v.run(args).unwrap_or_else(|e| fail(e));
            let others = machine::CpuSample::now().others_since(&before);
            let disturbed = self.wait && others > machine::DISTURBED;
            if disturbed && tries < TRIES {
                self.repeated += 1;
                eprintln!(
                    "({} disturbed: other processes took {:.0}% of the CPU; repeating it)",
                    v.name(),
                    100.0 * others
                );
                continue;
            }
            if disturbed {
                self.disturbed += 1;
            }
            self.runs.push(SavedRun {
                section,
                round,
                others_cpu: others,
                tries,
                line: line.clone(),
            });
            return line;
        }
    }
}

type BTreeMapS = std::collections::BTreeMap<String, String>;

#[derive(Serialize)]
struct SavedRun {
    section: &'static str,
    round: usize,
    /// Share of the machine's CPU time other processes took during the run.
    others_cpu: f64,
    /// Tries it took to get an undisturbed run.
    tries: u32,
    line: Line,
}

/// One of the issue's targets and what was measured.
#[derive(Clone, Serialize)]
struct Target {
    what: String,
    measured: String,
    met: Option<bool>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("bench-overhead: {e}");
    std::process::exit(1);
}

fn main() {
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e == USAGE => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Some(d) = &opts.bin_dir {
        runner::set_bin_dir(d.clone());
    }
    if opts.build {
        runner::build_variants().unwrap_or_else(|e| fail(e));
    }
    let m = Machine::probe();
    let mut saved = Saved {
        wait: opts.wait,
        max_wait: opts.max_wait,
        ..Saved::default()
    };
    for (k, v) in [
        ("date", &m.date),
        ("cpu", &m.cpu),
        ("libc", &m.libc),
        ("rustc", &m.rustc),
    ] {
        saved.machine.insert(k.into(), v.clone());
    }
    saved.machine.insert("cores".into(), m.cores.to_string());
    saved
        .machine
        .insert("load_at_start".into(), machine::load());
    println!("alloc-bench: issue 5's overhead benchmark");
    println!(
        "machine: {} cores, {}; {}; {}",
        m.cores, m.cpu, m.libc, m.rustc
    );
    println!(
        "date: {}; load average at start: {}",
        m.date,
        machine::load()
    );
    if !opts.wait && machine::load1() > 1.0 {
        println!(
            "warning: the machine is busy (1-minute load {:.2}) and --no-wait times runs anyway: wall times will be noisy; Callgrind's counts are not affected",
            machine::load1()
        );
    }
    let mut targets = Vec::new();
    let mut full_exact: Option<Line> = None;
    if opts.wants("overhead") {
        full_exact = overhead(&opts, &mut saved, &mut targets);
    }
    if opts.wants("accuracy") {
        accuracy_section(&opts, &mut targets);
    }
    if opts.wants("scaling") {
        scaling(&opts, &mut saved, &mut targets);
    }
    if opts.wants("memory") {
        memory(&opts, &mut saved, &mut targets, full_exact.as_ref());
    }
    if opts.wants("callgrind") {
        callgrind_section(&opts, &mut saved);
    }
    if !targets.is_empty() {
        println!("\n== Issue 5's targets");
        for t in &targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!("  {:<52} {:>14}  {verdict}", t.what, t.measured);
        }
    }
    if opts.wait
        && ["overhead", "scaling", "memory"]
            .iter()
            .any(|s| opts.wants(s))
    {
        println!(
            "\ntimed runs repeated because another process took over {:.0}% of the CPU during them: {}; kept disturbed after {TRIES} tries: {}",
            100.0 * machine::DISTURBED,
            saved.repeated,
            saved.disturbed
        );
    }
    println!("load average at end: {}", machine::load());
    saved.machine.insert("load_at_end".into(), machine::load());
    saved.summary = targets;
    if let Some(path) = &opts.save {
        let text = serde_json::to_string_pretty(&saved).unwrap_or_else(|e| fail(e));
        std::fs::write(path, text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        println!("saved every run to {}", path.display());
    }
}

fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("alloc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| fail(format!("{}: {e}", d.display())));
    d
}

fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `variants` on `args` for `reps` interleaved rounds (the order rotates
/// each round); returns each variant's lines in the variants' order.
fn rounds(
    section: &'static str,
    variants: &[Variant],
    args: &[String],
    reps: usize,
    saved: &mut Saved,
) -> Vec<Vec<Line>> {
    let mut lines: Vec<Vec<Line>> = vec![Vec::new(); variants.len()];
    for round in 0..reps {
        let mut progress = format!("{section} round {}/{reps}:", round + 1);
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let line = saved.timed(section, round, &variants[i], args);
            let _ = write!(
                progress,
                " {} {:.3} s",
                variants[i].name(),
                secs(line.workload_ns)
            );
            lines[i].push(line);
        }
        eprintln!("{progress}");
    }
    lines
}

fn overhead(opts: &Opts, saved: &mut Saved, targets: &mut Vec<Target>) -> Option<Line> {
    let scratch = scratch_dir();
    let mut variants = vec![
        Variant::System,
        Variant::Idle,
        Variant::Exact,
        Variant::Sampled,
    ];
    if !opts.skip.contains("dhat") {
        variants.push(Variant::Dhat);
    }
    if !opts.skip.contains("heaptrack") {
        if have("heaptrack") {
            variants.push(Variant::Heaptrack {
                scratch: scratch.clone(),
            });
        } else {
            println!("(heaptrack is not on PATH: its row is left out)");
        }
    }
    let args = vec![
        "full".to_owned(),
        "--scale".to_owned(),
        opts.scale.to_string(),
    ];
    println!(
        "\n== Overhead: the full workload (scale {}), {} interleaved rounds, medians of the workload's wall time",
        opts.scale, opts.reps
    );
    let lines = rounds("overhead", &variants, &args, opts.reps, saved);
    let _ = std::fs::remove_dir_all(&scratch);
    let med: Vec<f64> = lines
        .iter()
        .map(|ls| median(&ls.iter().map(|l| secs(l.workload_ns)).collect::<Vec<_>>()))
        .collect();
    let of = |name: &str| {
        variants
            .iter()
            .position(|v| v.name() == name)
            .map(|i| med[i])
    };
    let system = of("system").unwrap_or(f64::NAN);
    let dhat = of("dhat");
    let heaptrack = of("heaptrack");
    println!(
        "  {:<10} {:<32} {:>9} {:>17} {:>9} {:>10} {:>12}",
        "variant", "", "median", "min - max", "x System", "dhat-rs /", "heaptrack /"
    );
    for (i, v) in variants.iter().enumerate() {
        let all: Vec<f64> = lines[i].iter().map(|l| secs(l.workload_ns)).collect();
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = all.iter().copied().fold(0.0, f64::max);
        let vs = |base: Option<f64>| {
            base.map_or_else(|| "-".to_owned(), |b| format!("{:.2}", b / med[i]))
        };
        println!(
            "  {:<10} {:<32} {:>7.3} s {:>7.3} - {:>5.3} s {:>8.2}x {:>10} {:>12}",
            v.name(),
            v.describe(),
            med[i],
            lo,
            hi,
            med[i] / system,
            vs(dhat),
            vs(heaptrack),
        );
    }
    println!(
        "  (x System: the variant's median over System's; dhat-rs / and heaptrack /: how many times faster than them)"
    );
    let idle_i = variants.iter().position(|v| *v == Variant::Idle);
    let exact_i = variants.iter().position(|v| *v == Variant::Exact);
    if let Some(events) = idle_i.and_then(|i| lines[i].first()).and_then(|l| l.events) {
        println!(
            "  events per run: {events} allocator calls (allocations, reallocations and frees, counted by the idle wrapper), {:.1}M per second under System",
            events as f64 / system / 1e6
        );
    }
    let mut exact_line = None;
    for (i, v) in variants.iter().enumerate() {
        if !matches!(v, Variant::Exact | Variant::Sampled) {
            continue;
        }
        let write = median(
            &lines[i]
                .iter()
                .filter_map(|l| l.write_ns.map(secs))
                .collect::<Vec<_>>(),
        );
        let Some(l) = lines[i].last() else { continue };
        if let (Some(p), Some(events)) = (&l.profile, l.events) {
            let mode = match p.rate_bytes {
                Some(r) => format!("{} at {r} bytes", p.mode),
                None => p.mode.clone(),
            };
            println!(
                "  {} session: profile written in {write:.3} s (median, not in the workload's time); meta.mode {mode}; totals count {} events for the workload's {events}; {} callsites; capture {}; profiler memory {:.1} MiB at the end",
                v.name(),
                p.events(),
                p.callsites,
                p.capture,
                p.profiler_bytes as f64 / (1 << 20) as f64,
            );
            if p.internal_errors + p.untracked_blocks + p.stacks_not_recorded > 0 {
                println!(
                    "  warning: the {} profile reports {} internal errors, {} untracked blocks, {} stacks not recorded",
                    v.name(),
                    p.internal_errors,
                    p.untracked_blocks,
                    p.stacks_not_recorded
                );
            }
        }
        if *v == Variant::Exact {
            exact_line = Some(l.clone());
        }
    }
    if let Some(idle) = of("idle") {
        targets.push(Target {
            what: "idle wrapper <= 1.05x System (aim 1.02x)".into(),
            measured: format!("{:.3}x", idle / system),
            met: Some(idle / system <= 1.05),
        });
    }
    if let Some(exact) = exact_i.map(|i| med[i]) {
        targets.push(Target {
            what: "exact session <= 2.0x System (aim 1.3x)".into(),
            measured: format!("{:.2}x", exact / system),
            met: Some(exact / system <= 2.0),
        });
        if let Some(d) = dhat {
            targets.push(Target {
                what: "exact session >= 5x faster than dhat-rs".into(),
                measured: format!("{:.2}x", d / exact),
                met: Some(d / exact >= 5.0),
            });
        }
        if let Some(h) = heaptrack {
            targets.push(Target {
                what: "exact session >= 2.5x faster than heaptrack".into(),
                measured: format!("{:.2}x", h / exact),
                met: Some(h / exact >= 2.5),
            });
        }
    }
    if let Some(sampled) = of("sampled") {
        targets.push(Target {
            what: "sampled session (512 KiB) <= 1.05x System".into(),
            measured: format!("{:.3}x", sampled / system),
            met: Some(sampled / system <= 1.05),
        });
    }
    exact_line
}

fn accuracy_section(opts: &Opts, targets: &mut Vec<Target>) {
    let scratch = scratch_dir();
    println!(
        "\n== Accuracy: sampled sessions' per-callsite estimates against an exact session's figures, the full workload (scale {}), one exact run and sampled runs with seeds 0 to {}",
        opts.scale,
        opts.seeds - 1
    );
    let run = |v: Variant, name: &str, extra: &[String]| {
        let path = scratch.join(name);
        let mut args = vec![
            "full".to_owned(),
            "--scale".to_owned(),
            opts.scale.to_string(),
            "--profile".to_owned(),
            path.display().to_string(),
        ];
        args.extend_from_slice(extra);
        v.run(&args).unwrap_or_else(|e| fail(e));
        let (p, refused) = accuracy::load(&path).unwrap_or_else(|e| fail(e));
        if let Some(e) = refused {
            println!("  warning: alloc-core's loader refuses the {name} profile: {e}");
        }
        let _ = std::fs::remove_file(&path);
        p
    };
    let exact = run(Variant::Exact, "exact.json", &[]);
    let sampled: Vec<_> = (0..opts.seeds)
        .map(|seed| {
            let extra = ["--seed".to_owned(), seed.to_string()];
            run(Variant::Sampled, &format!("sampled-{seed}.json"), &extra)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    let rate = alloc_bench::SAMPLE_RATE as f64;
    // Seed 0's table, as a single run shows it; then every seed's errors
    // for the same callsites, against the spread chance alone gives.
    let rows = accuracy::compare(&exact, &sampled[0], alloc_core::metric::Metric::Bytes, 10);
    // Each seed's rows for every callsite, looked up by the exact stack.
    let all_rows: Vec<Vec<accuracy::Row>> = sampled
        .iter()
        .map(|s| accuracy::compare(&exact, s, alloc_core::metric::Metric::Bytes, usize::MAX))
        .collect();
    let matched: Vec<Vec<Option<&accuracy::Row>>> = rows
        .iter()
        .map(|r| {
            all_rows
                .iter()
                .map(|seed| {
                    seed.iter()
                        .find(|o| o.stack.is_some() && o.stack == r.stack)
                })
                .collect()
        })
        .collect();
    let errors: Vec<Vec<f64>> = matched
        .iter()
        .map(|seeds| {
            seeds
                .iter()
                .map(|o| o.map_or(0.0, accuracy::Row::error_pct))
                .collect()
        })
        .collect();
    println!(
        "  top {} callsites by bytes allocated: exact, seed 0's estimate and error; over {} seeds: mean error, range, chance's standard deviation (sd: 100% / sqrt(bytes / 512 KiB), as for blocks far smaller than the rate), the mean in standard errors (z: mean / (sd / sqrt(seeds)); an unbiased estimator keeps |z| below about 2 for most callsites), and the chance of landing within 10% (P: chance alone, the callsite's events taken at their mean size)",
        rows.len(),
        opts.seeds
    );
    let mut worst = 0.0f64;
    let (mut within, mut all, mut within0) = (0usize, 0usize, 0usize);
    let mut worst_z = 0.0f64;
    let (mut expected_within, mut all_within) = (0.0f64, 1.0f64);
    for (r, errs) in rows.iter().zip(&errors) {
        worst = worst.max(r.error_pct().abs());
        within0 += usize::from(r.error_pct().abs() <= 10.0);
        within += errs.iter().filter(|e| e.abs() <= 10.0).count();
        all += errs.len();
        let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
        let sd = 100.0 / (r.exact.max(1) as f64 / rate).sqrt();
        let z = mean / (sd / (errs.len().max(1) as f64).sqrt());
        worst_z = worst_z.max(z.abs());
        let chance = accuracy::chance_within(
            accuracy::relative_sd(r.exact, r.events, alloc_bench::SAMPLE_RATE),
            0.10,
        );
        expected_within += chance;
        all_within *= chance;
        let (lo, hi) = errs
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), e| (l.min(*e), h.max(*e)));
        println!(
            "  {:>12} {:>12} {:>+7.2}%  mean {:>+6.2}%  {:>+7.2}% .. {:>+7.2}%  sd {:>5.1}%  z {:>+5.2}  P {:>3.0}%  {}",
            r.exact,
            r.estimate,
            r.error_pct(),
            mean,
            lo,
            hi,
            sd,
            z,
            100.0 * chance,
            r.name
        );
    }
    let runs_all = (0..sampled.len())
        .filter(|&seed| {
            errors
                .iter()
                .all(|e| e.get(seed).is_some_and(|e| e.abs() <= 10.0))
        })
        .count();
    println!(
        "  within 10%: seed 0 {within0} of {}, all seeds {within} of {all}, all {} in {runs_all} of {} runs; for plain estimates chance alone expects {:.1} of {} per run, and all {} in {:.1}% of runs",
        rows.len(),
        rows.len(),
        sampled.len(),
        expected_within,
        rows.len(),
        rows.len(),
        100.0 * all_within
    );
    if let Some(c) = sampled.first().and_then(|p| p.meta.calibration) {
        println!(
            "  calibrated estimates (seed 0: {} strata of thread and call site, {} bytes, held against exact totals; {} left plain): sd, z and P above are of plain ones",
            c.strata, c.bytes, c.strata_plain
        );
    }
    // The margins the sampled profiles state (`alloc-report top`'s ±95%):
    // about 95% of estimates should fall within their own.
    let (mut in_margin, mut with_margin) = (0usize, 0usize);
    for o in matched.iter().flatten().flatten() {
        if let Some(m) = o.margin {
            with_margin += 1;
            in_margin += usize::from(o.error_pct().abs() <= 100.0 * m);
        }
    }
    println!(
        "  within the 95% margin each sampled profile states for its estimate: {in_margin} of {with_margin}"
    );
    let blocks = accuracy::compare(&exact, &sampled[0], alloc_core::metric::Metric::Blocks, 10);
    println!(
        "  top {} callsites by blocks allocated (seed 0): exact, sampled estimate, error",
        blocks.len()
    );
    for r in &blocks {
        println!(
            "  {:>14} {:>14} {:>+8.2}%  {}",
            r.exact,
            r.estimate,
            r.error_pct(),
            r.name
        );
    }
    targets.push(Target {
        what: "sampled byte estimates of the top 10 callsites within 10%".into(),
        measured: format!(
            "worst {worst:.1}% (seed 0); {within} of {all} within over {} seeds, all within in {runs_all} of them, |z| <= {worst_z:.1}",
            opts.seeds
        ),
        met: Some(worst <= 10.0),
    });
}

fn scaling(opts: &Opts, saved: &mut Saved, targets: &mut Vec<Target>) {
    let kinds = [
        Variant::System,
        Variant::Idle,
        Variant::Exact,
        Variant::Sampled,
    ];
    // Each (variant, threads) pair is one entry of the rotation.
    let mut lines: Vec<Vec<Line>> = vec![Vec::new(); kinds.len() * 2];
    println!(
        "\n== Scaling: one mix (scale {}) on each of 1 and 2 threads, {} interleaved rounds, medians",
        opts.scaling_scale, opts.reps
    );
    for round in 0..opts.reps {
        let mut progress = format!("scaling round {}/{}:", round + 1, opts.reps);
        for k in 0..lines.len() {
            let i = (k + round) % lines.len();
            let (v, threads) = (&kinds[i / 2], 1 + i % 2);
            let args = vec![
                "mix".to_owned(),
                "--scale".to_owned(),
                opts.scaling_scale.to_string(),
                "--threads".to_owned(),
                threads.to_string(),
            ];
            let line = saved.timed("scaling", round, v, &args);
            let _ = write!(
                progress,
                " {}x{threads} {:.3} s",
                v.name(),
                secs(line.workload_ns)
            );
            lines[i].push(line);
        }
        eprintln!("{progress}");
    }
    println!(
        "  {:<10} {:>10} {:>11} {:>22}",
        "variant", "1 thread", "2 threads", "throughput 2T / 1T"
    );
    for (k, v) in kinds.iter().enumerate() {
        let t1 = median(
            &lines[2 * k]
                .iter()
                .map(|l| secs(l.workload_ns))
                .collect::<Vec<_>>(),
        );
        let t2 = median(
            &lines[2 * k + 1]
                .iter()
                .map(|l| secs(l.workload_ns))
                .collect::<Vec<_>>(),
        );
        // Twice the work in t2 as in t1.
        let ratio = 2.0 * t1 / t2;
        println!("  {:<10} {t1:>8.3} s {t2:>9.3} s {ratio:>21.2}x", v.name());
        if *v == Variant::Exact {
            targets.push(Target {
                what: "exact session: 2 threads >= 1.6x one thread's throughput".into(),
                measured: format!("{ratio:.2}x"),
                met: Some(ratio >= 1.6),
            });
        }
    }
    println!(
        "  (the same work per thread: throughput 2T / 1T = 2 x t1 / t2; 2.00x is perfect scaling)"
    );
}

fn memory(opts: &Opts, saved: &mut Saved, targets: &mut Vec<Target>, full_exact: Option<&Line>) {
    let args = vec!["live".to_owned(), "--n".to_owned(), opts.live.to_string()];
    let reps = opts.reps.min(3);
    println!(
        "\n== Memory: {} live 16-byte blocks from 4 callsites, held while an exact session snapshots; {reps} rounds, medians",
        opts.live
    );
    let lines = rounds(
        "memory",
        &[Variant::System, Variant::Exact],
        &args,
        reps,
        saved,
    );
    let per_block_profile: Vec<f64> = lines[1]
        .iter()
        .filter_map(|l| {
            let (b, p) = (l.baseline.as_ref()?, l.profile.as_ref()?);
            let blocks = p
                .live_blocks
                .checked_sub(b.live_blocks)
                .filter(|n| *n > 0)?;
            Some(p.profiler_bytes.saturating_sub(b.profiler_bytes) as f64 / blocks as f64)
        })
        .collect();
    let rss = |ls: &[Line]| {
        median(
            &ls.iter()
                .filter_map(|l| l.rss_delta_bytes.map(|b| b as f64))
                .collect::<Vec<_>>(),
        )
    };
    let (rss_system, rss_exact) = (rss(&lines[0]), rss(&lines[1]));
    let by_profile = median(&per_block_profile);
    let by_rss = (rss_exact - rss_system) / opts.live as f64;
    println!(
        "  bookkeeping.profiler_bytes grows by {by_profile:.1} bytes per live block (between a snapshot before the blocks and one while they are held)"
    );
    println!(
        "  resident set grows by {:.1} bytes per block under System and {:.1} under an exact session: {by_rss:.1} bytes per block are the profiler's",
        rss_system / opts.live as f64,
        rss_exact / opts.live as f64
    );
    if let Some(p) = full_exact.and_then(|l| l.profile.as_ref()) {
        // The profile is written at the end, when few blocks are live: its
        // figure has the tables at their largest but few headers. At the
        // peak, every live block aligned to 16 or less had one.
        let at_peak = p.profiler_bytes + 16 * p.peak_blocks;
        println!(
            "  full workload: {:.1} MiB of tables, stacks and rings at the end, and at most {:.1} MiB of block headers at the peak ({} blocks live): {:.1} bytes per peak block",
            p.profiler_bytes as f64 / (1 << 20) as f64,
            (16 * p.peak_blocks) as f64 / (1 << 20) as f64,
            p.peak_blocks,
            at_peak as f64 / p.peak_blocks.max(1) as f64
        );
    }
    println!(
        "  (a block's bookkeeping is a 16-byte header in front of it, asked of the wrapped allocator, plus its bit in a bitmap of one bit per 16 bytes of address space; blocks without a header, aligned to more than 16, take a 24-byte slot of the live table)"
    );
    targets.push(Target {
        what: "profiler memory per live block: a few dozen bytes".into(),
        measured: format!("{by_profile:.0} B"),
        met: Some(by_profile <= 48.0),
    });
}

fn callgrind_section(opts: &Opts, saved: &mut Saved) {
    if !have("valgrind") {
        println!("\n(valgrind is not on PATH: the callgrind section is left out)");
        return;
    }
    let scratch = scratch_dir();
    let kinds = [
        Variant::System,
        Variant::Idle,
        Variant::Exact,
        Variant::Sampled,
    ];
    let workloads: [(&str, Vec<String>, &str); 2] = [
        (
            "micro",
            vec!["micro".into(), "--n".into(), opts.callgrind_n.to_string()],
            callgrind::MICRO_FN,
        ),
        (
            "mix",
            vec![
                "mix".into(),
                "--scale".into(),
                opts.callgrind_scale.to_string(),
                "--threads".into(),
                "1".into(),
            ],
            callgrind::MIX_FN,
        ),
    ];
    println!(
        "\n== Callgrind: instructions inside the workload's function only (deterministic; one run each)"
    );
    println!(
        "  micro: {} allocations of a 16-byte box 8 helper frames deep, each freed 64 allocations later; mix: one mix at scale {} on one thread",
        opts.callgrind_n, opts.callgrind_scale
    );
    println!(
        "  {:<8} {:<12} {:>16} {:>12} {:>14} {:>26}",
        "workload",
        "variant",
        "instructions",
        "events",
        "instr / event",
        "hot path: (v - System) / event"
    );
    let mut tops = Vec::new();
    let mut system_micro_per_event = None;
    for (name, args, function) in &workloads {
        let mut runs = Vec::new();
        for v in &kinds {
            let out = scratch.join(format!("callgrind.{name}.{}", v.name()));
            let (ir, line) =
                callgrind::measure(v, args, function, &out).unwrap_or_else(|e| fail(e));
            saved.runs.push(SavedRun {
                section: "callgrind",
                round: 0,
                others_cpu: 0.0,
                tries: 1,
                line: line.clone(),
            });
            if *v == Variant::Exact {
                match callgrind::top(&out, 10) {
                    Ok(t) => tops.push((*name, t)),
                    Err(e) => println!("  ({e})"),
                }
            }
            runs.push((v, ir, line));
        }
        // The profiler variants count the events; System does the same work.
        let events = runs
            .iter()
            .find_map(|(_, _, l)| l.events)
            .unwrap_or(0)
            .max(1);
        let system_ir = runs.first().map_or(0, |r| r.1);
        if *name == "micro" {
            system_micro_per_event = Some(system_ir as f64 / events as f64);
        }
        for (v, ir, line) in &runs {
            if *name == "micro" && line.events.is_some_and(|e| e != 2 * opts.callgrind_n) {
                println!(
                    "  warning: the micro workload made {:?} events under {}, expected {}",
                    line.events,
                    v.name(),
                    2 * opts.callgrind_n
                );
            }
            println!(
                "  {name:<8} {:<12} {ir:>16} {events:>12} {:>14.1} {:>26.1}",
                v.name(),
                *ir as f64 / events as f64,
                (*ir as f64 - system_ir as f64) / events as f64,
            );
        }
    }
    // Without frame pointers: the unwinder, on a tenth of the micro workload
    // (it is slow under Valgrind); per event, less System's per event.
    let n = (opts.callgrind_n / 10).max(1);
    let args = vec!["micro".to_owned(), "--n".to_owned(), n.to_string()];
    let v = Variant::ExactUnwind;
    let out = scratch.join("callgrind.micro.exact-unwind");
    let (ir, line) =
        callgrind::measure(&v, &args, callgrind::MICRO_FN, &out).unwrap_or_else(|e| fail(e));
    let events = line.events.unwrap_or(2 * n).max(1);
    let per = ir as f64 / events as f64;
    println!(
        "  {:<8} {:<12} {ir:>16} {events:>12} {per:>14.1} {:>26.1}",
        "micro/10",
        v.name(),
        system_micro_per_event.map_or(f64::NAN, |s| per - s),
    );
    println!(
        "  (System's events are those the profiler variants count on the same work; micro/10 is the micro workload with a tenth of the allocations, for the unwinder)"
    );
    for (name, top) in tops {
        println!(
            "\n  exact session, {name}: top 10 functions by their own instructions (callgrind_annotate --inclusive=no)"
        );
        for t in top {
            println!("  {:>14} {:>6.2}%  {}", t.ir, t.percent, t.name);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Opts, String> {
        Opts::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn options() {
        let o = parse("").unwrap();
        assert_eq!((o.reps, o.scale), (5, 1.0));
        assert_eq!(o.sections.len(), SECTIONS.len());
        let o = parse("--reps 3 --scale 0.5 --skip dhat,callgrind --no-build").unwrap();
        assert_eq!((o.reps, o.scale, o.build), (3, 0.5, false));
        assert!(o.skip.contains("dhat") && !o.wants("callgrind") && o.wants("overhead"));
        let o = parse("--only memory").unwrap();
        assert!(o.wants("memory") && !o.wants("overhead"));
        assert!(parse("--only bogus").is_err());
        assert!(parse("--skip bogus").is_err());
        assert!(parse("--reps 0").is_err());
        assert!(parse("--frobnicate").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
