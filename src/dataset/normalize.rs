//! Text normalisation shared by every loader: HTML entities decoded, tags stripped where a source
//! holds HTML, whitespace collapsed; plus the word count and the deduplication key.
//!
//! It owns no I/O and knows no source. The dedupe key keeps only the lower-cased letters and
//! digits of a text: the MentalBench release copied CounselChat questions with curly quotes,
//! apostrophes and dashes dropped ("you’re" became "youre"), so comparing on whitespace and
//! case alone would miss 10 of its 44 CounselChat questions (see
//! `../shared/data/mentalbench/README.md`, `counselchat_match`).

/// Whether a source's text may contain HTML markup that should be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Plain text: only entities are decoded (a literal `<` stays).
    Plain,
    /// Scraped HTML: tags are dropped, block-level breaks become spaces.
    Html,
}

/// The text a model answers: entities decoded, tags stripped (for [`Markup::Html`]), all runs of
/// whitespace (newlines included) collapsed to one space, ends trimmed.
pub fn normalize_text(raw: &str, markup: Markup) -> String {
    let without_tags = match markup {
        Markup::Plain => raw.to_owned(),
        Markup::Html => strip_tags(raw),
    };
    let decoded = html_escape::decode_html_entities(&without_tags);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Number of whitespace-separated words; the unit of `--min-words` and `--max-words`.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Key under which two texts count as the same conversation: their letters and digits,
/// lower-cased, with whitespace and punctuation dropped.
pub fn dedupe_key(normalized: &str) -> String {
    normalized
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Replace each HTML tag (`<p>`, `</p>`, `<br/>`, `<!-- -->`) by a space. A `<` not followed by a
/// letter, `/` or `!` is text ("I feel < 5/10") and is kept.
fn strip_tags(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match (opens_tag, after.find('>')) {
            (true, Some(end)) => {
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entities_and_collapses_whitespace() {
        let text = "  I&#39;m tired &amp; sad.\n\n   Why?\t ";
        assert_eq!(normalize_text(text, Markup::Plain), "I'm tired & sad. Why?");
    }

    #[test]
    fn strips_tags_only_for_html_sources() {
        let text = "<p>I feel &#34;stuck&#34;.</p><p>Help?</p>";
        assert_eq!(
            normalize_text(text, Markup::Html),
            "I feel \"stuck\". Help?"
        );
        assert_eq!(normalize_text("a <b>c</b>", Markup::Plain), "a <b>c</b>");
    }

    #[test]
    fn keeps_a_less_than_sign_that_is_not_a_tag() {
        assert_eq!(
            normalize_text("mood < 3 <br/>today", Markup::Html),
            "mood < 3 today"
        );
        assert_eq!(normalize_text("unclosed <p", Markup::Html), "unclosed <p");
    }

    #[test]
    fn dedupe_key_ignores_case_punctuation_and_spacing() {
        assert_eq!(dedupe_key("I Feel Low."), dedupe_key("i feel low"));
        assert_eq!(
            dedupe_key("You’re right—she said “no”."),
            dedupe_key("Youre rightshe said no")
        );
        assert_ne!(dedupe_key("I feel low."), dedupe_key("I feel lower."));
    }

    #[test]
    fn counts_words_across_any_whitespace() {
        assert_eq!(word_count(" one  two\nthree "), 3);
        assert_eq!(word_count(""), 0);
    }
}
