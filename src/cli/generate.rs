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
    if !global.quiet {
        let registry = (global.registry != std::path::Path::new(crate::registry::DEFAULT_REGISTRY)).then_some(global.registry.as_path());
        io::stderr().write_all(closing_lines(&summary.out, registry, summary.is_clean()).as_bytes())?;
    }
    Ok(if summary.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What `generate` says last on stderr: the run folder, and the commands that take it on (the
/// steps of the study, in order), ready to paste; with the `registry` this run named, if not the
/// default, for the steps that read it.
fn closing_lines(out: &std::path::Path, registry: Option<&std::path::Path>, clean: bool) -> String {
    let run = shell_word(&out.display().to_string());
    let mhbench = match registry {
        Some(path) => format!("mhbench --registry {}", shell_word(&path.display().to_string())),
        None => "mhbench".to_owned(),
    };
    let mut text = format!("run folder: {run}\n");
    if !clean {
        text.push_str("some replies failed or a model stopped: run the same command again to ask for the missing ones\n");
    }
    text.push_str(&format!(
        "next:\n  \
         human raters:  {mhbench} rate plan --run {run} --raters alice,bob\n  \
         an LLM judge:  {mhbench} judge --run {run} --judge MODEL\n  \
         statistics:    {mhbench} analyze --run {run}\n  \
         the report:    mhbench report --run {run}\n"
    ));
    text
}

/// `word` as one shell word: unchanged when it holds only safe characters, else single-quoted.
fn shell_word(word: &str) -> String {
    let safe = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c));
    if safe { word.to_owned() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_lines_name_the_folder_and_quote_it_for_the_shell() {
        let text = closing_lines(std::path::Path::new("results/my run"), None, true);
        assert!(text.starts_with("run folder: 'results/my run'\nnext:\n  human raters:  mhbench rate plan --run 'results/my run' --raters"), "{text}");
        assert!(text.contains("mhbench report --run 'results/my run'"), "{text}");
        assert!(!text.contains("failed"), "{text}");
        assert!(closing_lines(std::path::Path::new("r"), None, false).contains("run the same command again"));
        let elsewhere = closing_lines(std::path::Path::new("r"), Some(std::path::Path::new("../mh/models.toml")), true);
        assert!(elsewhere.contains("  statistics:    mhbench --registry ../mh/models.toml analyze --run r\n"), "{elsewhere}");
        assert!(elsewhere.contains("  the report:    mhbench report --run r\n"), "the report reads only the run: {elsewhere}");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("results/a-1"), "results/a-1");
    }
}
