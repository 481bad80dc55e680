//! The CLI's errors: each prints as one line after `alloc-report: `.

use std::fmt;

/// Why a run failed (exit status 2), or stopped early without failing.
#[derive(Debug)]
pub enum CliError {
    /// A profile that could not be read or is not a usable profile.
    Input {
        /// The file, or `<stdin>`.
        name: String,
        /// What is wrong, in one line.
        problem: String,
    },
    /// The output file could not be written.
    Output {
        /// The file.
        name: String,
        /// What went wrong.
        problem: String,
    },
    /// Arguments that parse but cannot be carried out.
    Usage(String),
    /// The reader of standard output went away (`alloc-report … | head`): not
    /// an error, the run just stops.
    BrokenPipe,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input { name, problem } => write!(f, "{name}: {problem}"),
            Self::Output { name, problem } => write!(f, "{name}: cannot write: {problem}"),
            Self::Usage(msg) => write!(f, "{msg}"),
            Self::BrokenPipe => write!(f, "broken pipe"),
        }
    }
}

impl std::error::Error for CliError {}

/// Flattens a clap error into one line: its message and tips, without the
/// usage block, ending with where to find help.
#[must_use]
pub fn one_line_clap_error(err: &clap::Error) -> String {
    let text = err.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    format!("{} (see 'alloc-report --help')", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;

    #[test]
    fn clap_errors_become_one_line() {
        let e = Cli::parse_from_args(["alloc-report", "top", "p", "--by", "sizes"]).unwrap_err();
        let line = one_line_clap_error(&e);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("invalid value 'sizes' for '--by <BY>'"),
            "{line}"
        );
        assert!(
            line.contains("possible values: bytes, blocks, live, peak"),
            "{line}"
        );
        let e = Cli::parse_from_args(["alloc-report", "top", "p", "--bogus"]).unwrap_err();
        assert!(one_line_clap_error(&e).starts_with("unexpected argument '--bogus' found"));
    }

    #[test]
    fn errors_name_the_file() {
        let e = CliError::Input {
            name: "p.json".into(),
            problem: "the file is empty".into(),
        };
        assert_eq!(e.to_string(), "p.json: the file is empty");
        let e = CliError::Output {
            name: "o.svg".into(),
            problem: "permission denied".into(),
        };
        assert_eq!(e.to_string(), "o.svg: cannot write: permission denied");
    }
}
