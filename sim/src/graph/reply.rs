//! Answers before they become HTTP responses: fixed or streamed bodies with an exact length,
//! Graph's per-request headers, and a body that holds the in-flight slot until its last byte.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::throttle::InFlight;

/// Content type of Graph's JSON answers.
pub(crate) const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// What `x-ms-ags-diagnostic` looks like on Graph answers.
const AGS_DIAGNOSTIC: &str = r#"{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"AM2PEPF0001C4D9"}}"#;

/// Ids that every Graph answer carries.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub(crate) request_id: String,
    /// The caller's `client-request-id`, or the request id when none was sent (as Graph does).
    pub(crate) client_request_id: String,
}

impl RequestContext {
    pub(crate) fn from_headers(headers: &HeaderMap) -> RequestContext {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map_or_else(|| request_id.clone(), str::to_owned);
        RequestContext {
            request_id,
            client_request_id,
        }
    }

    /// `innerError.date`: UTC without fraction or zone, as Graph writes it.
    pub(crate) fn date(&self) -> String {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        OffsetDateTime::now_utc().format(format).unwrap_or_default()
    }

    fn stamp(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("request-id", self.request_id.as_str()),
            ("client-request-id", self.client_request_id.as_str()),
            ("x-ms-ags-diagnostic", AGS_DIAGNOSTIC),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

/// A body whose length is known before it is sent.
pub(crate) enum ReplyBody {
    Full(Bytes),
    Stream {
        len: u64,
        stream: BoxStream<'static, Bytes>,
    },
}

/// A Graph answer.
pub(crate) struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: ReplyBody,
}

impl Reply {
    /// A JSON answer with Graph's OData content type.
    pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Reply {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
        Reply {
            status,
            headers,
            body: ReplyBody::Full(Bytes::from(bytes)),
        }
    }

    /// [`Reply::json`] for an already built value.
    pub(crate) fn json_value(status: StatusCode, value: &serde_json::Value) -> Reply {
        Reply::json(status, value)
    }

    /// A streamed answer of exactly `len` bytes.
    pub(crate) fn stream(content_type: &str, len: u64, stream: BoxStream<'static, Bytes>) -> Reply {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        Reply {
            status: StatusCode::OK,
            headers,
            body: ReplyBody::Stream { len, stream },
        }
    }

    pub(crate) fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }

    /// The HTTP response; `slot` (if any) is released when the last byte has been handed over.
    pub(crate) fn into_response(self, ctx: &RequestContext, slot: Option<InFlight>) -> Response {
        let (len, stream) = match self.body {
            ReplyBody::Full(bytes) => (bytes.len() as u64, futures::stream::iter([bytes]).boxed()),
            ReplyBody::Stream { len, stream } => (len, stream),
        };
        let body = Body::from_stream(HoldUntilSent {
            inner: stream,
            slot,
            remaining: len,
        });
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        ctx.stamp(response.headers_mut());
        response
    }
}

/// Body stream that owns the request's concurrency slot until the body is fully handed over
/// (or dropped because the client went away).
struct HoldUntilSent {
    inner: BoxStream<'static, Bytes>,
    slot: Option<InFlight>,
    remaining: u64,
}

impl Stream for HoldUntilSent {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(chunk)) => {
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                // Release with the last chunk: a client that has read everything may send its
                // next request before this stream is polled again.
                if this.remaining == 0 {
                    this.slot.take();
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                this.slot.take();
                Poll::Ready(None)
            }
        }
    }
}
