//! The Hugging Face hub through hf-hub: a repository file from the local cache (`HF_HOME`),
//! downloaded first unless `HF_HUB_OFFLINE=1`, with `HF_TOKEN` (or the cached token) for gated
//! repositories. Offline mode never opens a socket; hf-hub's sync client fails as soon as the
//! connection does, so a machine without network gets an error, not a hang.
//!
//! Callers (dataset sources, model weights) add what the user should do; this file only fetches.

use std::path::PathBuf;

use hf_hub::{Cache, Repo};

/// Why a hub file could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Offline and not in the cache.
    #[error("not in the Hugging Face cache at {} and HF_HUB_OFFLINE=1 forbids downloading", .cache.display())]
    NotCached {
        /// The cache folder searched.
        cache: PathBuf,
    },
    /// The download failed (network, gate, token, missing file).
    #[error("download failed: {0}")]
    Download(String),
}

/// Whether `HF_HUB_OFFLINE` asks for cache-only access (`1`, `true`, `yes`, `on`).
fn is_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// `file` of `repo` if the local cache holds it; never touches the network.
pub fn cached(repo: &Repo, file: &str) -> Option<PathBuf> {
    Cache::from_env().repo(repo.clone()).get(file)
}

/// The local path of `file` in `repo`: from the cache, downloading it first unless offline.
///
/// # Errors
/// Offline and not cached, or the download failed.
pub fn fetch(repo: &Repo, file: &str) -> Result<PathBuf, HubError> {
    let cache = Cache::from_env();
    if is_offline() {
        return cache.repo(repo.clone()).get(file).ok_or_else(|| HubError::NotCached { cache: cache.path().clone() });
    }
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()).or_else(|| cache.token());
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_token(token)
        .build()
        .map_err(|e| HubError::Download(e.to_string()))?;
    api.repo(repo.clone()).get(file).map_err(|e| HubError::Download(e.to_string()))
}
