//! Curation: load counselling conversations from each source's real files, normalise them, drop
//! empty and out-of-range texts, deduplicate across sources, choose a seeded stratified set and
//! write it with a manifest that rebuilds it; or rebuild and verify a set from its manifest.
//!
//! First stage of the flow `dataset → runner → responses → rating | judge → analysis → report`:
//! it writes `datasets/<name>.jsonl` ([`Conversation`] records) and
//! `datasets/<name>.manifest.json` ([`manifest::Manifest`]). It knows nothing about models.
//! One loader per source format lives in its own file; formats are described in
//! `../shared/data/SOURCES.md`. Deduplication keeps the first occurrence in the order CounselChat,
//! MentalChat16K, Psych8K, EmoCare bench, MentalBench (original sources before the MentalBench
//! release that reuses their texts).

pub mod counselchat;
pub mod csv_table;
pub mod emocare_bench;
pub mod hub;
pub mod manifest;
pub mod mentalbench;
pub mod mentalbench_release;
pub mod mentalchat16k;
pub mod normalize;
pub mod psych8k;
pub mod sample;
pub mod sources;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::files::{sha256_bytes, sha256_file, write_atomic, write_jsonl, ErrorList, FileError};
use crate::schema::{Conversation, ConversationId, Source, SCHEMA_VERSION};
use hub::{HubError, HubFile};
use manifest::{Manifest, ManifestRow, ManifestSource, Selection, MANIFEST_VERSION};
use normalize::{dedupe_key, normalize_text, word_count, Markup};

/// Why curation failed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A source file, manifest or output file is unreadable or wrong at some place.
    #[error(transparent)]
    File(#[from] FileError),
    /// A hub file could not be fetched (or is not cached in offline mode).
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The options contradict each other; the message names the flag.
    #[error("{0}")]
    Options(String),
}

/// Where a source file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file; relative paths are relative to the data folder.
    Local(PathBuf),
    /// A file of a Hugging Face dataset repository, fetched through hf-hub.
    Hub(HubFile),
}

/// One input file and the loader that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The loader.
    pub source: Source,
    /// The file.
    pub location: Location,
}

impl SourceFile {
    /// How a manifest names the file: its `/`-separated path, or its `hf://` address.
    pub fn label(&self) -> String {
        match &self.location {
            Location::Local(path) => path.to_string_lossy().replace('\\', "/"),
            Location::Hub(file) => file.to_uri(),
        }
    }

    fn from_label(source: Source, label: &str) -> Self {
        let location = HubFile::from_uri(label)
            .map_or_else(|| Location::Local(PathBuf::from(label)), Location::Hub);
        Self { source, location }
    }

    /// The local path to read: joined to `data_dir`, or fetched from the hub.
    ///
    /// # Errors
    /// A hub file that cannot be fetched; a local file that does not exist.
    fn resolve(&self, data_dir: &Path) -> Result<PathBuf, DatasetError> {
        match &self.location {
            Location::Hub(file) => Ok(hub::fetch(file, local_flag(self.source))?),
            Location::Local(path) => {
                let full = data_dir.join(path);
                if full.is_file() {
                    Ok(full)
                } else {
                    Err(FileError::at(
                        &full,
                        None,
                        format!(
                            "{} file not found; pass its path with {} (relative to --data-dir {})",
                            self.source,
                            local_flag(self.source),
                            data_dir.display()
                        ),
                    )
                    .into())
                }
            }
        }
    }
}

/// The `mhbench curate` flag that names a local file of `source`.
pub fn local_flag(source: Source) -> &'static str {
    match source {
        Source::Counselchat => "--counselchat",
        Source::Mentalchat16k => "--mentalchat16k",
        Source::Psych8k => "--psych8k",
        Source::Mentalbench => "--mentalbench",
        Source::EmocareBench => "--emocare-bench",
        Source::Sample => "--data-dir",
    }
}

/// Read one source file with its format's loader.
///
/// # Errors
/// Whatever the loader reports, with path and line.
pub fn load(source: Source, path: &Path) -> Result<Vec<Conversation>, DatasetError> {
    let conversations = match source {
        Source::Counselchat => counselchat::load(path)?,
        Source::Mentalchat16k => mentalchat16k::load(path)?,
        Source::Psych8k => psych8k::load(path)?,
        Source::Mentalbench => mentalbench::load(path)?,
        Source::EmocareBench => emocare_bench::load(path)?,
        Source::Sample => crate::files::read_jsonl(path)?,
    };
    Ok(conversations)
}

