//! The djdd binary: parse arguments, set up the reporter (colour, `-q`,
//! progress), run one op, print any error with its cause chain, and pick
//! the exit code. The only place that prints errors.

use std::process::ExitCode;

use clap::Parser;
use djdd::report::{self, Settings};

fn main() -> ExitCode {
    let cli = djdd::cli::Cli::parse();
    let settings = Settings::detect(cli.color, cli.quiet, cli.verbose);
    report::init(settings);
    match djdd::ops::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let (on, off) = if settings.color {
                ("\x1b[1;31m", "\x1b[0m")
            } else {
                ("", "")
            };
            eprintln!("djdd: {on}error{off}: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
