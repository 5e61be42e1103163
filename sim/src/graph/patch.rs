//! `PATCH /messages/{id}`: extended properties and the flags a received message allows,
//! validated as a whole before anything changes; `If-Match` against the change key.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::error::GraphError;
use super::extprops::PropId;
use super::handlers::invalid_property;
use super::render::etag;
use super::store::{MessageState, StoredMessage};

/// Properties Graph computes; setting them is refused.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "bodyPreview",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDraft",
    "webLink",
    "uniqueBody",
    "internetMessageHeaders",
    "attachments",
    "extensions",
];
/// Properties only drafts can change.
const DRAFT_ONLY: &[&str] = &[
    "subject",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "from",
    "sender",
    "internetMessageId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
];

/// Validated changes of one PATCH.
#[derive(Debug, Default)]
struct Changes {
    single: Vec<(PropId, String)>,
    multi: Vec<(PropId, Vec<String>)>,
    categories: Option<Vec<String>>,
    is_read: Option<bool>,
    importance: Option<String>,
    flag: Option<String>,
    inference: Option<String>,
}

/// Validates and applies a PATCH body to `msg`.
pub(crate) fn apply(msg: &StoredMessage, headers: &HeaderMap, body: &[u8]) -> Result<(), GraphError> {
    require_json(headers)?;
    let value: Value = serde_json::from_slice(body).map_err(|e| GraphError::body_read(format!("Invalid JSON. {e}")))?;
    let Value::Object(fields) = value else {
        return Err(GraphError::body_read("The request body must be a JSON object."));
    };
    let changes = parse_changes(&fields)?;
    let mut state = msg.state.lock();
    check_if_match(headers, msg, &state)?;
    commit(&mut state, changes);
    Ok(())
}

/// 415 unless the body is declared as JSON.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), GraphError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("The content type '{content_type}' is not supported; send 'application/json'."),
        ))
    }
}

fn parse_changes(fields: &Map<String, Value>) -> Result<Changes, GraphError> {
    let mut changes = Changes::default();
    for (key, value) in fields {
        match key.as_str() {
            "@odata.type" => {
                let t = value.as_str().unwrap_or("");
                if t.trim_start_matches('#') != "microsoft.graph.message" {
                    return Err(GraphError::body_read(format!(
                        "The type '{t}' is not compatible with 'microsoft.graph.message'."
                    )));
                }
            }
            k if k.starts_with("@odata.") => {}
            "singleValueExtendedProperties" => {
                changes.single = parse_props(value, false)?
                    .into_iter()
                    .map(|(id, v)| (id, v.join("")))
                    .collect()
            }
            "multiValueExtendedProperties" => changes.multi = parse_props(value, true)?,
            "categories" => changes.categories = Some(string_array(value, key)?),
            "isRead" => changes.is_read = Some(value.as_bool().ok_or_else(|| wrong_type(key, "Edm.Boolean"))?),
            "importance" => changes.importance = Some(enum_value(value, key, &["low", "normal", "high"])?),
            "inferenceClassification" => changes.inference = Some(enum_value(value, key, &["focused", "other"])?),
            "flag" => {
                let status = value
                    .get("flagStatus")
                    .ok_or_else(|| wrong_type(key, "microsoft.graph.followupFlag"))?;
                changes.flag = Some(enum_value(
                    status,
                    "flagStatus",
                    &["notFlagged", "flagged", "complete"],
                )?);
            }
            other => return Err(refuse(other)),
        }
    }
    Ok(changes)
}

/// Why a property cannot be set on a received message.
fn refuse(key: &str) -> GraphError {
    if READ_ONLY.contains(&key) {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidPropertySet",
            format!("Set action is invalid for property '{key}'."),
        )
    } else if DRAFT_ONLY.contains(&key) {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidPropertyUpdateSentMessage",
            "Update operation is invalid for property of a sent message.",
        )
    } else {
        GraphError::body_read(format!(
            "The property '{key}' does not exist on type 'microsoft.graph.message'. Make sure to only use property names that are defined by the type or mark the type as open type."
        ))
    }
}