/// A conversation with a reference answer from an instruction/input/output source (MentalChat16K,
/// Psych8K), so both loaders build it the same way.
fn instruction_pair(
    source: Source,
    source_id: &str,
    input: &str,
    output: &str,
    subset: &str,
) -> Conversation {
    Conversation {
        schema_version: SCHEMA_VERSION,
        id: ConversationId::new(source, source_id),
        source,
        source_id: source_id.to_owned(),
        topic: None,
        context: normalize_text(input, Markup::Plain),
        reference_response: Some(normalize_text(output, Markup::Plain)).filter(|o| !o.is_empty()),
        metadata: BTreeMap::from([("subset".to_owned(), json!(subset))]),
    }
}

/// Order in which sources win deduplication: originals before the MentalBench release.
fn dedupe_priority(source: Source) -> u8 {
    match source {
        Source::Counselchat => 0,
        Source::Mentalchat16k => 1,
        Source::Psych8k => 2,
        Source::EmocareBench => 3,
        Source::Mentalbench => 4,
        Source::Sample => 5,
    }
}

/// What `mhbench curate` builds.
#[derive(Debug, Clone)]
pub struct CurateOptions {
    /// Folder that relative source paths start from.
    pub data_dir: PathBuf,
    /// The input files (any order; deduplication follows source priority).
    pub sources: Vec<SourceFile>,
    /// Name of the set: `<out_dir>/<name>.jsonl` and `<name>.manifest.json`.
    pub name: String,
    /// Folder the set is written to.
    pub out_dir: PathBuf,
    /// Size, seed and length bounds.
    pub selection: Selection,
}

impl CurateOptions {
    /// Check the options against each other.
    ///
    /// # Errors
    /// Bounds reversed, zero conversations, no sources, or a name that is not a plain file name.
    pub fn validate(&self) -> Result<(), DatasetError> {
        let s = &self.selection;
        if s.min_words > s.max_words {
            return Err(DatasetError::Options(format!(
                "--min-words {} is above --max-words {}; lower --min-words or raise --max-words",
                s.min_words, s.max_words
            )));
        }
        if s.conversations == 0 {
            return Err(DatasetError::Options(
                "--conversations must be at least 1".into(),
            ));
        }
        if self.sources.is_empty() {
            return Err(DatasetError::Options(
                "no sources; name at least one with --source".into(),
            ));
        }
        check_name(&self.name)
    }
}

fn check_name(name: &str) -> Result<(), DatasetError> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if plain {
        Ok(())
    } else {
        Err(DatasetError::Options(format!(
            "--name `{name}`: use letters, digits, `-`, `_` and `.` only (it names files in --out-dir)"
        )))
    }
}

/// What happened to one source file's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceStats {
    /// Source name.
    pub source: String,
    /// Path or `hf://` address.
    pub path: String,
    /// Conversations the loader produced (after folding rows, for CounselChat).
    pub loaded: usize,
    /// Dropped: empty after normalisation.
    pub empty: usize,
    /// Dropped: fewer words than `min_words`.
    pub too_short: usize,
    /// Dropped: more words than `max_words`.
    pub too_long: usize,
    /// Dropped: same text (see [`normalize::dedupe_key`]) as a conversation kept earlier.
    pub duplicates: usize,
    /// In the pool the set is drawn from.
    pub kept: usize,
    /// In the chosen set.
    pub chosen: usize,
}

/// The outcome of `curate`.
#[derive(Debug, Clone)]
pub struct CurateReport {
    /// Per source file, in dedupe order.
    pub sources: Vec<SourceStats>,
    /// Chosen conversations per (source, topic); topic `-` where the source has none.
    pub composition: BTreeMap<(String, String), usize>,
    /// The files written: the set, then its manifest.
    pub written: Vec<PathBuf>,
    /// How many conversations were asked for (more than the pool holds means all were taken).
    pub requested: usize,
}

/// A source file read and hashed.
struct LoadedFile {
    file: SourceFile,
    sha256: String,
    conversations: Vec<Conversation>,
}

/// Build a set: load, normalise, filter, deduplicate, choose, write set and manifest.
///
/// # Errors
/// Invalid options, an unreadable or malformed source, a failed hub fetch, or a failed write.
pub fn curate(options: &CurateOptions) -> Result<CurateReport, DatasetError> {
    options.validate()?;
    let mut files = options.sources.clone();
    files.sort_by_key(|f| dedupe_priority(f.source));
    let loaded = files
        .into_iter()
        .map(|file| load_file(file, &options.data_dir))
        .collect::<Result<Vec<_>, _>>()?;
    let (pool, mut stats) = build_pool(&loaded, &options.selection);
    let chosen = sample::choose(
        &pool,
        options.selection.conversations,
        options.selection.seed,
    );
    let file_of: HashMap<&ConversationId, usize> = loaded
        .iter()
        .enumerate()
        .flat_map(|(index, file)| file.conversations.iter().map(move |c| (&c.id, index)))
        .collect();
    for conversation in &chosen {
        if let Some(s) = file_of
            .get(&conversation.id)
            .and_then(|&index| stats.get_mut(index))
        {
            s.chosen += 1;
        }
    }
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        name: options.name.clone(),
        created_by: format!("mhbench {}", env!("CARGO_PKG_VERSION")),
        selection: options.selection,
        sources: loaded
            .iter()
            .map(|l| ManifestSource {
                source: l.file.source,
                path: l.file.label(),
                sha256: l.sha256.clone(),
            })
            .collect(),
        rows: chosen.iter().map(manifest_row).collect(),
    };
    let written = write_set(&options.out_dir, &options.name, &chosen, Some(&manifest))?;
    Ok(CurateReport {
        sources: stats,
        composition: composition(&chosen),
        written,
        requested: options.selection.conversations,
    })
}

