//! kradle's runtime: everything async. The compiler stays pure; this crate
//! carries out what it compiled.
//!
//! - [`store`]: PostgreSQL (the only module that uses sqlx): migrations, the
//!   forge journal (write intents, object links) and the per-org apply lock.
//! - [`forge`]: the forges' REST APIs, with retries, rate limits and
//!   pagination.
//! - [`secrets`]: secret values, which never reach a log, an error, the
//!   database or an output.
//!
//! It depends on the compiler, never the reverse (`tests/layering.rs`).

pub mod agent;
pub mod apply;
pub mod cluster;
pub mod dispatch;
pub mod forge;
pub mod import;
pub mod loops;
pub mod names;
pub mod secrets;
pub mod serve;
pub mod server;
pub mod store;
pub mod sync;
mod text_enum;
pub mod writeback;

pub use kradle_compiler as compiler;
