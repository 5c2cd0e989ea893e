//! The command line: argument definitions in [`args`], one small file per command turning its
//! arguments into the owning module's options and the module's result into output, and the
//! dispatch from a parsed command line to them.
//!
//! stdout carries only the product (tables, JSON, paths of written files); logs and progress go
//! to stderr.

pub mod analyze;
pub mod args;
mod bench;
mod curate;
mod generate;
mod judge;
mod merge;
mod models;
mod rate;
mod report;

use std::io;
use std::process::ExitCode;

pub use args::{Cli, Command, GlobalOpts};

/// Run a parsed command line.
///
/// # Errors
/// Any failure of the command, with context; `main` prints it and exits 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Models(args) => models::run(global, &args),
        Command::Generate(args) => generate::run(global, args),
        Command::Merge(args) => merge::run(&args),
        Command::Judge(args) => judge::run(global, args),
        Command::Curate(args) => curate::run(&args, global),
        Command::Rate(args) => rate::run(global, args.command),
        Command::Analyze(args) => analyze::run(global, args),
        Command::Report(args) => report::run(&args),
        Command::Bench(args) => bench::run(global, *args),
    }
}

/// The line `main` prints for `error`: its context chain joined by ": ", each cause once. Many
/// errors repeat their source in their own message (`path: No such file or directory`); a
/// cause whose text the line already ends with is not printed again.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
    }
    line
}

/// Whether an error is a closed stdout (`mhbench models | head`), which exits quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_printed_once() {
        let missing = std::path::Path::new("/no/such/dir/analysis.json");
        let source = std::fs::read(missing).unwrap_err();
        let os = source.to_string();
        let error = anyhow::Error::new(crate::files::FileError::Io { path: missing.to_owned(), source }).context("reading the analysis");
        assert_eq!(error_text(&error), format!("reading the analysis: /no/such/dir/analysis.json: {os}"));
        assert_eq!(format!("{error:#}").matches(&os).count(), 2, "anyhow's own chain repeats it");
        let plain = anyhow::anyhow!("first").context("then");
        assert_eq!(error_text(&plain), "then: first");
    }
}
