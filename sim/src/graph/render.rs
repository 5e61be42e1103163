//! Graph v1.0 JSON for messages and attachments: property order, `$select`, body format
//! preference, OData annotations.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::convert::{body_as, preview};
use super::error::GraphError;
use super::mime::Mime;
use super::store::{
    Attachment, AttachmentKind, BodyKind, MessageBody, MessageData, MessageState, Person, StoredMessage,
};

/// Message properties in the order Graph writes them.
const MESSAGE_PROPS: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "internetMessageHeaders",
    "body",
    "uniqueBody",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
];
/// Returned only when `$select`ed.
const SELECT_ONLY: &[&str] = &["uniqueBody", "internetMessageHeaders"];
/// Navigation properties: selectable without effect, content only through `$expand`.
pub(crate) const MESSAGE_NAVIGATION: &[&str] = &[
    "attachments",
    "extensions",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
];
/// Attachment properties (base type first, then fileAttachment's).
const ATTACHMENT_PROPS: &[&str] = &[
    "id",
    "lastModifiedDateTime",
    "name",
    "contentType",
    "size",
    "isInline",
    "contentId",
    "contentLocation",
    "contentBytes",
];
/// File attachments above this size list `contentBytes` as null (fetch them one by one).
pub(crate) const LIST_CONTENT_LIMIT: u64 = 3 * 1024 * 1024;

/// A JSON object that keeps its keys in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ordered(pub(crate) Vec<(String, Value)>);

