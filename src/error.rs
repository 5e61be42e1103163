//! Who is at fault for a failure: the caller, an upstream (Entra ID, Graph), or the gateway.
//!
//! No HTTP types here; each front end maps errors to its own wire format once.

/// Where a failure originates, which decides its status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller's fault (bad token, bad id, denied): 4xx.
    Downstream,
    /// Entra ID or Graph failed or refused: 5xx (502/503/504).
    Upstream,
    /// The gateway's own fault: 500.
    Internal,
}
