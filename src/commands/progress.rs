//! Transfer progress on stderr: a bar on a terminal, a line every few seconds
//! in CI logs (where a redrawn bar would be noise). `NO_COLOR` is honoured by
//! never using colour.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::registry::Progress;

pub struct StderrProgress {
    terminal: bool,
    last: Mutex<Option<(String, Instant)>>,
}

impl StderrProgress {
    pub fn new() -> Self {
        StderrProgress {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Progress for StderrProgress {
    fn bytes(&self, file: &str, done: u64, total: u64) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let finished = total > 0 && done >= total;
        let due = match &*last {
            Some((f, at)) if f == file => {
                now.duration_since(*at)
                    >= if self.terminal {
                        Duration::from_millis(100)
                    } else {
                        Duration::from_secs(5)
                    }
            }
            _ => true,
        };
        if !(due || finished) {
            return;
        }
        *last = Some((file.to_string(), now));
        let percent = if total > 0 { done * 100 / total } else { 0 };
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = (percent / 5) as usize;
            let _ = write!(
                err,
                "\r{file} [{}{}] {percent:>3}% {:.1}/{:.1} MiB",
                "#".repeat(filled),
                " ".repeat(20 - filled.min(20)),
                mib(done),
                mib(total)
            );
            if finished {
                let _ = writeln!(err);
            }
        } else if total > 1 << 20 {
            // Small files finish in one go; only long transfers get lines.
            let _ = writeln!(
                err,
                "{file}: {percent}% ({:.1} of {:.1} MiB)",
                mib(done),
                mib(total)
            );
        }
    }

    fn finished(&self, file: &str, outcome: &str) {
        eprintln!("{file}: {outcome}");
    }

    fn retrying(&self, file: &str, why: &str) {
        eprintln!("{file}: retrying after: {why}");
    }
}
