//! The one reporter: everything djdd says on stderr while it works (log
//! lines from `tracing`, and progress of the long steps) goes through here.
//!
//! `main` calls [`init`] once with the [`Settings`] it derived from the
//! command line and the environment. Library code never prints: it opens a
//! [`Task`] ([`task`] for a process whose output lines are counted,
//! [`bytes_task`] for the .deb writer) and feeds it lines or byte counts.
//! On a terminal a task is an `indicatif` spinner line on stderr, redrawn as
//! its figures change; off a terminal the same figures are logged as a plain
//! line at most every [`PLAIN_EVERY`] (and once when the task ends); with
//! `-q`, or before [`init`] (library tests), tasks do nothing. Standard
//! output is never touched: it carries what scripts parse.
//!
//! Colour follows <https://no-color.org>: `--color auto` (the default)
//! colours only a terminal, and not when `NO_COLOR` is set to a non-empty
//! value or `TERM=dumb`; `--color always` and `never` decide alone.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a task's figures are logged when stderr is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Tasks shorter than this end without an info line (at debug only).
pub const QUICK: Duration = Duration::from_secs(2);

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether log lines get ANSI colours. `no_color` is the value of
/// `NO_COLOR` (set and non-empty disables colour in auto mode), `term` the
/// value of `TERM`.
pub fn use_color(
    choice: ColorChoice,
    stderr_is_terminal: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stderr_is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
        }
    }
}

/// The `--color` given on the command line, read before clap parses it:
/// clap prints help and usage errors itself, and should colour them as the
/// rest (without it, clap's own auto mode decides, which also honours
/// NO_COLOR). Stops at `--`; an invalid value is left for clap to report.
pub fn color_arg<I, S>(args: I) -> Option<ColorChoice>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut found = None;
    let mut next_is_value = false;
    for a in args {
        let a = a.as_ref().to_string_lossy();
        let value = if next_is_value {
            next_is_value = false;
            Some(a.as_ref())
        } else if a == "--" {
            break;
        } else if a == "--color" {
            next_is_value = true;
            None
        } else {
            a.strip_prefix("--color=")
        };
        if let Some(v) = value {
            found = <ColorChoice as clap::ValueEnum>::from_str(v, false).ok();
        }
    }
    found
}

impl ColorChoice {
    /// The same choice for clap's own output.
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            ColorChoice::Auto => clap::ColorChoice::Auto,
            ColorChoice::Always => clap::ColorChoice::Always,
            ColorChoice::Never => clap::ColorChoice::Never,
        }
    }
}

/// What `main` decided about output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// ANSI colours in log lines.
    pub color: bool,
    /// Errors only: no log lines below error, no progress.
    pub quiet: bool,
    /// stderr is a terminal: progress as redrawn bars, not plain lines.
    pub terminal: bool,
    /// -v count (0: info, 1: debug, 2+: trace); `DJDD_LOG` overrides.
    pub verbose: u8,
}

impl Settings {
    /// The settings for this process: `choice` and `-q`/`-v` from the
    /// command line, the rest from the environment and stderr.
    pub fn detect(choice: ColorChoice, quiet: bool, verbose: u8) -> Settings {
        let terminal = std::io::stderr().is_terminal();
        let no_color = std::env::var("NO_COLOR").ok();
        let term = std::env::var("TERM").ok();
        Settings {
            color: use_color(choice, terminal, no_color.as_deref(), term.as_deref()),
            quiet,
            terminal,
            verbose,
        }
    }

    /// The tracing filter these settings give (without `DJDD_LOG`).
    pub fn level(&self) -> &'static str {
        if self.quiet {
            return "error";
        }
        match self.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    }
}

enum Mode {
    Bars(MultiProgress),
    Plain,
    Hidden,
}

/// Where a task's info lines go: `tracing` (tests capture them instead).
type Emit = Arc<dyn Fn(&str) + Send + Sync>;

