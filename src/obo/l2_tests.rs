//! The shared tier against a real `redis-server`: replicas are brokers with their own L1.

use std::time::Duration;

use redis::AsyncCommands as _;
use secrecy::ExposeSecret;

use super::{test_redis::*, *};
use crate::idp::test_support::*;

const ASSERTION: &str = "alice-inbound-token-3f9a";

struct Replicas {
    entra: FakeEntra,
    redis: RedisServer,
    metrics: Vec<Arc<Metrics>>,
    brokers: Vec<Arc<OboBroker>>,
}

async fn replicas(n: usize, keys: &[&[&str]]) -> Replicas {
    let entra = FakeEntra::start().await;
    let redis = RedisServer::start().await;
    let mut out = Replicas {
        entra,
        redis,
        metrics: Vec::new(),
        brokers: Vec::new(),
    };
    for i in 0..n {
        let ring = keys[i.min(keys.len() - 1)];
        out.add(ring);
    }
    out
}

impl Replicas {
    /// One more replica sharing the Redis, with its own encryption key ring.
    fn add(&mut self, keys: &[&str]) -> Arc<OboBroker> {
        let mut config = config(&self.entra.authority, 120, 5);
        config.cache = self.redis.config(keys);
        let metrics = Arc::new(Metrics::default());
        let idp = EntraClient::new(&config, secret_credential(), http());
        let broker = Arc::new(OboBroker::new(&config, idp, Arc::clone(&metrics)));
        self.metrics.push(metrics);
        self.brokers.push(Arc::clone(&broker));
        broker
    }

    async fn redis_keys(&self) -> Vec<String> {
        let mut conn = self.redis.connection().await.unwrap();
        conn.keys("*").await.unwrap()
    }
}

fn alice() -> Caller {
    Caller {
        tenant_id: TENANT.into(),
        oid: "00000000-0000-0000-0000-0000000000a1".into(),
        subject: "subject".into(),
        client_app: None,
        scopes: vec!["access_as_user".into()],
        username: Some("alice@contoso.com".into()),
        version: 2,
        expires_at: crate::idp::unix_now() + 3600,
        assertion: Arc::from(ASSERTION),
    }
}

fn l2(metrics: &Metrics, result: &str) -> u64 {
    metrics.get("obo_l2_total", &[("result", result)])
}

#[tokio::test]
async fn a_second_replica_is_served_from_redis_without_exchanging() {
    let k = key_b64(1);
    let r = replicas(2, &[&[&k]]).await;
    let first = r.brokers[0].graph_token(&alice(), None).await.unwrap();
    let second = r.brokers[1].graph_token(&alice(), None).await.unwrap();
    assert_eq!(first.access_token.expose_secret(), second.access_token.expose_secret());
    assert_eq!(first.expires_at, second.expires_at);
    assert_eq!(r.entra.count(), 1, "the second replica exchanged again");
    assert_eq!(l2(&r.metrics[0], "miss"), 1);
    assert_eq!(l2(&r.metrics[1], "hit"), 1);
}

