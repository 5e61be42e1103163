//! RFC 822/MIME rendering of messages as Exchange produces it for `$value`: multipart/mixed
//! around multipart/related (inline images) around multipart/alternative (text + HTML), base64
//! parts, attached emails as `message/rfc822`. Rendered as a plan of segments whose total length
//! is known up front and whose bytes are produced while streaming.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use time::OffsetDateTime;
use time::macros::format_description;

use super::convert::html_to_text;
use super::files::Content;
use super::store::{Attachment, AttachmentKind, BodyKind, MessageData};

/// A piece of a MIME document.
enum Segment {
    Raw(Bytes),
    /// Content written as 76-column base64 lines.
    Base64(Content),
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Raw(bytes) => bytes.len() as u64,
            Segment::Base64(content) => content.mime_base64_len(),
        }
    }
}

/// A message rendered as MIME: known length, bytes produced on demand.
pub(crate) struct Mime {
    segments: Vec<Segment>,
}

impl Mime {
    /// The MIME of `data`: its transport headers, then the body entity.
    pub(crate) fn of_message(data: &MessageData) -> Mime {
        let mut out = Out::default();
        write_message(&mut out, data);
        Mime { segments: out.finish() }
    }

    pub(crate) fn len(&self) -> u64 {
        self.segments.iter().map(Segment::len).sum()
    }

    pub(crate) fn stream(self) -> BoxStream<'static, Bytes> {
        stream::iter(self.segments)
            .flat_map(|segment| match segment {
                Segment::Raw(bytes) => stream::iter([bytes]).boxed(),
                Segment::Base64(content) => content.mime_base64_stream(),
            })
            .boxed()
    }
}

/// Collects text into raw segments between base64 ones.
#[derive(Default)]
struct Out {
    segments: Vec<Segment>,
    text: String,
}

impl Out {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn header(&mut self, name: &str, value: &str) {
        self.text.push_str(&header_line(name, value));
    }

    fn base64(&mut self, content: Content) {
        self.flush();
        self.segments.push(Segment::Base64(content));
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.segments.push(Segment::Raw(Bytes::from(text)));
        }
    }

    fn finish(mut self) -> Vec<Segment> {
        self.flush();
        self.segments
    }
}

/// Boundaries in Exchange's style, unique per message.
fn boundary(level: &str, tag: &str) -> String {
    format!("_{level}_{tag}_")
}

/// The `Content-Type` (and, for single-part messages, `Content-Transfer-Encoding`) headers that
/// close a message's header block, plus `MIME-Version`.
pub(crate) fn top_headers(kind: BodyKind, attachments: &[Attachment], tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if attachments.iter().any(is_mixed_part) {
        out.push((
            "Content-Type".into(),
            format!("multipart/mixed;\r\n\tboundary=\"{}\"", boundary("004", tag)),
        ));
    } else if attachments.iter().any(Attachment::is_inline) {
        out.push((
            "Content-Type".into(),
            format!(
                "multipart/related;\r\n\tboundary=\"{}\";\r\n\ttype=\"multipart/alternative\"",
                boundary("003", tag)
            ),
        ));
    } else if kind == BodyKind::Html {
        out.push((
            "Content-Type".into(),
            format!("multipart/alternative;\r\n\tboundary=\"{}\"", boundary("000", tag)),
        ));
    } else {
        out.push(("Content-Type".into(), "text/plain; charset=\"utf-8\"".into()));
        out.push(("Content-Transfer-Encoding".into(), "base64".into()));
    }
    out.push(("MIME-Version".into(), "1.0".into()));
    out
}

/// Attachments that become parts of multipart/mixed (reference attachments have no bytes).
fn is_mixed_part(attachment: &Attachment) -> bool {
    match &attachment.kind {
        AttachmentKind::File { is_inline, .. } => !is_inline,
        AttachmentKind::Item { .. } => true,
        AttachmentKind::Reference { .. } => false,
    }
}

fn write_message(out: &mut Out, data: &MessageData) {
    for (name, value) in &data.headers {
        out.header(name, value);
    }
    out.push("\r\n");
    let tag = &data.boundary_tag;
    let mixed: Vec<&Attachment> = data.attachments.iter().filter(|a| is_mixed_part(a)).collect();
    if mixed.is_empty() {
        write_body(out, data, tag);
        return;
    }
    let outer = boundary("004", tag);
    out.push(&format!("--{outer}\r\n"));
    write_body_entity(out, data, tag);
    for attachment in mixed {
        out.push(&format!("\r\n--{outer}\r\n"));
        write_attachment(out, attachment);
    }
    out.push(&format!("\r\n--{outer}--\r\n"));
}

