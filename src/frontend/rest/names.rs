//! The one mapping between Microsoft Graph's camelCase and Outlook REST v2.0's PascalCase:
//! static tables of property names, enum values and `@odata.type` names, applied recursively
//! to bodies, `$select`/`$expand`/`$filter` and `@odata.context` fragments, in both directions.
//!
//! Rules are scoped by the Graph name of the enclosing property, because the same Graph name
//! means different things in different places: `id` is `PropertyId` inside extended properties,
//! `contentType` is an enum only inside `body`, and the collection wrapper `value` keeps its
//! lowercase name at the top level only. A name missing from the tables follows REST's own rule
//! (first letter upper-cased), so a property Graph adds later still comes through.

use std::borrow::Cow;

use super::json::Json;

/// Where a rule applies, named by the Graph name of the enclosing property.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// Anywhere.
    Any,
    /// Only at the top level of a response body.
    Root,
    /// Only directly inside this property (or the elements of this array).
    Under(&'static str),
}

/// Graph property name ↔ REST v2.0 property name.
const NAMES: &[(Scope, &str, &str)] = &[
    (Scope::Root, "value", "value"),
    (Scope::Under("singleValueExtendedProperties"), "id", "PropertyId"),
    (Scope::Under("singleValueExtendedProperties"), "value", "Value"),
    (Scope::Under("multiValueExtendedProperties"), "id", "PropertyId"),
    (Scope::Under("multiValueExtendedProperties"), "value", "Value"),
    (Scope::Any, "id", "Id"),
    (Scope::Any, "createdDateTime", "CreatedDateTime"),
    (Scope::Any, "lastModifiedDateTime", "LastModifiedDateTime"),
    (Scope::Any, "changeKey", "ChangeKey"),
    (Scope::Any, "categories", "Categories"),
    (Scope::Any, "receivedDateTime", "ReceivedDateTime"),
    (Scope::Any, "sentDateTime", "SentDateTime"),
    (Scope::Any, "hasAttachments", "HasAttachments"),
    (Scope::Any, "internetMessageId", "InternetMessageId"),
    (Scope::Any, "internetMessageHeaders", "InternetMessageHeaders"),
    (Scope::Any, "subject", "Subject"),
    (Scope::Any, "body", "Body"),
    (Scope::Any, "uniqueBody", "UniqueBody"),
    (Scope::Any, "bodyPreview", "BodyPreview"),
    (Scope::Any, "importance", "Importance"),
    (Scope::Any, "parentFolderId", "ParentFolderId"),
    (Scope::Any, "sender", "Sender"),
    (Scope::Any, "from", "From"),
    (Scope::Any, "toRecipients", "ToRecipients"),
    (Scope::Any, "ccRecipients", "CcRecipients"),
    (Scope::Any, "bccRecipients", "BccRecipients"),
    (Scope::Any, "replyTo", "ReplyTo"),
    (Scope::Any, "conversationId", "ConversationId"),
    (Scope::Any, "conversationIndex", "ConversationIndex"),
    (Scope::Any, "isDeliveryReceiptRequested", "IsDeliveryReceiptRequested"),
    (Scope::Any, "isReadReceiptRequested", "IsReadReceiptRequested"),
    (Scope::Any, "isRead", "IsRead"),
    (Scope::Any, "isDraft", "IsDraft"),
    (Scope::Any, "webLink", "WebLink"),
    (Scope::Any, "inferenceClassification", "InferenceClassification"),
    (Scope::Any, "flag", "Flag"),
    (Scope::Any, "flagStatus", "FlagStatus"),
    (Scope::Any, "startDateTime", "StartDateTime"),
    (Scope::Any, "dueDateTime", "DueDateTime"),
    (Scope::Any, "completedDateTime", "CompletedDateTime"),
    (Scope::Any, "dateTime", "DateTime"),
    (Scope::Any, "timeZone", "TimeZone"),
    (Scope::Any, "emailAddress", "EmailAddress"),
    (Scope::Any, "name", "Name"),
    (Scope::Any, "address", "Address"),
    (Scope::Any, "contentType", "ContentType"),
    (Scope::Any, "content", "Content"),
    (Scope::Any, "attachments", "Attachments"),
    (Scope::Any, "extensions", "Extensions"),
    (
        Scope::Any,
        "singleValueExtendedProperties",
        "SingleValueExtendedProperties",
    ),
    (
        Scope::Any,
        "multiValueExtendedProperties",
        "MultiValueExtendedProperties",
    ),
    (Scope::Any, "size", "Size"),
    (Scope::Any, "isInline", "IsInline"),
    (Scope::Any, "contentId", "ContentId"),
    (Scope::Any, "contentLocation", "ContentLocation"),
    (Scope::Any, "contentBytes", "ContentBytes"),
    (Scope::Any, "item", "Item"),
    (Scope::Any, "sourceUrl", "SourceUrl"),
    (Scope::Any, "providerType", "ProviderType"),
    (Scope::Any, "thumbnailUrl", "ThumbnailUrl"),
    (Scope::Any, "previewUrl", "PreviewUrl"),
    (Scope::Any, "permission", "Permission"),
    (Scope::Any, "isFolder", "IsFolder"),
    (Scope::Any, "value", "Value"),
];

