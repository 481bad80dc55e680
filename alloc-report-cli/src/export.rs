//! `alloc-report export`: the profile in another tool's format, converted by
//! [`alloc_core::export`] (or [`alloc_core::folded`]) and written atomically.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use alloc_core::export::{dhat, pprof, speedscope};
use alloc_core::folded;

use crate::cli::{ExportFormat, Input};
use crate::error::CliError;
use crate::input::load;
use crate::{emit, write_json};

/// Converts the profile at `input` to `format` and writes it to `output`
/// (standard output when `None`; never binary pprof to a terminal).
///
/// # Errors
/// The input's or the output's one-line error.
pub fn run(input: &Input, format: &ExportFormat, output: Option<&PathBuf>) -> Result<(), CliError> {
    if *format == ExportFormat::Pprof && output.is_none() && io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "refusing to write binary pprof to the terminal; use -o FILE.pb.gz".to_owned(),
        ));
    }
    let p = load(input)?;
    match format {
        ExportFormat::Folded(options) => {
            let lines = folded::folded(&p, options);
            emit(output, |w| folded::write_folded(w, &lines))
        }
        ExportFormat::Dhat => emit(output, |w| write_json(w, &dhat::dhat(&p))),
        ExportFormat::Pprof => {
            let bytes = pprof::pprof(&p);
            emit(output, |w| w.write_all(&bytes))
        }
        ExportFormat::Speedscope => emit(output, |w| write_json(w, &speedscope::speedscope(&p))),
    }
}
