//! mhbench's integration tests: one binary, one module per command or record family.

mod common;
mod models;
mod schema;
mod rate;
mod rate_browser;
