//! The run manifest: written atomically at `results/<run>/manifest.json`, compared on resume.
//!
//! A resumed run must be the same run: same data set, prompt, sampling settings and shard, and
//! for each model the same weights, tokenizer and template. Any difference is refused by name,
//! because mixing replies from two settings in one response set would silently bias the study.

use std::path::Path;

use crate::files::{self, FileError};
use crate::schema::{ModelRunInfo, RunManifest};

/// File name of the manifest inside a run folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Read a run's manifest, if it has one.
///
/// # Errors
/// Unreadable or invalid manifest.
pub fn read(run_dir: &Path) -> Result<Option<RunManifest>, FileError> {
    let path = run_dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = files::read_text(&path)?;
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer)
        .map(Some)
        .map_err(|e| FileError::at(&path, Some(e.inner().line()), format!("{}: {}", e.path(), e.inner())))
}

/// Write a run's manifest atomically.
///
/// # Errors
/// I/O failure.
pub fn write(run_dir: &Path, manifest: &RunManifest) -> Result<(), FileError> {
    let mut json = serde_json::to_vec_pretty(manifest).expect("invariant: manifest serialises");
    json.push(b'\n');
    files::write_atomic(&run_dir.join(MANIFEST_FILE), &json)
}

/// Every way `new` differs from `old` in what defines a run, as `field: old -> new` lines.
/// Models present in only one of them are not differences: a run may gain models.
pub fn differences(old: &RunManifest, new: &RunManifest) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: {a} -> {b}"));
        }
    };
    check("dataset.sha256", old.dataset.sha256.clone(), new.dataset.sha256.clone());
    check("prompt_sha256", old.prompt_sha256.clone(), new.prompt_sha256.clone());
    check("prompt_id", old.prompt_id.clone(), new.prompt_id.clone());
    check("params", json(&old.params), json(&new.params));
    check("shard", json(&old.shard), json(&new.shard));
    for (id, new_model) in &new.models {
        if let Some(old_model) = old.models.get(id) {
            out.extend(model_differences(id.as_str(), old_model, new_model));
        }
    }
    out
}

/// Differences in one model's identity (device and the like may change between sessions; the
/// weights, tokenizer and template may not).
pub fn model_differences(id: &str, old: &ModelRunInfo, new: &ModelRunInfo) -> Vec<String> {
    let mut out = Vec::new();
    if old.revision != new.revision {
        out.push(format!("models.{id}.revision: {} -> {}", old.revision, new.revision));
    }
    for (key, new_value) in &new.provenance {
        if let Some(old_value) = old.provenance.get(key) {
            if old_value != new_value {
                out.push(format!("models.{id}.{key}: {old_value} -> {new_value}"));
            }
        }
    }
    out
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("invariant: plain data serialises")
}

/// The mhbench git commit this binary runs from, with `-dirty` for a changed tree; `unknown`
/// when not run from a git checkout.
pub fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{commit}-dirty") } else { commit }
        }
        None => "unknown".to_owned(),
    }
}
