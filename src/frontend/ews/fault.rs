//! EWS errors in EWS's own forms: SOAP faults for requests that cannot be served at all
//! (`ErrorSchemaValidation` with line and position, unsupported operations, refused
//! mailboxes), and per-message `ResponseCode`s for one id that failed, mapped from Graph's
//! answers as Exchange would have answered.

use std::time::Duration;

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use reqwest::StatusCode as GraphStatus;

use super::{
    envelope::{ERRORS_NS, SOAP_NS, SchemaError, TYPES_NS},
    xml,
};
use crate::graph::GraphError;

/// Back-off suggested for throttling when Graph gave no `Retry-After`.
const DEFAULT_BACK_OFF: Duration = Duration::from_secs(1);

/// An error for one response message: `ResponseCode`, `MessageText`, optional back-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EwsError {
    /// `ResponseCodeType` value.
    pub code: &'static str,
    /// `MessageText`.
    pub text: String,
    /// `BackOffMilliseconds` for `ErrorServerBusy`.
    pub back_off_ms: Option<u64>,
}

impl EwsError {
    /// An error with a code and message.
    pub fn new(code: &'static str, text: impl Into<String>) -> EwsError {
        EwsError {
            code,
            text: text.into(),
            back_off_ms: None,
        }
    }

    /// `ErrorItemNotFound` with Exchange's text.
    pub fn item_not_found() -> EwsError {
        EwsError::new("ErrorItemNotFound", "The specified object was not found in the store.")
    }

    /// `ErrorInvalidIdMalformed` with Exchange's text.
    pub fn id_malformed() -> EwsError {
        EwsError::new("ErrorInvalidIdMalformed", "Id is malformed.")
    }

    /// `ErrorInvalidAttachmentId`.
    pub fn invalid_attachment_id() -> EwsError {
        EwsError::new("ErrorInvalidAttachmentId", "The attachment ID was invalid.")
    }

    /// `ErrorAccessDenied` naming the policies that denied the request.
    pub fn denied_by(policies: &[String]) -> EwsError {
        let names = if policies.is_empty() {
            "the default policy".to_owned()
        } else {
            policies.join(", ")
        };
        EwsError::new(
            "ErrorAccessDenied",
            format!("Access is denied. The gateway's authorization policy refused the request ({names})."),
        )
    }

    /// Maps a failed Graph call. `attachment` selects `ErrorInvalidAttachmentId` for lookups
    /// that named an attachment.
    pub fn from_graph(error: &GraphError, attachment: bool) -> EwsError {
        let GraphError::Status {
            status,
            code,
            retry_after,
            ..
        } = error
        else {
            return match error {
                GraphError::Timeout(_) | GraphError::BodyTimeout(_) => {
                    EwsError::new("ErrorTimeoutExpired", "The request timed out.")
                }
                _ => EwsError::new(
                    "ErrorInternalServerError",
                    "An internal server error occurred. The operation failed.",
                ),
            };
        };
        let code = code.as_deref().unwrap_or("");
        match *status {
            GraphStatus::NOT_FOUND if attachment => EwsError::invalid_attachment_id(),
            GraphStatus::NOT_FOUND => EwsError::item_not_found(),
            GraphStatus::BAD_REQUEST if code == "ErrorInvalidIdMalformed" => EwsError::id_malformed(),
            GraphStatus::BAD_REQUEST if code.starts_with("ErrorInvalidExtendedProperty") => EwsError::new(
                "ErrorInvalidExtendedProperty",
                "The extended property attribute combination is invalid.",
            ),
            GraphStatus::UNAUTHORIZED | GraphStatus::FORBIDDEN => EwsError::new(
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ),
            GraphStatus::PRECONDITION_FAILED | GraphStatus::CONFLICT => EwsError::new(
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            ),
            GraphStatus::TOO_MANY_REQUESTS | GraphStatus::SERVICE_UNAVAILABLE => {
                let back_off = retry_after.unwrap_or(DEFAULT_BACK_OFF);
                EwsError {
                    code: "ErrorServerBusy",
                    text: "The server cannot service this request right now. Try again later.".into(),
                    back_off_ms: Some(u64::try_from(back_off.as_millis()).unwrap_or(u64::MAX)),
                }
            }
            GraphStatus::BAD_REQUEST => EwsError::new("ErrorInvalidRequest", "The request is invalid."),
            _ => EwsError::new(
                "ErrorInternalServerError",
                "An internal server error occurred. The operation failed.",
            ),
        }
    }

