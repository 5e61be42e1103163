//! Per-mailbox concurrency: at most N Graph requests in flight per mailbox, the rest queue.
//!
//! Graph allows 4 concurrent requests per (app, mailbox); a fifth gets 429. Each mailbox gets a
//! semaphore that lives exactly as long as someone holds or awaits one of its permits: the
//! map keeps only `Weak` handles and is swept of dead ones as it grows, so idle mailboxes cost
//! nothing and the map cannot grow without bound.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Below this many entries the map is not swept.
const MIN_SWEEP_AT: usize = 1024;

/// Semaphores by mailbox key.
pub(crate) struct MailboxLimiter {
    per_mailbox: usize,
    state: Mutex<State>,
}

struct State {
    semaphores: HashMap<String, Weak<Semaphore>>,
    /// Sweep dead entries once the map grows past this size (amortised O(1) per acquire).
    sweep_at: usize,
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
    /// A limiter allowing `per_mailbox` (at least 1) permits per mailbox.
    pub(crate) fn new(per_mailbox: usize) -> MailboxLimiter {
        MailboxLimiter {
            per_mailbox: per_mailbox.max(1),
            state: Mutex::new(State {
                semaphores: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    /// Waits (in FIFO order) for a slot of `mailbox`.
    pub(crate) async fn acquire(&self, mailbox: &str) -> Acquired {
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
}
