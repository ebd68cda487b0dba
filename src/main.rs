//! The djdd binary: parse arguments, set up the reporter (colour, `-q`,
//! progress), run one op, print any error with its cause chain, and pick
//! the exit code. The only place that prints errors.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use djdd::report::{self, Settings};

fn main() -> ExitCode {
    let mut cmd = djdd::cli::Cli::command();
    if let Some(choice) = report::color_arg(std::env::args_os()) {
        cmd = cmd.color(choice.for_clap());
    }
    let cli = djdd::cli::Cli::from_arg_matches_mut(&mut cmd.clone().get_matches())
        .unwrap_or_else(|e| e.format(&mut cmd).exit());
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
            if err.downcast_ref::<djdd::ops::Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
