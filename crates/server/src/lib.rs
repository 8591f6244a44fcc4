//! Periscope server internals, wired by the `periscope` binary.
//!
//! The server is deliberately thin: the protocol, grouping, quotas, storage and
//! notification live in their own crates; this crate wires them together. Its
//! folders show the architecture:
//!
//! - [`service`] — the application layer: every operation the doors offer, with
//!   its rules, typed errors and the shapes records are shown in;
//! - `http` — the listener and the admin API (an adapter over the service);
//! - [`cli`] — the command line (an adapter over the service) and the load
//!   generator;
//! - `ingest` — the ingest endpoints: credentials, body, decode, parse, quota,
//!   group, and the wait for the commit;
//! - `pipeline` — what they drive: the bounded bus and its digest writer, the
//!   key cache, quotas, health flags, decoders;
//! - `workers` — the notifier and periodic maintenance;
//! - [`state`] — the state they share; [`app`] — the wiring: router and
//!   `periscope serve`.
//!
//! The module graph has no cycle (checked by `tests/layers.rs`), in layers from
//! the bottom: `text`, `redact`, `metrics` → [`config`] → [`service`] →
//! `error`, `throttle`, `pipeline` → [`state`] → `ingest`, `http`,
//! `workers` → [`app`] → [`cli`].
//!
//! Only what the binary and the in-process tests need is public: [`cli`] (the
//! commands), [`app`] (router, state building, `serve`), [`config`], [`state`]
//! and [`service`]; the rest is private to the crate, so unused code shows up as
//! a warning.

pub mod app;
pub mod cli;
pub mod config;
mod error;
mod http;
mod ingest;
mod metrics;
mod pipeline;
mod redact;
pub mod service;
pub mod state;
mod text;
mod throttle;
mod ui;
mod workers;
