//! The run manifest: written atomically at `results/<run>/manifest.json`, compared on resume.
//!
//! A resumed run must be the same run: same data set, prompt, sampling settings and shard, and
//! for each model the same weights, tokenizer and template. Any difference is refused by name,
//! because mixing replies from two settings in one response set would silently bias the study.

use std::path::Path;

use crate::bench::memory::max_reading;
use crate::files::{self, FileError};
use crate::run::Run;
use crate::schema::{ModelId, ModelRunInfo, RunManifest};

/// Read a run's manifest, if it has one.
///
/// # Errors
/// Unreadable or invalid manifest.
pub fn read(run_dir: &Path) -> Result<Option<RunManifest>, FileError> {
    let path = Run::at(run_dir).manifest_path();
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
    files::write_atomic(&Run::at(run_dir).manifest_path(), &json)
}

/// Records `peak` as `model`'s peak resident memory (keeping an earlier, larger one) and writes
/// the manifest.
///
/// # Errors
/// I/O failure.
pub fn record_peak_rss(run_dir: &Path, manifest: &mut RunManifest, model: &ModelId, peak: Option<u64>) -> Result<(), FileError> {
    if let Some(info) = manifest.models.get_mut(model) {
        info.peak_rss_bytes = max_reading(info.peak_rss_bytes, peak);
    }
    write(run_dir, manifest)
}

/// Adds `other`'s models to `merged`'s (a shard's to the merged run's): each model's info is
/// `other`'s, with the larger peak memory of the two.
pub fn merge_models(merged: &mut RunManifest, other: &RunManifest) {
    for (id, info) in &other.models {
        let earlier = merged.models.get(id).and_then(|m| m.peak_rss_bytes);
        let peak_rss_bytes = max_reading(earlier, info.peak_rss_bytes);
        merged.models.insert(id.clone(), ModelRunInfo { peak_rss_bytes, ..info.clone() });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(peaks: &[(&str, Option<u64>)]) -> RunManifest {
        let models: serde_json::Map<String, serde_json::Value> = peaks
            .iter()
            .map(|(id, peak)| {
                let mut info = serde_json::json!({"kind": "local", "provider": "candle", "device": "cpu", "revision": "r", "provenance": {}});
                if let Some(peak) = peak {
                    info["peak_rss_bytes"] = (*peak).into();
                }
                ((*id).to_owned(), info)
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "run_id": "r", "mhbench_version": "0", "git_commit": "unknown", "created_at": "2026-11-25T12:00:00Z",
            "dataset": {"path": "d.jsonl", "sha256": "0", "conversations": 1}, "prompt_id": "p", "prompt_sha256": "0",
            "params": {"temperature": 0.0, "max_new_tokens": 8, "seed": 1}, "models": models,
        }))
        .unwrap()
    }

    fn peak(m: &RunManifest, id: &str) -> Option<u64> {
        m.models[&ModelId::from(id)].peak_rss_bytes
    }

    #[test]
    fn a_recorded_peak_keeps_the_larger_of_the_invocations_and_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest(&[("a", Some(500)), ("b", None)]);
        record_peak_rss(dir.path(), &mut m, &ModelId::from("a"), Some(300)).unwrap();
        record_peak_rss(dir.path(), &mut m, &ModelId::from("b"), Some(700)).unwrap();
        assert_eq!((peak(&m, "a"), peak(&m, "b")), (Some(500), Some(700)));
        record_peak_rss(dir.path(), &mut m, &ModelId::from("a"), Some(900)).unwrap();
        let written = read(dir.path()).unwrap().unwrap();
        assert_eq!((peak(&written, "a"), peak(&written, "b")), (Some(900), Some(700)));
    }

    #[test]
    fn merging_shards_keeps_each_models_largest_peak() {
        let mut merged = manifest(&[("a", Some(500)), ("b", Some(100))]);
        merge_models(&mut merged, &manifest(&[("a", Some(400)), ("b", None), ("c", Some(50))]));
        assert_eq!((peak(&merged, "a"), peak(&merged, "b"), peak(&merged, "c")), (Some(500), Some(100), Some(50)));
    }

    #[test]
    fn manifests_without_peak_memory_still_read() {
        let m = manifest(&[("a", None)]);
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("peak_rss_bytes"), "{text}");
        assert_eq!(serde_json::from_str::<RunManifest>(&text).unwrap(), m);
    }
}
