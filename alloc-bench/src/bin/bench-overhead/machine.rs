//! What the figures were measured on: cores, CPU, load, date.

use std::process::Command;

/// The machine and the moment, as printed at the top of a run.
pub struct Machine {
    /// `available_parallelism` (what `nproc` says).
    pub cores: usize,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu: String,
    /// The first line of `ldd --version` (the glibc whose malloc is `System`).
    pub libc: String,
    /// `rustc --version`, when rustc is on PATH.
    pub rustc: String,
    /// Today's date (UTC), `YYYY-MM-DD`.
    pub date: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            libc: first_line("ldd", &["--version"]),
            rustc: first_line("rustc", &["--version"]),
            date: today(),
        }
    }
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The 1, 5 and 15 minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    load()
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Today's UTC date from the system clock (days since the epoch to a civil
/// date, after Howard Hinnant's `civil_from_days`).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// CPU time counters: the whole machine's (from /proc/stat) and this
/// process's waited-for children's (from /proc/self/stat), in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    busy: u64,
    total: u64,
    children: u64,
}

impl CpuSample {
    /// Reads the counters now (all zero where they cannot be read).
    pub fn now() -> Self {
        let (busy, total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let first = s.lines().next()?.strip_prefix("cpu ")?.to_owned();
                let v: Vec<u64> = first
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal
                let busy = [0, 1, 2, 5, 6, 7]
                    .iter()
                    .filter_map(|i| v.get(*i))
                    .sum::<u64>();
                let idle = [3, 4].iter().filter_map(|i| v.get(*i)).sum::<u64>();
                Some((busy, busy + idle))
            })
            .unwrap_or((0, 0));
        // Fields after "(comm)": state is field 3, cutime 16 and cstime 17.
        let children = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_owned();
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .skip(1)
                    .map(|x| x.parse().unwrap_or(0))
                    .collect();
                Some(f.get(12)? + f.get(13)?)
            })
            .unwrap_or(0);
        Self {
            busy,
            total,
            children,
        }
    }

    /// The share of the machine's CPU time, from `earlier` to `self`, that
    /// went to processes other than this one's finished children: 0 on an
    /// otherwise idle machine, 0.5 when another process kept one of two cores
    /// busy.
    pub fn others_since(&self, earlier: &Self) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        let busy = self.busy.saturating_sub(earlier.busy);
        let ours = self.children.saturating_sub(earlier.children);
        busy.saturating_sub(ours) as f64 / total as f64
    }
}

/// The share of CPU time other processes may take during a timed run before
/// the run is repeated.
pub const DISTURBED: f64 = 0.05;

/// Waits (up to `max`) until other processes leave the machine idle for a
/// second. Returns how long it waited, or `None` when it gave up.
pub fn wait_idle(max: std::time::Duration) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    loop {
        let a = CpuSample::now();
        std::thread::sleep(std::time::Duration::from_secs(1));
        if CpuSample::now().others_since(&a) < DISTURBED {
            return Some(start.elapsed());
        }
        if start.elapsed() >= max {
            return None;
        }
    }
}