impl Ordered {
    pub(crate) fn push(&mut self, key: &str, value: Value) {
        self.0.push((key.to_owned(), value));
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// `2026-03-02T08:14:31Z`.
pub(crate) fn iso(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
        .unwrap_or_default()
}

/// Resolves `$select` items (case-insensitive) to canonical names of `props`.
pub(crate) fn resolve_select(
    select: Option<&[String]>,
    props: &[&'static str],
    extra: &[&'static str],
    type_name: &str,
) -> Result<Option<Vec<&'static str>>, GraphError> {
    let Some(items) = select else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for item in items {
        let found: Vec<&'static str> = if item == "*" {
            props.iter().copied().filter(|p| !SELECT_ONLY.contains(p)).collect()
        } else {
            let found = props.iter().chain(extra).find(|p| p.eq_ignore_ascii_case(item));
            vec![*found.ok_or_else(|| GraphError::unknown_property(item, type_name))?]
        };
        for p in found {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(Some(out))
}

/// Resolves a message `$select`.
pub(crate) fn message_select(select: Option<&[String]>) -> Result<Option<Vec<&'static str>>, GraphError> {
    resolve_select(select, MESSAGE_PROPS, MESSAGE_NAVIGATION, "microsoft.graph.message")
}

/// Resolves an attachment `$select`.
pub(crate) fn attachment_select(select: Option<&[String]>) -> Result<Option<Vec<&'static str>>, GraphError> {
    resolve_select(select, ATTACHMENT_PROPS, &["item"], "microsoft.graph.attachment")
}

fn person(p: &Person) -> Value {
    json!({"emailAddress": {"name": p.name, "address": p.address}})
}

fn people(list: &[Person]) -> Value {
    Value::Array(list.iter().map(person).collect())
}

fn body_json(body: &MessageBody) -> Value {
    json!({"contentType": body.kind.as_str(), "content": body.content})
}

/// How to render one message.
pub(crate) struct MessageView<'a> {
    pub(crate) data: &'a MessageData,
    /// Ids and state of a mailbox message; `None` for an attached (embedded) message.
    pub(crate) stored: Option<(&'a StoredMessage, &'a MessageState)>,
    pub(crate) body_pref: Option<BodyKind>,
}

impl MessageView<'_> {
    /// The message object: annotations, then the selected (or default) properties.
    pub(crate) fn render(&self, context: Option<String>, select: Option<&[&'static str]>) -> Ordered {
        let mut out = Ordered::default();
        if let Some(context) = context {
            out.push("@odata.context", Value::String(context));
        }
        match self.stored {
            Some((msg, state)) => out.push("@odata.etag", Value::String(etag(msg, state))),
            None => out.push("@odata.type", json!("#microsoft.graph.message")),
        }
        for prop in MESSAGE_PROPS {
            let wanted = match select {
                Some(list) => list.contains(prop) || *prop == "id",
                None => !SELECT_ONLY.contains(prop),
            };
            if wanted && let Some(value) = self.field(prop) {
                out.push(prop, value);
            }
        }
        out
    }

    fn field(&self, name: &str) -> Option<Value> {
        let d = self.data;
        if let Some(v) = self.state_field(name) {
            return v;
        }
        let value = match name {
            "createdDateTime" | "lastModifiedDateTime" => json!(iso(d.received)),
            "receivedDateTime" => json!(iso(d.received)),
            "sentDateTime" => json!(iso(d.sent)),
            "hasAttachments" => json!(d.has_attachments()),
            "internetMessageId" => json!(d.internet_message_id),
            "subject" => json!(d.subject),
            "bodyPreview" => json!(preview(&d.body)),
            "importance" => json!(d.importance),
            "conversationId" => json!(d.conversation_id),
            "conversationIndex" => json!(d.conversation_index),
            "isDeliveryReceiptRequested" | "isReadReceiptRequested" | "isDraft" => json!(false),
            "isRead" => json!(true),
            "internetMessageHeaders" => {
                let headers = d.headers.iter().map(|(n, v)| json!({"name": n, "value": unfold(v)}));
                Value::Array(headers.collect())
            }
            "body" => body_json(&body_as(&d.body, self.body_pref)),
            "uniqueBody" => body_json(&body_as(&d.unique_body, self.body_pref)),
            "sender" | "from" => person(&d.from),
            "toRecipients" => people(&d.to),
            "ccRecipients" => people(&d.cc),
            "bccRecipients" => json!([]),
            "replyTo" => people(&d.reply_to),
            "flag" => json!({"flagStatus": "notFlagged"}),
            "categories" => json!([]),
            // Only mailbox messages have these.
            _ => return None,
        };
        Some(value)
    }

    /// Fields that come from the mailbox message (ids, mutable state); `Some(None)` omits.
    fn state_field(&self, name: &str) -> Option<Option<Value>> {
        let Some((msg, state)) = self.stored else {
            return match name {
                "id" => Some(Some(json!(""))),
                "changeKey" | "parentFolderId" | "webLink" | "inferenceClassification" | "uniqueBody" => Some(None),
                _ => None,
            };
        };
        let value = match name {
            "id" => json!(msg.rest_id),
            "createdDateTime" => json!(iso(msg.created)),
            "lastModifiedDateTime" => json!(iso(state.last_modified)),
            "changeKey" => json!(change_key(msg, state)),
            "categories" => json!(state.categories),
            "importance" => json!(state.importance),
            "parentFolderId" => json!(msg.parent_folder_id),
            "isRead" => json!(state.is_read),
            "webLink" => json!(web_link(&msg.ews_id)),
            "inferenceClassification" => json!(state.inference),
            "flag" => json!({"flagStatus": state.flag.status}),
            _ => return None,
        };
        Some(Some(value))
    }
}

/// Header values as Graph lists them: folded continuation lines joined.
fn unfold(value: &str) -> String {
    value.replace("\r\n\t", " ").replace("\r\n ", " ")
}

/// The change key of the message in its current state.
pub(crate) fn change_key(msg: &StoredMessage, state: &MessageState) -> String {
    crate::ids::mint_change_key(msg.item.mailbox_guid(), state.change_counter)
}

/// `W/"<changeKey>"`.
pub(crate) fn etag(msg: &StoredMessage, state: &MessageState) -> String {
    format!("W/\"{}\"", change_key(msg, state))
}

fn web_link(ews_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(ews_id.as_bytes()).collect();
    format!("https://outlook.office365.com/owa/?ItemID={encoded}&exvsurl=1&viewmodel=ReadMessageItem")
}

/// Bytes served for an attachment's `$value` (and its `size`).
pub(crate) fn attachment_size(attachment: &Attachment) -> u64 {
    match &attachment.kind {
        AttachmentKind::File { content, .. } => content.len(),
        AttachmentKind::Item { message } => Mime::of_message(message).len(),
        AttachmentKind::Reference { .. } => 0,
    }
}

/// How `contentBytes` of a file attachment appears in the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentBytes {
    /// Base64 inline (small files) or null (large files), as in lists.
    ListStyle,
    /// Left out; the caller streams it after the object.
    Streamed,
}

