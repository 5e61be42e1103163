//! `/api/v2.0/` and `/v2.0/`: the Outlook REST v2.0 mail API translated to Graph.
//!
//! Add-ins built URLs from `Office.context.mailbox.restUrl` with and without `/api`, so both
//! prefixes are served, with `messages/{id}` and `messages('{id}')` keys and ids in REST or EWS
//! form. Operations on the caller's own mailbox: GET a message (`$select`, `$expand` of
//! extended properties, `Prefer: outlook.body-content-type`), its MIME (`$value`), its
//! attachments (list, one, `$value`), and PATCH of `SingleValueExtendedProperties`. Requests
//! and answers go through the one name/enum mapping in [`names`]; `@odata.context`/`@odata.id`
//! name the gateway's own URL as the caller used it. Errors are Outlook's
//! `{"error":{"code","message"}}`. A FileAttachment's `ContentBytes` streams as base64.

pub(crate) mod calls;
mod error;
pub(crate) mod json;
pub(crate) mod names;
pub(crate) mod path;
mod stream;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::Response,
    routing::any,
};

use self::{
    calls::{Failure, Mailbox},
    json::Json,
    path::{Parsed, Target},
};
use crate::{
    auth::{AuthError, Caller},
    policy::{Action, FrontEnd, Resource},
    state::AppState,
    telemetry::RequestId,
};

/// The content type Outlook answered JSON with.
const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Graph response headers relayed on raw (`$value`) answers.
const RAW_HEADERS: [HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_DISPOSITION,
];

/// Graph's echo of an honoured `Prefer`.
pub(crate) const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// The path prefixes served: `restUrl` is `https://outlook.office.com/api`, and some add-ins
/// kept only its scheme and host.
const PREFIXES: [&str; 2] = ["/api/v2.0", "/v2.0"];

/// Routes of the REST v2.0 front end.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2.0/{*path}", any(entry))
        .route("/v2.0/{*path}", any(entry))
}

/// What a handler needs from the request besides the caller and body.
pub(crate) struct Request {
    /// The gateway's request id (sent to Graph as `client-request-id`).
    pub(crate) request_id: String,
    /// The HTTP method.
    pub(crate) method: Method,
    /// The raw path below the version prefix.
    pub(crate) path: String,
    /// The raw query string.
    pub(crate) query: Option<String>,
    /// `scheme://host/api/v2.0` as the caller addressed the gateway.
    pub(crate) base: String,
    /// `Prefer` headers, forwarded to Graph.
    pub(crate) prefer: Vec<HeaderValue>,
    /// `If-Match`, forwarded on PATCH.
    pub(crate) if_match: Option<HeaderValue>,
    /// The browser origin, if any.
    pub(crate) origin: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for Request {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.0.clone());
        let full = parts.uri.path();
        let (prefix, path) = PREFIXES
            .iter()
            .find_map(|p| full.strip_prefix(p).map(|rest| (*p, rest)))
            .unwrap_or(("", full));
        Ok(Request {
            request_id,
            method: parts.method.clone(),
            path: path.to_owned(),
            query: parts.uri.query().filter(|q| !q.is_empty()).map(str::to_owned),
            base: format!("{}{prefix}", origin_of(&parts.headers)),
            prefer: parts.headers.get_all("prefer").iter().cloned().collect(),
            if_match: parts.headers.get(header::IF_MATCH).cloned(),
            origin: parts.headers.get(header::ORIGIN).cloned(),
        })
    }
}

/// `scheme://host` the caller used: `X-Forwarded-Proto`/`-Host` from a reverse proxy, else
/// plain HTTP and `Host`. Only names URLs in answers to this same caller.
pub(crate) fn origin_of(headers: &HeaderMap) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let scheme = match first("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let sane = |h: &&str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    let host = first("x-forwarded-host")
        .filter(sane)
        .or_else(|| first("host").filter(sane))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

async fn entry(
    State(state): State<AppState>,
    caller: Result<Caller, AuthError>,
    request: Request,
    body: Bytes,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => return error::auth_error(e),
    };
    if !crate::frontend::cors::origin_allowed_for_tenant(&state.config, request.origin.as_ref(), &caller.tenant_id) {
        return error::rest_error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "This browser origin is not allowed for your organization.",
        );
    }
    let parsed = match path::parse(&request.path) {
        Ok(parsed) => parsed,
        Err(e) => return error::path_error(&e),
    };
    if !parsed.owner.is_caller(&caller) {
        return error::rest_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", error::ACCESS_DENIED);
    }
    let allowed = matches!(
        (&parsed.target, &request.method),
        (Target::Message(_), &Method::PATCH) | (_, &Method::GET)
    );
    if !allowed {
        return method_not_allowed(&request.method);
    }
    let mailbox = match Mailbox::open(&state, &caller, &request.request_id, FrontEnd::Rest).await {
        Ok(mailbox) => mailbox,
        Err(e) => return error::failure(e, &request.request_id).await,
    };
    let ctx = Ctx {
        mailbox,
        caller: &caller,
        request: &request,
    };
    match ctx.serve(parsed, body).await {
        Ok(response) => response,
        Err(e) => error::failure(e, &request.request_id).await,
    }
}

