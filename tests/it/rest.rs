//! The Outlook REST v2.0 front end: Microsoft's documented shape, the seeded mailbox, both URL
//! prefixes and key forms, extended properties, attachments, and every error in REST's shape.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::{Options, TempDir, TestApp, spawn_app, spawn_app_with, www_authenticate};

/// Fields of Microsoft's documented REST v2.0 message sample (protocols.md §7.2), in order.
const DOCUMENTED_FIELDS: &[&str] = &[
    "@odata.context",
    "@odata.id",
    "@odata.etag",
    "Id",
    "CreatedDateTime",
    "LastModifiedDateTime",
    "ChangeKey",
    "Categories",
    "ReceivedDateTime",
    "SentDateTime",
    "HasAttachments",
    "InternetMessageId",
    "Subject",
    "Body",
    "BodyPreview",
    "Importance",
    "ParentFolderId",
    "Sender",
    "From",
    "ToRecipients",
    "CcRecipients",
    "BccRecipients",
    "ReplyTo",
    "ConversationId",
    "IsDeliveryReceiptRequested",
    "IsReadReceiptRequested",
    "IsRead",
    "IsDraft",
    "WebLink",
    "InferenceClassification",
];

/// A property the default policy lets add-ins write (PublicStrings, `Gateway` prefix).
const COLOR: &str = "String {00020329-0000-0000-C000-000000000046} Name GatewayColor";
/// An X-header property (InternetHeaders, `X-` prefix).
const X_TAG: &str = "String {00020386-0000-0000-C000-000000000046} Name X-Gateway-Tag";

pub async fn rest_get(app: &TestApp, token: &str, path: &str, prefer: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(format!("{}{path}", app.url)).bearer_auth(token);
    if let Some(prefer) = prefer {
        req = req.header("prefer", prefer);
    }
    req.send().await.unwrap()
}

/// A Graph token for `upn`, accepted by the Graph simulator directly.
pub async fn graph_token(app: &TestApp, upn: &str) -> String {
    app.token(json!({"user": upn, "audience": "https://graph.microsoft.com", "scope": "Mail.ReadWrite", "version": 1}))
        .await
}

