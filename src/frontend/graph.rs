//! `/v1.0/me/messages/...`: an authenticated Graph pass-through in Graph's own shape.
//!
//! The caller's token is exchanged on-behalf-of for a Graph token and the request is replayed
//! against Graph for the caller's own mailbox; status, body and the headers a client acts on
//! come back unchanged. Ids may be given in EWS or REST form (Graph only takes REST form) and
//! are validated before anything is exchanged or sent. Only `/me` is served: `/users/...`
//! would name a mailbox other than the token's user.

use axum::{
    Router,
    body::Body,
    extract::{FromRequestParts, Path, State, rejection::PathRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use secrecy::ExposeSecret;

use crate::{
    auth::Caller,
    graph::{CLIENT_REQUEST_ID, GraphError, GraphRequest, GraphResponse},
    ids::{ExchangeId, IdError},
    state::AppState,
    telemetry::RequestId,
};

/// Graph response headers relayed to the client as they are.
const RELAYED_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_DISPOSITION,
    header::ETAG,
    header::RETRY_AFTER,
    HeaderName::from_static("preference-applied"),
];

/// Graph's own `request-id` is relayed under this name: `request-id` is the gateway's.
const GRAPH_REQUEST_ID: HeaderName = HeaderName::from_static("graph-request-id");

/// The request header a client chooses Graph's answer format with; forwarded as is.
const PREFER: HeaderName = HeaderName::from_static("prefer");

/// Longest incoming `client-request-id` reused for the Graph call.
const MAX_CLIENT_REQUEST_ID_LEN: usize = 128;

/// Routes of the Graph-shaped front end.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1.0/me/messages/{id}", get(message))
        .route("/v1.0/me/messages/{id}/$value", get(message_mime))
        .route("/v1.0/me/messages/{id}/attachments", get(attachments))
        .route("/v1.0/me/messages/{id}/attachments/{att_id}", get(attachment))
        .route(
            "/v1.0/me/messages/{id}/attachments/{att_id}/$value",
            get(attachment_raw),
        )
        .route("/v1.0/users", any(other_mailbox))
        .route("/v1.0/users/{*rest}", any(other_mailbox))
}

type OneId = Result<Path<String>, PathRejection>;
type TwoIds = Result<Path<(String, String)>, PathRejection>;

async fn message(State(s): State<AppState>, c: Caller, id: OneId, f: Forwarded) -> Response {
    forward(&s, &c, f, message_path(id, "")).await
}

async fn message_mime(State(s): State<AppState>, c: Caller, id: OneId, f: Forwarded) -> Response {
    forward(&s, &c, f, message_path(id, "/$value")).await
}

async fn attachments(State(s): State<AppState>, c: Caller, id: OneId, f: Forwarded) -> Response {
    forward(&s, &c, f, message_path(id, "/attachments")).await
}

async fn attachment(State(s): State<AppState>, c: Caller, ids: TwoIds, f: Forwarded) -> Response {
    forward(&s, &c, f, attachment_path(ids, "")).await
}

async fn attachment_raw(State(s): State<AppState>, c: Caller, ids: TwoIds, f: Forwarded) -> Response {
    forward(&s, &c, f, attachment_path(ids, "/$value")).await
}

/// `/users/...` names an explicit mailbox; the gateway acts only for the token's user.
async fn other_mailbox(_caller: Caller, f: Forwarded) -> Response {
    let id = f.request_id;
    graph_error(
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
        &id,
    )
}

/// What the pass-through takes from the request besides ids: the correlation id (also sent
/// to Graph as `client-request-id`), the `Prefer` headers and the raw query string.
struct Forwarded {
    request_id: String,
    prefer: Vec<HeaderValue>,
    query: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Forwarded {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The id the gateway already answers as `request-id`, so client, gateway and Graph
        // logs share one id; the headers only matter when no middleware assigned one.
        let request_id = match parts.extensions.get::<RequestId>() {
            Some(RequestId(id)) => id.clone(),
            None => client_request_id(&parts.headers),
        };
        let prefer = parts.headers.get_all(PREFER).iter().cloned().collect();
        let query = parts.uri.query().filter(|q| !q.is_empty()).map(str::to_owned);
        Ok(Forwarded {
            request_id,
            prefer,
            query,
        })
    }
}

