//! mhbench's integration tests: one binary, one module per command or record family.

mod api;
mod bench;
mod common;
mod curate;
mod analyze;
mod engine_tokenizer;
mod generate;
mod judge;
mod mentalalign;
mod models;
mod schema;
mod rate;
mod rate_browser;
mod rate_study;
mod report;
mod report_stats;
mod synthetic;
