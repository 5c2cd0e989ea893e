//! Splitting a reasoning model's reply into the answer and the raw text with its thinking.
//!
//! Owns: removing one `<think>...</think>` block. Does not own: whether a model reasons (the
//! model spec says) or what is stored (the runner keeps both fields).
//!
//! DeepSeek-R1-Distill templates end the prompt with `<think>\n`, so the reply holds only the
//! closing `</think>`; Qwen3 writes both tags (or an empty block when thinking is off).

/// The tag that opens a reasoning block.
pub const THINK_OPEN: &str = "<think>";
/// The tag that closes a reasoning block.
pub const THINK_CLOSE: &str = "</think>";

/// A reply split into the answer a reader sees and, when it differs, the raw generated text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitReply {
    /// The reply without the reasoning block, trimmed of the whitespace around it.
    pub answer: String,
    /// The untouched generated text, kept only when a block was removed.
    pub raw: Option<String>,
}

/// Removes the reasoning block from `reply`.
///
/// A reply with `</think>` loses everything up to and including it (an opening `<think>` before
/// it, if any, is part of the block). A reply with `<think>` but no closing tag stopped while
/// reasoning: its answer is empty and the raw text is kept. Anything else is returned as is.
pub fn split_reasoning(reply: &str) -> SplitReply {
    if let Some(close) = reply.find(THINK_CLOSE) {
        let before = reply.get(..close).unwrap_or_default();
        let after = reply.get(close + THINK_CLOSE.len()..).unwrap_or_default();
        let prefix = before
            .find(THINK_OPEN)
            .map_or("", |open| before.get(..open).unwrap_or_default());
        let answer = format!("{}{}", prefix.trim_start(), after.trim_start())
            .trim_end()
            .to_string();
        return SplitReply {
            answer,
            raw: Some(reply.to_string()),
        };
    }
    if let Some(open) = reply.find(THINK_OPEN) {
        let answer = reply.get(..open).unwrap_or_default().trim().to_string();
        return SplitReply {
            answer,
            raw: Some(reply.to_string()),
        };
    }
    SplitReply {
        answer: reply.to_string(),
        raw: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_a_complete_block() {
        let reply = "<think>\nThe user is sad.\n</think>\n\nI'm sorry you feel this way.";
        let split = split_reasoning(reply);
        assert_eq!(split.answer, "I'm sorry you feel this way.");
        assert_eq!(split.raw.as_deref(), Some(reply));
    }

    #[test]
    fn removes_a_block_whose_opening_tag_was_in_the_prompt() {
        let split = split_reasoning("Okay, the user feels low.\n</think>\n\nThat sounds hard.");
        assert_eq!(split.answer, "That sounds hard.");
        assert!(split.raw.is_some());
    }

    #[test]
    fn removes_an_empty_block_from_qwen3_with_thinking_off() {
        assert_eq!(
            split_reasoning("<think>\n\n</think>\n\nHello.").answer,
            "Hello."
        );
    }

    #[test]
    fn keeps_a_plain_reply_without_raw() {
        let split = split_reasoning("  Just an answer.\n");
        assert_eq!(
            split,
            SplitReply {
                answer: "  Just an answer.\n".into(),
                raw: None
            }
        );
    }

    #[test]
    fn gives_an_empty_answer_when_reasoning_never_closed() {
        let split = split_reasoning("<think>\nstill thinking when max tokens hit");
        assert_eq!(split.answer, "");
        assert_eq!(
            split.raw.as_deref(),
            Some("<think>\nstill thinking when max tokens hit")
        );
    }
}
