//! `alloc-report`: turns a profile written by alloc-profiler into what people
//! read: a summary, the top callsites, leaks, histograms, flamegraphs and diffs,
//! exports for other tools (DHAT's viewer, pprof, speedscope), and a
//! self-contained HTML report.
//!
//! ```text
//! alloc-report summary    profile.json
//! alloc-report top        profile.json --by bytes|blocks|live|peak [-n N]
//! alloc-report leaks      profile.json [--min-bytes SIZE] [--fail-on-leak]
//! alloc-report hist       profile.json --of size|align|lifetime
//! alloc-report flamegraph profile.json --metric bytes|blocks|live|peak -o heap.svg
//! alloc-report diff       old.json new.json [--by bytes|blocks|live] [--fail-if-increase PCT] [--unchanged]
//! alloc-report export     profile.json --format folded|dhat|pprof|speedscope [-o OUT]
//! alloc-report html       profile.json -o report.html
//! ```
//!
//! Every analysis lives in [`alloc_core`]; this binary parses arguments
//! ([`cli`]), reads the profile ([`input`]), renders ([`render`]) and writes
//! ([`output`]). Exit status: 0 on success (also when the reader of a pipe goes
//! away), 1 when a `--fail-on-leak` or `--fail-if-increase` gate fails, 2 on bad
//! input or usage, with exactly one line on stderr:
//! `alloc-report: <file>: <problem>`.
#![forbid(unsafe_code)]

mod cli;
mod error;
mod export;
mod input;
mod output;
mod render;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use alloc_core::number::{bytes, count, signed_percent};
use alloc_core::{diff, folded, hist, json, leaks, summary, top};
use clap::error::ErrorKind;

use crate::cli::{Cli, ColorArg, Command, FlameFormat, Job};
use crate::error::{CliError, one_line_clap_error};
use crate::input::load;
use crate::output::Sink;
use crate::render::TextOptions;

/// Exit status when a CI gate fails.
const EXIT_GATE: u8 = 1;
/// Exit status for bad input or usage.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    ExitCode::from(run(std::env::args_os()))
}

/// Runs the command line `args` and returns the exit status.
fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::parse_from_args(args) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let job = match cli.into_job() {
        Ok(job) => job,
        Err(msg) => {
            eprintln!("alloc-report: {msg}");
            return EXIT_ERROR;
        }
    };
    match execute(&job) {
        Ok(None) | Err(CliError::BrokenPipe) => 0,
        Ok(Some(gate)) => {
            eprintln!("alloc-report: {gate}");
            EXIT_GATE
        }
        Err(e) => {
            eprintln!("alloc-report: {e}");
            EXIT_ERROR
        }
    }
}

/// Help and version go to stdout with status 0; a bare `alloc-report` shows
/// the help on stderr; every other clap error is one line with status 2.
fn clap_exit(e: &clap::Error) -> u8 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            EXIT_ERROR
        }
        _ => {
            eprintln!("alloc-report: {}", one_line_clap_error(e));
            EXIT_ERROR
        }
    }
}

/// True when `NO_COLOR` is set to something non-empty.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Colour only for text on standard output, on a terminal unless forced, and
/// never with `NO_COLOR`.
fn color_enabled(job: &Job) -> bool {
    if job.json || job.output.is_some() || no_color() {
        return false;
    }
    match job.color {
        ColorArg::Never => false,
        ColorArg::Always => true,
        ColorArg::Auto => io::stdout().is_terminal(),
    }
}

