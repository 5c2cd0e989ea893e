//! `mhbench bench`: the local engine's speed and memory, from flags to [`crate::bench`].

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{BenchArgs, BenchOutput, GlobalOpts};
use crate::runner::{self, params::ParamOverrides};

impl BenchArgs {
    fn into_options(self, global: &GlobalOpts) -> anyhow::Result<crate::bench::BenchOptions> {
        use crate::bench::{dataset::DatasetOptions, tokens::PromptTokens, BenchModel};
        let registry = global.load_registry()?;
        for (flag, list) in [("--depth", &self.depth), ("--batch", &self.batch)] {
            anyhow::ensure!(!list.is_empty(), "{flag}: give at least one value");
        }
        anyhow::ensure!(!self.batch.contains(&0), "--batch: sizes must be at least 1");
        anyhow::ensure!(self.repetitions >= 1, "--repetitions: must be at least 1");
        anyhow::ensure!(self.threads != Some(0), "--threads: must be at least 1");
        anyhow::ensure!(
            self.dataset.is_some() || self.pp > 0 || self.tg > 0,
            "--pp and --tg are both 0: nothing to measure"
        );
        let model = BenchModel::resolve(&self.model, &registry, &self.models_dir)?;
        let dataset = match self.dataset {
            Some(dataset) => {
                let prompt_id = self.prompt.unwrap_or_else(|| registry.defaults.prompt.clone());
                let prompt = runner::Prompt::load(std::path::Path::new(runner::prompt::PROMPTS_DIR), &prompt_id)
                    .context("reading the prompt")?;
                let overrides = ParamOverrides { max_new_tokens: self.max_new_tokens, ..ParamOverrides::default() };
                let params = overrides.over(&registry.defaults.params()).map_err(anyhow::Error::msg)?;
                let open = runner::OpenOptions { device: self.device.clone(), models_dir: self.models_dir };
                Some(DatasetOptions { dataset, prompt, params, open })
            }
            None => None,
        };
        Ok(crate::bench::BenchOptions {
            model,
            device: self.device,
            threads: self.threads,
            pp: self.pp,
            tg: self.tg,
            depths: self.depth,
            batches: self.batch,
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
