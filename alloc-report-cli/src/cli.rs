//! The command line: clap structs (help text comes from their doc comments) and
//! their one conversion into a [`Job`] made of library options.

use std::ffi::OsString;
use std::path::PathBuf;

use alloc_core::diff::DiffOptions;
use alloc_core::folded::FoldedOptions;
use alloc_core::hist::{HistKind, HistOptions};
use alloc_core::leaks::LeakOptions;
use alloc_core::metric::Metric;
use alloc_core::summary::SummaryOptions;
use alloc_core::top::TopOptions;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::render::html::HtmlOptions;

/// Summaries, top callsites, leaks, histograms, flamegraphs, diffs, an HTML
/// report and exports to other tools from an alloc-profiler profile.
///
/// Every report reads a profile file, or standard input when FILE is `-`, and
/// prints text for people or, with --json, a stable JSON shape for scripts.
/// Exit status: 0 on success, 1 when a --fail-on-leak or --fail-if-increase
/// gate fails, 2 on bad input or usage.
#[derive(Debug, Parser)]
#[command(
    name = "alloc-report",
    version,
    propagate_version = true,
    max_term_width = 80
)]
pub struct Cli {
    /// Colour: auto (only on a terminal), always, or never; NO_COLOR turns it off.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,

    /// The report to print.
    #[command(subcommand)]
    pub command: CommandArgs,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when writing to a terminal.
    Auto,
    /// Colour even into a pipe (never into a file or JSON).
    Always,
    /// No colour.
    Never,
}

/// The reports.
#[derive(Debug, Subcommand)]
pub enum CommandArgs {
    /// Totals, the peak (how much and when), live at end, leaks, reallocations,
    /// dropped events and the top 5 callsites.
    Summary(SummaryArgs),
    /// A table of callsites, each named by its first frame in your code, with
    /// file:line, their figures and their share of the whole.
    Top(TopArgs),
    /// Blocks still live at the end, grouped by callsite, largest first, with
    /// their full stacks.
    Leaks(LeaksArgs),
    /// A bar chart of block sizes, alignments or lifetimes.
    Hist(HistArgs),
    /// An interactive SVG flamegraph (or, with --folded, collapsed stacks).
    Flamegraph(FlamegraphArgs),
    /// Per-callsite changes between two profiles, biggest regressions first.
    Diff(DiffArgs),
    /// The profile in another tool's format: folded stacks, DHAT's viewer,
    /// pprof or speedscope.
    Export(ExportArgs),
    /// One self-contained HTML file: the summary, an interactive flamegraph,
    /// the heap over time, histograms and sortable callsite and leak tables.
    Html(HtmlArgs),
}

/// Options every text-or-JSON report shares.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write to FILE instead of standard output (atomically: a failed run
    /// leaves FILE as it was); `-` is standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `alloc-report summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// What to rank by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Bytes allocated over the whole run.
    Bytes,
    /// Number of allocations.
    Blocks,
    /// Bytes still live at the end.
    Live,
    /// Bytes live at the moment of the global peak.
    Peak,
}

impl From<MetricArg> for Metric {
    fn from(m: MetricArg) -> Self {
        match m {
            MetricArg::Bytes => Self::Bytes,
            MetricArg::Blocks => Self::Blocks,
            MetricArg::Live => Self::Live,
            MetricArg::Peak => Self::Peak,
        }
    }
}

/// `alloc-report top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The figure to rank callsites by.
    #[arg(long, value_enum, default_value_t = MetricArg::Bytes)]
    pub by: MetricArg,
    /// How many callsites to list; 0 lists all.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = alloc_core::top::defaults::LIMIT)]
    pub n: usize,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `alloc-report leaks`.
#[derive(Debug, Args)]
pub struct LeaksArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Only list callsites leaking at least this much (e.g. 4096, 64KiB).
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_size)]
    pub min_bytes: u64,
    /// Exit with status 1 when any callsite leaks at least --min-bytes (for CI).
    #[arg(long)]
    pub fail_on_leak: bool,
    /// How many callsites to list; 0 lists all.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 0)]
    pub n: usize,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Which histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistArg {
    /// Block sizes (power-of-two buckets).
    Size,
    /// Requested alignments (one bucket per power of two).
    Align,
    /// Lifetimes of freed blocks (power-of-two buckets of nanoseconds).
    Lifetime,
}

/// `alloc-report hist`.
#[derive(Debug, Args)]
pub struct HistArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The histogram to draw.
    #[arg(long = "of", value_enum, default_value_t = HistArg::Size)]
    pub of: HistArg,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `alloc-report flamegraph`.
