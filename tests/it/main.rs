//! End-to-end tests: the gateway in front of the Entra ID and Graph simulators, over HTTP.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

mod admin_cli;
mod browser;
mod cli;
mod credentials;
mod ews;
mod graph_frontend;
mod obo;
mod passthrough;
mod policy;
mod rate_limits;
mod replicas;
mod rest;
mod support;
mod token_validation;
