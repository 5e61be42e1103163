//! Starts both simulators for one seeded tenant, wired together (Graph trusts this Entra).

use std::net::SocketAddr;

use crate::{entra::EntraSim, graph::GraphSim, seed::SeedTenant};

/// A running pair of simulators.
#[derive(Clone)]
pub struct Sims {
    /// Simulated Entra ID.
    pub entra: EntraSim,
    /// Simulated Graph, trusting `entra`'s tokens.
    pub graph: GraphSim,
    /// The seeded tenant both serve.
    pub seed: SeedTenant,
}

/// Starts both simulators on free loopback ports.
pub async fn start(seed: SeedTenant) -> std::io::Result<Sims> {
    let entra = EntraSim::start(seed.clone()).await?;
    let graph = GraphSim::start(seed.clone(), entra.verifier()).await?;
    Ok(Sims { entra, graph, seed })
}

/// Starts both simulators on the given addresses (port 0 picks a free port).
pub async fn start_on(seed: SeedTenant, entra_addr: SocketAddr, graph_addr: SocketAddr) -> std::io::Result<Sims> {
    let entra = EntraSim::start_on(seed.clone(), tokio::net::TcpListener::bind(entra_addr).await?).await?;
    let graph_listener = tokio::net::TcpListener::bind(graph_addr).await?;
    let graph = GraphSim::start_on(seed.clone(), entra.verifier(), graph_listener).await?;
    Ok(Sims { entra, graph, seed })
}
