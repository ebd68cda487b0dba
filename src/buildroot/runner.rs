//! The one door through which djdd runs a process: a [`Cmd`] (program and
//! argument array, never a shell string) handed to a [`Runner`].
//!
//! [`RealRunner`] spawns it, streams its output to `tracing` (progress lines
//! at info, the rest at debug) and, for a command with a meter, to a
//! [`crate::report::Task`] that counts them (the one reporter draws the
//! progress), keeps a tail for error messages, and can put
//! the child in its own process group recorded in a file, so that a rerun
//! after `kill -9` can stop what the killed djdd left running. Every child
//! gets SIGTERM when djdd dies (prctl(2) `PR_SET_PDEATHSIG`) and inherits
//! the locks [`crate::builddir::NamedLock::hold_in_children`] names. Unit
//! tests use a fake runner. Never builds a shell command line from values.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use crate::error::{Error, Result};

/// Lines of output kept for an error message.
const TAIL_LINES: usize = 30;

/// A process to run: program, argument array, environment additions.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    /// Bytes for stdin (otherwise /dev/null, unless `run_io` gets a reader).
    pub stdin: Option<Vec<u8>>,
    /// Decides which output lines are progress (logged at info); all other
    /// lines are logged at debug.
    pub progress: Option<fn(&str) -> bool>,
    /// A progress task (label, meter) fed every output line while it runs.
    pub meter: Option<(String, crate::report::Meter)>,
    /// Run in a new process group and record `PGID STARTTIME` in this file
    /// while it runs (see [`reap_group`]).
    pub group_file: Option<PathBuf>,
    /// Start it with SIGPIPE ignored (inherited by what it runs): for
    /// schroot, which must still end its session when djdd died and the
    /// pipes of its output are broken (the command inside gets the
    /// default back from `env --default-signal=PIPE`).
    pub ignore_sigpipe: bool,
}

impl Cmd {
    pub fn new(program: &str) -> Cmd {
        Cmd {
            program: program.to_string(),
            ..Cmd::default()
        }
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }
    pub fn stdin(mut self, bytes: Vec<u8>) -> Cmd {
        self.stdin = Some(bytes);
        self
    }
    pub fn progress(mut self, f: fn(&str) -> bool) -> Cmd {
        self.progress = Some(f);
        self
    }
    /// Shows its progress as `label`, counting its output lines as
    /// `meter` reads them.
    pub fn meter(mut self, label: impl Into<String>, meter: crate::report::Meter) -> Cmd {
        self.meter = Some((label.into(), meter));
        self
    }
    pub fn group_file(mut self, f: Option<PathBuf>) -> Cmd {
        self.group_file = f;
        self
    }
    pub fn ignore_sigpipe(mut self) -> Cmd {
        self.ignore_sigpipe = true;
        self
    }

    /// The command as a person would type it (for messages only; each
    /// argument with spaces or quotes is shown single-quoted).
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            let a = a.to_string_lossy();
            s.push(' ');
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                s.push_str(&a);
            } else {
                s.push('\'');
                s.push_str(&a.replace('\'', "'\\''"));
                s.push('\'');
            }
        }
        s
    }
}

/// What a finished process left.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    /// Standard output, unless it was sent to a writer.
    pub stdout: Vec<u8>,
    /// The last lines of stderr and stdout together, for messages.
    pub tail: String,
}

impl Output {
    /// A made-up output, for fake runners.
    pub fn fake(code: i32, stdout: &str, tail: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            tail: tail.to_string(),
        }
    }

    /// Standard output as text, trimmed.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }

    /// The last non-blank line of [`Output::tail`] (what a failing
    /// program said last), trimmed; `None` when it said nothing.
    pub fn last_line(&self) -> Option<&str> {
        self.tail.lines().map(str::trim).rfind(|l| !l.is_empty())
    }

    /// Turns a failure into [`Error::Command`] naming the command.
    pub fn check(self, cmd: &Cmd) -> Result<Output> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(Error::Command {
                command: cmd.display(),
                status: self.status.to_string(),
                output: self.tail,
            })
        }
    }
}

