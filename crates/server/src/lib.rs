//! Periscope server internals, wired by the `periscope` binary.
//!
//! The server is deliberately thin: the protocol, grouping, quotas, storage and
//! notification live in their own crates; this crate wires them into an HTTP server
//! (axum), an ingest pipeline (handlers → bounded bus → one digest writer), a
//! notifier task and a command line.

pub mod admin;
pub mod alerts;
pub mod app;
pub mod bus;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connections;
pub mod csp;
pub mod decode;
pub mod error;
pub mod health;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod quotas;
pub mod redact;
pub mod service;
pub mod stress;
pub mod throttle;
