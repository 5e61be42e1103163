//! The authenticated Graph pass-through: content, streaming, ids, and the per-mailbox cap.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use serde_json::Value;

use crate::support::{Options, spawn_app, spawn_app_with, www_authenticate};

#[tokio::test]
async fn a_seeded_attachment_comes_through_byte_for_byte_in_size() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = app.message_with_file(&alice);
    let res = app
        .get_attachment_value(&token, &msg, att["rest_id"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 200, "{}", www_authenticate(&res));
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with(att["content_type"].as_str().unwrap()),
        "{content_type}"
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, att["size"].as_u64().unwrap());
}

/// The seeded attachment of tens of MB: (message rest id, attachment json).
fn large_attachment(app: &crate::support::TestApp, upn: &str) -> (String, Value) {
    app.attachment_larger_than(upn, 10 << 20)
}

#[tokio::test]
async fn the_default_policy_refuses_an_attachment_over_35_mb() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = large_attachment(&app, &alice);
    assert!(
        att["size"].as_u64().unwrap() > 35 << 20,
        "the seeded file exceeds the default limit"
    );
    let res = app
        .get_attachment_value(&token, &msg, att["rest_id"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_large_attachment_streams_through_when_the_limit_allows_it() {
    let app = spawn_app_with(Options {
        overrides: serde_json::json!({ "policy": { "max_attachment_bytes": 64u64 << 20 } }),
        ..Options::default()
    })
    .await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = large_attachment(&app, &alice);
    let res = app
        .get_attachment_value(&token, &msg, att["rest_id"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let (mut total, mut chunks) = (0u64, 0u32);
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len() as u64;
        chunks += 1;
    }
    assert_eq!(total, att["size"].as_u64().unwrap());
    assert!(chunks > 1, "delivered as a stream, not one buffer");
}

#[tokio::test]
async fn ews_form_ids_are_accepted_and_malformed_ids_never_reach_graph() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let msg = app.messages(&alice).into_iter().find(|m| {
        let ews = m["ews_id"].as_str().unwrap_or("");
        ews.contains('/') || ews.contains('+')
    });
    if let Some(msg) = msg {
        let ews = urlencode(msg["ews_id"].as_str().unwrap());
        let res = app.get_message(&token, &ews, "?$select=subject").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["subject"], msg["subject"]);
    }
    let before = app.graph_stats()["requests"].as_u64().unwrap();
    let res = app.get_message(&token, "AAMkNotAnId", "").await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ErrorInvalidIdMalformed");
    assert_eq!(app.graph_stats()["requests"].as_u64().unwrap(), before);
}

fn urlencode(s: &str) -> String {
    s.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D")
}

#[tokio::test]
async fn other_mailboxes_are_refused() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let bob_msg = app.first_message(app.bob());
    let path = format!(
        "/v1.0/users/{}/messages/{}",
        app.bob(),
        bob_msg["rest_id"].as_str().unwrap()
    );
    let res = app.get(&token, &path).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_for_one_mailbox_never_exceed_four_at_graph() {
    let app = Arc::new(spawn_app().await);
    app.sims.graph.set_latency(Duration::from_millis(150));
    let alice = app.alice().to_string();
    let token = Arc::new(app.token_for(&alice).await);
    let id = Arc::new(app.first_message(&alice)["rest_id"].as_str().unwrap().to_string());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, token, id) = (app.clone(), token.clone(), id.clone());
            tokio::spawn(async move { app.get_message(&token, &id, "?$select=subject").await.status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200, "queued, not failed");
    }
    let stats = app.graph_stats();
    let mailbox = &stats["by_mailbox"][&alice];
    assert_eq!(mailbox["peak_concurrency"].as_u64().unwrap(), 4, "{stats}");
    assert_eq!(stats["throttled"].as_u64().unwrap(), 0, "{stats}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert!(res.headers().contains_key("request-id"));
    let res = app
        .http
        .get(format!("{}/readyz", app.url))
        .header("client-request-id", "b1c1d1e1-0000-4000-8000-000000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["request-id"], "b1c1d1e1-0000-4000-8000-000000000001");
}
