//! One module per EWS operation, and the context they share: the caller, their Graph token,
//! the correlation id, and the Graph and policy calls every operation makes the same way.

pub mod convert_id;
pub mod get_attachment;
pub mod get_folder;
pub mod get_item;
pub mod update_item;

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::{fault::EwsError, request::BodyType};
use crate::{
    auth::Caller,
    graph::{GraphError, GraphRequest, GraphResponse},
    obo::GraphToken,
    policy::{Action, FrontEnd, Resource},
    state::AppState,
};

/// Everything an operation needs to call Graph for the caller.
pub struct Ctx {
    /// Shared state.
    pub state: AppState,
    /// The authenticated caller.
    pub caller: Caller,
    /// The caller's Graph token (absent for operations that never call Graph).
    pub token: Option<Arc<GraphToken>>,
    /// Correlation id, sent to Graph as `client-request-id`.
    pub request_id: String,
}

const PREFER: HeaderName = HeaderName::from_static("prefer");

impl Ctx {
    /// Asks the policy engine; a denial becomes `ErrorAccessDenied` naming the policies.
    pub fn authorize(&self, action: Action, resource: &Resource) -> Result<(), EwsError> {
        let decision = self
            .state
            .policy
            .authorize(&self.caller, action, resource, FrontEnd::Ews);
        if decision.allowed {
            Ok(())
        } else {
            tracing::info!(client_request_id = %self.request_id, ?action, policies = ?decision.policies, "EWS request denied by policy");
            Err(EwsError::denied_by(&decision.policies))
        }
    }

    /// Sends one request to Graph; non-2xx answers become [`GraphError::Status`].
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Option<Bytes>,
    ) -> Result<GraphResponse, GraphError> {
        let token = self
            .token
            .as_ref()
            .ok_or_else(|| GraphError::InvalidRequest("no Graph token for this operation".into()))?;
        let mailbox = self.caller.mailbox_key();
        let mut request = GraphRequest::new(
            method,
            path_and_query,
            token.access_token.expose_secret(),
            &mailbox,
            &self.request_id,
        );
        request.headers = headers;
        if let Some(body) = body {
            request = request.json_body(body);
        }
        self.state.graph.send(request).await?.error_for_status().await
    }

    /// `GET` with an optional body-type preference, read as JSON.
    pub async fn get_json(&self, path_and_query: &str, body_type: BodyType) -> Result<Value, GraphError> {
        let response = self.send(Method::GET, path_and_query, prefer(body_type), None).await?;
        response.json().await
    }

    /// `GET` whose body is streamed by the caller (`$value`).
    pub async fn get_stream(&self, path_and_query: &str) -> Result<GraphResponse, GraphError> {
        self.send(Method::GET, path_and_query, Vec::new(), None).await
    }
}

/// Graph's `Prefer` header for a body type (none for `Best`: Graph's default is the stored form).
pub fn prefer(body_type: BodyType) -> Vec<(HeaderName, HeaderValue)> {
    let value = match body_type {
        BodyType::Best => return Vec::new(),
        BodyType::Html => "outlook.body-content-type=\"html\"",
        BodyType::Text => "outlook.body-content-type=\"text\"",
    };
    vec![(PREFER, HeaderValue::from_static(value))]
}

/// Percent-encodes a query value (spaces as `%20`, which every OData parser reads as a space).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$,()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `$expand=singleValueExtendedProperties($filter=id eq 'A' or id eq 'B')`, unencoded.
pub fn extended_expand(ids: &[String]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let filter = ids
        .iter()
        .map(|id| format!("id eq '{}'", id.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" or ");
    Some(format!("singleValueExtendedProperties($filter={filter})"))
}
