//! The token ids a bench feeds the model: either a JSON list from a file (so the comparison
//! script can give llama.cpp and mhbench the very same ids) or a deterministic synthetic stream.
//!
//! Synthetic ids are drawn uniformly from `0..vocab_size` by a ChaCha12 generator (`rand`'s
//! `StdRng`) seeded with [`SYNTHETIC_SEED`], as llama-bench draws random ids: prompt processing
//! and decode cost do not depend on which ids they see, and no tokenizer is needed. The stream is
//! the same on every run with the same `rand` version. It owns no timing and no model.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};

use crate::files::{self, FileError};

/// Seed of the synthetic id stream (fixed, so every run feeds the same ids).
pub const SYNTHETIC_SEED: u64 = 0x6d68_6265_6e63_6800;

/// Where prompt ids come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptTokens {
    /// Deterministic ids drawn from the model's vocabulary.
    Synthetic,
    /// A JSON list of ids read from this file.
    File(PathBuf),
}

impl PromptTokens {
    /// `count` ids for a model with `vocab_size` tokens.
    ///
    /// # Errors
    /// The file is unreadable, is not a JSON list of integers, holds an id outside the
    /// vocabulary, or holds fewer than `count` ids (the message names the sizes asked for).
    pub fn ids(&self, count: usize, vocab_size: usize) -> Result<Vec<u32>, FileError> {
        match self {
            Self::Synthetic => Ok(synthetic_ids(count, vocab_size)),
            Self::File(path) => {
                let ids = read_ids(path, vocab_size)?;
                if ids.len() < count {
                    return Err(FileError::at(path, None, format!(
                        "holds {} ids but the bench needs {count} (largest --depth + --pp, or the greedy prompt); give more ids or smaller sizes",
                        ids.len()
                    )));
                }
                Ok(ids.into_iter().take(count).collect())
            }
        }
    }

    /// Every id of the file, or `default_count` synthetic ids (the greedy check's prompt).
    ///
    /// # Errors
    /// As [`PromptTokens::ids`].
    pub fn all_ids(&self, default_count: usize, vocab_size: usize) -> Result<Vec<u32>, FileError> {
        match self {
            Self::Synthetic => Ok(synthetic_ids(default_count, vocab_size)),
            Self::File(path) => read_ids(path, vocab_size),
        }
    }
}

/// `count` ids uniform in `0..vocab_size` from the fixed seed.
pub fn synthetic_ids(count: usize, vocab_size: usize) -> Vec<u32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(SYNTHETIC_SEED);
    let upper = u32::try_from(vocab_size.max(1)).unwrap_or(u32::MAX);
    (0..count).map(|_| rng.random_range(0..upper)).collect()
}

fn read_ids(path: &Path, vocab_size: usize) -> Result<Vec<u32>, FileError> {
    let text = files::read_text(path)?;
    let ids: Vec<u32> = files::parse_json_document(path, &text)?;
    if let Some((index, id)) = ids.iter().enumerate().find(|(_, &id)| id as usize >= vocab_size) {
        return Err(FileError::at(path, None, format!(
            "[{index}]: id {id} is outside the model's vocabulary of {vocab_size}; tokenise with this model's tokenizer"
        )));
    }
    if ids.is_empty() {
        return Err(FileError::at(path, None, "holds no ids; write a JSON list such as [2, 651, 6037]"));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_ids_are_deterministic_and_inside_the_vocabulary() {
        let a = synthetic_ids(1000, 262_144);
        assert_eq!(a, synthetic_ids(1000, 262_144));
        assert!(a.iter().all(|&id| id < 262_144));
        // Not a constant or a tiny cycle.
        assert!(a.iter().collect::<std::collections::BTreeSet<_>>().len() > 990);
        // A longer stream starts with the shorter one, so depth and pp ids nest.
        assert_eq!(synthetic_ids(10, 262_144), a[..10]);
    }

    #[test]
    fn file_ids_are_read_and_cut_to_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.json");
        std::fs::write(&path, "[2, 651, 6037, 563]").unwrap();
        let source = PromptTokens::File(path);
        assert_eq!(source.ids(3, 10_000).unwrap(), vec![2, 651, 6037]);
        assert_eq!(source.all_ids(99, 10_000).unwrap().len(), 4);
    }

    #[test]
    fn short_or_out_of_vocabulary_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.json");
        std::fs::write(&path, "[2, 651]").unwrap();
        let short = PromptTokens::File(path.clone()).ids(5, 1000).unwrap_err().to_string();
        assert!(short.contains("ids.json") && short.contains("holds 2 ids but the bench needs 5"), "{short}");
        let outside = PromptTokens::File(path.clone()).ids(2, 100).unwrap_err().to_string();
        assert!(outside.contains("[1]: id 651 is outside the model's vocabulary of 100"), "{outside}");
        std::fs::write(&path, "{\"ids\": [1]}").unwrap();
        assert!(PromptTokens::File(path).ids(1, 100).is_err());
    }
}
