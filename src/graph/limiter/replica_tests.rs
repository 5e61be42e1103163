//! Three Graph clients (as three replicas) sharing one Redis against the Graph simulator.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::{
    graph::{GraphClient, GraphRequest},
    obo::test_redis::{RedisServer, key_b64},
};

struct Setup {
    sims: naa_sim::sandbox::Sims,
    clients: Vec<Arc<GraphClient>>,
    bearer: String,
    path: String,
    upn: String,
}

/// `n` Graph clients with shared mailbox slots in `redis` (fallback cap 1 while it is down),
/// retrying Graph's 429 `retries` times as configured in production.
async fn setup(n: usize, redis: &RedisServer, retries: u32) -> Setup {
    let sims = naa_sim::sandbox::start(naa_sim::seed::SeedTenant::contoso())
        .await
        .unwrap();
    let mut cache = redis.config(&[&key_b64(1)]);
    if let Some(r) = cache.redis.as_mut() {
        r.fallback_concurrency_per_mailbox = Some(1);
    }
    let graph_config = crate::config::GraphConfig {
        base_url: format!("{}/v1.0", sims.graph.url()),
        max_concurrency_per_mailbox: 4,
        timeout_secs: 10,
        max_retries: retries,
        max_retry_after_secs: 10,
    };
    let http = crate::http::client(Duration::from_secs(2)).unwrap();
    let clients = (0..n)
        .map(|_| {
            let metrics = Arc::new(Metrics::default());
            let mut client = GraphClient::with_config(&graph_config, http.clone(), Arc::clone(&metrics));
            client.limiter = MailboxLimiter::shared(4, &cache, metrics);
            Arc::new(client)
        })
        .collect();
    let upn = sims.seed.users[0].upn.clone();
    let mint = serde_json::from_value(json!({ "user": upn, "audience": "https://graph.microsoft.com" })).unwrap();
    let bearer = sims.entra.mint(mint).unwrap().access_token;
    let id = sims.graph.messages(&upn)[0]["rest_id"].as_str().unwrap().to_string();
    Setup {
        sims,
        clients,
        bearer,
        path: format!("/me/messages/{id}?$select=subject"),
        upn,
    }
}

/// `n` concurrent GETs spread over the clients; Graph's statuses (0: no answer).
async fn burst(s: &Setup, n: usize) -> Vec<u16> {
    let calls = (0..n).map(|i| {
        let client = Arc::clone(&s.clients[i % s.clients.len()]);
        async move {
            let request_id = format!("req-{i}");
            let req = GraphRequest::get(&s.path, &s.bearer, &s.upn, &request_id);
            match client.send(req).await {
                Ok(res) => {
                    let status = res.status.as_u16();
                    res.bytes().await.map_or(0, |_| status)
                }
                Err(_) => 0,
            }
        }
    });
    futures::future::join_all(calls).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_never_send_graph_more_than_four_calls_per_mailbox() {
    let redis = RedisServer::start().await;
    let s = setup(3, &redis, 0).await;
    s.sims.graph.set_latency(Duration::from_millis(20));
    // No retries: a single 429 from Graph would show up here.
    let statuses = burst(&s, 300).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let stats = s.sims.graph.stats();
    let mailbox = &stats["by_mailbox"][s.upn.to_ascii_lowercase()];
    assert_eq!(mailbox["throttled"], 0, "{mailbox}");
    assert_eq!(mailbox["peak_concurrency"], 4, "{mailbox}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_redis_dies_the_fallback_cap_keeps_graph_under_its_limit() {
    let mut redis = RedisServer::start().await;
    let s = setup(3, &redis, 3).await;
    s.sims.graph.set_latency(Duration::from_millis(20));
    let (statuses, ()) = tokio::join!(burst(&s, 150), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        redis.stop();
    });
    // Calls holding shared slots when Redis died overlap briefly with the first fallback calls;
    // Graph may then answer 429 once, which the client's retry absorbs: no call fails.
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let throttled = |s: &Setup| s.sims.graph.stats()["by_mailbox"][s.upn.to_ascii_lowercase()]["throttled"].clone();
    let before = throttled(&s);
    let after = burst(&s, 60).await;
    assert!(after.iter().all(|s| *s == 200), "{after:?}");
    assert_eq!(
        throttled(&s),
        before,
        "1 call per replica x 3 replicas exceeded Graph's limit"
    );
}
