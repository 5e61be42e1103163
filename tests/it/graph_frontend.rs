//! The Graph-shaped front end: Graph's own shapes with the NAA token, `/users/{self}` as `/me`,
//! policy checks before Graph, and the official Python Graph SDK pointed at the gateway.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

const TAG: &str = "String {00020329-0000-0000-C000-000000000046} Name GatewayTag";

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["innerError"]["client-request-id"].is_string(), "{body}");
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.http
        .patch(format!("{}{path}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_callers_own_upn_or_object_id_is_served_as_me_and_no_one_else() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let seeded = app.first_message(&alice);
    let id = seeded["rest_id"].as_str().unwrap();
    let oid = app.seed().user(&alice).unwrap().oid.clone();
    for owner in [
        "me".to_owned(),
        format!("users/{}", alice.replace('@', "%40")),
        format!("users/{}", alice.to_uppercase()),
        format!("users/{oid}"),
    ] {
        let res = app
            .get(&token, &format!("/v1.0/{owner}/messages/{id}?$select=subject"))
            .await;
        assert_eq!(res.status(), 200, "{owner}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["subject"],
            seeded["subject"],
            "{owner}"
        );
    }
    let before = app.graph_stats()["requests"].as_u64().unwrap();
    let bob = app.seed().user(app.bob()).unwrap().clone();
    let bob_msg = app.first_message(&bob.upn)["rest_id"].as_str().unwrap().to_string();
    for owner in [format!("users/{}", bob.upn), format!("users/{}", bob.oid)] {
        let res = app.get(&token, &format!("/v1.0/{owner}/messages/{bob_msg}")).await;
        assert_eq!(res.status(), 403, "{owner}");
        assert_graph_error(&res.json().await.unwrap(), "ErrorAccessDenied");
    }
    assert_eq!(
        app.graph_stats()["requests"].as_u64().unwrap(),
        before,
        "refused before Graph"
    );
}

#[tokio::test]
async fn messages_attachments_and_extended_property_writes_in_graphs_shape() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = app.message_with_file(&alice);
    let message: Value = app.get_message(&token, &msg, "").await.json().await.unwrap();
    assert_eq!(message["body"]["contentType"], "html");
    assert_eq!(message["importance"], "normal");

    let list: Value = app
        .get(&token, &format!("/v1.0/me/messages/{msg}/attachments"))
        .await
        .json()
        .await
        .unwrap();
    let items = list["value"].as_array().unwrap();
    assert!(
        items
            .iter()
            .all(|a| a["@odata.type"] == "#microsoft.graph.fileAttachment"),
        "{list}"
    );
    let att_id = att["rest_id"].as_str().unwrap();
    let one: Value = app
        .get(&token, &format!("/v1.0/me/messages/{msg}/attachments/{att_id}"))
        .await
        .json()
        .await
        .unwrap();
    let raw = app
        .get_attachment_value(&token, &msg, att_id)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        STANDARD.decode(one["contentBytes"].as_str().unwrap()).unwrap(),
        raw.to_vec()
    );

    let body = json!({"singleValueExtendedProperties": [{"id": TAG, "value": "seen"}]});
    let res = patch(&app, &token, &format!("/v1.0/me/messages/{msg}"), body).await;
    assert_eq!(res.status(), 200);
    let query = format!(
        "?$expand=singleValueExtendedProperties($filter=id%20eq%20'{}')",
        TAG.replace(' ', "%20")
    );
    let read: Value = app.get_message(&token, &msg, &query).await.json().await.unwrap();
    assert_eq!(read["singleValueExtendedProperties"][0]["value"], "seen", "{read}");

    let res = patch(
        &app,
        &token,
        &format!("/v1.0/me/messages/{msg}"),
        json!({"subject": "x"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_graph_error(&res.json().await.unwrap(), "ErrorInvalidRequest");
    let denied = json!({"singleValueExtendedProperties": [{"id": "String {00020329-0000-0000-C000-000000000046} Name Other", "value": "x"}]});
    let res = patch(&app, &token, &format!("/v1.0/me/messages/{msg}"), denied).await;
    assert_eq!(res.status(), 403);
    assert_graph_error(&res.json().await.unwrap(), "ErrorAccessDenied");
}

#[tokio::test]
async fn the_policy_is_asked_before_graph_and_filters_attachment_lists() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    // The default policy stops at 35 MB: the 48 MiB video is neither listed nor served.
    let (msg, big) = app.attachment_larger_than(&alice, 35 << 20);
    let big_id = big["rest_id"].as_str().unwrap();
    let list: Value = app
        .get(&token, &format!("/v1.0/me/messages/{msg}/attachments"))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert!(!ids.contains(&big_id), "{ids:?}");
    assert!(!ids.is_empty(), "the small reference attachment is still listed");
    let res = app.get_attachment_value(&token, &msg, big_id).await;
    assert_eq!(res.status(), 403);
    assert_graph_error(&res.json().await.unwrap(), "ErrorAccessDenied");
    let res = app.get(&token, &format!("/v1.0/me/messages/{msg}/$value")).await;
    assert_eq!(res.status(), 403, "MIME reads are not in the default policy");

    let rest: Value = crate::rest::rest_get(&app, &token, &format!("/api/v2.0/me/messages/{msg}/attachments"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        rest["value"].as_array().unwrap().len(),
        ids.len(),
        "the REST list is filtered alike"
    );

    // Attachments expanded on the message are filtered the same way, in both shapes.
    let expanded: Value = app
        .get_message(&token, &msg, "?$select=subject&$expand=attachments")
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = expanded["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(listed, ids, "{expanded}");
    let path = format!("/api/v2.0/me/messages/{msg}?$select=Subject&$expand=Attachments");
    let rest: Value = crate::rest::rest_get(&app, &token, &path, None)
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = rest["Attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["Id"].as_str())
        .collect();
    assert_eq!(listed, ids, "{rest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_graph_sdk_reads_and_writes_through_the_gateway() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = app.message_with_file(&alice);
    let args = [
        format!("{}/v1.0", app.url),
        token,
        alice.clone(),
        msg.clone(),
        att["rest_id"].as_str().unwrap().to_string(),
        TAG.to_string(),
        app.bob().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::python::run(include_str!("../clients/msgraph_sdk.py"), &args)
    })
    .await
    .unwrap();
    let out: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    let seeded = app
        .messages(&alice)
        .into_iter()
        .find(|m| m["rest_id"] == msg.as_str())
        .unwrap();
    assert_eq!(out["subject"], seeded["subject"], "{out}");
    assert_eq!(out["body_type"], "html");
    assert!(out["body_length"].as_u64().unwrap() > 20);
    assert_eq!(out["attachment_type"], "FileAttachment");
    assert_eq!(out["attachment_name"], att["name"]);
    assert_eq!(out["attachment_bytes"], att["size"]);
    assert_eq!(out["patched_id"], msg.as_str());
    assert_eq!(out["property_values"], json!(["processed-by-sdk"]));
    assert_eq!(out["other_user"]["status"], 403, "{out}");
    assert_eq!(out["other_user"]["code"], "ErrorAccessDenied");
}
