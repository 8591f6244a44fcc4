//! The parts of the ingest pipeline that the shared state holds: the bounded bus
//! and its digest writer, the key cache, the quotas, the health flags of the
//! writer and the database, and the body decoders. The endpoints that drive them
//! are in [`crate::ingest`].

pub(crate) mod bus;
pub(crate) mod csp;
pub(crate) mod decode;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod quotas;
