//! Loader for CounselChat's cleaned scrape, `20200325_counsel_chat.csv` (Bertagnolli 2020).
//!
//! The file has one row per therapist answer, so one question spans several rows (and sometimes
//! several topics). This loader folds rows into one [`Conversation`] per distinct normalised
//! question (same [`super::normalize::dedupe_key`]): the first row gives id, topic, title and split; the most upvoted answer
//! (earliest on a tie) becomes the reference response. Text normalisation and length filtering
//! happen in [`super::normalize`] and [`super::curate`]; cross-source deduplication is not done
//! here.
//!
//! Ids: `questionID`, except that the scrape gives 18 ids to two different texts; each text of
//! such an id is named `<questionID>-L<line>`, the line of its first answer row, so ids stay
//! unique and stable for the same file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::json;

use super::csv_table::{read_csv, CsvRow};
use super::normalize::{dedupe_key, normalize_text, Markup};
use crate::files::{ErrorList, FileError};
use crate::schema::{Conversation, ConversationId, Source, SCHEMA_VERSION};

/// The columns this loader reads, by header name.
const COLUMNS: [&str; 7] = [
    "questionID",
    "questionTitle",
    "questionText",
    "topic",
    "answerText",
    "upvotes",
    "split",
];

/// One answer row, parsed.
struct AnswerRow {
    line: usize,
    question_id: String,
    title: String,
    question: String,
    topic: String,
    answer: String,
    upvotes: u64,
    split: String,
}

/// Load one conversation per distinct question of a CounselChat CSV, in file order.
///
/// # Errors
/// The file is unreadable, lacks a column, or has rows that are malformed, not UTF-8, without a
/// `questionID`, or with `upvotes` that is not a whole number (all listed).
pub fn load(path: &Path) -> Result<Vec<Conversation>, FileError> {
    let rows = parse_rows(path, read_csv(path, COLUMNS)?)?;
    let mut groups: Vec<Vec<&AnswerRow>> = Vec::new();
    let mut group_of_key: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        let key = dedupe_key(&row.question);
        let index = *group_of_key.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(index) {
            group.push(row);
        }
    }
    let ambiguous = ambiguous_ids(&groups);
    Ok(groups
        .iter()
        .filter_map(|group| to_conversation(group, &ambiguous))
        .collect())
}

fn parse_rows(path: &Path, rows: Vec<CsvRow<7>>) -> Result<Vec<AnswerRow>, FileError> {
    let mut errors = ErrorList::default();
    let mut parsed = Vec::with_capacity(rows.len());
    for CsvRow { line, values } in rows {
        let [question_id, title, question, topic, answer, upvotes, split] = values;
        let question_id = question_id.trim().to_owned();
        if question_id.is_empty() {
            errors.add(
                path,
                Some(line),
                "questionID: empty; every answer row needs its question's id",
            );
            continue;
        }
        let Ok(upvotes) = upvotes.trim().parse::<u64>() else {
            errors.add(
                path,
                Some(line),
                format!("upvotes: `{upvotes}` is not a whole number"),
            );
            continue;
        };
        parsed.push(AnswerRow {
            line,
            question_id,
            title: normalize_text(&title, Markup::Html),
            question: normalize_text(&question, Markup::Html),
            topic: topic.trim().to_owned(),
            answer: normalize_text(&answer, Markup::Html),
            upvotes,
            split: split.trim().to_owned(),
        });
    }
    errors.into_result(parsed)
}

/// questionIDs that the file gives to more than one distinct question text.
fn ambiguous_ids(groups: &[Vec<&AnswerRow>]) -> BTreeSet<String> {
    let mut texts_per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for first in groups.iter().filter_map(|g| g.first()) {
        *texts_per_id.entry(&first.question_id).or_default() += 1;
    }
    texts_per_id
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(id, _)| id.to_owned())
        .collect()
}

fn to_conversation(group: &[&AnswerRow], ambiguous: &BTreeSet<String>) -> Option<Conversation> {
    let first = group.first()?;
    // The most upvoted answer; `max_by_key` keeps the last maximum, so reverse to prefer the earliest.
    let reference = group.iter().rev().max_by_key(|row| row.upvotes)?;
    let source_id = if ambiguous.contains(&first.question_id) {
        format!("{}-L{}", first.question_id, first.line)
    } else {
        first.question_id.clone()
    };
    let topics: BTreeSet<&str> = group
        .iter()
        .map(|r| r.topic.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    let metadata = BTreeMap::from([
        ("question_id".to_owned(), json!(first.question_id)),
        ("question_title".to_owned(), json!(first.title)),
        ("split".to_owned(), json!(first.split)),
        ("topics".to_owned(), json!(topics)),
        ("answers".to_owned(), json!(group.len())),
        ("reference_upvotes".to_owned(), json!(reference.upvotes)),
    ]);
    Some(Conversation {
        schema_version: SCHEMA_VERSION,
        id: ConversationId::new(Source::Counselchat, &source_id),
        source: Source::Counselchat,
        source_id,
        topic: Some(first.topic.clone()).filter(|t| !t.is_empty()),
        context: first.question.clone(),
        reference_response: Some(reference.answer.clone()).filter(|a| !a.is_empty()),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = ",questionID,questionTitle,questionText,questionLink,topic,therapistInfo,therapistURL,answerText,upvotes,views,split\n";

    fn load_text(body: &str) -> Result<Vec<Conversation>, FileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.csv");
        std::fs::write(&path, format!("{HEADER}{body}")).unwrap();
        load(&path)
    }

    #[test]
    fn folds_answers_and_keeps_the_most_upvoted() {
        let rows = "0,7,T,\"Why  am I sad?\",l,depression,i,u,first,1,9,train\n\
                    1,7,T,Why am I sad?,l,depression,i,u,best,3,9,train\n\
                    2,7,T,why am i sad?,l,anxiety,i,u,also best,3,9,train\n";
        let conversations = load_text(rows).unwrap();
        assert_eq!(conversations.len(), 1);
        let c = &conversations[0];
        assert_eq!(c.id.as_str(), "counselchat:7");
        assert_eq!(c.context, "Why am I sad?");
        assert_eq!(c.topic.as_deref(), Some("depression"));
        assert_eq!(c.reference_response.as_deref(), Some("best"));
        assert_eq!(c.metadata["topics"], json!(["anxiety", "depression"]));
        assert_eq!(c.metadata["answers"], json!(3));
    }

    #[test]
    fn an_id_with_two_texts_gets_line_suffixed_ids() {
        let rows = "0,5,T,First question here,l,anxiety,i,u,a,0,9,train\n\
                    1,5,T,Second question here,l,anxiety,i,u,b,0,9,train\n\
                    2,6,T,Third,l,anxiety,i,u,c,0,9,train\n";
        let ids: Vec<String> = load_text(rows)
            .unwrap()
            .into_iter()
            .map(|c| c.source_id)
            .collect();
        assert_eq!(ids, ["5-L2", "5-L3", "6"]);
    }

    #[test]
    fn bad_upvotes_and_missing_ids_are_listed() {
        let rows = "0,,T,Q,l,anxiety,i,u,a,0,9,train\n1,4,T,Q,l,anxiety,i,u,a,many,9,train\n";
        let err = load_text(rows).unwrap_err().to_string();
        assert!(err.contains(":2: questionID: empty;"), "{err}");
        assert!(
            err.contains(":3: upvotes: `many` is not a whole number"),
            "{err}"
        );
    }
}
