//! Per-mailbox concurrency: at most N Graph requests in flight per mailbox, the rest queue.
//!
//! Graph allows 4 concurrent requests per (app, mailbox); a fifth gets 429. Each mailbox gets a
//! semaphore that lives exactly as long as someone holds or awaits one of its permits: the
//! map keeps only `Weak` handles and is swept of dead ones as it grows, so idle mailboxes cost
//! nothing and the map cannot grow without bound.
//!
//! Built with [`MailboxLimiter::shared`], the cap also holds across replicas: after the local
//! slot, a lease from [`SharedSlots`] (Redis) is taken; without Redis the local cap alone
//! applies. The caller still gets a plain permit: it belongs to a one-slot "handle" semaphore,
//! and a small guard task waiting on that semaphore learns when the caller drops it, then
//! renews, releases and counts on its behalf.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::shared_slots::{Lease, SharedSlots, Slot};
use crate::{config::CacheConfig, telemetry::Metrics};

#[cfg(test)]
mod replica_tests;
mod shared_slots;

/// Below this many entries the map is not swept.
const MIN_SWEEP_AT: usize = 1024;

/// Semaphores by mailbox key.
pub(crate) struct MailboxLimiter {
    per_mailbox: usize,
    state: Mutex<State>,
    /// Present when built with [`MailboxLimiter::shared`]: slots across replicas and gauges.
    tracked: Option<Arc<Tracking>>,
}

/// What the guarded mode needs besides the local semaphores.
struct Tracking {
    slots: Option<SharedSlots>,
    /// The tighter per-replica cap that applies while the shared slots are unavailable.
    fallback: MailboxLimiter,
    metrics: Arc<Metrics>,
    per_mailbox: usize,
    /// Calls in flight per mailbox (entries removed at zero, so bounded by busy mailboxes).
    in_flight: Mutex<HashMap<String, usize>>,
}

struct State {
    semaphores: HashMap<String, Weak<Semaphore>>,
    /// Sweep dead entries once the map grows past this size (amortised O(1) per acquire).
    sweep_at: usize,
}

/// What a guarded call holds besides its local permit.
enum Held {
    /// Nothing more: no shared slots configured.
    Local,
    /// A slot shared across replicas.
    Lease(Lease),
    /// A permit of the tighter fallback cap (shared slots unavailable).
    Fallback {
        /// Held only to be dropped when the call ends.
        _permit: OwnedSemaphorePermit,
    },
}

/// How a permit was obtained.
pub(crate) enum Acquired {
    /// A slot was free.
    Immediately(OwnedSemaphorePermit),
    /// The request waited for another request of the same mailbox to finish.
    AfterQueueing(OwnedSemaphorePermit),
}

impl Acquired {
    pub(crate) fn into_permit(self) -> OwnedSemaphorePermit {
        match self {
            Acquired::Immediately(p) | Acquired::AfterQueueing(p) => p,
        }
    }
}

