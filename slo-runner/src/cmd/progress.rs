//! Progress of long commands, on **stderr only** (stdout carries the tables and JSON): a
//! progress bar when stderr is a terminal, else a plain line every few seconds, so a CI log or a
//! `2> run.log` shows the command is alive without a screenful of carriage returns.
//!
//! ```ignore
//! use crate::cmd::progress::Progress;
//!
//! let progress = Progress::new("compact", None); // no known total: a spinner
//! progress.stage("listing files", None);
//! let files = list_files()?;
//! progress.stage("merging files", Some(files.len() as u64)); // a bar over the files
//! for f in &files {
//!     progress.set_message(format!("merging {}", f.name));
//!     merge(f)?;
//!     progress.inc(1);
//! }
//! progress.note("merged 12 files"); // a stderr line that does not tear the bar
//! progress.finish(); // clears the bar (a terminal) or prints `compact: done (…)` (lines)
//! println!("{report}"); // stdout after finish
//! ```
//!
//! **Modes** ([`Mode::from_env`]), chosen once per [`Progress`]:
//!
//! - **bar** (stderr is a terminal, [`std::io::IsTerminal`]): an `indicatif` bar with position,
//!   percentage and ETA when the total is known, a spinner with the elapsed time (and the count,
//!   once something was counted) otherwise; redrawn at most ~10 times a second, cleared by
//!   [`Progress::finish`]. No colour codes when `NO_COLOR` is set to a non-empty value.
//! - **lines** (stderr is not a terminal): one line every `SLO_SCOUT_PROGRESS_INTERVAL_MS`
//!   milliseconds (default 5000) while the work runs, from a background thread, and a last
//!   `what: done (…)` line from [`Progress::finish`] when any line was written. Lines look like
//!   `analyze: recommending SLOs (3/7, 43 %, 1.2 s)`, `produce: sending to raw-telemetry (12000, 1180/s,
//!   10.2 s)` or `analyze: loading spans (5.0 s)`. `SLO_SCOUT_PROGRESS_INTERVAL_MS=0` writes a
//!   line on *every* update instead (no thread; meant for tests and debugging — a counter
//!   increased per event then writes a line per event). Never colour.
//! - **off**: nothing (`SLO_SCOUT_PROGRESS=off`).
//!
//! `SLO_SCOUT_PROGRESS` = `auto` (default: bar on a terminal, else lines), `lines` (lines even on
//! a terminal) or `off`; other values are taken as `auto`. There is no `--quiet`: progress never
//! touches stdout, and `2>/dev/null` or `SLO_SCOUT_PROGRESS=off` silences it.
//!
//! A [`Progress`] is `Send + Sync` and its methods take `&self`: worker threads can share it by
//! reference (scoped threads) or in an `Arc`. Dropping it without [`Progress::finish`] (an error
//! path) stops it quietly: the bar is cleared, no `done` line.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Environment variable choosing the mode: `auto` (default), `lines` or `off`.
pub(crate) const MODE_ENV: &str = "SLO_SCOUT_PROGRESS";
/// Environment variable with the interval of progress lines in milliseconds (default 5000;
/// `0`: a line on every update).
pub(crate) const INTERVAL_ENV: &str = "SLO_SCOUT_PROGRESS_INTERVAL_MS";
/// Interval of progress lines when [`INTERVAL_ENV`] is unset or not a number.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A redrawn bar or spinner (stderr is a terminal).
    Bar,
    /// Periodic plain lines.
    Lines,
    /// Nothing.
    Off,
}

impl Mode {
    /// The mode from [`MODE_ENV`] and whether stderr is a terminal.
    pub(crate) fn from_env() -> Mode {
        Mode::choose(std::env::var(MODE_ENV).ok().as_deref(), std::io::stderr().is_terminal())
    }

    /// The mode for a [`MODE_ENV`] value (`None`: unset) and a terminal or not.
    pub(crate) fn choose(setting: Option<&str>, stderr_is_terminal: bool) -> Mode {
        match setting.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("off" | "none" | "0" | "false") => Mode::Off,
            Some("lines" | "log") => Mode::Lines,
            _ if stderr_is_terminal => Mode::Bar,
            _ => Mode::Lines,
        }
    }
}

