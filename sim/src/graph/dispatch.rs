//! The front door of the Graph API: bearer token, path routing (`/me` and `/users/{id|upn}`),
//! method and scope checks, injected failures, the concurrency slot and latency — in the order
//! Graph applies them — before a handler runs.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, request::Parts};
use axum::response::Response;

use super::Shared;
use super::error::GraphError;
use super::handlers;
use super::reply::RequestContext;
use super::store::Mailbox;
use super::throttle::InFlight;
use crate::GraphCaller;

/// Scopes that allow reading mail.
const READ_SCOPES: &[&str] = &["Mail.Read", "Mail.ReadWrite"];
/// Scopes that allow changing mail.
const WRITE_SCOPES: &[&str] = &["Mail.ReadWrite"];
/// Scopes `translateExchangeIds` documents (delegated).
const USER_SCOPES: &[&str] = &[
    "User.ReadBasic.All",
    "User.Read",
    "User.ReadWrite",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// An id as it appeared in the path.
#[derive(Debug, Clone)]
pub(crate) struct PathId {
    /// Percent-decoded text.
    pub(crate) text: String,
    /// The raw segment had a literal `+` (which Graph's URL handling does not keep).
    pub(crate) literal_plus: bool,
}

/// The resource a Graph path names.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Messages,
    Message(PathId),
    MessageValue(PathId),
    Attachments(PathId),
    Attachment(PathId, PathId),
    AttachmentValue(PathId, PathId),
    TranslateIds,
    MailFolder(PathId),
}

#[derive(Debug)]
enum Target {
    Me,
    User(String),
}

/// A request that passed the front door and holds a concurrency slot.
pub(crate) struct Admitted {
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) route: Route,
    /// How `@odata.context` names the user: the object id for `/me`, the path segment otherwise.
    pub(crate) owner: String,
    slot: InFlight,
}

/// Handler for everything under `/v1.0/`.
pub(crate) async fn entry(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let ctx = RequestContext::from_headers(request.headers());
    shared.throttle.count_request();
    let (parts, body) = request.into_parts();
    let admitted = match admit(&shared, &parts) {
        Ok(admitted) => admitted,
        Err(err) => return err.into_reply(&ctx).into_response(&ctx, None),
    };
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let reply = match handlers::execute(&shared, &admitted, &parts, body).await {
        Ok(reply) => reply,
        Err(err) => err.into_reply(&ctx),
    };
    reply.into_response(&ctx, Some(admitted.slot))
}

fn admit(shared: &Arc<Shared>, parts: &Parts) -> Result<Admitted, GraphError> {
    let caller = authenticate(shared, &parts.headers)?;
    let (target, route) = parse_path(parts.uri.path())?;
    let (mailbox, owner) = resolve_mailbox(shared, &caller, target)?;
    check_method(&route, &parts.method)?;
    let needed = match (&route, &parts.method) {
        (Route::TranslateIds, _) => USER_SCOPES,
        (Route::Message(_), &Method::PATCH) => WRITE_SCOPES,
        _ => READ_SCOPES,
    };
    if !caller
        .scopes
        .iter()
        .any(|s| needed.iter().any(|n| n.eq_ignore_ascii_case(s)))
    {
        return Err(GraphError::access_denied());
    }
    let upn = mailbox.user.upn.to_ascii_lowercase();
    shared.throttle.count_mailbox_request(&upn);
    if let Some(err) = shared.take_failure() {
        return Err(err);
    }
    let slot = shared.throttle.admit(&caller.app_id, &upn)?;
    Ok(Admitted {
        mailbox,
        route,
        owner,
        slot,
    })
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<GraphCaller, GraphError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty() => token.trim(),
        _ => return Err(GraphError::unauthenticated("Access token is empty.")),
    };
    shared
        .verifier
        .verify_graph_token(token)
        .map_err(GraphError::unauthenticated)
}

fn resolve_mailbox(
    shared: &Shared,
    caller: &GraphCaller,
    target: Target,
) -> Result<(Arc<Mailbox>, String), GraphError> {
    let (user_key, owner) = match target {
        Target::Me => (None, caller.oid.clone()),
        Target::User(key) => {
            let owner = key.replace('@', "%40");
            (Some(key), owner)
        }
    };
    let mailbox = match &user_key {
        None => shared.mailbox_of(&caller.upn).ok_or_else(|| {
            GraphError::new(
                StatusCode::NOT_FOUND,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        })?,
        Some(key) => {
            let mailbox = shared
                .mailboxes
                .iter()
                .find(|m| m.user.upn.eq_ignore_ascii_case(key) || m.user.oid.eq_ignore_ascii_case(key));
            let mailbox = mailbox.ok_or_else(|| {
                GraphError::new(
                    StatusCode::NOT_FOUND,
                    "ErrorInvalidUser",
                    format!("The requested user '{key}' is invalid."),
                )
            })?;
            let is_caller = mailbox.user.oid.eq_ignore_ascii_case(&caller.oid)
                || mailbox.user.upn.eq_ignore_ascii_case(&caller.upn);
            if !is_caller {
                return Err(GraphError::access_denied());
            }
            Arc::clone(mailbox)
        }
    };
    Ok((mailbox, owner))
}

fn check_method(route: &Route, method: &Method) -> Result<(), GraphError> {
    let allowed = match route {
        Route::Message(_) => method == Method::GET || method == Method::PATCH,
        Route::TranslateIds => method == Method::POST,
        _ => method == Method::GET,
    };
    if allowed {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "ErrorInvalidRequest",
            "The OData request is not supported.",
        ))
    }
}