impl MailboxLimiter {
    /// A limiter allowing `per_mailbox` (at least 1) permits per mailbox in this process.
    pub(crate) fn new(per_mailbox: usize) -> MailboxLimiter {
        MailboxLimiter {
            per_mailbox: per_mailbox.max(1),
            state: Mutex::new(State {
                semaphores: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
            tracked: None,
        }
    }

    /// A limiter whose cap holds across replicas when `[cache.redis]` is configured (with
    /// `shared_mailbox_limit`), and which keeps the in-flight gauges either way.
    pub(crate) fn shared(per_mailbox: usize, cache: &CacheConfig, metrics: Arc<Metrics>) -> MailboxLimiter {
        let slots = SharedSlots::new(cache, per_mailbox, Arc::clone(&metrics))
            .inspect_err(|e| tracing::error!(error = %e, "shared mailbox limit disabled"))
            .ok()
            .flatten();
        let fallback = cache
            .redis
            .as_ref()
            .and_then(|r| r.fallback_concurrency_per_mailbox)
            .unwrap_or(per_mailbox);
        let mut limiter = MailboxLimiter::new(per_mailbox);
        limiter.tracked = Some(Arc::new(Tracking {
            slots,
            fallback: MailboxLimiter::new(fallback.min(per_mailbox)),
            metrics,
            per_mailbox: limiter.per_mailbox,
            in_flight: Mutex::new(HashMap::new()),
        }));
        limiter
    }

    /// Waits for a slot of `mailbox`: locally in FIFO order, then (shared mode) among replicas.
    pub(crate) async fn acquire(&self, mailbox: &str) -> Acquired {
        let local = self.acquire_local(mailbox).await;
        let Some(tracking) = &self.tracked else {
            return local;
        };
        let local_waited = matches!(local, Acquired::AfterQueueing(_));
        let local = local.into_permit();
        let (held, shared_waited) = match &tracking.slots {
            None => (Held::Local, false),
            Some(slots) => match slots.acquire(mailbox).await {
                Slot::Leased { lease, waited } => (Held::Lease(lease), waited),
                Slot::Unavailable => match tracking.fallback.acquire_local(mailbox).await {
                    Acquired::Immediately(p) => (Held::Fallback { _permit: p }, false),
                    Acquired::AfterQueueing(p) => (Held::Fallback { _permit: p }, true),
                },
            },
        };
        let scope = if matches!(held, Held::Lease(_)) {
            "shared"
        } else {
            "local"
        };
        tracking.metrics.incr("graph_mailbox_slots_total", &[("scope", scope)]);
        let handle = Arc::new(Semaphore::new(1));
        let Ok(permit) = Arc::clone(&handle).try_acquire_owned() else {
            // A fresh one-slot semaphore always has its slot; keep the local permit regardless.
            return Acquired::AfterQueueing(local);
        };
        tracking.enter(mailbox);
        tokio::spawn(Arc::clone(tracking).guard(mailbox.to_owned(), handle, local, held));
        if local_waited || shared_waited {
            Acquired::AfterQueueing(permit)
        } else {
            Acquired::Immediately(permit)
        }
    }

    /// Waits (in FIFO order) for a slot of `mailbox` in this process.
    async fn acquire_local(&self, mailbox: &str) -> Acquired {
        loop {
            let semaphore = self.semaphore(mailbox);
            if let Ok(permit) = Arc::clone(&semaphore).try_acquire_owned() {
                return Acquired::Immediately(permit);
            }
            if let Ok(permit) = semaphore.acquire_owned().await {
                return Acquired::AfterQueueing(permit);
            }
            // Only a closed semaphore refuses; these are never closed, but should one be,
            // forget it so the next round starts a fresh one instead of failing the request.
            self.forget(mailbox);
        }
    }

    /// Mailboxes currently tracked (alive or not yet swept).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.state.lock().semaphores.len()
    }

    fn semaphore(&self, mailbox: &str) -> Arc<Semaphore> {
        let mut state = self.state.lock();
        if let Some(alive) = state.semaphores.get(mailbox).and_then(Weak::upgrade) {
            return alive;
        }
        let fresh = Arc::new(Semaphore::new(self.per_mailbox));
        state.semaphores.insert(mailbox.to_owned(), Arc::downgrade(&fresh));
        if state.semaphores.len() > state.sweep_at {
            state.semaphores.retain(|_, s| s.strong_count() > 0);
            state.sweep_at = (state.semaphores.len() * 2).max(MIN_SWEEP_AT);
        }
        fresh
    }

    fn forget(&self, mailbox: &str) {
        self.state.lock().semaphores.remove(mailbox);
    }
}

// === impl Tracking ===

impl Tracking {
    /// Holds the local permit and the lease until the caller drops its handle permit,
    /// renewing the lease meanwhile.
    async fn guard(self: Arc<Self>, mailbox: String, handle: Arc<Semaphore>, local: OwnedSemaphorePermit, held: Held) {
        match (&self.slots, held) {
            (Some(slots), Held::Lease(lease)) => {
                let mut renew = tokio::time::interval(slots.renew_every());
                renew.tick().await;
                loop {
                    tokio::select! {
                        _ = handle.acquire() => break,
                        _ = renew.tick() => {
                            if !slots.renew(&lease).await {
                                tracing::debug!("mailbox lease lost; the call continues under the local cap");
                            }
                        }
                    }
                }
                slots.release(lease).await;
            }
            (_, held) => {
                let _ = handle.acquire().await;
                drop(held);
            }
        }
        self.leave(&mailbox);
        drop(local);
    }

    fn enter(&self, mailbox: &str) {
        let mut in_flight = self.in_flight.lock();
        let n = in_flight.entry(mailbox.to_owned()).or_insert(0);
        *n += 1;
        let n = *n;
        let m = &self.metrics;
        m.gauge_add("graph_in_flight", &[], 1);
        if n == 1 {
            m.gauge_add("graph_mailboxes_busy", &[], 1);
        }
        if n == self.per_mailbox {
            m.gauge_add("graph_mailboxes_at_cap", &[], 1);
        }
    }

