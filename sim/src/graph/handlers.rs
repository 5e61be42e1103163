//! Message endpoints: get (with `$select`, `$expand`, `Prefer`), list, `$value` (MIME) and
//! PATCH of extended properties and flags; dispatch to the attachment and id handlers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, request::Parts};
use serde_json::{Value, json};

use super::Shared;
use super::attachments;
use super::dispatch::{Admitted, PathId, Route};
use super::error::GraphError;
use super::extprops::{PropError, PropId};
use super::mime::{Mime, header_line};
use super::odata::{Expand, parse_id_filter, parse_query};
use super::patch;
use super::render::{MessageView, Ordered, message_select};
use super::reply::Reply;
use super::store::{BodyKind, Mailbox, MessageState, StoredMessage};
use super::translate;
use crate::ids::{ExchangeId, rest_to_ews};

/// Graph's base for `@odata.context`.
pub(crate) const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata";

/// Runs the handler of an admitted request.
pub(crate) async fn execute(
    shared: &Arc<Shared>,
    req: &Admitted,
    parts: &Parts,
    body: Body,
) -> Result<Reply, GraphError> {
    let query = parts.uri.query();
    match &req.route {
        Route::Messages => list_messages(req, parts),
        Route::Message(id) if parts.method == axum::http::Method::PATCH => {
            let msg = find_message(&req.mailbox, id)?;
            let bytes = super::dispatch::read_body(body).await?;
            patch::apply(&msg, &parts.headers, &bytes)?;
            shared.throttle.count_patch();
            get_message(req, &msg, None, &parts.headers)
        }
        Route::Message(id) => {
            let msg = find_message(&req.mailbox, id)?;
            get_message(req, &msg, query, &parts.headers)
        }
        Route::MessageValue(id) => {
            let msg = find_message(&req.mailbox, id)?;
            let mime = Mime::of_message(&msg.data);
            Ok(Reply::stream("text/plain", mime.len(), mime.stream()))
        }
        Route::Attachments(id) => {
            let msg = find_message(&req.mailbox, id)?;
            attachments::list(req, &msg, query, &parts.headers)
        }
        Route::Attachment(id, att) => {
            let msg = find_message(&req.mailbox, id)?;
            attachments::get(req, &msg, att, query, &parts.headers)
        }
        Route::AttachmentValue(id, att) => {
            let msg = find_message(&req.mailbox, id)?;
            attachments::value(&msg, att)
        }
        Route::MailFolder(id) => super::folders::get(req, id, query),
        Route::TranslateIds => {
            let bytes = super::dispatch::read_body(body).await?;
            translate::translate(req, &parts.headers, &bytes)
        }
    }
}

/// Decodes an id from the path the way Graph does: REST form only; `/` (from `%2F`) or a
/// literal `+` make it malformed, a percent-encoded `+` is read as base64's `+`.
pub(crate) fn decode_path_id(id: &PathId) -> Result<ExchangeId, GraphError> {
    if id.literal_plus || id.text.contains('/') {
        return Err(GraphError::malformed_id());
    }
    ExchangeId::parse_ews(&rest_to_ews(&id.text)).map_err(|_| GraphError::malformed_id())
}

/// The message an id in the path names (400 malformed, 404 unknown or another mailbox's).
pub(crate) fn find_message(mailbox: &Mailbox, id: &PathId) -> Result<Arc<StoredMessage>, GraphError> {
    match decode_path_id(id)? {
        ExchangeId::Attachment(_) => Err(GraphError::malformed_id()),
        item => mailbox.message(&item).cloned().ok_or_else(GraphError::item_not_found),
    }
}

/// `Prefer: outlook.body-content-type="text"|"html"`.
pub(crate) fn body_preference(headers: &HeaderMap) -> Option<BodyKind> {
    let values = headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok());
    let prefs = values.flat_map(|v| v.split(',')).filter_map(|p| p.split_once('='));
    prefs
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("outlook.body-content-type"))
        .filter_map(
            |(_, v)| match v.trim().trim_matches('"').to_ascii_lowercase().as_str() {
                "text" => Some(BodyKind::Text),
                "html" => Some(BodyKind::Html),
                _ => None,
            },
        )
        .next_back()
}

/// Adds `Preference-Applied` when a body preference was honoured.
pub(crate) fn with_preference(mut reply: Reply, pref: Option<BodyKind>) -> Reply {
    if let Some(kind) = pref {
        let value = format!("outlook.body-content-type=\"{}\"", kind.as_str());
        if let Ok(value) = HeaderValue::from_str(&value) {
            reply.set_header(axum::http::HeaderName::from_static("preference-applied"), value);
        }
    }
    reply
}

