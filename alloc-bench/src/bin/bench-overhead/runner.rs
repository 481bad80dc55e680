//! Finding, building and running the variant binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use alloc_bench::Line;

/// One way of running the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variant {
    /// `bench-system`.
    System,
    /// `bench-profiler idle`.
    Idle,
    /// `bench-profiler exact`.
    Exact,
    /// `bench-profiler sampled`.
    Sampled,
    /// `bench-profiler exact-unwind`.
    ExactUnwind,
    /// `bench-dhat`.
    Dhat,
    /// `heaptrack bench-system`, with heaptrack's data written to a scratch
    /// directory and removed.
    Heaptrack {
        /// Where heaptrack writes its data.
        scratch: PathBuf,
    },
}

impl Variant {
    /// The name in tables and in `--skip`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Idle => "idle",
            Self::Exact => "exact",
            Self::Sampled => "sampled",
            Self::ExactUnwind => "exact-unwind",
            Self::Dhat => "dhat",
            Self::Heaptrack { .. } => "heaptrack",
        }
    }

    /// What the table says the variant is.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::System => "System (glibc malloc)",
            Self::Idle => "Profiler<System>, no session",
            Self::Exact => "Profiler<System>, exact session",
            Self::Sampled => "Profiler<System>, sampled 512 KiB",
            Self::ExactUnwind => "Profiler<System>, exact, unwinder",
            Self::Dhat => "dhat-rs 0.3 (dhat::Alloc)",
            Self::Heaptrack { .. } => "heaptrack on the System binary",
        }
    }

    /// Appends the program and its arguments to `cmd`, whose program is a
    /// wrapper (valgrind), or makes them the command itself (see [`command`]).
    pub fn append(&self, cmd: &mut Command, args: &[String]) {
        let bins = bins();
        match self {
            Self::System | Self::Heaptrack { .. } => cmd.arg(bins.join("bench-system")),
            Self::Idle => cmd.arg(bins.join("bench-profiler")).arg("idle"),
            Self::Exact => cmd.arg(bins.join("bench-profiler")).arg("exact"),
            Self::Sampled => cmd.arg(bins.join("bench-profiler")).arg("sampled"),
            Self::ExactUnwind => cmd.arg(bins.join("bench-profiler")).arg("exact-unwind"),
            Self::Dhat => cmd.arg(bins.join("bench-dhat")),
        };
        cmd.args(args);
    }

    /// The command that runs this variant on `args`.
    pub fn command(&self, args: &[String]) -> Command {
        let bins = bins();
        let mut cmd = match self {
            Self::System => Command::new(bins.join("bench-system")),
            Self::Idle => {
                let mut c = Command::new(bins.join("bench-profiler"));
                c.arg("idle");
                c
            }
            Self::Exact => {
                let mut c = Command::new(bins.join("bench-profiler"));
                c.arg("exact");
                c
            }
            Self::Sampled => {
                let mut c = Command::new(bins.join("bench-profiler"));
                c.arg("sampled");
                c
            }
            Self::ExactUnwind => {
                let mut c = Command::new(bins.join("bench-profiler"));
                c.arg("exact-unwind");
                c
            }
            Self::Dhat => Command::new(bins.join("bench-dhat")),
            Self::Heaptrack { scratch } => {
                let mut c = Command::new("heaptrack");
                c.arg("-o").arg(scratch.join("heaptrack-data"));
                c.arg(bins.join("bench-system"));
                c
            }
        };
        cmd.args(args);
        cmd
    }

    /// Runs the variant once on `args` and returns its line.
    pub fn run(&self, args: &[String]) -> Result<Line, String> {
        let line = run_command(self.command(args));
        if let Self::Heaptrack { scratch } = self {
            // Its data files are large; keep only the timing.
            if let Ok(entries) = std::fs::read_dir(scratch) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        line.map_err(|e| format!("{}: {e}", self.name()))
    }
}

/// Runs `cmd` and finds its result line.
pub fn run_command(mut cmd: Command) -> Result<Line, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    Line::find(&stdout).map_err(|e| format!("{shown}: {e}"))
}

static BIN_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Sets where the variant binaries are (once, before any run).
pub fn set_bin_dir(dir: PathBuf) {
    let _ = BIN_DIR.set(dir);
}

/// Where the variant binaries are: set by `--bin-dir`, else beside this one.
pub fn bins() -> &'static Path {
    BIN_DIR.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    })
}

/// Builds the variant binaries with the cargo that ran this one (`cargo run`
/// sets `CARGO`), in this binary's profile, so a changed profiler is never
/// measured through a stale `bench-profiler`. Without `CARGO`, checks that
/// they exist.
pub fn build_variants() -> Result<(), String> {
    let names = ["bench-system", "bench-profiler", "bench-dhat"];
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "alloc-bench", "--bins"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        eprintln!("building the variant binaries: {cmd:?}");
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run cargo build: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo build of the variant binaries failed ({status})"
            ));
        }
    }
    for n in names {
        let p = bins().join(n);
        if !p.exists() {
            return Err(format!(
                "{} is missing: build it with `cargo build --release -p alloc-bench --bins`, or run this driver through `cargo run`",
                p.display()
            ));
        }
    }
    Ok(())
}