    /// Writes `<m:{element} ResponseClass="Error">…` with the empty payload element the
    /// schema requires (`payload` such as `m:Items`; `None` when it is optional).
    pub fn write_message(&self, out: &mut String, element: &str, payload: Option<&str>) {
        out.push_str(&format!(r#"<m:{element} ResponseClass="Error">"#));
        xml::element(out, "m:MessageText", &self.text);
        xml::element(out, "m:ResponseCode", self.code);
        out.push_str("<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>");
        if let Some(ms) = self.back_off_ms {
            out.push_str(&format!(
                r#"<m:MessageXml><t:Value Name="BackOffMilliseconds">{ms}</t:Value></m:MessageXml>"#
            ));
        }
        if let Some(payload) = payload {
            out.push_str(&format!("<{payload}/>"));
        }
        out.push_str(&format!("</m:{element}>"));
    }
}

/// A request-level failure answered with a SOAP fault (HTTP 500, as Exchange does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The request is not well-formed or does not have the schema's shape.
    #[error("schema validation failed: {0}")]
    Schema(SchemaError),
    /// The body is larger than `ews.max_body_bytes`.
    #[error("request body over {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// `RequestServerVersion` names no version Exchange knows.
    #[error("unknown server version {0:?}")]
    InvalidServerVersion(String),
    /// The operation exists in EWS but is not served here.
    #[error("operation {0} is not supported")]
    Unsupported(String),
    /// Another mailbox was named (impersonation, `X-AnchorMailbox`).
    #[error("access to another mailbox refused")]
    AccessDenied(String),
    /// The caller or its tenant is over the configured request rate (`[limits]`).
    #[error("over the request rate; back off {back_off_ms} ms")]
    ServerBusy {
        /// Suggested wait, sent as `BackOffMilliseconds`.
        back_off_ms: u64,
    },
}

impl Fault {
    fn parts(&self) -> (&'static str, String) {
        match self {
            Fault::Schema(e) => (
                "ErrorSchemaValidation",
                format!("The request failed schema validation: {}", e.violation),
            ),
            Fault::TooLarge { limit } => (
                "ErrorInvalidRequest",
                format!("The request is invalid: its body is larger than the limit of {limit} bytes."),
            ),
            Fault::InvalidServerVersion(v) => (
                "ErrorInvalidServerVersion",
                format!("The specified server version '{v}' is invalid."),
            ),
            Fault::Unsupported(op) => (
                "ErrorInvalidOperation",
                format!(
                    "The operation '{op}' is not supported by this server; it serves GetAttachment, GetItem, UpdateItem, GetFolder and ConvertId."
                ),
            ),
            Fault::AccessDenied(why) => ("ErrorAccessDenied", why.clone()),
            Fault::ServerBusy { .. } => (
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.".to_string(),
            ),
        }
    }

    /// The fault envelope.
    pub fn to_xml(&self) -> String {
        let (code, message) = self.parts();
        let mut out = String::with_capacity(1024);
        out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
        out.push_str(&format!(r#"<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault>"#));
        out.push_str(&format!(r#"<faultcode xmlns:a="{TYPES_NS}">a:{code}</faultcode>"#));
        out.push_str(r#"<faultstring xml:lang="en-US">"#);
        xml::text(&mut out, &message);
        out.push_str("</faultstring><detail>");
        out.push_str(&format!(
            r#"<e:ResponseCode xmlns:e="{ERRORS_NS}">{code}</e:ResponseCode>"#
        ));
        out.push_str(&format!(r#"<e:Message xmlns:e="{ERRORS_NS}">"#));
        xml::text(&mut out, &message);
        out.push_str("</e:Message>");
        if let Fault::Schema(e) = self {
            out.push_str(&format!(
                r#"<t:MessageXml xmlns:t="{TYPES_NS}"><t:LineNumber>{}</t:LineNumber><t:LinePosition>{}</t:LinePosition><t:Violation>"#,
                e.line, e.column
            ));
            xml::text(&mut out, &e.violation);
            out.push_str("</t:Violation></t:MessageXml>");
        }
        if let Fault::ServerBusy { back_off_ms } = self {
            out.push_str(&format!(
                r#"<t:MessageXml xmlns:t="{TYPES_NS}"><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml>"#
            ));
        }
        out.push_str("</detail></s:Fault></s:Body></s:Envelope>");
        out
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            self.to_xml(),
        )
            .into_response()
    }
}
