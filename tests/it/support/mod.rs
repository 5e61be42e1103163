//! `spawn_app`: simulators and a gateway on `127.0.0.1:0`, plus one helper per endpoint.

pub mod python;

use std::{net::SocketAddr, sync::LazyLock, time::Duration};

use naa_gateway::{app::Application, config::Config, sandbox::SandboxCredential, state::AppState};
use naa_sim::{sandbox::Sims, seed::SeedTenant};
use serde_json::{Value, json};

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        naa_gateway::telemetry::init(naa_gateway::telemetry::LogFormat::Text);
    }
});

/// How to start a gateway for one test.
pub struct Options {
    pub credential: SandboxCredential,
    /// Configuration values layered over the sandbox configuration.
    pub overrides: Value,
    /// Start the gateway without waiting for signing keys (Entra may be down on purpose).
    pub entra_down_at_start: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            credential: SandboxCredential::Secret,
            overrides: json!({}),
            entra_down_at_start: false,
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub sims: Sims,
    pub state: AppState,
    pub http: reqwest::Client,
    _dir: TempDir,
    _server: tokio::task::JoinHandle<()>,
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    LazyLock::force(&TRACING);
    let sims = naa_sim::sandbox::start(SeedTenant::contoso())
        .await
        .expect("simulators start");
    spawn_gateway(sims, options).await
}

/// A gateway in front of already running simulators (several gateways may share them).
pub async fn spawn_gateway(sims: Sims, options: Options) -> TestApp {
    let dir = TempDir(std::env::temp_dir().join(format!("naa-it-{}", uuid::Uuid::new_v4())));
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let figment = naa_gateway::sandbox::sandbox_figment(&sims, listen, options.credential, &dir.0)
        .unwrap()
        .merge(figment::providers::Serialized::defaults(options.overrides));
    let config = Config::from_figment(figment).unwrap_or_else(|e| panic!("{e}"));
    if options.entra_down_at_start {
        sims.entra.set_available(false);
    }
    let app = Application::build(config).await.expect("gateway builds");
    let url = format!("http://{}", app.local_addr().unwrap());
    let state = app.state().clone();
    let server = tokio::spawn(async move {
        let _ = app.run_until_stopped(std::future::pending()).await;
    });
    naa_gateway::http::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let test_app = TestApp {
        url,
        sims,
        state,
        http,
        _dir: dir,
        _server: server,
    };
    test_app.wait_until_listening().await;
    test_app
}

impl TestApp {
    async fn wait_until_listening(&self) {
        for _ in 0..200 {
            if self.http.get(format!("{}/healthz", self.url)).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gateway did not start listening");
    }

    pub fn seed(&self) -> &SeedTenant {
        &self.sims.seed
    }

    pub fn alice(&self) -> &str {
        &self.sims.seed.users[0].upn
    }

    pub fn bob(&self) -> &str {
        &self.sims.seed.users[1].upn
    }

    /// A token minted by the simulated Entra ID (`POST /sandbox/token`).
    pub async fn token(&self, request: Value) -> String {
        let res = self
            .http
            .post(format!("{}/sandbox/token", self.sims.entra.url()))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "minting {request}: {}",
            res.text().await.unwrap_or_default()
        );
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A default NAA token (v2, `access_as_user`) for `upn`.
    pub async fn token_for(&self, upn: &str) -> String {
        self.token(json!({ "user": upn })).await
    }

    /// The seeded messages of `upn` (sandbox endpoint of the Graph simulator).
    pub fn messages(&self, upn: &str) -> Vec<Value> {
        self.sims.graph.messages(upn)
    }

    /// The first seeded message of `upn` with a file attachment: (message rest id, attachment json).
    pub fn message_with_file(&self, upn: &str) -> (String, Value) {
        self.messages(upn)
            .into_iter()
            .find_map(|m| {
                let att = m["attachments"]
                    .as_array()?
                    .iter()
                    .find(|a| a["kind"] == "file")?
                    .clone();
                Some((m["rest_id"].as_str()?.to_string(), att))
            })
            .expect("a seeded message with a file attachment")
    }

    /// The first seeded attachment of `upn` larger than `bytes`: (message rest id, attachment json).
    pub fn attachment_larger_than(&self, upn: &str, bytes: u64) -> (String, Value) {
        self.messages(upn)
            .into_iter()
            .find_map(|m| {
                let att = m["attachments"]
                    .as_array()?
                    .iter()
                    .find(|a| a["size"].as_u64() > Some(bytes))?
                    .clone();
                Some((m["rest_id"].as_str()?.to_string(), att))
            })
            .unwrap_or_else(|| panic!("a seeded attachment of {upn} larger than {bytes} bytes"))
    }

    pub fn first_message(&self, upn: &str) -> Value {
        self.messages(upn).into_iter().next().expect("seeded messages")
    }

    /// `GET /v1.0/me/messages/{id}{query}` through the gateway.
    pub async fn get_message(&self, token: &str, id: &str, query: &str) -> reqwest::Response {
        self.get(token, &format!("/v1.0/me/messages/{id}{query}")).await
    }

    /// `GET /v1.0/me/messages/{id}/attachments/{att}/$value` through the gateway.
    pub async fn get_attachment_value(&self, token: &str, id: &str, att: &str) -> reqwest::Response {
        self.get(token, &format!("/v1.0/me/messages/{id}/attachments/{att}/$value"))
            .await
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub fn entra_stats(&self) -> Value {
        self.sims.entra.stats()
    }

    pub fn graph_stats(&self) -> Value {
        self.sims.graph.stats()
    }

    pub fn obo_exchanges(&self) -> u64 {
        self.entra_stats()["exchanges"]["obo"].as_u64().unwrap_or(0)
    }
}

/// The `WWW-Authenticate` header of a response, or "".
pub fn www_authenticate(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
