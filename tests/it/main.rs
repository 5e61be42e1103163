//! End-to-end tests: the gateway in front of the Entra ID and Graph simulators, over HTTP.

mod cli;
mod credentials;
mod obo;
mod passthrough;
mod support;
mod token_validation;