/// Runs processes. Implementations: [`RealRunner`], and fakes in tests.
pub trait Runner: Send + Sync {
    /// Runs `cmd` to the end. `input`, when given, is copied to its stdin;
    /// `output`, when given, receives its stdout (otherwise it is captured).
    /// An error only when it could not be started or waited for; a non-zero
    /// exit is in [`Output::status`] (see [`Output::check`]).
    fn run_io(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn Read + Send)>,
        output: Option<&mut (dyn Write + Send)>,
    ) -> Result<Output>;

    /// Runs `cmd` and captures its output.
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        self.run_io(cmd, None, None)
    }

    /// Runs `cmd` and fails unless it exits 0.
    fn check(&self, cmd: &Cmd) -> Result<Output> {
        self.run(cmd)?.check(cmd)
    }
}

/// The Debian package that provides a program, for "not installed" errors.
pub fn package_of(program: &str) -> &'static str {
    match program {
        "debootstrap" => "debootstrap",
        "schroot" => "schroot",
        "git" => "git",
        "tar" => "tar",
        "umount" | "mount" => "mount",
        "chroot" | "env" => "coreutils",
        "ssh" => "openssh-client",
        "systemd-analyze" => "systemd",
        "dpkg" | "dpkg-deb" => "dpkg",
        "gpg" => "gnupg",
        _ => "the package that provides it",
    }
}

/// Runs real processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealRunner;

impl Runner for RealRunner {
    fn run_io(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn Read + Send)>,
        output: Option<&mut (dyn Write + Send)>,
    ) -> Result<Output> {
        let mut c = std::process::Command::new(&cmd.program);
        c.args(&cmd.args);
        for (k, v) in &cmd.env {
            c.env(k, v);
        }
        if let Some(d) = &cmd.cwd {
            c.current_dir(d);
        }
        c.stdin(if cmd.stdin.is_some() || input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        if cmd.group_file.is_some() {
            c.process_group(0);
        }
        let parent = std::process::id() as libc::pid_t;
        let inherit = crate::builddir::locks_held_in_children();
        let ignore_sigpipe = cmd.ignore_sigpipe;
        // SAFETY: the closure runs in the child between fork and exec and
        // only makes async-signal-safe system calls (prctl, getppid, fcntl,
        // signal) on values captured before the fork; it allocates nothing.
        unsafe {
            c.pre_exec(move || {
                if ignore_sigpipe {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                }
                // When djdd dies (even by SIGKILL) the child gets SIGTERM:
                // schroot passes it on to the command in the root, which
                // stops instead of writing on into the build dir.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    // djdd died before the signal was armed.
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        tracing::debug!("running {}", cmd.display());
        let mut child = c.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingProgram {
                    program: cmd.program.clone(),
                    package: package_of(&cmd.program).to_string(),
                }
            } else {
                Error::io(&cmd.program, e)
            }
        })?;
        if let Some(f) = &cmd.group_file {
            let start = process_start_time(child.id()).unwrap_or(0);
            crate::builddir::write_atomic(f, format!("{} {start}\n", child.id()).as_bytes())?;
        }
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tail = std::sync::Mutex::new(VecDeque::<String>::new());
        let progress = cmd.progress;
        let task = match &cmd.meter {
            Some((label, meter)) => crate::report::task(label.as_str(), *meter),
            None => crate::report::Task::hidden(),
        };
        let keep = |line: &str| {
            task.line(line);
            if progress.is_some_and(|p| p(line)) {
                tracing::info!("{line}");
            } else {
                tracing::debug!("{line}");
            }
            let mut t = tail.lock().unwrap();
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.to_string());
        };
        let mut captured = Vec::new();
        let io_result: std::io::Result<()> = std::thread::scope(|s| {
            let feeder = s.spawn(move || -> std::io::Result<()> {
                if let Some(mut w) = stdin {
                    if let Some(bytes) = &cmd.stdin {
                        w.write_all(bytes)?;
                    } else if let Some(r) = input {
                        std::io::copy(r, &mut w)?;
                    }
                }
                Ok(())
            });
            let err_reader = s.spawn(|| {
                for line in BufReader::new(stderr).split(b'\n').map_while(|l| l.ok()) {
                    keep(String::from_utf8_lossy(&line).trim_end());
                }
            });
            let out_result = match output {
                Some(w) => {
                    let mut r = stdout;
                    std::io::copy(&mut r, w).map(|_| ())
                }
                None => {
                    for line in BufReader::new(stdout).split(b'\n').map_while(|l| l.ok()) {
                        keep(String::from_utf8_lossy(&line).trim_end());
                        captured.extend_from_slice(&line);
                        captured.push(b'\n');
                    }
                    Ok(())
                }
            };
            let _ = err_reader.join();
            let fed = feeder.join().unwrap_or(Ok(()));
            out_result?;
            // A child that exits without reading all its input is not an
            // error of ours; its exit status tells.
            match fed {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            }
        });
        let status = child.wait().map_err(|e| Error::io(&cmd.program, e))?;
        task.finish();
        if let Some(f) = &cmd.group_file {
            let _ = std::fs::remove_file(f);
        }
        io_result.map_err(|e| Error::io(format!("output of {}", cmd.program), e))?;
        let tail = tail
            .into_inner()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Output {
            status,
            stdout: captured,
            tail,
        })
    }
}

