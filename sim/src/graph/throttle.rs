//! Graph's MailboxConcurrency limit (4 requests in flight per app and mailbox) and the counters
//! behind `/sandbox/stats`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::error::GraphError;

/// Requests one app may have in flight against one mailbox (Outlook service limit).
pub(crate) const MAILBOX_CONCURRENCY: u32 = 4;

#[derive(Debug, Default, Clone)]
struct MailboxStats {
    requests: u64,
    peak_concurrency: u32,
    throttled: u64,
}

#[derive(Debug, Default)]
struct State {
    in_flight: HashMap<(String, String), u32>,
    mailbox_in_flight: HashMap<String, u32>,
    requests: u64,
    throttled: u64,
    patches: u64,
    by_mailbox: BTreeMap<String, MailboxStats>,
}

/// Concurrency accounting and request counters.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    state: Mutex<State>,
}

/// One admitted request; frees its slot when dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    throttle: Arc<Throttle>,
    app: String,
    mailbox: String,
}

impl Throttle {
    /// Counts a request to the Graph API, whatever its outcome.
    pub(crate) fn count_request(&self) {
        self.state.lock().requests += 1;
    }

    /// Counts a request that reached a mailbox.
    pub(crate) fn count_mailbox_request(&self, mailbox: &str) {
        self.state
            .lock()
            .by_mailbox
            .entry(mailbox.to_owned())
            .or_default()
            .requests += 1;
    }

    /// Counts a successful PATCH.
    pub(crate) fn count_patch(&self) {
        self.state.lock().patches += 1;
    }

    /// Admits a request of `app` against `mailbox`, or answers 429 when four are in flight.
    pub(crate) fn admit(self: &Arc<Self>, app: &str, mailbox: &str) -> Result<InFlight, GraphError> {
        let mut state = self.state.lock();
        let key = (app.to_owned(), mailbox.to_owned());
        let current = state.in_flight.get(&key).copied().unwrap_or(0);
        if current >= MAILBOX_CONCURRENCY {
            state.throttled += 1;
            state.by_mailbox.entry(mailbox.to_owned()).or_default().throttled += 1;
            return Err(GraphError::mailbox_concurrency());
        }
        state.in_flight.insert(key, current + 1);
        let total = state.mailbox_in_flight.entry(mailbox.to_owned()).or_default();
        *total += 1;
        let total = *total;
        let stats = state.by_mailbox.entry(mailbox.to_owned()).or_default();
        stats.peak_concurrency = stats.peak_concurrency.max(total);
        Ok(InFlight {
            throttle: Arc::clone(self),
            app: app.to_owned(),
            mailbox: mailbox.to_owned(),
        })
    }

    /// Requests of `mailbox` in flight right now (all apps).
    pub(crate) fn in_flight(&self, mailbox: &str) -> u32 {
        self.state.lock().mailbox_in_flight.get(mailbox).copied().unwrap_or(0)
    }

    /// The `/sandbox/stats` document.
    pub(crate) fn snapshot(&self) -> Value {
        let state = self.state.lock();
        let by_mailbox: serde_json::Map<String, Value> = state
            .by_mailbox
            .iter()
            .map(|(upn, s)| {
                let v =
                    json!({"requests": s.requests, "peak_concurrency": s.peak_concurrency, "throttled": s.throttled});
                (upn.clone(), v)
            })
            .collect();
        json!({
            "requests": state.requests,
            "throttled": state.throttled,
            "patches": state.patches,
            "by_mailbox": by_mailbox,
        })
    }

    /// Zeroes the counters; peaks restart from what is in flight now.
    pub(crate) fn reset(&self) {
        let mut state = self.state.lock();
        state.requests = 0;
        state.throttled = 0;
        state.patches = 0;
        let in_flight = state.mailbox_in_flight.clone();
        state.by_mailbox.clear();
        for (mailbox, n) in in_flight.into_iter().filter(|(_, n)| *n > 0) {
            state.by_mailbox.entry(mailbox).or_default().peak_concurrency = n;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.throttle.state.lock();
        let key = (std::mem::take(&mut self.app), std::mem::take(&mut self.mailbox));
        if let Some(n) = state.in_flight.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.in_flight.remove(&key);
            }
        }
        if let Some(n) = state.mailbox_in_flight.get_mut(&key.1) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_concurrent_request_of_one_app_is_throttled_and_a_slot_frees_on_drop() {
        let throttle = Arc::new(Throttle::default());
        let slots: Vec<_> = (0..4)
            .map(|_| throttle.admit("app", "alice@contoso.com").unwrap())
            .collect();
        let err = throttle.admit("app", "alice@contoso.com").unwrap_err();
        assert_eq!(err.code, "ApplicationThrottled");
        assert!(
            throttle.admit("other-app", "alice@contoso.com").is_ok(),
            "the limit is per app"
        );
        assert!(throttle.admit("app", "bob@contoso.com").is_ok(), "and per mailbox");
        drop(slots);
        assert!(throttle.admit("app", "alice@contoso.com").is_ok());
        let stats = throttle.snapshot();
        assert_eq!(stats["throttled"], 1);
        assert_eq!(stats["by_mailbox"]["alice@contoso.com"]["peak_concurrency"], 5);
    }
}
