//! Router tests for the Graph simulator over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::GraphSim;
use crate::ids::{ExchangeId, ews_to_rest};
use crate::seed::SeedTenant;
use crate::{GraphCaller, GraphTokenVerifier};

const ALICE: &str = "alice@contoso.com";
const BOB: &str = "bob@contoso.com";
const READ: &str = "test:alice@contoso.com:Mail.Read";
const WRITE: &str = "test:alice@contoso.com:Mail.ReadWrite";
const X_WORKFRONT: &str = "String {00020386-0000-0000-C000-000000000046} Name X-Workfront-Id";

/// Accepts `test:<upn>:<scope,scope>[:<app id>]`.
struct FakeVerifier;

impl GraphTokenVerifier for FakeVerifier {
    fn verify_graph_token(&self, bearer: &str) -> Result<GraphCaller, String> {
        let parts: Vec<&str> = bearer.split(':').collect();
        let ["test", upn, scopes, rest @ ..] = parts.as_slice() else {
            return Err("CompactToken parsing failed with error code: 80049217".into());
        };
        let seed = SeedTenant::contoso();
        let user = seed.user(upn).ok_or("Invalid audience.")?;
        Ok(GraphCaller {
            tenant_id: seed.tenant_id.clone(),
            oid: user.oid.clone(),
            upn: user.upn.clone(),
            app_id: rest.first().unwrap_or(&"gateway").to_string(),
            scopes: scopes.split(',').map(str::to_owned).collect(),
        })
    }
}

struct Harness {
    sim: GraphSim,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Harness {
        let sim = GraphSim::start(SeedTenant::contoso(), Arc::new(FakeVerifier))
            .await
            .unwrap();
        Harness {
            sim,
            http: crate::test_http_client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.url())
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    async fn get_json(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let resp = self.get(token, path).await;
        (resp.status(), resp.json().await.unwrap())
    }

    /// Message `index` of `upn`'s sandbox listing.
    fn message(&self, upn: &str, index: usize) -> Value {
        self.sim.messages(upn)[index].clone()
    }

    /// (message rest id, attachment rest id) of the attachment named by `pred`.
    fn attachment(&self, upn: &str, pred: impl Fn(&Value) -> bool) -> (String, Value) {
        for msg in self.sim.messages(upn) {
            if let Some(att) = msg["attachments"].as_array().unwrap().iter().find(|a| pred(a)) {
                return (msg["rest_id"].as_str().unwrap().to_owned(), att.clone());
            }
        }
        panic!("no such attachment");
    }
}

async fn sha_of_stream(mut resp: reqwest::Response) -> (u64, Vec<u8>) {
    let mut hash = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        n += chunk.len() as u64;
        hash.update(&chunk);
    }
    (n, hash.finalize().to_vec())
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn mailboxes_have_their_own_guid_in_every_id_and_differ_per_user() {
    let h = Harness::start().await;
    let seed = SeedTenant::contoso();
    for user in &seed.users {
        let messages = h.sim.messages(&user.upn);
        assert!(messages.len() >= 4);
        for msg in &messages {
            let id = ExchangeId::parse_rest(msg["rest_id"].as_str().unwrap()).unwrap();
            assert_eq!(id.item().mailbox_guid(), user.mailbox_guid);
            assert_eq!(id.item().store_id().len(), 70);
            assert_eq!(ews_to_rest(msg["ews_id"].as_str().unwrap()), msg["rest_id"]);
            for att in msg["attachments"].as_array().unwrap() {
                let ExchangeId::Attachment(att_id) = ExchangeId::parse_ews(att["ews_id"].as_str().unwrap()).unwrap()
                else {
                    panic!("attachment id expected");
                };
                assert_eq!(att_id.item(), id.item());
            }
        }
    }
    let subjects = |upn| {
        h.sim
            .messages(upn)
            .iter()
            .map(|m| m["subject"].clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(subjects(ALICE), subjects(BOB));
    let again = GraphSim::start(SeedTenant::contoso(), Arc::new(FakeVerifier))
        .await
        .unwrap();
    assert_eq!(again.messages(ALICE), h.sim.messages(ALICE), "ids are deterministic");
}

#[tokio::test]
async fn get_message_has_graphs_shape_and_headers() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 0)["rest_id"].as_str().unwrap().to_owned();
    let resp = h
        .http
        .get(h.url(&format!("/v1.0/me/messages/{id}")))
        .bearer_auth(READ)
        .header("client-request-id", "7d1c3a52-0d4e-4a39-9b58-2f7b8f1b9a11")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["client-request-id"],
        "7d1c3a52-0d4e-4a39-9b58-2f7b8f1b9a11"
    );
    assert_eq!(resp.headers()["request-id"].len(), 36);
    assert!(resp.headers().contains_key("x-ms-ags-diagnostic"));
    let body: Value = resp.json().await.unwrap();
    let oid = &SeedTenant::contoso().users[0].oid;
    assert_eq!(
        body["@odata.context"],
        format!("https://graph.microsoft.com/v1.0/$metadata#users('{oid}')/messages/$entity")
    );
    assert_eq!(body["id"], id.as_str());
    assert_eq!(
        body["@odata.etag"],
        format!("W/\"{}\"", body["changeKey"].as_str().unwrap())
    );
    for key in [
        "subject",
        "body",
        "from",
        "sender",
        "toRecipients",
        "conversationId",
        "webLink",
        "flag",
        "bodyPreview",
    ] {
        assert!(body.get(key).is_some(), "{key} missing");
    }
    assert_eq!(body["body"]["contentType"], "html");
    assert_eq!(body["hasAttachments"], true);
    assert!(body.get("uniqueBody").is_none() && body.get("internetMessageHeaders").is_none());
    assert!(body.get("singleValueExtendedProperties").is_none());
}