    fn leave(&self, mailbox: &str) {
        let mut in_flight = self.in_flight.lock();
        let Some(n) = in_flight.get_mut(mailbox) else {
            return;
        };
        let m = &self.metrics;
        m.gauge_add("graph_in_flight", &[], -1);
        if *n == self.per_mailbox {
            m.gauge_add("graph_mailboxes_at_cap", &[], -1);
        }
        *n -= 1;
        if *n == 0 {
            in_flight.remove(mailbox);
            m.gauge_add("graph_mailboxes_busy", &[], -1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_mailbox_gets_at_most_its_permits_and_others_are_independent() {
        let limiter = MailboxLimiter::new(2);
        let a1 = limiter.acquire("a").await.into_permit();
        let _a2 = limiter.acquire("a").await.into_permit();
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), limiter.acquire("a")).await;
        assert!(third.is_err(), "a third permit was granted");
        let b = tokio::time::timeout(std::time::Duration::from_millis(50), limiter.acquire("b")).await;
        assert!(matches!(b, Ok(Acquired::Immediately(_))));
        drop(a1);
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), limiter.acquire("a")).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn idle_mailboxes_are_swept() {
        let limiter = MailboxLimiter::new(4);
        for i in 0..(MIN_SWEEP_AT * 3) {
            let permit = limiter.acquire(&format!("mailbox-{i}")).await;
            drop(permit);
        }
        assert!(
            limiter.tracked() <= MIN_SWEEP_AT + 1,
            "{} entries kept",
            limiter.tracked()
        );
        let held = limiter.acquire("busy").await;
        for i in 0..(MIN_SWEEP_AT * 3) {
            drop(limiter.acquire(&format!("other-{i}")).await);
        }
        // A mailbox with a permit out survives every sweep: its semaphore is the same one.
        let state = limiter.state.lock();
        assert!(state.semaphores.get("busy").and_then(Weak::upgrade).is_some());
        drop(state);
        drop(held);
    }

    use std::time::Duration;

    use crate::obo::test_redis::{RedisServer, key_b64};

    async fn within(ms: u64, limiter: &MailboxLimiter, mailbox: &str) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(Duration::from_millis(ms), limiter.acquire(mailbox))
            .await
            .ok()
            .map(Acquired::into_permit)
    }

    #[tokio::test]
    async fn replicas_sharing_redis_share_the_mailbox_cap() {
        let redis = RedisServer::start().await;
        let cache = redis.config(&[&key_b64(1)]);
        let metrics = Arc::new(Metrics::default());
        let a = MailboxLimiter::shared(2, &cache, Arc::clone(&metrics));
        let b = MailboxLimiter::shared(2, &cache, Arc::clone(&metrics));
        let a1 = within(500, &a, "alice").await.expect("first slot");
        let _a2 = within(500, &a, "alice").await.expect("second slot");
        assert!(
            within(150, &b, "alice").await.is_none(),
            "a third slot was granted on another replica"
        );
        assert!(
            within(500, &b, "bob").await.is_some(),
            "other mailboxes are independent"
        );
        drop(a1);
        assert!(
            within(1000, &b, "alice").await.is_some(),
            "a freed slot was not reused by the other replica"
        );
        assert!(metrics.get("graph_mailbox_slots_total", &[("scope", "shared")]) >= 4);
    }

    #[tokio::test]
    async fn without_redis_each_replica_keeps_its_own_cap_and_requests_go_on() {
        let mut redis = RedisServer::start().await;
        let mut cache = redis.config(&[&key_b64(1)]);
        if let Some(r) = cache.redis.as_mut() {
            r.fallback_concurrency_per_mailbox = Some(2);
        }
        redis.stop();
        let metrics = Arc::new(Metrics::default());
        let a = MailboxLimiter::shared(4, &cache, Arc::clone(&metrics));
        let b = MailboxLimiter::shared(4, &cache, Arc::clone(&metrics));
        let held: Vec<_> = [&a, &a, &b, &b].iter().map(|l| within(1000, l, "alice")).collect();
        let held = futures::future::join_all(held).await;
        assert!(held.iter().all(Option::is_some), "Redis being down blocked a request");
        assert!(
            within(100, &a, "alice").await.is_none(),
            "the fallback cap does not hold"
        );
        assert_eq!(metrics.get("graph_mailbox_slots_total", &[("scope", "local")]), 4);
    }

    #[tokio::test]
    async fn in_flight_gauges_follow_calls_without_naming_mailboxes() {
        let metrics = Arc::new(Metrics::default());
        let limiter = MailboxLimiter::shared(2, &CacheConfig::default(), Arc::clone(&metrics));
        let a1 = within(100, &limiter, "alice@contoso.com").await.unwrap();
        let a2 = within(100, &limiter, "alice@contoso.com").await.unwrap();
        let b1 = within(100, &limiter, "bob@contoso.com").await.unwrap();
        assert_eq!(metrics.gauge("graph_in_flight", &[]), 3);
        assert_eq!(metrics.gauge("graph_mailboxes_busy", &[]), 2);
        assert_eq!(metrics.gauge("graph_mailboxes_at_cap", &[]), 1);
        drop((a1, b1));
        // The guard tasks notice the drop asynchronously.
        for _ in 0..100 {
            if metrics.gauge("graph_in_flight", &[]) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.gauge("graph_in_flight", &[]), 1);
        assert_eq!(metrics.gauge("graph_mailboxes_busy", &[]), 1);
        assert_eq!(metrics.gauge("graph_mailboxes_at_cap", &[]), 0);
        assert!(!metrics.render().contains("contoso"));
        drop(a2);
    }
}