/// The line interval from [`INTERVAL_ENV`]'s value (`None`: unset); [`DEFAULT_INTERVAL`] when
/// unset or not a whole number of milliseconds.
pub(crate) fn interval_from(setting: Option<&str>) -> Duration {
    setting.and_then(|s| s.trim().parse::<u64>().ok()).map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

/// Whether colour is allowed: `NO_COLOR` unset or empty (<https://no-color.org>).
pub(crate) fn colour_allowed(no_color: Option<&str>) -> bool {
    no_color.is_none_or(str::is_empty)
}

/// The bar's template: with a bar when the total is known, else a spinner (with the count when
/// `counting`; `{rate}` is units per second, whole); colour names only when `colour`.
pub(crate) fn bar_template(total_known: bool, counting: bool, colour: bool) -> &'static str {
    // The message last, as `wide_msg`: cut to the terminal's width, so the bar never wraps.
    match (total_known, counting, colour) {
        (true, _, true) => {
            "{spinner:.green} {prefix:.bold}: [{bar:20.cyan/blue}] {pos}/{len} {percent}% {elapsed} ETA {eta} {wide_msg}"
        }
        (true, _, false) => "{spinner} {prefix}: [{bar:20}] {pos}/{len} {percent}% {elapsed} ETA {eta} {wide_msg}",
        (false, true, true) => "{spinner:.green} {prefix:.bold}: {pos} ({rate}) {elapsed} {wide_msg}",
        (false, true, false) => "{spinner} {prefix}: {pos} ({rate}) {elapsed} {wide_msg}",
        (false, false, true) => "{spinner:.green} {prefix:.bold}: {elapsed} {wide_msg}",
        (false, false, false) => "{spinner} {prefix}: {elapsed} {wide_msg}",
    }
}

/// The style of a [`bar_template`], with its `{rate}` key.
fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()).with_key(
        "rate",
        |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let rate = s.per_sec();
            let _ = if rate.is_finite() { write!(w, "{rate:.0}/s") } else { write!(w, "-/s") };
        },
    )
}

/// One progress line: `what: message (pos/total, pct %, 1.2 s)`, `what: message (pos, rate/s,
/// 1.2 s)` once something was counted without a total, else `what: message (1.2 s)`.
pub(crate) fn render_line(what: &str, message: &str, pos: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let mut line = format!("{what}:");
    if !message.is_empty() {
        line.push(' ');
        line.push_str(message);
    }
    let counts = match total {
        Some(t) if t > 0 => format!("{pos}/{t}, {:.0} %, ", 100.0 * pos.min(t) as f64 / t as f64),
        Some(_) => format!("{pos}, "),
        None if pos > 0 && secs > 0.0 => format!("{pos}, {:.0}/s, ", pos as f64 / secs),
        None if pos > 0 => format!("{pos}, "),
        None => String::new(),
    };
    line.push_str(&format!(" ({counts}{secs:.1} s)"));
    line
}

/// Progress of one piece of work (module docs).
pub(crate) struct Progress {
    kind: Kind,
}

enum Kind {
    Bar(Bar),
    Lines(Lines),
    Off,
}

struct Bar {
    bar: ProgressBar,
    colour: bool,
    /// Whether the spinner template shows the count (switched on at the first count).
    counting: AtomicBool,
}

impl Bar {
    fn restyle(&self) {
        let template = bar_template(self.bar.length().is_some(), self.counting.load(Ordering::Relaxed), self.colour);
        self.bar.set_style(bar_style(template));
    }

    fn counted(&self) {
        if self.bar.length().is_none() && !self.counting.swap(true, Ordering::Relaxed) {
            self.restyle();
        }
    }
}

struct Lines {
    shared: Arc<Shared>,
    /// `None`: a line on every update (interval 0).
    ticker: Option<JoinHandle<()>>,
}

struct Shared {
    what: String,
    pos: AtomicU64,
    state: Mutex<LineState>,
    wake: Condvar,
    sink: Mutex<Box<dyn Write + Send>>,
}

