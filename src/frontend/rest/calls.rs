//! The Graph calls behind the REST v2.0 and Graph-shaped front ends, with their policy checks.
//!
//! Both front ends serve the same operations (message, `$value`, attachments, extended
//! property writes) on the caller's own mailbox; this module obtains the Graph token, asks the
//! policy before every Graph call, and hands Graph's answer back in Graph's shape. Turning a
//! [`Failure`] into a response is each front end's business (its own error shape).

use axum::http::{HeaderName, HeaderValue, Method};
use bytes::Bytes;
use secrecy::ExposeSecret;

use super::json::Json;
use crate::{
    auth::Caller,
    graph::{GraphError, GraphRequest, GraphResponse},
    obo::{GraphToken, OboError},
    policy::{Action, FrontEnd, Resource, ResourceKind},
    state::AppState,
};

/// The request header a client chooses Graph's answer format with.
pub(crate) const PREFER: HeaderName = HeaderName::from_static("prefer");

/// Attachment properties read before an attachment is served: enough for the policy, never the
/// content (which may be tens of MB and is streamed separately).
const ATTACHMENT_METADATA: &str = "id,lastModifiedDateTime,name,contentType,size,isInline,contentId,contentLocation";

/// The `$expand` that includes an item attachment's item.
pub(crate) const ITEM_EXPAND: &str = "microsoft.graph.itemAttachment/item";

/// PS_INTERNET_HEADERS and PS_PUBLIC_STRINGS, the property sets policies name.
const WELL_KNOWN_SETS: &[(&str, &str)] = &[
    ("00020386-0000-0000-C000-000000000046", "InternetHeaders"),
    ("00020329-0000-0000-C000-000000000046", "PublicStrings"),
];

/// Why an operation did not produce a Graph answer to relay.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No Graph token could be had.
    Obo(OboError),
    /// The policy refused `action`.
    Denied(Action),
    /// The request is malformed (`code` is Outlook's error code).
    BadRequest {
        /// Outlook/Graph error code.
        code: &'static str,
        /// Human explanation.
        message: String,
    },
    /// Graph did not answer.
    Graph(GraphError),
    /// Graph answered with an error status (boxed: it is large and rare).
    Upstream(Box<GraphResponse>),
    /// The caller or its tenant is over the configured request rate.
    RateLimited(crate::limits::RateLimited),
}

/// The caller's mailbox with a Graph token in hand.
pub(crate) struct Mailbox<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    request_id: &'a str,
    front_end: FrontEnd,
    token: std::sync::Arc<GraphToken>,
    mailbox: String,
}

// === impl Failure ===

impl Failure {
    /// A 400 with Outlook's `code`.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Failure {
        Failure::BadRequest {
            code,
            message: message.into(),
        }
    }
}

// === impl Mailbox ===

impl<'a> Mailbox<'a> {
    /// Exchanges the caller's token on-behalf-of (cached) for Graph.
    pub(crate) async fn open(
        state: &'a AppState,
        caller: &'a Caller,
        request_id: &'a str,
        front_end: FrontEnd,
    ) -> Result<Mailbox<'a>, Failure> {
        state.limits.check(caller).await.map_err(Failure::RateLimited)?;
        let token = state.obo.graph_token(caller, None).await.map_err(Failure::Obo)?;
        Ok(Mailbox {
            state,
            caller,
            request_id,
            front_end,
            token,
            mailbox: caller.mailbox_key(),
        })
    }

    /// Asks the policy; a denial is logged with the deciding policies.
    pub(crate) fn authorize(&self, action: Action, resource: &Resource) -> Result<(), Failure> {
        let decision = self
            .state
            .policy
            .authorize(self.caller, action, resource, self.front_end);
        if decision.allowed {
            return Ok(());
        }
        tracing::info!(
            client_request_id = %self.request_id, tenant = %self.caller.tenant_id, ?action,
            front_end = ?self.front_end, policies = ?decision.policies, "policy denied the request"
        );
        Err(Failure::Denied(action))
    }

    /// Whether the policy allows `action` on `resource` (no error, for filtering lists).
    pub(crate) fn allows(&self, action: Action, resource: &Resource) -> bool {
        self.authorize(action, resource).is_ok()
    }

    /// Drops, from the array `key` of a Graph object (`value` of a list, `attachments` of a
    /// message with `$expand=attachments`), the attachments the caller may not read.
    pub(crate) fn keep_readable_attachments(&self, json: &mut Json, key: &str) {
        let Some(fields) = json.fields_mut() else {
            return;
        };
        if let Some((_, Json::Array(items))) = fields.iter_mut().find(|(k, _)| k == key) {
            items.retain(|item| self.allows(Action::ReadAttachment, &attachment_resource(item)));
        }
    }

    /// Sends one call; a non-2xx answer is a [`Failure::Upstream`].
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Option<Bytes>,
    ) -> Result<GraphResponse, Failure> {
        let mut request = GraphRequest::new(
            method,
            path_and_query,
            self.token.access_token.expose_secret(),
            &self.mailbox,
            self.request_id,
        );
        request.headers = headers;
        if let Some(body) = body {
            request = request.json_body(body);
        }
        let response = self.state.graph.send(request).await.map_err(Failure::Graph)?;
        match response.status.is_success() {
            true => Ok(response),
            false => Err(Failure::Upstream(Box::new(response))),
        }
    }

    /// A GET forwarding the caller's `Prefer` headers.
    pub(crate) async fn get(&self, path_and_query: &str, prefer: &[HeaderValue]) -> Result<GraphResponse, Failure> {
        let headers = prefer.iter().map(|v| (PREFER, v.clone())).collect();
        self.send(Method::GET, path_and_query, headers, None).await
    }

    /// The JSON body of a GET.
    pub(crate) async fn get_json(&self, path_and_query: &str, prefer: &[HeaderValue]) -> Result<Json, Failure> {
        let response = self.get(path_and_query, prefer).await?;
        read_json(response).await
    }

    /// An attachment's metadata (never its content) and the policy resource it describes;
    /// `expand_item` includes an item attachment's item.
    pub(crate) async fn attachment_metadata(
        &self,
        message: &str,
        attachment: &str,
        expand_item: bool,
        prefer: &[HeaderValue],
    ) -> Result<(Json, Resource), Failure> {
        let expand = if expand_item {
            format!("&$expand={ITEM_EXPAND}")
        } else {
            String::new()
        };
        let path = format!("/me/messages/{message}/attachments/{attachment}?$select={ATTACHMENT_METADATA}{expand}");
        let json = self.get_json(&path, prefer).await?;
        let resource = attachment_resource(&json);
        Ok((json, resource))
    }
}

