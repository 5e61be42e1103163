//! `POST /{tenant}/oauth2/v2.0/token`: form parsing, request recording, scripted failures,
//! and the checks every grant shares (tenant, grant type, client id, client authentication),
//! in the order Entra applies them.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

use super::{
    Inner, RecordedTokenRequest, TokenOutcome, client_auth,
    discovery::{self, Authority},
    errors::{AadError, GATEWAY_APP_NAME, Trace, response_headers},
    grants::{self, TokenAnswer},
};

/// `grant_type` of the on-behalf-of flow.
pub(super) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Form fields whose values never leave the simulator.
const SECRET_FIELDS: [&str; 3] = ["client_secret", "client_assertion", "assertion"];

/// The decoded form body of a token request.
pub(super) struct Form {
    fields: BTreeMap<String, String>,
}

impl Form {
    /// A field's value, treating an empty value as absent (as Entra does).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Client id and secret from an HTTP Basic `Authorization` header (RFC 6749 §2.3.1).
pub(super) struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

/// Everything known about one request before its grant is processed.
pub(super) struct TokenRequest<'a> {
    pub segment: &'a str,
    pub form: Form,
    pub basic: Option<BasicCredentials>,
}

impl TokenRequest<'_> {
    /// `client_id` from the form, else from HTTP Basic.
    pub fn client_id(&self) -> Option<&str> {
        self.form
            .get("client_id")
            .or(self.basic.as_ref().map(|b| b.client_id.as_str()))
            .filter(|id| !id.is_empty())
    }
}

/// The token endpoint handler.
pub(super) async fn token(
    State(inner): State<Arc<Inner>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = inner.state.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let trace = trace_for(&headers);
    let mut record = RecordedTokenRequest {
        tenant: segment.clone(),
        grant: None,
        fields: BTreeMap::new(),
        client_auth: None,
        basic_auth: false,
        assertion_sha256: None,
        client_request_id: trace.client_request_id.clone(),
        correlation_id: trace.correlation_id.clone(),
        outcome: TokenOutcome::Ok,
    };
    let result = match parse_request(&segment, &headers, &body) {
        Ok(request) => {
            describe(&request, &mut record);
            process(&inner, &request)
        }
        Err(error) => Err(error),
    };
    finish(&inner, record, result, &trace)
}

/// Correlation: Entra uses a GUID `client-request-id` as correlation id, otherwise makes its
/// own, and returns the header only when asked with `return-client-request-id: true`.
fn trace_for(headers: &HeaderMap) -> Trace {
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let correlation_id = client_request_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .to_string();
    let return_client_request_id = headers
        .get("return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Trace {
        trace_id: uuid::Uuid::new_v4().to_string(),
        correlation_id,
        client_request_id,
        return_client_request_id,
    }
}

fn parse_request<'a>(segment: &'a str, headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest<'a>, AadError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        // Entra reads parameters only from a form body; anything else looks empty.
        return Err(AadError::missing("grant_type"));
    }
    let mut fields = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if fields.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(AadError::new(
                9000411,
                format!("The request is not properly formatted. The parameter '{name}' is duplicated."),
            ));
        }
    }
    Ok(TokenRequest {
        segment,
        form: Form { fields },
        basic: basic_credentials(headers)?,
    })
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<BasicCredentials>, AadError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || AadError::malformed("The Authorization header is not valid HTTP Basic client credentials.");
    let value = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return Err(bad());
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(BasicCredentials {
        client_id: decode(id),
        secret: decode(secret),
    }))
}

/// Fills the record with what was sent (credentials redacted).
fn describe(request: &TokenRequest<'_>, record: &mut RecordedTokenRequest) {
    record.fields = request
        .form
        .fields
        .iter()
        .map(|(k, v)| {
            let value = if SECRET_FIELDS.contains(&k.as_str()) {
                "<redacted>".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), value)
        })
        .collect();
    record.grant = request.form.get("grant_type").map(|g| match g {
        JWT_BEARER_GRANT => "obo".to_owned(),
        other => other.to_owned(),
    });
    record.basic_auth = request.basic.is_some();
    record.client_auth = client_auth::presented(request).map(|k| k.label().to_owned());
    record.assertion_sha256 = request.form.get("assertion").map(|a| {
        Sha256::digest(a.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    });
}

fn process(inner: &Inner, request: &TokenRequest<'_>) -> Result<TokenAnswer, AadError> {
    let scripted = {
        let mut state = inner.state.lock();
        if !state.available {
            return Err(AadError::canned(90033, "", ""));
        }
        state.next_failure()
    };
    if let Some(code) = scripted {
        let client_id = request.client_id().unwrap_or(&inner.seed.gateway_client_id);
        return Err(AadError::canned(code, client_id, request.segment));
    }
    let authority = discovery::authority(inner, request.segment)?;
    let grant = request
        .form
        .get("grant_type")
        .ok_or_else(|| AadError::missing("grant_type"))?;
    if grant != JWT_BEARER_GRANT && grant != "client_credentials" {
        return Err(AadError::new(
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = request.client_id().ok_or_else(|| AadError::missing("client_id"))?;
    let tenant = match authority {
        Authority::Tenant(t) => t,
        Authority::Multi(_) => {
            return Err(AadError::new(
                50194,
                format!(
                    "Application '{client_id}'({GATEWAY_APP_NAME}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant."
                ),
            ));
        }
    };
    if !client_id.eq_ignore_ascii_case(&inner.seed.gateway_client_id) || !tenant.gateway_provisioned {
        return Err(AadError::canned(700016, client_id, &tenant.id));
    }
    if grant == JWT_BEARER_GRANT {
        grants::check_obo_parameters(&request.form)?;
    } else {
        grants::check_client_credentials_parameters(&request.form)?;
    }
    let auth = client_auth::authenticate(inner, tenant, request, client_id)?;
    if grant == JWT_BEARER_GRANT {
        grants::on_behalf_of(inner, tenant, &request.form, client_id, auth)
    } else {
        grants::client_credentials(inner, tenant, &request.form, client_id, auth)
    }
}

/// Counts, records and renders the outcome.
fn finish(
    inner: &Inner,
    mut record: RecordedTokenRequest,
    result: Result<TokenAnswer, AadError>,
    trace: &Trace,
) -> Response {
    record.outcome = match &result {
        Ok(_) => TokenOutcome::Ok,
        Err(e) => TokenOutcome::Failed(e.code),
    };
    {
        let mut state = inner.state.lock();
        let stats = &mut state.stats;
        stats.token_requests += 1;
        if let Some(grant) = record.grant.as_deref().filter(|g| grants::counted(g)) {
            *stats.exchanges.entry(grant.to_owned()).or_default() += 1;
            if result.is_ok() {
                *stats.successes.entry(grant.to_owned()).or_default() += 1;
            }
        }
        if let Err(e) = &result {
            *stats.failures.entry(e.code).or_default() += 1;
        }
        state.recorded.push(record);
    }
    match result {
        Ok(answer) => (StatusCode::OK, response_headers(trace), Json(answer)).into_response(),
        Err(error) => {
            tracing::debug!(code = error.code, "entra simulator answered a token error");
            error.to_response(trace)
        }
    }
}
