//! The client against a small in-process Graph stand-in on 127.0.0.1:0.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use parking_lot::Mutex;

use super::*;

/// What the stand-in received, and how busy each mailbox (told apart by bearer) got.
#[derive(Default)]
struct Upstream {
    seen: Mutex<Vec<Seen>>,
    in_flight: Mutex<HashMap<String, usize>>,
    peak: Mutex<HashMap<String, usize>>,
    calls_by_path: Mutex<HashMap<String, usize>>,
    streams_open: AtomicUsize,
}

#[derive(Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
}

impl Upstream {
    fn peak(&self, bearer: &str) -> usize {
        self.peak.lock().get(bearer).copied().unwrap_or(0)
    }

    fn calls(&self) -> usize {
        self.seen.lock().len()
    }

    fn enter(&self, bearer: &str) {
        let mut in_flight = self.in_flight.lock();
        let n = in_flight.entry(bearer.to_owned()).or_insert(0);
        *n += 1;
        let mut peak = self.peak.lock();
        let p = peak.entry(bearer.to_owned()).or_insert(0);
        *p = (*p).max(*n);
    }

    fn leave(&self, bearer: &str) {
        if let Some(n) = self.in_flight.lock().get_mut(bearer) {
            *n -= 1;
        }
    }
}

async fn handle(State(up): State<Arc<Upstream>>, req: Request) -> Response {
    let path_and_query = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let path = req.uri().path().to_owned();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    up.seen.lock().push(Seen {
        method: req.method().to_string(),
        path_and_query: path_and_query.clone(),
        headers: req.headers().clone(),
    });
    let call = {
        let mut calls = up.calls_by_path.lock();
        let n = calls.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    match path.as_str() {
        "/v1.0/me/slow" => {
            up.enter(&bearer);
            tokio::time::sleep(Duration::from_millis(150)).await;
            up.leave(&bearer);
            (StatusCode::OK, "{\"ok\":true}").into_response()
        }
        "/v1.0/me/stream" => stream_response(up.clone()),
        "/v1.0/me/hang" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        "/v1.0/me/missing" => (
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store."}}"#,
        )
            .into_response(),
        p if p.starts_with("/v1.0/me/throttled/") => throttled(p, &path_and_query, call),
        _ => (
            StatusCode::OK,
            [("request-id", "graph-side-id")],
            format!("{{\"path\":{path_and_query:?}}}"),
        )
            .into_response(),
    }
}

/// `/v1.0/me/throttled/{n}?ra={secs}`: the first n calls answer 429 with that Retry-After.
fn throttled(path: &str, path_and_query: &str, call: usize) -> Response {
    let n: usize = path.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let ra = path_and_query.split("ra=").nth(1).unwrap_or("0").to_owned();
    if call <= n {
        let body = r#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#;
        (StatusCode::TOO_MANY_REQUESTS, [("retry-after", ra)], body).into_response()
    } else {
        (StatusCode::OK, "{\"ok\":true}").into_response()
    }
}

/// Three chunks 150 ms apart; counts open streams so tests can see when one ends.
fn stream_response(up: Arc<Upstream>) -> Response {
    up.streams_open.fetch_add(1, Ordering::SeqCst);
    let chunks = futures::stream::unfold(0u8, move |i| {
        let up = up.clone();
        async move {
            if i == 3 {
                up.streams_open.fetch_sub(1, Ordering::SeqCst);
                return None;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1000])), i + 1))
        }
    });
    Body::from_stream(chunks).into_response()
}

async fn spawn_upstream() -> (String, Arc<Upstream>) {
    let up = Arc::new(Upstream::default());
    let app = axum::Router::new().fallback(handle).with_state(up.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1.0"), up)
}

fn graph_config(base_url: &str) -> GraphConfig {
    GraphConfig {
        base_url: base_url.to_owned(),
        max_concurrency_per_mailbox: 4,
        timeout_secs: 5,
        max_retries: 3,
        max_retry_after_secs: 10,
    }
}

fn client_with(config: GraphConfig) -> (GraphClient, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let http = crate::http::client(Duration::from_secs(2)).unwrap();
    (GraphClient::with_config(&config, http, metrics.clone()), metrics)
}

async fn setup() -> (GraphClient, Arc<Upstream>, Arc<Metrics>) {
    let (base, up) = spawn_upstream().await;
    let (client, metrics) = client_with(graph_config(&base));
    (client, up, metrics)
}

fn get<'a>(path: &'a str, mailbox: &'a str) -> GraphRequest<'a> {
    GraphRequest::get(path, mailbox, mailbox, "6f0a5a8e-2c1b-4a43-9d1e-0d1f2b3c4d5e")
}

#[tokio::test]
async fn twenty_concurrent_requests_for_one_mailbox_never_exceed_four_in_flight() {
    let (client, up, metrics) = setup().await;
    let client = Arc::new(client);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let resp = client.send(get("/me/slow", "alice")).await.unwrap();
                let status = resp.status;
                resp.bytes().await.unwrap();
                status
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        up.peak("alice"),
        4,
        "the queue should fill all four slots and never more"
    );
    assert_eq!(up.calls(), 20);
    assert_eq!(metrics.get("graph_requests_total", &[("status", "200")]), 20);
    assert!(metrics.get("graph_mailbox_queued_total", &[]) >= 16);
}

