//! mhbench's integration tests: one binary, one module per command or record family.

mod common;
mod engine_tokenizer;
mod models;
mod schema;