#[derive(Debug, Args)]
pub struct FlamegraphArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What frame widths show: `live` draws only what is still allocated at the end.
    #[arg(long, value_enum, default_value_t = MetricArg::Bytes)]
    pub metric: MetricArg,
    /// Write the SVG (or folded stacks) to OUT instead of standard output
    /// (atomically); `-` is standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Write collapsed stacks (`root;…;leaf count`) for speedscope or
    /// flamegraph.pl instead of an SVG.
    #[arg(long)]
    pub folded: bool,
    /// Label frames with their file name and line, keeping calls from different
    /// lines of one function apart.
    #[arg(long)]
    pub lines: bool,
    /// Keep allocator plumbing (`__rust_alloc`, `alloc::raw_vec::…`) at the leaves.
    #[arg(long)]
    pub keep_plumbing: bool,
    /// The SVG's title [default: the metric].
    #[arg(long)]
    pub title: Option<String>,
}

/// What `diff` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffByArg {
    /// Bytes allocated over the whole run.
    Bytes,
    /// Number of allocations.
    Blocks,
    /// Bytes still live at the end.
    Live,
}

/// `alloc-report diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline profile, or `-` for standard input.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The profile to compare with it, or `-` for standard input.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// The figure to compare.
    #[arg(long, value_enum, default_value_t = DiffByArg::Bytes)]
    pub by: DiffByArg,
    /// Exit with status 1 when the total grew by more than PCT percent (for CI).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub fail_if_increase: Option<f64>,
    /// How many callsites to list; 0 lists all.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 20)]
    pub n: usize,
    /// Also list the callsites whose figure did not change, after the
    /// changed ones, largest first (-n counts them too).
    #[arg(long)]
    pub unchanged: bool,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// A format `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportArg {
    /// Collapsed stacks (`root;…;leaf count`) for inferno, flamegraph.pl and
    /// speedscope, weighed by --metric.
    Folded,
    /// Valgrind DHAT's JSON, for its viewer dh_view.html.
    Dhat,
    /// A gzipped pprof protobuf, for `go tool pprof` (never to a terminal).
    Pprof,
    /// speedscope's JSON, one profile per metric.
    Speedscope,
}

/// `alloc-report export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub format: ExportArg,
    /// For --format folded: what each stack is weighed by [default: bytes].
    #[arg(long, value_enum)]
    pub metric: Option<MetricArg>,
    /// Write to OUT (atomically) instead of standard output; `-` is standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// `alloc-report html`.
#[derive(Debug, Args)]
pub struct HtmlArgs {
    /// The profile, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write the report to OUT (e.g. report.html) instead of standard output
    /// (atomically); `-` is standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Rows of the callsite and leak tables at most; 0 lists all.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = crate::render::html::defaults::ROWS)]
    pub n: usize,
}

fn parse_size(s: &str) -> Result<u64, String> {
    alloc_core::number::parse_size(s)
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!(
            "{s:?} is not a percentage (expected e.g. 5 or 2.5%)"
        )),
    }
}

/// Where a profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    fn from_arg(p: PathBuf) -> Self {
        if p.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::File(p)
        }
    }

    /// The name error messages use: the path, or `<stdin>`.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Stdin => "<stdin>".to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

/// How a flamegraph is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlameFormat {
    /// An inferno SVG with this title (`None`: named after the metric).
    Svg {
        /// The title.
        title: Option<String>,
    },
    /// Collapsed stacks.
    Folded,
}

/// What `export` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportFormat {
    /// Collapsed stacks with these options.
    Folded(FoldedOptions),
    /// DHAT's JSON.
    Dhat,
    /// Gzipped pprof.
    Pprof,
    /// speedscope's JSON.
    Speedscope,
}

