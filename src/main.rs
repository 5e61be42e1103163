//! The `naa-gateway` binary: parses the command line and hands over to [`naa_gateway::cli`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    naa_gateway::cli::run(naa_gateway::cli::Cli::parse()).await
}
