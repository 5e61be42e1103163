//! The command line: `serve`, `sandbox`, `check`, `ids inspect`, `healthcheck`, and the admin
//! tools `policy check|test`, `app-registration`, `manifest upgrade`, `token explain`, `doctor`.
//!
//! Only this module and `main.rs` use `anyhow`; each subcommand maps to one library call.

pub mod app_registration;
pub mod doctor;
pub mod manifest;
pub mod policy;
pub mod token;

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
    /// Cedar authorization policies.
    Policy {
        /// Policy subcommand.
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the Entra ID app registration(s), `az` commands, admin-consent URL and `[entra]` block.
    AppRegistration(Box<AppRegistrationArgs>),
    /// Add-in manifest tools.
    Manifest {
        /// Manifest subcommand.
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// Token tools.
    Token {
        /// Token subcommand.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check configuration, policies, Entra ID and (with --token) the OBO exchange and Graph.
    Doctor {
        /// Configuration file.
        #[arg(long, default_value = "naa-gateway.toml")]
        config: PathBuf,
        /// A user's NAA access token, to also try the on-behalf-of exchange and a Graph read.
        #[arg(long)]
        token: Option<String>,
    },
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate DIR (and DIR/examples/*) against the schema; every error with file and line.
    Check {
        /// Directory with `*.cedar` files (and optionally `schema.cedarschema`).
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
    /// Run the decision tables DIR/tests/*.toml (and those of DIR/examples/*).
    Test {
        /// Directory with `*.cedar` files and `tests/*.toml`.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
}

/// `app-registration` options.
#[derive(Debug, clap::Args)]
pub struct AppRegistrationArgs {
    /// Public URL of the gateway.
    #[arg(long)]
    pub gateway_url: url::Url,
    /// Origin the add-in is served from (scheme, host, port; no path).
    #[arg(long)]
    pub addin_origin: url::Url,
    /// Display name of the registration.
    #[arg(long, default_value = "naa-gateway")]
    pub name: String,
    /// Register the add-in and the gateway API separately.
    #[arg(long)]
    pub separate_api: bool,
    /// Policy directory deciding Mail.Read vs Mail.ReadWrite (default: the built-in policy).
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// Application id of an existing (gateway) registration, filled in instead of a placeholder.
    #[arg(long)]
    pub app_id: Option<String>,
    /// Application id of an existing add-in registration (with --separate-api).
    #[arg(long)]
    pub addin_app_id: Option<String>,
    /// Id of the exposed scope (keep it when re-running for an existing registration).
    #[arg(long)]
    pub scope_id: Option<uuid::Uuid>,
    /// Tenant of the admin-consent URL.
    #[arg(long, default_value = "organizations")]
    pub tenant: String,
    /// Entra ID authority.
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    pub authority: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `manifest` subcommands.
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Make a legacy XML manifest ready for NAA; prints what changed and why.
    Upgrade {
        /// The legacy manifest.
        input: PathBuf,
        /// Where to write the upgraded manifest (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The gateway's application (client) id, for WebApplicationInfo.
        #[arg(long)]
        client_id: uuid::Uuid,
        /// Policy directory deciding ReadItem vs ReadWriteItem (default: the built-in policy).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Decode a token (never its signature) and say whether the gateway would accept it, and why not.
    Explain {
        /// The JWT (a leading `Bearer ` is ignored).
        jwt: String,
        /// Gateway configuration to judge it against (audience, tenants, scope, keys).
        #[arg(long)]
        config: Option<PathBuf>,
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
        Command::Policy { command } => {
            return match command {
                PolicyCommand::Check { dir } => policy::check(&dir),
                PolicyCommand::Test { dir } => policy::test(&dir),
            };
        }
        Command::AppRegistration(args) => return app_registration(&args),
        Command::Manifest {
            command:
                ManifestCommand::Upgrade {
                    input,
                    output,
                    client_id,
                    policies,
                },
        } => return manifest_upgrade(&input, output.as_deref(), client_id, policies.as_deref()),
        Command::Token {
            command: TokenCommand::Explain { jwt, config },
        } => return token::run(&jwt, config.as_deref()).await,
        Command::Doctor { config, token } => return doctor::run(&config, token.as_deref()).await,
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

/// Whether the policies in `dir` (or the built-in ones) can permit a write; exit code on error.
fn policies_may_write(dir: Option<&std::path::Path>) -> Result<bool, ExitCode> {
    crate::policy::check(dir).map(|s| s.may_write).map_err(|problems| {
        for p in problems {
            eprintln!("error: {p}");
        }
        ExitCode::from(policy::EXIT_POLICY)
    })
}

fn app_registration(args: &AppRegistrationArgs) -> ExitCode {
    let may_write = match policies_may_write(args.policies.as_deref()) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let request = app_registration::Request {
        gateway_url: args.gateway_url.clone(),
        addin_origin: args.addin_origin.clone(),
        name: args.name.clone(),
        separate_api: args.separate_api,
        may_write,
        app_id: args.app_id.clone(),
        addin_app_id: args.addin_app_id.clone(),
        tenant: args.tenant.clone(),
        authority: args.authority.clone(),
        scope_id: args.scope_id.unwrap_or_else(uuid::Uuid::new_v4).to_string(),
    };
    match app_registration::build(&request) {
        Ok(out) if args.json => {
            println!("{:#}", out.json);
            ExitCode::SUCCESS
        }
        Ok(out) => {
            print!("{}", app_registration::render_text(&request, &out));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn manifest_upgrade(
    input: &std::path::Path,
    output: Option<&std::path::Path>,
    client_id: uuid::Uuid,
    policies: Option<&std::path::Path>,
) -> ExitCode {
    let may_write = match policies_may_write(policies) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let result = std::fs::read_to_string(input)
        .map_err(|e| format!("{}: {e}", input.display()))
        .and_then(|xml| {
            manifest::upgrade(
                &xml,
                &manifest::Upgrade {
                    client_id: client_id.to_string(),
                    may_write,
                },
            )
            .map_err(|e| format!("{}: {e}", input.display()))
        });
    let upgraded = match result {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let written = match output {
        Some(path) => std::fs::write(path, &upgraded.xml).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            print!("{}", upgraded.xml);
            Ok(())
        }
    };
    for change in &upgraded.changes {
        eprintln!("{change}");
    }
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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

#[cfg(test)]
mod tests;
