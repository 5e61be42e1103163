//! Authorization: may this caller do this to this message or attachment? Pure, deny by default.
//! (Interface skeleton: allows every request until the policy engine is in place.)

use crate::{auth::Caller, config::Config};

/// The front end a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// EWS SOAP.
    Ews,
    /// Outlook REST v2.0.
    Rest,
    /// Graph-shaped.
    Graph,
}

/// What the gateway is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read an item's properties (not its body).
    ReadItem,
    /// Read an item's body.
    ReadBody,
    /// Read internet message headers.
    ReadHeaders,
    /// Read the MIME content.
    ReadMime,
    /// Read an attachment.
    ReadAttachment,
    /// Write an extended property.
    WriteExtendedProperty,
    /// Convert an id between formats.
    ConvertId,
}

/// What the action is done to, with the attributes a rule may need.
#[derive(Debug, Clone, Default)]
pub struct Resource {
    /// `message` or `attachment`.
    pub kind: ResourceKind,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Attachment content type.
    pub content_type: Option<String>,
    /// Attachment is inline.
    pub is_inline: Option<bool>,
    /// Attachment kind: `file`, `item` or `reference`.
    pub attachment_kind: Option<String>,
    /// Attachment file name.
    pub name: Option<String>,
    /// For property writes: the property set (`InternetHeaders`, `PublicStrings`, or a GUID).
    pub property_set: Option<String>,
    /// For property writes: the property name.
    pub property_name: Option<String>,
}

/// Kinds of resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResourceKind {
    /// A message.
    #[default]
    Message,
    /// An attachment.
    Attachment,
}

/// The outcome of one authorization question.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Ids of the policies that decided (for logs).
    pub policies: Vec<String>,
}

/// Evaluates the loaded policy set.
pub struct PolicyEngine;

impl PolicyEngine {
    /// Loads the configured policies.
    pub fn load(_config: &Config) -> Result<PolicyEngine, Vec<String>> {
        Ok(PolicyEngine)
    }

    /// Decides one request; never does I/O.
    pub fn authorize(&self, _caller: &Caller, _action: Action, _resource: &Resource, _front_end: FrontEnd) -> Decision {
        Decision {
            allowed: true,
            policies: Vec::new(),
        }
    }
}
