//! Sandbox-only endpoints beside the Graph API: the seeded messages with their ids, and stats.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::render::attachment_size;
use super::store::{AttachmentKind, Mailbox};

/// The seeded messages of a mailbox with ids in both forms and their attachments.
pub(crate) fn listing(mailbox: &Mailbox) -> Vec<Value> {
    mailbox
        .messages
        .iter()
        .map(|msg| {
            let attachments: Vec<Value> = msg
                .data
                .attachments
                .iter()
                .map(|a| {
                    let id = msg.attachment_id(a);
                    let content_type = match &a.kind {
                        AttachmentKind::File { content_type, .. } | AttachmentKind::Reference { content_type } => {
                            content_type.as_str()
                        }
                        AttachmentKind::Item { .. } => "message/rfc822",
                    };
                    json!({
                        "ews_id": id.to_ews(),
                        "rest_id": id.to_rest(),
                        "name": a.name,
                        "size": attachment_size(a),
                        "content_type": content_type,
                        "kind": a.kind_name(),
                    })
                })
                .collect();
            json!({
                "ews_id": msg.ews_id,
                "rest_id": msg.rest_id,
                "subject": msg.data.subject,
                "internet_message_id": msg.data.internet_message_id,
                "attachments": attachments,
            })
        })
        .collect()
}

/// `GET /sandbox/mailboxes/{upn}/messages`.
pub(crate) async fn messages(State(shared): State<Arc<Shared>>, Path(upn): Path<String>) -> Response {
    match shared.mailbox_of(&upn) {
        Some(mailbox) => Json(listing(&mailbox)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no mailbox for '{upn}'")})),
        )
            .into_response(),
    }
}

/// `GET /sandbox/stats`.
pub(crate) async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.throttle.snapshot())
}

/// `POST /sandbox/reset-stats`.
pub(crate) async fn reset_stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.throttle.reset();
    Json(shared.throttle.snapshot())
}
