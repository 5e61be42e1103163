//! `/v1.0/...`: the Graph-shaped front end, for add-ins (and the official Graph SDKs) that speak
//! Graph but hold only the NAA token for the gateway.
//!
//! Serves, for the caller's own mailbox and in Graph's own shape: a message (`$select`,
//! `$expand`, `Prefer`), its MIME (`$value`), its attachments (list, one, `$value`), and PATCH
//! of `singleValueExtendedProperties`. The caller's token is exchanged on-behalf-of and every
//! Graph call is preceded by a policy decision; Graph's answers stream back with the headers a
//! client acts on. `/me/...` and `/users/{own UPN | own object id}/...` (what the SDKs send) are
//! served; any other `/users/...` is refused. Ids may be in EWS or REST form.

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::any,
};

use super::rest::{
    calls::{self, Failure, Mailbox},
    json::Json,
    path::{self, Parsed, PathError, Target},
};
use crate::{
    auth::{AuthError, Caller},
    graph::{CLIENT_REQUEST_ID, GraphError, GraphResponse},
    policy::{Action, FrontEnd, Resource},
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

/// Longest incoming `client-request-id` reused for the Graph call.
const MAX_CLIENT_REQUEST_ID_LEN: usize = 128;

/// Graph's message for a refused request.
const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";

/// Routes of the Graph-shaped front end.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1.0/{*path}", any(entry))
}

/// What the front end takes from the request besides the caller and body.
struct Forwarded {
    /// The correlation id, also sent to Graph as `client-request-id`.
    request_id: String,
    method: Method,
    /// The raw path below `/v1.0`.
    path: String,
    /// The raw query string, forwarded as is.
    query: Option<String>,
    prefer: Vec<HeaderValue>,
    if_match: Option<HeaderValue>,
    origin: Option<HeaderValue>,
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
        let full = parts.uri.path();
        Ok(Forwarded {
            request_id,
            method: parts.method.clone(),
            path: full.strip_prefix("/v1.0").unwrap_or(full).to_owned(),
            query: parts.uri.query().filter(|q| !q.is_empty()).map(str::to_owned),
            prefer: parts.headers.get_all(calls::PREFER).iter().cloned().collect(),
            if_match: parts.headers.get(header::IF_MATCH).cloned(),
            origin: parts.headers.get(header::ORIGIN).cloned(),
        })
    }
}

async fn entry(
    State(state): State<AppState>,
    caller: Result<Caller, AuthError>,
    f: Forwarded,
    body: Bytes,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => return auth_error(e, &f.request_id),
    };
    let id = f.request_id.as_str();
    if !super::cors::origin_allowed_for_tenant(&state.config, f.origin.as_ref(), &caller.tenant_id) {
        let message = "This browser origin is not allowed for your organization.";
        return graph_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", message, id);
    }
    let parsed = match path::parse(&f.path) {
        Ok(parsed) => parsed,
        Err(e) => return path_error(&e, id),
    };
    if !parsed.owner.is_caller(&caller) {
        return graph_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", ACCESS_DENIED, id);
    }
    let allowed = matches!(
        (&parsed.target, &f.method),
        (Target::Message(_), &Method::PATCH) | (_, &Method::GET)
    );
    if !allowed {
        let message = format!("The HTTP method '{}' is not supported for this resource.", f.method);
        return graph_error(StatusCode::METHOD_NOT_ALLOWED, "ErrorInvalidRequest", &message, id);
    }
    let mailbox = match Mailbox::open(&state, &caller, id, FrontEnd::Graph).await {
        Ok(mailbox) => mailbox,
        Err(e) => return failure(e, id),
    };
    match serve(&mailbox, &f, parsed, body).await {
        Ok(response) => response,
        Err(e) => failure(e, id),
    }
}

async fn serve(mailbox: &Mailbox<'_>, f: &Forwarded, parsed: Parsed, body: Bytes) -> Result<Response, Failure> {
    let query = f.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
    let response = match parsed.target {
        Target::Message(id) if f.method == Method::PATCH => return patch(mailbox, f, &id, &body).await,
        Target::Message(id) => {
            let (select, expand) = select_and_expand(f.query.as_deref());
            for action in calls::message_actions(select.as_deref(), expand.as_deref()) {
                mailbox.authorize(action, &Resource::default())?;
            }
            let path = format!("/me/messages/{id}{query}");
            if calls::expands_attachments(expand.as_deref()) {
                return filtered(mailbox, f, &path, "attachments").await;
            }
            mailbox.get(&path, &f.prefer).await?
        }
        Target::MessageValue(id) => {
            mailbox.authorize(Action::ReadMime, &Resource::default())?;
            mailbox
                .get(&format!("/me/messages/{id}/$value{query}"), &f.prefer)
                .await?
        }
        Target::Attachments(id) => {
            return attachments(mailbox, f, &format!("/me/messages/{id}/attachments{query}")).await;
        }
        Target::Attachment(id, att) => {
            let (_, resource) = mailbox.attachment_metadata(&id, &att, false, &[]).await?;
            mailbox.authorize(Action::ReadAttachment, &resource)?;
            mailbox
                .get(&format!("/me/messages/{id}/attachments/{att}{query}"), &f.prefer)
                .await?
        }
        Target::AttachmentValue(id, att) => {
            let (_, resource) = mailbox.attachment_metadata(&id, &att, false, &[]).await?;
            mailbox.authorize(Action::ReadAttachment, &resource)?;
            mailbox
                .get(&format!("/me/messages/{id}/attachments/{att}/$value"), &[])
                .await?
        }
    };
    Ok(relay(response, &f.request_id))
}

