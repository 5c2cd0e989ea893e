//! The mhbench binary: parse, initialise logging, dispatch, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mhbench::cli::Cli::parse();
    cli.global.init_tracing();
    match mhbench::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            if mhbench::cli::is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mhbench: error: {}", mhbench::cli::error_text(&error));
            ExitCode::from(2)
        }
    }
}
