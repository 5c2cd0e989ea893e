//! Generation prompts: `datasets/prompts/<id>.toml`, turning a conversation into chat messages.
//!
//! The study sends the psychiatrist instruction and the person's text as one user message; the
//! prompt file holds that text with a `{context}` placeholder, so changing the wording is a file
//! edit whose hash lands in the run manifest.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::files::{self, FileError};
use crate::schema::{ChatMessage, Conversation, GenerationParams, GenerationRequest, PromptInfo, Role};

/// Folder of prompt files, relative to the repository root.
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
        let path = Self::path(dir, id);
        let text = files::read_text(&path)?;
        let mut prompt: Prompt = files::parse_toml(&path, &text)?;
        if !prompt.user.contains("{context}") {
            return Err(FileError::at(&path, None, "user: must contain `{context}`, where the person's text goes"));
        }
        prompt.sha256 = files::sha256_bytes(text.as_bytes());
        Ok(prompt)
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
