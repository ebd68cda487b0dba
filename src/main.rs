//! The djdd binary: parse arguments, run one op, print any error with its
//! cause chain, and pick the exit code. The only place that prints errors.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = djdd::cli::Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DJDD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    match djdd::ops::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("djdd: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