#[tokio::test]
async fn select_is_case_insensitive_and_unknown_properties_fail() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 0)["rest_id"].as_str().unwrap().to_owned();
    let path = format!("/v1.0/users/{ALICE}/messages/{id}?$select=SUBJECT,uniqueBody,internetMessageHeaders");
    let (status, body) = h.get_json(READ, &path).await;
    assert_eq!(status, 200);
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "@odata.etag",
            "id",
            "internetMessageHeaders",
            "subject",
            "uniqueBody"
        ]
    );
    let headers = body["internetMessageHeaders"].as_array().unwrap();
    for name in [
        "Received",
        "DKIM-Signature",
        "Message-ID",
        "X-Workfront-Id",
        "Content-Type",
    ] {
        assert!(headers.iter().any(|h| h["name"] == name), "{name} missing");
    }
    let (status, body) = h
        .get_json(READ, &format!("/v1.0/me/messages/{id}?$select=subject,colour"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "RequestBroker--ParseUri");
    assert_eq!(
        body["error"]["message"],
        "Could not find a property named 'colour' on type 'microsoft.graph.message'."
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn extended_properties_expand_with_or_filters() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 0)["rest_id"].as_str().unwrap().to_owned();
    let filter = format!(
        "id eq '{X_WORKFRONT}' or id eq 'String {{00020329-0000-0000-C000-000000000046}} Name Missing' or id eq 'String 0x007D'"
    );
    let path =
        format!("/v1.0/me/messages/{id}?$select=subject&$expand=singleValueExtendedProperties($filter={filter})");
    let (status, body) = h.get_json(READ, &path).await;
    assert_eq!(status, 200, "{body}");
    let props = body["singleValueExtendedProperties"].as_array().unwrap();
    assert_eq!(props.len(), 2);
    assert_eq!(
        props[0]["id"],
        "String {00020386-0000-0000-c000-000000000046} Name X-Workfront-Id"
    );
    assert_eq!(props[0]["value"], "WF-88213");
    assert_eq!(props[1]["id"], "String 0x7d");
    assert!(props[1]["value"].as_str().unwrap().starts_with("Received: from "));
    let bad = format!("/v1.0/me/messages/{id}?$expand=singleValueExtendedProperties($filter=id eq 'Strng 0x7D')");
    let (status, body) = h.get_json(READ, &bad).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (400, "ErrorInvalidExtendedProperty")
    );
}

