//! The local inference engine: GGUF files, tokenizers, chat templates, candle models for the
//! study's open architectures, sampling and batched generation, and [`LocalGenerator`], which
//! joins them behind the shared `Generator` trait.
//!
//! It owns token ids and tensor math; it never writes result files (that is `runner`/`bench`).
//! Flow: messages → [`chat_template`] → [`tokenizer`] → [`generate::generate`] →
//! [`decoder::Model`] → [`sampler::Sampler`] → ids → text → [`reasoning`]. llama.cpp is the
//! reference every part is checked against.

pub mod chat_template;
pub mod decoder;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod host_attention;
pub mod kernels;
pub mod layers;
pub mod local;
pub mod models;
pub mod reasoning;
pub mod sampler;
pub mod process;
pub mod tokenizer;
pub mod weights;

pub use error::EngineError;
pub use local::LocalGenerator;
