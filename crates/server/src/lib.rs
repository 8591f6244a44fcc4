//! Periscope server internals (wired by the `periscope` binary).
pub mod bus;
pub mod config;
pub mod decode;
pub mod metrics;