#[tokio::test]
async fn concurrent_misses_on_three_replicas_make_one_exchange() {
    let k = key_b64(1);
    let r = replicas(3, &[&[&k]]).await;
    r.entra.set_delay(Duration::from_millis(300));
    let calls = (0..90).map(|i| {
        let broker = Arc::clone(&r.brokers[i % 3]);
        async move { broker.graph_token(&alice(), None).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(r.entra.count(), 1, "replicas exchanged on their own");
    let coalesced: u64 = r.metrics.iter().map(|m| l2(m, "coalesced")).sum();
    assert_eq!(coalesced, 2, "the two other replicas waited for the lock holder");
    assert!(
        r.redis_keys().await.iter().all(|k| !k.ends_with(":lock")),
        "lock left behind"
    );
}

#[tokio::test]
async fn redis_holds_only_hashed_keys_and_sealed_values_living_no_longer_than_the_token() {
    let k = key_b64(1);
    let r = replicas(1, &[&[&k]]).await;
    r.entra.set_expires_in(1000);
    let token = r.brokers[0].graph_token(&alice(), None).await.unwrap();
    let keys = r.redis_keys().await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert!(key.starts_with("naa-gateway:obo:") && key.len() == "naa-gateway:obo:".len() + 64);
    for clear in [ASSERTION, TENANT, "alice", CLIENT_ID] {
        assert!(!key.contains(clear), "{clear} in {key}");
    }
    let mut conn = r.redis.connection().await.unwrap();
    let value: Vec<u8> = conn.get(key).await.unwrap();
    let secret = token.access_token.expose_secret().as_bytes();
    assert!(
        !value.windows(secret.len()).any(|w| w == secret),
        "the token is stored in clear"
    );
    let pttl: i64 = conn.pttl(key).await.unwrap();
    // 1000 s token, 120 s margin.
    assert!((877_000..=880_000).contains(&pttl), "PTTL {pttl}");
}

#[tokio::test]
async fn after_rotation_old_values_open_and_values_under_an_unknown_key_are_misses() {
    let (old, new, stranger) = (key_b64(1), key_b64(2), key_b64(3));
    let mut r = replicas(1, &[&[&old]]).await;
    r.brokers[0].graph_token(&alice(), None).await.unwrap();
    // Rotated: the new key encrypts, the old one still decrypts.
    let rotated = r.add(&[&new, &old]);
    let token = rotated.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "graph-token-1");
    assert_eq!(r.entra.count(), 1);
    // A replica that knows neither key sees a miss (never an error) and exchanges.
    let outsider = r.add(&[&stranger]);
    let token = outsider.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "graph-token-2");
    assert!(l2(&r.metrics[2], "undecryptable") >= 1);
    assert_eq!(r.entra.count(), 2);
}

#[tokio::test]
async fn a_tampered_or_moved_value_is_a_miss() {
    let k = key_b64(1);
    let mut r = replicas(1, &[&[&k]]).await;
    r.brokers[0].graph_token(&alice(), None).await.unwrap();
    let key = r.redis_keys().await.remove(0);
    let mut conn = r.redis.connection().await.unwrap();
    let mut value: Vec<u8> = conn.get(&key).await.unwrap();
    let last = value.len() - 1;
    value[last] ^= 1;
    let _: () = conn.set(&key, value).await.unwrap();
    let second = r.add(&[&k]);
    let token = second.graph_token(&alice(), None).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "graph-token-2");
    assert!(l2(&r.metrics[1], "undecryptable") >= 1);
}

#[tokio::test]
async fn a_lock_whose_holder_died_delays_others_only_until_it_expires() {
    let k = key_b64(1);
    let r = replicas(1, &[&[&k]]).await;
    let tier = r.brokers[0].l2.as_ref().unwrap();
    let key = CacheKey::new(TENANT, &r.brokers[0].client_id, ASSERTION, &r.brokers[0].scope_set);
    let lock = format!("{}:lock", tier.entry_key(&key));
    let mut conn = r.redis.connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&lock)
        .arg("dead-replica")
        .arg("PX")
        .arg(400)
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    r.brokers[0].graph_token(&alice(), None).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "did not wait for the lock: {waited:?}"
    );
    assert!(waited < Duration::from_millis(1500), "waited too long: {waited:?}");
    assert_eq!(r.entra.count(), 1);
}

#[tokio::test]
async fn without_redis_requests_go_on_and_sharing_resumes_when_it_returns() {
    let k = key_b64(1);
    let mut r = replicas(2, &[&[&k]]).await;
    r.redis.stop();
    let started = std::time::Instant::now();
    for broker in &r.brokers {
        broker.graph_token(&alice(), None).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "Redis being down slowed requests"
    );
    assert_eq!(r.entra.count(), 2, "each replica exchanged on its own");
    assert!(r.metrics[0].get("redis_errors_total", &[("component", "obo_cache"), ("kind", "io")]) >= 1);
    r.redis.restart().await;
    // Breakers probe again after breaker_open_secs (1 s in tests).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Each round uses a new inbound token, so L1 never answers it.
    let mut shared_again = false;
    for round in 0..20 {
        let caller = Caller {
            assertion: Arc::from(format!("bob-inbound-token-{round}")),
            ..alice()
        };
        r.brokers[0].graph_token(&caller, None).await.unwrap();
        let before = r.entra.count();
        r.brokers[1].graph_token(&caller, None).await.unwrap();
        if r.entra.count() == before {
            shared_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shared_again, "replicas never shared tokens again after Redis returned");
    assert_eq!(
        r.metrics[1].gauge("redis_breaker_open", &[("component", "obo_cache")]),
        0
    );
}

#[test]
fn sealed_values_open_only_with_a_known_key_and_the_same_associated_data() {
    let sealer = l2::Sealer::new(&[[1; 32]]);
    let sealed = sealer.seal(b"key-a", b"plain").unwrap();
    assert_eq!(sealer.open(b"key-a", &sealed).unwrap(), b"plain");
    assert!(sealer.open(b"key-b", &sealed).is_none(), "moved to another key");
    assert!(l2::Sealer::new(&[[2; 32]]).open(b"key-a", &sealed).is_none());
    assert!(l2::Sealer::new(&[[2; 32], [1; 32]]).open(b"key-a", &sealed).is_some());
    assert!(sealer.open(b"key-a", &sealed[..10]).is_none());
    assert_ne!(sealer.seal(b"key-a", b"plain").unwrap(), sealed, "nonces repeat");
}