/// (scope, Graph property, Graph value, REST value): enum values REST spells differently.
const ENUMS: &[(Scope, &str, &str, &str)] = &[
    (Scope::Under("body"), "contentType", "html", "HTML"),
    (Scope::Under("body"), "contentType", "text", "Text"),
    (Scope::Under("uniqueBody"), "contentType", "html", "HTML"),
    (Scope::Under("uniqueBody"), "contentType", "text", "Text"),
    (Scope::Any, "importance", "low", "Low"),
    (Scope::Any, "importance", "normal", "Normal"),
    (Scope::Any, "importance", "high", "High"),
    (Scope::Any, "inferenceClassification", "focused", "Focused"),
    (Scope::Any, "inferenceClassification", "other", "Other"),
    (Scope::Under("flag"), "flagStatus", "notFlagged", "NotFlagged"),
    (Scope::Under("flag"), "flagStatus", "complete", "Complete"),
    (Scope::Under("flag"), "flagStatus", "flagged", "Flagged"),
    (Scope::Any, "providerType", "other", "Other"),
    (Scope::Any, "providerType", "oneDriveBusiness", "OneDriveBusiness"),
    (Scope::Any, "providerType", "oneDriveConsumer", "OneDriveConsumer"),
    (Scope::Any, "providerType", "dropbox", "Dropbox"),
    (Scope::Any, "permission", "other", "Other"),
    (Scope::Any, "permission", "view", "View"),
    (Scope::Any, "permission", "edit", "Edit"),
    (Scope::Any, "permission", "anonymousView", "AnonymousView"),
    (Scope::Any, "permission", "anonymousEdit", "AnonymousEdit"),
    (Scope::Any, "permission", "organizationView", "OrganizationView"),
    (Scope::Any, "permission", "organizationEdit", "OrganizationEdit"),
];

/// Graph type name ↔ REST type name (without `#`).
const TYPES: &[(&str, &str)] = &[
    ("microsoft.graph.message", "Microsoft.OutlookServices.Message"),
    ("microsoft.graph.eventMessage", "Microsoft.OutlookServices.EventMessage"),
    ("microsoft.graph.event", "Microsoft.OutlookServices.Event"),
    ("microsoft.graph.contact", "Microsoft.OutlookServices.Contact"),
    (
        "microsoft.graph.fileAttachment",
        "Microsoft.OutlookServices.FileAttachment",
    ),
    (
        "microsoft.graph.itemAttachment",
        "Microsoft.OutlookServices.ItemAttachment",
    ),
    (
        "microsoft.graph.referenceAttachment",
        "Microsoft.OutlookServices.ReferenceAttachment",
    ),
    (
        "microsoft.graph.singleValueLegacyExtendedProperty",
        "Microsoft.OutlookServices.SingleValueLegacyExtendedProperty",
    ),
];

const GRAPH_NAMESPACE: &str = "microsoft.graph.";
const REST_NAMESPACE: &str = "Microsoft.OutlookServices.";

/// Graph annotations REST v2.0 never sent.
const DROPPED_ANNOTATIONS: &[&str] = &["@odata.mediaContentType"];

/// The Graph name of the enclosing property; `None` at the top level.
pub(crate) type Parent<'a> = Option<&'a str>;

fn applies(scope: Scope, parent: Parent<'_>) -> bool {
    match scope {
        Scope::Any => true,
        Scope::Root => parent.is_none(),
        Scope::Under(p) => parent == Some(p),
    }
}

/// The REST name of a Graph property.
pub(crate) fn rest_name<'a>(parent: Parent<'_>, graph: &'a str) -> Cow<'a, str> {
    NAMES
        .iter()
        .find(|(scope, g, _)| *g == graph && applies(*scope, parent))
        .map_or_else(
            || change_first(graph, char::to_ascii_uppercase),
            |(_, _, r)| Cow::Borrowed(*r),
        )
}

