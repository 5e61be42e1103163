//! The command line: `serve`, `sandbox`, `check`, `ids inspect`, `healthcheck`.
//!
//! Only this module and `main.rs` use `anyhow`; each subcommand maps to one library call.

#[cfg(feature = "sandbox")]
use std::net::SocketAddr;
use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{app::Application, config::Config, telemetry::LogFormat};

/// Exit code for an invalid configuration (`EX_USAGE`).
pub const EXIT_CONFIG: u8 = 64;

/// naa-gateway: keeps legacy Outlook add-in backends working with NAA tokens and Microsoft Graph.
#[derive(Debug, Parser)]
#[command(name = "naa-gateway", version, about)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway with a configuration file (and `NAA__…` environment overrides).
    Serve {
        /// Configuration file.
        #[arg(long, default_value = "naa-gateway.toml")]
        config: PathBuf,
    },
    /// Run the gateway in front of simulated Entra ID and Graph; needs no configuration.
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// Address of the gateway listener (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Client credential the gateway uses towards the simulated Entra ID.
        #[arg(long, value_enum, default_value = "secret")]
        credential: crate::sandbox::SandboxCredential,
    },
    /// Validate a configuration file and list every problem; exit 64 if there is any.
    Check {
        /// Configuration file.
        #[arg(long, default_value = "naa-gateway.toml")]
        config: PathBuf,
    },
    /// Exchange id tools.
    Ids {
        /// Id subcommand.
        #[command(subcommand)]
        command: IdsCommand,
    },
    /// Probe a running gateway's `/healthz` (for container health checks); exit 1 if unhealthy.
    Healthcheck {
        /// Base URL of the gateway.
        #[arg(default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

/// `ids` subcommands.
#[derive(Debug, Subcommand)]
pub enum IdsCommand {
    /// Decode an EWS or REST item/attachment id and print it as JSON.
    Inspect {
        /// The id (EWS or REST form).
        id: String,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init(cli.log_format);
    let command = cli.command.unwrap_or(Command::Serve {
        config: PathBuf::from("naa-gateway.toml"),
    });
    let result = match command {
        Command::Serve { config } => serve(config).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox { listen, credential } => crate::sandbox::run(listen, credential).await,
        Command::Check { config } => return check(&config),
        Command::Ids {
            command: IdsCommand::Inspect { id },
        } => return inspect(&id),
        Command::Healthcheck { url } => healthcheck(&url).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: PathBuf) -> anyhow::Result<ExitCode> {
    let config = match Config::load(Some(&path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr()?, "naa-gateway listening");
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load(Some(path)) {
        Ok(_) => {
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn inspect(id: &str) -> ExitCode {
    match crate::ids::inspect(id) {
        Ok(json) => {
            println!("{json:#}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: invalid id: {e}");
            ExitCode::from(2)
        }
    }
}

async fn healthcheck(url: &str) -> anyhow::Result<ExitCode> {
    let client = crate::http::client(std::time::Duration::from_secs(2))?;
    let res = client
        .get(format!("{}/healthz", url.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    Ok(match res {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("unhealthy: {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    })
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
