//! mhbench's integration tests: one binary, one module per command or record family.

mod common;
mod curate;
mod analyze;
mod models;
mod schema;