fn method_not_allowed(method: &Method) -> Response {
    let mut response = error::rest_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "ErrorInvalidRequest",
        &format!("The HTTP method '{method}' is not supported for this resource."),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, PATCH"));
    response
}

/// One REST request being served.
struct Ctx<'a> {
    mailbox: Mailbox<'a>,
    caller: &'a Caller,
    request: &'a Request,
}

/// The query options of a REST request, in Graph's names.
#[derive(Debug, Default, PartialEq)]
struct Query {
    select: Option<String>,
    expand: Option<String>,
}

// === impl Ctx ===

impl Ctx<'_> {
    async fn serve(&self, parsed: Parsed, body: Bytes) -> Result<Response, Failure> {
        let query = graph_query(self.request.query.as_deref())?;
        match parsed.target {
            Target::Message(id) if self.request.method == Method::PATCH => self.patch(&id, &body).await,
            Target::Message(id) => self.message(&id, &query).await,
            Target::MessageValue(id) => self.message_value(&id).await,
            Target::Attachments(id) => self.attachments(&id, &query).await,
            Target::Attachment(id, att) => self.attachment(&id, &att, &query).await,
            Target::AttachmentValue(id, att) => self.attachment_value(&id, &att).await,
        }
    }

    /// `Users('{oid}@{tid}')`, as Outlook named the mailbox in `@odata.id`.
    fn user_url(&self) -> String {
        format!(
            "{}/Users('{}@{}')",
            self.request.base, self.caller.oid, self.caller.tenant_id
        )
    }

    /// Graph's `@odata.context` rewritten onto the gateway's REST base URL.
    fn context(&self, graph: &str) -> String {
        let fragment = graph.split_once('#').map_or("", |(_, f)| f);
        format!(
            "{}/$metadata#{}",
            self.request.base,
            names::rest_context_fragment(fragment)
        )
    }

    async fn message(&self, id: &str, query: &Query) -> Result<Response, Failure> {
        for action in calls::message_actions(query.select.as_deref(), query.expand.as_deref()) {
            self.mailbox.authorize(action, &Resource::default())?;
        }
        let path = format!("/me/messages/{id}{}", query.to_graph());
        let response = self.mailbox.get(&path, &self.request.prefer).await?;
        let applied = response.headers.get(&PREFERENCE_APPLIED).cloned();
        let mut graph = calls::read_json(response).await?;
        if calls::expands_attachments(query.expand.as_deref()) {
            self.mailbox.keep_readable_attachments(&mut graph, "attachments");
        }
        let mut rest = names::to_rest(graph, None, &|c| self.context(c));
        insert_after(
            &mut rest,
            "@odata.context",
            "@odata.id",
            format!("{}/Messages('{id}')", self.user_url()),
        );
        let mut out = json_response(StatusCode::OK, &rest);
        if let Some(applied) = applied {
            out.headers_mut().insert(PREFERENCE_APPLIED, applied);
        }
        Ok(out)
    }

    async fn message_value(&self, id: &str) -> Result<Response, Failure> {
        self.mailbox.authorize(Action::ReadMime, &Resource::default())?;
        let response = self
            .mailbox
            .get(&format!("/me/messages/{id}/$value"), &self.request.prefer)
            .await?;
        Ok(raw(response))
    }

    async fn attachments(&self, id: &str, query: &Query) -> Result<Response, Failure> {
        let path = format!("/me/messages/{id}/attachments{}", query.to_graph());
        let mut graph = self.mailbox.get_json(&path, &self.request.prefer).await?;
        self.mailbox.keep_readable_attachments(&mut graph, "value");
        let mut rest = names::to_rest(graph, None, &|c| self.context(c));
        let base = format!("{}/Messages('{id}')/Attachments", self.user_url());
        if let Some(Json::Array(items)) = rest.fields_mut().and_then(|f| field_mut(f, "value")) {
            for item in items {
                let att = item.get("Id").and_then(Json::as_str).map(str::to_owned);
                if let Some(att) = att {
                    insert_after(item, "@odata.type", "@odata.id", format!("{base}('{att}')"));
                }
            }
        }
        Ok(json_response(StatusCode::OK, &rest))
    }

    async fn attachment(&self, id: &str, att: &str, query: &Query) -> Result<Response, Failure> {
        let expand_item = query
            .expand
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().contains("itemattachment/item"));
        let (graph, resource) = self
            .mailbox
            .attachment_metadata(id, att, expand_item, &self.request.prefer)
            .await?;
        self.mailbox.authorize(Action::ReadAttachment, &resource)?;
        let is_file = resource.attachment_kind.as_deref() == Some("file");
        let mut rest = names::to_rest(graph, None, &|c| self.context(c));
        let wants = |name: &str| query.select.as_deref().is_none_or(|s| selects(s, name));
        if let Some(fields) = rest.fields_mut() {
            fields.retain(|(k, _)| k.starts_with('@') || k == "Id" || wants(&names::graph_name(None, k)));
            set_field(
                fields,
                "@odata.context",
                format!(
                    "{}/$metadata#Me/Messages('{id}')/Attachments/$entity",
                    self.request.base
                ),
            );
        }
        let url = format!("{}/Messages('{id}')/Attachments('{att}')", self.user_url());
        insert_after(&mut rest, "@odata.type", "@odata.id", url);
        if !(is_file && wants("contentBytes")) {
            return Ok(json_response(StatusCode::OK, &rest));
        }
        let content = self
            .mailbox
            .get(&format!("/me/messages/{id}/attachments/{att}/$value"), &[])
            .await?;
        let body = stream::object_with_base64(&rest, "ContentBytes", content.body);
        Ok(with_json_type(Response::new(body)))
    }

    async fn attachment_value(&self, id: &str, att: &str) -> Result<Response, Failure> {
        let (_, resource) = self.mailbox.attachment_metadata(id, att, false, &[]).await?;
        self.mailbox.authorize(Action::ReadAttachment, &resource)?;
        let path = format!("/me/messages/{id}/attachments/{att}/$value");
        Ok(raw(self.mailbox.get(&path, &[]).await?))
    }

    async fn patch(&self, id: &str, body: &[u8]) -> Result<Response, Failure> {
        let rest = Json::parse(body)
            .map_err(|e| Failure::bad_request("ErrorInvalidRequest", format!("The request body is not JSON: {e}")))?;
        let graph = names::to_graph(rest, None);
        for property in calls::patched_properties(&graph)? {
            self.mailbox
                .authorize(Action::WriteExtendedProperty, &calls::property_resource(&property))?;
        }
        let headers = self
            .request
            .if_match
            .iter()
            .map(|v| (header::IF_MATCH, v.clone()))
            .collect();
        let path = format!("/me/messages/{id}");
        let response = self
            .mailbox
            .send(Method::PATCH, &path, headers, Some(Bytes::from(graph.to_vec())))
            .await?;
        let graph = calls::read_json(response).await?;
        let mut rest = names::to_rest(graph, None, &|c| self.context(c));
        insert_after(
            &mut rest,
            "@odata.context",
            "@odata.id",
            format!("{}/Messages('{id}')", self.user_url()),
        );
        Ok(json_response(StatusCode::OK, &rest))
    }
}