struct Reporter {
    mode: Mode,
    /// How often a plain-mode task logs its figures ([`PLAIN_EVERY`]).
    every: Duration,
    emit: Emit,
}

static REPORTER: OnceLock<Reporter> = OnceLock::new();

/// Sets up the reporter and the `tracing` subscriber (stderr, colour as
/// decided, filter from `DJDD_LOG` or the settings). Call once, first thing.
pub fn init(s: Settings) {
    let mode = if s.quiet {
        Mode::Hidden
    } else if s.terminal {
        Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
    } else {
        Mode::Plain
    };
    let _ = REPORTER.set(Reporter {
        mode,
        every: PLAIN_EVERY,
        emit: Arc::new(|line: &str| tracing::info!("{line}")),
    });
    let filter = tracing_subscriber::EnvFilter::try_from_env("DJDD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(s.level()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(s.color)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Writes one formatted log line to stderr, above any progress bar.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match REPORTER.get().map(|r| &r.mode) {
            Some(Mode::Bars(m)) => m.suspend(|| std::io::stderr().write_all(buf))?,
            _ => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whose output lines a [`task`] reads, and so which figures it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    /// debootstrap: its stage and the packages retrieved, validated,
    /// extracted, unpacked and configured.
    Debootstrap,
    /// apt-get install: packages to install, fetched, unpacked, set up.
    Apt,
    /// pip install: packages collected (downloaded), wheels built,
    /// packages installed.
    Pip,
    /// manage.py collectstatic (at verbosity 2): files copied or linked,
    /// post-processed.
    Collectstatic,
    /// The .deb writer: members written of all, bytes and rate.
    Bytes,
}

/// The figures of one task: what is shown on its bar and in its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// The current stage, for tools that say one (debootstrap, pip).
    pub stage: Option<String>,
    /// Named counters, in the order they are shown; zero ones are left out.
    pub counts: Vec<(&'static str, u64)>,
    /// The whole that the first counter counts towards, when known.
    pub total: Option<u64>,
    /// Bytes read ([`Meter::Bytes`]: the uncompressed data tar).
    pub bytes: Option<u64>,
    /// Bytes written by the compressor ([`Meter::Bytes`]).
    pub compressed: u64,
}

impl Figures {
    fn new(meter: Meter) -> Figures {
        let names: &[&'static str] = match meter {
            Meter::Debootstrap => &[
                "retrieved",
                "validated",
                "extracted",
                "unpacked",
                "configured",
            ],
            Meter::Apt => &["fetched", "unpacked", "set up"],
            Meter::Pip => &["collected", "downloaded", "built", "installed"],
            Meter::Collectstatic => &["files", "post-processed"],
            Meter::Bytes => &["members"],
        };
        Figures {
            counts: names.iter().map(|n| (*n, 0)).collect(),
            ..Figures::default()
        }
    }

    fn bump(&mut self, name: &str, by: u64) {
        if let Some(c) = self.counts.iter_mut().find(|(n, _)| *n == name) {
            c.1 += by;
        }
    }

    fn set(&mut self, name: &str, to: u64) {
        if let Some(c) = self.counts.iter_mut().find(|(n, _)| *n == name) {
            c.1 = to;
        }
    }

    /// Reads one output line of the tool `meter` names.
    pub fn observe(&mut self, meter: Meter, line: &str) {
        match meter {
            Meter::Debootstrap => self.observe_debootstrap(line),
            Meter::Apt => self.observe_apt(line),
            Meter::Pip => self.observe_pip(line),
            Meter::Collectstatic => self.observe_collectstatic(line),
            Meter::Bytes => {}
        }
    }

    fn observe_debootstrap(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("I: ") else {
            return;
        };
        let rest = rest.trim();
        let words = rest.trim_end_matches("...").split_whitespace().count();
        // Per-package lines: "Retrieving NAME VERSION", "Validating NAME
        // VERSION", "Extracting NAME...", "Unpacking NAME...", "Configuring
        // NAME..."; anything else is a stage.
        for (verb, counter, n) in [
            ("Retrieving ", "retrieved", 3),
            ("Validating ", "validated", 3),
            ("Extracting ", "extracted", 2),
            ("Unpacking ", "unpacked", 2),
            ("Configuring ", "configured", 2),
        ] {
            if rest.starts_with(verb) && words == n {
                self.bump(counter, 1);
                return;
            }
        }
        self.stage = Some(rest.trim_end_matches("...").to_lowercase());
    }

    fn observe_apt(&mut self, line: &str) {
        if line.starts_with("Get:") {
            self.bump("fetched", 1);
        } else if line.starts_with("Unpacking ") {
            self.bump("unpacked", 1);
        } else if line.starts_with("Setting up ") {
            self.bump("set up", 1);
        } else if let Some((upgraded, rest)) = line.split_once(" upgraded, ") {
            if let Some((new, _)) = rest.split_once(" newly installed") {
                if let (Ok(u), Ok(n)) = (upgraded.trim().parse::<u64>(), new.trim().parse::<u64>())
                {
                    self.total = Some(u + n);
                }
            }
        }
    }

    fn observe_pip(&mut self, line: &str) {
        let l = line.trim_start();
        if l.starts_with("Collecting ") {
            self.bump("collected", 1);
        } else if l.starts_with("Downloading ") {
            self.bump("downloaded", 1);
        } else if l.starts_with("Building wheel for ") && !l.ends_with(": started") {
            self.stage = Some("building wheels".into());
        } else if l.starts_with("Created wheel for ") {
            self.bump("built", 1);
        } else if let Some(list) = l.strip_prefix("Installing collected packages:") {
            self.stage = Some("installing".into());
            self.total = Some(list.split(',').filter(|s| !s.trim().is_empty()).count() as u64);
        } else if let Some(list) = l.strip_prefix("Successfully installed ") {
            self.stage = None;
            self.set("installed", list.split_whitespace().count() as u64);
        }
    }

    fn observe_collectstatic(&mut self, line: &str) {
        if line.starts_with("Copying '") || line.starts_with("Linking '") {
            self.bump("files", 1);
        } else if line.starts_with("Post-processed '") {
            self.bump("post-processed", 1);
        }
    }

    /// The figures as text: "stage; 3 retrieved, 2 validated" (counters
    /// that are zero left out; "N of TOTAL" for pip's installed and apt's
    /// set up, bytes and rate for the writer).
    pub fn render(&self, meter: Meter, elapsed: Duration) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (name, n) in &self.counts {
            let with_total = matches!(
                (meter, *name),
                (Meter::Apt, "set up") | (Meter::Pip, "installed") | (Meter::Bytes, "members")
            );
            match self.total {
                Some(t) if with_total => parts.push(format!("{n} of {t} {name}")),
                _ if *n > 0 => parts.push(format!("{n} {name}")),
                _ => {}
            }
        }
        if let Some(b) = self.bytes {
            let secs = elapsed.as_secs_f64();
            let rate = if secs > 0.0 { b as f64 / secs } else { 0.0 };
            parts.push(format!(
                "{} read ({}/s), {} compressed",
                human_bytes(b as f64),
                human_bytes(rate),
                human_bytes(self.compressed as f64)
            ));
        }
        let mut s = String::new();
        if let Some(st) = &self.stage {
            s.push_str(st);
            if !parts.is_empty() {
                s.push_str("; ");
            }
        }
        s.push_str(&parts.join(", "));
        s
    }
}

