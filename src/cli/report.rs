//! `mhbench report`: render a run's `analysis.json` ([`crate::report`]) and print the paths.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::args::ReportArgs;

/// Render the report and print the HTML and Markdown paths.
///
/// # Errors
/// No or an unreadable analysis, or a failed write.
pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let files = crate::report::run(&crate::report::ReportOptions { run_dir: args.run.clone() }).context("rendering the report")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", files.html.display())?;
    writeln!(stdout, "{}", files.markdown.display())?;
    Ok(ExitCode::SUCCESS)
}