/// `[{"id": "...", "value": "..."}]` (or a string array for multi-value properties).
fn parse_props(value: &Value, multi: bool) -> Result<Vec<(PropId, Vec<String>)>, GraphError> {
    let type_name = if multi {
        "microsoft.graph.multiValueLegacyExtendedProperty"
    } else {
        "microsoft.graph.singleValueLegacyExtendedProperty"
    };
    let list = value
        .as_array()
        .ok_or_else(|| wrong_type("ExtendedProperties", &format!("Collection({type_name})")))?;
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let obj = entry
            .as_object()
            .ok_or_else(|| wrong_type("ExtendedProperties", type_name))?;
        if let Some(extra) = obj
            .keys()
            .find(|k| *k != "id" && *k != "value" && !k.starts_with("@odata."))
        {
            return Err(GraphError::body_read(format!(
                "The property '{extra}' does not exist on type '{type_name}'."
            )));
        }
        let text = obj
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| wrong_type("id", "Edm.String"))?;
        let id = if multi {
            PropId::parse_multi(text)
        } else {
            PropId::parse_single(text)
        };
        let id = id.map_err(|e| invalid_property(text, &e))?;
        let values = match (obj.get("value"), multi) {
            (Some(Value::String(v)), false) => vec![v.clone()],
            (Some(v @ Value::Array(_)), true) => string_array(v, "value")?,
            _ => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidExtendedPropertyValue",
                    format!(
                        "The extended property '{text}' needs a value of type {}.",
                        if multi { "Collection(Edm.String)" } else { "Edm.String" }
                    ),
                ));
            }
        };
        for v in &values {
            id.check_value(v).map_err(|e| invalid_property(text, &e))?;
        }
        out.retain(|(known, _)| *known != id);
        out.push((id, values));
    }
    Ok(out)
}

fn string_array(value: &Value, key: &str) -> Result<Vec<String>, GraphError> {
    let list = value
        .as_array()
        .ok_or_else(|| wrong_type(key, "Collection(Edm.String)"))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| wrong_type(key, "Collection(Edm.String)"))
        })
        .collect()
}

fn enum_value(value: &Value, key: &str, allowed: &[&str]) -> Result<String, GraphError> {
    let text = value.as_str().ok_or_else(|| wrong_type(key, "Edm.String"))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(text))
        .map(|a| (*a).to_owned())
        .ok_or_else(|| GraphError::body_read(format!("The value '{text}' is not valid for property '{key}'.")))
}

fn wrong_type(key: &str, expected: &str) -> GraphError {
    GraphError::body_read(format!(
        "The value of property '{key}' is not of the expected type '{expected}'."
    ))
}

fn check_if_match(headers: &HeaderMap, msg: &StoredMessage, state: &MessageState) -> Result<(), GraphError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = etag(msg, state);
    let bare = current.trim_start_matches("W/").trim_matches('"').to_owned();
    let matches = wanted
        .split(',')
        .map(str::trim)
        .any(|w| w == "*" || w == current || w.trim_start_matches("W/").trim_matches('"') == bare);
    if matches {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::PRECONDITION_FAILED,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        ))
    }
}

fn commit(state: &mut MessageState, changes: Changes) {
    for (id, value) in changes.single {
        state.single.retain(|(known, _)| *known != id);
        state.single.push((id, value));
    }
    for (id, values) in changes.multi {
        state.multi.retain(|(known, _)| *known != id);
        state.multi.push((id, values));
    }
    if let Some(categories) = changes.categories {
        state.categories = categories;
    }
    if let Some(is_read) = changes.is_read {
        state.is_read = is_read;
    }
    if let Some(importance) = changes.importance {
        state.importance = importance;
    }
    if let Some(status) = changes.flag {
        state.flag.status = status;
    }
    if let Some(inference) = changes.inference {
        state.inference = inference;
    }
    state.change_counter += 1;
    let now = OffsetDateTime::now_utc();
    state.last_modified = now.replace_nanosecond(0).unwrap_or(now);
}
