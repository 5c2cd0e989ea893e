//! `datasets/<name>.manifest.json`: what a curated set is made of, without its text.
//!
//! A manifest names every source file (path or `hf://` address, and its SHA-256), the selection
//! options, and the chosen rows in order as (source, source id, SHA-256 of the normalised
//! text). That is enough to rebuild the exact set from the sources and to prove it unchanged,
//! while redistributing none of the text (Psych8K may not be redistributed). The file is
//! pretty JSON with one source and one row per line, so errors and mismatches name a line.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::files::{line_of_offset, parse_json_document, read_text, FileError};
use crate::schema::Source;

/// Layout version of the manifest file.
pub const MANIFEST_VERSION: u32 = 1;

/// The options a set was chosen with, recorded so a reader knows how it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// How many conversations were asked for.
    pub conversations: usize,
    /// Seed of the stratified draw.
    pub seed: u64,
    /// Shortest context kept, in words.
    pub min_words: usize,
    /// Longest context kept, in words.
    pub max_words: usize,
}

/// One source file a set was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// Which loader reads it.
    pub source: Source,
    /// Path relative to the data folder (`/`-separated), or `hf://datasets/<repo>/<file>`.
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// One chosen conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRow {
    /// Its source.
    pub source: Source,
    /// Its id within the source (the part after `<source>:` in the conversation id).
    pub source_id: String,
    /// Hex SHA-256 of the normalised context, as UTF-8.
    pub text_sha256: String,
}

/// A whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// See [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// Name of the set; the rebuilt file is `<name>.jsonl`.
    pub name: String,
    /// The mhbench version that wrote it.
    pub created_by: String,
    /// How the rows were chosen.
    pub selection: Selection,
    /// Every source file read, in the order they were read.
    pub sources: Vec<ManifestSource>,
    /// The chosen rows, in the order of the set.
    pub rows: Vec<ManifestRow>,
}

/// A manifest read from a file, with the line of each source and row for error messages.
#[derive(Debug, Clone)]
pub struct LocatedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// 1-based line of each entry of `sources`.
    pub source_lines: Vec<usize>,
    /// 1-based line of each entry of `rows`.
    pub row_lines: Vec<usize>,
}

/// Only the raw text of each list element, to find its line.
#[derive(Deserialize)]
struct ElementSpans<'a> {
    #[serde(borrow)]
    sources: Vec<&'a RawValue>,
    #[serde(borrow)]
    rows: Vec<&'a RawValue>,
}

impl Manifest {
    /// The manifest as text: pretty JSON with each source and each row on its own line.
    ///
    /// # Errors
    /// Never in practice (the records serialise to plain JSON); kept as a `Result` so nothing panics.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "[]".to_owned()
            } else {
                format!("[\n    {}\n  ]", items.join(",\n    "))
            }
        };
        let sources = self
            .sources
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        let rows = self
            .rows
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!(
            "{{\n  \"manifest_version\": {},\n  \"name\": {},\n  \"created_by\": {},\n  \"selection\": {},\n  \"sources\": {},\n  \"rows\": {}\n}}\n",
            self.manifest_version,
            serde_json::to_string(&self.name)?,
            serde_json::to_string(&self.created_by)?,
            serde_json::to_string(&self.selection)?,
            list(sources),
            list(rows),
        ))
    }

    /// Read a manifest, checking its version.
    ///
    /// # Errors
    /// Unreadable file, invalid JSON, an unknown or missing field, or an unsupported version,
    /// each as `path:line: field: what`.
    pub fn read(path: &Path) -> Result<LocatedManifest, FileError> {
        let text = read_text(path)?;
        let manifest: Manifest = parse_json_document(path, &text)?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(FileError::at(
                path,
                Some(2),
                format!(
                    "manifest_version: {} is not supported; this mhbench reads version {MANIFEST_VERSION}",
                    manifest.manifest_version
                ),
            ));
        }
        // The typed parse above succeeded, so this one only finds where each element starts.
        let spans: ElementSpans = serde_json::from_str(&text)
            .map_err(|e| FileError::at(path, Some(e.line()), e.to_string()))?;
        let line = |raw: &&RawValue| {
            let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            line_of_offset(text.as_bytes(), offset)
        };
        Ok(LocatedManifest {
            source_lines: spans.sources.iter().map(line).collect(),
            row_lines: spans.rows.iter().map(line).collect(),
            manifest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            name: "t".into(),
            created_by: "mhbench test".into(),
            selection: Selection {
                conversations: 2,
                seed: 1,
                min_words: 1,
                max_words: 9,
            },
            sources: vec![ManifestSource {
                source: Source::Counselchat,
                path: "c.csv".into(),
                sha256: "ab".into(),
            }],
            rows: vec![
                ManifestRow {
                    source: Source::Counselchat,
                    source_id: "1".into(),
                    text_sha256: "cd".into(),
                },
                ManifestRow {
                    source: Source::EmocareBench,
                    source_id: "2".into(),
                    text_sha256: "ef".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trips_with_one_line_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.manifest.json");
        std::fs::write(&path, manifest().to_text().unwrap()).unwrap();
        let read = Manifest::read(&path).unwrap();
        assert_eq!(read.manifest, manifest());
        assert_eq!(read.source_lines, [7]);
        assert_eq!(read.row_lines, [10, 11]);
    }

    #[test]
    fn an_unknown_source_names_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.manifest.json");
        let text = manifest()
            .to_text()
            .unwrap()
            .replace("\"emocare_bench\"", "\"reddit\"");
        std::fs::write(&path, text).unwrap();
        let err = Manifest::read(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}:11: rows[1].source: unknown variant `reddit`",
                path.display()
            )),
            "{err}"
        );
    }
}
