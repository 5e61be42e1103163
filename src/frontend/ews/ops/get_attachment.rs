//! `GetAttachment`: the parent message comes from the attachment id itself; one Graph call reads
//! the attachment's metadata (and an attached item, expanded), then file content is streamed from
//! `$value` as base64 straight into the response, so memory does not grow with the file.

use serde_json::Value;

use super::{Ctx, encode, get_item::Failure};
use crate::{
    frontend::ews::{
        fault::EwsError,
        props::Selection,
        render::{self, AttachmentKind, attachment_kind},
        request::{BaseShape, GetAttachment},
        xml::{self, Sink, StreamError},
    },
    ids::{ExchangeId, IdKind},
    policy::{Action, Resource, ResourceKind},
};

const OPERATION: &str = "GetAttachment";
const MESSAGE: &str = "GetAttachmentResponseMessage";
/// Attachment metadata read before the content.
const METADATA: &str = "$select=id,name,contentType,size,isInline,lastModifiedDateTime,contentId";
/// The only expansion attachments have: the attached item.
const ITEM_EXPAND: &str = "microsoft.graph.itemattachment/item";

/// Runs the operation, writing the whole response into `sink`.
pub async fn run(ctx: &Ctx, op: &GetAttachment, sink: &mut Sink) -> Result<(), StreamError> {
    xml::open_response(&mut sink.buf, OPERATION);
    for id in &op.ids {
        match one(ctx, op, id, sink).await {
            Ok(()) => {}
            Err(Failure::Ews(e)) => e.write_message(&mut sink.buf, MESSAGE, Some("m:Attachments")),
            Err(Failure::Fatal(e)) => return Err(e),
        }
        sink.flush_if_full().await?;
    }
    xml::close_response(&mut sink.buf, OPERATION);
    sink.finish().await.map_err(StreamError::from)
}

/// `(message REST id, attachment REST id)` of an attachment id.
fn split_id(id: &str) -> Result<(String, String), EwsError> {
    let parsed = ExchangeId::parse(id).map_err(|_| EwsError::id_malformed())?;
    if parsed.kind() != IdKind::Attachment {
        return Err(EwsError::invalid_attachment_id());
    }
    Ok((parsed.item_rest_id(), parsed.rest_id()))
}

fn resource_of(meta: &Value, kind: AttachmentKind) -> Resource {
    Resource {
        kind: ResourceKind::Attachment,
        size: meta.get("size").and_then(Value::as_u64),
        content_type: meta.get("contentType").and_then(Value::as_str).map(str::to_owned),
        is_inline: meta.get("isInline").and_then(Value::as_bool),
        attachment_kind: Some(kind.as_str().to_owned()),
        name: meta.get("name").and_then(Value::as_str).map(str::to_owned),
        ..Resource::default()
    }
}

async fn one(ctx: &Ctx, op: &GetAttachment, id: &str, sink: &mut Sink) -> Result<(), Failure> {
    let (message_id, attachment_id) = split_id(id)?;
    let base = format!("/me/messages/{message_id}/attachments/{attachment_id}");
    let path = format!("{base}?{METADATA}&$expand={}", encode(ITEM_EXPAND));
    let meta: Value = ctx
        .get_json(&path, op.body_type)
        .await
        .map_err(|e| EwsError::from_graph(&e, true))?;
    let kind = attachment_kind(&meta);
    ctx.authorize(Action::ReadAttachment, &resource_of(&meta, kind))?;
    if meta.get("size").and_then(Value::as_u64).unwrap_or(0) > i32::MAX as u64 {
        return Err(EwsError::new(
            "ErrorAttachmentSizeLimitExceeded",
            "The attachment is larger than EWS can return (2 GB).",
        )
        .into());
    }
    match kind {
        AttachmentKind::Reference => Err(EwsError::new(
            "ErrorCannotOpenFileAttachment",
            "The attachment cannot be opened: it links to a file in cloud storage and has no content in the mailbox.",
        )
        .into()),
        AttachmentKind::File => file(ctx, &base, &meta, sink).await,
        AttachmentKind::Item => item(ctx, op, &base, &meta, sink).await,
    }
}

fn open_success(sink: &mut Sink) {
    sink.buf.push_str(&format!(
        r#"<m:{MESSAGE} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Attachments>"#
    ));
}

fn close_success(sink: &mut Sink) {
    sink.buf.push_str(&format!("</m:Attachments></m:{MESSAGE}>"));
}

async fn file(ctx: &Ctx, base: &str, meta: &Value, sink: &mut Sink) -> Result<(), Failure> {
    let content = ctx
        .get_stream(&format!("{base}/$value"))
        .await
        .map_err(|e| EwsError::from_graph(&e, true))?;
    open_success(sink);
    sink.buf.push_str("<t:FileAttachment>");
    render::attachment_common(&mut sink.buf, meta);
    sink.buf
        .push_str("<t:IsContactPhoto>false</t:IsContactPhoto><t:Content>");
    xml::base64_body(sink, content.body).await.map_err(Failure::Fatal)?;
    sink.buf.push_str("</t:Content></t:FileAttachment>");
    close_success(sink);
    Ok(())
}

async fn item(ctx: &Ctx, op: &GetAttachment, base: &str, meta: &Value, sink: &mut Sink) -> Result<(), Failure> {
    // The MIME of an attached item is the attachment's own content (Graph's `$value` of the
    // attachment), so `ReadAttachment`, already granted, governs it rather than `ReadMime`.
    let mime = if op.include_mime {
        let response = ctx
            .get_stream(&format!("{base}/$value"))
            .await
            .map_err(|e| EwsError::from_graph(&e, true))?;
        Some(response)
    } else {
        None
    };
    let embedded = meta.get("item").cloned().unwrap_or(Value::Null);
    let sel = Selection::new(BaseShape::AllProperties, false, &op.additional);
    open_success(sink);
    sink.buf.push_str("<t:ItemAttachment>");
    render::attachment_common(&mut sink.buf, meta);
    sink.buf.push_str("<t:Message>");
    if let Some(mime) = mime {
        sink.buf.push_str(r#"<t:MimeContent CharacterSet="UTF-8">"#);
        xml::base64_body(sink, mime.body).await.map_err(Failure::Fatal)?;
        sink.buf.push_str("</t:MimeContent>");
    }
    render::message_fields(&mut sink.buf, &embedded, &sel);
    sink.buf.push_str("</t:Message></t:ItemAttachment>");
    close_success(sink);
    Ok(())
}