fn get_message(
    req: &Admitted,
    msg: &StoredMessage,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Reply, GraphError> {
    let query = parse_query(query, &["$select", "$expand"])?;
    let select = message_select(query.select.as_deref())?;
    let pref = body_preference(headers);
    let state = msg.state.lock().clone();
    let base = format!("{METADATA}#users('{}')", req.owner);
    let context = match &select {
        Some(list) => format!("{base}/messages({})/$entity", list.join(",")),
        None => format!("{base}/messages/$entity"),
    };
    let view = MessageView {
        data: &msg.data,
        stored: Some((msg, &state)),
        body_pref: pref,
    };
    let mut out = view.render(Some(context), select.as_deref());
    for expand in &query.expand {
        expand_message(&mut out, req, msg, &state, expand, pref)?;
    }
    Ok(with_preference(Reply::json(StatusCode::OK, &out), pref))
}

fn expand_message(
    out: &mut Ordered,
    req: &Admitted,
    msg: &StoredMessage,
    state: &MessageState,
    expand: &Expand,
    pref: Option<BodyKind>,
) -> Result<(), GraphError> {
    let base = format!("{METADATA}#users('{}')/messages('{}')", req.owner, msg.rest_id);
    let path = expand.path.as_str();
    if path.eq_ignore_ascii_case("attachments") {
        let list = attachments::render_list(req, msg, expand.select.as_deref(), false, pref)?;
        out.push("attachments@odata.context", json!(format!("{base}/attachments")));
        out.push("attachments", list);
        return Ok(());
    }
    let (name, multi) = if path.eq_ignore_ascii_case("singleValueExtendedProperties") {
        ("singleValueExtendedProperties", false)
    } else if path.eq_ignore_ascii_case("multiValueExtendedProperties") {
        ("multiValueExtendedProperties", true)
    } else {
        return Err(GraphError::unknown_property(path, "microsoft.graph.message"));
    };
    let filter = expand.filter.as_deref().ok_or_else(|| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Extended properties can only be expanded with a $filter on their id.",
        )
    })?;
    let mut ids: Vec<PropId> = Vec::new();
    for text in parse_id_filter(filter)? {
        let id = if multi {
            PropId::parse_multi(&text)
        } else {
            PropId::parse_single(&text)
        };
        let id = id.map_err(|e| invalid_property(&text, &e))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let values = if multi {
        multi_values(state, &ids)
    } else {
        single_values(msg, state, &ids)
    };
    out.push(&format!("{name}@odata.context"), json!(format!("{base}/{name}")));
    out.push(name, Value::Array(values));
    Ok(())
}

/// 400 for an extended property id or value Graph refuses.
pub(crate) fn invalid_property(text: &str, err: &PropError) -> GraphError {
    let code = match err {
        PropError::BadValue(_) => "ErrorInvalidExtendedPropertyValue",
        _ => "ErrorInvalidExtendedProperty",
    };
    GraphError::new(
        StatusCode::BAD_REQUEST,
        code,
        format!("The extended property '{text}' is invalid: {err}."),
    )
}

fn single_values(msg: &StoredMessage, state: &MessageState, ids: &[PropId]) -> Vec<Value> {
    ids.iter()
        .filter_map(|id| {
            let stored = state.single.iter().find(|(k, _)| k == id).map(|(_, v)| v.clone());
            let value = stored.or_else(|| (*id == PropId::transport_headers()).then(|| transport_block(msg)))?;
            Some(json!({"id": id.to_string(), "value": value}))
        })
        .collect()
}

fn multi_values(state: &MessageState, ids: &[PropId]) -> Vec<Value> {
    ids.iter()
        .filter_map(|id| {
            let (_, values) = state.multi.iter().find(|(k, _)| k == id)?;
            Some(json!({"id": id.to_string(), "value": values}))
        })
        .collect()
}

/// PR_TRANSPORT_MESSAGE_HEADERS: the header block as received.
fn transport_block(msg: &StoredMessage) -> String {
    msg.data.headers.iter().map(|(n, v)| header_line(n, v)).collect()
}

fn list_messages(req: &Admitted, parts: &Parts) -> Result<Reply, GraphError> {
    let query = parse_query(parts.uri.query(), &["$select", "$top", "$skip"])?;
    let select = message_select(query.select.as_deref())?;
    let (top, skip) = paging(parts.uri.query())?;
    let pref = body_preference(&parts.headers);
    let mut messages: Vec<&Arc<StoredMessage>> = req.mailbox.messages.iter().collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.data.received));
    let page: Vec<Value> = messages
        .iter()
        .skip(skip)
        .take(top)
        .map(|msg| {
            let state = msg.state.lock().clone();
            let view = MessageView {
                data: &msg.data,
                stored: Some((msg, &state)),
                body_pref: pref,
            };
            serde_json::to_value(view.render(None, select.as_deref())).unwrap_or_default()
        })
        .collect();
    let mut out = Ordered::default();
    out.push(
        "@odata.context",
        json!(format!("{METADATA}#users('{}')/messages", req.owner)),
    );
    out.push("value", Value::Array(page));
    if skip + top < messages.len() {
        out.push("@odata.nextLink", json!(next_link(parts, top, skip + top)));
    }
    Ok(with_preference(Reply::json(StatusCode::OK, &out), pref))
}

/// The same request for the next page: other options kept, `$top`/`$skip` replaced.
fn next_link(parts: &Parts, top: usize, skip: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let pairs = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes());
    for (key, value) in pairs {
        if !key.eq_ignore_ascii_case("$top") && !key.eq_ignore_ascii_case("$skip") {
            query.append_pair(&key, &value);
        }
    }
    query
        .append_pair("$top", &top.to_string())
        .append_pair("$skip", &skip.to_string());
    format!("https://graph.microsoft.com{}?{}", parts.uri.path(), query.finish())
}

/// `$top` (default 10, at most 1000) and `$skip`.
fn paging(query: Option<&str>) -> Result<(usize, usize), GraphError> {
    let (mut top, mut skip) = (10, 0);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let parsed = || {
            value
                .parse::<usize>()
                .map_err(|_| GraphError::parse_uri(format!("Invalid value '{value}' for {key}.")))
        };
        if key.eq_ignore_ascii_case("$top") {
            top = parsed()?.clamp(1, 1000);
        } else if key.eq_ignore_ascii_case("$skip") {
            skip = parsed()?;
        }
    }
    Ok((top, skip))
}