/// The start time (clock ticks since boot) of a process, from /proc.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether any live (not zombie) process is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let mut f = stat[close + 2..].split(' ');
            let state = f.next();
            let _ppid = f.next();
            let pgrp = f.next().and_then(|p| p.parse::<u32>().ok());
            pgrp == Some(pgid) && state != Some("Z") && state != Some("X")
        })
}

/// Stops what a killed djdd left running: reads a group file written by
/// [`RealRunner`] for a `Cmd::group_file`, and when that process group still
/// has live members (and its leader, if alive, is the same process, checked
/// by start time), kills the whole group and waits until it is gone.
/// Returns whether something was stopped. The caller must hold the lock
/// that kept the killed djdd's work to itself.
pub fn reap_group(group_file: &Path) -> Result<bool> {
    let text = match std::fs::read_to_string(group_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(group_file, e)),
    };
    let mut it = text.split_whitespace();
    let pgid: u32 = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let start: u64 = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let mut stopped = false;
    if pgid > 1 {
        // A leader with another start time is a new process that reused
        // the id: then our group is long gone (Linux does not reuse an id
        // still in use as a process group).
        let leader_same = process_start_time(pgid).is_none_or(|s| s == start);
        if leader_same && group_alive(pgid) {
            tracing::info!(
                "stopping processes left running by an interrupted djdd (process group {pgid})"
            );
            // SAFETY: kill(2) with a negative pid signals a process group;
            // no memory is shared.
            unsafe {
                libc::kill(-(pgid as i32), libc::SIGKILL);
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while group_alive(pgid) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            stopped = true;
        }
    }
    let _ = std::fs::remove_file(group_file);
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_needs_it() {
        let c = Cmd::new("git").args(["clone", "--", "a b", "$(x)", "it's", ""]);
        assert_eq!(c.display(), "git clone -- 'a b' '$(x)' 'it'\\''s' ''");
    }

    #[test]
    fn real_runner_captures_output_and_status() {
        let out = RealRunner
            .run(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.text(), "out");
        assert!(out.tail.contains("err") && out.tail.contains("out"));
        let e = out
            .check(&Cmd::new("sh").arg("-c"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exit status: 3"), "{e}");
    }

    #[test]
    fn real_runner_pipes_stdin_and_stdout() {
        let mut input: &[u8] = b"hello\n";
        let mut out = Vec::new();
        RealRunner
            .run_io(&Cmd::new("cat"), Some(&mut input), Some(&mut out))
            .unwrap()
            .check(&Cmd::new("cat"))
            .unwrap();
        assert_eq!(out, b"hello\n");
    }

    #[test]
    fn missing_program_names_package() {
        let e = RealRunner
            .run(&Cmd::new("debootstrap-not-here"))
            .unwrap_err();
        assert!(matches!(e, Error::MissingProgram { .. }), "{e}");
    }

    #[test]
    fn reap_group_kills_a_left_over_group() {
        let dir = tempfile::tempdir().unwrap();
        let gf = dir.path().join("group");
        // A process group that outlives its recorder, like children of a
        // killed djdd.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        std::fs::write(&gf, format!("{pid} {}\n", process_start_time(pid).unwrap())).unwrap();
        assert!(group_alive(pid));
        assert!(reap_group(&gf).unwrap());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(!gf.exists());
        // Nothing recorded: nothing done.
        assert!(!reap_group(&gf).unwrap());
    }
}