#[tokio::test]
async fn prefer_text_converts_body_and_unique_body() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 3)["rest_id"].as_str().unwrap().to_owned(); // forwarded contract
    let resp = h
        .http
        .get(h.url(&format!("/v1.0/me/messages/{id}?$select=body,uniqueBody")))
        .bearer_auth(READ)
        .header("Prefer", "outlook.body-content-type=\"text\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["preference-applied"],
        "outlook.body-content-type=\"text\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["body"]["contentType"], "text");
    assert_eq!(body["uniqueBody"]["contentType"], "text");
    let text = body["body"]["content"].as_str().unwrap();
    assert!(!text.contains('<') && text.contains("From: Kenji Sato"));
    assert!(!body["uniqueBody"]["content"].as_str().unwrap().contains("Kenji"));
    let text_id = h.message(ALICE, 4)["rest_id"].as_str().unwrap().to_owned();
    let resp = h
        .http
        .get(h.url(&format!("/v1.0/me/messages/{text_id}")))
        .bearer_auth(READ)
        .header("Prefer", "outlook.body-content-type=\"html\"")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["body"]["contentType"], "html");
    assert!(body["body"]["content"].as_str().unwrap().contains("<br>"));
}

#[tokio::test]
async fn attachment_list_and_small_file_bytes_agree_with_value() {
    let h = Harness::start().await;
    let msg = h.message(ALICE, 0);
    let id = msg["rest_id"].as_str().unwrap();
    let (status, list) = h.get_json(READ, &format!("/v1.0/me/messages/{id}/attachments")).await;
    assert_eq!(status, 200);
    let pdf = &list["value"][0];
    assert_eq!(pdf["@odata.type"], "#microsoft.graph.fileAttachment");
    assert_eq!(pdf["contentType"], "application/pdf");
    let listed_bytes = STANDARD.decode(pdf["contentBytes"].as_str().unwrap()).unwrap();
    assert_eq!(pdf["size"], listed_bytes.len());
    let att_id = pdf["id"].as_str().unwrap();
    let (_, single) = h
        .get_json(READ, &format!("/v1.0/me/messages/{id}/attachments/{att_id}"))
        .await;
    assert_eq!(
        STANDARD.decode(single["contentBytes"].as_str().unwrap()).unwrap(),
        listed_bytes
    );
    assert!(
        single["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/attachments/$entity")
    );
    let resp = h
        .get(READ, &format!("/v1.0/me/messages/{id}/attachments/{att_id}/$value"))
        .await;
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(
        resp.headers()["content-length"],
        listed_bytes.len().to_string().as_str()
    );
    let raw = resp.bytes().await.unwrap();
    assert_eq!(raw.to_vec(), listed_bytes);
    assert!(raw.starts_with(b"%PDF-"));
}

#[tokio::test]
async fn inline_image_and_non_ascii_name_are_listed() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 1)["rest_id"].as_str().unwrap().to_owned();
    let (_, list) = h.get_json(READ, &format!("/v1.0/me/messages/{id}/attachments")).await;
    let image = &list["value"][0];
    assert_eq!(image["isInline"], true);
    let cid = image["contentId"].as_str().unwrap();
    let (_, msg) = h
        .get_json(READ, &format!("/v1.0/me/messages/{id}?$select=body,hasAttachments"))
        .await;
    assert!(msg["body"]["content"].as_str().unwrap().contains(&format!("cid:{cid}")));
    assert_eq!(list["value"][1]["name"], "Übersicht März 2026 – 東京.xlsx");
}

