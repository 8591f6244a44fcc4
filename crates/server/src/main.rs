//! The `periscope` binary.
fn main() {}