/// A parsed command line, in library terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `summary`.
    Summary {
        /// The profile.
        input: Input,
        /// Options.
        options: SummaryOptions,
    },
    /// `top`.
    Top {
        /// The profile.
        input: Input,
        /// Options.
        options: TopOptions,
    },
    /// `leaks`.
    Leaks {
        /// The profile.
        input: Input,
        /// Options.
        options: LeakOptions,
        /// Exit 1 when a leak passes the threshold.
        fail_on_leak: bool,
    },
    /// `hist`.
    Hist {
        /// The profile.
        input: Input,
        /// Options.
        options: HistOptions,
    },
    /// `flamegraph`.
    Flamegraph {
        /// The profile.
        input: Input,
        /// Options.
        options: FoldedOptions,
        /// SVG or folded.
        format: FlameFormat,
    },
    /// `diff`.
    Diff {
        /// The baseline.
        old: Input,
        /// The new profile.
        new: Input,
        /// Options.
        options: DiffOptions,
        /// Exit 1 when the total grew by more than this percentage.
        fail_if_increase: Option<f64>,
    },
    /// `export`.
    Export {
        /// The profile.
        input: Input,
        /// The format.
        format: ExportFormat,
    },
    /// `html`.
    Html {
        /// The profile.
        input: Input,
        /// Options.
        options: HtmlOptions,
    },
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The report.
    pub command: Command,
    /// Print JSON.
    pub json: bool,
    /// Write to this file; `None` (also for `-o -`) is standard output.
    pub output: Option<PathBuf>,
    /// The colour choice.
    pub color: ColorArg,
}

const fn limit(n: usize) -> Option<usize> {
    if n == 0 { None } else { Some(n) }
}

impl Cli {
    /// Parses `args` (the program name first).
    ///
    /// # Errors
    /// clap's error for a bad command line, or for `--help` and `--version`.
    pub fn parse_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        <Self as Parser>::try_parse_from(args)
    }

    /// Converts the command line into library options: the one place where
    /// flags become [`alloc_core`] option structs.
    ///
    /// # Errors
    /// A message when the arguments parse but do not make sense together.
    pub fn into_job(self) -> Result<Job, String> {
        let color = self.color;
        let (command, out) = match self.command {
            CommandArgs::Summary(a) => (
                Command::Summary {
                    input: Input::from_arg(a.file),
                    options: SummaryOptions::default(),
                },
                a.out,
            ),
            CommandArgs::Top(a) => (
                Command::Top {
                    input: Input::from_arg(a.file),
                    options: TopOptions::new(a.by.into(), limit(a.n)),
                },
                a.out,
            ),
            CommandArgs::Leaks(a) => (
                Command::Leaks {
                    input: Input::from_arg(a.file),
                    options: LeakOptions::new(a.min_bytes, limit(a.n)),
                    fail_on_leak: a.fail_on_leak,
                },
                a.out,
            ),
            CommandArgs::Hist(a) => {
                let of = match a.of {
                    HistArg::Size => HistKind::Size,
                    HistArg::Align => HistKind::Align,
                    HistArg::Lifetime => HistKind::Lifetime,
                };
                (
                    Command::Hist {
                        input: Input::from_arg(a.file),
                        options: HistOptions::new(of, !a.out.json),
                    },
                    a.out,
                )
            }
            CommandArgs::Flamegraph(a) => {
                let mut options = FoldedOptions::new(a.metric.into());
                options.with_lines = a.lines;
                options.trim_plumbing = !a.keep_plumbing;
                if a.folded && a.title.is_some() {
                    return Err("--title applies to SVG output, not --folded".to_owned());
                }
                let format = if a.folded {
                    FlameFormat::Folded
                } else {
                    FlameFormat::Svg { title: a.title }
                };
                (
                    Command::Flamegraph {
                        input: Input::from_arg(a.file),
                        options,
                        format,
                    },
                    OutputArgs {
                        json: false,
                        output: a.output,
                    },
                )
            }
            CommandArgs::Diff(a) => {
                let old = Input::from_arg(a.old);
                let new = Input::from_arg(a.new);
                if old == Input::Stdin && new == Input::Stdin {
                    return Err("OLD and NEW cannot both be `-` (standard input)".to_owned());
                }
                let by = match a.by {
                    DiffByArg::Bytes => Metric::Bytes,
                    DiffByArg::Blocks => Metric::Blocks,
                    DiffByArg::Live => Metric::Live,
                };
                let mut options = DiffOptions::new(by, limit(a.n));
                options.unchanged = a.unchanged;
                (
                    Command::Diff {
                        old,
                        new,
                        options,
                        fail_if_increase: a.fail_if_increase,
                    },
                    a.out,
                )
            }
            CommandArgs::Export(a) => export_command(a)?,
            CommandArgs::Html(a) => (
                Command::Html {
                    input: Input::from_arg(a.file),
                    options: HtmlOptions::new(limit(a.n)),
                },
                OutputArgs {
                    json: false,
                    output: a.output,
                },
            ),
        };
        Ok(Job {
            command,
            json: out.json,
            // `-o -` is standard output, for every report.
            output: out.output.filter(|o| o.as_os_str() != "-"),
            color,
        })
    }
}

