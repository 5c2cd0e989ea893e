//! The rating rubric: attributes, their groups and 1..5 anchors, read from a TOML file.
//!
//! Human raters (the rating page), LLM judges (the judge prompt) and the analysis (attribute
//! names and the Cognitive Support / Affective Resonance grouping) all read one rubric file,
//! by default `datasets/rubric.toml`, so nothing about the attributes is hard-coded elsewhere.
//! Other rubrics, such as MentalBench's seven attributes, are just other files.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::files::{self, ErrorList, FileError};

/// Default rubric path, relative to the repository root.
pub const DEFAULT_RUBRIC: &str = "datasets/rubric.toml";

/// A group of attributes whose mean forms a composite score (CSS, ARS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Id used by attributes to join the group (`cognitive`).
    pub id: String,
    /// Display name (`Cognitive Support`).
    pub name: String,
    /// Short name of the composite (`CSS`).
    pub short: String,
    /// What the group measures.
    pub description: String,
}

/// One rated attribute with a definition and one anchor per score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// Id used in ratings (`guidance`).
    pub id: String,
    /// Display name (`Guidance`).
    pub name: String,
    /// Id of its group.
    pub group: String,
    /// What the attribute measures.
    pub definition: String,
    /// Anchor sentences for scores 1..5, in order.
    pub anchors: Vec<String>,
}

/// A validated rubric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    /// Stable id of the rubric (`mhbench-6`).
    pub id: String,
    /// Version recorded in every rating; bump on any text change.
    pub version: String,
    /// Human title.
    pub title: String,
    /// Composite groups.
    pub groups: Vec<Group>,
    /// Attributes, in display order.
    pub attributes: Vec<Attribute>,
}

impl Rubric {
    /// Read and validate a rubric file.
    ///
    /// # Errors
    /// Unreadable or malformed file, duplicate ids, an attribute in an unknown group, or an
    /// attribute without exactly five anchors; every problem is listed.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let rubric: Rubric = files::read_toml(path)?;
        rubric.validate(path)
    }

    fn validate(self, path: &Path) -> Result<Self, FileError> {
        let mut errors = ErrorList::default();
        let group_ids: BTreeSet<&str> = self.groups.iter().map(|g| g.id.as_str()).collect();
        if group_ids.len() != self.groups.len() {
            errors.add(path, None, "groups: duplicate group id");
        }
        for problem in self.id_problems() {
            errors.add(path, None, problem);
        }
        for problem in self.group_problems() {
            errors.add(path, None, problem);
        }
        let mut seen = BTreeSet::new();
        for (i, attribute) in self.attributes.iter().enumerate() {
            if !seen.insert(attribute.id.as_str()) {
                errors.add(
                    path,
                    None,
                    format!("attributes[{i}].id: duplicate attribute `{}`", attribute.id),
                );
            }
            if !group_ids.contains(attribute.group.as_str()) {
                errors.add(
                    path,
                    None,
                    format!(
                        "attributes[{i}].group: unknown group `{}`; declare it under [[groups]]",
                        attribute.group
                    ),
                );
            }
            if attribute.anchors.len() != 5 {
                errors.add(
                    path,
                    None,
                    format!(
                        "attributes[{i}].anchors: {} anchors; write exactly five, for scores 1..5",
                        attribute.anchors.len()
                    ),
                );
            }
        }
        if self.attributes.is_empty() {
            errors.add(path, None, "attributes: none defined");
        }
        errors.into_result(self)
    }

    /// Ids that are empty or hold whitespace (they key ratings, files and table columns).
    fn id_problems(&self) -> Vec<String> {
        let rubric = std::iter::once(("id".to_owned(), self.id.as_str()));
        let groups = self.groups.iter().enumerate().map(|(i, g)| (format!("groups[{i}].id"), g.id.as_str()));
        let attributes = self.attributes.iter().enumerate().map(|(i, a)| (format!("attributes[{i}].id"), a.id.as_str()));
        rubric
            .chain(groups)
            .chain(attributes)
            .filter(|(_, id)| !plain_id(id))
            .map(|(field, id)| format!("{field}: `{id}` must be non-empty without spaces"))
            .collect()
    }

    /// Groups no attribute joins (their composite would be empty) and short names two groups
    /// share (their composites could not be told apart).
    fn group_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut shorts = BTreeSet::new();
        for (i, group) in self.groups.iter().enumerate() {
            if self.attributes_in(&group.id).next().is_none() {
                problems.push(format!("groups[{i}]: group `{}` has no attributes; give it some or remove it", group.id));
            }
            if group.short.trim().is_empty() {
                problems.push(format!("groups[{i}].short: empty; name the composite (`CSS`)"));
            } else if !shorts.insert(group.short.trim()) {
                problems.push(format!("groups[{i}].short: `{}` is already the short name of another group", group.short));
            }
        }
        problems
    }

    /// The attribute with id `id`.
    pub fn attribute(&self, id: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.id == id)
    }

    /// Attributes belonging to group `group_id`, in rubric order.
    pub fn attributes_in<'a>(&'a self, group_id: &'a str) -> impl Iterator<Item = &'a Attribute> {
        self.attributes.iter().filter(move |a| a.group == group_id)
    }

    /// Attribute ids in rubric order.
    pub fn attribute_ids(&self) -> Vec<&str> {
        self.attributes.iter().map(|a| a.id.as_str()).collect()
    }
}

