//! Three gateway processes sharing one Redis in front of the simulators: the topology of
//! `docker-compose.yml`, started directly.

#[path = "replicas_bench.rs"]
mod bench;
#[path = "redis_server.rs"]
mod redis_server;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use futures::future::join_all;
use naa_sim::{sandbox::Sims, seed::SeedTenant};
use redis_server::{RedisServer, free_port};
use serde_json::{Value, json};

/// A gateway process (`naa-gateway serve --config …`); killed on drop.
struct Gateway {
    child: Child,
    url: String,
    admin: String,
    dir: PathBuf,
}

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

impl Gateway {
    /// Starts a replica using `redis` with encryption `keys` (first encrypts) and waits until ready.
    async fn start(sims: &Sims, redis_url: &str, keys: &[String], http: &reqwest::Client) -> Gateway {
        let keys: Vec<String> = keys.iter().map(|k| format!("{{ value = \"{k}\" }}")).collect();
        let cache = format!(
            r#"
[cache.redis]
url = "{redis_url}"
encryption_keys = [{keys}]
breaker_open_secs = 1
fallback_concurrency_per_mailbox = 1
# Generous for a loaded test machine: a slow answer must not trip the breaker mid-burst
# (a killed Redis refuses connections at once, which is what the test exercises).
timeout_ms = 1000
"#,
            keys = keys.join(", ")
        );
        Self::start_with(sims, 4, &cache, http).await
    }