/// The body entity with its own Content-Type header (inside multipart/mixed).
fn write_body_entity(out: &mut Out, data: &MessageData, tag: &str) {
    let inline = data.attachments.iter().any(Attachment::is_inline);
    match (data.body.kind, inline) {
        (_, true) => out.header(
            "Content-Type",
            &format!(
                "multipart/related;\r\n\tboundary=\"{}\";\r\n\ttype=\"multipart/alternative\"",
                boundary("003", tag)
            ),
        ),
        (BodyKind::Html, false) => {
            out.header(
                "Content-Type",
                &format!("multipart/alternative;\r\n\tboundary=\"{}\"", boundary("000", tag)),
            );
        }
        (BodyKind::Text, false) => {
            out.header("Content-Type", "text/plain; charset=\"utf-8\"");
            out.header("Content-Transfer-Encoding", "base64");
        }
    }
    out.push("\r\n");
    write_body(out, data, tag);
}

/// The body entity's content (its headers already written).
fn write_body(out: &mut Out, data: &MessageData, tag: &str) {
    let inline: Vec<&Attachment> = data.attachments.iter().filter(|a| a.is_inline()).collect();
    if data.body.kind == BodyKind::Text && inline.is_empty() {
        out.base64(Content::Held(Bytes::from(data.body.content.clone())));
        return;
    }
    if inline.is_empty() {
        write_alternative(out, data, tag);
        return;
    }
    let related = boundary("003", tag);
    out.push(&format!("--{related}\r\n"));
    out.header(
        "Content-Type",
        &format!("multipart/alternative;\r\n\tboundary=\"{}\"", boundary("000", tag)),
    );
    out.push("\r\n");
    write_alternative(out, data, tag);
    for attachment in inline {
        out.push(&format!("\r\n--{related}\r\n"));
        write_attachment(out, attachment);
    }
    out.push(&format!("\r\n--{related}--\r\n"));
}

fn write_alternative(out: &mut Out, data: &MessageData, tag: &str) {
    let alternative = boundary("000", tag);
    let (text, html) = match data.body.kind {
        BodyKind::Html => (html_to_text(&data.body.content), data.body.content.clone()),
        BodyKind::Text => (
            data.body.content.clone(),
            super::convert::text_to_html(&data.body.content),
        ),
    };
    for (subtype, content) in [("plain", text), ("html", html)] {
        out.push(&format!("--{alternative}\r\n"));
        out.header("Content-Type", &format!("text/{subtype}; charset=\"utf-8\""));
        out.header("Content-Transfer-Encoding", "base64");
        out.push("\r\n");
        out.base64(Content::Held(Bytes::from(content)));
        out.push("\r\n");
    }
    out.push(&format!("--{alternative}--\r\n"));
}

fn write_attachment(out: &mut Out, attachment: &Attachment) {
    let name = encode_word(&attachment.name);
    match &attachment.kind {
        AttachmentKind::File {
            content_type,
            content,
            is_inline,
            content_id,
        } => {
            out.header("Content-Type", &format!("{content_type}; name=\"{name}\""));
            out.header("Content-Description", &name);
            let date = gmt(attachment.last_modified);
            let disposition = if *is_inline { "inline" } else { "attachment" };
            out.header(
                "Content-Disposition",
                &format!(
                    "{disposition}; filename=\"{name}\"; size={};\r\n\tcreation-date=\"{date}\";\r\n\tmodification-date=\"{date}\"",
                    content.len()
                ),
            );
            if let Some(cid) = content_id {
                out.header("Content-ID", &format!("<{cid}>"));
            }
            out.header("Content-Transfer-Encoding", "base64");
            out.push("\r\n");
            out.base64(content.clone());
        }
        AttachmentKind::Item { message } => {
            out.header("Content-Type", "message/rfc822");
            out.header("Content-Disposition", "attachment");
            out.push("\r\n");
            write_message(out, message);
        }
        AttachmentKind::Reference { .. } => {}
    }
}

/// `Name: value` with CRLF; an empty value is written without the space, as Exchange does.
pub(crate) fn header_line(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{name}:\r\n")
    } else {
        format!("{name}: {value}\r\n")
    }
}

/// RFC 2047 encoded word for non-ASCII header text; ASCII passes through.
pub(crate) fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        format!("=?utf-8?B?{}?=", STANDARD.encode(text))
    }
}

/// `Mon, 02 Mar 2026 08:14:33 GMT`, as Exchange writes attachment dates.
fn gmt(at: OffsetDateTime) -> String {
    let format =
        format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    at.format(format).unwrap_or_default()
}

/// `Mon, 2 Mar 2026 08:14:31 +0000`, the RFC 5322 `Date:` form.
pub(crate) fn rfc5322(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[weekday repr:short], [day padding:none] [month repr:short] [year] [hour]:[minute]:[second] +0000"
    );
    at.format(format).unwrap_or_default()
}