#[tokio::test]
async fn a_busy_mailbox_does_not_block_another() {
    let (client, _up, _) = setup().await;
    let client = Arc::new(client);
    let busy: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.send(get("/me/slow", "alice")).await.unwrap().bytes().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let started = std::time::Instant::now();
    let resp = client.send(get("/me/slow", "bob")).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    // Bob waits only for his own call (150 ms), not for Alice's queue (600 ms).
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "bob waited {:?}",
        started.elapsed()
    );
    for t in busy {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn the_mailbox_slot_is_held_until_a_streamed_body_ends() {
    let (base, up) = spawn_upstream().await;
    let (client, _) = client_with(GraphConfig {
        max_concurrency_per_mailbox: 1,
        ..graph_config(&base)
    });
    let streaming = client.send(get("/me/stream", "alice")).await.unwrap();
    assert!(streaming.body.holds_permit());
    let blocked = tokio::time::timeout(Duration::from_millis(100), client.send(get("/me/other", "alice"))).await;
    assert!(
        blocked.is_err(),
        "a second call got through while the body was streaming"
    );

    let body = streaming.bytes().await.unwrap();
    assert_eq!(body.len(), 3000);
    assert_eq!(up.streams_open.load(Ordering::SeqCst), 0);
    let next = tokio::time::timeout(Duration::from_millis(500), client.send(get("/me/other", "alice"))).await;
    assert_eq!(next.unwrap().unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn dropping_an_unread_body_frees_the_slot() {
    let (base, _up) = spawn_upstream().await;
    let (client, _) = client_with(GraphConfig {
        max_concurrency_per_mailbox: 1,
        ..graph_config(&base)
    });
    let streaming = client.send(get("/me/stream", "alice")).await.unwrap();
    drop(streaming);
    let next = tokio::time::timeout(Duration::from_millis(500), client.send(get("/me/other", "alice"))).await;
    assert_eq!(next.unwrap().unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_and_retried() {
    let (client, up, metrics) = setup().await;
    let started = std::time::Instant::now();
    let resp = client.send(get("/me/throttled/1?ra=1", "alice")).await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(up.calls(), 2);
    assert_eq!(metrics.get("graph_throttled_total", &[]), 1);
    assert_eq!(metrics.get("graph_requests_total", &[("status", "429")]), 1);
    assert_eq!(metrics.get("graph_requests_total", &[("status", "200")]), 1);
}

#[tokio::test]
async fn patch_is_retried_and_post_is_not() {
    let (client, up, _) = setup().await;
    let patch = GraphRequest::new(Method::PATCH, "/me/throttled/1?ra=0", "t", "alice", "id-1")
        .json_body(Bytes::from_static(b"{\"singleValueExtendedProperties\":[]}"));
    assert_eq!(client.send(patch).await.unwrap().status, StatusCode::OK);
    assert_eq!(up.calls(), 2);
    let seen = up.seen.lock().clone();
    assert!(
        seen.iter()
            .all(|s| s.method == "PATCH" && s.headers["content-type"] == "application/json")
    );

    let post = GraphRequest::new(Method::POST, "/me/throttled/5?ra=0", "t", "alice", "id-2");
    let resp = client.send(post).await.unwrap();
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.retry_after(), Some(Duration::ZERO));
    assert_eq!(up.calls(), 3, "POST must not be retried");
}

#[tokio::test]
async fn retries_are_bounded_and_long_waits_go_back_to_the_caller() {
    let (client, up, metrics) = setup().await;
    let resp = client.send(get("/me/throttled/99?ra=0", "alice")).await.unwrap();
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(up.calls(), 4, "one call and max_retries = 3 retries");
    assert_eq!(metrics.get("graph_throttled_total", &[]), 4);

    let started = std::time::Instant::now();
    let resp = client.send(get("/me/throttled/99?ra=60", "alice")).await.unwrap();
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.retry_after(), Some(Duration::from_secs(60)));
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = resp.error_for_status().await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Status { status, code: Some(code), retry_after: Some(_), .. }
            if *status == StatusCode::TOO_MANY_REQUESTS && code == "ApplicationThrottled"),
        "{err:?}"
    );
}

#[tokio::test]
async fn only_me_paths_are_called() {
    let (client, up, _) = setup().await;
    for path in [
        "/users/x/messages/1",
        "/users/alice%40contoso.com/messages",
        "/messages",
        "/mex/messages",
        "me/messages",
        "/me/../users/x/messages",
        "/me/%2e%2E/users/x",
        "/me/messages/..%2F..%2Fusers%2Fx",
        "/me//messages",
    ] {
        let err = client.send(get(path, "alice")).await.unwrap_err();
        assert!(matches!(err, GraphError::ForbiddenPath { .. }), "{path}: {err:?}");
        assert_eq!(err.status_hint(), StatusCode::FORBIDDEN);
    }
    assert!(matches!(
        client.send(get("/me/messages#x", "alice")).await,
        Err(GraphError::InvalidRequest(_))
    ));
    assert_eq!(up.calls(), 0);
    assert_eq!(client.send(get("/me", "alice")).await.unwrap().status, StatusCode::OK);
    assert_eq!(
        client.send(get("/me?$select=id", "alice")).await.unwrap().status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn headers_ids_and_query_reach_graph_unchanged() {
    let (base, up) = spawn_upstream().await;
    let (client, _) = client_with(graph_config(&format!("{base}/")));
    let path = "/me/messages/AAMkAD_x-y%3D?$select=subject,body&$expand=singleValueExtendedProperties($filter=id%20eq%20%27x%27)";
    let req = GraphRequest::get(path, "secret-token", "alice", "3c1d0e5b-7f0b-4c55-9a8f-1c2d3e4f5a6b")
        .header(
            HeaderName::from_static("prefer"),
            HeaderValue::from_static("outlook.body-content-type=\"text\""),
        )
        .header(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer smuggled"),
        );
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.header_str("request-id"), Some("graph-side-id"));
    let seen = up.seen.lock()[0].clone();
    assert_eq!(seen.path_and_query, format!("/v1.0{path}"));
    assert_eq!(
        seen.headers["client-request-id"],
        "3c1d0e5b-7f0b-4c55-9a8f-1c2d3e4f5a6b"
    );
    assert_eq!(seen.headers["prefer"], "outlook.body-content-type=\"text\"");
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auth, ["Bearer secret-token"]);
}

#[tokio::test]
async fn graph_errors_carry_their_code() {
    let (client, _up, _) = setup().await;
    let err = client
        .send(get("/me/missing", "alice"))
        .await
        .unwrap()
        .error_for_status()
        .await
        .unwrap_err();
    match &err {
        GraphError::Status {
            status, code, message, ..
        } => {
            assert_eq!(*status, StatusCode::NOT_FOUND);
            assert_eq!(code.as_deref(), Some("ErrorItemNotFound"));
            assert!(message.as_deref().unwrap_or("").contains("not found"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.origin(), crate::error::Source::Downstream);
    let ok = client
        .send(get("/me/anything", "alice"))
        .await
        .unwrap()
        .error_for_status()
        .await
        .unwrap();
    let json: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(json["path"], "/v1.0/me/anything");
}

#[tokio::test]
async fn a_silent_graph_times_out_and_frees_the_slot() {
    let (base, _up) = spawn_upstream().await;
    let (client, metrics) = client_with(GraphConfig {
        timeout_secs: 1,
        max_concurrency_per_mailbox: 1,
        ..graph_config(&base)
    });
    let err = client.send(get("/me/hang", "alice")).await.unwrap_err();
    assert!(matches!(err, GraphError::Timeout(_)), "{err:?}");
    assert_eq!(err.status_hint(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(metrics.get("graph_requests_total", &[("status", "timeout")]), 1);
    let next = tokio::time::timeout(Duration::from_millis(500), client.send(get("/me/x", "alice"))).await;
    assert_eq!(next.unwrap().unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_graph_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (client, _) = client_with(graph_config(&format!("http://{addr}/v1.0")));
    let err = client.send(get("/me/messages/x", "alice")).await.unwrap_err();
    assert!(matches!(err, GraphError::Connect(_)), "{err:?}");
    assert_eq!(err.status_hint(), StatusCode::BAD_GATEWAY);
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn requests_never_print_the_bearer() {
    let req = GraphRequest::get("/me", "very-secret", "alice", "id");
    assert!(!format!("{req:?}").contains("very-secret"));
}
