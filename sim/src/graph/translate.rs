//! `POST /translateExchangeIds`: converts between `ewsId`, `restId` and `entryId` for ids of the
//! addressed mailbox, with per-id `errorDetails` instead of failing the whole call.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::dispatch::Admitted;
use super::error::GraphError;
use super::handlers::METADATA;
use super::patch::require_json;
use super::reply::Reply;
use crate::ids::{ExchangeId, IdError, ItemId, derive16, entry_id_from_text, entry_id_to_text};

/// Ids per call (documented limit).
const MAX_IDS: usize = 1000;
/// `exchangeIdFormat` members.
const FORMATS: &[&str] = &["entryId", "ewsId", "immutableEntryId", "restId", "restImmutableEntryId"];

/// Handles a translate request body.
pub(crate) fn translate(req: &Admitted, headers: &HeaderMap, body: &[u8]) -> Result<Reply, GraphError> {
    require_json(headers)?;
    let value: Value = serde_json::from_slice(body).map_err(|e| GraphError::body_read(format!("Invalid JSON. {e}")))?;
    let inputs = value.get("inputIds").and_then(Value::as_array).ok_or_else(|| {
        GraphError::body_read("The parameter 'inputIds' in the request payload is not a valid collection.")
    })?;
    let source = format_param(&value, "sourceIdType")?;
    let target = format_param(&value, "targetIdType")?;
    if inputs.is_empty() || inputs.len() > MAX_IDS {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            format!("inputIds must contain between 1 and {MAX_IDS} ids."),
        ));
    }
    for format in [source, target] {
        if format.contains("mmutable") {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                format!("Translating {format} ids is not available in this environment."),
            ));
        }
    }
    let guid = req.mailbox.user.mailbox_guid.as_str();
    let mut results = Vec::with_capacity(inputs.len());
    for input in inputs {
        let text = input
            .as_str()
            .ok_or_else(|| GraphError::body_read("inputIds must be strings."))?;
        let result = match convert(text, source, target, guid) {
            Ok(target_id) => json!({"sourceId": text, "targetId": target_id}),
            Err(details) => json!({"sourceId": text, "errorDetails": details}),
        };
        results.push(result);
    }
    let body = json!({
        "@odata.context": format!("{METADATA}#Collection(microsoft.graph.convertIdResult)"),
        "value": results,
    });
    Ok(Reply::json(StatusCode::OK, &body))
}

fn format_param<'a>(value: &'a Value, name: &str) -> Result<&'a str, GraphError> {
    let text = value.get(name).and_then(Value::as_str).unwrap_or("");
    FORMATS.iter().copied().find(|f| *f == text).ok_or_else(|| {
        GraphError::body_read(format!(
            "Cannot convert the literal '{text}' to the expected type 'microsoft.graph.exchangeIdFormat'."
        ))
    })
}

fn convert(text: &str, source: &str, target: &str, guid: &str) -> Result<String, Value> {
    let malformed = |_: IdError| json!({"code": "ErrorInvalidIdMalformed", "message": "Id is malformed."});
    let id = match source {
        "ewsId" => ExchangeId::parse_ews(text).map_err(malformed)?,
        "restId" => ExchangeId::parse_rest(text).map_err(malformed)?,
        _ => {
            let bytes = entry_id_from_text(text).map_err(malformed)?;
            // Entry ids carry the store provider of their mailbox; anything else is not ours.
            if bytes.len() < 46 || bytes[4..20] != derive16(guid, "store-provider", 0) {
                return Err(malformed(IdError::MailboxGuid));
            }
            ExchangeId::Item(ItemId::new(guid, bytes))
        }
    };
    if !id.item().mailbox_guid().eq_ignore_ascii_case(guid) {
        return Err(
            json!({"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}),
        );
    }
    let ews = match &id {
        ExchangeId::Item(item) => item.to_ews(),
        ExchangeId::Attachment(att) => att.to_ews(),
    };
    match (target, &id) {
        ("ewsId", _) => Ok(ews),
        ("restId", _) => Ok(crate::ids::ews_to_rest(&ews)),
        (_, ExchangeId::Item(item)) => Ok(entry_id_to_text(item.store_id())),
        (_, ExchangeId::Attachment(_)) => Err(json!({
            "code": "ErrorInvalidIdNotAnItemAttachmentId",
            "message": "Attachments have no entry id.",
        })),
    }
}
