//! `mhbench generate`: from flags to [`crate::runner`]'s options, and the run's summary out.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{GenerateArgs, GlobalOpts};
use crate::runner::{self, params::ParamOverrides};

fn generate_options(global: &GlobalOpts, args: GenerateArgs) -> anyhow::Result<runner::GenerateOptions> {
    let registry = global.load_registry()?;
    let models = registry.select(&args.models)?.into_iter().cloned().collect::<Vec<_>>();
    let overrides = ParamOverrides {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        repetition_penalty: args.repetition_penalty,
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
    };
    let params = overrides.over(&registry.defaults.params()).map_err(anyhow::Error::msg)?;
    if args.batch_size == Some(0) {
        anyhow::bail!("--batch-size: must be at least 1");
    }
    let prompt = runner::Prompt::chosen(args.prompt.as_deref(), &registry).context("reading the prompt")?;
    let run_id = match args.run_id {
        Some(id) => id,
        None => args
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("--out: name a run folder, e.g. results/my-run")?,
    };
    Ok(runner::GenerateOptions {
        dataset: global.path_or_default(args.dataset, "datasets/sample.jsonl"),
        models,
        out: args.out,
        run_id: crate::schema::RunId(run_id),
        params,
        prompt,
        batch_size: args.batch_size,
        static_batches: args.static_batches,
        open: runner::OpenOptions { device: args.device, models_dir: registry.models_dir(args.models_dir.as_deref()) },
        shard: args.shard,
        new_run: args.new_run,
        failed: if args.keep_failed { runner::store::FailedReplies::Keep } else { runner::store::FailedReplies::Retry },
        show_progress: global.show_progress(),
    })
}

/// Generate (or plan with `--dry-run`) and print one line per model, then the responses folder.
///
/// # Errors
/// Bad flags or a failure of the command.
pub fn run(global: &GlobalOpts, args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let dry_run = args.dry_run;
    crate::engine::process::configure(args.threads)?;
    let options = generate_options(global, args)?;
    let mut stdout = io::stdout().lock();
    if dry_run {
        let plans = runner::dry_run(&options)?;
        stdout.write_all(runner::plan::render(&plans).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let summary = runner::generate(&options)?;
    for model in &summary.models {
        writeln!(stdout, "{model}")?;
    }
    writeln!(stdout, "{}", crate::run::Run::at(&summary.out).responses_dir().display())?;
    Ok(if summary.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
