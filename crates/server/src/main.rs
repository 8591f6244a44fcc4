//! The `periscope` binary: see `periscope --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = periscope_server::cli::Cli::parse();
    match periscope_server::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("periscope: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
