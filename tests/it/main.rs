//! End-to-end tests: the gateway in front of the Entra ID and Graph simulators, over HTTP.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod credentials;
mod obo;
mod passthrough;
mod support;
mod token_validation;
