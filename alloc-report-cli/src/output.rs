//! Where a report goes: standard output, or a file written under a temporary
//! name and renamed into place only once complete, so a failed run never leaves
//! a half-written or clobbered file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};

use crate::error::CliError;
use crate::input::io_problem;

/// An open destination.
pub struct Sink {
    target: Target,
}

enum Target {
    Stdout(BufWriter<Stdout>),
    File {
        dest: PathBuf,
        temp: PathBuf,
        writer: Option<BufWriter<File>>,
    },
}

impl Sink {
    /// Opens standard output, or a temporary file beside `dest`.
    ///
    /// # Errors
    /// [`CliError::Output`] when the temporary file cannot be created.
    pub fn open(dest: Option<&Path>) -> Result<Self, CliError> {
        let target = match dest {
            None => Target::Stdout(BufWriter::with_capacity(1 << 16, io::stdout())),
            Some(dest) => {
                let temp = temp_name(dest);
                let file = File::create_new(&temp).map_err(|e| CliError::Output {
                    name: dest.display().to_string(),
                    problem: if e.kind() == io::ErrorKind::NotFound {
                        "its directory does not exist".to_owned()
                    } else {
                        io_problem(&e)
                    },
                })?;
                Target::File {
                    dest: dest.to_owned(),
                    temp,
                    writer: Some(BufWriter::with_capacity(1 << 16, file)),
                }
            }
        };
        Ok(Self { target })
    }

    /// The writer to render into.
    pub fn writer(&mut self) -> &mut dyn Write {
        match &mut self.target {
            Target::Stdout(w) => w,
            Target::File { writer, .. } => writer.as_mut().expect("writer present until finish"),
        }
    }

    /// Maps an error from writing into this sink to the CLI's error: a broken
    /// pipe on standard output ends the run quietly.
    #[must_use]
    pub fn error(&self, e: &io::Error) -> CliError {
        match &self.target {
            Target::Stdout(_) if e.kind() == io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
            Target::Stdout(_) => CliError::Output {
                name: "<stdout>".to_owned(),
                problem: io_problem(e),
            },
            Target::File { dest, .. } => CliError::Output {
                name: dest.display().to_string(),
                problem: io_problem(e),
            },
        }
    }

    /// Flushes, and for a file syncs it and renames it over the destination.
    ///
    /// # Errors
    /// [`CliError::Output`] (or [`CliError::BrokenPipe`]) when that fails; the
    /// temporary file is removed and the destination left as it was.
    pub fn finish(mut self) -> Result<(), CliError> {
        match &mut self.target {
            Target::Stdout(w) => w.flush().map_err(|e| self.error(&e)),
            Target::File { dest, temp, writer } => {
                let w = writer.take().expect("finish runs once");
                let fail = |e: &io::Error| CliError::Output {
                    name: dest.display().to_string(),
                    problem: io_problem(e),
                };
                let file = w.into_inner().map_err(|e| fail(e.error()))?;
                file.sync_all().map_err(|e| fail(&e))?;
                drop(file);
                fs::rename(&*temp, &*dest).map_err(|e| fail(&e))?;
                // Renamed: nothing left for Drop to remove.
                temp.clear();
                Ok(())
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Target::File { temp, writer, .. } = &mut self.target {
            drop(writer.take());
            if !temp.as_os_str().is_empty() {
                let _ = fs::remove_file(&*temp);
            }
        }
    }
}

/// `dir/.name.alloc-report-PID.tmp`, beside `dest` so the rename stays on one
/// file system.
fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.alloc-report-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("alloc-report-output-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_finished_file_replaces_the_destination() {
        let dir = scratch("finish");
        let dest = dir.join("out.txt");
        fs::write(&dest, "old").unwrap();
        let mut s = Sink::open(Some(&dest)).unwrap();
        s.writer().write_all(b"new").unwrap();
        assert_eq!(
            fs::read_to_string(&dest).unwrap(),
            "old",
            "untouched until finish"
        );
        s.finish().unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_abandoned_file_leaves_the_destination_alone() {
        let dir = scratch("abandon");
        let dest = dir.join("out.txt");
        fs::write(&dest, "precious").unwrap();
        let mut s = Sink::open(Some(&dest)).unwrap();
        s.writer().write_all(b"half a rep").unwrap();
        drop(s);
        assert_eq!(fs::read_to_string(&dest).unwrap(), "precious");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_destination_in_a_missing_directory_is_an_output_error() {
        let e = Sink::open(Some(Path::new("/no/such/dir/out.svg")))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "/no/such/dir/out.svg: cannot write: its directory does not exist"
        );
    }

    #[test]
    fn broken_pipes_on_stdout_are_not_errors() {
        let s = Sink::open(None).unwrap();
        assert!(matches!(
            s.error(&io::Error::from(io::ErrorKind::BrokenPipe)),
            CliError::BrokenPipe
        ));
    }
}