// === impl Query ===

impl Query {
    /// `?$select=…&$expand=…` for Graph, percent-encoded.
    fn to_graph(&self) -> String {
        let mut parts = Vec::new();
        if let Some(select) = &self.select {
            parts.push(format!("$select={}", encode_query_value(select)));
        }
        if let Some(expand) = &self.expand {
            parts.push(format!("$expand={}", encode_query_value(expand)));
        }
        match parts.is_empty() {
            true => String::new(),
            false => format!("?{}", parts.join("&")),
        }
    }
}

/// The REST query translated into Graph's names; other `$` options are refused.
fn graph_query(raw: Option<&str>) -> Result<Query, Failure> {
    let mut query = Query::default();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match key.to_ascii_lowercase().as_str() {
            "$select" => query.select = Some(names::graph_select(&value)),
            "$expand" => query.expand = Some(names::graph_expand(&value)),
            k if k.starts_with('$') => {
                return Err(Failure::bad_request(
                    "ErrorInvalidUrlQuery",
                    format!("The query option '{key}' is not supported here."),
                ));
            }
            _ => {}
        }
    }
    Ok(query)
}

/// Percent-encodes a query value, keeping OData's punctuation readable.
pub(crate) fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$(),/:@{}*=;".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn selects(select: &str, graph_name: &str) -> bool {
    select
        .split(',')
        .any(|s| s.trim().eq_ignore_ascii_case(graph_name) || s.trim() == "*")
}

fn field_mut<'a>(fields: &'a mut [(String, Json)], key: &str) -> Option<&'a mut Json> {
    fields.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn set_field(fields: &mut Vec<(String, Json)>, key: &str, value: String) {
    match field_mut(fields, key) {
        Some(slot) => *slot = Json::string(value),
        None => fields.insert(0, (key.to_owned(), Json::string(value))),
    }
}

/// Inserts `key` right after `after` (or first), replacing any existing `key`.
fn insert_after(json: &mut Json, after: &str, key: &str, value: String) {
    let Some(fields) = json.fields_mut() else {
        return;
    };
    fields.retain(|(k, _)| k != key);
    let at = fields.iter().position(|(k, _)| k == after).map_or(0, |i| i + 1);
    fields.insert(at, (key.to_owned(), Json::string(value)));
}

fn json_response(status: StatusCode, json: &Json) -> Response {
    let mut response = Response::new(Body::from(json.to_vec()));
    *response.status_mut() = status;
    with_json_type(response)
}

fn with_json_type(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    response
}

/// Graph's raw bytes (MIME, attachment content) streamed with their type and length.
fn raw(graph: crate::graph::GraphResponse) -> Response {
    let mut out = Response::new(Body::empty());
    for name in RAW_HEADERS {
        if let Some(value) = graph.headers.get(&name) {
            out.headers_mut().insert(name, value.clone());
        }
    }
    *out.body_mut() = graph.into_axum_body();
    out
}

#[cfg(test)]
mod tests;
