//! The HTTP side: the listener with its connection limits and the admin API (an
//! adapter over [`crate::service`]). The ingest endpoints are in
//! [`crate::ingest`], the error answer in [`crate::error`].

pub(crate) mod admin;
pub(crate) mod connections;