/// Whether `id` is non-empty and holds no whitespace.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_groups_spaced_ids_and_shared_short_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        let group = |id: &str, short: &str| format!("[[groups]]\nid = \"{id}\"\nname = \"N\"\nshort = \"{short}\"\ndescription = \"d\"\n");
        let anchors = r#"anchors = ["1", "2", "3", "4", "5"]"#;
        let text = format!(
            "id = \"x\"\nversion = \"1\"\ntitle = \"t\"\n{}{}{}[[attributes]]\nid = \"a b\"\nname = \"A\"\ngroup = \"g\"\ndefinition = \"d\"\n{anchors}\n[[attributes]]\nid = \"\"\nname = \"B\"\ngroup = \"h\"\ndefinition = \"d\"\n{anchors}\n",
            group("g", "CS"),
            group("h", "CS"),
            group("empty", "E"),
        );
        std::fs::write(&path, text).unwrap();
        let err = Rubric::load(&path).unwrap_err().to_string();
        assert!(err.contains("attributes[0].id: `a b` must be non-empty without spaces"), "{err}");
        assert!(err.contains("attributes[1].id: `` must be non-empty without spaces"), "{err}");
        assert!(err.contains("groups[1].short: `CS` is already the short name of another group"), "{err}");
        assert!(err.contains("groups[2]: group `empty` has no attributes"), "{err}");
    }

    #[test]
    fn shipped_rubric_has_six_attributes_in_two_groups() {
        let rubric = Rubric::load(Path::new(DEFAULT_RUBRIC)).unwrap();
        let ids: Vec<_> = rubric.attributes_in("cognitive").map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["guidance", "informativeness", "safety"]);
        let ids: Vec<_> = rubric.attributes_in("affective").map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["empathy", "helpfulness", "interpretation"]);
    }

    #[test]
    fn rejects_unknown_group_and_missing_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(
            &path,
            r#"id = "x"
version = "1"
title = "t"
[[groups]]
id = "g"
name = "G"
short = "G"
description = "d"
[[attributes]]
id = "a"
name = "A"
group = "nope"
definition = "d"
anchors = ["1", "2", "3", "4"]
"#,
        )
        .unwrap();
        let err = Rubric::load(&path).unwrap_err().to_string();
        assert!(err.contains("attributes[0].group: unknown group `nope`"), "{err}");
        assert!(err.contains("attributes[0].anchors: 4 anchors"), "{err}");
    }
}
