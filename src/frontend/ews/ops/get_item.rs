//! `GetItem`: one Graph `GET /me/messages/{id}` per item with `$select` and `$expand` built from
//! the shape, plus `$value` streamed as base64 when MIME content is asked for.

use serde_json::Value;

use super::{Ctx, encode, extended_expand};
use crate::{
    frontend::ews::{
        fault::EwsError,
        props::{ExtendedProp, Prop, Selection, same_graph_id},
        render,
        request::{GetItem, ItemRef},
        xml::{self, Closed, Sink, StreamError},
    },
    ids::{ExchangeId, IdKind},
    policy::{Action, Resource},
};

const OPERATION: &str = "GetItem";
const MESSAGE: &str = "GetItemResponseMessage";
/// `PR_TRANSPORT_MESSAGE_HEADERS`: the raw header block, governed like the headers.
const TRANSPORT_HEADERS: &str = "String 0x007D";

/// Attachment metadata fetched with a message (never the content).
pub const ATTACHMENT_SUMMARY: &str = "attachments($select=id,name,contentType,size,isInline,lastModifiedDateTime)";

/// How one item ended.
pub enum Failure {
    /// Before anything was written for it: an error response message.
    Ews(EwsError),
    /// Part-way through its content: the response cannot be completed.
    Fatal(StreamError),
}

impl From<EwsError> for Failure {
    fn from(e: EwsError) -> Self {
        Failure::Ews(e)
    }
}

/// Runs the operation, writing the whole response into `sink`.
pub async fn run(ctx: &Ctx, op: &GetItem, sink: &mut Sink) -> Result<(), StreamError> {
    let sel = Selection::new(op.base, op.include_mime, &op.additional);
    xml::open_response(&mut sink.buf, OPERATION);
    for item in &op.ids {
        match one(ctx, op, &sel, item, sink).await {
            Ok(()) => {}
            Err(Failure::Ews(e)) => e.write_message(&mut sink.buf, MESSAGE, Some("m:Items")),
            Err(Failure::Fatal(e)) => return Err(e),
        }
        sink.flush_if_full().await?;
    }
    xml::close_response(&mut sink.buf, OPERATION);
    sink.finish().await.map_err(StreamError::from)
}

/// The REST id of an item id, or `ErrorInvalidIdMalformed`.
pub fn item_rest_id(id: &str) -> Result<String, EwsError> {
    let parsed = ExchangeId::parse(id).map_err(|_| EwsError::id_malformed())?;
    if parsed.kind() != IdKind::Item {
        return Err(EwsError::id_malformed());
    }
    Ok(parsed.rest_id())
}

/// Applies the policy: without `ReadItem` the item fails; properties a policy withholds
/// (body, headers, MIME) are left out, as Exchange leaves out what a caller may not read,
/// unless the request asked for MIME content explicitly (`IncludeMimeContent`).
fn authorize(ctx: &Ctx, op: &GetItem, sel: &Selection) -> Result<Selection, EwsError> {
    let resource = Resource::default();
    ctx.authorize(Action::ReadItem, &resource)?;
    let mut sel = sel.clone();
    let body = [Prop::Body, Prop::UniqueBody, Prop::TextBody, Prop::Preview];
    if body.iter().any(|p| sel.has(*p)) && ctx.authorize(Action::ReadBody, &resource).is_err() {
        sel.props.retain(|p| !body.contains(p));
    }
    let is_transport = |e: &ExtendedProp| same_graph_id(&e.graph_id, TRANSPORT_HEADERS);
    let wants_headers = sel.has(Prop::InternetMessageHeaders) || sel.extended.iter().any(is_transport);
    if wants_headers && ctx.authorize(Action::ReadHeaders, &resource).is_err() {
        sel.props.retain(|p| *p != Prop::InternetMessageHeaders);
        sel.extended.retain(|e| !is_transport(e));
    }
    if sel.has(Prop::MimeContent)
        && let Err(denied) = ctx.authorize(Action::ReadMime, &resource)
    {
        if op.include_mime {
            return Err(denied);
        }
        sel.props.retain(|p| *p != Prop::MimeContent);
    }
    Ok(sel)
}

/// `$select` and `$expand` for one message GET.
pub fn message_query(sel: &Selection) -> String {
    let mut query = format!("?$select={}", sel.graph_select().join(","));
    let mut expand = Vec::new();
    if sel.has(Prop::Attachments) {
        expand.push(ATTACHMENT_SUMMARY.to_owned());
    }
    if let Some(ext) = extended_expand(&sel.graph_extended_ids()) {
        expand.push(ext);
    }
    if !expand.is_empty() {
        query.push_str("&$expand=");
        query.push_str(&encode(&expand.join(",")));
    }
    query
}

async fn one(ctx: &Ctx, op: &GetItem, sel: &Selection, item: &ItemRef, sink: &mut Sink) -> Result<(), Failure> {
    let rest_id = item_rest_id(&item.id)?;
    if let Some(e) = &sel.invalid {
        return Err(e.clone().into());
    }
    let sel = &authorize(ctx, op, sel)?;
    let path = format!("/me/messages/{rest_id}{}", message_query(sel));
    let msg: Value = ctx
        .get_json(&path, op.body_type)
        .await
        .map_err(|e| EwsError::from_graph(&e, false))?;
    let mime = if sel.has(Prop::MimeContent) {
        let response = ctx
            .get_stream(&format!("/me/messages/{rest_id}/$value"))
            .await
            .map_err(|e| EwsError::from_graph(&e, false))?;
        Some(response)
    } else {
        None
    };
    sink.buf.push_str(&format!(
        r#"<m:{MESSAGE} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message>"#
    ));
    if let Some(mime) = mime {
        sink.buf.push_str(r#"<t:MimeContent CharacterSet="UTF-8">"#);
        xml::base64_body(sink, mime.body).await.map_err(Failure::Fatal)?;
        sink.buf.push_str("</t:MimeContent>");
    }
    render::message_fields(&mut sink.buf, &msg, sel);
    sink.buf.push_str(&format!("</t:Message></m:Items></m:{MESSAGE}>"));
    Ok(())
}

impl From<Closed> for Failure {
    fn from(c: Closed) -> Self {
        Failure::Fatal(StreamError::Closed(c))
    }
}
