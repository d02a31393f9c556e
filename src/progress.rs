//! Progress on a terminal: phase lines on stderr when it is a TTY, nothing otherwise, so
//! pipelines and logs stay clean.

use std::io::IsTerminal;
use std::time::Instant;

/// Reports phases of long work.
pub struct Progress {
    on: bool,
    start: Instant,
}

impl Progress {
    /// Progress that shows only when stderr is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Progress {
        Progress { on: !quiet && std::io::stderr().is_terminal(), start: Instant::now() }
    }
    /// Announce a phase.
    pub fn phase(&self, what: &str) {
        if self.on {
            eprint!("\r\x1b[2K[{:>6.2}s] {what}", self.start.elapsed().as_secs_f64());
        }
    }
    /// Clear the line.
    pub fn done(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}