#[tokio::test]
async fn large_attachment_streams_raw_and_base64_with_matching_size() {
    let h = Harness::start().await;
    let (msg_id, att) = h.attachment(ALICE, |a| a["content_type"] == "video/mp4");
    let att_id = att["rest_id"].as_str().unwrap();
    assert_eq!(att["size"], super::LARGE_ATTACHMENT_BYTES);
    let (_, list) = h
        .get_json(READ, &format!("/v1.0/me/messages/{msg_id}/attachments"))
        .await;
    let listed = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == att_id)
        .unwrap();
    assert_eq!(
        listed["contentBytes"],
        Value::Null,
        "large files are not inlined in lists"
    );
    assert_eq!(listed["size"], super::LARGE_ATTACHMENT_BYTES);

    let resp = h
        .get(READ, &format!("/v1.0/me/messages/{msg_id}/attachments/{att_id}/$value"))
        .await;
    assert_eq!(
        resp.headers()["content-length"],
        super::LARGE_ATTACHMENT_BYTES.to_string().as_str()
    );
    let (n, raw_sha) = sha_of_stream(resp).await;
    assert_eq!(n, super::LARGE_ATTACHMENT_BYTES);

    let resp = h
        .get(READ, &format!("/v1.0/me/messages/{msg_id}/attachments/{att_id}"))
        .await;
    let declared: usize = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let text = resp.bytes().await.unwrap();
    assert_eq!(text.len(), declared);
    let body: Value = serde_json::from_slice(&text).unwrap();
    let decoded = STANDARD.decode(body["contentBytes"].as_str().unwrap()).unwrap();
    assert_eq!(&decoded[4..8], b"ftyp");
    assert_eq!(Sha256::digest(&decoded).to_vec(), raw_sha);
}

#[tokio::test]
async fn item_attachment_expands_and_renders_as_mime() {
    let h = Harness::start().await;
    let (msg_id, att) = h.attachment(ALICE, |a| a["kind"] == "item");
    let att_id = att["rest_id"].as_str().unwrap();
    let path = format!("/v1.0/me/messages/{msg_id}/attachments/{att_id}");
    let (_, plain) = h.get_json(READ, &path).await;
    assert_eq!(plain["@odata.type"], "#microsoft.graph.itemAttachment");
    assert_eq!(plain["contentType"], Value::Null);
    assert!(plain.get("item").is_none());
    let (status, expanded) = h
        .get_json(READ, &format!("{path}?$expand=microsoft.graph.itemAttachment/item"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(expanded["item"]["@odata.type"], "#microsoft.graph.message");
    assert_eq!(expanded["item"]["id"], "");
    assert_eq!(expanded["item"]["subject"], plain["name"]);
    let (status, body) = h.get_json(READ, &format!("{path}?$expand=item")).await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "RequestBroker--ParseUri"));
    let resp = h.get(READ, &format!("{path}/$value")).await;
    assert_eq!(resp.headers()["content-type"], "message/rfc822");
    let mime = resp.text().await.unwrap();
    assert_eq!(mime.len() as u64, plain["size"].as_u64().unwrap());
    assert!(mime.contains("Subject: =?utf-8?B?") && mime.contains("MIME-Version: 1.0"));
}

#[tokio::test]
async fn reference_attachment_has_no_value() {
    let h = Harness::start().await;
    let (msg_id, att) = h.attachment(ALICE, |a| a["kind"] == "reference");
    let path = format!(
        "/v1.0/me/messages/{msg_id}/attachments/{}",
        att["rest_id"].as_str().unwrap()
    );
    let (_, meta) = h.get_json(READ, &path).await;
    assert_eq!(meta["@odata.type"], "#microsoft.graph.referenceAttachment");
    let (status, body) = h.get_json(READ, &format!("{path}/$value")).await;
    assert_eq!((status.as_u16(), error_code(&body)), (405, "ErrorInvalidRequest"));
}