/// Reads a Graph JSON body.
pub(crate) async fn read_json(response: GraphResponse) -> Result<Json, Failure> {
    let bytes = response.bytes().await.map_err(Failure::Graph)?;
    Json::parse(&bytes).map_err(|e| Failure::Graph(GraphError::Decode(e)))
}

/// The policy resource of a Graph attachment object.
pub(crate) fn attachment_resource(json: &Json) -> Resource {
    let kind = json.get("@odata.type").and_then(Json::as_str).map(|t| {
        let t = t.to_ascii_lowercase();
        match () {
            _ if t.ends_with("itemattachment") => "item",
            _ if t.ends_with("referenceattachment") => "reference",
            _ => "file",
        }
    });
    let scalar = |key: &str| match json.get(key) {
        Some(Json::Scalar(v)) => Some(v.clone()),
        _ => None,
    };
    Resource {
        kind: ResourceKind::Attachment,
        size: scalar("size").and_then(|v| v.as_u64()),
        content_type: scalar("contentType").and_then(|v| v.as_str().map(str::to_owned)),
        is_inline: scalar("isInline").and_then(|v| v.as_bool()),
        attachment_kind: kind.map(str::to_owned),
        name: scalar("name").and_then(|v| v.as_str().map(str::to_owned)),
        ..Resource::default()
    }
}

/// The policy resource of writing the extended property `id` (Graph's id string, e.g.
/// `String {00020329-0000-0000-C000-000000000046} Name Color` or `String 0x007D`).
pub(crate) fn property_resource(id: &str) -> Resource {
    let mut words = id.split_whitespace();
    let _type = words.next();
    let (set, name) = match words.next() {
        Some(guid) if guid.starts_with('{') => {
            let guid = guid.trim_matches(|c| c == '{' || c == '}').to_ascii_uppercase();
            let set = WELL_KNOWN_SETS
                .iter()
                .find(|(g, _)| *g == guid)
                .map_or(guid.clone(), |(_, s)| (*s).to_owned());
            let _kind = words.next();
            let name = words.collect::<Vec<_>>().join(" ");
            (Some(set), (!name.is_empty()).then_some(name))
        }
        Some(tag) => (None, Some(tag.to_owned())),
        None => (None, None),
    };
    Resource {
        kind: ResourceKind::Message,
        property_set: set,
        property_name: name,
        ..Resource::default()
    }
}

/// The actions a message GET needs, from its Graph `$select` and `$expand`.
pub(crate) fn message_actions(select: Option<&str>, expand: Option<&str>) -> Vec<Action> {
    let selected = |names: &[&str]| {
        select.is_none_or(|s| {
            s.split(',')
                .any(|item| names.iter().any(|n| item.trim().eq_ignore_ascii_case(n)))
        })
    };
    let mut actions = vec![Action::ReadItem];
    if selected(&["body", "uniqueBody", "bodyPreview", "*"]) {
        actions.push(Action::ReadBody);
    }
    let expand = expand.unwrap_or("").to_ascii_lowercase();
    let headers_selected = select.is_some_and(|s| s.to_ascii_lowercase().contains("internetmessageheaders"));
    // PR_TRANSPORT_MESSAGE_HEADERS holds the full header block.
    if headers_selected || expand.contains("0x007d") {
        actions.push(Action::ReadHeaders);
    }
    actions
}

/// Whether a Graph `$expand` includes the message's attachments (each is then checked alone).
pub(crate) fn expands_attachments(expand: Option<&str>) -> bool {
    expand.is_some_and(|e| {
        super::names::split_top_level(e, ',')
            .iter()
            .any(|item| item.trim().to_ascii_lowercase().starts_with("attachments"))
    })
}

