//! Background workers: the alert notifier and periodic maintenance (quota
//! usage, retention, key version). The database probe is in
//! [`crate::pipeline::health`].

pub(crate) mod maintenance;
pub(crate) mod notifier;
