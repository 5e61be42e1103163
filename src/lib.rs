//! naa-gateway: Nested App Authentication tokens in, Microsoft Graph on-behalf-of out.
//!
//! Module map (dependencies point down only):
//! - [`frontend`]: wire protocols the legacy clients speak, translated to Graph calls.
//! - [`auth`]: who is calling (inbound token validation, per-tenant signing keys).
//! - [`obo`]: turns a caller into a Graph token (on-behalf-of exchange, cache).
//! - [`graph`]: the only Graph HTTP client (per-mailbox concurrency, retries).
//! - [`policy`]: whether a caller may do an action to a message or attachment (Cedar, pure).
//! - [`limits`]: optional per-user and per-tenant request rate limits.
//! - [`ids`]: Exchange item and attachment ids (EWS and REST forms).
//! - [`idp`]: the only Entra ID HTTP client (token endpoint, client credentials).
//! - [`config`], [`error`], [`telemetry`]: shared foundations.
//! - [`app`], [`state`], [`cli`], [`admin`]: wiring, start-up, the command line, the admin listener.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod frontend;
pub mod graph;
pub mod http;
pub mod idp;
pub mod ids;
pub mod limits;
pub mod obo;
pub mod policy;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod state;
pub mod telemetry;
