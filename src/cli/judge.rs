//! `mhbench judge`: from flags to [`crate::judge`]'s options, and its summary out.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{GlobalOpts, JudgeArgs};
use crate::registry::SelfJudging;
use crate::runner;

/// Judge a run and print its summary, then the rating store.
///
/// # Errors
/// Bad flags or a failure of the command.
pub fn run(global: &GlobalOpts, args: JudgeArgs) -> anyhow::Result<ExitCode> {
    let registry = global.load_registry()?;
    let judge = registry.get(&args.judge)?.clone();
    let models_dir = registry.models_dir(args.models_dir.as_deref());
    let rubric_path = global.path_or_default(args.rubric, crate::rubric::DEFAULT_RUBRIC);
    let rubric = crate::rubric::Rubric::load(&rubric_path).context("reading the rubric")?;
    let prompt_path = global.path_or_default(args.prompt_file, crate::judge::prompt::DEFAULT_JUDGE_PROMPT);
    let prompt = crate::judge::JudgePrompt::load(&prompt_path, &rubric).context("reading the judge prompt")?;
    let params = crate::schema::GenerationParams {
        temperature: args.temperature,
        top_p: None,
        top_k: None,
        repetition_penalty: None,
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
    };
    runner::params::check(&params).map_err(anyhow::Error::msg)?;
    let options = crate::judge::JudgeOptions {
        run_dir: args.run,
        judge,
        registry,
        rubric,
        prompt,
        params,
        self_judging: (!args.include_own).then_some(SelfJudging::from_exclude_own_vendor(args.exclude_own_vendor)),
        batch_size: args.batch_size,
        open: runner::OpenOptions { device: args.device, models_dir },
        show_progress: global.show_progress(),
    };
    let summary = crate::judge::judge(&options)?;
    let mut stdout = io::stdout().lock();
    write!(stdout, "{summary}")?;
    writeln!(stdout, "{}", summary.path.display())?;
    Ok(if summary.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
