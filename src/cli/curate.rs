//! `mhbench curate`: from flags to [`crate::dataset`]'s curate or rebuild, paths out.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{CurateArgs, GlobalOpts};
use crate::dataset;

impl CurateArgs {
    fn to_options(&self) -> dataset::CurateOptions {
        let paths = dataset::sources::SourcePaths {
            counselchat: self.counselchat.clone(),
            mentalbench: self.mentalbench.clone(),
            emocare_bench: self.emocare_bench.clone(),
            mentalchat16k: self.mentalchat16k.clone(),
            psych8k: self.psych8k.clone(),
        };
        let sources: Vec<crate::schema::Source> = self.sources.iter().map(|&s| s.into()).collect();
        dataset::CurateOptions {
            data_dir: self.data_dir.clone(),
            sources: dataset::sources::source_files(&sources, &paths, self.hub),
            name: self.name.clone().unwrap_or_else(|| format!("study{}", self.conversations)),
            out_dir: self.out_dir.clone(),
            selection: dataset::manifest::Selection {
                conversations: self.conversations,
                seed: self.seed,
                min_words: self.min_words,
                max_words: self.max_words,
            },
        }
    }
}

/// Curate a new set or rebuild one from its manifest; print the paths written.
///
/// # Errors
/// Bad flags or a failure of the command.
pub fn run(args: &CurateArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let written = match &args.manifest {
        Some(manifest) => {
            let options = dataset::RebuildOptions {
                manifest: manifest.clone(),
                data_dir: args.data_dir.clone(),
                out_dir: args.out_dir.clone(),
            };
            let report = dataset::rebuild(&options)
                .with_context(|| format!("rebuilding the set of {}", manifest.display()))?;
            if !global.quiet {
                eprintln!(
                    "verified {} conversations against {}",
                    report.conversations,
                    manifest.display()
                );
            }
            vec![report.written]
        }
        None => {
            let report = dataset::curate(&args.to_options()).context("curating conversations")?;
            if !global.quiet {
                eprint!("{}", dataset::render_report(&report));
            }
            report.written
        }
    };
    let mut stdout = io::stdout().lock();
    for path in written {
        writeln!(stdout, "{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