/// Splits `/v1.0/...` into the addressed user and the resource.
fn parse_path(path: &str) -> Result<(Target, Route), GraphError> {
    let rest = path.strip_prefix("/v1.0/").unwrap_or("");
    let mut raw: Vec<&str> = rest.split('/').collect();
    if raw.len() > 1 && raw.last() == Some(&"") {
        raw.pop();
    }
    let segments = raw
        .iter()
        .map(|s| {
            let text = percent_decode(s)?;
            Ok(PathId {
                text,
                literal_plus: s.contains('+'),
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()?;
    if let Some(empty) = segments.iter().position(|s| s.text.is_empty()) {
        return Err(GraphError::no_segment(raw.get(empty.saturating_sub(1)).unwrap_or(&"")));
    }
    let is = |i: usize, word: &str| segments.get(i).is_some_and(|s| s.text.eq_ignore_ascii_case(word));
    let (target, start) = if is(0, "me") {
        (Target::Me, 1)
    } else if is(0, "users") && segments.len() > 1 {
        (Target::User(segments[1].text.clone()), 2)
    } else {
        return Err(GraphError::no_segment(segments.first().map_or("", |s| s.text.as_str())));
    };
    let resource = &segments[start..];
    let at = |i: usize, word: &str| is(start + i, word);
    let id = |i: usize| resource[i].clone();
    let route = match resource.len() {
        1 if at(0, "messages") => Route::Messages,
        1 if at(0, "translateExchangeIds") => Route::TranslateIds,
        2 if at(0, "messages") => Route::Message(id(1)),
        2 if at(0, "mailFolders") => Route::MailFolder(id(1)),
        3 if at(0, "messages") && at(2, "$value") => Route::MessageValue(id(1)),
        3 if at(0, "messages") && at(2, "attachments") => Route::Attachments(id(1)),
        4 if at(0, "messages") && at(2, "attachments") => Route::Attachment(id(1), id(3)),
        5 if at(0, "messages") && at(2, "attachments") && at(4, "$value") => Route::AttachmentValue(id(1), id(3)),
        _ => {
            let unknown = resource.iter().find(|s| !is_known_word(&s.text)).or(segments.last());
            return Err(GraphError::no_segment(unknown.map_or("", |s| s.text.as_str())));
        }
    };
    Ok((target, route))
}

fn is_known_word(segment: &str) -> bool {
    [
        "messages",
        "attachments",
        "$value",
        "translateExchangeIds",
        "mailFolders",
    ]
    .iter()
    .any(|w| w.eq_ignore_ascii_case(segment))
}

/// Percent-decodes one path segment (`+` stays `+`, as in paths).
fn percent_decode(segment: &str) -> Result<String, GraphError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let byte = hex.ok_or_else(|| {
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("The URL segment '{segment}' is not validly encoded."),
                )
            })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("The URL segment '{segment}' is not valid UTF-8."),
        )
    })
}

/// Reads a request body up to Graph's request size limit.
pub(crate) async fn read_body(body: Body) -> Result<bytes::Bytes, GraphError> {
    axum::body::to_bytes(body, 4 * 1024 * 1024).await.map_err(|_| {
        GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorRequestEntityTooLarge",
            "The request entity is too large.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_case_insensitively_and_decode_ids() {
        let (_, route) = parse_path("/v1.0/Me/Messages/AAMk%2BA%3D/Attachments/AAMk_B%3D/$value").unwrap();
        let Route::AttachmentValue(msg, att) = route else {
            panic!("wrong route")
        };
        assert_eq!(msg.text, "AAMk+A=");
        assert!(!msg.literal_plus);
        assert_eq!(att.text, "AAMk_B=");
        let (target, _) = parse_path("/v1.0/users/alice%40contoso.com/messages/X/").unwrap();
        assert!(matches!(target, Target::User(u) if u == "alice@contoso.com"));
        let (_, route) = parse_path("/v1.0/me/messages/AB+C=").unwrap();
        assert!(matches!(route, Route::Message(id) if id.literal_plus));
    }

    #[test]
    fn unknown_segments_are_named() {
        let err = parse_path("/v1.0/me/mesages/x").unwrap_err();
        assert_eq!(err.message, "Resource not found for the segment 'mesages'.");
        assert!(parse_path("/v1.0/groups/x").is_err());
        assert!(parse_path("/v1.0/me/messages//attachments").is_err());
    }
}
