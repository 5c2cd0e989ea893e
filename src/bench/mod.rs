//! bench: throughput and memory of the local engine.

pub mod env;
pub mod memory;
pub mod record;
pub mod stats;
