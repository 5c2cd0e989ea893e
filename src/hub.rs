//! The Hugging Face hub through hf-hub: a repository file from the local cache (`HF_HOME`),
//! downloaded first unless `HF_HUB_OFFLINE=1`, with `HF_TOKEN` (or the cached token) for gated
//! repositories. Offline mode never opens a socket; hf-hub's sync client fails as soon as the
//! connection does, so a machine without network gets an error, not a hang.
//!
//! Callers (dataset sources, model weights) add what the user should do; this file only fetches,
//! including a local model's whole set of weight files ([`fetch_weights`]).

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo};

use crate::registry::{LocalModel, Weights};

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

/// Downloads a local model's weights into the Hugging Face cache through hf-hub (only reads the
/// cache when `HF_HUB_OFFLINE=1`) and returns what [`LocalModel::locate_weights`] would then find:
/// the GGUF file, or the safetensors folder with its config, tokenizer files and every shard. A
/// GGUF file is hashed here, once, and its hash recorded beside it
/// ([`crate::files::sha256_file_recorded`]) for every later load to check against the registry.
///
/// # Errors
/// A file is missing from the cache in offline mode, or its download failed.
pub fn fetch_weights(local: &LocalModel) -> Result<PathBuf, HubError> {
    let repo = local.hub_repo();
    match &local.weights {
        Weights::Gguf { file, hub_file, .. } => {
            let path = fetch(&repo, hub_file.as_deref().unwrap_or(file))?;
            crate::files::sha256_file_recorded(&path).map_err(|e| HubError::Download(e.to_string()))?;
            Ok(path)
        }
        Weights::Safetensors { .. } => {
            let config = fetch(&repo, "config.json")?;
            for optional in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
                // Absent in some repositories; the engine reports what it then lacks.
                let _ = fetch(&repo, optional);
            }
            for shard in safetensors_shards(&repo)? {
                fetch(&repo, &shard)?;
            }
            Ok(config.parent().map(Path::to_path_buf).unwrap_or(config))
        }
    }
}

/// The shard files of a safetensors checkpoint: those its index names, else `model.safetensors`.
fn safetensors_shards(repo: &hf_hub::Repo) -> Result<Vec<String>, HubError> {
    let Ok(index) = fetch(repo, "model.safetensors.index.json") else {
        return Ok(vec!["model.safetensors".to_owned()]);
    };
    let unreadable = |e: String| HubError::Download(format!("{}: {e}", index.display()));
    let text = std::fs::read_to_string(&index).map_err(|e| unreadable(e.to_string()))?;
    let parsed: serde_json::Value = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    let map = parsed.get("weight_map").and_then(|m| m.as_object())
        .ok_or_else(|| unreadable("no weight_map object".to_owned()))?;
    let mut shards: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    shards.sort();
    shards.dedup();
    Ok(shards)
}
