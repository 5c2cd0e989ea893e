//! `mhbench merge`: join the shard folders of one run into a single run folder.
//!
//! Shards must be the same run (manifests equal but for the shard), cover every shard index
//! once, and hold each conversation in the shard it belongs to; then their response files are
//! concatenated per model. Nothing is merged on any disagreement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::files;
use crate::schema::{ConversationId, ResponseRecord, RunManifest};

use super::manifest;
use crate::run::Run;

/// What a merge wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// Records per model id.
    pub records: BTreeMap<String, usize>,
}

/// One line per model: `<model>: <n> records`.
impl std::fmt::Display for MergeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.records.iter().try_for_each(|(model, count)| writeln!(f, "{model}: {count} records"))
    }
}

/// Merge `shards` into the new run folder `out`.
///
/// # Errors
/// `out` not empty, a shard without a manifest, shards of different runs, missing or repeated
/// shard indices, a record in the wrong shard, or a pair answered twice.
pub fn merge(out: &Path, shards: &[PathBuf]) -> anyhow::Result<MergeSummary> {
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{}: already exists and is not empty; merge into a new folder", out.display());
    }
    let manifests = read_shard_manifests(shards)?;
    let first = &manifests[0];
    let mut merged = first.clone();
    merged.shard = None;
    merged.merged_from = shards.iter().map(|p| p.display().to_string()).collect();
    for m in &manifests[1..] {
        manifest::merge_models(&mut merged, m);
    }
    let mut records: BTreeMap<String, Vec<ResponseRecord>> = BTreeMap::new();
    let mut seen: BTreeSet<(String, ConversationId)> = BTreeSet::new();
    for (dir, manifest) in shards.iter().zip(&manifests) {
        let shard = manifest.shard.context("invariant: checked above")?;
        for (model, file_records) in read_responses(dir)? {
            for record in file_records {
                if !shard.contains(&record.conversation_id) {
                    bail!("{}: {} answers {}, which belongs to another shard", dir.display(), model, record.conversation_id);
                }
                if !seen.insert((model.clone(), record.conversation_id.clone())) {
                    bail!("{}: {} answers {} twice across shards", dir.display(), model, record.conversation_id);
                }
                records.entry(model.clone()).or_default().push(record);
            }
        }
    }
    let out_run = Run::at(out);
    for (model, model_records) in &records {
        files::write_jsonl(&out_run.response_file(model), model_records)?;
    }
    let first_conversations = Run::at(&shards[0]).conversations_path();
    let conversations = std::fs::read(&first_conversations).with_context(|| format!("reading {}", first_conversations.display()))?;
    files::write_atomic(&out_run.conversations_path(), &conversations)?;
    manifest::write(out, &merged)?;
    Ok(MergeSummary { records: records.into_iter().map(|(k, v)| (k, v.len())).collect() })
}

fn read_shard_manifests(shards: &[PathBuf]) -> anyhow::Result<Vec<RunManifest>> {
    if shards.is_empty() {
        bail!("name the shard folders to merge");
    }
    let mut manifests = Vec::new();
    for dir in shards {
        let m = manifest::read(dir)?.with_context(|| format!("{}: no manifest.json; is it a run folder?", dir.display()))?;
        if m.shard.is_none() {
            bail!("{}: not a shard (its manifest has no shard)", dir.display());
        }
        manifests.push(m);
    }
    let count = manifests[0].shard.map_or(0, |s| s.count);
    let mut indices = BTreeSet::new();
    for (dir, m) in shards.iter().zip(&manifests) {
        let mut comparable = m.clone();
        comparable.shard = manifests[0].shard;
        let differences = manifest::differences(&manifests[0], &comparable);
        if !differences.is_empty() {
            bail!("{} is not the same run as {}:\n  {}", dir.display(), shards[0].display(), differences.join("\n  "));
        }
        let shard = m.shard.context("invariant: checked above")?;
        if shard.count != count || !indices.insert(shard.index) {
            bail!("{}: shard {}/{} repeats or does not fit {count} shards", dir.display(), shard.index, shard.count);
        }
    }
    let missing: Vec<String> = (1..=count).filter(|k| !indices.contains(k)).map(|k| format!("{k}/{count}")).collect();
    if !missing.is_empty() {
        bail!("missing shards: {}", missing.join(", "));
    }
    Ok(manifests)
}

/// A shard's responses by model id, read through [`Run`].
fn read_responses(dir: &Path) -> anyhow::Result<BTreeMap<String, Vec<ResponseRecord>>> {
    let mut out: BTreeMap<String, Vec<ResponseRecord>> = BTreeMap::new();
    for record in Run::at(dir).response_records()? {
        out.entry(record.model_id.to_string()).or_default().push(record);
    }
    Ok(out)
}
