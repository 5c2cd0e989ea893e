//! `mhbench rate`: glue from the `rate` clap structs to [`crate::rating`].

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::args::{GlobalOpts, RateCommand, RateExportArgs, RateExportFormat, RatePlanArgs, RateReissueArgs, RateServeArgs};
use crate::rating::{self, export, import, plan, server, store::RatingStore};
use crate::rubric::Rubric;
use crate::schema::RaterId;

/// Run one `rate` step.
///
/// # Errors
/// Bad flags, an unplanned or unreadable store, or a failure of the step.
pub(super) fn run(global: &GlobalOpts, command: RateCommand) -> anyhow::Result<ExitCode> {
    match command {
        RateCommand::Plan(args) => plan_run(global, args),
        RateCommand::Serve(args) => serve(args),
        RateCommand::Status(args) => status(&args.run),
        RateCommand::Export(args) => export_ratings(args),
        RateCommand::Reissue(args) => reissue(args),
        RateCommand::Import(args) => {
            let mut store = open_store(&args.run.run)?;
            let new_raters: Vec<RaterId> = args.new_raters.iter().map(|r| RaterId::from(r.trim())).collect();
            let count = import::import(&mut store, &args.file, &new_raters)
                .with_context(|| format!("importing {}", args.file.display()))?;
            println!("imported {count} ratings into {}", store.path().display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The planned rating store of run folder `run`; a folder that does not exist is named as such
/// (not as a missing plan).
fn open_store(run: &std::path::Path) -> anyhow::Result<RatingStore> {
    anyhow::ensure!(
        run.is_dir(),
        "--run {}: no such folder; pass the run folder `mhbench generate` wrote (results/<run_id>)",
        run.display()
    );
    Ok(RatingStore::open(&rating::store_path(run))?)
}

fn plan_run(global: &GlobalOpts, args: RatePlanArgs) -> anyhow::Result<ExitCode> {
    let rubric = Rubric::load(&global.path_or_default(args.rubric, crate::rubric::DEFAULT_RUBRIC)).context("reading the rubric")?;
    let note = |path: &Option<std::path::PathBuf>| path.as_deref().map(crate::files::read_text).transpose();
    let options = plan::PlanOptions {
        content_note: note(&args.content_note)?,
        safety_note: note(&args.safety_note)?,
        run_dir: args.run.run,
        raters: args.raters.iter().map(|r| RaterId::from(r.trim())).collect(),
        per_response: args.per_response,
        seed: args.seed,
        repeat_share: args.repeat_share,
        rubric,
        replace: args.replace,
        base_url: args.base_url,
    };
    let summary = plan::plan(&options).context("planning the rating")?;
    eprintln!(
        "planned {} replies ({} failed generations left out) in {}",
        summary.responses,
        summary.skipped_failed,
        summary.store.display()
    );
    eprintln!("each link below is a secret: send it to that rater only; it is not shown again");
    let mut out = io::stdout().lock();
    for link in &summary.links {
        writeln!(out, "{}\t{}\t{} items", link.rater_id, link.url, link.items)?;
    }
    eprintln!("study lead's progress and agreement view (also secret): {}", summary.lead_url);
    Ok(ExitCode::SUCCESS)
}

fn reissue(args: RateReissueArgs) -> anyhow::Result<ExitCode> {
    let mut store = open_store(&args.run.run)?;
    let rater = args.rater.map(|r| RaterId::from(r.trim()));
    let url = plan::reissue(&mut store, rater.as_ref(), &args.base_url)?;
    eprintln!("the old link no longer works; send this one privately");
    println!("{url}");
    Ok(ExitCode::SUCCESS)
}

fn serve(args: RateServeArgs) -> anyhow::Result<ExitCode> {
    if !args.bind.ip().is_loopback() {
        tracing::warn!("--bind {}: the rating page is reachable from your network", args.bind);
    }
    let options = server::ServeOptions {
        run_dir: args.run.run,
        bind: args.bind,
        break_every: args.break_every,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = server::RatingServer::bind(&options).await?;
        let addr = server.local_addr()?;
        let mut out = io::stdout().lock();
        writeln!(out, "listening on http://{addr}/")?;
        out.flush()?;
        drop(out);
        server
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn status(run: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = open_store(run)?;
    io::stdout().write_all(crate::rating::store::progress_table(&store.progress()?).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn export_ratings(args: RateExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.run.run)?;
    let ratings = export::ratings(&store, args.repeats)?;
    let format = match args.format {
        RateExportFormat::Jsonl => export::ExportFormat::Jsonl,
        RateExportFormat::Csv => export::ExportFormat::Csv,
    };
    let bytes = export::render(&ratings, &store.rubric()?, format)?;
    match args.out {
        Some(path) => {
            export::check_out_path(&path, args.repeats)?;
            crate::files::write_atomic(&path, &bytes)?;
            println!("{}", path.display());
        }
        None => io::stdout().write_all(&bytes)?,
    }
    eprintln!("exported {} ratings", ratings.len());
    Ok(ExitCode::SUCCESS)
}
