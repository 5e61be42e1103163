//! The `naa-sim` binary: simulated Entra ID and Graph as a standalone service.
//!
//! Usage: `naa-sim [--entra-listen ADDR] [--graph-listen ADDR]` (defaults `127.0.0.1:0`).
//! Prints one JSON line `{"entra": URL, "graph": URL, "tenant_id": …}` when ready.

use std::net::SocketAddr;

use naa_sim::seed::SeedTenant;

fn arg(args: &[String], name: &str) -> Result<SocketAddr, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 0))),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs an address"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("naa-sim [--entra-listen ADDR] [--graph-listen ADDR]");
        return std::process::ExitCode::SUCCESS;
    }
    let (entra, graph) = match (arg(&args, "--entra-listen"), arg(&args, "--graph-listen")) {
        (Ok(e), Ok(g)) => (e, g),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let seed = SeedTenant::contoso();
    let sims = match naa_sim::sandbox::start_on(seed, entra, graph).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start simulators: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let line = serde_json::json!({
        "entra": sims.entra.url(),
        "graph": sims.graph.url(),
        "tenant_id": sims.seed.tenant_id,
        "client_id": sims.seed.gateway_client_id,
        "users": sims.seed.users.iter().map(|u| u.upn.clone()).collect::<Vec<_>>(),
    });
    println!("{line}");
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
