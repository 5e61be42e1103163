//! Mailbox slots shared by every replica: a Redis sorted set per mailbox whose members are
//! leases scored by their expiry (Redis server time, so replicas' clocks do not matter).
//!
//! A slot is taken only while fewer than `cap` unexpired leases exist; a lease is renewed
//! while its call runs and deleted when it ends, so a replica that dies frees its slots when
//! the leases expire. Any Redis failure means "no shared slot": the caller then relies on its
//! replica's own cap, which is always held first.

use std::{sync::Arc, time::Duration};

use crate::{
    config::CacheConfig,
    obo::redis_link::{RedisLink, RedisLinkError},
    telemetry::Metrics,
};

/// Takes a lease when fewer than ARGV[1] live ones exist. ARGV: cap, lease ms, lease id.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0";

/// Extends a lease that still exists. ARGV: lease ms, lease id.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
  return 1
end
return 0";

/// Shortest and longest pause between attempts while a mailbox is full everywhere.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// The shared slot table.
pub(crate) struct SharedSlots {
    link: RedisLink,
    cap: usize,
    lease: Duration,
    acquire: redis::Script,
    renew: redis::Script,
}

/// A held slot; give it back with [`SharedSlots::release`].
#[derive(Debug)]
pub(crate) struct Lease {
    key: String,
    id: String,
}

/// How a shared slot request ended.
pub(crate) enum Slot {
    /// Taken; `waited` when the mailbox was full at first.
    Leased { lease: Lease, waited: bool },
    /// Redis is unavailable: go on under the replica's own cap.
    Unavailable,
}

// === impl SharedSlots ===

impl SharedSlots {
    /// The shared table of `[cache.redis]` (`None` without it or with `shared_mailbox_limit = false`).
    pub(crate) fn new(
        cache: &CacheConfig,
        cap: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Option<SharedSlots>, RedisLinkError> {
        let Some(config) = cache.redis.as_ref().filter(|r| r.shared_mailbox_limit) else {
            return Ok(None);
        };
        let Some(link) = RedisLink::new(cache, "mailbox_limiter", metrics)? else {
            return Ok(None);
        };
        Ok(Some(SharedSlots {
            link,
            cap: cap.max(1),
            lease: Duration::from_secs(config.mailbox_lease_secs),
            acquire: redis::Script::new(ACQUIRE),
            renew: redis::Script::new(RENEW),
        }))
    }

    /// How often a held lease is renewed.
    pub(crate) fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Waits for a slot of `mailbox` among all replicas.
    pub(crate) async fn acquire(&self, mailbox: &str) -> Slot {
        let key = self.link.key("mailbox", &[mailbox.as_bytes()]);
        let id = uuid::Uuid::new_v4().to_string();
        let mut backoff = MIN_BACKOFF;
        let mut waited = false;
        loop {
            let mut conn = self.link.connection();
            let mut invocation = self.acquire.key(&key);
            invocation.arg(self.cap).arg(self.lease_ms()).arg(&id);
            match self.link.run(invocation.invoke_async::<i64>(&mut conn)).await {
                None => return Slot::Unavailable,
                Some(1) => {
                    return Slot::Leased {
                        lease: Lease { key, id },
                        waited,
                    };
                }
                Some(_) => {
                    waited = true;
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Extends `lease`; false when it is gone (expired, or Redis lost its data).
    pub(crate) async fn renew(&self, lease: &Lease) -> bool {
        let mut conn = self.link.connection();
        let mut invocation = self.renew.key(&lease.key);
        invocation.arg(self.lease_ms()).arg(&lease.id);
        self.link.run(invocation.invoke_async::<i64>(&mut conn)).await == Some(1)
    }

    /// Gives `lease` back (best effort: an unreleased lease expires by itself).
    pub(crate) async fn release(&self, lease: Lease) {
        let mut conn = self.link.connection();
        let cmd = redis::cmd("ZREM").arg(&lease.key).arg(&lease.id).to_owned();
        let _: Option<i64> = self.link.run(cmd.query_async(&mut conn)).await;
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }
}

impl std::fmt::Debug for SharedSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSlots")
            .field("cap", &self.cap)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// `base` plus up to 50 % so replicas polling the same mailbox spread out.
fn jittered(base: Duration) -> Duration {
    let noise = u64::from(uuid::Uuid::new_v4().as_bytes()[0]);
    base + base.mul_f64(noise as f64 / 510.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obo::test_redis::{RedisServer, key_b64};

    #[tokio::test]
    async fn leases_of_a_replica_that_died_expire_and_free_their_slots() {
        let redis = RedisServer::start().await;
        let cache = redis.config(&[&key_b64(1)]);
        let slots = SharedSlots::new(&cache, 2, Arc::new(Metrics::default()))
            .unwrap()
            .unwrap();
        // A dead replica's leases: present, never renewed, expiring 300 ms from now.
        let key = slots.link.key("mailbox", &[b"alice"]);
        let mut conn = redis.connection().await.unwrap();
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        let expiry = secs * 1000 + micros / 1000 + 300;
        for id in ["dead-1", "dead-2"] {
            let _: i64 = redis::cmd("ZADD")
                .arg(&key)
                .arg(expiry)
                .arg(id)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        let started = std::time::Instant::now();
        let Slot::Leased { lease, waited } = slots.acquire("alice").await else {
            panic!("Redis is up");
        };
        assert!(waited);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250),
            "took a slot of a live lease after {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "waited {elapsed:?}");
        assert!(slots.renew(&lease).await);
        slots.release(lease).await;
        let count: i64 = redis::cmd("ZCARD").arg(&key).query_async(&mut conn).await.unwrap();
        assert_eq!(count, 0, "released and expired leases are gone");
        assert!(!key.contains("alice"), "mailbox in clear in {key}");
    }
}
