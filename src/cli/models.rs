//! `mhbench models`: the registry as a table (or JSON), with whether each model is ready to run
//! here: weights present, or API key set.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::args::{GlobalOpts, ModelsArgs};
use crate::registry::{ModelSpec, Registry, Weights};
use crate::schema::ModelKind;

/// Print the registry's models and their status.
///
/// # Errors
/// An unreadable registry, or a closed stdout.
pub fn run(global: &GlobalOpts, args: &ModelsArgs) -> anyhow::Result<ExitCode> {
    let registry = global.load_registry()?;
    let rows = status_rows(&registry, &registry.models_dir(args.models_dir.as_deref()));
    let out = if args.json { serde_json::to_string_pretty(&rows)? + "\n" } else { render_table(&rows) };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One row of `mhbench models`: what a model is and whether it is ready to run here.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    /// Model id.
    pub id: String,
    /// `local` or `api`.
    pub kind: ModelKind,
    /// Family.
    pub family: String,
    /// Parameter count (`8B`), or the provider for API models.
    pub size: String,
    /// Where the weights are or would be fetched from, or the provider's model string.
    pub source: String,
    /// Whether the weights are present, or the key variable is set.
    pub ready: bool,
    /// `weights at <path>`, `not fetched: <command>`, `key in OPENAI_API_KEY`, `set OPENAI_API_KEY`.
    pub status: String,
}

/// Status of every model, in registry order.
pub fn status_rows(registry: &Registry, models_dir: &Path) -> Vec<StatusRow> {
    registry.models.iter().map(|m| status_row(m, models_dir)).collect()
}

fn status_row(model: &ModelSpec, models_dir: &Path) -> StatusRow {
    match model {
        ModelSpec::Local(local) => {
            let (repo, revision) = local.weights.repo();
            let source = match &local.weights {
                Weights::Gguf { file, quantization, .. } => format!("{repo}@{revision} {file} ({quantization})"),
                Weights::Safetensors { dtype, .. } => {
                    format!("{repo}@{revision} safetensors ({})", format!("{dtype:?}").to_lowercase())
                }
            };
            let found = local.locate_weights(models_dir);
            let status = match &found {
                Some(path) => format!("weights at {}", path.display()),
                None => format!("not fetched: {}", local.fetch_command()),
            };
            StatusRow {
                id: local.id.to_string(),
                kind: ModelKind::Local,
                family: local.family.clone(),
                size: format_params(local.params_b),
                source,
                ready: found.is_some(),
                status,
            }
        }
        ModelSpec::Api(api) => {
            let ready = api.has_key();
            let status = if ready {
                format!("key in {}", api.api_key_env)
            } else {
                format!("set {}", api.api_key_env)
            };
            StatusRow {
                id: api.id.to_string(),
                kind: ModelKind::Api,
                family: api.family.clone(),
                size: "-".to_owned(),
                source: format!("{} {}", api.provider, api.model),
                ready,
                status,
            }
        }
    }
}

fn format_params(billions: f64) -> String {
    if billions >= 1.0 {
        format!("{billions:.1}B").replace(".0B", "B")
    } else {
        format!("{:.0}M", billions * 1000.0)
    }
}

/// A plain-text table of `rows`, columns padded to their widest cell.
pub fn render_table(rows: &[StatusRow]) -> String {
    let header = ["ID", "KIND", "FAMILY", "SIZE", "SOURCE", "READY", "STATUS"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let kind = match r.kind {
                ModelKind::Local => "local",
                ModelKind::Api => "api",
            };
            let ready = if r.ready { "yes" } else { "no" };
            [r.id.clone(), kind.into(), r.family.clone(), r.size.clone(), r.source.clone(), ready.into(), r.status.clone()]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_row = |row: &[String]| {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    push_row(&header.map(String::from));
    for row in &cells {
        push_row(row);
    }
    out
}

