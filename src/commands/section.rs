//! GitLab's collapsible log sections, for the long phases of a job (a build
//! backend's output, uploads), so the verdicts after them stay in view.
//! Only in GitLab CI: elsewhere the escape lines would be noise.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct Section {
    name: &'static str,
    enabled: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Section {
    /// Open a collapsed section `name` (letters, digits, `_`) headed `header`.
    pub fn start(enabled: bool, name: &'static str, header: &str) -> Section {
        if enabled {
            eprintln!(
                "\x1b[0Ksection_start:{}:{name}[collapsed=true]\r\x1b[0K{header}",
                now()
            );
        }
        Section { name, enabled }
    }
}

impl Drop for Section {
    // Closed on every path out, errors included, so a verdict printed after
    // it is never folded away.
    fn drop(&mut self) {
        if self.enabled {
            eprintln!("\x1b[0Ksection_end:{}:{}\r\x1b[0K", now(), self.name);
        }
    }
}
