//! `mhbench bench`: the local engine's speed and memory, from flags to [`crate::bench`].

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{BenchArgs, BenchOutput, GlobalOpts};
use crate::runner::{self, params::ParamOverrides};

/// The tests `bench` runs: prompt and generated tokens, depths and batch sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sweep {
    pp: usize,
    tg: usize,
    depths: Vec<usize>,
    batches: Vec<usize>,
}

/// The full sweep, run when no flag narrows it.
const DEFAULT_PP: usize = 512;
const DEFAULT_TG: usize = 128;
const DEFAULT_DEPTHS: [usize; 2] = [0, 512];
const DEFAULT_BATCHES: [usize; 4] = [1, 4, 8, 16];

impl BenchArgs {
    /// Exactly the tests the flags name: the full sweep without any of --pp, --tg, --depth and
    /// --batch; else depth 0 and batch 1 unless named, and only the named one of pp and tg.
    fn sweep(&self) -> Sweep {
        if self.pp.is_none() && self.tg.is_none() && self.depth.is_none() && self.batch.is_none() {
            return Sweep { pp: DEFAULT_PP, tg: DEFAULT_TG, depths: DEFAULT_DEPTHS.to_vec(), batches: DEFAULT_BATCHES.to_vec() };
        }
        let (pp, tg) = match (self.pp, self.tg) {
            (None, None) => (DEFAULT_PP, DEFAULT_TG),
            (pp, tg) => (pp.unwrap_or(0), tg.unwrap_or(0)),
        };
        Sweep { pp, tg, depths: self.depth.clone().unwrap_or_else(|| vec![0]), batches: self.batch.clone().unwrap_or_else(|| vec![1]) }
    }

    fn into_options(self, global: &GlobalOpts) -> anyhow::Result<crate::bench::BenchOptions> {
        use crate::bench::{dataset::DatasetOptions, tokens::PromptTokens, BenchModel};
        let registry = global.load_registry()?;
        let sweep = self.sweep();
        for (flag, list) in [("--depth", &sweep.depths), ("--batch", &sweep.batches)] {
            anyhow::ensure!(!list.is_empty(), "{flag}: give at least one value");
        }
        anyhow::ensure!(!sweep.batches.contains(&0), "--batch: sizes must be at least 1");
        anyhow::ensure!(self.repetitions >= 1, "--repetitions: must be at least 1");
        anyhow::ensure!(
            self.dataset.is_some() || sweep.pp > 0 || sweep.tg > 0,
            "--pp and --tg are both 0: nothing to measure"
        );
        let models_dir = registry.models_dir(self.models_dir.as_deref());
        let model = BenchModel::resolve(&self.model, &registry, &models_dir)?;
        let dataset = match self.dataset {
            Some(dataset) => {
                let prompt = runner::Prompt::chosen(self.prompt.as_deref(), &registry).context("reading the prompt")?;
                let overrides = ParamOverrides { max_new_tokens: self.max_new_tokens, ..ParamOverrides::default() };
                let params = overrides.over(&registry.defaults.params()).map_err(anyhow::Error::msg)?;
                let open = runner::OpenOptions { device: self.device.clone(), models_dir };
                Some(DatasetOptions { dataset, prompt, params, open })
            }
            None => None,
        };
        Ok(crate::bench::BenchOptions {
            model,
            device: self.device,
            threads: self.threads,
            pp: sweep.pp,
            tg: sweep.tg,
            depths: sweep.depths,
            batches: sweep.batches,
            repetitions: self.repetitions,
            warmup: self.warmup,
            prompt_tokens: self.prompt_tokens.map_or(PromptTokens::Synthetic, PromptTokens::File),
            greedy_tokens: self.greedy_tokens,
            dataset,
            show_progress: global.show_progress(),
        })
    }
}

/// Run `mhbench bench` and write its output.
///
/// # Errors
/// Bad flags or a failure of the command.
pub fn run(global: &GlobalOpts, args: BenchArgs) -> anyhow::Result<ExitCode> {
    use crate::bench::record::{self, OutputFormat};
    let format = match args.output {
        BenchOutput::Table => OutputFormat::Table,
        BenchOutput::Json => OutputFormat::Json,
        BenchOutput::Jsonl => OutputFormat::Jsonl,
        BenchOutput::Csv => OutputFormat::Csv,
    };
    let out = args.out.clone();
    let options = args.into_options(global)?;
    let report = crate::bench::run(&options).context("benchmarking")?;
    for warning in report.records.iter().filter_map(crate::bench::record::BenchRecord::busy_warning) {
        tracing::warn!("{warning}");
    }
    let text = record::render(&report, format)?;
    match out {
        Some(path) => {
            crate::files::write_atomic(&path, text.as_bytes())?;
            writeln!(io::stdout(), "{}", path.display())?;
        }
        None => io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn sweep(flags: &[&str]) -> Sweep {
        let argv = ["mhbench", "bench"].iter().chain(flags).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Bench(args) => args.sweep(),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn no_flag_runs_the_full_sweep() {
        assert_eq!(sweep(&[]), Sweep { pp: 512, tg: 128, depths: vec![0, 512], batches: vec![1, 4, 8, 16] });
    }

    #[test]
    fn explicit_flags_run_exactly_what_they_say() {
        // Not also every default depth and batch.
        assert_eq!(sweep(&["--pp", "64", "--tg", "32"]), Sweep { pp: 64, tg: 32, depths: vec![0], batches: vec![1] });
        assert_eq!(sweep(&["--tg", "16", "--batch", "8"]), Sweep { pp: 0, tg: 16, depths: vec![0], batches: vec![8] });
        assert_eq!(sweep(&["--pp", "128"]), Sweep { pp: 128, tg: 0, depths: vec![0], batches: vec![1] });
        assert_eq!(sweep(&["--batch", "1,8"]), Sweep { pp: 512, tg: 128, depths: vec![0], batches: vec![1, 8] });
        assert_eq!(sweep(&["--depth", "4096"]), Sweep { pp: 512, tg: 128, depths: vec![4096], batches: vec![1] });
    }
}