#[tokio::test]
async fn message_value_is_multipart_mime_of_the_declared_length() {
    let h = Harness::start().await;
    let msg = h.message(ALICE, 1);
    let resp = h
        .get(
            READ,
            &format!("/v1.0/me/messages/{}/$value", msg["rest_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(resp.headers()["content-type"], "text/plain");
    let declared: usize = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let mime = resp.text().await.unwrap();
    assert_eq!(mime.len(), declared);
    assert!(mime.contains("Content-Type: multipart/mixed;"));
    assert!(mime.contains("multipart/related;") && mime.contains("multipart/alternative;"));
    assert!(mime.contains("Content-ID: <image001.png@"));
    let name = format!("=?utf-8?B?{}?=", STANDARD.encode("Übersicht März 2026 – 東京.xlsx"));
    assert!(mime.contains(&format!("name=\"{name}\"")));
    assert!(mime.trim_end().ends_with("--"));
    // The large message streams too, with an exact length.
    let big = h.message(ALICE, 2);
    let resp = h
        .get(
            READ,
            &format!("/v1.0/me/messages/{}/$value", big["rest_id"].as_str().unwrap()),
        )
        .await;
    let declared: u64 = resp.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert!(declared > super::LARGE_ATTACHMENT_BYTES * 4 / 3);
    assert_eq!(sha_of_stream(resp).await.0, declared);
}

#[tokio::test]
async fn patch_sets_extended_properties_that_read_back() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 1)["rest_id"].as_str().unwrap().to_owned();
    let (_, before) = h.get_json(READ, &format!("/v1.0/me/messages/{id}")).await;
    let prop = "String {00020329-0000-0000-C000-000000000046} Name GatewayTag";
    let patch = json!({"@odata.type": "#microsoft.graph.message", "singleValueExtendedProperties": [{"id": prop, "value": "processed"}]});
    let url = h.url(&format!("/v1.0/me/messages/{id}"));
    let resp = h.http.patch(&url).bearer_auth(READ).json(&patch).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "ErrorAccessDenied", "Mail.Read cannot write");
    let resp = h.http.patch(&url).bearer_auth(WRITE).json(&patch).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let after: Value = resp.json().await.unwrap();
    assert!(after.get("singleValueExtendedProperties").is_none());
    assert_ne!(after["changeKey"], before["changeKey"]);
    let filter = "id eq 'String {00020329-0000-0000-c000-000000000046} Name GatewayTag' or id eq 'String {00020329-0000-0000-C000-000000000046} Name gatewaytag'";
    let (_, read) = h
        .get_json(
            READ,
            &format!("/v1.0/me/messages/{id}?$expand=singleValueExtendedProperties($filter={filter})"),
        )
        .await;
    assert_eq!(
        read["singleValueExtendedProperties"],
        json!([{"id": "String {00020329-0000-0000-c000-000000000046} Name GatewayTag", "value": "processed"}])
    );
    assert_eq!(h.sim.stats()["patches"], 1);

    let stale = h
        .http
        .patch(&url)
        .bearer_auth(WRITE)
        .header("If-Match", before["@odata.etag"].as_str().unwrap())
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let text = h
        .http
        .patch(&url)
        .bearer_auth(WRITE)
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let bad = json!({"singleValueExtendedProperties": [{"id": "String {00020329-0000-0000-C000-000000000046} Name X", "value": 5}]});
    let resp = h.http.patch(&url).bearer_auth(WRITE).json(&bad).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let unknown = h
        .http
        .patch(&url)
        .bearer_auth(WRITE)
        .json(&json!({"colour": "red"}))
        .send()
        .await
        .unwrap();
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(error_code(&body), "RequestBodyRead");
}

#[tokio::test]
async fn a_fifth_concurrent_request_is_throttled_while_four_are_in_flight() {
    let h = Harness::start().await;
    h.sim.set_latency(Duration::from_millis(1000));
    let id = h.message(ALICE, 4)["rest_id"].as_str().unwrap().to_owned();
    let calls = (0..5).map(|i| {
        let http = h.http.clone();
        let url = h.url(&format!("/v1.0/me/messages/{id}"));
        async move {
            tokio::time::sleep(Duration::from_millis(i * 40)).await;
            http.get(url).bearer_auth(READ).send().await.unwrap()
        }
    });
    let mut responses = futures::future::join_all(calls).await;
    let throttled: Vec<usize> = (0..responses.len()).filter(|i| responses[*i].status() == 429).collect();
    assert_eq!(throttled.len(), 1);
    assert!(responses.iter().all(|r| r.status() == 200 || r.status() == 429));
    let stats = h.sim.stats();
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["by_mailbox"][ALICE]["peak_concurrency"], 4);
    let throttled = responses.swap_remove(throttled[0]);
    assert_eq!(throttled.headers()["retry-after"], "1");
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ApplicationThrottled");
    assert_eq!(
        body["error"]["message"],
        "Application is over its MailboxConcurrency limit."
    );
}

