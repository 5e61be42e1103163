//! REST v2.0 `GET me/messages/{id}` throughput through the gateway (NAA token, validation,
#![allow(clippy::expect_used, missing_docs)]
//! OBO cache, policy, Graph call, camelCase→PascalCase translation) against the same message
//! read from the Graph simulator directly with a Graph token, in one run, as a ratio.
//! Both sides keep 4 requests in flight (Graph's per-mailbox concurrency limit).
//! Run: `cargo bench --bench rest_throughput`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use naa_gateway::{
    app::Application,
    config::Config,
    sandbox::{SandboxCredential, sandbox_figment},
};
use naa_sim::seed::SeedTenant;

/// Requests in flight on each side.
const IN_FLIGHT: usize = 4;
/// Length of the closed-loop throughput measurement of each side.
const WINDOW: Duration = Duration::from_secs(5);

struct Setup {
    http: reqwest::Client,
    gateway_url: String,
    graph_url: String,
    naa_token: String,
    graph_token: String,
}

fn setup(rt: &tokio::runtime::Runtime) -> Setup {
    let dir = std::env::temp_dir().join(format!("naa-bench-rest-{}", std::process::id()));
    rt.block_on(async {
        let sims = naa_sim::sandbox::start(SeedTenant::contoso())
            .await
            .expect("simulators");
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let figment = sandbox_figment(&sims, listen, SandboxCredential::Secret, &dir).expect("figment");
        let config = Config::from_figment(figment).expect("config");
        let app = Application::build(config).await.expect("gateway");
        let gateway = format!("http://{}", app.local_addr().expect("addr"));
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let mint = |request: serde_json::Value| {
            sims.entra
                .mint(serde_json::from_value(request).expect("request"))
                .expect("token")
                .access_token
        };
        let naa_token = mint(serde_json::json!({ "user": "alice@contoso.com" }));
        let graph_token = mint(serde_json::json!({
            "user": "alice@contoso.com", "audience": "https://graph.microsoft.com", "scope": "Mail.Read", "version": 1
        }));
        let id = sims.graph.messages("alice@contoso.com")[0]["rest_id"]
            .as_str()
            .expect("a seeded message")
            .to_owned();
        naa_gateway::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        let setup = Setup {
            http,
            gateway_url: format!("{gateway}/api/v2.0/me/messages/{id}"),
            graph_url: format!("{}/v1.0/me/messages/{id}", sims.graph.url()),
            naa_token,
            graph_token,
        };
        // Warm up: signing keys, the OBO cache and the connection pools.
        for _ in 0..20 {
            get(&setup.http, &setup.gateway_url, &setup.naa_token).await;
            get(&setup.http, &setup.graph_url, &setup.graph_token).await;
        }
        // Keep the simulators alive for the whole run.
        std::mem::forget(sims);
        setup
    })
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> usize {
    let res = http.get(url).bearer_auth(token).send().await.expect("answer");
    assert_eq!(res.status(), 200, "{url}");
    res.bytes().await.expect("body").len()
}

/// `IN_FLIGHT` concurrent GETs.
async fn batch(http: &reqwest::Client, url: &str, token: &str) {
    let calls = (0..IN_FLIGHT).map(|_| get(http, url, token));
    futures::future::join_all(calls).await;
}

/// Requests per second with `IN_FLIGHT` workers looping for `WINDOW`.
fn closed_loop(rt: &tokio::runtime::Runtime, http: &reqwest::Client, url: &str, token: &str) -> f64 {
    rt.block_on(async {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = tokio::time::Instant::now() + WINDOW;
        let workers: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (http, url, token, done) = (http.clone(), url.to_owned(), token.to_owned(), done.clone());
                tokio::spawn(async move {
                    while tokio::time::Instant::now() < deadline {
                        get(&http, &url, &token).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("worker");
        }
        done.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
    })
}

fn rest_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = setup(&rt);
    let mut group = c.benchmark_group("rest_get_message");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("gateway_rest_v2", |b| {
        b.to_async(&rt).iter(|| batch(&s.http, &s.gateway_url, &s.naa_token))
    });
    group.bench_function("graph_sim_direct", |b| {
        b.to_async(&rt).iter(|| batch(&s.http, &s.graph_url, &s.graph_token))
    });
    group.finish();

    let gateway = closed_loop(&rt, &s.http, &s.gateway_url, &s.naa_token);
    let direct = closed_loop(&rt, &s.http, &s.graph_url, &s.graph_token);
    println!(
        "rest_get_message throughput ({IN_FLIGHT} in flight, {} s each): gateway {gateway:.0} req/s, \
         Graph simulator direct {direct:.0} req/s, ratio gateway/direct {:.2}",
        WINDOW.as_secs(),
        gateway / direct
    );
}

criterion_group!(benches, rest_throughput);
criterion_main!(benches);