/// `export`'s command: --metric only weighs folded stacks.
fn export_command(a: ExportArgs) -> Result<(Command, OutputArgs), String> {
    let format = match (a.format, a.metric) {
        (ExportArg::Folded, metric) => ExportFormat::Folded(FoldedOptions::new(
            metric.map_or(Metric::Bytes, Metric::from),
        )),
        (_, Some(_)) => {
            return Err(
                "--metric applies to --format folded; the other formats carry every metric"
                    .to_owned(),
            );
        }
        (ExportArg::Dhat, None) => ExportFormat::Dhat,
        (ExportArg::Pprof, None) => ExportFormat::Pprof,
        (ExportArg::Speedscope, None) => ExportFormat::Speedscope,
    };
    Ok((
        Command::Export {
            input: Input::from_arg(a.file),
            format,
        },
        OutputArgs {
            json: false,
            output: a.output,
        },
    ))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn job(args: &[&str]) -> Job {
        let mut full = vec!["alloc-report"];
        full.extend_from_slice(args);
        Cli::parse_from_args(full).unwrap().into_job().unwrap()
    }

    fn parse_err(args: &[&str]) -> ErrorKind {
        let mut full = vec!["alloc-report"];
        full.extend_from_slice(args);
        Cli::parse_from_args(full).unwrap_err().kind()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn summary_with_defaults() {
        let j = job(&["summary", "p.json"]);
        assert_eq!(
            j.command,
            Command::Summary {
                input: Input::File("p.json".into()),
                options: SummaryOptions::default()
            }
        );
        assert!(!j.json);
        assert_eq!(j.output, None);
        assert_eq!(j.color, ColorArg::Auto);
    }

    #[test]
    fn dash_output_is_standard_output_for_every_report() {
        for args in [
            &["summary", "p", "-o", "-"][..],
            &["top", "p", "--json", "-o", "-"],
            &["flamegraph", "p", "-o", "-"],
            &["html", "p", "-o", "-"],
            &["export", "p", "--format", "dhat", "-o", "-"],
        ] {
            assert_eq!(job(args).output, None, "{args:?}");
        }
    }

    #[test]
    fn top_takes_by_and_n_and_zero_means_all() {
        let j = job(&[
            "top", "-", "--by", "peak", "-n", "3", "--json", "-o", "x.json",
        ]);
        assert_eq!(
            j.command,
            Command::Top {
                input: Input::Stdin,
                options: TopOptions::new(Metric::Peak, Some(3))
            }
        );
        assert!(j.json);
        assert_eq!(j.output, Some("x.json".into()));
        let Command::Top { options, .. } = job(&["top", "p", "-n", "0"]).command else {
            panic!()
        };
        assert_eq!(options.limit, None);
        let Command::Top { options, .. } = job(&["top", "p"]).command else {
            panic!()
        };
        assert_eq!(options, TopOptions::default());
        for by in ["bytes", "blocks", "live", "peak"] {
            job(&["top", "p", "--by", by]);
        }
    }

    #[test]
    fn leaks_parse_sizes_and_the_gate() {
        let j = job(&["leaks", "p", "--min-bytes", "4KiB", "--fail-on-leak"]);
        assert_eq!(
            j.command,
            Command::Leaks {
                input: Input::File("p".into()),
                options: LeakOptions::new(4096, None),
                fail_on_leak: true
            }
        );
        assert_eq!(
            parse_err(&["leaks", "p", "--min-bytes", "lots"]),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn hist_kinds_and_gap_filling_only_for_text() {
        let Command::Hist { options, .. } = job(&["hist", "p", "--of", "align"]).command else {
            panic!()
        };
        assert_eq!(options, HistOptions::new(HistKind::Align, true));
        let Command::Hist { options, .. } =
            job(&["hist", "p", "--of", "lifetime", "--json"]).command
        else {
            panic!()
        };
        assert_eq!(options, HistOptions::new(HistKind::Lifetime, false));
        assert_eq!(
            parse_err(&["hist", "p", "--of", "colour"]),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn flamegraph_svg_or_folded() {
        let j = job(&["flamegraph", "p", "--metric", "live", "-o", "out.svg"]);
        let mut want = FoldedOptions::new(Metric::Live);
        want.trim_plumbing = true;
        assert_eq!(
            j.command,
            Command::Flamegraph {
                input: Input::File("p".into()),
                options: want,
                format: FlameFormat::Svg { title: None }
            }
        );
        assert_eq!(j.output, Some("out.svg".into()));
        let j = job(&["flamegraph", "p", "--folded", "--lines", "--keep-plumbing"]);
        let Command::Flamegraph {
            options, format, ..
        } = j.command
        else {
            panic!()
        };
        assert_eq!(format, FlameFormat::Folded);
        assert!(options.with_lines && !options.trim_plumbing);
        assert_eq!(
            parse_err(&["flamegraph", "p", "--json"]),
            ErrorKind::UnknownArgument
        );
        let err = Cli::parse_from_args([
            "alloc-report",
            "flamegraph",
            "p",
            "--folded",
            "--title",
            "t",
        ])
        .unwrap()
        .into_job()
        .unwrap_err();
        assert!(err.contains("--title"));
    }

    #[test]
    fn diff_takes_two_files_a_metric_and_a_gate() {
        let j = job(&["diff", "a", "b", "--by", "live", "--fail-if-increase", "5%"]);
        assert_eq!(
            j.command,
            Command::Diff {
                old: Input::File("a".into()),
                new: Input::File("b".into()),
                options: DiffOptions::new(Metric::Live, Some(20)),
                fail_if_increase: Some(5.0)
            }
        );
        let j = job(&["diff", "a", "b", "--unchanged", "-n", "0"]);
        assert_eq!(
            j.command,
            Command::Diff {
                old: Input::File("a".into()),
                new: Input::File("b".into()),
                options: DiffOptions::new(Metric::Bytes, None).with_unchanged(),
                fail_if_increase: None
            }
        );
        assert_eq!(
            parse_err(&["diff", "a", "b", "--by", "peak"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            parse_err(&["diff", "a"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse_err(&["diff", "a", "b", "--fail-if-increase=-3"]),
            ErrorKind::ValueValidation
        );
        let err = Cli::parse_from_args(["alloc-report", "diff", "-", "-"])
            .unwrap()
            .into_job()
            .unwrap_err();
        assert!(err.contains("both"));
    }

    #[test]
    fn html_takes_an_output_and_a_row_limit() {
        let j = job(&["html", "p.json", "-o", "report.html"]);
        assert_eq!(
            j.command,
            Command::Html {
                input: Input::File("p.json".into()),
                options: HtmlOptions::default()
            }
        );
        assert_eq!(j.output, Some("report.html".into()));
        assert!(!j.json);
        let Command::Html { options, .. } = job(&["html", "-", "-n", "0"]).command else {
            panic!()
        };
        assert_eq!(options, HtmlOptions::new(None));
        assert_eq!(
            parse_err(&["html", "p", "--json"]),
            ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn colour_is_global_and_bad_flags_are_errors() {
        assert_eq!(
            job(&["top", "p", "--color", "never"]).color,
            ColorArg::Never
        );
        assert_eq!(
            job(&["--color", "always", "top", "p"]).color,
            ColorArg::Always
        );
        assert_eq!(
            parse_err(&["top", "p", "--bogus"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            parse_err(&["frobnicate", "p"]),
            ErrorKind::InvalidSubcommand
        );
        assert_eq!(parse_err(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(parse_err(&["--version"]), ErrorKind::DisplayVersion);
    }

    #[test]
    fn export_takes_a_format_and_metric_only_for_folded() {
        let j = job(&["export", "p", "--format", "folded", "--metric", "peak"]);
        assert_eq!(
            j.command,
            Command::Export {
                input: Input::File("p".into()),
                format: ExportFormat::Folded(FoldedOptions::new(Metric::Peak)),
            }
        );
        assert_eq!(j.output, None);
        let j = job(&["export", "-", "--format", "pprof", "-o", "heap.pb.gz"]);
        assert_eq!(
            j.command,
            Command::Export {
                input: Input::Stdin,
                format: ExportFormat::Pprof,
            }
        );
        assert_eq!(j.output, Some("heap.pb.gz".into()));
        let j = job(&["export", "p", "--format", "dhat", "-o", "-"]);
        assert_eq!(j.output, None, "`-o -` is standard output");
        let j = job(&["export", "p", "--format", "speedscope"]);
        assert!(matches!(
            j.command,
            Command::Export {
                format: ExportFormat::Speedscope,
                ..
            }
        ));
        let err = Cli::parse_from_args([
            "alloc-report",
            "export",
            "p",
            "--format",
            "dhat",
            "--metric",
            "live",
        ])
        .unwrap()
        .into_job()
        .unwrap_err();
        assert!(
            err.starts_with("--metric applies to --format folded"),
            "{err}"
        );
        assert_eq!(
            parse_err(&["export", "p"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse_err(&["export", "p", "--format", "svg"]),
            ErrorKind::InvalidValue
        );
    }
}