#[tokio::test]
async fn a_streaming_body_holds_its_slot_until_it_is_done() {
    let h = Harness::start().await;
    let (msg_id, att) = h.attachment(ALICE, |a| a["content_type"] == "video/mp4");
    let path = format!(
        "/v1.0/me/messages/{msg_id}/attachments/{}/$value",
        att["rest_id"].as_str().unwrap()
    );
    let mut open = Vec::new();
    for _ in 0..4 {
        // A client per download so each stream has its own connection.
        let resp = crate::test_http_client()
            .get(h.url(&path))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        open.push(resp);
    }
    assert_eq!(h.sim.in_flight(ALICE), 4);
    let fifth = h.get(READ, &format!("/v1.0/me/messages/{msg_id}")).await;
    assert_eq!(fifth.status(), 429);
    let other_app = h
        .get(
            "test:alice@contoso.com:Mail.Read:other-app",
            &format!("/v1.0/me/messages/{msg_id}"),
        )
        .await;
    assert_eq!(other_app.status(), 200, "the limit is per app");
    drop(open.pop());
    for _ in 0..100 {
        if h.sim.in_flight(ALICE) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.get(READ, &format!("/v1.0/me/messages/{msg_id}")).await.status(), 200);
}

#[tokio::test]
async fn other_mailboxes_and_malformed_ids_are_refused() {
    let h = Harness::start().await;
    let bob_msg = h.message(BOB, 0)["rest_id"].as_str().unwrap().to_owned();
    let (status, body) = h.get_json(READ, &format!("/v1.0/me/messages/{bob_msg}")).await;
    assert_eq!((status.as_u16(), error_code(&body)), (404, "ErrorItemNotFound"));
    assert_eq!(
        body["error"]["message"],
        "The specified object was not found in the store."
    );
    let (status, body) = h.get_json(READ, &format!("/v1.0/users/{BOB}/messages/{bob_msg}")).await;
    assert_eq!((status.as_u16(), error_code(&body)), (403, "ErrorAccessDenied"));
    assert_eq!(
        body["error"]["message"],
        "Access is denied. Check credentials and try again."
    );
    let (status, body) = h.get_json(READ, "/v1.0/me/messages/not-an-id").await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "ErrorInvalidIdMalformed"));
    assert_eq!(body["error"]["message"], "Id is malformed.");
    let msg = h.message(ALICE, 0);
    let ews = msg["ews_id"].as_str().unwrap();
    let encoded: String = url::form_urlencoded::byte_serialize(ews.as_bytes()).collect();
    let expected = if ews.contains('/') { 400 } else { 200 };
    assert_eq!(
        h.get(READ, &format!("/v1.0/me/messages/{encoded}")).await.status(),
        expected
    );
    let rest = msg["rest_id"].as_str().unwrap();
    let (status, _) = h.get_json(READ, &format!("/v1.0/me/messages/{rest}")).await;
    assert_eq!(status, 200);
    let att = msg["attachments"][0]["rest_id"].as_str().unwrap();
    let (status, body) = h.get_json(READ, &format!("/v1.0/me/messages/{att}")).await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "ErrorInvalidIdMalformed"));
}

