//! kradle's runtime: forge executors and the Postgres-side loops.
//!
//! Not built yet: the runtime issues (apply, serve) add the forge clients, the
//! store and the loops here. It depends on the compiler, never the reverse.

pub use kradle_compiler as compiler;
