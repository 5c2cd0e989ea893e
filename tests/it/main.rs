//! mhbench's integration tests: one binary, one module per command or record family.

mod common;
mod curate;
mod models;
mod schema;