/// The same call straight to the Graph simulator.
pub async fn graph_direct(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app
        .http
        .get(format!("{}/v1.0{path}", app.sims.graph.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A policy directory: the default policy plus MIME reads.
pub fn policy_dir_with_mime() -> TempDir {
    let dir = TempDir(std::env::temp_dir().join(format!("naa-policy-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for file in ["schema.cedarschema", "default.cedar"] {
        std::fs::copy(root.join(file), dir.0.join(file)).unwrap();
    }
    std::fs::write(
        dir.0.join("mime.cedar"),
        "@id(\"read-mime\")\npermit (principal, action == Action::\"ReadMime\", resource);\n",
    )
    .unwrap();
    dir
}

fn assert_rest_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

fn assert_only_code_and_message(body: &Value) {
    let keys: Vec<_> = body["error"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["code", "message"], "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn a_message_has_the_documented_shape_and_the_seeded_content() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let seeded = app.first_message(&alice);
    let id = seeded["rest_id"].as_str().unwrap();
    let res = rest_get(&app, &token, &format!("/api/v2.0/me/messages/{id}"), None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    let rest: Value = res.json().await.unwrap();
    let keys: Vec<&str> = rest.as_object().unwrap().keys().map(String::as_str).collect();
    for field in DOCUMENTED_FIELDS {
        assert!(keys.contains(field), "documented field {field} missing: {keys:?}");
    }
    assert!(
        keys.iter()
            .all(|k| k.starts_with('@') || k.starts_with(char::is_uppercase)),
        "{keys:?}"
    );

    let user = app.seed().user(&alice).unwrap().clone();
    let base = format!("{}/api/v2.0", app.url);
    assert_eq!(rest["@odata.context"], format!("{base}/$metadata#Me/Messages/$entity"));
    assert_eq!(
        rest["@odata.id"],
        format!("{base}/Users('{}@{}')/Messages('{id}')", user.oid, app.seed().tenant_id)
    );
    assert_eq!(rest["Id"], id);
    assert_eq!(rest["Subject"], seeded["subject"]);
    assert_eq!(rest["InternetMessageId"], seeded["internet_message_id"]);
    assert_eq!(
        rest["HasAttachments"],
        !seeded["attachments"].as_array().unwrap().is_empty()
    );
    assert_eq!(rest["Body"]["ContentType"], "HTML");
    assert_eq!(rest["Importance"], "Normal");
    assert_eq!(rest["InferenceClassification"], "Focused");
    assert!(
        rest["Sender"]["EmailAddress"]["Address"]
            .as_str()
            .unwrap()
            .contains('@')
    );

    // Field by field against Graph itself: same values under REST's names.
    let graph = graph_direct(&app, &graph_token(&app, &alice).await, &format!("/me/messages/{id}")).await;
    for (g, r) in [
        ("id", "Id"),
        ("subject", "Subject"),
        ("changeKey", "ChangeKey"),
        ("@odata.etag", "@odata.etag"),
        ("createdDateTime", "CreatedDateTime"),
        ("receivedDateTime", "ReceivedDateTime"),
        ("sentDateTime", "SentDateTime"),
        ("bodyPreview", "BodyPreview"),
        ("parentFolderId", "ParentFolderId"),
        ("conversationId", "ConversationId"),
        ("webLink", "WebLink"),
        ("isRead", "IsRead"),
        ("isDraft", "IsDraft"),
        ("categories", "Categories"),
    ] {
        assert_eq!(rest[r], graph[g], "{r} vs Graph's {g}");
    }
    assert_eq!(rest["Body"]["Content"], graph["body"]["content"]);
    assert_eq!(
        rest["ToRecipients"][0]["EmailAddress"]["Address"],
        graph["toRecipients"][0]["emailAddress"]["address"]
    );
}

#[tokio::test]
async fn both_prefixes_key_forms_and_id_forms_reach_the_same_message() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let seeded = app.first_message(&alice);
    let (rest_id, ews_id) = (seeded["rest_id"].as_str().unwrap(), seeded["ews_id"].as_str().unwrap());
    let encoded_ews = ews_id.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D");
    for path in [
        format!("/api/v2.0/me/messages/{rest_id}"),
        format!("/v2.0/me/messages/{rest_id}"),
        format!("/api/v2.0/me/messages('{rest_id}')"),
        format!("/v2.0/Me/Messages('{rest_id}')"),
        format!("/api/v2.0/me/messages/{encoded_ews}"),
        format!("/api/v2.0/me/messages('{encoded_ews}')"),
        format!("/api/v2.0/users/{alice}/messages/{rest_id}"),
    ] {
        let res = rest_get(&app, &token, &format!("{path}?$select=Subject"), None).await;
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["Subject"], seeded["subject"], "{path}");
        assert_eq!(body["Id"], rest_id, "{path}");
    }
    let res = rest_get(&app, &token, &format!("/v2.0/me/messages/{rest_id}"), None).await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v2.0/$metadata#Me/Messages/$entity")
    );
    assert!(!body["@odata.context"].as_str().unwrap().contains("/api/"));
}

#[tokio::test]
async fn select_and_prefer_shape_the_answer() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    let path = format!("/api/v2.0/me/messages/{id}?$select=Subject,Body,Importance");
    let res = rest_get(&app, &token, &path, Some("outlook.body-content-type=\"text\"")).await;
    assert_eq!(res.status(), 200);
    let applied = res.headers()["preference-applied"].to_str().unwrap().to_string();
    assert!(applied.contains("text"), "{applied}");
    let body: Value = res.json().await.unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('@'))
        .collect();
    keys.sort();
    assert_eq!(keys, ["Body", "Id", "Importance", "Subject"]);
    assert_eq!(body["Body"]["ContentType"], "Text");
    assert!(!body["Body"]["Content"].as_str().unwrap().contains("<html"));
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .contains("Me/Messages(Subject,Body,Importance)/$entity"),
        "{body}"
    );
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
async fn extended_properties_are_stamped_and_read_back_with_or_filters() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    let body = json!({"SingleValueExtendedProperties": [
        {"PropertyId": COLOR, "Value": "Green"},
        {"PropertyId": X_TAG, "Value": "processed"},
    ]});
    let res = patch(&app, &token, &format!("/api/v2.0/me/messages('{id}')"), body).await;
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["Id"], id);
    assert!(
        patched["@odata.id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Messages('{id}')"))
    );

    let filter = format!("PropertyId eq '{COLOR}' or PropertyId eq '{X_TAG}'");
    let path = format!(
        "/api/v2.0/me/messages('{id}')?$select=Subject&$expand=SingleValueExtendedProperties($filter={})",
        filter.replace(' ', "%20")
    );
    let res = rest_get(&app, &token, &path, None).await;
    assert_eq!(res.status(), 200);
    let read: Value = res.json().await.unwrap();
    let props = read["SingleValueExtendedProperties"].as_array().unwrap();
    assert_eq!(props.len(), 2, "{read}");
    // Graph answers property set GUIDs in lower case.
    let value_of = |pid: &str| {
        props
            .iter()
            .find(|p| p["PropertyId"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(pid)))
            .map(|p| p["Value"].clone())
    };
    assert_eq!(value_of(COLOR), Some(json!("Green")));
    assert_eq!(value_of(X_TAG), Some(json!("processed")));
    assert!(props.iter().all(|p| p.get("id").is_none() && p.get("value").is_none()));
}

