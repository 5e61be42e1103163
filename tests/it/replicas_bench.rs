//! The replica benchmark run by `benches/replicas.sh` (ignored in normal test runs): cached
//! request throughput with L1 only vs L1+L2, and OBO exchanges per N users with 1 replica,
//! 3 replicas without Redis and 3 replicas sharing Redis. Prints a table and one JSON line.

use std::time::Instant;

use futures::{StreamExt, stream};

use super::*;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Requests per second for `n` GETs with `token`, `concurrency` at a time, round-robin over `gateways`.
async fn throughput(t: &Bench, gateways: &[&Gateway], token: &str, n: usize, concurrency: usize) -> f64 {
    let started = Instant::now();
    let statuses: Vec<u16> = stream::iter(0..n)
        .map(|i| {
            let path = &t.paths[0];
            let req = t
                .http
                .get(format!("{}{path}", gateways[i % gateways.len()].url))
                .bearer_auth(token);
            async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    assert_all_ok(&statuses, "throughput run");
    n as f64 / started.elapsed().as_secs_f64()
}

/// OBO exchanges made while `users` new sessions each send one request to every replica.
async fn exchanges_for_users(t: &Bench, gateways: &[&Gateway], users: usize, concurrency: usize) -> u64 {
    let upns = [t.upns[0].clone(), t.upns[1].clone()];
    let tokens: Vec<(usize, String)> = stream::iter(0..users)
        .map(|i| {
            let upn = upns[i % 2].clone();
            async move { (i % 2, t.token(&upn).await) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let before = t.exchanges();
    let requests = tokens
        .iter()
        .flat_map(|(user, token)| (0..3).map(move |r| (*user, token, r)))
        .collect::<Vec<_>>();
    let statuses: Vec<u16> = stream::iter(requests)
        .map(|(user, token, r)| {
            let path = &t.paths[user];
            let req = t
                .http
                .get(format!("{}{path}", gateways[r % gateways.len()].url))
                .bearer_auth(token);
            async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    assert_all_ok(&statuses, "exchange run");
    t.exchanges() - before
}

struct Bench {
    sims: Sims,
    http: reqwest::Client,
    upns: Vec<String>,
    paths: Vec<String>,
}

impl Bench {
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

    fn exchanges(&self) -> u64 {
        self.sims.entra.stats()["exchanges"]["obo"].as_u64().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run by benches/replicas.sh"]
async fn replicas_bench() {
    let requests = env_usize("NAA_BENCH_REQUESTS", 4000);
    let users = env_usize("NAA_BENCH_USERS", 1000);
    let concurrency = env_usize("NAA_BENCH_CONCURRENCY", 32);
    naa_gateway::http::install_crypto_provider();
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let sims = naa_sim::sandbox::start(SeedTenant::contoso()).await.unwrap();
    let redis = RedisServer::start().await;
    let upns: Vec<String> = sims.seed.users.iter().take(2).map(|u| u.upn.clone()).collect();
    let paths = upns
        .iter()
        .map(|upn| {
            let id = sims.graph.messages(upn)[0]["rest_id"].as_str().unwrap().to_string();
            format!("/v1.0/me/messages/{id}?$select=subject")
        })
        .collect();
    let t = Bench {
        sims,
        http,
        upns,
        paths,
    };

    // Cached throughput: one replica each, token already cached.
    let l1 = Gateway::start_with(&t.sims, 4, "", &t.http).await;
    let l2 = Gateway::start(&t.sims, &redis.url(), &[key(1)], &t.http).await;
    let token = t.token(&t.upns[0]).await;
    throughput(&t, &[&l1], &token, 50, 4).await;
    throughput(&t, &[&l2], &token, 50, 4).await;
    let rps_l1 = throughput(&t, &[&l1], &token, requests, concurrency).await;
    let rps_l2 = throughput(&t, &[&l2], &token, requests, concurrency).await;

    // Exchanges per `users` sessions, each sending one request to every replica.
    let one = exchanges_for_users(&t, &[&l1], users, concurrency).await;
    // Without a shared limit, three replicas must split Graph's 4 per mailbox themselves.
    let solo: Vec<Gateway> =
        futures::future::join_all((0..3).map(|_| Gateway::start_with(&t.sims, 1, "", &t.http))).await;
    let three_l1 = exchanges_for_users(&t, &solo.iter().collect::<Vec<_>>(), users, concurrency).await;
    let mut shared = Vec::new();
    for _ in 0..3 {
        shared.push(Gateway::start(&t.sims, &redis.url(), &[key(1)], &t.http).await);
    }
    let three_l2 = exchanges_for_users(&t, &shared.iter().collect::<Vec<_>>(), users, concurrency).await;

    let per_1000 = |n: u64| n as f64 * 1000.0 / users as f64;
    eprintln!("cached throughput, 1 replica, {requests} requests, concurrency {concurrency}:");
    eprintln!("  L1 only   {rps_l1:>9.0} req/s");
    eprintln!(
        "  L1 + L2   {rps_l2:>9.0} req/s   ratio L1+L2 / L1 = {:.2}",
        rps_l2 / rps_l1
    );
    eprintln!("OBO exchanges per 1000 users (each user: one request to every replica):");
    eprintln!("  1 replica             {:>6.0}", per_1000(one));
    eprintln!(
        "  3 replicas, L1 only   {:>6.0}   ratio to 1 replica = {:.2}",
        per_1000(three_l1),
        three_l1 as f64 / one as f64
    );
    eprintln!(
        "  3 replicas, L1 + L2   {:>6.0}   ratio to 1 replica = {:.2}",
        per_1000(three_l2),
        three_l2 as f64 / one as f64
    );
    println!(
        "{}",
        json!({
            "cached_rps_l1": rps_l1.round(),
            "cached_rps_l1_l2": rps_l2.round(),
            "cached_ratio_l1_l2_over_l1": (rps_l2 / rps_l1 * 100.0).round() / 100.0,
            "exchanges_per_1000_users_1_replica": per_1000(one),
            "exchanges_per_1000_users_3_replicas_l1": per_1000(three_l1),
            "exchanges_per_1000_users_3_replicas_l1_l2": per_1000(three_l2),
            "ratio_3_replicas_l1_l2_over_1_replica": three_l2 as f64 / one as f64,
        })
    );
    assert_eq!(
        three_l2, one,
        "shared cache: 3 replicas should exchange as often as one"
    );
}