fn load_file(file: SourceFile, data_dir: &Path) -> Result<LoadedFile, DatasetError> {
    let path = file.resolve(data_dir)?;
    let sha256 = sha256_file(&path)?;
    let conversations = load(file.source, &path)?;
    tracing::info!(source = %file.source, path = %path.display(), conversations = conversations.len(), "loaded");
    Ok(LoadedFile {
        file,
        sha256,
        conversations,
    })
}

/// Apply the length bounds and cross-source deduplication, counting each drop.
fn build_pool(
    loaded: &[LoadedFile],
    selection: &Selection,
) -> (Vec<Conversation>, Vec<SourceStats>) {
    let mut seen = HashSet::new();
    let mut pool = Vec::new();
    let mut all_stats = Vec::new();
    for file in loaded {
        let mut stats = SourceStats {
            source: file.file.source.as_str().to_owned(),
            path: file.file.label(),
            loaded: file.conversations.len(),
            ..SourceStats::default()
        };
        for conversation in &file.conversations {
            let words = word_count(&conversation.context);
            if words == 0 {
                stats.empty += 1;
            } else if words < selection.min_words {
                stats.too_short += 1;
            } else if words > selection.max_words {
                stats.too_long += 1;
            } else if !seen.insert(dedupe_key(&conversation.context)) {
                stats.duplicates += 1;
            } else {
                stats.kept += 1;
                pool.push(conversation.clone());
            }
        }
        all_stats.push(stats);
    }
    (pool, all_stats)
}

fn manifest_row(conversation: &Conversation) -> ManifestRow {
    ManifestRow {
        source: conversation.source,
        source_id: conversation.source_id.clone(),
        text_sha256: sha256_bytes(conversation.context.as_bytes()),
    }
}

fn composition(chosen: &[Conversation]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for c in chosen {
        let topic = c.topic.clone().unwrap_or_else(|| "-".to_owned());
        *counts
            .entry((c.source.as_str().to_owned(), topic))
            .or_default() += 1;
    }
    counts
}

/// Write `<name>.jsonl` and, when given, `<name>.manifest.json`; returns the paths written.
fn write_set(
    out_dir: &Path,
    name: &str,
    set: &[Conversation],
    manifest: Option<&Manifest>,
) -> Result<Vec<PathBuf>, DatasetError> {
    let set_path = out_dir.join(format!("{name}.jsonl"));
    write_jsonl(&set_path, set)?;
    let mut written = vec![set_path];
    if let Some(manifest) = manifest {
        let path = out_dir.join(format!("{name}.manifest.json"));
        let text = manifest
            .to_text()
            .map_err(|e| FileError::at(&path, None, e.to_string()))?;
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// What `mhbench curate --manifest` rebuilds.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// The manifest to rebuild.
    pub manifest: PathBuf,
    /// Folder its relative source paths start from.
    pub data_dir: PathBuf,
    /// Folder the rebuilt `<name>.jsonl` is written to.
    pub out_dir: PathBuf,
}

/// The outcome of `rebuild`.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// Conversations rebuilt (all of the manifest's rows).
    pub conversations: usize,
    /// The set written.
    pub written: PathBuf,
}