#[tokio::test]
async fn attachments_are_listed_and_fetched_in_rest_shape() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = app.message_with_file(&alice);
    let res = rest_get(&app, &token, &format!("/api/v2.0/me/messages/{msg}/attachments"), None).await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert!(
        list["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!("$metadata#Me/Messages('{msg}')/Attachments"))
    );
    let items = list["value"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item["@odata.type"], "#Microsoft.OutlookServices.FileAttachment");
        assert!(
            item["@odata.id"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/Attachments('{}')", item["Id"].as_str().unwrap()))
        );
        assert!(item.get("@odata.mediaContentType").is_none());
    }

    let att_id = att["rest_id"].as_str().unwrap();
    let res = rest_get(
        &app,
        &token,
        &format!("/api/v2.0/me/messages/{msg}/attachments('{att_id}')"),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let one: Value = res.json().await.unwrap();
    let documented = [
        "@odata.context",
        "@odata.type",
        "@odata.id",
        "Id",
        "LastModifiedDateTime",
        "Name",
        "ContentType",
        "Size",
        "IsInline",
        "ContentId",
        "ContentLocation",
        "ContentBytes",
    ];
    let keys: Vec<&str> = one.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), documented.len(), "{keys:?}");
    for field in documented {
        assert!(keys.contains(&field), "{field} missing: {keys:?}");
    }
    assert_eq!(one["Name"], att["name"]);
    assert_eq!(one["Size"], att["size"]);
    assert_eq!(one["ContentType"], att["content_type"]);
    let raw = rest_get(
        &app,
        &token,
        &format!("/v2.0/me/messages/{msg}/attachments/{att_id}/$value"),
        None,
    )
    .await;
    assert_eq!(raw.status(), 200);
    let bytes = raw.bytes().await.unwrap();
    assert_eq!(
        STANDARD.decode(one["ContentBytes"].as_str().unwrap()).unwrap(),
        bytes.to_vec()
    );
}

#[tokio::test]
async fn item_and_reference_attachments_keep_their_types() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let find = |kind: &str| {
        app.messages(&alice).into_iter().find_map(|m| {
            let att = m["attachments"].as_array()?.iter().find(|a| a["kind"] == kind)?.clone();
            Some((m["rest_id"].as_str()?.to_string(), att["rest_id"].as_str()?.to_string()))
        })
    };
    let (msg, att) = find("item").expect("a seeded item attachment");
    let path =
        format!("/api/v2.0/me/messages/{msg}/attachments/{att}?$expand=Microsoft.OutlookServices.ItemAttachment/Item");
    let res = rest_get(&app, &token, &path, None).await;
    assert_eq!(res.status(), 200);
    let item: Value = res.json().await.unwrap();
    assert_eq!(item["@odata.type"], "#Microsoft.OutlookServices.ItemAttachment");
    assert_eq!(item["Item"]["@odata.type"], "#Microsoft.OutlookServices.Message");
    assert!(item["Item"]["Subject"].is_string(), "{item}");
    assert!(item.get("ContentBytes").is_none());

    let (msg, att) = find("reference").expect("a seeded reference attachment");
    let res = rest_get(
        &app,
        &token,
        &format!("/api/v2.0/me/messages/{msg}/attachments/{att}"),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let reference: Value = res.json().await.unwrap();
    assert_eq!(
        reference["@odata.type"],
        "#Microsoft.OutlookServices.ReferenceAttachment"
    );
    let res = rest_get(
        &app,
        &token,
        &format!("/api/v2.0/me/messages/{msg}/attachments/{att}/$value"),
        None,
    )
    .await;
    assert_eq!(res.status(), 405);
    let body: Value = res.json().await.unwrap();
    assert_rest_error(&body, "ErrorInvalidRequest");
    assert_only_code_and_message(&body);
}

