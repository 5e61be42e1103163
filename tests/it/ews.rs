//! The EWS front end end to end: SOAP requests over HTTP against the simulators; every response
//! is checked with the shared schema validator (`ews-validate`, xmllint against messages.xsd).

use std::{path::PathBuf, process::Command};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::support::{Options, TestApp, spawn_app, spawn_app_with};

fn shared_dir() -> PathBuf {
    std::env::var_os("NAA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

fn fixtures_dir() -> PathBuf {
    shared_dir().join("fixtures/ews-requests/exchangelib")
}

/// Runs the shared validator on one response; panics with its report when invalid.
pub fn validate(xml: &str) {
    let path = std::env::temp_dir().join(format!("naa-ews-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&path, xml).unwrap();
    let out = Command::new(shared_dir().join("tools/ews-validate"))
        .arg(&path)
        .output()
        .expect("ews-validate runs (needs python3 and xmllint from libxml2-utils)");
    let _ = std::fs::remove_file(&path);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ews-validate failed ({}): {report}{}\n--- response ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        &xml[..xml.len().min(4000)]
    );
}

/// Validates the operation element with every namespace declaration kept in scope. Needed for
/// responses with `xsi:type="t:…"` (ConvertId's `AlternateId`): `ews-validate` re-serializes
/// the element and drops the `t` declaration such QName values rely on.
pub fn validate_keeping_namespaces(xml: &str, element: &str) {
    let start = xml.find(&format!("<{element} ")).expect("operation element");
    let end = xml.find(&format!("</{element}>")).expect("closing tag") + element.len() + 3;
    let body = xml[start..end].replacen(
        &format!("<{element} "),
        &format!(r#"<{element} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#),
        1,
    );
    let path = std::env::temp_dir().join(format!("naa-ews-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&path, body).unwrap();
    let schema = shared_dir().join("fixtures/ews-schema/messages.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&schema)
        .arg(&path)
        .output()
        .expect("xmllint runs (libxml2-utils)");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
<soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

pub async fn post(app: &TestApp, token: &str, body: &str) -> (u16, String) {
    post_with(app, token, body, &[]).await
}

pub async fn post_with(app: &TestApp, token: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = app
        .http
        .post(format!("{}/EWS/Exchange.asmx", app.url))
        .bearer_auth(token)
        .header("content-type", "text/xml; charset=utf-8")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// Text of the first `<{tag}>…</{tag}>` (tag with prefix).
pub fn inner<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}");
    let start = xml
        .match_indices(&open)
        .map(|(i, _)| i)
        .find(|i| matches!(xml.as_bytes().get(i + open.len()), Some(b'>' | b' ')))?;
    let after = start + xml[start..].find('>')? + 1;
    let end = after + xml[after..].find(&format!("</{tag}>"))?;
    Some(&xml[after..end])
}

pub fn codes(xml: &str) -> Vec<String> {
    xml.split("<m:ResponseCode>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .map(str::to_owned)
        .collect()
}

fn get_attachment(ids: &[&str]) -> String {
    let ids: String = ids.iter().map(|id| format!(r#"<t:AttachmentId Id="{id}"/>"#)).collect();
    envelope(&format!(
        r#"<m:GetAttachment><m:AttachmentShape/><m:AttachmentIds>{ids}</m:AttachmentIds></m:GetAttachment>"#
    ))
}

fn attachments_of(app: &TestApp, upn: &str, kind: &str) -> Vec<(Value, Value)> {
    app.messages(upn)
        .into_iter()
        .flat_map(|m| {
            let list = m["attachments"].as_array().cloned().unwrap_or_default();
            list.into_iter()
                .filter(|a| a["kind"] == kind)
                .map(move |a| (m.clone(), a))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn graph_value(app: &TestApp, token: &str, msg: &Value, att: &Value) -> Vec<u8> {
    let res = app
        .get_attachment_value(
            token,
            msg["rest_id"].as_str().unwrap(),
            att["rest_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn get_attachment_returns_file_content_and_errors_per_id_in_order() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let files = attachments_of(&app, app.alice(), "file");
    let (msg, small) = files
        .iter()
        .filter(|(_, a)| a["size"].as_u64().unwrap() < 1 << 20)
        .min_by_key(|(_, a)| a["size"].as_u64().unwrap())
        .cloned()
        .unwrap();
    let att_id = small["ews_id"].as_str().unwrap();
    let item_id = msg["ews_id"].as_str().unwrap();
    let (status, xml) = post(
        &app,
        &token,
        &get_attachment(&[att_id, "AAMk-not-an-id", item_id, att_id]),
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    validate(&xml);
    assert_eq!(
        codes(&xml),
        [
            "NoError",
            "ErrorInvalidIdMalformed",
            "ErrorInvalidAttachmentId",
            "NoError"
        ]
    );
    assert!(xml.contains("<h:ServerVersionInfo"), "{xml}");
    let content = inner(&xml, "t:Content").unwrap();
    let expected = graph_value(&app, &token, &msg, &small).await;
    assert_eq!(STANDARD.decode(content).unwrap(), expected);
    assert_eq!(
        inner(&xml, "t:Name").unwrap(),
        small["name"].as_str().unwrap().replace('&', "&amp;")
    );
}

/// A gateway whose policy allows everything (MIME content, any attachment size).
pub async fn permissive_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("naa-ews-policy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(root.join("schema.cedarschema"), dir.join("schema.cedarschema")).unwrap();
    std::fs::write(
        dir.join("all.cedar"),
        "@id(\"allow-all\")\npermit (principal, action, resource);\n",
    )
    .unwrap();
    spawn_app_with(Options {
        overrides: json!({"policy": {"dir": dir}}),
        ..Options::default()
    })
    .await
}

fn get_item(shape: &str, ids: &[&str]) -> String {
    let ids: String = ids.iter().map(|id| format!(r#"<t:ItemId Id="{id}"/>"#)).collect();
    envelope(&format!(
        r#"<m:GetItem><m:ItemShape>{shape}</m:ItemShape><m:ItemIds>{ids}</m:ItemIds></m:GetItem>"#
    ))
}

#[tokio::test]
async fn item_attachments_come_back_as_messages_with_mime_on_request() {
    let app = permissive_app().await;
    let token = app.token_for(app.alice()).await;
    let (msg, att) = attachments_of(&app, app.alice(), "item")
        .into_iter()
        .next()
        .expect("a seeded item attachment");
    let id = att["ews_id"].as_str().unwrap();
    let (status, xml) = post(&app, &token, &get_attachment(&[id])).await;
    assert_eq!(status, 200);
    validate(&xml);
    assert_eq!(codes(&xml), ["NoError"]);
    let message = inner(&xml, "t:Message").unwrap_or_else(|| panic!("item attachment rendered as t:Message: {xml}"));
    assert!(message.contains("<t:Subject>"), "{message}");
    assert!(!message.contains("<t:MimeContent"));

    let with_mime = envelope(&format!(
        r#"<m:GetAttachment><m:AttachmentShape><t:IncludeMimeContent>true</t:IncludeMimeContent><t:BodyType>Text</t:BodyType></m:AttachmentShape><m:AttachmentIds><t:AttachmentId Id="{id}"/></m:AttachmentIds></m:GetAttachment>"#
    ));
    let (_, xml) = post(&app, &token, &with_mime).await;
    validate(&xml);
    let mime = STANDARD.decode(inner(&xml, "t:MimeContent").unwrap()).unwrap();
    assert_eq!(mime, graph_value(&app, &token, &msg, &att).await);
    assert!(xml.contains(r#"<t:Body BodyType="Text""#), "{xml}");
}

#[tokio::test]
async fn reference_attachments_get_exchanges_error() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let Some((_, att)) = attachments_of(&app, app.alice(), "reference").into_iter().next() else {
        panic!("a seeded reference attachment");
    };
    let (_, xml) = post(&app, &token, &get_attachment(&[att["ews_id"].as_str().unwrap()])).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorCannotOpenFileAttachment"]);
}

#[tokio::test]
async fn get_item_renders_requested_fields_in_schema_order() {
    let app = permissive_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let id = msg["ews_id"].as_str().unwrap();
    let shape = r#"<t:BaseShape>AllProperties</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent><t:BodyType>Text</t:BodyType><t:AdditionalProperties><t:FieldURI FieldURI="item:UniqueBody"/><t:FieldURI FieldURI="item:TextBody"/><t:FieldURI FieldURI="item:InternetMessageHeaders"/><t:FieldURI FieldURI="calendar:Start"/><t:ExtendedFieldURI PropertyTag="0x007D" PropertyType="String"/></t:AdditionalProperties>"#;
    let (status, xml) = post(&app, &token, &get_item(shape, &[id, "bad", id])).await;
    assert_eq!(status, 200);
    validate(&xml);
    assert_eq!(codes(&xml), ["NoError", "ErrorInvalidIdMalformed", "NoError"]);
    assert_eq!(
        inner(&xml, "t:Subject").unwrap(),
        msg["subject"].as_str().unwrap().replace('&', "&amp;")
    );
    assert!(xml.contains(&format!(r#"<t:ItemId Id="{id}" ChangeKey=""#)), "{xml}");
    assert!(inner(&xml, "t:InternetMessageId").is_some());
    let mime = String::from_utf8(STANDARD.decode(inner(&xml, "t:MimeContent").unwrap()).unwrap()).unwrap();
    assert!(mime.contains("Message-ID:") || mime.contains("Message-Id:"), "{mime}");
    let transport = inner(&xml, "t:Value").expect("PR_TRANSPORT_MESSAGE_HEADERS");
    assert!(transport.contains("Received"), "{transport}");
    assert!(xml.contains(r#"<t:Body BodyType="Text""#));
}

#[tokio::test]
async fn graph_failures_map_to_response_codes() {
    let app = spawn_app_with(Options {
        overrides: json!({"graph": {"max_retries": 0}}),
        ..Options::default()
    })
    .await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let id = msg["ews_id"].as_str().unwrap();
    let request = get_item("<t:BaseShape>IdOnly</t:BaseShape>", &[id]);
    for (status, code, expected) in [
        (429, "ApplicationThrottled", "ErrorServerBusy"),
        (503, "ServiceUnavailable", "ErrorServerBusy"),
        (403, "ErrorAccessDenied", "ErrorAccessDenied"),
        (404, "ErrorItemNotFound", "ErrorItemNotFound"),
        (500, "InternalServerError", "ErrorInternalServerError"),
    ] {
        app.sims.graph.fail_next(1, status, code);
        let (http, xml) = post(&app, &token, &request).await;
        assert_eq!(http, 200);
        validate(&xml);
        assert_eq!(codes(&xml), [expected], "Graph {status}");
        if expected == "ErrorServerBusy" {
            assert!(
                xml.contains(r#"<t:Value Name="BackOffMilliseconds">1000</t:Value>"#),
                "{xml}"
            );
        }
    }
}

#[tokio::test]
async fn update_item_sets_and_clears_an_extended_property() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let id = msg["ews_id"].as_str().unwrap();
    let uri = r#"<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="GatewayTag" PropertyType="String"/>"#;
    let read = get_item(
        &format!("<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{uri}</t:AdditionalProperties>"),
        &[id],
    );
    let (_, before) = post(&app, &token, &read).await;
    let old_key = before
        .split("ChangeKey=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(!before.contains("<t:ExtendedProperty>"));

    let set = envelope(&format!(
        r#"<m:UpdateItem ConflictResolution="NeverOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}" ChangeKey="{old_key}"/><t:Updates><t:SetItemField>{uri}<t:Message><t:ExtendedProperty>{uri}<t:Value>processed</t:Value></t:ExtendedProperty></t:Message></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
    ));
    let (status, xml) = post(&app, &token, &set).await;
    assert_eq!(status, 200);
    validate(&xml);
    assert_eq!(codes(&xml), ["NoError"], "{xml}");
    let new_key = xml
        .split("ChangeKey=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_key, old_key);
    let (_, after) = post(&app, &token, &read).await;
    validate(&after);
    assert_eq!(inner(&after, "t:Value"), Some("processed"));

    // The same change key again is stale now: NeverOverwrite refuses.
    let (_, stale) = post(&app, &token, &set).await;
    validate(&stale);
    assert_eq!(codes(&stale), ["ErrorIrresolvableConflict"]);

    let delete = envelope(&format!(
        r#"<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}"/><t:Updates><t:DeleteItemField>{uri}</t:DeleteItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
    ));
    let (_, xml) = post(&app, &token, &delete).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["NoError"]);
    let (_, cleared) = post(&app, &token, &read).await;
    assert!(!cleared.contains("<t:ExtendedProperty>"), "{cleared}");

    let subject = envelope(&format!(
        r#"<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="{id}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message><t:Subject>x</t:Subject></t:Message></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
    ));
    let (_, xml) = post(&app, &token, &subject).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorAccessDenied"]);
    assert!(xml.contains("Mail-Advanced.ReadWrite"));
}

#[tokio::test]
async fn request_level_failures_are_soap_faults_or_http_401() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let id = msg["ews_id"].as_str().unwrap();

    let (status, _) = post(
        &app,
        "not-a-token",
        &get_item("<t:BaseShape>IdOnly</t:BaseShape>", &[id]),
    )
    .await;
    assert_eq!(status, 401);
    let res = app
        .http
        .post(format!("{}/ews/EXCHANGE.asmx", app.url))
        .body(get_item("<t:BaseShape>IdOnly</t:BaseShape>", &[id]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(!crate::support::www_authenticate(&res).is_empty());

    let broken = "<?xml version=\"1.0\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<soap:Body><oops></soap:Body></soap:Envelope>";
    let (status, xml) = post(&app, &token, broken).await;
    assert_eq!(status, 500);
    validate(&xml);
    assert!(xml.contains("a:ErrorSchemaValidation"), "{xml}");
    assert!(xml.contains("<t:LineNumber>3</t:LineNumber>"), "{xml}");

    let dtd = r#"<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol;</soap:Body></soap:Envelope>"#;
    let (status, xml) = post(&app, &token, dtd).await;
    assert_eq!(status, 500);
    assert!(xml.contains("ErrorSchemaValidation") && xml.contains("DTD"), "{xml}");

    let (status, xml) = post(&app, &token, &envelope("<m:FindItem Traversal=\"Shallow\"/>")).await;
    assert_eq!(status, 500);
    validate(&xml);
    assert!(
        xml.contains("a:ErrorInvalidOperation") && xml.contains("FindItem"),
        "{xml}"
    );

    let huge = envelope(&format!("<m:GetItem>{}</m:GetItem>", " ".repeat(2 << 20)));
    let (status, xml) = post(&app, &token, &huge).await;
    assert_eq!(status, 500);
    assert!(xml.contains("larger than the limit"), "{xml}");

    let request = get_item("<t:BaseShape>IdOnly</t:BaseShape>", &[id]);
    let (status, xml) = post_with(&app, &token, &request, &[("x-anchormailbox", "bob@contoso.com")]).await;
    assert_eq!(status, 500);
    assert!(xml.contains("a:ErrorAccessDenied"), "{xml}");
    let (status, _) = post_with(&app, &token, &request, &[("x-anchormailbox", "Alice@Contoso.com")]).await;
    assert_eq!(status, 200);

    let bad_version = request.replace("Exchange2016", "Exchange2099");
    let (status, xml) = post(&app, &token, &bad_version).await;
    assert_eq!(status, 500);
    assert!(xml.contains("ErrorInvalidServerVersion"), "{xml}");
}

#[tokio::test]
async fn another_users_items_are_not_found() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let bobs = app.first_message(app.bob());
    let (_, xml) = post(
        &app,
        &token,
        &get_item(
            "<t:BaseShape>Default</t:BaseShape>",
            &[bobs["ews_id"].as_str().unwrap()],
        ),
    )
    .await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorItemNotFound"]);
    assert!(!xml.contains(bobs["subject"].as_str().unwrap()));
}

#[tokio::test]
async fn convert_id_is_answered_locally() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let rest = msg["rest_id"].as_str().unwrap();
    let convert = envelope(&format!(
        r#"<m:ConvertId DestinationFormat="HexEntryId"><m:SourceIds><t:AlternateId Format="EwsId" Id="{rest}" Mailbox="alice@contoso.com"/><t:AlternateId Format="OwaId" Id="x" Mailbox="alice@contoso.com"/></m:SourceIds></m:ConvertId>"#
    ));
    let (status, xml) = post(&app, &token, &convert).await;
    assert_eq!(status, 200, "{xml}");
    assert_eq!(codes(&xml), ["NoError", "ErrorUnsupportedTypeForConversion"]);
    validate_keeping_namespaces(&xml, "m:ConvertIdResponse");
    let hex = xml
        .split(r#"Format="HexEntryId" Id=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(hex.len(), 140, "a 70-byte entry id: {hex}");
}

/// The Graph id of a seeded mailbox's Inbox, in EWS form (as the Graph simulator mints it).
fn inbox_ews_id(app: &TestApp, upn: &str) -> String {
    let user = app.sims.seed.users.iter().find(|u| u.upn == upn).unwrap();
    let guid = &user.mailbox_guid;
    naa_sim::ids::ItemId::new(guid, naa_sim::ids::mint_folder_entry_id(guid, 0x010C)).to_ews()
}

fn attr_of<'a>(xml: &'a str, element: &str, attr: &str) -> &'a str {
    let start = xml
        .find(&format!("<{element} "))
        .unwrap_or_else(|| panic!("no {element}: {xml}"));
    let rest = &xml[start..];
    let value = rest.split(&format!(r#"{attr}=""#)).nth(1).unwrap();
    value.split('"').next().unwrap()
}

#[tokio::test]
async fn get_folder_answers_from_graphs_mail_folders() {
    let app = spawn_app_with(Options {
        overrides: json!({"graph": {"max_retries": 0}}),
        ..Options::default()
    })
    .await;
    let token = app.token_for(app.alice()).await;
    let messages = app.messages(app.alice());
    // What the gateway reads of each seeded message: read state and folder.
    let ids: Vec<&str> = messages.iter().map(|m| m["ews_id"].as_str().unwrap()).collect();
    let shape = r#"<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="message:IsRead"/><t:FieldURI FieldURI="item:ParentFolderId"/></t:AdditionalProperties>"#;
    let (_, items) = post(&app, &token, &get_item(shape, &ids)).await;
    assert!(codes(&items).iter().all(|c| c == "NoError"), "{items}");
    let unread = items.matches("<t:IsRead>false</t:IsRead>").count();
    assert!(
        unread > 0 && unread < messages.len(),
        "the seed has read and unread mail"
    );
    let inbox = inbox_ews_id(&app, app.alice());
    assert_eq!(
        items.matches(&format!(r#"<t:ParentFolderId Id="{inbox}""#)).count(),
        messages.len()
    );

    let request = envelope(
        r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="msgfolderroot"/></m:FolderIds></m:GetFolder>"#,
    );
    let (status, xml) = post(&app, &token, &request).await;
    assert_eq!(status, 200, "{xml}");
    validate(&xml);
    assert_eq!(codes(&xml), ["NoError", "ErrorFolderNotFound", "NoError"]);
    assert_eq!(attr_of(&xml, "t:FolderId", "Id"), inbox);
    let first = xml.split("</m:GetFolderResponseMessage>").next().unwrap();
    assert_eq!(inner(first, "t:DisplayName"), Some("Inbox"));
    assert_eq!(inner(first, "t:TotalCount"), Some(messages.len().to_string().as_str()));
    assert_eq!(inner(first, "t:UnreadCount"), Some(unread.to_string().as_str()));
    assert!(
        !first.contains("<t:ParentFolderId"),
        "Default shape has no parent: {first}"
    );
    let top = xml.split("</m:GetFolderResponseMessage>").nth(2).unwrap();
    assert_eq!(inner(top, "t:DisplayName"), Some("Top of Information Store"));
    assert_eq!(inner(top, "t:ChildFolderCount"), Some("7"));

    // exchangelib's first request: root, as the parent of the Top of Information Store.
    let folder = std::fs::read_to_string(fixtures_dir().join("01_GetFolder_root_lookup_before_fetch.xml")).unwrap();
    let (status, xml) = post(&app, &token, &folder).await;
    assert_eq!(status, 200);
    validate(&xml);
    assert!(
        xml.contains("<t:DistinguishedFolderId>root</t:DistinguishedFolderId>"),
        "{xml}"
    );
    let root = attr_of(&xml, "t:FolderId", "Id").to_owned();
    // Asking for the Inbox by id with all properties: its parent's parent is that root.
    let by_id = |id: &str| {
        envelope(&format!(
            r#"<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:FolderId Id="{id}"/></m:FolderIds></m:GetFolder>"#
        ))
    };
    let (_, xml) = post(&app, &token, &by_id(&inbox)).await;
    validate(&xml);
    assert_eq!(inner(&xml, "t:FolderClass"), Some("IPF.Note"));
    let parent = attr_of(&xml, "t:ParentFolderId", "Id").to_owned();
    let (_, xml) = post(&app, &token, &by_id(&parent)).await;
    validate(&xml);
    assert_eq!(attr_of(&xml, "t:ParentFolderId", "Id"), root);
    let (_, xml) = post(&app, &token, &by_id(&root)).await;
    validate(&xml);
    assert_eq!(
        (codes(&xml), inner(&xml, "t:DisplayName")),
        (vec!["NoError".to_owned()], Some("Root"))
    );
    // Bob's Inbox id is not found for Alice; a malformed id is malformed; Bob's mailbox is denied.
    let (_, xml) = post(&app, &token, &by_id(&inbox_ews_id(&app, app.bob()))).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorFolderNotFound"]);
    let (_, xml) = post(&app, &token, &by_id("AAAA")).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorInvalidIdMalformed"]);
    let bobs = folder.replace("alice@contoso.com", "bob@contoso.com");
    let (_, xml) = post(&app, &token, &bobs).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorAccessDenied"]);
    // Graph's throttling reaches the client as EWS's back-off.
    app.sims.graph.fail_next(1, 429, "ApplicationThrottled");
    let (_, xml) = post(&app, &token, &by_id(&inbox)).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorServerBusy"]);
}

#[tokio::test]
async fn exchangelib_fixtures_parse_and_get_valid_answers() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let (_, file) = app.message_with_file(app.alice());
    let mut names: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 6);
    for path in names {
        let raw = std::fs::read_to_string(&path).unwrap();
        // As captured (placeholder ids): valid answers, per-id errors.
        let (status, xml) = post(&app, &token, &raw).await;
        assert_eq!(status, 200, "{}: {xml}", path.display());
        validate(&xml);
        // With the seeded mailbox's ids: success.
        let real = raw
            .replace("AAMkADItemId==", msg["ews_id"].as_str().unwrap())
            .replace(r#" ChangeKey="CQAAABYAAAD""#, "")
            .replace("AAMkADAttachmentId=", file["ews_id"].as_str().unwrap());
        let (status, xml) = post(&app, &token, &real).await;
        assert_eq!(status, 200);
        validate(&xml);
        assert!(codes(&xml).iter().all(|c| c == "NoError"), "{}: {xml}", path.display());
    }
}

#[tokio::test]
async fn the_default_policy_withholds_mime_and_large_attachments() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    let id = msg["ews_id"].as_str().unwrap();
    let listed = r#"<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:MimeContent"/><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties>"#;
    let (_, xml) = post(&app, &token, &get_item(listed, &[id])).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["NoError"]);
    assert!(!xml.contains("MimeContent") && xml.contains("<t:Subject>"), "{xml}");
    let explicit = "<t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent>";
    let (_, xml) = post(&app, &token, &get_item(explicit, &[id])).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorAccessDenied"]);

    let (_, big) = attachments_of(&app, app.alice(), "file")
        .into_iter()
        .max_by_key(|(_, a)| a["size"].as_u64().unwrap())
        .unwrap();
    assert!(big["size"].as_u64().unwrap() > 35 << 20);
    let (_, xml) = post(&app, &token, &get_attachment(&[big["ews_id"].as_str().unwrap()])).await;
    validate(&xml);
    assert_eq!(codes(&xml), ["ErrorAccessDenied"]);
    assert!(xml.contains("policy"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_reads_items_and_attachments_and_stamps_properties() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let (msg_rest, file) = app.message_with_file(app.alice());
    let msg = app
        .messages(app.alice())
        .into_iter()
        .find(|m| m["rest_id"] == msg_rest.as_str())
        .unwrap();
    let (_, item_att) = attachments_of(&app, app.alice(), "item").into_iter().next().unwrap();
    let expected_file = graph_value(&app, &token, &msg, &file).await;
    let url = format!("{}/EWS/Exchange.asmx", app.url);
    let args = [
        url.as_str(),
        token.as_str(),
        app.alice(),
        msg["ews_id"].as_str().unwrap(),
        file["ews_id"].as_str().unwrap(),
        item_att["ews_id"].as_str().unwrap(),
    ];
    let script = include_str!("../clients/ews_exchangelib.py");
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::python::run(script, &refs)
    })
    .await
    .unwrap();
    let got: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(got["subject"], msg["subject"], "{got}");
    assert_eq!(got["only_subject"], msg["subject"]);
    assert_eq!(got["internet_message_id"], msg["internet_message_id"]);
    assert!(got["body_length"].as_u64().unwrap() > 0 && got["only_body_length"].as_u64().unwrap() > 0);
    assert!(got["text_body_length"].as_u64().unwrap() > 0);
    assert_eq!(got["has_attachments"], true);
    let mut names: Vec<String> = msg["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(got["attachment_names"], json!(names));
    assert_eq!(got["file_length"], json!(expected_file.len()));
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&expected_file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got["file_sha256"], json!(sha));
    assert_eq!(got["item_attachment_subject"], item_att["name"]);
    assert_eq!(got["gateway_tag_before"], Value::Null);
    assert_eq!(got["after_set"], "processed");
    assert_eq!(got["changekey_changed"], true);
    assert_eq!(got["after_clear"], Value::Null);
}

#[tokio::test]
async fn a_claims_challenge_from_the_token_path_passes_through_as_http_401() {
    let app = spawn_app().await;
    let token = app.token_for(app.alice()).await;
    let msg = app.first_message(app.alice());
    app.sims.entra.fail_next(1, 50076);
    let res = app
        .http
        .post(format!("{}/EWS/Exchange.asmx", app.url))
        .bearer_auth(&token)
        .body(get_item(
            "<t:BaseShape>IdOnly</t:BaseShape>",
            &[msg["ews_id"].as_str().unwrap()],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = crate::support::www_authenticate(&res);
    assert!(
        challenge.contains("insufficient_claims") && challenge.contains("claims=\""),
        "{challenge}"
    );
}
