//! The parts of the ingest pipeline that the shared state holds: the bounded bus
//! and its digest writer, the key cache, the quotas, the health flags of the
//! writer and the database, and the body decoders. The endpoints that drive them
//! are in [`crate::ingest`].

pub mod bus;
pub mod csp;
pub mod decode;
pub mod health;
pub mod keys;
pub mod quotas;
