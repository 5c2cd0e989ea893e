//! Strict parsing of a judge's reply: one JSON object with an integer 1..5 for every rubric
//! attribute and a one-sentence rationale.
//!
//! Honest by construction: a score that is missing, fractional, quoted, or off the scale is a
//! failure with a reason, never clamped, rounded or defaulted. The reason goes back to the judge
//! in one repair request; a second failure is recorded as a parse failure with the raw text.

use std::collections::BTreeMap;

use crate::rubric::Rubric;
use crate::schema::Score;

/// Scores and rationale read from a judge's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Score per attribute id.
    pub scores: BTreeMap<String, Score>,
    /// The judge's rationale, if it gave one.
    pub rationale: Option<String>,
}

/// Read a verdict from `text` for `rubric`.
///
/// # Errors
/// A sentence saying what is wrong, fit to send back to the judge.
pub fn parse_verdict(text: &str, rubric: &Rubric) -> Result<Verdict, String> {
    let object = extract_json_object(text).ok_or("no JSON object found in the reply")?;
    let value: serde_json::Value = serde_json::from_str(object).map_err(|e| format!("the JSON object is invalid: {e}"))?;
    let map = value.as_object().ok_or("the reply is not a JSON object")?;
    let mut scores = BTreeMap::new();
    let mut problems = Vec::new();
    for attribute in &rubric.attributes {
        match map.get(&attribute.id) {
            None => problems.push(format!("`{}` is missing", attribute.id)),
            Some(v) => match v.as_i64().and_then(Score::new) {
                Some(score) if v.is_i64() || v.is_u64() => {
                    scores.insert(attribute.id.clone(), score);
                }
                _ => problems.push(format!("`{}` is {v}, not an integer from 1 to 5", attribute.id)),
            },
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let rationale = map.get("rationale").and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(Verdict { scores, rationale })
}

/// The first balanced `{...}` in `text`, skipping braces inside JSON strings; tolerates prose
/// or a Markdown fence around it.
pub fn extract_json_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, ch) in text[start..].char_indices() {
        match (in_string, ch) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '{') => depth += 1,
            (false, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + offset + 1]);
                }
            }
            (false, _) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rubric() -> Rubric {
        Rubric::load(std::path::Path::new(crate::rubric::DEFAULT_RUBRIC)).unwrap()
    }

    const FULL: &str = r#"{"guidance": 4, "informativeness": 3, "safety": 5, "empathy": 4, "helpfulness": 4, "interpretation": 3, "rationale": "Warm {and} \"safe\"."}"#;

    #[test]
    fn reads_a_fenced_object_with_braces_in_strings() {
        let text = format!("Here is my rating:\n```json\n{FULL}\n```\nThanks");
        let verdict = parse_verdict(&text, &rubric()).unwrap();
        assert_eq!(verdict.scores["safety"].get(), 5);
        assert_eq!(verdict.rationale.as_deref(), Some("Warm {and} \"safe\"."));
    }

    #[test]
    fn never_rounds_clamps_or_defaults() {
        let r = rubric();
        let half = FULL.replace("\"empathy\": 4", "\"empathy\": 4.5");
        assert_eq!(parse_verdict(&half, &r).unwrap_err(), "`empathy` is 4.5, not an integer from 1 to 5");
        let six = FULL.replace("\"safety\": 5", "\"safety\": 6");
        assert_eq!(parse_verdict(&six, &r).unwrap_err(), "`safety` is 6, not an integer from 1 to 5");
        let quoted = FULL.replace("\"guidance\": 4", "\"guidance\": \"4\"");
        assert_eq!(parse_verdict(&quoted, &r).unwrap_err(), "`guidance` is \"4\", not an integer from 1 to 5");
        let missing = FULL.replace("\"helpfulness\": 4, ", "");
        assert_eq!(parse_verdict(&missing, &r).unwrap_err(), "`helpfulness` is missing");
        assert_eq!(parse_verdict("I rate it 4/5.", &r).unwrap_err(), "no JSON object found in the reply");
        assert!(parse_verdict("{\"guidance\": 4,", &r).is_err());
    }
}