/// Bytes in binary units, one decimal: "512 B", "1.5 KiB", "117.0 MiB".
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024.0 {
        return format!("{b:.0} B");
    }
    let mut v = b / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// Elapsed time as "42 s" or "3 min 05 s".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

struct State {
    figures: Figures,
}

struct Inner {
    label: String,
    meter: Meter,
    start: Instant,
    state: Mutex<State>,
    bar: Option<ProgressBar>,
    emit: Emit,
    /// Dropping it stops the plain-line ticker.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Inner {
    fn text(&self) -> String {
        let st = self.state.lock().unwrap();
        st.figures.render(self.meter, self.start.elapsed())
    }
}

/// The progress of one long step; ends (and logs its final figures) when
/// dropped or [`Task::finish`]ed. Cheap to feed: a lock and a counter.
pub struct Task {
    inner: Option<Arc<Inner>>,
}

/// A task that counts the output lines of `meter`'s tool, shown as
/// `label`.
pub fn task(label: impl Into<String>, meter: Meter) -> Task {
    match REPORTER.get() {
        Some(r) => r.task(label.into(), meter),
        None => Task { inner: None },
    }
}

impl Reporter {
    fn task(&self, label: String, meter: Meter) -> Task {
        let bar = match &self.mode {
            Mode::Hidden => return Task { inner: None },
            Mode::Plain => None,
            Mode::Bars(m) => {
                let bar = m.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} {elapsed}")
                        .expect("a valid template"),
                );
                bar.set_prefix(label.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                Some(bar)
            }
        };
        let inner = Arc::new(Inner {
            label,
            meter,
            start: Instant::now(),
            state: Mutex::new(State {
                figures: Figures::new(meter),
            }),
            bar,
            emit: self.emit.clone(),
            stop: Mutex::new(None),
            ticker: Mutex::new(None),
        });
        if inner.bar.is_none() {
            let (tx, rx) = mpsc::channel::<()>();
            let weak = Arc::downgrade(&inner);
            let every = self.every;
            let handle = std::thread::spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    let Some(i) = weak.upgrade() else { return };
                    (i.emit)(&format!(
                        "{}: {} ({})",
                        i.label,
                        i.text(),
                        human_duration(i.start.elapsed())
                    ));
                }
            });
            *inner.stop.lock().unwrap() = Some(tx);
            *inner.ticker.lock().unwrap() = Some(handle);
        }
        Task { inner: Some(inner) }
    }
}