/// The list, without the attachments the policy does not let the caller read.
async fn attachments(mailbox: &Mailbox<'_>, f: &Forwarded, path: &str) -> Result<Response, Failure> {
    filtered(mailbox, f, path, "value").await
}

/// Graph's JSON answer without the attachments (in array `key`) the caller may not read.
async fn filtered(mailbox: &Mailbox<'_>, f: &Forwarded, path: &str, key: &str) -> Result<Response, Failure> {
    let response = mailbox.get(path, &f.prefer).await?;
    let mut head = relay_head(&response, &f.request_id);
    head.headers_mut().remove(header::CONTENT_LENGTH);
    let mut json = calls::read_json(response).await?;
    mailbox.keep_readable_attachments(&mut json, key);
    *head.body_mut() = Body::from(json.to_vec());
    Ok(head)
}

async fn patch(mailbox: &Mailbox<'_>, f: &Forwarded, id: &str, body: &[u8]) -> Result<Response, Failure> {
    let json = Json::parse(body)
        .map_err(|e| Failure::bad_request("BadRequest", format!("The request body is not JSON: {e}")))?;
    for property in calls::patched_properties(&json)? {
        mailbox.authorize(Action::WriteExtendedProperty, &calls::property_resource(&property))?;
    }
    let headers = f.if_match.iter().map(|v| (header::IF_MATCH, v.clone())).collect();
    let response = mailbox
        .send(
            Method::PATCH,
            &format!("/me/messages/{id}"),
            headers,
            Some(Bytes::from(json.to_vec())),
        )
        .await?;
    Ok(relay(response, &f.request_id))
}

/// `$select` and `$expand` of a Graph query, decoded, for the policy.
fn select_and_expand(query: Option<&str>) -> (Option<String>, Option<String>) {
    let (mut select, mut expand) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.to_ascii_lowercase().as_str() {
            "$select" => select = Some(value.into_owned()),
            "$expand" => expand = Some(value.into_owned()),
            _ => {}
        }
    }
    (select, expand)
}

fn failure(failure: Failure, request_id: &str) -> Response {
    match failure {
        Failure::Obo(e) => e.into_response(),
        Failure::Denied(action) => {
            let message = format!("{ACCESS_DENIED} The gateway's policy does not allow {action:?} here.");
            graph_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", &message, request_id)
        }
        Failure::BadRequest { code, message } => graph_error(StatusCode::BAD_REQUEST, code, &message, request_id),
        Failure::Graph(e) => upstream_failure(&e, request_id),
        // Graph's own error answer, as Graph sent it.
        Failure::Upstream(response) => relay(*response, request_id),
        Failure::RateLimited(limited) => limited.graph_response(),
    }
}

fn path_error(error: &PathError, request_id: &str) -> Response {
    match error {
        PathError::UnknownSegment(_) => {
            graph_error(StatusCode::BAD_REQUEST, "BadRequest", &error.to_string(), request_id)
        }
        PathError::Id(e) => {
            tracing::debug!(client_request_id = %request_id, error = %e, "malformed id");
            graph_error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidIdMalformed",
                "Id is malformed.",
                request_id,
            )
        }
    }
}

/// A refused token in Graph's shape, with the challenge the client must act on.
fn auth_error(error: AuthError, request_id: &str) -> Response {
    let code = match error.status() {
        StatusCode::UNAUTHORIZED => "InvalidAuthenticationToken",
        _ => "serviceNotAvailable",
    };
    let mut response = graph_error(error.status(), code, &error.description(), request_id);
    let headers = response.headers_mut();
    if let Some(challenge) = error.www_authenticate().and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(secs) = error.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Graph's status and client-relevant headers, without the body.
fn relay_head(graph: &GraphResponse, request_id: &str) -> Response {
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
    out
}

/// Graph's status, body and client-relevant headers, unchanged.
fn relay(graph: GraphResponse, request_id: &str) -> Response {
    let mut out = relay_head(&graph, request_id);
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
        StatusCode::FORBIDDEN => graph_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", ACCESS_DENIED, request_id),
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
        let request = axum::http::Request::patch("/v1.0/me/messages/x?$select=subject")
            .header("client-request-id", "from-client")
            .header("prefer", "outlook.body-content-type=\"text\"")
            .header("prefer", "IdType=\"ImmutableId\"")
            .header("if-match", "W/\"x\"")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let f = Forwarded::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(f.request_id, "from-client");
        assert_eq!(f.prefer.len(), 2);
        assert_eq!(f.query.as_deref(), Some("$select=subject"));
        assert_eq!(f.path, "/me/messages/x");
        assert_eq!(f.method, Method::PATCH);
        assert_eq!(f.if_match.unwrap(), "W/\"x\"");
        parts.extensions.insert(RequestId("assigned".into()));
        let f = Forwarded::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(f.request_id, "assigned");
    }

    #[test]
    fn select_and_expand_are_decoded_for_the_policy() {
        let (select, expand) = select_and_expand(Some(
            "$select=subject&$expand=singleValueExtendedProperties($filter=id%20eq%20'String%200x007D')",
        ));
        assert_eq!(select.as_deref(), Some("subject"));
        assert_eq!(
            expand.as_deref(),
            Some("singleValueExtendedProperties($filter=id eq 'String 0x007D')")
        );
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
        let denied = failure(Failure::Denied(Action::ReadMime), "abc");
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        let refused = auth_error(AuthError::missing_token(), "abc");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
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
            .send(crate::graph::GraphRequest::get("/me/messages/x", "t", "m", "crid"))
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
