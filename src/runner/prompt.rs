//! Generation prompts: a `.toml` file (the named ones in `datasets/prompts/<id>.toml` beside the
//! registry), turning a conversation into chat messages.
//!
//! The study sends the psychiatrist instruction and the person's text as one user message; the
//! prompt file holds that text with a `{context}` placeholder, so changing the wording is a file
//! edit whose hash lands in the run manifest.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::files::{self, FileError};
use crate::schema::{ChatMessage, Conversation, GenerationParams, GenerationRequest, PromptInfo, Role};

/// Folder of named prompt files, relative to the registry's folder (the repository root).
pub const PROMPTS_DIR: &str = "datasets/prompts";

/// A prompt file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    /// Name, equal to the file stem.
    pub id: String,
    /// Wording version.
    pub version: String,
    /// Optional system message.
    #[serde(default)]
    pub system: Option<String>,
    /// The user message, with `{context}` where the person's text goes.
    pub user: String,
    /// SHA-256 of the file's bytes, filled in on load.
    #[serde(skip)]
    pub sha256: String,
}

impl Prompt {
    /// Path of prompt `id` under `dir`.
    pub fn path(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("{id}.toml"))
    }

    /// Load prompt `id` from `dir`.
    ///
    /// # Errors
    /// A missing or malformed file, or a user message without `{context}`.
    pub fn load(dir: &Path, id: &str) -> Result<Self, FileError> {
        Self::load_file(&Self::path(dir, id))
    }

    /// Load the prompt file at `path`.
    ///
    /// # Errors
    /// A missing or malformed file, or a user message without `{context}`.
    pub fn load_file(path: &Path) -> Result<Self, FileError> {
        let text = files::read_text(path)?;
        let mut prompt: Prompt = files::parse_toml(path, &text)?;
        if !prompt.user.contains("{context}") {
            return Err(FileError::at(path, None, "user: must contain `{context}`, where the person's text goes"));
        }
        prompt.sha256 = files::sha256_bytes(text.as_bytes());
        Ok(prompt)
    }

    /// The prompt a run uses: `given` (`--prompt`) is a file path as the user typed it, relative
    /// to the current directory; a bare name that is no file here is a named prompt in
    /// `datasets/prompts/` beside the registry. Without `given`, the registry's
    /// `defaults.prompt`, always a name.
    ///
    /// # Errors
    /// Neither a file nor a named prompt (the message names every place looked at), or a bad
    /// prompt file.
    pub fn chosen(given: Option<&str>, registry: &crate::registry::Registry) -> anyhow::Result<Self> {
        let named_dir = registry.resolve(PROMPTS_DIR);
        let Some(given) = given else {
            return Ok(Self::load(&named_dir, &registry.defaults.prompt)?);
        };
        let as_typed = Path::new(given);
        if as_typed.is_file() {
            return Ok(Self::load_file(as_typed)?);
        }
        let bare_name = as_typed.components().count() == 1 && as_typed.extension().is_none();
        let named = Self::path(&named_dir, given);
        if bare_name && named.is_file() {
            return Ok(Self::load_file(&named)?);
        }
        if bare_name {
            anyhow::bail!(
                "--prompt {given}: no file `{given}` in the current directory and no named prompt {}; give the path of a prompt .toml file or the name of one in {}",
                named.display(),
                named_dir.display()
            );
        }
        anyhow::bail!("--prompt {given}: no such file (a path is taken from the current directory)")
    }

    /// The messages for one conversation.
    pub fn messages(&self, conversation: &Conversation) -> Vec<ChatMessage> {
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(ChatMessage { role: Role::System, content: system.clone() });
        }
        messages.push(ChatMessage {
            role: Role::User,
            content: self.user.replace("{context}", conversation.context.trim()),
        });
        messages
    }

    /// One generation request per conversation, as `generate` sends them (and `bench --dataset`
    /// times them).
    pub fn requests<'a>(&self, conversations: impl IntoIterator<Item = &'a Conversation>, params: &GenerationParams)
        -> Vec<GenerationRequest> {
        conversations
            .into_iter()
            .map(|c| GenerationRequest { conversation_id: c.id.clone(), messages: self.messages(c), params: params.clone() })
            .collect()
    }

    /// The record of what was sent, with the hash of the exact messages.
    pub fn info(&self, messages: Vec<ChatMessage>) -> PromptInfo {
        let canonical = serde_json::to_vec(&messages).expect("invariant: messages serialise");
        PromptInfo {
            template_id: self.id.clone(),
            sha256: files::sha256_bytes(&canonical),
            messages,
        }
    }
}