/// A task for the .deb writer: `members` of them, bytes and rate.
pub fn bytes_task(label: impl Into<String>, members: u64) -> Task {
    let t = task(label, Meter::Bytes);
    if let Some(i) = &t.inner {
        let mut st = i.state.lock().unwrap();
        st.figures.total = Some(members);
        st.figures.bytes = Some(0);
    }
    t
}

impl Task {
    /// A task that shows nothing (what [`task`] gives with `-q`).
    pub fn hidden() -> Task {
        Task { inner: None }
    }

    /// Reads one output line of the task's tool.
    pub fn line(&self, line: &str) {
        if let Some(i) = &self.inner {
            i.state.lock().unwrap().figures.observe(i.meter, line);
            self.redraw(i);
        }
    }

    /// Sets the writer's figures: members written and bytes.
    pub fn written(&self, members: u64, bytes: u64) {
        if let Some(i) = &self.inner {
            {
                let mut st = i.state.lock().unwrap();
                let f = &mut st.figures;
                f.set("members", members);
                f.bytes = Some(bytes);
                if f.total == Some(members) {
                    // All read; the compressor's threads finish their blocks.
                    f.stage = Some("compressing".into());
                }
            }
            self.redraw(i);
        }
    }

    /// Sets the writer's compressed bytes so far.
    pub fn compressed(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.state.lock().unwrap().figures.compressed = bytes;
            self.redraw(i);
        }
    }

    fn redraw(&self, i: &Inner) {
        if let Some(bar) = &i.bar {
            bar.set_message(i.text());
        }
    }

    /// Ends the task: removes its bar, stops its ticker and logs its final
    /// figures with the time it took.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        let Some(i) = self.inner.take() else { return };
        if let Some(bar) = &i.bar {
            bar.finish_and_clear();
        }
        drop(i.stop.lock().unwrap().take());
        if let Some(h) = i.ticker.lock().unwrap().take() {
            let _ = h.join();
        }
        // The last stage is over; the counts stay.
        i.state.lock().unwrap().figures.stage = None;
        let text = i.text();
        let elapsed = i.start.elapsed();
        let took = human_duration(elapsed);
        // A step that took a moment needs no summary line of its own.
        if elapsed < QUICK {
            tracing::debug!("{}: {text} (ended after {took})", i.label);
        } else if text.is_empty() {
            (i.emit)(&format!("{}: ended after {took}", i.label));
        } else {
            (i.emit)(&format!("{}: {text} (ended after {took})", i.label));
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(meter: Meter, lines: &str) -> Figures {
        let mut f = Figures::new(meter);
        for l in lines.lines() {
            f.observe(meter, l);
        }
        f
    }

    #[test]
    fn color_only_on_a_terminal_without_no_color() {
        use ColorChoice::*;
        assert!(use_color(Auto, true, None, Some("xterm")));
        assert!(!use_color(Auto, false, None, Some("xterm")));
        assert!(!use_color(Auto, true, Some("1"), Some("xterm")));
        assert!(use_color(Auto, true, Some(""), Some("xterm")));
        assert!(!use_color(Auto, true, None, Some("dumb")));
        assert!(use_color(Always, false, Some("1"), Some("dumb")));
        assert!(!use_color(Never, true, None, Some("xterm")));
    }

    #[test]
    fn color_arg_is_found_before_parsing() {
        let c = |args: &[&str]| color_arg(args.iter());
        assert_eq!(
            c(&["djdd", "--color", "never", "x"]),
            Some(ColorChoice::Never)
        );
        assert_eq!(
            c(&["djdd", "b", "--color=always"]),
            Some(ColorChoice::Always)
        );
        assert_eq!(c(&["djdd", "--color=bogus"]), None);
        assert_eq!(c(&["djdd", "--", "--color=never"]), None);
        assert_eq!(c(&["djdd", "status"]), None);
    }

    #[test]
    fn quiet_is_errors_only() {
        let s = Settings {
            color: false,
            quiet: true,
            terminal: true,
            verbose: 2,
        };
        assert_eq!(s.level(), "error");
        assert_eq!(Settings { quiet: false, ..s }.level(), "trace");
    }

    #[test]
    fn debootstrap_figures() {
        let f = feed(
            Meter::Debootstrap,
            "I: Retrieving InRelease \n\
             I: Checking Release signature\n\
             I: Retrieving Packages \n\
             I: Validating Packages \n\
             I: Resolving dependencies of required packages...\n\
             I: Retrieving adduser 3.134\n\
             I: Validating adduser 3.134\n\
             I: Retrieving libc6 2.36-9+deb12u4\n\
             I: Extracting adduser...\n\
             I: Unpacking required packages...\n\
             I: Unpacking libc6:amd64...\n",
        );
        assert_eq!(f.stage.as_deref(), Some("unpacking required packages"));
        assert_eq!(
            f.render(Meter::Debootstrap, Duration::ZERO),
            "unpacking required packages; 2 retrieved, 1 validated, 1 extracted, 1 unpacked"
        );
    }

    #[test]
    fn apt_figures() {
        let f = feed(
            Meter::Apt,
            "Reading package lists...\n\
             0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.\n\
             Need to get 1,234 kB of archives.\n\
             Get:1 http://deb.debian.org/debian bookworm/main amd64 a amd64 1 [1 kB]\n\
             Get:2 http://deb.debian.org/debian bookworm/main amd64 b amd64 1 [1 kB]\n\
             Unpacking a (1) ...\n\
             Setting up a (1) ...\n",
        );
        assert_eq!(
            f.render(Meter::Apt, Duration::ZERO),
            "2 fetched, 1 unpacked, 1 of 3 set up"
        );
    }

    #[test]
    fn pip_figures() {
        let f = feed(
            Meter::Pip,
            "Collecting Django==4.2.7 (from -r requirements.txt (line 1))\n\
             \x20 Downloading Django-4.2.7-py3-none-any.whl (8.0 MB)\n\
             Collecting psycopg2==2.9.9\n\
             \x20 Using cached psycopg2-2.9.9.tar.gz (384 kB)\n\
             Building wheels for collected packages: psycopg2\n\
             \x20 Building wheel for psycopg2 (setup.py): started\n\
             \x20 Created wheel for psycopg2: filename=psycopg2-2.9.9-cp311-linux_x86_64.whl\n\
             Installing collected packages: psycopg2, django\n",
        );
        assert_eq!(
            f.render(Meter::Pip, Duration::ZERO),
            "installing; 2 collected, 1 downloaded, 1 built, 0 of 2 installed"
        );
        let mut f = f;
        f.observe(
            Meter::Pip,
            "Successfully installed django-4.2.7 psycopg2-2.9.9",
        );
        assert_eq!(
            f.render(Meter::Pip, Duration::ZERO),
            "2 collected, 1 downloaded, 1 built, 2 of 2 installed"
        );
    }

    #[test]
    fn collectstatic_figures() {
        let f = feed(
            Meter::Collectstatic,
            "Copying '/src/app/static/a.css'\n\
             Linking '/src/app/static/b.js'\n\
             Post-processed 'a.css' as 'a.1234.css'\n\
             2 static files copied to '/scratch/static'.\n",
        );
        assert_eq!(
            f.render(Meter::Collectstatic, Duration::ZERO),
            "2 files, 1 post-processed"
        );
    }

    #[test]
    fn bytes_and_rate() {
        let mut f = Figures::new(Meter::Bytes);
        f.total = Some(10);
        f.set("members", 4);
        f.bytes = Some(3 << 20);
        f.compressed = 1536;
        assert_eq!(
            f.render(Meter::Bytes, Duration::from_secs(2)),
            "4 of 10 members, 3.0 MiB read (1.5 MiB/s), 1.5 KiB compressed"
        );
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 05 s");
    }

    /// A plain-mode reporter whose lines are collected.
    fn plain(every: Duration) -> (Reporter, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let r = Reporter {
            mode: Mode::Plain,
            every,
            emit: Arc::new(move |s: &str| l.lock().unwrap().push(s.to_string())),
        };
        (r, lines)
    }

    #[test]
    fn off_a_terminal_figures_are_logged_every_period_while_the_task_runs() {
        let (r, lines) = plain(Duration::from_millis(100));
        let t = r.task("pip install".into(), Meter::Pip);
        t.line("Collecting django");
        std::thread::sleep(Duration::from_millis(350));
        t.line("Collecting psycopg2");
        std::thread::sleep(Duration::from_millis(100));
        t.finish();
        let lines = lines.lock().unwrap().clone();
        // One line per period, never more often (at most 4 in 450 ms; at
        // least one even on a slow machine), none at the end: the task took
        // less than QUICK.
        assert!((1..=4).contains(&lines.len()), "{lines:?}");
        assert_eq!(lines[0], "pip install: 1 collected (0 s)");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("pip install: ") && l.ends_with(" collected (0 s)")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_task_shorter_than_the_period_logs_nothing() {
        let (r, lines) = plain(Duration::from_millis(500));
        let t = r.task("collectstatic".into(), Meter::Collectstatic);
        t.line("Copying '/a.css'");
        t.finish();
        assert_eq!(*lines.lock().unwrap(), Vec::<String>::new());
        // Hidden (-q): nothing, whatever the task does.
        let (mut r, lines) = plain(Duration::from_millis(1));
        r.mode = Mode::Hidden;
        let t = r.task("pip install".into(), Meter::Pip);
        std::thread::sleep(Duration::from_millis(20));
        t.finish();
        assert!(lines.lock().unwrap().is_empty());
    }

    #[test]
    fn tasks_without_a_reporter_do_nothing() {
        let t = task("x", Meter::Pip);
        t.line("Collecting a");
        assert!(t.inner.is_none());
        t.finish();
    }
}