/// Why the path did not yield a Graph path.
#[derive(Debug)]
enum BadPath {
    /// A segment could not be extracted (invalid percent-encoding).
    Rejected,
    /// An id is malformed.
    Id(IdError),
}

fn message_path(id: OneId, suffix: &str) -> Result<String, BadPath> {
    let Path(id) = id.map_err(|_| BadPath::Rejected)?;
    Ok(format!("/me/messages/{}{suffix}", rest_id(&id)?))
}

fn attachment_path(ids: TwoIds, suffix: &str) -> Result<String, BadPath> {
    let Path((id, att_id)) = ids.map_err(|_| BadPath::Rejected)?;
    Ok(format!(
        "/me/messages/{}/attachments/{}{suffix}",
        rest_id(&id)?,
        rest_id(&att_id)?
    ))
}

/// The REST form Graph expects; it holds only `A–Z a–z 0–9 - _ =`, so it needs no escaping.
fn rest_id(id: &str) -> Result<String, BadPath> {
    ExchangeId::parse(id)
        .map(|parsed| parsed.rest_id())
        .map_err(BadPath::Id)
}

/// Exchanges the caller's token and relays the call to Graph.
async fn forward(state: &AppState, caller: &Caller, forwarded: Forwarded, path: Result<String, BadPath>) -> Response {
    let Forwarded {
        request_id,
        prefer,
        query,
    } = forwarded;
    let path = match path {
        Ok(path) => path,
        Err(bad) => {
            if let BadPath::Id(e) = &bad {
                tracing::debug!(client_request_id = %request_id, error = %e, "malformed id");
            }
            return graph_error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
                &request_id,
            );
        }
    };
    let token = match state.obo.graph_token(caller, None).await {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let path_and_query = match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mailbox = caller.mailbox_key();
    let mut request = GraphRequest::get(
        &path_and_query,
        token.access_token.expose_secret(),
        &mailbox,
        &request_id,
    );
    request.headers = prefer.into_iter().map(|value| (PREFER, value)).collect();
    match state.graph.send(request).await {
        Ok(response) => relay(response, &request_id),
        Err(e) => upstream_failure(&e, &request_id),
    }
}

/// Graph's status, body and client-relevant headers, unchanged.
fn relay(graph: GraphResponse, request_id: &str) -> Response {
    let mut out = Response::new(Body::empty());
    *out.status_mut() = graph.status;
    for name in RELAYED_HEADERS {
        for value in graph.headers.get_all(&name) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    if let Some(id) = graph.headers.get("request-id") {
        out.headers_mut().insert(GRAPH_REQUEST_ID, id.clone());
    }
    set_client_request_id(&mut out, request_id);
    *out.body_mut() = graph.into_axum_body();
    out
}

fn upstream_failure(error: &GraphError, request_id: &str) -> Response {
    tracing::warn!(client_request_id = %request_id, error = %error, kind = error.label(), "Graph call failed");
    match error.status_hint() {
        StatusCode::GATEWAY_TIMEOUT => graph_error(
            StatusCode::GATEWAY_TIMEOUT,
            "gatewayTimeout",
            "Microsoft Graph did not answer in time.",
            request_id,
        ),
        StatusCode::FORBIDDEN => graph_error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            request_id,
        ),
        _ => graph_error(
            StatusCode::BAD_GATEWAY,
            "badGateway",
            "Microsoft Graph could not be reached.",
            request_id,
        ),
    }
}

/// An error in Graph's shape: `{"error":{"code","message","innerError":{…}}}`.
fn graph_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    let body = serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": { "date": date, "client-request-id": request_id },
        }
    });
    let mut response = (status, axum::Json(body)).into_response();
    set_client_request_id(&mut response, request_id);
    response
}

fn set_client_request_id(response: &mut Response, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(CLIENT_REQUEST_ID, value);
    }
}