#[tokio::test]
async fn a_large_attachments_content_bytes_stream_as_base64() {
    let app = spawn_app_with(Options {
        overrides: json!({ "policy": { "max_attachment_bytes": 64u64 << 20 } }),
        ..Options::default()
    })
    .await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = app.attachment_larger_than(&alice, 10 << 20);
    let size = att["size"].as_u64().unwrap();
    let path = format!(
        "/api/v2.0/me/messages/{msg}/attachments/{}",
        att["rest_id"].as_str().unwrap()
    );
    let res = rest_get(&app, &token, &path, None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-length").is_none(), "streamed, not buffered");
    let mut stream = res.bytes_stream();
    let (mut body, mut chunks) = (Vec::new(), 0u32);
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1);
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["Size"], size);
    let content = STANDARD.decode(json["ContentBytes"].as_str().unwrap()).unwrap();
    assert_eq!(content.len() as u64, size);
}

#[tokio::test]
async fn mime_is_streamed_when_the_policy_allows_it() {
    let dir = policy_dir_with_mime();
    let app = spawn_app_with(Options {
        overrides: json!({ "policy": { "dir": dir.0 } }),
        ..Options::default()
    })
    .await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let seeded = app.first_message(&alice);
    let res = rest_get(
        &app,
        &token,
        &format!("/api/v2.0/me/messages/{}/$value", seeded["rest_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let mime = res.text().await.unwrap();
    assert!(
        mime.contains(seeded["internet_message_id"].as_str().unwrap()),
        "{}",
        &mime[..mime.len().min(400)]
    );
}

#[tokio::test]
async fn every_error_has_rests_shape() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    let bob_id = app.first_message(app.bob())["rest_id"].as_str().unwrap().to_string();

    let res = app
        .http
        .get(format!("{}/api/v2.0/me/messages/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(www_authenticate(&res), "Bearer");
    let body: Value = res.json().await.unwrap();
    assert_rest_error(&body, "InvalidAuthenticationToken");
    assert_only_code_and_message(&body);

    let before = app.graph_stats()["requests"].as_u64().unwrap();
    let cases: Vec<(String, u16, &str)> = vec![
        (
            "/api/v2.0/me/messages/AAMkNotAnId".into(),
            400,
            "ErrorInvalidIdMalformed",
        ),
        (format!("/api/v2.0/me/events/{id}"), 404, "ErrorInvalidUrl"),
        (format!("/api/v2.0/me/messages/{id}/move"), 404, "ErrorInvalidUrl"),
        (
            format!("/api/v2.0/users/{}/messages/{bob_id}", app.bob()),
            403,
            "ErrorAccessDenied",
        ),
        (format!("/v2.0/me/messages/{id}?$top=3"), 400, "ErrorInvalidUrlQuery"),
        // The default policy does not allow MIME reads.
        (format!("/v2.0/me/messages/{id}/$value"), 403, "ErrorAccessDenied"),
    ];
    for (path, status, code) in &cases {
        let res = rest_get(&app, &token, path, None).await;
        assert_eq!(res.status(), *status, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_rest_error(&body, code);
        assert_only_code_and_message(&body);
    }
    assert_eq!(
        app.graph_stats()["requests"].as_u64().unwrap(),
        before,
        "refused before Graph"
    );

    // Bob's message id in Alice's mailbox: Graph's 404, in REST's shape.
    let res = rest_get(&app, &token, &format!("/api/v2.0/me/messages/{bob_id}"), None).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_rest_error(&body, "ErrorItemNotFound");
    assert_only_code_and_message(&body);

    let res = app
        .http
        .delete(format!("{}/api/v2.0/me/messages/{id}", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_rest_error(&res.json().await.unwrap(), "ErrorInvalidRequest");

    for (body, code) in [
        (json!({"Subject": "changed"}), "ErrorInvalidRequest"),
        (
            json!({"SingleValueExtendedProperties": [{"PropertyId": COLOR}]}),
            "ErrorInvalidExtendedProperty",
        ),
    ] {
        let res = patch(&app, &token, &format!("/api/v2.0/me/messages/{id}"), body).await;
        assert_eq!(res.status(), 400);
        assert_rest_error(&res.json().await.unwrap(), code);
    }
    let res = app
        .http
        .patch(format!("{}/api/v2.0/me/messages/{id}", app.url))
        .bearer_auth(&token)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_rest_error(&res.json().await.unwrap(), "ErrorInvalidRequest");

    // A property outside what the policy allows to be written.
    let body = json!({"SingleValueExtendedProperties": [{"PropertyId": "String {00020329-0000-0000-C000-000000000046} Name Other", "Value": "x"}]});
    let res = patch(&app, &token, &format!("/api/v2.0/me/messages/{id}"), body).await;
    assert_eq!(res.status(), 403);
    assert_rest_error(&res.json().await.unwrap(), "ErrorAccessDenied");

    // Graph failing: its status and code come through without Graph's innerError.
    app.sims.graph.fail_next(1, 500, "ErrorInternalServerError");
    let res = rest_get(&app, &token, &format!("/api/v2.0/me/messages/{id}"), None).await;
    assert_eq!(res.status(), 500);
    let body: Value = res.json().await.unwrap();
    assert_rest_error(&body, "ErrorInternalServerError");
    assert_only_code_and_message(&body);
}

#[tokio::test]
async fn a_consent_failure_keeps_code_and_message() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    let token = app.token(json!({"user": alice, "lifetime_secs": 3333})).await;
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    app.sims.entra.fail_next(1, 65001);
    let res = rest_get(&app, &token, &format!("/api/v2.0/me/messages/{id}"), None).await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_rest_error(&body, "consent_required");
}

/// `Office.context.mailbox.convertToRestId`.
fn convert_to_rest_id(ews: &str) -> String {
    ews.replace('/', "-").replace('+', "_")
}

#[tokio::test]
async fn the_task_pane_walk_with_rest_url_built_both_ways() {
    let app = spawn_app().await;
    let alice = app.alice().to_string();
    // What NAA hands the add-in for the gateway.
    let token = app.token_for(&alice).await;
    let item = app
        .messages(&alice)
        .into_iter()
        .find(|m| {
            m["attachments"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["kind"] == "file"))
        })
        .unwrap();
    let item_id = convert_to_rest_id(item["ews_id"].as_str().unwrap());
    for rest_url in [format!("{}/api", app.url), app.url.clone()] {
        let base = if rest_url.ends_with("/api") {
            format!("{rest_url}/v2.0")
        } else {
            format!("{rest_url}/api/v2.0")
        };
        let message: Value = rest_get(
            &app,
            &token,
            &format!("{}/me/messages/{item_id}", base.trim_start_matches(&app.url)),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(message["Subject"], item["subject"], "{rest_url}");
        assert!(message["Body"]["Content"].as_str().unwrap().len() > 20);

        let list: Value = rest_get(
            &app,
            &token,
            &format!(
                "{}/me/messages/{item_id}/attachments",
                base.trim_start_matches(&app.url)
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        let first = list["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["@odata.type"] == "#Microsoft.OutlookServices.FileAttachment")
            .unwrap()
            .clone();
        let att_path = format!(
            "{}/me/messages/{item_id}/attachments('{}')",
            base.trim_start_matches(&app.url),
            first["Id"].as_str().unwrap()
        );
        let one: Value = rest_get(&app, &token, &att_path, None).await.json().await.unwrap();
        let content = STANDARD.decode(one["ContentBytes"].as_str().unwrap()).unwrap();
        assert_eq!(content.len() as u64, one["Size"].as_u64().unwrap());

        let stamp = format!("seen-via-{}", if rest_url.ends_with("/api") { "api" } else { "host" });
        let res = patch(
            &app,
            &token,
            &format!("{}/me/messages('{item_id}')", base.trim_start_matches(&app.url)),
            json!({"SingleValueExtendedProperties": [{"PropertyId": COLOR, "Value": stamp}]}),
        )
        .await;
        assert_eq!(res.status(), 200);
        let read_back = format!(
            "{}/me/messages('{item_id}')?$expand=SingleValueExtendedProperties($filter=PropertyId%20eq%20'{}')",
            base.trim_start_matches(&app.url),
            COLOR.replace(' ', "%20")
        );
        let read: Value = rest_get(&app, &token, &read_back, None).await.json().await.unwrap();
        assert_eq!(read["SingleValueExtendedProperties"][0]["Value"], stamp);
    }
}
