//! Dataset source files on the Hugging Face hub (`hf://datasets/...` addresses), fetched through
//! [`crate::hub`] (cache only when `HF_HUB_OFFLINE=1`).
//!
//! Only MentalChat16K and Psych8K are fetched this way; every other source is a local file.
//! Failures (offline and not cached, no network, gated repository, missing token) come back as
//! one error naming the file and what to do.

use std::path::PathBuf;

/// A file inside a hub dataset repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// `owner/name` of the dataset repository.
    pub repo: String,
    /// File name inside the repository.
    pub file: String,
}

impl HubFile {
    /// The file's address as manifests record it: `hf://datasets/<repo>/<file>`.
    pub fn to_uri(&self) -> String {
        format!("{URI_PREFIX}{}/{}", self.repo, self.file)
    }

    /// Parse an `hf://datasets/<owner>/<name>/<file>` address; `None` for a local path.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix(URI_PREFIX)?;
        let mut parts = rest.splitn(3, '/');
        let (owner, name, file) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self {
            repo: format!("{owner}/{name}"),
            file: file.to_owned(),
        })
    }
}

const URI_PREFIX: &str = "hf://datasets/";

/// Why a hub file could not be had.
#[derive(Debug, thiserror::Error)]
#[error("{uri}: {reason}")]
pub struct HubError {
    /// The file's `hf://` address.
    pub uri: String,
    /// What went wrong and what to do.
    pub reason: String,
}

/// The local path of `file`: from the hf-hub cache, downloading it first unless offline.
/// `local_flag` is the command-line flag that takes a local copy instead, named in errors.
///
/// # Errors
/// Offline and not cached; or the download failed (network, gate, token), each with what to do.
pub fn fetch(file: &HubFile, local_flag: &str) -> Result<PathBuf, HubError> {
    let repo = hf_hub::Repo::new(file.repo.clone(), hf_hub::RepoType::Dataset);
    crate::hub::fetch(&repo, &file.file).map_err(|error| {
        let what_to_do = match error {
            crate::hub::HubError::NotCached { .. } => format!(
                "unset HF_HUB_OFFLINE while online to download it, or pass a local copy with {local_flag} FILE"),
            crate::hub::HubError::Download(_) => format!(
                "check the network and, for a gated set, request access on \
                 https://huggingface.co/datasets/{} and set HF_TOKEN; or pass a local copy with {local_flag} FILE \
                 (HF_HUB_OFFLINE=1 uses only the cache)", file.repo),
        };
        HubError { uri: file.to_uri(), reason: format!("{error}; {what_to_do}") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trips() {
        let file = HubFile {
            repo: "ShenLab/MentalChat16K".into(),
            file: "Interview_Data_6K.csv".into(),
        };
        assert_eq!(
            file.to_uri(),
            "hf://datasets/ShenLab/MentalChat16K/Interview_Data_6K.csv"
        );
        assert_eq!(HubFile::from_uri(&file.to_uri()), Some(file));
        assert_eq!(HubFile::from_uri("counselchat/x.csv"), None);
    }
}