/// The caller's `client-request-id` (else a `request-id` header), when it is a sane token;
/// otherwise a fresh UUID.
fn client_request_id(headers: &HeaderMap) -> String {
    let usable = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?.trim();
        let sane = !value.is_empty()
            && value.len() <= MAX_CLIENT_REQUEST_ID_LEN
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        sane.then(|| value.to_owned())
    };
    usable("client-request-id")
        .or_else(|| usable("request-id"))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;
    use crate::{config::GraphConfig, graph::GraphClient, telemetry::Metrics};

    const EWS_ITEM: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAA=";
    const EWS_ATTACHMENT: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAABEgAQAFmnqat27N5JqLjo/76gzxY=";

    #[test]
    fn ews_ids_are_sent_to_graph_in_rest_form() {
        let rest = crate::ids::to_rest(EWS_ITEM);
        let path = message_path(Ok(Path(EWS_ITEM.to_owned())), "/$value").unwrap();
        assert_eq!(path, format!("/me/messages/{rest}/$value"));
        let same = message_path(Ok(Path(rest.clone())), "").unwrap();
        assert_eq!(same, format!("/me/messages/{rest}"));
        let both = attachment_path(Ok(Path((EWS_ITEM.to_owned(), EWS_ATTACHMENT.to_owned()))), "/$value").unwrap();
        let att = crate::ids::to_rest(EWS_ATTACHMENT);
        assert_eq!(both, format!("/me/messages/{rest}/attachments/{att}/$value"));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "AAMk", "AA/A-AAA", "../users/x", &EWS_ITEM[..40]] {
            assert!(
                matches!(message_path(Ok(Path(bad.to_owned())), ""), Err(BadPath::Id(_))),
                "{bad}"
            );
        }
        let bad_attachment = attachment_path(Ok(Path((EWS_ITEM.to_owned(), "nope".to_owned()))), "");
        assert!(matches!(bad_attachment, Err(BadPath::Id(_))));
    }

    #[test]
    fn client_request_id_is_reused_when_sane() {
        let mut h = HeaderMap::new();
        assert!(uuid::Uuid::try_parse(&client_request_id(&h)).is_ok());
        h.insert("request-id", HeaderValue::from_static("assigned-1"));
        assert_eq!(client_request_id(&h), "assigned-1");
        h.insert("client-request-id", HeaderValue::from_static("from-client"));
        assert_eq!(client_request_id(&h), "from-client");
        h.insert("client-request-id", HeaderValue::from_static("has space"));
        assert_eq!(client_request_id(&h), "assigned-1");
    }

    #[tokio::test]
    async fn the_gateways_request_id_prefer_and_query_are_forwarded() {
        let request = axum::http::Request::get("/v1.0/me/messages/x?$select=subject")
            .header("client-request-id", "from-client")
            .header("prefer", "outlook.body-content-type=\"text\"")
            .header("prefer", "IdType=\"ImmutableId\"")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let f = Forwarded::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(f.request_id, "from-client");
        assert_eq!(f.prefer.len(), 2);
        assert_eq!(f.query.as_deref(), Some("$select=subject"));
        parts.extensions.insert(RequestId("assigned".into()));
        let f = Forwarded::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(f.request_id, "assigned");
    }

    #[tokio::test]
    async fn errors_have_graphs_shape() {
        let response = graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
            "abc",
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["client-request-id"], "abc");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "ErrorInvalidIdMalformed");
        assert_eq!(json["error"]["message"], "Id is malformed.");
        assert_eq!(json["error"]["innerError"]["client-request-id"], "abc");

        let timeout = upstream_failure(&GraphError::Timeout(Duration::from_secs(1)), "abc");
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
    }

    #[tokio::test]
    async fn graph_answers_are_relayed_with_their_headers() {
        let upstream = axum::Router::new().fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [
                    ("content-type", "application/json"),
                    ("request-id", "g-1"),
                    ("x-internal", "no"),
                ],
                r#"{"error":{"code":"ErrorItemNotFound","message":"gone"}}"#,
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1.0", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, upstream).await.unwrap() });
        let config = GraphConfig {
            base_url: base,
            max_concurrency_per_mailbox: 4,
            timeout_secs: 5,
            max_retries: 0,
            max_retry_after_secs: 0,
        };
        let http = crate::http::client(Duration::from_secs(2)).unwrap();
        let client = GraphClient::with_config(&config, http, Arc::new(Metrics::default()));
        let graph = client
            .send(GraphRequest::get("/me/messages/x", "t", "m", "crid"))
            .await
            .unwrap();

        let response = relay(graph, "crid");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let h = response.headers();
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["graph-request-id"], "g-1");
        assert_eq!(h["client-request-id"], "crid");
        assert!(h.get("x-internal").is_none());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], br#"{"error":{"code":"ErrorItemNotFound","message":"gone"}}"#);
    }
}
