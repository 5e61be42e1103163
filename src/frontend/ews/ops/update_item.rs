//! `UpdateItem` for the metadata add-ins stamp on received messages: `SetItemField` and
//! `DeleteItemField` of extended properties become one Graph `PATCH` of
//! `singleValueExtendedProperties` per item; the answer carries Graph's new change key.
//!
//! Deleting: Graph cannot remove one extended property value, so `DeleteItemField` of a
//! `String` property writes an empty string, and `GetItem` reports a blank string property as
//! absent; a client therefore sees the property as deleted, as after Exchange's delete. Other
//! property types cannot be blanked and are refused with `ErrorInvalidPropertyDelete`.
//!
//! Conflicts: `NeverOverwrite` sends the request's `ChangeKey` as `If-Match`; Graph's 412 is
//! `ErrorIrresolvableConflict`. `AutoResolve` and `AlwaysOverwrite` write without a
//! precondition: a property-level PATCH never overwrites other changes, so there is nothing
//! to resolve. Fields Graph treats as sensitive on a received message (subject, body,
//! recipients) are refused with `ErrorAccessDenied`.

use axum::http::{HeaderName, HeaderValue, header};
use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Ctx, get_item::item_rest_id};
use crate::{
    frontend::ews::{
        fault::EwsError,
        props::graph_id,
        render,
        request::{ConflictResolution, ExtendedField, ItemChange, PropertyPath, Update, UpdateItem},
        xml::{self, Sink, StreamError},
    },
    policy::{Action, Resource},
};

const OPERATION: &str = "UpdateItem";
const MESSAGE: &str = "UpdateItemResponseMessage";

/// Fields Graph lets only drafts change: refused on received messages.
const SENSITIVE: &[&str] = &[
    "item:Subject",
    "item:Body",
    "item:MimeContent",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:BccRecipients",
    "message:From",
    "message:Sender",
    "message:ReplyTo",
    "message:InternetMessageId",
];

/// Runs the operation.
pub async fn run(ctx: &Ctx, op: &UpdateItem, sink: &mut Sink) -> Result<(), StreamError> {
    xml::open_response(&mut sink.buf, OPERATION);
    for change in &op.changes {
        match one(ctx, op, change).await {
            Ok(msg) => {
                sink.buf.push_str(&format!(
                    r#"<m:{MESSAGE} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message>"#
                ));
                render::item_id(&mut sink.buf, "t:ItemId", &msg);
                sink.buf.push_str(&format!(
                    "</t:Message></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults></m:{MESSAGE}>"
                ));
            }
            Err(e) => e.write_message(&mut sink.buf, MESSAGE, Some("m:Items")),
        }
        sink.flush_if_full().await?;
    }
    xml::close_response(&mut sink.buf, OPERATION);
    sink.finish().await.map_err(StreamError::from)
}

fn property_resource(field: &ExtendedField) -> Resource {
    Resource {
        property_set: field.distinguished_set.clone().or_else(|| field.set_id.clone()),
        property_name: field
            .name
            .clone()
            .or_else(|| field.id.clone())
            .or_else(|| field.tag.clone()),
        ..Resource::default()
    }
}

/// The `(graph id, value)` an update writes.
fn planned(ctx: &Ctx, update: &Update) -> Result<(String, String), EwsError> {
    let (path, value) = match update {
        Update::Set { path, value } => (path, value.clone()),
        Update::Delete { path } => (path, None),
        Update::Append { path } => (path, None),
    };
    let field = match path {
        PropertyPath::Extended(field) => field,
        PropertyPath::Field(uri) | PropertyPath::Indexed(uri, _) if SENSITIVE.contains(&uri.as_str()) => {
            return Err(EwsError::new(
                "ErrorAccessDenied",
                format!(
                    "Access is denied: '{uri}' of a received message can only be changed with the Mail-Advanced.ReadWrite permission, which this gateway does not request."
                ),
            ));
        }
        PropertyPath::Field(uri) | PropertyPath::Indexed(uri, _) => {
            return Err(EwsError::new(
                "ErrorInvalidPropertySet",
                format!(
                    "'{uri}' cannot be changed through this server; only extended properties can be set or deleted."
                ),
            ));
        }
    };
    let id = graph_id(field)?.ok_or_else(|| {
        EwsError::new(
            "ErrorUnsupportedMapiPropertyType",
            "Multi-valued extended properties cannot be changed through this server.",
        )
    })?;
    ctx.authorize(Action::WriteExtendedProperty, &property_resource(field))?;
    Ok((id, value_to_write(update, value, field)?))
}

/// The value an update writes: the new value, or the blank string a delete leaves.
fn value_to_write(update: &Update, value: Option<String>, field: &ExtendedField) -> Result<String, EwsError> {
    match (update, value) {
        (Update::Set { .. }, Some(value)) => Ok(value),
        (Update::Set { .. }, None) => Err(EwsError::new(
            "ErrorInvalidExtendedPropertyValue",
            "The item in SetItemField has no ExtendedProperty value for the property being set.",
        )),
        (Update::Delete { .. }, _) if field.ty == "String" => Ok(String::new()),
        (Update::Delete { .. }, _) => Err(EwsError::new(
            "ErrorInvalidPropertyDelete",
            "Only String extended properties can be deleted through this server.",
        )),
        (Update::Append { .. }, _) => Err(EwsError::new(
            "ErrorInvalidPropertyAppend",
            "Extended properties cannot be appended to.",
        )),
    }
}

async fn one(ctx: &Ctx, op: &UpdateItem, change: &ItemChange) -> Result<Value, EwsError> {
    let item = change.item.as_ref().ok_or_else(|| {
        EwsError::new(
            "ErrorInvalidOperation",
            "Occurrences and recurring masters cannot be updated through this server.",
        )
    })?;
    let rest_id = item_rest_id(&item.id)?;
    let writes = change
        .updates
        .iter()
        .map(|u| planned(ctx, u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if op.conflict == ConflictResolution::NeverOverwrite {
        let ck = item.change_key.as_deref().ok_or_else(|| {
            EwsError::new(
                "ErrorChangeKeyRequiredForWriteOperations",
                "When making a change with ConflictResolution NeverOverwrite, the change key is required.",
            )
        })?;
        let value = HeaderValue::from_str(&format!("W/\"{ck}\""))
            .map_err(|_| EwsError::new("ErrorInvalidChangeKey", "The change key is invalid."))?;
        headers.push((header::IF_MATCH, value));
    }
    let path = format!("/me/messages/{rest_id}");
    if writes.is_empty() {
        return ctx
            .get_json(&format!("{path}?$select=id,changeKey"), Default::default())
            .await
            .map_err(|e| EwsError::from_graph(&e, false));
    }
    let props: Vec<Value> = writes
        .into_iter()
        .map(|(id, value)| json!({"id": id, "value": value}))
        .collect();
    let body = serde_json::to_vec(&json!({ "singleValueExtendedProperties": props })).unwrap_or_default();
    let response = ctx
        .send(Method::PATCH, &path, headers, Some(Bytes::from(body)))
        .await
        .map_err(|e| EwsError::from_graph(&e, false))?;
    response.json().await.map_err(|e| EwsError::from_graph(&e, false))
}
