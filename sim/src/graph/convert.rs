//! Body conversions Exchange performs: HTML → text (for `Prefer: outlook.body-content-type="text"`,
//! MIME text parts and `bodyPreview`) and text → HTML.

use super::files::xml_escape;
use super::store::{BodyKind, MessageBody};

/// `body` in the requested format (`None` keeps the native one).
pub(crate) fn body_as(body: &MessageBody, want: Option<BodyKind>) -> MessageBody {
    match (body.kind, want) {
        (BodyKind::Html, Some(BodyKind::Text)) => MessageBody {
            kind: BodyKind::Text,
            content: html_to_text(&body.content),
        },
        (BodyKind::Text, Some(BodyKind::Html)) => MessageBody {
            kind: BodyKind::Html,
            content: text_to_html(&body.content),
        },
        _ => body.clone(),
    }
}

/// The plain text Exchange derives from an HTML body: block ends become line breaks, images
/// become `[cid:…]` markers, entities are decoded, head and style are dropped.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let name = name.to_ascii_lowercase();
        if !tag.starts_with('/') && (name == "style" || name == "head" || name == "title") {
            let close = format!("</{name}");
            rest = rest.find(&close).map_or("", |i| &rest[i..]);
            continue;
        }
        match name.as_str() {
            "br" => out.push_str("\r\n"),
            "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "table" if tag.starts_with('/') => out.push_str("\r\n"),
            "img" => {
                if let Some(src) = attribute(tag, "src") {
                    out.push_str(&format!("[{src}]"));
                }
            }
            "td" if tag.starts_with('/') => out.push('\t'),
            _ => {}
        }
    }
    out.push_str(&decode_entities(rest));
    tidy_lines(&out)
}

/// Trims each line's trailing space and collapses runs of blank lines to one.
fn tidy_lines(text: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches(['\r', ' ', '\t']);
        if line.trim().is_empty() && lines.last().is_some_and(|l| l.trim().is_empty()) {
            continue;
        }
        lines.push(if line.trim().is_empty() { "" } else { line });
    }
    lines.join("\r\n").trim().to_owned() + "\r\n"
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[at..].find('"')?;
    Some(&tag[at..at + end])
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&ndash;", "–")
        .replace("&amp;", "&")
        .replace(['\r', '\n'], "")
}

/// The HTML Exchange wraps a plain-text body in.
pub(crate) fn text_to_html(text: &str) -> String {
    let mut html = String::from(
        "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n<div class=\"PlainText\">",
    );
    let lines: Vec<String> = text.trim_end().lines().map(xml_escape).collect();
    html.push_str(&lines.join("<br>\r\n"));
    html.push_str("</div>\r\n</body>\r\n</html>\r\n");
    html
}

/// `bodyPreview`: the first 255 characters of the text, whitespace collapsed.
pub(crate) fn preview(body: &MessageBody) -> String {
    let text = match body.kind {
        BodyKind::Html => html_to_text(&body.content),
        BodyKind::Text => body.content.clone(),
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(255).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        let html = "<html><head><style>p{}</style></head><body><div>Hi Alice,</div><div><br></div><p>Q1 &amp; Q2 &lt;done&gt;</p><img src=\"cid:image001.png@01DC\"></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hi Alice,\r\n\r\nQ1 & Q2 <done>\r\n[cid:image001.png@01DC]\r\n"
        );
    }

    #[test]
    fn text_becomes_html_with_escaping() {
        let html = text_to_html("a < b\r\nline two\r\n");
        assert!(html.contains("a &lt; b<br>\r\nline two</div>"));
        assert_eq!(html_to_text(&html), "a < b\r\nline two\r\n");
    }
}
