//! Ingest benchmark (wip).
fn main() {}