/// The Graph name of a REST property (REST matched names case-insensitively).
pub(crate) fn graph_name<'a>(parent: Parent<'_>, rest: &'a str) -> Cow<'a, str> {
    NAMES
        .iter()
        .find(|(scope, _, r)| r.eq_ignore_ascii_case(rest) && applies(*scope, parent))
        .map_or_else(
            || change_first(rest, char::to_ascii_lowercase),
            |(_, g, _)| Cow::Borrowed(*g),
        )
}

/// The REST `@odata.type` (with or without `#`) of a Graph one.
pub(crate) fn rest_type(graph: &str) -> String {
    let (hash, name) = graph.strip_prefix('#').map_or(("", graph), |n| ("#", n));
    if let Some((_, r)) = TYPES.iter().find(|(g, _)| g.eq_ignore_ascii_case(name)) {
        return format!("{hash}{r}");
    }
    match name.strip_prefix(GRAPH_NAMESPACE) {
        Some(short) => format!(
            "{hash}{REST_NAMESPACE}{}",
            change_first(short, char::to_ascii_uppercase)
        ),
        None => graph.to_owned(),
    }
}

/// The Graph type name of a REST one (with or without `#`); names are matched case-insensitively.
pub(crate) fn graph_type(rest: &str) -> Option<String> {
    let (hash, name) = rest.strip_prefix('#').map_or(("", rest), |n| ("#", n));
    if let Some((g, _)) = TYPES.iter().find(|(_, r)| r.eq_ignore_ascii_case(name)) {
        return Some(format!("{hash}{g}"));
    }
    let prefix = name.get(..REST_NAMESPACE.len())?;
    prefix.eq_ignore_ascii_case(REST_NAMESPACE).then(|| {
        let short = &name[REST_NAMESPACE.len()..];
        format!(
            "{hash}{GRAPH_NAMESPACE}{}",
            change_first(short, char::to_ascii_lowercase)
        )
    })
}

fn rest_enum(parent: Parent<'_>, property: &str, value: &str) -> Option<&'static str> {
    ENUMS
        .iter()
        .find(|(scope, p, g, _)| *p == property && *g == value && applies(*scope, parent))
        .map(|(_, _, _, r)| *r)
}

fn graph_enum(parent: Parent<'_>, property: &str, value: &str) -> Option<&'static str> {
    ENUMS
        .iter()
        .find(|(scope, p, _, r)| *p == property && r.eq_ignore_ascii_case(value) && applies(*scope, parent))
        .map(|(_, _, g, _)| *g)
}

fn change_first(name: &str, change: fn(&char) -> char) -> Cow<'_, str> {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if change(&first) != first => Cow::Owned(std::iter::once(change(&first)).chain(chars).collect()),
        _ => Cow::Borrowed(name),
    }
}

/// Rewrites a Graph body into REST's shape; `context` turns Graph's `@odata.context` URLs
/// into the gateway's REST ones.
pub(crate) fn to_rest(json: Json, parent: Parent<'_>, context: &dyn Fn(&str) -> String) -> Json {
    match json {
        Json::Object(fields) => Json::Object(
            fields
                .into_iter()
                .filter(|(k, _)| !DROPPED_ANNOTATIONS.contains(&k.as_str()))
                .map(|(k, v)| rest_field(k, v, parent, context))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.into_iter().map(|v| to_rest(v, parent, context)).collect()),
        scalar => scalar,
    }
}

fn rest_field(key: String, value: Json, parent: Parent<'_>, context: &dyn Fn(&str) -> String) -> (String, Json) {
    if let Some(annotation) = key.strip_prefix('@') {
        let value = match (annotation, value.as_str()) {
            ("odata.type", Some(t)) => Json::string(rest_type(t)),
            ("odata.context", Some(c)) => Json::string(context(c)),
            _ => value,
        };
        return (key, value);
    }
    if let Some((property, annotation)) = key.split_once('@') {
        let value = match (annotation, value.as_str()) {
            ("odata.context", Some(c)) => Json::string(context(c)),
            _ => value,
        };
        return (format!("{}@{annotation}", rest_name(parent, property)), value);
    }
    let name = rest_name(parent, &key).into_owned();
    let value = match value.as_str().and_then(|v| rest_enum(parent, &key, v)) {
        Some(mapped) => Json::string(mapped),
        None => to_rest(value, Some(&key), context),
    };
    (name, value)
}

