//! Attachment endpoints: list, get (file `contentBytes` streamed as base64, item attachments
//! expandable with `$expand=microsoft.graph.itemattachment/item`) and `$value` (raw bytes,
//! MIME for attached emails, 405 for cloud links).

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::dispatch::{Admitted, PathId};
use super::error::GraphError;
use super::handlers::{METADATA, body_preference, decode_path_id, with_preference};
use super::mime::Mime;
use super::odata::{Query, parse_query};
use super::render::{AttachmentView, ContentBytes, attachment_select};
use super::reply::{ODATA_JSON, Reply};
use super::store::{Attachment, AttachmentKind, BodyKind, StoredMessage};
use crate::ids::ExchangeId;

/// The only expansion attachments have in v1.0.
const ITEM_EXPAND: &str = "microsoft.graph.itemattachment/item";

/// Whether the query expands item attachments' `item`; other expansions are refused.
fn wants_item(query: &Query) -> Result<bool, GraphError> {
    let mut wants = false;
    for expand in &query.expand {
        if expand.path.eq_ignore_ascii_case(ITEM_EXPAND) {
            wants = true;
        } else {
            return Err(GraphError::unknown_property(&expand.path, "microsoft.graph.attachment"));
        }
    }
    Ok(wants)
}

fn messages_base(req: &Admitted, msg: &StoredMessage) -> String {
    format!("{METADATA}#users('{}')/messages('{}')", req.owner, msg.rest_id)
}

/// The attachments of `msg` as a JSON array, as in lists and `$expand=attachments`.
pub(crate) fn render_list(
    req: &Admitted,
    msg: &StoredMessage,
    select: Option<&[String]>,
    expand_item: bool,
    pref: Option<BodyKind>,
) -> Result<Value, GraphError> {
    let select = attachment_select(select)?;
    let base = messages_base(req, msg);
    let items = msg.data.attachments.iter().map(|attachment| {
        let rest_id = msg.attachment_id(attachment).to_rest();
        let expand_item = expand_item.then(|| item_context(&base, &rest_id));
        let view = AttachmentView {
            attachment,
            rest_id,
            select: select.as_deref(),
            expand_item,
            body_pref: pref,
        };
        serde_json::to_value(view.render(None, ContentBytes::ListStyle)).unwrap_or_default()
    });
    Ok(Value::Array(items.collect()))
}

fn item_context(base: &str, attachment_id: &str) -> String {
    format!("{base}/attachments('{attachment_id}')/microsoft.graph.itemAttachment/item/$entity")
}

/// `GET …/messages/{id}/attachments`.
pub(crate) fn list(
    req: &Admitted,
    msg: &StoredMessage,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Reply, GraphError> {
    let query = parse_query(query, &["$select", "$expand"])?;
    let pref = body_preference(headers);
    let value = render_list(req, msg, query.select.as_deref(), wants_item(&query)?, pref)?;
    let body = serde_json::json!({
        "@odata.context": format!("{}/attachments", messages_base(req, msg)),
        "value": value,
    });
    Ok(with_preference(Reply::json(StatusCode::OK, &body), pref))
}

/// The attachment a path id names on `msg`.
fn find<'m>(msg: &'m StoredMessage, id: &PathId) -> Result<&'m Attachment, GraphError> {
    match decode_path_id(id)? {
        ExchangeId::Attachment(att) => msg.attachment(&att).ok_or_else(GraphError::item_not_found),
        ExchangeId::Item(_) => Err(GraphError::malformed_id()),
    }
}

/// `GET …/attachments/{attId}`: file contents are streamed into `contentBytes`.
pub(crate) fn get(
    req: &Admitted,
    msg: &StoredMessage,
    id: &PathId,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Reply, GraphError> {
    let attachment = find(msg, id)?;
    let query = parse_query(query, &["$select", "$expand"])?;
    let select = attachment_select(query.select.as_deref())?;
    let pref = body_preference(headers);
    let base = messages_base(req, msg);
    let rest_id = msg.attachment_id(attachment).to_rest();
    let expand_item = wants_item(&query)?.then(|| item_context(&base, &rest_id));
    let view = AttachmentView {
        attachment,
        rest_id,
        select: select.as_deref(),
        expand_item,
        body_pref: pref,
    };
    let object = view.render(Some(format!("{base}/attachments/$entity")), ContentBytes::Streamed);
    let AttachmentKind::File { content, .. } = &attachment.kind else {
        return Ok(with_preference(Reply::json(StatusCode::OK, &object), pref));
    };
    if !view.streams_content() {
        return Ok(Reply::json(StatusCode::OK, &object));
    }
    // The object without its closing brace, then contentBytes as a streamed string.
    let mut prefix = serde_json::to_vec(&object).unwrap_or_default();
    prefix.pop();
    prefix.extend_from_slice(br#","contentBytes":""#);
    let suffix: &'static [u8] = b"\"}";
    let len = prefix.len() as u64 + content.base64_len() + suffix.len() as u64;
    let body = stream::iter([Bytes::from(prefix)])
        .chain(content.base64_stream())
        .chain(stream::iter([Bytes::from_static(suffix)]));
    Ok(Reply::stream(ODATA_JSON, len, body.boxed()))
}

/// `GET …/attachments/{attId}/$value`.
pub(crate) fn value(msg: &StoredMessage, id: &PathId) -> Result<Reply, GraphError> {
    match &find(msg, id)?.kind {
        AttachmentKind::File {
            content_type, content, ..
        } => Ok(Reply::stream(content_type, content.len(), content.raw_stream())),
        AttachmentKind::Item { message } => {
            let mime = Mime::of_message(message);
            Ok(Reply::stream("message/rfc822", mime.len(), mime.stream()))
        }
        AttachmentKind::Reference { .. } => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "ErrorInvalidRequest",
            "The $value of a reference attachment is not supported; the file lives in the cloud location it links to.",
        )),
    }
}