/// `COLUMNS` when standard output is a terminal that says its width (at most
/// [`render::defaults::MAX_WIDTH`]); else 80.
fn text_width() -> usize {
    if !io::stdout().is_terminal() {
        return render::defaults::WIDTH;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .map_or(render::defaults::WIDTH, |w| {
            w.min(render::defaults::MAX_WIDTH)
        })
}

/// Opens the destination, writes with `f`, and commits it.
fn emit(
    output: Option<&PathBuf>,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CliError> {
    let mut sink = Sink::open(output.map(PathBuf::as_path))?;
    if let Err(e) = f(sink.writer()) {
        return Err(sink.error(&e));
    }
    sink.finish()
}

/// Pretty JSON and a final newline.
fn write_json(w: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::from)?;
    writeln!(w)
}

/// Carries out `job`; `Some(message)` when a gate failed.
fn execute(job: &Job) -> Result<Option<String>, CliError> {
    let text = TextOptions::new(color_enabled(job), text_width());
    let out = job.output.as_ref();
    match &job.command {
        Command::Summary { input, options } => {
            let p = load(input)?;
            let s = summary::summary(&p, options);
            emit(out, |w| {
                if job.json {
                    write_json(w, &json::summary(&p, &s))
                } else {
                    render::summary::render(w, &p, &s, &text)
                }
            })?;
            Ok(None)
        }
        Command::Top { input, options } => {
            let p = load(input)?;
            let t = top::top(&p, options);
            emit(out, |w| {
                if job.json {
                    write_json(w, &json::top(&p, &t))
                } else {
                    render::top::render(w, &p, &t, &text)
                }
            })?;
            Ok(None)
        }
        Command::Leaks {
            input,
            options,
            fail_on_leak,
        } => {
            let p = load(input)?;
            let l = leaks::leaks(&p, options);
            emit(out, |w| {
                if job.json {
                    write_json(w, &json::leaks(&p, &l))
                } else {
                    render::leaks::render(w, &p, &l, options.min_bytes, &text)
                }
            })?;
            Ok((*fail_on_leak && l.any()).then(|| {
                format!(
                    "{}: {} leaking {}, {} (--fail-on-leak)",
                    input.name(),
                    match l.passing {
                        1 => "1 callsite".to_owned(),
                        n => format!("{} callsites", count(n as u64)),
                    },
                    render::blocks_word(l.passing_blocks),
                    bytes(l.passing_bytes)
                )
            }))
        }
        Command::Hist { input, options } => {
            let p = load(input)?;
            let h = hist::histogram(&p, options);
            emit(out, |w| {
                if job.json {
                    write_json(w, &json::hist(&h))
                } else {
                    render::hist::render(w, &p, &h, &text)
                }
            })?;
            Ok(None)
        }
        Command::Flamegraph {
            input,
            options,
            format,
        } => {
            if matches!(format, FlameFormat::Svg { .. })
                && out.is_none()
                && io::stdout().is_terminal()
            {
                return Err(CliError::Usage(
                    "refusing to write an SVG to the terminal; use -o FILE.svg".to_owned(),
                ));
            }
            let p = load(input)?;
            let lines = folded::folded(&p, options);
            match format {
                FlameFormat::Folded => emit(out, |w| folded::write_folded(w, &lines))?,
                FlameFormat::Svg { title } => {
                    if lines.is_empty() {
                        return Err(CliError::Input {
                            name: input.name(),
                            problem: format!(
                                "nothing to draw: no callsite has any {}",
                                options.metric.describe()
                            ),
                        });
                    }
                    let mut svg = render::flamegraph::SvgOptions::default();
                    svg.title.clone_from(title);
                    emit(out, |w| {
                        render::flamegraph::render(w, &p, options.metric, &lines, &svg)
                    })?;
                }
            }
            Ok(None)
        }
        Command::Diff {
            old,
            new,
            options,
            fail_if_increase,
        } => {
            let old_p = load(old)?;
            let new_p = load(new)?;
            let d = diff::diff(&old_p, &new_p, options);
            emit(out, |w| {
                if job.json {
                    write_json(w, &json::diff(&old_p, &new_p, &d))
                } else {
                    render::diff::render(w, (&old_p, &old.name()), (&new_p, &new.name()), &d, &text)
                }
            })?;
            Ok(fail_if_increase
                .filter(|&pct| d.increase_exceeds(pct))
                .map(|pct| {
                    let value = |v| render::value(d.by.is_bytes(), v);
                    format!(
                        "{}: {} grew {} ({} → {}), more than --fail-if-increase {pct}%",
                        new.name(),
                        d.by.describe(),
                        signed_percent(d.change_pct()),
                        value(d.old_total),
                        value(d.new_total),
                    )
                }))
        }
        Command::Export { input, format } => {
            export::run(input, format, out)?;
            Ok(None)
        }
        Command::Html { input, options } => {
            if out.is_none() && io::stdout().is_terminal() {
                return Err(CliError::Usage(
                    "refusing to write HTML to the terminal; use -o FILE.html".to_owned(),
                ));
            }
            let p = load(input)?;
            emit(out, |w| render::html::render(w, &p, options))?;
            Ok(None)
        }
    }
}
