//! Which files each source is read from: the local paths a user names (or the Hugging Face
//! dataset repositories, for the sources published there), one [`SourceFile`] per file.

use std::path::PathBuf;

use super::hub::HubFile;
use super::{mentalchat16k, psych8k, Location, SourceFile};
use crate::schema::Source;

/// The local file of each source (relative to the data folder), as `curate`'s flags name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePaths {
    /// CounselChat CSV.
    pub counselchat: PathBuf,
    /// MentalBench `contexts.csv`.
    pub mentalbench: PathBuf,
    /// EmoCare counselling bench questions (JSONL).
    pub emocare_bench: PathBuf,
    /// MentalChat16K CSVs.
    pub mentalchat16k: Vec<PathBuf>,
    /// Psych8K JSON.
    pub psych8k: PathBuf,
}

/// The input files of `sources`, one per source (two for MentalChat16K), in the order given;
/// with `hub`, MentalChat16K and Psych8K come from their hub repositories instead.
pub fn source_files(sources: &[Source], paths: &SourcePaths, hub: bool) -> Vec<SourceFile> {
    let local = |source: Source, path: &PathBuf| SourceFile { source, location: Location::Local(path.clone()) };
    let remote = |source: Source, repo: &str, file: &str| SourceFile {
        source,
        location: Location::Hub(HubFile { repo: repo.to_owned(), file: file.to_owned() }),
    };
    let mut files = Vec::new();
    for &source in sources {
        match source {
            Source::Counselchat => files.push(local(source, &paths.counselchat)),
            Source::Mentalbench => files.push(local(source, &paths.mentalbench)),
            Source::EmocareBench => files.push(local(source, &paths.emocare_bench)),
            Source::Mentalchat16k if hub => {
                files.extend(mentalchat16k::HUB_FILES.iter().map(|f| remote(source, mentalchat16k::HUB_REPO, f)))
            }
            Source::Mentalchat16k => files.extend(paths.mentalchat16k.iter().map(|p| local(source, p))),
            Source::Psych8k if hub => files.push(remote(source, psych8k::HUB_REPO, psych8k::HUB_FILE)),
            Source::Psych8k => files.push(local(source, &paths.psych8k)),
            Source::Sample => {}
        }
    }
    files.dedup();
    files
}
