//! Periscope server internals (wired by the `periscope` binary).
pub mod decode;