#[tokio::test]
async fn authentication_and_scopes_are_checked() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 0)["rest_id"].as_str().unwrap().to_owned();
    let resp = h
        .http
        .get(h.url(&format!("/v1.0/me/messages/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "InvalidAuthenticationToken");
    let (status, body) = h.get_json("garbage", &format!("/v1.0/me/messages/{id}")).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (401, "InvalidAuthenticationToken")
    );
    let (status, body) = h
        .get_json("test:alice@contoso.com:User.Read", &format!("/v1.0/me/messages/{id}"))
        .await;
    assert_eq!((status.as_u16(), error_code(&body)), (403, "ErrorAccessDenied"));
    assert_eq!(h.sim.stats()["requests"], 3);
}

#[tokio::test]
async fn translate_exchange_ids_converts_and_reports_per_id_errors() {
    let h = Harness::start().await;
    let msg = h.message(ALICE, 0);
    let ews = msg["ews_id"].as_str().unwrap();
    let url = h.url("/v1.0/me/translateExchangeIds");
    let request = json!({"inputIds": [ews, "garbage", h.message(BOB, 0)["ews_id"]], "sourceIdType": "ewsId", "targetIdType": "restId"});
    let resp = h.http.post(&url).bearer_auth(READ).json(&request).send().await.unwrap();
    assert_eq!(resp.status(), 403, "translateExchangeIds needs a User.* scope");
    let token = "test:alice@contoso.com:Mail.Read,User.Read";
    let body: Value = h
        .http
        .post(&url)
        .bearer_auth(token)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"][0]["targetId"], msg["rest_id"]);
    assert_eq!(body["value"][1]["errorDetails"]["code"], "ErrorInvalidIdMalformed");
    assert_eq!(body["value"][2]["errorDetails"]["code"], "ErrorItemNotFound");
    let back = json!({"inputIds": [msg["rest_id"]], "sourceIdType": "restId", "targetIdType": "entryId"});
    let body: Value = h
        .http
        .post(&url)
        .bearer_auth(token)
        .json(&back)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = body["value"][0]["targetId"].as_str().unwrap().to_owned();
    let again = json!({"inputIds": [entry], "sourceIdType": "entryId", "targetIdType": "ewsId"});
    let body: Value = h
        .http
        .post(&url)
        .bearer_auth(token)
        .json(&again)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"][0]["targetId"], ews);
    let wrong = json!({"inputIds": [ews], "sourceIdType": "ews", "targetIdType": "restId"});
    assert_eq!(
        h.http
            .post(&url)
            .bearer_auth(token)
            .json(&wrong)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test]
async fn planned_failures_come_first_then_service_resumes() {
    let h = Harness::start().await;
    let id = h.message(ALICE, 0)["rest_id"].as_str().unwrap().to_owned();
    h.sim.fail_next(2, 503, "ErrorServerBusy");
    for _ in 0..2 {
        let resp = h.get(READ, &format!("/v1.0/me/messages/{id}")).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "1");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), "ErrorServerBusy");
    }
    assert_eq!(h.get(READ, &format!("/v1.0/me/messages/{id}")).await.status(), 200);
}

