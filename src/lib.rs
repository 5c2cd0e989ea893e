//! mhbench: measure how well, and how fast, large language models support people in
//! mental-health conversations.
//!
//! The crate follows the method of Badawi et al. (2026): curate counselling conversations,
//! generate replies with local and API models into one response schema, rate them blinded by
//! two experts (and by LLM judges) on six attributes, and analyse agreement, per-model scores and
//! the cognitive-affective gap. One module per stage; data flows one way through the records in
//! [`schema`]: `dataset → runner (engine | api) → responses → rating | judge → analysis → report`.
//! Past `generate`, every stage reaches a run folder through [`run::Run`], which owns its paths
//! and is the one validated reader of its conversations, responses and ratings.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod analysis;
pub mod api;
pub mod cli;
pub mod bench;
pub mod dataset;
pub mod engine;
pub mod files;
pub mod hub;
pub mod judge;
pub mod rating;
pub mod registry;
pub mod report;
pub mod rubric;
pub mod run;
pub mod runner;
pub mod schema;
