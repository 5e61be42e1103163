//! The only Microsoft Graph HTTP client: `/me/...` paths only, at most N requests in flight per
//! mailbox (queued, not failed), `client-request-id` on every call, and `Retry-After` honoured
//! on 429/503 for idempotent calls.
//!
//! Retries: GET, HEAD, PUT, DELETE (idempotent by HTTP's definition) and PATCH are retried.
//! PATCH is included because Graph's PATCH sets properties to absolute values (the gateway
//! writes `singleValueExtendedProperties`), so applying it twice leaves the same state. POST is
//! never retried: it may create something. A wait longer than `max_retry_after_secs` is not
//! taken; Graph's 429/503 then goes back to the caller with its `Retry-After`. The mailbox slot
//! is released while waiting, so a throttled request does not block its mailbox.

mod body;
mod error;
mod limiter;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::TryStreamExt;
use reqwest::{
    Method, StatusCode,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use tokio::{sync::OwnedSemaphorePermit, time::Instant};

use self::limiter::{Acquired, MailboxLimiter};
pub use self::{body::GraphBody, error::GraphError};
use crate::{
    config::{Config, GraphConfig},
    telemetry::Metrics,
};

/// The header Graph correlates a call by (and echoes back).
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

/// Headers the client sets itself or that must not be forwarded hop to hop.
const RESERVED_HEADERS: [&str; 10] = [
    "authorization",
    "client-request-id",
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// Most bytes of an error body read to extract Graph's error code.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The Graph client; one per process, shared by every front end.
pub struct GraphClient {
    http: reqwest::Client,
    /// Base URL without trailing slash (`https://graph.microsoft.com/v1.0`).
    base_url: String,
    /// Path part of the base URL without trailing slash (`/v1.0`).
    base_path: String,
    timeout: Duration,
    max_retries: u32,
    max_retry_after: Duration,
    limiter: MailboxLimiter,
    metrics: Arc<Metrics>,
}

/// One call to Graph.
pub struct GraphRequest<'a> {
    /// HTTP method.
    pub method: Method,
    /// Path below the base URL, already percent-encoded: `/me` or `/me/...`, query included.
    /// Characters URLs never carry raw in a query (`'`, `"`, `<`, `>`) are escaped on the way.
    pub path_and_query: &'a str,
    /// The Graph access token (never logged).
    pub bearer: &'a str,
    /// Whose mailbox this touches, for the concurrency limit ([`crate::auth::Caller::mailbox_key`]).
    pub mailbox: &'a str,
    /// Sent as `client-request-id`, for correlation with Graph's logs.
    pub client_request_id: &'a str,
    /// Extra headers (e.g. `Prefer`, `Content-Type`); reserved and hop-by-hop ones are dropped.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request body.
    pub body: Option<Bytes>,
}

/// Graph's answer: status, headers and a streamed body that holds the mailbox slot.
#[derive(Debug)]
pub struct GraphResponse {
    /// Graph's status.
    pub status: StatusCode,
    /// Graph's headers.
    pub headers: HeaderMap,
    /// The body; frees the mailbox slot when fully read or dropped.
    pub body: GraphBody,
}

// === impl GraphRequest ===

impl<'a> GraphRequest<'a> {
    /// A request without extra headers or body.
    pub fn new(
        method: Method,
        path_and_query: &'a str,
        bearer: &'a str,
        mailbox: &'a str,
        client_request_id: &'a str,
    ) -> GraphRequest<'a> {
        GraphRequest {
            method,
            path_and_query,
            bearer,
            mailbox,
            client_request_id,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A GET request.
    pub fn get(path_and_query: &'a str, bearer: &'a str, mailbox: &'a str, client_request_id: &'a str) -> Self {
        Self::new(Method::GET, path_and_query, bearer, mailbox, client_request_id)
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sets a JSON body and its `Content-Type`.
    pub fn json_body(mut self, body: Bytes) -> Self {
        self.headers.push((
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        self.body = Some(body);
        self
    }
}

impl std::fmt::Debug for GraphRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphRequest")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("mailbox", &self.mailbox)
            .field("client_request_id", &self.client_request_id)
            .finish_non_exhaustive()
    }
}

// === impl GraphClient ===

impl GraphClient {
    /// Builds the client from the `[graph]` configuration and the shared HTTP client.
    pub fn new(config: &Config, http: reqwest::Client, metrics: Arc<Metrics>) -> GraphClient {
        let limiter = MailboxLimiter::shared(
            config.graph.max_concurrency_per_mailbox,
            &config.cache,
            Arc::clone(&metrics),
        );
        GraphClient {
            limiter,
            ..Self::with_config(&config.graph, http, metrics)
        }
    }

    /// Builds the client from the `[graph]` section alone.
    pub fn with_config(config: &GraphConfig, http: reqwest::Client, metrics: Arc<Metrics>) -> GraphClient {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let base_path = url::Url::parse(&base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        GraphClient {
            http,
            base_url,
            base_path,
            timeout: Duration::from_secs(config.timeout_secs),
            max_retries: config.max_retries,
            max_retry_after: Duration::from_secs(config.max_retry_after_secs),
            limiter: MailboxLimiter::new(config.max_concurrency_per_mailbox),
            metrics,
        }
    }

    /// Sends `req`, waiting for a slot of its mailbox first. Any HTTP status is an `Ok`
    /// answer (use [`GraphResponse::error_for_status`] to turn Graph's errors into
    /// [`GraphError::Status`]); `Err` means no answer: refused path, timeout, connection.
    pub async fn send(&self, req: GraphRequest<'_>) -> Result<GraphResponse, GraphError> {
        let url = self.url_for(req.path_and_query)?;
        let headers = request_headers(&req)?;
        let retryable = is_retryable(&req.method);
        let mut attempt = 0;
        loop {
            let permit = self.acquire(req.mailbox).await;
            let response = self.attempt(&req, &url, &headers, attempt).await?;
            match self.retry_delay(&response, retryable, attempt) {
                Some(delay) => {
                    // Free the slot while waiting: the mailbox may serve others meanwhile.
                    drop(response);
                    drop(permit);
                    tracing::debug!(
                        client_request_id = req.client_request_id,
                        ?delay,
                        attempt,
                        "retrying Graph call"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => return Ok(GraphResponse::new(response, permit, self.timeout)),
            }
        }
    }

    async fn acquire(&self, mailbox: &str) -> OwnedSemaphorePermit {
        let acquired = self.limiter.acquire(mailbox).await;
        if matches!(acquired, Acquired::AfterQueueing(_)) {
            self.metrics.incr("graph_mailbox_queued_total", &[]);
        }
        acquired.into_permit()
    }

    /// One HTTP exchange up to the response headers, counted and logged.
    async fn attempt(
        &self,
        req: &GraphRequest<'_>,
        url: &url::Url,
        headers: &HeaderMap,
        attempt: u32,
    ) -> Result<reqwest::Response, GraphError> {
        let mut builder = self
            .http
            .request(req.method.clone(), url.clone())
            .headers(headers.clone());
        builder = builder.bearer_auth(req.bearer);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, builder.send()).await {
            Err(_) => Err(GraphError::Timeout(self.timeout)),
            Ok(result) => result.map_err(GraphError::from_reqwest),
        };
        let latency_ms = started.elapsed().as_millis();
        self.metrics.observe(
            "graph_request_duration_seconds",
            &[("method", req.method.as_str())],
            started.elapsed().as_secs_f64(),
        );
        match &outcome {
            Ok(response) => {
                let status = response.status();
                self.metrics
                    .incr("graph_requests_total", &[("status", status.as_str())]);
                if is_throttled(status) {
                    self.metrics.incr("graph_throttled_total", &[]);
                }
                tracing::debug!(client_request_id = req.client_request_id, method = %req.method,
                    path = req.path_and_query, status = status.as_u16(), latency_ms, attempt, "graph call");
            }
            Err(e) => {
                self.metrics.incr("graph_requests_total", &[("status", e.label())]);
                tracing::debug!(client_request_id = req.client_request_id, method = %req.method,
                    path = req.path_and_query, error = %e, latency_ms, attempt, "graph call failed");
            }
        }
        outcome
    }

    /// How long to wait before retrying, or `None` to hand the answer back as is.
    fn retry_delay(&self, response: &reqwest::Response, retryable: bool, attempt: u32) -> Option<Duration> {
        if !retryable || attempt >= self.max_retries || !is_throttled(response.status()) {
            return None;
        }
        // Without Retry-After, back off exponentially (1 s, 2 s, 4 s, …) as Graph advises.
        let delay = retry_after(response.headers()).unwrap_or_else(|| Duration::from_secs(1 << attempt.min(16)));
        (delay <= self.max_retry_after).then_some(delay)
    }

    /// The absolute URL for a `/me` path; anything else is refused.
    fn url_for(&self, path_and_query: &str) -> Result<url::Url, GraphError> {
        check_me_path(path_and_query)?;
        let url = url::Url::parse(&format!("{}{}", self.base_url, path_and_query))
            .map_err(|e| GraphError::InvalidRequest(format!("cannot build a URL from graph.base_url: {e}")))?;
        // URL normalisation must not have moved the request out of /me (defence in depth).
        let me = format!("{}/me", self.base_path);
        let path = url.path();
        if path != me && !path.starts_with(&format!("{me}/")) {
            return Err(GraphError::ForbiddenPath { path: path.to_owned() });
        }
        Ok(url)
    }
}

// === impl GraphResponse ===

impl GraphResponse {
    fn new(mut response: reqwest::Response, permit: OwnedSemaphorePermit, idle_timeout: Duration) -> GraphResponse {
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        GraphResponse {
            status,
            headers,
            body: GraphBody::new(response, permit, idle_timeout),
        }
    }

    /// A header as text, if present and visible ASCII.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Graph's `Retry-After`, in seconds form.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The body for an axum response, still holding the mailbox slot while it streams.
    pub fn into_axum_body(self) -> axum::body::Body {
        axum::body::Body::from_stream(self.body)
    }

    /// Reads the whole body (frees the mailbox slot).
    pub async fn bytes(self) -> Result<Bytes, GraphError> {
        collect(self.body, usize::MAX).await
    }

    /// Reads the whole body as JSON.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, GraphError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(GraphError::Decode)
    }

    /// Passes a 2xx answer through; turns any other into [`GraphError::Status`] carrying
    /// Graph's `error.code` and `error.message`.
    pub async fn error_for_status(self) -> Result<GraphResponse, GraphError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let (status, retry_after) = (self.status, self.retry_after());
        let body = collect(self.body, ERROR_BODY_LIMIT).await.unwrap_or_default();
        let (code, message) = graph_error_fields(&body);
        Err(GraphError::Status {
            status,
            code,
            message,
            retry_after,
        })
    }
}

/// Reads up to `limit` bytes of a body; the rest is dropped unread.
async fn collect(mut body: GraphBody, limit: usize) -> Result<Bytes, GraphError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.try_next().await? {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Ok(Bytes::from(out))
}

/// `error.code` and `error.message` of Graph's error body, when it has that shape.
fn graph_error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let field = |name: &str| value.get("error")?.get(name)?.as_str().map(str::to_owned);
    (field("code"), field("message"))
}

/// Caller headers minus reserved ones, plus `client-request-id`.
fn request_headers(req: &GraphRequest<'_>) -> Result<HeaderMap, GraphError> {
    let mut map = HeaderMap::new();
    for (name, value) in &req.headers {
        if !RESERVED_HEADERS.contains(&name.as_str()) {
            map.append(name.clone(), value.clone());
        }
    }
    let id = HeaderValue::from_str(req.client_request_id)
        .map_err(|_| GraphError::InvalidRequest("client-request-id is not a valid header value".into()))?;
    map.insert(CLIENT_REQUEST_ID, id);
    Ok(map)
}

/// Refuses any path that is not `/me` or below, or that could escape it once normalised.
fn check_me_path(path_and_query: &str) -> Result<(), GraphError> {
    let path = path_and_query.split_once('?').map_or(path_and_query, |(p, _)| p);
    let forbidden = || GraphError::ForbiddenPath { path: path.to_owned() };
    let rest = path.strip_prefix("/me").ok_or_else(forbidden)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return Err(forbidden());
    }
    if path_and_query.contains(['#', '\\']) || path_and_query.chars().any(|c| c.is_control() || c == ' ') {
        return Err(GraphError::InvalidRequest(
            "path contains '#', '\\', a space or a control character".into(),
        ));
    }
    let lower = path.to_ascii_lowercase();
    // An encoded slash or backslash could be decoded into a separator further along.
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(forbidden());
    }
    if rest
        .split('/')
        .skip(1)
        .any(|segment| segment.is_empty() || is_dot_segment(segment))
    {
        return Err(forbidden());
    }
    Ok(())
}

fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

fn is_retryable(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::PATCH].contains(method)
}

/// 429, and 503 (which Graph also sends with `Retry-After` when it sheds load).
fn is_throttled(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// `Retry-After` in delta-seconds form, the one Graph uses.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests;