#[tokio::test]
async fn sandbox_endpoints_list_messages_and_stats() {
    let h = Harness::start().await;
    let listed: Vec<Value> = h
        .http
        .get(h.url(&format!("/sandbox/mailboxes/{ALICE}/messages")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, h.sim.messages(ALICE));
    let kinds: Vec<&str> = listed
        .iter()
        .flat_map(|m| m["attachments"].as_array().unwrap())
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for kind in ["file", "item", "reference"] {
        assert!(kinds.contains(&kind));
    }
    h.get(READ, "/v1.0/me/messages/x").await;
    let stats: Value = h
        .http
        .get(h.url("/sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["by_mailbox"][ALICE]["requests"], 1);
    let reset: Value = h
        .http
        .post(h.url("/sandbox/reset-stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["requests"], 0);
    let (status, body) = h.get_json(READ, "/v1.0/me/calendars").await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "BadRequest"));
}

#[tokio::test]
async fn message_list_pages_newest_first_and_keeps_select() {
    let h = Harness::start().await;
    let (status, page) = h
        .get_json(READ, "/v1.0/me/messages?$select=subject,receivedDateTime&$top=2")
        .await;
    assert_eq!(status, 200);
    let value = page["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    assert!(value[0]["receivedDateTime"].as_str() > value[1]["receivedDateTime"].as_str());
    assert!(value[0].get("body").is_none());
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("%24select=subject%2CreceivedDateTime") && next.ends_with("%24top=2&%24skip=2"));
    let (status, body) = h.get_json(READ, "/v1.0/me").await;
    assert_eq!(
        (status.as_u16(), body["error"]["message"].as_str()),
        (400, Some("Resource not found for the segment 'me'."))
    );
}

#[tokio::test]
async fn mail_folders_answer_by_well_known_name_and_id_with_the_mailbox_counts() {
    let h = Harness::start().await;
    let (status, inbox) = h.get_json(READ, "/v1.0/me/mailFolders/InBox").await;
    assert_eq!(status, 200);
    let mut keys: Vec<&str> = inbox.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "childFolderCount",
            "displayName",
            "id",
            "isHidden",
            "parentFolderId",
            "totalItemCount",
            "unreadItemCount"
        ]
    );
    assert_eq!(inbox["displayName"], "Inbox");
    let (_, list) = h
        .get_json(READ, "/v1.0/me/messages?$select=isRead,parentFolderId&$top=1000")
        .await;
    let messages = list["value"].as_array().unwrap();
    assert_eq!(messages.len(), h.sim.messages(ALICE).len());
    assert!(messages.iter().all(|m| m["parentFolderId"] == inbox["id"]));
    let unread = messages.iter().filter(|m| m["isRead"] == false).count();
    assert!(unread > 0 && unread < messages.len(), "seed has read and unread mail");
    assert_eq!(inbox["totalItemCount"], messages.len());
    assert_eq!(inbox["unreadItemCount"], unread);
    // The id is an Exchange folder id of Alice's mailbox, and addresses the same folder.
    let id = inbox["id"].as_str().unwrap();
    let ExchangeId::Item(parsed) = ExchangeId::parse_rest(id).unwrap() else {
        panic!("folder id is an item-kind id")
    };
    let alice = SeedTenant::contoso().user(ALICE).unwrap().mailbox_guid.clone();
    assert_eq!(parsed.mailbox_guid(), alice);
    assert_eq!(parsed.store_id().len(), 46);
    let (status, by_id) = h.get_json(READ, &format!("/v1.0/me/mailFolders/{id}")).await;
    assert_eq!((status.as_u16(), &by_id["displayName"]), (200, &json!("Inbox")));
    // The Top of Information Store is the Inbox's parent and counts the default folders.
    let (_, top) = h.get_json(READ, "/v1.0/me/mailFolders/msgfolderroot").await;
    assert_eq!(top["displayName"], "Top of Information Store");
    assert_eq!(top["id"], inbox["parentFolderId"]);
    assert_eq!(
        (top["childFolderCount"].as_u64(), top["totalItemCount"].as_u64()),
        (Some(7), Some(0))
    );
    assert_ne!(top["parentFolderId"], top["id"]);
    let (_, sent) = h
        .get_json(READ, "/v1.0/me/mailFolders/sentitems?$select=totalItemCount")
        .await;
    assert_eq!(
        sent.as_object().unwrap().len(),
        3,
        "context, id and the selected property: {sent}"
    );
    // Bob's folders have Bob's ids.
    let (_, bob) = h
        .get_json("test:bob@contoso.com:Mail.Read", "/v1.0/me/mailFolders/inbox")
        .await;
    assert_ne!(bob["id"], inbox["id"]);
}

#[tokio::test]
async fn mail_folder_errors_follow_graph() {
    let h = Harness::start().await;
    let (status, body) = h.get_json(READ, "/v1.0/me/mailFolders/calendarz").await;
    assert_eq!((status.as_u16(), error_code(&body)), (404, "ErrorItemNotFound"));
    let (status, body) = h.get_json(READ, "/v1.0/me/mailFolders/not-an-id").await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "ErrorInvalidIdMalformed"));
    let (_, bob) = h
        .get_json("test:bob@contoso.com:Mail.Read", "/v1.0/me/mailFolders/inbox")
        .await;
    let bob_inbox = bob["id"].as_str().unwrap();
    let (status, body) = h.get_json(READ, &format!("/v1.0/me/mailFolders/{bob_inbox}")).await;
    assert_eq!((status.as_u16(), error_code(&body)), (404, "ErrorItemNotFound"));
    let msg = h.message(ALICE, 0)["rest_id"].as_str().unwrap().to_owned();
    let (status, _) = h.get_json(READ, &format!("/v1.0/me/mailFolders/{msg}")).await;
    assert_eq!(status, 404, "a message id names no folder");
    let (status, body) = h.get_json(READ, "/v1.0/me/mailFolders/inbox?$select=color").await;
    assert_eq!((status.as_u16(), error_code(&body)), (400, "RequestBroker--ParseUri"));
    let (status, body) = h
        .get_json("test:alice@contoso.com:User.Read", "/v1.0/me/mailFolders/inbox")
        .await;
    assert_eq!((status.as_u16(), error_code(&body)), (403, "ErrorAccessDenied"));
    let resp = h
        .http
        .post(h.url("/v1.0/me/mailFolders/inbox"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}
