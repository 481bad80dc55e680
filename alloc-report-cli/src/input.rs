//! Reading a profile: the whole file into memory once, then one parse; progress
//! on a terminal when that takes more than a second.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use alloc_core::Profile;
use alloc_core::number::bytes;

use crate::cli::Input;
use crate::error::CliError;

/// How long a load runs before progress appears.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// How often progress is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// Bytes read per call.
const CHUNK: usize = 1 << 20;

/// Reads and parses the profile at `input`; shows progress on stderr when it is
/// a terminal and the load takes over a second.
///
/// # Errors
/// A [`CliError::Input`] naming the input and what is wrong with it.
pub fn load(input: &Input) -> Result<Profile, CliError> {
    let name = input.name();
    let fail = |problem: String| CliError::Input {
        name: name.clone(),
        problem,
    };
    let progress = io::stderr().is_terminal().then(|| Progress::start(&name));
    let state = progress.as_ref().map(|p| Arc::clone(&p.state));
    let data = match input {
        Input::Stdin => read_all(io::stdin().lock(), None, state.as_deref()),
        Input::File(path) => {
            let meta = std::fs::metadata(path).map_err(|e| fail(io_problem(&e)))?;
            if meta.is_dir() {
                return Err(fail("is a directory, not a profile".to_owned()));
            }
            let file = File::open(path).map_err(|e| fail(io_problem(&e)))?;
            read_all(file, Some(meta.len()), state.as_deref())
        }
    }
    .map_err(|e| fail(io_problem(&e)))?;
    if let Some(s) = &state {
        s.parsing.store(true, Ordering::Relaxed);
    }
    let parsed = alloc_core::parse_profile(&data);
    drop(data);
    drop(progress);
    parsed.map_err(|e| fail(e.to_string()))
}

/// An I/O error in words, without the `(os error N)` suffix.
#[must_use]
pub fn io_problem(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory, not a profile".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_owned(),
                None => text,
            }
        }
    }
}

fn read_all(mut r: impl Read, len: Option<u64>, state: Option<&State>) -> io::Result<Vec<u8>> {
    let capacity = len.and_then(|l| usize::try_from(l).ok()).unwrap_or(0);
    let mut data = Vec::with_capacity(capacity.saturating_add(1));
    if let Some(s) = state {
        s.total.store(len.unwrap_or(0), Ordering::Relaxed);
    }
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        data.extend_from_slice(&chunk[..n]);
        if let Some(s) = state {
            s.done.store(data.len() as u64, Ordering::Relaxed);
        }
    }
}

#[derive(Default)]
struct State {
    done: AtomicU64,
    total: AtomicU64,
    parsing: AtomicBool,
}

/// A thread that draws progress on stderr until dropped.
struct Progress {
    state: Arc<State>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Progress {
    fn start(name: &str) -> Self {
        let state = Arc::new(State::default());
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = Arc::clone(&state);
        let name = name.to_owned();
        let thread = thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let mut shown = false;
                let mut wait = PROGRESS_AFTER;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    wait = PROGRESS_EVERY;
                    shown = true;
                    let done = shared.done.load(Ordering::Relaxed);
                    let total = shared.total.load(Ordering::Relaxed);
                    let line = if shared.parsing.load(Ordering::Relaxed) {
                        format!("alloc-report: {name}: parsing {}…", bytes(done))
                    } else if total > 0 {
                        format!(
                            "alloc-report: {name}: reading {} of {} ({})",
                            bytes(done),
                            bytes(total),
                            alloc_core::number::percent(done, total)
                        )
                    } else {
                        format!("alloc-report: {name}: reading {}", bytes(done))
                    };
                    eprint!("\r\x1b[K{line}");
                }
                if shown {
                    eprint!("\r\x1b[K");
                }
            })
            .ok();
        Self {
            state,
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_everything_in_chunks() {
        let data = vec![7u8; CHUNK * 2 + 5];
        let state = State::default();
        let got = read_all(&data[..], Some(data.len() as u64), Some(&state)).unwrap();
        assert_eq!(got, data);
        assert_eq!(state.done.load(Ordering::Relaxed), data.len() as u64);
    }

    #[test]
    fn io_problems_read_as_words() {
        assert_eq!(
            io_problem(&io::Error::from(io::ErrorKind::NotFound)),
            "no such file"
        );
        assert_eq!(
            io_problem(&io::Error::from_raw_os_error(5)),
            "Input/output error"
        );
    }

    #[test]
    fn missing_files_and_directories_are_named() {
        let e = load(&Input::File("/definitely/not/here.json".into())).unwrap_err();
        assert_eq!(e.to_string(), "/definitely/not/here.json: no such file");
        let e = load(&Input::File(std::env::temp_dir())).unwrap_err();
        assert!(
            e.to_string().ends_with(": is a directory, not a profile"),
            "{e}"
        );
    }
}
