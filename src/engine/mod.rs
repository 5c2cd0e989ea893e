//! The local inference engine: candle models for the study's open architectures, sampling and
//! batched generation. It owns tensor math and token ids; it never writes result files (that is
//! `runner`/`bench`) and never renders prompts (the tokenizer and chat-template modules do).
//! Flow: token ids → [`generate::generate`] → [`decoder::Model`] → [`sampler::Sampler`] → ids.

pub mod decoder;
pub mod error;
pub mod generate;
pub mod layers;
pub mod models;
pub mod sampler;
pub mod weights;

pub use error::EngineError;
