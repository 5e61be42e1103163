//! Graph JSON → EWS XML: a message's properties as `t:Message` children in the schema's order,
//! recipients, bodies, extended properties and attachment summaries. Ids leave in EWS form.

use serde_json::Value;

use super::{
    props::{Prop, SIZE_PROPERTY, Selection, same_graph_id},
    request::ExtendedField,
    xml,
};
use crate::ids::to_ews;

/// Writes the selected properties of `msg` (Graph JSON) except `MimeContent`, which the caller
/// streams first. Extended properties go where the schema puts `ExtendedProperty`.
pub fn message_fields(out: &mut String, msg: &Value, sel: &Selection) {
    let mut extended_written = false;
    for prop in &sel.props {
        if !extended_written && *prop > Prop::Extended {
            extended(out, msg, sel);
            extended_written = true;
        }
        field(out, msg, *prop);
    }
    if !extended_written {
        extended(out, msg, sel);
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn field(out: &mut String, msg: &Value, prop: Prop) {
    match prop {
        Prop::MimeContent => {}
        Prop::ItemId => item_id(out, "t:ItemId", msg),
        Prop::ParentFolderId => {
            if let Some(id) = str_of(msg, "parentFolderId") {
                out.push_str(r#"<t:ParentFolderId Id=""#);
                xml::attr(out, &to_ews(id));
                out.push_str(r#""/>"#);
            }
        }
        Prop::ItemClass => out.push_str("<t:ItemClass>IPM.Note</t:ItemClass>"),
        Prop::Subject => string(out, "t:Subject", str_of(msg, "subject")),
        Prop::Body => body(out, "t:Body", msg.get("body"), false),
        Prop::UniqueBody => body(out, "t:UniqueBody", msg.get("uniqueBody"), false),
        Prop::TextBody => body(out, "t:TextBody", msg.get("body"), true),
        Prop::Attachments => attachments(out, msg.get("attachments")),
        Prop::DateTimeReceived => string(out, "t:DateTimeReceived", str_of(msg, "receivedDateTime")),
        Prop::Size => size(out, msg),
        Prop::Categories => categories(out, msg.get("categories")),
        Prop::Importance => {
            let value = match str_of(msg, "importance") {
                Some("low") => "Low",
                Some("high") => "High",
                Some(_) => "Normal",
                None => return,
            };
            xml::element(out, "t:Importance", value);
        }
        Prop::IsDraft => boolean(out, "t:IsDraft", msg.get("isDraft")),
        Prop::InternetMessageHeaders => headers(out, msg.get("internetMessageHeaders")),
        Prop::DateTimeSent => string(out, "t:DateTimeSent", str_of(msg, "sentDateTime")),
        Prop::DateTimeCreated => string(out, "t:DateTimeCreated", str_of(msg, "createdDateTime")),
        Prop::DisplayCc => display(out, "t:DisplayCc", msg.get("ccRecipients")),
        Prop::DisplayTo => display(out, "t:DisplayTo", msg.get("toRecipients")),
        Prop::HasAttachments => boolean(out, "t:HasAttachments", msg.get("hasAttachments")),
        Prop::Extended => {}
        Prop::LastModifiedTime => string(out, "t:LastModifiedTime", str_of(msg, "lastModifiedDateTime")),
        Prop::ConversationId => {
            if let Some(id) = str_of(msg, "conversationId") {
                out.push_str(r#"<t:ConversationId Id=""#);
                xml::attr(out, &to_ews(id));
                out.push_str(r#""/>"#);
            }
        }
        Prop::Flag => flag(out, msg.get("flag")),
        Prop::Preview => string(out, "t:Preview", str_of(msg, "bodyPreview")),
        Prop::InferenceClassification => {
            let value = match str_of(msg, "inferenceClassification") {
                Some("focused") => "Focused",
                Some("other") => "Other",
                _ => return,
            };
            xml::element(out, "t:InferenceClassification", value);
        }
        Prop::Sender => single_recipient(out, "t:Sender", msg.get("sender")),
        Prop::ToRecipients => recipients(out, "t:ToRecipients", msg.get("toRecipients")),
        Prop::CcRecipients => recipients(out, "t:CcRecipients", msg.get("ccRecipients")),
        Prop::BccRecipients => recipients(out, "t:BccRecipients", msg.get("bccRecipients")),
        Prop::IsReadReceiptRequested => boolean(out, "t:IsReadReceiptRequested", msg.get("isReadReceiptRequested")),
        Prop::IsDeliveryReceiptRequested => boolean(
            out,
            "t:IsDeliveryReceiptRequested",
            msg.get("isDeliveryReceiptRequested"),
        ),
        Prop::ConversationIndex => string(out, "t:ConversationIndex", str_of(msg, "conversationIndex")),
        Prop::From => single_recipient(out, "t:From", msg.get("from")),
        Prop::InternetMessageId => string(out, "t:InternetMessageId", str_of(msg, "internetMessageId")),
        Prop::IsRead => boolean(out, "t:IsRead", msg.get("isRead")),
        Prop::ReplyTo => recipients(out, "t:ReplyTo", msg.get("replyTo")),
    }
}

/// `t:ItemId` (or another element of `ItemIdType`) from Graph's `id` and `changeKey`.
pub fn item_id(out: &mut String, element: &str, msg: &Value) {
    let Some(id) = str_of(msg, "id").filter(|id| !id.is_empty()) else {
        return;
    };
    out.push_str(&format!(r#"<{element} Id=""#));
    xml::attr(out, &to_ews(id));
    out.push('"');
    if let Some(ck) = str_of(msg, "changeKey") {
        out.push_str(r#" ChangeKey=""#);
        xml::attr(out, ck);
        out.push('"');
    }
    out.push_str("/>");
}

fn string(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        xml::element(out, name, value);
    }
}

fn boolean(out: &mut String, name: &str, value: Option<&Value>) {
    if let Some(b) = value.and_then(Value::as_bool) {
        xml::element(out, name, if b { "true" } else { "false" });
    }
}

fn body(out: &mut String, name: &str, body: Option<&Value>, as_text: bool) {
    let Some(body) = body else { return };
    let content = str_of(body, "content").unwrap_or("");
    let is_html = str_of(body, "contentType").is_some_and(|t| t.eq_ignore_ascii_case("html"));
    let (kind, text) = match (as_text, is_html) {
        (true, true) => ("Text", html_to_text(content)),
        (false, true) => ("HTML", content.to_owned()),
        (_, false) => ("Text", content.to_owned()),
    };
    out.push_str(&format!(r#"<{name} BodyType="{kind}" IsTruncated="false">"#));
    xml::text(out, &text);
    out.push_str(&format!("</{name}>"));
}

fn size(out: &mut String, msg: &Value) {
    let value = extended_values(msg)
        .find(|(id, _)| same_graph_id(id, SIZE_PROPERTY))
        .map(|(_, v)| v);
    if let Some(size) = value.and_then(|v| v.parse::<i32>().ok()) {
        xml::element(out, "t:Size", &size.to_string());
    }
}

fn categories(out: &mut String, value: Option<&Value>) {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return;
    };
    out.push_str("<t:Categories>");
    for c in list.iter().filter_map(Value::as_str) {
        xml::element(out, "t:String", c);
    }
    out.push_str("</t:Categories>");
}

fn headers(out: &mut String, value: Option<&Value>) {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return;
    };
    out.push_str("<t:InternetMessageHeaders>");
    for h in list {
        out.push_str(r#"<t:InternetMessageHeader HeaderName=""#);
        xml::attr(out, str_of(h, "name").unwrap_or(""));
        out.push_str(r#"">"#);
        xml::text(out, str_of(h, "value").unwrap_or(""));
        out.push_str("</t:InternetMessageHeader>");
    }
    out.push_str("</t:InternetMessageHeaders>");
}

fn display(out: &mut String, name: &str, value: Option<&Value>) {
    let Some(list) = value.and_then(Value::as_array) else {
        return;
    };
    let names: Vec<&str> = list
        .iter()
        .filter_map(|r| {
            let e = r.get("emailAddress")?;
            str_of(e, "name")
                .filter(|n| !n.is_empty())
                .or_else(|| str_of(e, "address"))
        })
        .collect();
    xml::element(out, name, &names.join("; "));
}

fn flag(out: &mut String, value: Option<&Value>) {
    let status = match value.and_then(|f| str_of(f, "flagStatus")) {
        Some("flagged") => "Flagged",
        Some("complete") => "Complete",
        Some(_) => "NotFlagged",
        None => return,
    };
    out.push_str(&format!("<t:Flag><t:FlagStatus>{status}</t:FlagStatus></t:Flag>"));
}

fn mailbox(out: &mut String, recipient: &Value) {
    let Some(e) = recipient.get("emailAddress") else {
        return;
    };
    out.push_str("<t:Mailbox>");
    string(out, "t:Name", str_of(e, "name"));
    string(out, "t:EmailAddress", str_of(e, "address"));
    out.push_str("<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>");
}

fn single_recipient(out: &mut String, name: &str, value: Option<&Value>) {
    let Some(r) = value.filter(|v| v.get("emailAddress").is_some()) else {
        return;
    };
    out.push_str(&format!("<{name}>"));
    mailbox(out, r);
    out.push_str(&format!("</{name}>"));
}

fn recipients(out: &mut String, name: &str, value: Option<&Value>) {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return;
    };
    out.push_str(&format!("<{name}>"));
    for r in list {
        mailbox(out, r);
    }
    out.push_str(&format!("</{name}>"));
}

/// `(id, value)` pairs of Graph's `singleValueExtendedProperties`.
fn extended_values(msg: &Value) -> impl Iterator<Item = (&str, &str)> {
    msg.get("singleValueExtendedProperties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((str_of(p, "id")?, str_of(p, "value")?)))
}

/// The requested extended properties Graph returned. A blank string is how the gateway records
/// a deleted property (Graph cannot delete one value), so it reads as absent.
fn extended(out: &mut String, msg: &Value, sel: &Selection) {
    for prop in &sel.extended {
        let found = extended_values(msg).find(|(id, _)| same_graph_id(id, &prop.graph_id));
        let Some((_, value)) = found else { continue };
        if prop.field.ty == "String" && value.is_empty() {
            continue;
        }
        out.push_str("<t:ExtendedProperty>");
        extended_field_uri(out, &prop.field);
        xml::element(out, "t:Value", value);
        out.push_str("</t:ExtendedProperty>");
    }
}

/// `t:ExtendedFieldURI` with the attributes as the client sent them.
pub fn extended_field_uri(out: &mut String, f: &ExtendedField) {
    out.push_str("<t:ExtendedFieldURI");
    let attrs = [
        ("DistinguishedPropertySetId", &f.distinguished_set),
        ("PropertySetId", &f.set_id),
        ("PropertyTag", &f.tag),
        ("PropertyName", &f.name),
        ("PropertyId", &f.id),
    ];
    for (name, value) in attrs {
        if let Some(value) = value {
            out.push_str(&format!(r#" {name}=""#));
            xml::attr(out, value);
            out.push('"');
        }
    }
    out.push_str(r#" PropertyType=""#);
    xml::attr(out, &f.ty);
    out.push_str(r#""/>"#);
}

/// `t:Attachments` of a message from Graph's expanded `attachments` (metadata only).
fn attachments(out: &mut String, value: Option<&Value>) {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return;
    };
    out.push_str("<t:Attachments>");
    for a in list {
        let kind = attachment_kind(a);
        let element = match kind {
            AttachmentKind::Item => "t:ItemAttachment",
            AttachmentKind::Reference => "t:ReferenceAttachment",
            AttachmentKind::File => "t:FileAttachment",
        };
        out.push_str(&format!("<{element}>"));
        attachment_common(out, a);
        if kind == AttachmentKind::File {
            out.push_str("<t:IsContactPhoto>false</t:IsContactPhoto>");
        }
        out.push_str(&format!("</{element}>"));
    }
    out.push_str("</t:Attachments>");
}

/// Graph's attachment types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// `fileAttachment`.
    File,
    /// `itemAttachment`.
    Item,
    /// `referenceAttachment`.
    Reference,
}

impl AttachmentKind {
    /// The policy attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::File => "file",
            AttachmentKind::Item => "item",
            AttachmentKind::Reference => "reference",
        }
    }
}

/// The kind from `@odata.type`.
pub fn attachment_kind(a: &Value) -> AttachmentKind {
    match str_of(a, "@odata.type").unwrap_or("").to_ascii_lowercase().as_str() {
        "#microsoft.graph.itemattachment" => AttachmentKind::Item,
        "#microsoft.graph.referenceattachment" => AttachmentKind::Reference,
        _ => AttachmentKind::File,
    }
}

/// `AttachmentType` elements: id, name, content type and id, size, time, inline flag.
pub fn attachment_common(out: &mut String, a: &Value) {
    if let Some(id) = str_of(a, "id") {
        out.push_str(r#"<t:AttachmentId Id=""#);
        xml::attr(out, &to_ews(id));
        out.push_str(r#""/>"#);
    }
    string(out, "t:Name", str_of(a, "name"));
    string(out, "t:ContentType", str_of(a, "contentType"));
    string(out, "t:ContentId", str_of(a, "contentId"));
    if let Some(size) = a.get("size").and_then(Value::as_i64) {
        let size = i32::try_from(size).unwrap_or(i32::MAX);
        xml::element(out, "t:Size", &size.to_string());
    }
    string(out, "t:LastModifiedTime", str_of(a, "lastModifiedDateTime"));
    boolean(out, "t:IsInline", a.get("isInline"));
}

/// Plain text of an HTML body, as Exchange converts for `BodyType=Text` and `TextBody`:
/// tags dropped (script and style with their content), block ends as line breaks, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&decode_entities(&rest[..lt]));
        }
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        match skip_until {
            Some(end) if tag.starts_with('/') && name == end => skip_until = None,
            Some(_) => {}
            None if (name == "script" || name == "style") && !tag.starts_with('/') && !tag.ends_with('/') => {
                skip_until = Some(if name == "script" { "script" } else { "style" });
            }
            None if name == "br"
                || (tag.starts_with('/')
                    && matches!(name.as_str(), "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3")) =>
            {
                out.push_str("\r\n");
            }
            None => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    if skip_until.is_none() {
        out.push_str(&decode_entities(rest));
    }
    out.trim().to_owned()
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
