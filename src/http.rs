//! The one outbound HTTP client (rustls with ring, no redirects, explicit timeouts).

use std::time::Duration;

/// Installs the process-wide rustls crypto provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the shared client used by `idp` and `graph`.
pub fn client(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("naa-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
}
