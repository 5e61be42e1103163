//! Token-path costs: inbound validation (cold RS256 verify and validated-token cache) and an
#![allow(clippy::expect_used, missing_docs)]
//! OBO cache hit. Run: `cargo bench --bench token_path`.

use std::{hint::black_box, net::SocketAddr, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use naa_gateway::{
    app::build_state,
    auth::{KeySet, Policy, validate_token},
    config::Config,
    sandbox::{SandboxCredential, sandbox_figment},
};
use naa_sim::seed::SeedTenant;

fn token_path(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = std::env::temp_dir().join(format!("naa-bench-{}", std::process::id()));
    let (state, token, jwks) = rt.block_on(async {
        let sims = naa_sim::sandbox::start(SeedTenant::contoso())
            .await
            .expect("simulators");
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let figment = sandbox_figment(&sims, listen, SandboxCredential::Secret, &dir).expect("figment");
        let config = Config::from_figment(figment).expect("config");
        let state = build_state(config).expect("state");
        assert!(state.auth.warm_up().await, "keys load");
        let minted = sims
            .entra
            .mint(serde_json::from_value(serde_json::json!({ "user": "alice@contoso.com" })).expect("request"))
            .expect("token");
        let tid = &sims.seed.tenant_id;
        let jwks = reqwest::get(format!("{}/{tid}/discovery/v2.0/keys", sims.entra.url()))
            .await
            .expect("jwks")
            .bytes()
            .await
            .expect("jwks body");
        // Keep the simulators alive for the whole run.
        std::mem::forget(sims);
        (state, minted.access_token, jwks)
    });
    let keys = KeySet::from_jwks(&jwks).expect("key set");
    let policy = Policy::from_config(&state.config);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = format!("Bearer {token}");

    let mut group = c.benchmark_group("inbound");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("cold_verify_rs256", |b| {
        b.iter(|| validate_token(black_box(&token), &policy, &keys, now).expect("valid"))
    });
    group.bench_function("cached_validated_token", |b| {
        b.to_async(&rt)
            .iter(|| async { state.auth.authenticate(Some(black_box(&header))).await.expect("valid") })
    });
    group.finish();

    let caller = rt.block_on(state.auth.authenticate(Some(&header))).expect("valid");
    rt.block_on(state.obo.graph_token(&caller, None))
        .expect("first exchange");
    c.bench_function("obo_cache_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { state.obo.graph_token(black_box(&caller), None).await.expect("hit") })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, token_path);
criterion_main!(benches);
