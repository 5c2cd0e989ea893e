//! The judge prompt (`datasets/prompts/judge.toml`), rendered with minijinja from the rubric, so
//! the judge reads the same definitions and anchors as the human experts.

use std::path::Path;

use minijinja::{context, Environment};
use serde::Deserialize;

use crate::files::{self, FileError};
use crate::rubric::Rubric;
use crate::schema::{ChatMessage, Role};

/// Default judge prompt file.
pub const DEFAULT_JUDGE_PROMPT: &str = "datasets/prompts/judge.toml";

/// The judge prompt templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgePrompt {
    /// Name.
    pub id: String,
    /// Wording version.
    pub version: String,
    /// System message.
    pub system: String,
    /// User message: rubric, context and reply.
    pub user: String,
    /// Follow-up after an unusable answer.
    pub repair: String,
}

impl JudgePrompt {
    /// Read the templates and check that they render.
    ///
    /// # Errors
    /// Unreadable file or a template that does not compile.
    pub fn load(path: &Path, rubric: &Rubric) -> Result<Self, FileError> {
        let prompt: JudgePrompt = files::read_toml(path)?;
        prompt.first_turn(rubric, "", "").map_err(|e| FileError::at(path, None, e))?;
        prompt.repair_turn(rubric, "").map_err(|e| FileError::at(path, None, e))?;
        Ok(prompt)
    }

    /// System and user messages asking for a verdict on `reply` to `context`.
    ///
    /// # Errors
    /// A template error, as text.
    pub fn first_turn(&self, rubric: &Rubric, context: &str, reply: &str) -> Result<Vec<ChatMessage>, String> {
        let user = render(&self.user, context! { rubric => rubric, context => context, reply => reply })?;
        Ok(vec![
            ChatMessage { role: Role::System, content: self.system.clone() },
            ChatMessage { role: Role::User, content: user },
        ])
    }

    /// The repair request after an unusable answer.
    ///
    /// # Errors
    /// A template error, as text.
    pub fn repair_turn(&self, rubric: &Rubric, reason: &str) -> Result<ChatMessage, String> {
        let content = render(&self.repair, context! { rubric => rubric, reason => reason })?;
        Ok(ChatMessage { role: Role::User, content })
    }
}

fn render(template: &str, ctx: minijinja::Value) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.render_str(template, ctx).map_err(|e| format!("judge prompt template: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_prompt_carries_every_anchor_and_the_texts() {
        let rubric = Rubric::load(Path::new(crate::rubric::DEFAULT_RUBRIC)).unwrap();
        let prompt = JudgePrompt::load(Path::new(DEFAULT_JUDGE_PROMPT), &rubric).unwrap();
        let messages = prompt.first_turn(&rubric, "I can't sleep.", "Try a routine.").unwrap();
        let user = &messages[1].content;
        for attribute in &rubric.attributes {
            assert!(user.contains(&format!("(`{}`): {}", attribute.id, attribute.definition)), "{user}");
            for (i, anchor) in attribute.anchors.iter().enumerate() {
                assert!(user.contains(&format!("  {}: {anchor}", i + 1)), "{user}");
            }
        }
        assert!(user.contains("\"\"\"\nI can't sleep.\n\"\"\"") && user.contains("\"\"\"\nTry a routine.\n\"\"\""), "{user}");
        let repair = prompt.repair_turn(&rubric, "`safety` is missing").unwrap();
        assert!(repair.content.starts_with("Your answer could not be used: `safety` is missing."));
    }
}