/// Rewrites a REST request body into Graph's shape.
pub(crate) fn to_graph(json: Json, parent: Parent<'_>) -> Json {
    match json {
        Json::Object(fields) => Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    if k == "@odata.type" {
                        let mapped = v.as_str().and_then(graph_type).map(Json::string);
                        return (k, mapped.unwrap_or(v));
                    }
                    let name = graph_name(parent, &k).into_owned();
                    let value = match v.as_str().and_then(|s| graph_enum(parent, &name, s)) {
                        Some(mapped) => Json::string(mapped),
                        None => to_graph(v, Some(&name)),
                    };
                    (name, value)
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.into_iter().map(|v| to_graph(v, parent)).collect()),
        scalar => scalar,
    }
}

/// The fragment of a Graph `@odata.context` (`users('…')/messages('…')/attachments/$entity`)
/// in REST's form (`Me/Messages('…')/Attachments/$entity`).
pub(crate) fn rest_context_fragment(graph_fragment: &str) -> String {
    let mut parent: Option<String> = None;
    let mut out = Vec::new();
    for segment in graph_fragment.split('/') {
        let (name, key) = segment.find('(').map_or((segment, ""), |i| segment.split_at(i));
        if name.eq_ignore_ascii_case("users") && out.is_empty() {
            out.push("Me".to_owned());
            continue;
        }
        if name.starts_with('$') {
            out.push(segment.to_owned());
            continue;
        }
        let key = match key.strip_prefix('(').and_then(|k| k.strip_suffix(')')) {
            // `(subject,body)` lists selected properties; `('…')` is a key, kept as is.
            Some(list) if !list.starts_with('\'') && !list.is_empty() => {
                let names: Vec<_> = list
                    .split(',')
                    .map(|n| rest_name(None, n.trim()).into_owned())
                    .collect();
                format!("({})", names.join(","))
            }
            _ => key.to_owned(),
        };
        let mapped = if name.contains('.') {
            rest_type(name)
        } else {
            rest_name(parent.as_deref(), name).into_owned()
        };
        out.push(format!("{mapped}{key}"));
        parent = Some(name.to_owned());
    }
    out.join("/")
}

/// A REST `$select` list in Graph's names.
pub(crate) fn graph_select(list: &str) -> String {
    list.split(',')
        .map(|n| graph_name(None, n.trim()).into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// A REST `$expand` value in Graph's names, including nested `$filter`/`$select`.
pub(crate) fn graph_expand(expand: &str) -> String {
    split_top_level(expand, ',')
        .into_iter()
        .map(|item| {
            let item = item.trim();
            let (path, options) = match item.find('(') {
                Some(i) => (&item[..i], Some(&item[i..])),
                None => (item, None),
            };
            let mut parent: Option<String> = None;
            let path: Vec<String> = path
                .trim()
                .split('/')
                .map(|segment| {
                    let mapped = graph_type(segment)
                        .unwrap_or_else(|| graph_name(parent.as_deref(), segment.trim()).into_owned());
                    parent = Some(mapped.clone());
                    mapped
                })
                .collect();
            let options = options.map(|o| graph_expand_options(o, parent.as_deref()));
            format!("{}{}", path.join("/"), options.unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn graph_expand_options(options: &str, parent: Parent<'_>) -> String {
    let inner = options
        .strip_prefix('(')
        .and_then(|o| o.strip_suffix(')'))
        .unwrap_or(options);
    let translated: Vec<String> = split_top_level(inner, ';')
        .into_iter()
        .map(|option| match option.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("$filter") => {
                format!("{}={}", key.trim(), graph_filter(value, parent))
            }
            Some((key, value)) if key.trim().eq_ignore_ascii_case("$select") => {
                let names: Vec<_> = value
                    .split(',')
                    .map(|n| graph_name(parent, n.trim()).into_owned())
                    .collect();
                format!("{}={}", key.trim(), names.join(","))
            }
            _ => option.to_owned(),
        })
        .collect();
    format!("({})", translated.join(";"))
}

/// OData words that are never property names.
const FILTER_KEYWORDS: &[&str] = &[
    "eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "true", "false", "null", "any", "all",
];

/// A `$filter` with property names (outside quoted literals) in Graph's names.
pub(crate) fn graph_filter(filter: &str, parent: Parent<'_>) -> String {
    let mut out = String::with_capacity(filter.len());
    let mut word = String::new();
    let mut quoted = false;
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            let is_keyword = FILTER_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word));
            match is_keyword {
                true => out.push_str(word),
                false => out.push_str(&graph_name(parent, word)),
            }
            word.clear();
        }
    };
    for c in filter.chars() {
        if quoted {
            out.push(c);
            quoted = c != '\'';
        } else if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
            quoted = c == '\'';
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Splits on `sep` outside parentheses and single-quoted strings.
pub(crate) fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests;
