use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    slipway::memory::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SLIPWAY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // Reporting a failed log write goes through eprintln!, which panics when stderr is a
        // closed pipe: a supervisor losing the log must never take requests down with it.
        .log_internal_errors(false)
        .init();
    let cli = slipway::cli::Cli::parse();
    match slipway::cli::run(cli).await {
        Ok(status) => status,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