struct LineState {
    total: Option<u64>,
    message: String,
    started: Instant,
    finished: bool,
    /// Whether any line was written (then `finish` writes the `done` line).
    printed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes the current state as one line.
    fn print(&self, state: &mut LineState) {
        let line = render_line(
            &self.what,
            &state.message,
            self.pos.load(Ordering::Relaxed),
            state.total,
            state.started.elapsed(),
        );
        state.printed = true;
        let mut sink = lock(&self.sink);
        let _ = writeln!(sink, "{line}");
        let _ = sink.flush();
    }
}

impl Progress {
    /// Progress of `what` (a command name, the prefix of every line) over `total` units (`None`:
    /// unknown, a spinner), shown as [`Mode::from_env`] says, lines every [`INTERVAL_ENV`] ms.
    pub(crate) fn new(what: &str, total: Option<u64>) -> Progress {
        let interval = interval_from(std::env::var(INTERVAL_ENV).ok().as_deref());
        let colour = colour_allowed(std::env::var("NO_COLOR").ok().as_deref());
        Progress::with_mode(what, total, Mode::from_env(), interval, colour, Box::new(std::io::stderr()))
    }

    /// Progress in a given mode; lines (not the bar, which always draws on stderr) go to `sink`.
    pub(crate) fn with_mode(
        what: &str,
        total: Option<u64>,
        mode: Mode,
        interval: Duration,
        colour: bool,
        sink: Box<dyn Write + Send>,
    ) -> Progress {
        let kind = match mode {
            Mode::Off => Kind::Off,
            Mode::Bar => {
                let bar = Bar {
                    bar: ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(10))
                        .with_prefix(what.to_owned()),
                    colour,
                    counting: AtomicBool::new(false),
                };
                bar.restyle();
                bar.bar.enable_steady_tick(Duration::from_millis(150));
                Kind::Bar(bar)
            }
            Mode::Lines => {
                let shared = Arc::new(Shared {
                    what: what.to_owned(),
                    pos: AtomicU64::new(0),
                    state: Mutex::new(LineState {
                        total,
                        message: String::new(),
                        started: Instant::now(),
                        finished: false,
                        printed: false,
                    }),
                    wake: Condvar::new(),
                    sink: Mutex::new(sink),
                });
                let ticker = (!interval.is_zero()).then(|| {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || {
                        let mut state = lock(&shared.state);
                        loop {
                            state = shared
                                .wake
                                .wait_timeout_while(state, interval, |s| !s.finished)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                            if state.finished {
                                break;
                            }
                            shared.print(&mut state);
                        }
                    })
                });
                Kind::Lines(Lines { shared, ticker })
            }
        };
        Progress { kind }
    }

    /// With interval 0, a line for the update just made.
    fn updated(&self) {
        if let Kind::Lines(Lines { shared, ticker: None }) = &self.kind {
            let mut state = lock(&shared.state);
            if !state.finished {
                shared.print(&mut state);
            }
        }
    }

    /// Counts `n` more units done.
    pub(crate) fn inc(&self, n: u64) {
        match &self.kind {
            Kind::Bar(b) => {
                b.bar.inc(n);
                b.counted();
            }
            Kind::Lines(l) => {
                l.shared.pos.fetch_add(n, Ordering::Relaxed);
                self.updated();
            }
            Kind::Off => {}
        }
    }

    /// Sets the units done.
    pub(crate) fn set_position(&self, pos: u64) {
        match &self.kind {
            Kind::Bar(b) => {
                b.bar.set_position(pos);
                if pos > 0 {
                    b.counted();
                }
            }
            Kind::Lines(l) => {
                l.shared.pos.store(pos, Ordering::Relaxed);
                self.updated();
            }
            Kind::Off => {}
        }
    }

    /// Sets the total (`None`: unknown, a spinner).
    #[allow(dead_code)] // API for the commands that learn their total late (`run`, `compact`)
    pub(crate) fn set_length(&self, total: Option<u64>) {
        match &self.kind {
            Kind::Bar(b) => {
                match total {
                    Some(t) => b.bar.set_length(t),
                    None => b.bar.unset_length(),
                }
                b.restyle();
            }
            Kind::Lines(l) => lock(&l.shared.state).total = total,
            Kind::Off => {}
        }
    }

    /// Sets the message: what is being done now (`reading spans`, the item at hand).
    pub(crate) fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.kind {
            Kind::Bar(b) => b.bar.set_message(message),
            Kind::Lines(l) => {
                lock(&l.shared.state).message = message;
                self.updated();
            }
            Kind::Off => {}
        }
    }

    /// Starts a new stage: sets the message, the total (`None`: unknown) and the position to 0
    /// (the elapsed time goes on).
    pub(crate) fn stage(&self, message: impl Into<String>, total: Option<u64>) {
        let message = message.into();
        match &self.kind {
            Kind::Bar(b) => {
                b.bar.set_position(0);
                b.counting.store(false, Ordering::Relaxed);
                match total {
                    Some(t) => b.bar.set_length(t),
                    None => b.bar.unset_length(),
                }
                b.restyle();
                b.bar.set_message(message);
            }
            Kind::Lines(l) => {
                let mut state = lock(&l.shared.state);
                l.shared.pos.store(0, Ordering::Relaxed);
                state.total = total;
                state.message = message;
                drop(state);
                self.updated();
            }
            Kind::Off => {}
        }
    }

    /// Writes `line` to stderr without tearing the bar (it is drawn again below the line).
    pub(crate) fn note(&self, line: &str) {
        match &self.kind {
            Kind::Bar(b) => b.bar.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }

    /// Ends the progress: clears the bar, or writes `what: done (…)` when any line was written.
    /// Call it before writing the results to stdout.
    pub(crate) fn finish(mut self) {
        self.stop(true);
    }

    fn stop(&mut self, done_line: bool) {
        match &mut self.kind {
            Kind::Bar(b) => b.bar.finish_and_clear(),
            Kind::Lines(l) => {
                let mut state = lock(&l.shared.state);
                if state.finished {
                    return;
                }
                state.finished = true;
                if done_line && state.printed {
                    state.message = "done".to_owned();
                    l.shared.print(&mut state);
                }
                drop(state);
                l.shared.wake.notify_all();
                if let Some(t) = l.ticker.take() {
                    let _ = t.join();
                }
            }
            Kind::Off => {}
        }
        self.kind = Kind::Off;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            String::from_utf8_lossy(&lock(&self.0)).lines().map(str::to_owned).collect()
        }
    }

    #[test]
    fn modes_follow_the_terminal_and_the_setting() {
        assert_eq!(Mode::choose(None, true), Mode::Bar);
        assert_eq!(Mode::choose(None, false), Mode::Lines);
        assert_eq!(Mode::choose(Some("auto"), true), Mode::Bar);
        assert_eq!(Mode::choose(Some("lines"), true), Mode::Lines);
        assert_eq!(Mode::choose(Some(" OFF "), true), Mode::Off);
        assert_eq!(Mode::choose(Some("off"), false), Mode::Off);
        assert_eq!(Mode::choose(Some("sparkles"), false), Mode::Lines);
        assert_eq!(interval_from(None), DEFAULT_INTERVAL);
        assert_eq!(interval_from(Some("0")), Duration::ZERO);
        assert_eq!(interval_from(Some(" 250 ")), Duration::from_millis(250));
        assert_eq!(interval_from(Some("-1")), DEFAULT_INTERVAL);
        assert_eq!(interval_from(Some("5s")), DEFAULT_INTERVAL);
    }

    #[test]
    fn no_color_removes_every_colour_from_the_templates() {
        assert!(colour_allowed(None) && colour_allowed(Some("")));
        assert!(!colour_allowed(Some("1")));
        for total in [true, false] {
            for counting in [true, false] {
                let plain = bar_template(total, counting, false);
                assert!(!plain.contains(".green") && !plain.contains(".cyan") && !plain.contains(".bold"), "{plain}");
                assert!(ProgressStyle::with_template(plain).is_ok(), "{plain}");
                let coloured = bar_template(total, counting, true);
                assert!(coloured.contains(".green"), "{coloured}");
                assert!(ProgressStyle::with_template(coloured).is_ok(), "{coloured}");
            }
        }
    }

    #[test]
    fn lines_render_counts_rates_and_time() {
        let s = Duration::from_millis(2500);
        assert_eq!(
            render_line("analyze", "recommending SLOs", 3, Some(7), s),
            "analyze: recommending SLOs (3/7, 43 %, 2.5 s)"
        );
        assert_eq!(
            render_line("produce", "sending events", 5000, None, s),
            "produce: sending events (5000, 2000/s, 2.5 s)"
        );
        assert_eq!(render_line("analyze", "loading spans", 0, None, s), "analyze: loading spans (2.5 s)");
        assert_eq!(render_line("x", "", 9, Some(0), Duration::ZERO), "x: (9, 0.0 s)");
        // Past the total (a wrong estimate) caps the percentage, nothing panics.
        assert_eq!(render_line("x", "m", 12, Some(10), s), "x: m (12/10, 100 %, 2.5 s)");
        assert_eq!(render_line("x", "m", u64::MAX, None, Duration::ZERO), format!("x: m ({}, 0.0 s)", u64::MAX));
    }

    #[test]
    fn interval_zero_writes_a_line_per_update_and_a_done_line() {
        let sink = Captured::default();
        let p = Progress::with_mode("work", None, Mode::Lines, Duration::ZERO, false, Box::new(sink.clone()));
        p.stage("loading", None);
        p.stage("items", Some(2));
        p.inc(1);
        p.set_message("item b");
        p.inc(1);
        p.finish();
        let lines = sink.lines();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines[0].starts_with("work: loading ("), "{lines:?}");
        assert!(lines[1].starts_with("work: items (0/2, 0 %,"), "{lines:?}");
        assert!(lines[2].starts_with("work: items (1/2, 50 %,"), "{lines:?}");
        assert!(lines[4].starts_with("work: item b (2/2, 100 %,"), "{lines:?}");
        assert!(lines[5].starts_with("work: done (2/2, 100 %,"), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains('\u{1b}') && !l.contains('\r')), "{lines:?}");
    }

    #[test]
    fn a_ticker_writes_lines_while_the_work_runs_and_stops_with_it() {
        let sink = Captured::default();
        let p = Progress::with_mode(
            "slow",
            Some(10),
            Mode::Lines,
            Duration::from_millis(20),
            false,
            Box::new(sink.clone()),
        );
        p.set_message("step");
        p.inc(4);
        // No update for a while: the ticker still reports.
        std::thread::sleep(Duration::from_millis(200));
        p.finish();
        let lines = sink.lines();
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines[0].starts_with("slow: step (4/10, 40 %,"), "{lines:?}");
        assert!(lines.last().unwrap().starts_with("slow: done (4/10"), "{lines:?}");
        // Finished: the thread is gone, nothing more is written.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sink.lines().len(), lines.len());
    }

    #[test]
    fn quick_work_and_dropped_progress_write_nothing() {
        let sink = Captured::default();
        let p = Progress::with_mode("quick", None, Mode::Lines, Duration::from_secs(5), false, Box::new(sink.clone()));
        p.inc(100);
        p.finish();
        // Dropped on an error path: stops without a done line.
        let p = Progress::with_mode("failed", None, Mode::Lines, Duration::ZERO, false, Box::new(sink.clone()));
        p.set_message("working");
        drop(p);
        assert_eq!(sink.lines().len(), 1, "{:?}", sink.lines());
        assert!(sink.lines()[0].starts_with("failed: working"));
        // Off and bar modes accept every call (the bar draws only on a terminal).
        for mode in [Mode::Off, Mode::Bar] {
            let p = Progress::with_mode("x", Some(3), mode, Duration::ZERO, false, Box::new(sink.clone()));
            p.stage("s", None);
            p.inc(2);
            p.set_position(1);
            p.set_length(Some(5));
            p.set_message("m");
            p.finish();
        }
        assert_eq!(sink.lines().len(), 1);
    }

    #[test]
    fn progress_is_shared_across_threads() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<Progress>();
        let sink = Captured::default();
        let p = Progress::with_mode("par", Some(400), Mode::Lines, Duration::from_secs(60), false, Box::new(sink));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..100).for_each(|_| p.inc(1)));
            }
        });
        let Kind::Lines(l) = &p.kind else { panic!("lines mode") };
        assert_eq!(l.shared.pos.load(Ordering::Relaxed), 400);
        p.finish();
    }
}
