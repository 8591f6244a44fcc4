//! The `periscope` binary: see `periscope --help`.

use clap::Parser;

// The ingest path allocates many short-lived buffers on several threads (request
// bodies, parsed events, batches); mimalloc handles that pattern with far less
// contention and fragmentation than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = periscope_server::cli::Cli::parse();
    match periscope_server::cli::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("periscope: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
