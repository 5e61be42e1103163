//! Writing EWS responses: XML escaping, the response envelope with `ServerVersionInfo`, and the
//! [`Sink`] that hands the response to the HTTP body in bounded chunks, so a response of any
//! size (a 100 MB attachment) passes through a few dozen kilobytes of memory.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::envelope::{MESSAGES_NS, SOAP_NS, TYPES_NS};

/// Bytes gathered before a chunk is handed to the HTTP body.
pub const CHUNK: usize = 128 * 1024;

/// What Exchange Online answers in every response header (the build exchangelib and the EWS
/// Managed API read to pick their schema version).
const SERVER_VERSION_INFO: &str = concat!(
    r#"<h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="8198" MinorBuildNumber="27" Version="V2018_01_08" "#,
    r#"xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" "#,
    r#"xmlns="http://schemas.microsoft.com/exchange/services/2006/types" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>"#
);

/// Appends `s` escaped for element content; characters XML 1.0 cannot carry are dropped.
pub fn text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// Appends `s` escaped for a double-quoted attribute value.
pub fn attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// `<name>escaped</name>`.
pub fn element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The envelope up to and including the opening tag of `m:{operation}Response`.
pub fn open_response(out: &mut String, operation: &str) {
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(&format!(r#"<s:Envelope xmlns:s="{SOAP_NS}"><s:Header>"#));
    out.push_str(SERVER_VERSION_INFO);
    out.push_str(r#"</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">"#);
    out.push_str(&format!(
        r#"<m:{operation}Response xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}"><m:ResponseMessages>"#
    ));
}

/// Closes what [`open_response`] opened.
pub fn close_response(out: &mut String, operation: &str) {
    out.push_str(&format!(
        "</m:ResponseMessages></m:{operation}Response></s:Body></s:Envelope>"
    ));
}

/// The client went away: stop producing the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client closed the connection")]
pub struct Closed;

/// One piece of the response body; `last` ends the body without waiting for the channel to
/// close, so the final chunk and the end of the body leave in one write.
type Piece = Result<(Bytes, bool), std::io::Error>;

/// A response being written: text accumulates in `buf` and leaves in chunks of about
/// [`CHUNK`] bytes through a channel of two chunks, so memory stays bounded.
pub struct Sink {
    /// Pending response text.
    pub buf: String,
    tx: mpsc::Sender<Piece>,
}

impl Sink {
    /// A sink and the stream of chunks it produces (for an HTTP body).
    pub fn channel() -> (
        Sink,
        impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) {
        let (tx, rx) = mpsc::channel::<Piece>(2);
        let stream = futures::stream::unfold((rx, false), |(mut rx, ended)| async move {
            if ended {
                return None;
            }
            match rx.recv().await? {
                Ok((bytes, last)) => Some((Ok(bytes), (rx, last))),
                Err(e) => Some((Err(e), (rx, true))),
            }
        });
        (
            Sink {
                buf: String::with_capacity(CHUNK + 1024),
                tx,
            },
            stream,
        )
    }

    /// Hands the pending text over once a chunk's worth has accumulated.
    pub async fn flush_if_full(&mut self) -> Result<(), Closed> {
        if self.buf.len() >= CHUNK {
            self.send(false).await
        } else {
            Ok(())
        }
    }

    /// Hands the rest of the response over and ends the body.
    pub async fn finish(&mut self) -> Result<(), Closed> {
        self.send(true).await
    }

    async fn send(&mut self, last: bool) -> Result<(), Closed> {
        if self.buf.is_empty() && !last {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK + 1024));
        self.tx.send(Ok((Bytes::from(chunk), last))).await.map_err(|_| Closed)
    }

    /// Ends the body with an error: the client sees a truncated response, never a wrong one.
    pub async fn abort(self, why: &str) {
        let _ = self.tx.send(Err(std::io::Error::other(why.to_owned()))).await;
    }
}

/// Input bytes encoded per step: 96 KiB of input is 128 KiB of base64, one chunk.
const BASE64_STEP: usize = 96 * 1024;

/// Why streaming a Graph body into the response stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The client went away.
    #[error(transparent)]
    Closed(#[from] Closed),
    /// Graph's body failed part-way.
    #[error("Graph's body failed part-way: {0}")]
    Graph(#[from] crate::graph::GraphError),
}

/// Base64-encodes a Graph body into the response as it arrives; at most one step of input and
/// one chunk of output are held at a time. Returns the number of raw bytes.
pub async fn base64_body(sink: &mut Sink, mut body: crate::graph::GraphBody) -> Result<u64, StreamError> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use futures::TryStreamExt;

    let mut carry: Vec<u8> = Vec::with_capacity(3);
    let mut total = 0u64;
    while let Some(chunk) = body.try_next().await? {
        total += chunk.len() as u64;
        let mut data: &[u8] = &chunk;
        if !carry.is_empty() {
            let take = (3 - carry.len()).min(data.len());
            carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if carry.len() == 3 {
                STANDARD.encode_string(&carry, &mut sink.buf);
                carry.clear();
            }
        }
        while data.len() >= 3 {
            let whole = (data.len() / 3 * 3).min(BASE64_STEP);
            STANDARD.encode_string(&data[..whole], &mut sink.buf);
            data = &data[whole..];
            sink.flush_if_full().await?;
        }
        carry.extend_from_slice(data);
    }
    if !carry.is_empty() {
        STANDARD.encode_string(&carry, &mut sink.buf);
    }
    Ok(total)
}