/// Rebuild a set from its manifest and verify every source hash and row text hash.
///
/// # Errors
/// An unreadable or malformed manifest; or, listing every one (up to the cap) at its manifest
/// line: a missing or changed source file, a row not in the sources, a row whose text changed.
/// Nothing is written unless everything matches.
pub fn rebuild(options: &RebuildOptions) -> Result<RebuildReport, DatasetError> {
    let located = manifest::Manifest::read(&options.manifest)?;
    let manifest = &located.manifest;
    check_name(&manifest.name)
        .map_err(|e| FileError::at(&options.manifest, Some(3), format!("name: {e}")))?;
    let mut errors = ErrorList::default();
    let mut by_id: HashMap<ConversationId, Conversation> = HashMap::new();
    for (index, (entry, line)) in manifest
        .sources
        .iter()
        .zip(&located.source_lines)
        .enumerate()
    {
        match verify_source(entry, &options.data_dir) {
            Ok((conversations, changed)) => {
                if let Some(message) = changed {
                    errors.add(
                        &options.manifest,
                        Some(*line),
                        format!("sources[{index}].sha256: {message}"),
                    );
                }
                by_id.extend(conversations.into_iter().map(|c| (c.id.clone(), c)));
            }
            Err(e) => errors.add(
                &options.manifest,
                Some(*line),
                format!("sources[{index}]: {e}"),
            ),
        }
    }
    let mut set = Vec::with_capacity(manifest.rows.len());
    for (index, (row, line)) in manifest.rows.iter().zip(&located.row_lines).enumerate() {
        let id = ConversationId::new(row.source, &row.source_id);
        match by_id.remove(&id) {
            None => errors.add(&options.manifest, Some(*line), format!("rows[{index}]: {id} is not in the sources (or is listed twice); the source file differs from the one the set was built from")),
            Some(conversation) => {
                let sha256 = sha256_bytes(conversation.context.as_bytes());
                if sha256 != row.text_sha256 {
                    errors.add(&options.manifest, Some(*line), format!("rows[{index}].text_sha256: {id} text now hashes to {sha256}, the manifest expects {}; its text changed", row.text_sha256));
                }
                set.push(conversation);
            }
        }
    }
    errors.into_result(())?;
    let written = write_set(&options.out_dir, &manifest.name, &set, None)?;
    Ok(RebuildReport {
        conversations: set.len(),
        written: written.into_iter().next().unwrap_or_default(),
    })
}

/// Load one manifest source; a changed hash still allows loading, so it comes back as a message.
fn verify_source(
    entry: &ManifestSource,
    data_dir: &Path,
) -> Result<(Vec<Conversation>, Option<String>), DatasetError> {
    let file = SourceFile::from_label(entry.source, &entry.path);
    let path = file.resolve(data_dir)?;
    let sha256 = sha256_file(&path)?;
    let changed = (sha256 != entry.sha256).then(|| {
        format!(
            "{} hashes to {sha256}, the manifest expects {}; the file changed since the set was built, use the original version",
            path.display(),
            entry.sha256
        )
    });
    Ok((load(entry.source, &path)?, changed))
}

/// A plain-text summary of a curation for stderr: drops per source file, then the set's
/// composition by source and topic.
pub fn render_report(report: &CurateReport) -> String {
    let mut out = format!(
        "{:<14} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  path\n",
        "source", "loaded", "empty", "short", "long", "dup", "kept", "chosen"
    );
    for s in &report.sources {
        out.push_str(&format!(
            "{:<14} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  {}\n",
            s.source,
            s.loaded,
            s.empty,
            s.too_short,
            s.too_long,
            s.duplicates,
            s.kept,
            s.chosen,
            s.path
        ));
    }
    let mut by_source: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((source, topic), count) in &report.composition {
        by_source
            .entry(source)
            .or_default()
            .push(format!("{topic} {count}"));
    }
    for (source, topics) in by_source {
        out.push_str(&format!("{source}: {}\n", topics.join(", ")));
    }
    let chosen: usize = report.composition.values().sum();
    out.push_str(&format!("chose {chosen} of {} asked for", report.requested));
    if chosen < report.requested {
        out.push_str(" (the pool holds no more; widen --min-words/--max-words or add sources)");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> CurateOptions {
        CurateOptions {
            data_dir: PathBuf::from("data"),
            sources: vec![SourceFile {
                source: Source::Counselchat,
                location: Location::Local("c.csv".into()),
            }],
            name: "study500".into(),
            out_dir: PathBuf::from("datasets"),
            selection: Selection {
                conversations: 500,
                seed: 42,
                min_words: 8,
                max_words: 400,
            },
        }
    }

    #[test]
    fn rejects_reversed_word_bounds_naming_both_flags() {
        let mut o = options();
        o.selection.min_words = 500;
        let err = o.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "--min-words 500 is above --max-words 400; lower --min-words or raise --max-words"
        );
    }

    #[test]
    fn rejects_a_name_that_is_a_path() {
        let mut o = options();
        o.name = "../escape".into();
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("--name `../escape`: "));
        assert!(options().validate().is_ok());
    }

    #[test]
    fn hub_and_local_labels_round_trip() {
        let hub = SourceFile {
            source: Source::Psych8k,
            location: Location::Hub(HubFile {
                repo: "EmoCareAI/Psych8k".into(),
                file: "p.json".into(),
            }),
        };
        assert_eq!(SourceFile::from_label(Source::Psych8k, &hub.label()), hub);
        let local = options().sources.remove(0);
        assert_eq!(
            SourceFile::from_label(Source::Counselchat, &local.label()),
            local
        );
    }
}
