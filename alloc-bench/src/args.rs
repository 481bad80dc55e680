//! The command line shared by the variant binaries.

use std::path::PathBuf;

use crate::Workload;

/// Usage of the variant binaries.
pub const USAGE: &str = "\
usage: bench-system  [WORKLOAD] [OPTIONS]
       bench-dhat    [WORKLOAD] [OPTIONS]
       bench-profiler MODE [WORKLOAD] [OPTIONS]

Runs the workload once under this binary's allocator and prints one JSON line
with its wall time (the `Line` of alloc-bench) on stdout.

MODE (bench-profiler): idle (wrapper, no session) | exact (an exact session) |
                       sampled (a sampling session, one sample per 512 KiB) |
                       exact-unwind (an exact session capturing stacks with
                       the unwinder instead of frame pointers)
WORKLOAD: full (default) | mix | micro | live
OPTIONS:
  --scale F      full, mix: multiply every count and the JSON size (default 1)
  --threads N    mix: threads running a mix each (default 1)
  --n N          micro: allocations (default 1000000); live: blocks held (default 1000000)
  --profile PATH sessions, dhat: write the profile there and keep it (default: a
                 temporary file, removed after it is read)
  --no-write     sessions: exit after the workload without writing the profile
                 (for Callgrind, which counts the workload alone)
  --seed N       sampled: the sampler's seed (default 0)";

/// What bench-profiler does around the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The wrapper is installed, no session runs: counters only.
    Idle,
    /// An exact session records every event.
    Exact,
    /// A sampling session: Poisson byte sampling, one sample per
    /// [`SAMPLE_RATE`] bytes allocated on average.
    Sampled,
    /// An exact session that captures stacks with the system unwinder, as
    /// it does in a program built without frame pointers.
    ExactUnwind,
}

/// The sampling session's mean bytes between samples: 512 KiB, as issue 5
/// asks (and as jemalloc and tcmalloc default to).
pub const SAMPLE_RATE: u64 = 512 * 1024;

impl Mode {
    /// The variant's name in [`Line::variant`](crate::Line::variant).
    #[must_use]
    pub fn variant(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Exact => "exact",
            Self::Sampled => "sampled",
            Self::ExactUnwind => "exact-unwind",
        }
    }
}

/// A variant binary's parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// bench-profiler's mode (None for the other binaries).
    pub mode: Option<Mode>,
    /// What to run.
    pub workload: Workload,
    /// Where to keep the profile, if asked.
    pub profile: Option<PathBuf>,
    /// Exit after the workload without writing the profile.
    pub no_write: bool,
    /// The sampling session's seed.
    pub seed: u64,
}

impl Args {
    /// Parses `args` (without the program name); `with_mode` when the first
    /// argument is bench-profiler's mode.
    ///
    /// # Errors
    /// A one-line message naming what was wrong.
    pub fn parse(args: impl IntoIterator<Item = String>, with_mode: bool) -> Result<Self, String> {
        let mut it = args.into_iter();
        let mode = if with_mode {
            match it.next().as_deref() {
                Some("idle") => Some(Mode::Idle),
                Some("exact") => Some(Mode::Exact),
                Some("sampled") => Some(Mode::Sampled),
                Some("exact-unwind") => Some(Mode::ExactUnwind),
                Some(other) => {
                    return Err(format!(
                        "unknown mode `{other}` (idle, exact, sampled or exact-unwind)"
                    ));
                }
                None => return Err("missing mode (idle, exact, sampled or exact-unwind)".into()),
            }
        } else {
            None
        };
        let (mut name, mut scale, mut threads, mut n, mut profile, mut no_write) =
            (None::<String>, 1.0f64, 1usize, 1_000_000u64, None, false);
        let mut seed = 0u64;
        while let Some(a) = it.next() {
            let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
            match a.as_str() {
                "--scale" => {
                    scale = value("--scale")?
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or("--scale needs a positive number")?;
                }
                "--threads" => {
                    threads = value("--threads")?
                        .parse()
                        .ok()
                        .filter(|t| *t >= 1)
                        .ok_or("--threads needs a count of at least 1")?;
                }
                "--n" => {
                    n = value("--n")?
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or("--n needs a count of at least 1")?;
                }
                "--profile" => profile = Some(PathBuf::from(value("--profile")?)),
                "--no-write" => no_write = true,
                "--seed" => {
                    seed = value("--seed")?
                        .parse()
                        .map_err(|_| "--seed needs a whole number")?;
                }
                "-h" | "--help" => return Err(USAGE.into()),
                w if !w.starts_with('-') && name.is_none() => name = Some(w.to_owned()),
                other => return Err(format!("unexpected argument `{other}`")),
            }
        }
        let workload = match name.as_deref().unwrap_or("full") {
            "full" => Workload::Full { scale },
            "mix" => Workload::Mix { scale, threads },
            "micro" => Workload::Micro { n },
            "live" => Workload::Live { n },
            other => {
                return Err(format!(
                    "unknown workload `{other}` (full, mix, micro or live)"
                ));
            }
        };
        Ok(Self {
            mode,
            workload,
            profile,
            no_write,
            seed,
        })
    }

    /// Parses the process's arguments, or prints the error and exits with 2.
    #[must_use]
    pub fn from_env(with_mode: bool) -> Self {
        match Self::parse(std::env::args().skip(1), with_mode) {
            Ok(a) => a,
            Err(e) if e == USAGE => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("error: {e}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str, with_mode: bool) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from), with_mode)
    }

    #[test]
    fn defaults_to_the_full_workload_at_scale_1() {
        let a = parse("", false).unwrap();
        assert_eq!(a.workload, Workload::Full { scale: 1.0 });
        assert_eq!(a.mode, None);
    }

    #[test]
    fn reads_mode_workload_and_options() {
        let a = parse(
            "exact mix --scale 0.5 --threads 2 --profile p.json --no-write",
            true,
        )
        .unwrap();
        assert!(a.no_write);
        assert_eq!(a.mode, Some(Mode::Exact));
        assert_eq!(
            a.workload,
            Workload::Mix {
                scale: 0.5,
                threads: 2
            }
        );
        assert_eq!(a.profile, Some(PathBuf::from("p.json")));
        assert_eq!(
            parse("idle micro --n 10", true).unwrap().workload,
            Workload::Micro { n: 10 }
        );
        assert_eq!(parse("sampled", true).unwrap().mode, Some(Mode::Sampled));
        assert_eq!(parse("sampled", true).unwrap().seed, 0);
        assert_eq!(parse("sampled --seed 9", true).unwrap().seed, 9);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(parse("fast", true).unwrap_err().contains("unknown mode"));
        assert!(parse("", true).unwrap_err().contains("missing mode"));
        assert!(
            parse("nope", false)
                .unwrap_err()
                .contains("unknown workload")
        );
        assert!(parse("--scale 0", false).unwrap_err().contains("positive"));
        assert!(
            parse("--seed x", false)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            parse("--scale", false)
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse("full extra", false)
                .unwrap_err()
                .contains("unexpected")
        );
    }
}