/// An attachment object.
pub(crate) struct AttachmentView<'a> {
    pub(crate) attachment: &'a Attachment,
    pub(crate) rest_id: String,
    pub(crate) select: Option<&'a [&'static str]>,
    /// `Some(context)` expands an item attachment's `item`.
    pub(crate) expand_item: Option<String>,
    pub(crate) body_pref: Option<BodyKind>,
}

impl AttachmentView<'_> {
    pub(crate) fn render(&self, context: Option<String>, content_bytes: ContentBytes) -> Ordered {
        let a = self.attachment;
        let mut out = Ordered::default();
        if let Some(context) = context {
            out.push("@odata.context", json!(context));
        }
        let wants = |p: &str| self.select.is_none_or(|s| s.contains(&p) || p == "id");
        let (odata_type, content_type) = match &a.kind {
            AttachmentKind::File { content_type, .. } => ("#microsoft.graph.fileAttachment", json!(content_type)),
            AttachmentKind::Item { .. } => ("#microsoft.graph.itemAttachment", Value::Null),
            AttachmentKind::Reference { content_type } => ("#microsoft.graph.referenceAttachment", json!(content_type)),
        };
        out.push("@odata.type", json!(odata_type));
        if let AttachmentKind::File { content_type, .. } = &a.kind {
            out.push("@odata.mediaContentType", json!(content_type));
        }
        let base = [
            ("id", json!(self.rest_id)),
            ("lastModifiedDateTime", json!(iso(a.last_modified))),
            ("name", json!(a.name)),
            ("contentType", content_type),
            ("size", json!(attachment_size(a))),
            ("isInline", json!(a.is_inline())),
        ];
        for (key, value) in base {
            if wants(key) {
                out.push(key, value);
            }
        }
        self.render_specific(&mut out, content_bytes);
        out
    }

    /// The properties of the derived type (fileAttachment, expanded itemAttachment).
    fn render_specific(&self, out: &mut Ordered, content_bytes: ContentBytes) {
        let wants = |p: &str| self.select.is_none_or(|s| s.contains(&p));
        match &self.attachment.kind {
            AttachmentKind::File {
                content, content_id, ..
            } => {
                for (key, value) in [("contentId", json!(content_id)), ("contentLocation", Value::Null)] {
                    if wants(key) {
                        out.push(key, value);
                    }
                }
                if wants("contentBytes") && content_bytes == ContentBytes::ListStyle {
                    out.push("contentBytes", list_content_bytes(content));
                }
            }
            AttachmentKind::Item { message } => {
                if let Some(context) = &self.expand_item {
                    out.push("item@odata.context", json!(context));
                    let view = MessageView {
                        data: message,
                        stored: None,
                        body_pref: self.body_pref,
                    };
                    out.push(
                        "item",
                        serde_json::to_value(view.render(None, None)).unwrap_or_default(),
                    );
                }
            }
            AttachmentKind::Reference { .. } => {}
        }
    }

    /// Whether the streamed form should append `contentBytes`.
    pub(crate) fn streams_content(&self) -> bool {
        matches!(self.attachment.kind, AttachmentKind::File { .. })
            && self.select.is_none_or(|s| s.contains(&"contentBytes"))
    }
}

fn list_content_bytes(content: &super::files::Content) -> Value {
    use base64::Engine as _;
    if content.len() > LIST_CONTENT_LIMIT {
        Value::Null
    } else {
        json!(base64::engine::general_purpose::STANDARD.encode(content.to_bytes()))
    }
}
