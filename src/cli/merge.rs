//! `mhbench merge`: join shard folders ([`crate::runner::merge`]) and print what was merged.

use std::io::Write;
use std::process::ExitCode;

use super::args::MergeArgs;

/// Merge the shards into `--out` and print the records per model, then the folder.
///
/// # Errors
/// Shards that do not form one run, or a failed write.
pub fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let summary = crate::runner::merge::merge(&args.out, &args.shards)?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{summary}")?;
    writeln!(stdout, "{}", args.out.display())?;
    Ok(ExitCode::SUCCESS)
}
