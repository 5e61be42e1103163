//! `POST /EWS/Exchange.asmx`: EWS SOAP operations translated to Graph, answered as Exchange
//! Online would answer them.
//!
//! Order of checks, as Exchange applies them: the bearer token (plain HTTP 401 with
//! `WWW-Authenticate`, never a SOAP fault), the body size limit, the envelope and its schema
//! shape (`ErrorSchemaValidation` with line and position), `RequestServerVersion`, the mailbox
//! named by `X-AnchorMailbox` or `ExchangeImpersonation` (only the caller's own), then the
//! operation. The response is written while Graph's data arrives ([`xml::Sink`]), so large
//! attachments and MIME content stream through in bounded memory. This module must not call
//! Graph for anyone but the token's user: every Graph path is `/me/...`.

pub mod envelope;
pub mod fault;
pub mod ops;
pub mod props;
pub mod render;
pub mod request;
pub mod xml;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};

use futures::StreamExt;

use self::{
    fault::Fault,
    ops::Ctx,
    request::{Operation, SERVER_VERSIONS, parse_request},
    xml::{Sink, StreamError},
};
use crate::{auth::Caller, state::AppState, telemetry::RequestId};

/// The path the front end serves (other casings are rewritten to it before routing).
pub const EWS_PATH: &str = "/EWS/Exchange.asmx";

/// Routes of the EWS front end.
pub fn router() -> Router<AppState> {
    Router::new().route(EWS_PATH, post(handle))
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|RequestId(id)| id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let caller = match state.auth.authenticate_headers(&parts.headers).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    tracing::Span::current().record("tenant", caller.tenant_id.as_str());
    let limit = state.config.ews.max_body_bytes;
    if content_length(&parts.headers).is_some_and(|len| len > limit) {
        return Fault::TooLarge { limit }.into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Fault::TooLarge { limit }.into_response();
    };
    let request = match parse_request(&bytes) {
        Ok(request) => request,
        Err(e) => {
            tracing::debug!(client_request_id = %request_id, error = %e, "EWS request failed schema validation");
            return Fault::Schema(e).into_response();
        }
    };
    drop(bytes);
    if let Err(fault) = admit(&request, &parts.headers, &caller) {
        return fault.into_response();
    }
    if let Err(limited) = state.limits.check(&caller).await {
        return Fault::ServerBusy {
            back_off_ms: limited.back_off_millis(),
        }
        .into_response();
    }
    let name = operation_name(&request.operation);
    state.metrics.incr("ews_requests_total", &[("operation", name)]);
    let token = if matches!(request.operation, Operation::ConvertId(_)) {
        None
    } else {
        match state.obo.graph_token(&caller, None).await {
            Ok(token) => Some(token),
            Err(e) => return e.into_response(),
        }
    };
    let ctx = Ctx {
        state,
        caller,
        token,
        request_id,
    };
    respond(ctx, request.operation).await
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Request-level checks after parsing: server version, mailbox, supported operation.
fn admit(request: &request::Request, headers: &HeaderMap, caller: &Caller) -> Result<(), Fault> {
    if let Some(version) = &request.version
        && !SERVER_VERSIONS.contains(&version.as_str())
    {
        return Err(Fault::InvalidServerVersion(version.clone()));
    }
    let own = caller.username.as_deref().unwrap_or("");
    let anchor = headers
        .get("x-anchormailbox")
        .map(|v| v.to_str().unwrap_or("\u{0}").trim().to_owned());
    let named = anchor.iter().chain(request.impersonation.iter());
    for mailbox in named {
        // An anchor may carry a routing prefix (`SMTP:`, `UPN:`) before the address.
        let address = mailbox.rsplit(':').next().unwrap_or(mailbox);
        if own.is_empty() || !address.eq_ignore_ascii_case(own) {
            return Err(Fault::AccessDenied(
                "Access is denied: this server acts only on the mailbox of the signed-in user; impersonation and delegate access are not allowed.".into(),
            ));
        }
    }
    if let Operation::Unsupported(name) = &request.operation {
        return Err(Fault::Unsupported(name.clone()));
    }
    Ok(())
}

fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::GetAttachment(_) => "GetAttachment",
        Operation::GetItem(_) => "GetItem",
        Operation::UpdateItem(_) => "UpdateItem",
        Operation::GetFolder(_) => "GetFolder",
        Operation::ConvertId(_) => "ConvertId",
        Operation::Unsupported(_) => "unsupported",
    }
}

/// Starts writing the response; the body streams while the operation runs. The first chunk is
/// awaited before the headers go out, so a small response leaves in one write instead of a
/// header write and a body write that Nagle's algorithm would hold back for a delayed ACK.
async fn respond(ctx: Ctx, operation: Operation) -> Response {
    let (mut sink, stream) = Sink::channel();
    tokio::spawn(async move {
        let result = match &operation {
            Operation::GetAttachment(op) => ops::get_attachment::run(&ctx, op, &mut sink).await,
            Operation::GetItem(op) => ops::get_item::run(&ctx, op, &mut sink).await,
            Operation::UpdateItem(op) => ops::update_item::run(&ctx, op, &mut sink).await,
            Operation::GetFolder(op) => ops::get_folder::run(&ctx, op, &mut sink).await,
            Operation::ConvertId(op) => ops::convert_id::run(&ctx, op, &mut sink).await,
            Operation::Unsupported(_) => Ok(()),
        };
        match result {
            Ok(()) | Err(StreamError::Closed(_)) => {}
            Err(StreamError::Graph(e)) => {
                tracing::warn!(client_request_id = %ctx.request_id, error = %e, "Graph failed while an EWS response was streaming");
                sink.abort("Graph failed while the response was streaming").await;
            }
        }
    });
    let mut stream = Box::pin(stream);
    let first = stream.next().await;
    let body = futures::stream::iter(first).chain(stream);
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests;
