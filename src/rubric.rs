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

#[cfg(test)]
mod tests {
    use super::*;

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
