//! The server's integration and end-to-end tests, one module per subject.
//!
//! They are one test binary, not one per file: every binary links the whole
//! server and its dependencies, and with two dozen subjects the linking took
//! most of CI's test build. `cargo test -p periscope-server --test e2e <module>::`
//! runs one subject (e.g. `ui_browser::`).

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod common;

mod admin_api;
mod admin_router;
mod alerts_e2e;
mod body_budget;
mod db_failure;
mod doors;
mod e2e_bad_input;
mod e2e_corpus;
mod e2e_load;
mod e2e_python;
mod e2e_sdk;
mod event_views;
mod grouping;
mod installation_status;
mod keys_e2e;
mod layers;
mod self_report;
mod stability;
mod test_sends;
mod ui_admin;
mod ui_browser;
mod ui_grouping;
mod ui_pages;
mod ui_users;
mod users_api;
