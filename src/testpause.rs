//! Named pause points for the crash and concurrency tests.
//!
//! When the environment variable `DJDD_TEST_PAUSE_AT` is `POINT` or
//! `POINT:SECONDS` and the running command reaches the point of that name,
//! it prints `djdd: test pause at POINT` to stderr and sleeps there (60 s by
//! default) with whatever locks and temp files it holds at that moment, so
//! that a test can kill it at a known point or start a second command while
//! the first is inside. Without the variable a point costs one environment
//! lookup. Points of `djdd build` are listed in docs/build.md, of `djdd
//! publish` in docs/publish.md. This is the only code that reads the
//! variable; it never changes what a command does, only when.

/// The environment variable naming the point to pause at.
pub const VAR: &str = "DJDD_TEST_PAUSE_AT";

/// Seconds paused when the variable gives none.
const DEFAULT_SECS: u64 = 60;

/// A named point of a procedure: pauses there when `DJDD_TEST_PAUSE_AT`
/// names it (see the module documentation); otherwise does nothing.
pub fn point(name: &str) {
    let Ok(want) = std::env::var(VAR) else {
        return;
    };
    if let Some(secs) = pause_for(&want, name) {
        eprintln!("djdd: test pause at {name}");
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}

/// How long to pause at `name` when the variable is `want` (None: not this
/// point).
fn pause_for(want: &str, name: &str) -> Option<u64> {
    let (point, secs) = match want.split_once(':') {
        Some((p, s)) => (p, s.parse().unwrap_or(DEFAULT_SECS)),
        None => (want, DEFAULT_SECS),
    };
    (point == name).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_point_and_seconds() {
        assert_eq!(pause_for("after-pool", "after-pool"), Some(60));
        assert_eq!(pause_for("after-pool:2", "after-pool"), Some(2));
        assert_eq!(pause_for("after-pool:x", "after-pool"), Some(60));
        assert_eq!(pause_for("after-pool", "pack-env"), None);
        assert_eq!(pause_for("", "pack-env"), None);
    }
}