/// The extended properties a Graph PATCH body sets, validated: only
/// `singleValueExtendedProperties` (and an `@odata.type` of message) may be written.
pub(crate) fn patched_properties(body: &Json) -> Result<Vec<String>, Failure> {
    let Json::Object(fields) = body else {
        return Err(Failure::bad_request(
            "ErrorInvalidRequest",
            "The request body must be a JSON object.",
        ));
    };
    let mut ids = Vec::new();
    for (key, value) in fields {
        match key.as_str() {
            "@odata.type"
                if value
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("#microsoft.graph.message")) => {}
            "singleValueExtendedProperties" => ids.extend(single_value_ids(value)?),
            other => {
                return Err(Failure::bad_request(
                    "ErrorInvalidRequest",
                    format!("Only SingleValueExtendedProperties can be changed through this gateway, not '{other}'."),
                ));
            }
        }
    }
    if ids.is_empty() {
        return Err(Failure::bad_request(
            "ErrorInvalidRequest",
            "The request sets no SingleValueExtendedProperties.",
        ));
    }
    Ok(ids)
}

fn single_value_ids(value: &Json) -> Result<Vec<String>, Failure> {
    let invalid = || {
        Failure::bad_request(
            "ErrorInvalidExtendedProperty",
            "Each extended property needs a string PropertyId and a string Value.",
        )
    };
    let Json::Array(items) = value else {
        return Err(invalid());
    };
    items
        .iter()
        .map(|item| {
            let id = item.get("id").and_then(Json::as_str).ok_or_else(invalid)?;
            item.get("value").and_then(Json::as_str).ok_or_else(invalid)?;
            Ok(id.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_ids_name_their_set_and_property() {
        let r = property_resource("String {00020329-0000-0000-c000-000000000046} Name Color");
        assert_eq!(r.property_set.as_deref(), Some("PublicStrings"));
        assert_eq!(r.property_name.as_deref(), Some("Color"));
        let r = property_resource("String {00020386-0000-0000-C000-000000000046} Name X-My Tag");
        assert_eq!(r.property_set.as_deref(), Some("InternetHeaders"));
        assert_eq!(r.property_name.as_deref(), Some("X-My Tag"));
        let r = property_resource("Integer {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Id 0x8012");
        assert_eq!(r.property_set.as_deref(), Some("8ECCC264-6880-4EBE-992F-8888D2EEAA1D"));
        assert_eq!(r.property_name.as_deref(), Some("0x8012"));
        let r = property_resource("String 0x007D");
        assert_eq!((r.property_set, r.property_name.as_deref()), (None, Some("0x007D")));
    }

    #[test]
    fn message_actions_follow_what_is_read() {
        use Action::*;
        assert_eq!(message_actions(None, None), vec![ReadItem, ReadBody]);
        assert_eq!(message_actions(Some("subject,sender"), None), vec![ReadItem]);
        assert_eq!(
            message_actions(Some("internetMessageHeaders"), None),
            vec![ReadItem, ReadHeaders]
        );
        let expand = "singleValueExtendedProperties($filter=id eq 'String 0x007D')";
        assert_eq!(
            message_actions(Some("subject"), Some(expand)),
            vec![ReadItem, ReadHeaders]
        );
        assert_eq!(message_actions(Some("id"), Some("attachments")), vec![ReadItem]);
        assert!(expands_attachments(Some(
            "singleValueExtendedProperties,Attachments($select=name)"
        )));
        assert!(!expands_attachments(Some(
            "singleValueExtendedProperties($filter=id eq 'attachments')"
        )));
    }

    #[test]
    fn only_extended_properties_may_be_patched() {
        let ok = Json::parse(
            br##"{"@odata.type":"#microsoft.graph.message","singleValueExtendedProperties":[{"id":"String 0x1","value":"v"}]}"##,
        )
        .unwrap();
        assert_eq!(patched_properties(&ok).unwrap(), vec!["String 0x1".to_owned()]);
        for bad in [
            &br#"{"subject":"x"}"#[..],
            br#"{"singleValueExtendedProperties":[{"id":"String 0x1","value":3}]}"#,
            br#"{"singleValueExtendedProperties":[]}"#,
            br#"[1]"#,
        ] {
            let json = Json::parse(bad).unwrap();
            assert!(matches!(patched_properties(&json), Err(Failure::BadRequest { .. })));
        }
    }

    #[test]
    fn attachment_resources_carry_what_policies_match_on() {
        let json = Json::parse(
            br##"{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.pdf","contentType":"application/pdf","size":12,"isInline":false}"##,
        )
        .unwrap();
        let r = attachment_resource(&json);
        assert_eq!(r.kind, ResourceKind::Attachment);
        assert_eq!(r.attachment_kind.as_deref(), Some("file"));
        assert_eq!(r.size, Some(12));
        assert_eq!(r.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(r.is_inline, Some(false));
        assert_eq!(r.name.as_deref(), Some("a.pdf"));
    }
}