    /// Starts a replica with a Graph cap per mailbox and `extra` configuration (e.g. a
    /// `[cache.redis]` section).
    async fn start_with(sims: &Sims, graph_cap: usize, extra: &str, http: &reqwest::Client) -> Gateway {
        let (port, admin_port) = (free_port(), free_port());
        let seed = &sims.seed;
        let config = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
shutdown_grace_secs = 1

[entra]
authority = "{authority}"
client_id = "{client_id}"
audiences = ["{app_id_uri}"]
allowed_tenants = ["{tenant}"]
credential = {{ kind = "secret", secret = {{ value = "{secret}" }} }}

[graph]
base_url = "{graph}/v1.0"
max_concurrency_per_mailbox = {graph_cap}

[admin]
listen = "127.0.0.1:{admin_port}"
{extra}
"#,
            authority = sims.entra.url(),
            client_id = seed.gateway_client_id,
            app_id_uri = seed.gateway_app_id_uri,
            tenant = seed.tenant_id,
            secret = seed.gateway_client_secret,
            graph = sims.graph.url(),
        );
        let dir = std::env::temp_dir().join(format!("naa-replica-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("naa-gateway.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_naa-gateway"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the gateway binary starts");
        let gateway = Gateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            dir,
        };
        gateway.wait_ready(http).await;
        gateway
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        for _ in 0..500 {
            if let Ok(res) = http.get(format!("{}/readyz", self.url)).send().await
                && res.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gateway {} not ready; log:\n{}", self.url, self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    async fn metrics(&self, http: &reqwest::Client) -> String {
        http.get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Topology {
    sims: Sims,
    redis: tokio::sync::Mutex<RedisServer>,
    replicas: Vec<Gateway>,
    http: reqwest::Client,
}

impl Topology {
    async fn start(n: usize) -> Topology {
        naa_gateway::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(512)
            .build()
            .unwrap();
        let sims = naa_sim::sandbox::start(SeedTenant::contoso()).await.unwrap();
        let redis = RedisServer::start().await;
        let mut replicas = Vec::new();
        for _ in 0..n {
            replicas.push(Gateway::start(&sims, &redis.url(), &[key(1)], &http).await);
        }
        Topology {
            sims,
            redis: tokio::sync::Mutex::new(redis),
            replicas,
            http,
        }
    }

    fn upn(&self, i: usize) -> String {
        self.sims.seed.users[i].upn.clone()
    }

    /// A fresh NAA token for `upn` (a new cache key every time).
    async fn token(&self, upn: &str) -> String {
        let res = self
            .http
            .post(format!("{}/sandbox/token", self.sims.entra.url()))
            .json(&json!({ "user": upn }))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    fn message_path(&self, upn: &str) -> String {
        let id = self.sims.graph.messages(upn)[0]["rest_id"]
            .as_str()
            .unwrap()
            .to_string();
        format!("/v1.0/me/messages/{id}?$select=subject")
    }

    /// `n` concurrent GETs of one message with `token`, spread round-robin over `gateways`;
    /// the statuses (0 for a transport error).
    async fn burst(&self, gateways: &[&Gateway], token: &str, path: &str, n: usize) -> Vec<u16> {
        let calls = (0..n).map(|i| {
            let url = format!("{}{path}", gateways[i % gateways.len()].url);
            let req = self.http.get(url).bearer_auth(token);
            async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
        });
        join_all(calls).await
    }

    fn exchanges(&self) -> u64 {
        self.sims.entra.stats()["exchanges"]["obo"].as_u64().unwrap_or(0)
    }

    fn all(&self) -> Vec<&Gateway> {
        self.replicas.iter().collect()
    }
}

fn assert_all_ok(statuses: &[u16], what: &str) {
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behave_like_one_gateway() {
    let t = Topology::start(3).await;
    t.sims.graph.set_latency(Duration::from_millis(20));
    let alice = t.upn(0);
    let path = t.message_path(&alice);

    // 300 concurrent first requests with one token over three replicas: one exchange, and
    // Graph never sees more than 4 concurrent calls for the mailbox (no 429 either).
    let token = t.token(&alice).await;
    let statuses = t.burst(&t.all(), &token, &path, 300).await;
    assert_all_ok(&statuses, "first burst");
    assert_eq!(t.exchanges(), 1, "replicas exchanged the same token separately");
    let stats = t.sims.graph.stats();
    let mailbox = &stats["by_mailbox"][alice.to_ascii_lowercase()];
    assert!(mailbox["peak_concurrency"].as_u64().unwrap() <= 4, "{mailbox}");
    assert_eq!(mailbox["throttled"], 0, "Graph throttled the mailbox: {mailbox}");
    let keys = t.redis.lock().await.keys().await;
    assert!(
        keys.iter().all(|k| !k.contains(&alice) && !k.contains(&token[..20])),
        "{keys:?}"
    );

    // Redis killed in the middle of a burst: no request fails.
    let bob = t.upn(1);
    let bob_path = t.message_path(&bob);
    let bob_token = t.token(&bob).await;
    let all = t.all();
    let burst = t.burst(&all, &bob_token, &bob_path, 150);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        t.redis.lock().await.stop();
    };
    let (statuses, ()) = tokio::join!(burst, kill);
    assert_all_ok(&statuses, "burst while Redis died");
    let more = t.burst(&t.all(), &t.token(&bob).await, &bob_path, 30).await;
    assert_all_ok(&more, "burst without Redis");
    let text = t.replicas[0].metrics(&t.http).await;
    assert!(text.contains("redis_errors_total{component=\"obo_cache\""), "{text}");

    // Redis back: sharing resumes by itself (each round uses a new token; a replica's breaker
    // may need one probe before it sends again).
    t.redis.lock().await.restart().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut resumed = false;
    for _ in 0..20 {
        let token = t.token(&alice).await;
        let before = t.exchanges();
        assert_all_ok(&t.burst(&[&t.replicas[0]], &token, &path, 1).await, "after restart");
        assert_all_ok(&t.burst(&t.all(), &token, &path, 6).await, "after restart");
        if t.exchanges() == before + 1 {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(resumed, "replicas never shared a token again after Redis came back");

    // Key rotation: a replica with [new, old] reads what the others wrote under the old key;
    // one that knows neither key treats the value as a miss and exchanges.
    let token = t.token(&alice).await;
    assert_all_ok(&t.burst(&[&t.replicas[1]], &token, &path, 1).await, "writer");
    let before = t.exchanges();
    let redis_url = t.redis.lock().await.url();
    let rotated = Gateway::start(&t.sims, &redis_url, &[key(2), key(1)], &t.http).await;
    assert_all_ok(&t.burst(&[&rotated], &token, &path, 1).await, "rotated reader");
    assert_eq!(
        t.exchanges(),
        before,
        "a value under the old key was not read after rotation"
    );
    let stranger = Gateway::start(&t.sims, &redis_url, &[key(3)], &t.http).await;
    assert_all_ok(&t.burst(&[&stranger], &token, &path, 1).await, "unknown-key reader");
    assert_eq!(t.exchanges(), before + 1, "a value under an unknown key must be a miss");
    let text = stranger.metrics(&t.http).await;
    assert!(text.contains("obo_l2_total{result=\"undecryptable\"}"), "{text}");
}
