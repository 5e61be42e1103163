//! The in-memory mailboxes: messages, attachments and the mutable state PATCH changes.

use std::sync::Arc;

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::extprops::PropId;
use super::files::Content;
use crate::ids::{AttachmentId, ExchangeId, ItemId};
use crate::seed::SeedUser;

/// A display name and SMTP address.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) name: String,
    pub(crate) address: String,
}

impl Person {
    pub(crate) fn new(name: &str, address: &str) -> Person {
        Person {
            name: name.to_owned(),
            address: address.to_owned(),
        }
    }
}

/// Format of a body as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Html,
    Text,
}

impl BodyKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BodyKind::Html => "html",
            BodyKind::Text => "text",
        }
    }
}

/// A body in its native format.
#[derive(Debug, Clone)]
pub(crate) struct MessageBody {
    pub(crate) kind: BodyKind,
    pub(crate) content: String,
}

/// What a message says, shared by mailbox messages and messages attached to them.
#[derive(Debug)]
pub(crate) struct MessageData {
    pub(crate) subject: String,
    pub(crate) from: Person,
    pub(crate) to: Vec<Person>,
    pub(crate) cc: Vec<Person>,
    pub(crate) reply_to: Vec<Person>,
    pub(crate) sent: OffsetDateTime,
    pub(crate) received: OffsetDateTime,
    pub(crate) body: MessageBody,
    /// The part of the body that is new in this message (no quoted history).
    pub(crate) unique_body: MessageBody,
    pub(crate) importance: &'static str,
    pub(crate) internet_message_id: String,
    pub(crate) conversation_id: String,
    pub(crate) conversation_index: String,
    /// Transport headers in order, values already MIME-encoded (ASCII), ending with the
    /// top-level `Content-Type` and `MIME-Version`.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) attachments: Vec<Attachment>,
    /// Seed for MIME boundaries and other per-message text.
    pub(crate) boundary_tag: String,
}

impl MessageData {
    /// Attachments shown as attachments (not inline images, which Outlook hides).
    pub(crate) fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline())
    }
}

/// One attachment of a message.
#[derive(Debug)]
pub(crate) struct Attachment {
    /// Attachment key (the last level of its id).
    pub(crate) key: Vec<u8>,
    pub(crate) name: String,
    pub(crate) last_modified: OffsetDateTime,
    pub(crate) kind: AttachmentKind,
}

/// The three attachment types of Graph v1.0.
#[derive(Debug)]
pub(crate) enum AttachmentKind {
    File {
        content_type: String,
        content: Content,
        is_inline: bool,
        content_id: Option<String>,
    },
    /// An attached email.
    Item { message: Arc<MessageData> },
    /// A link to a file in OneDrive/SharePoint; has no bytes in the store.
    Reference { content_type: String },
}

impl Attachment {
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self.kind, AttachmentKind::File { is_inline: true, .. })
    }

    /// `file`, `item` or `reference`.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            AttachmentKind::File { .. } => "file",
            AttachmentKind::Item { .. } => "item",
            AttachmentKind::Reference { .. } => "reference",
        }
    }
}

/// Flag state of a message (`notFlagged`, `flagged`, `complete`).
#[derive(Debug, Clone)]
pub(crate) struct FlagState {
    pub(crate) status: String,
}

/// What PATCH can change.
#[derive(Debug, Clone)]
pub(crate) struct MessageState {
    pub(crate) change_counter: u64,
    pub(crate) last_modified: OffsetDateTime,
    pub(crate) is_read: bool,
    pub(crate) categories: Vec<String>,
    pub(crate) flag: FlagState,
    pub(crate) importance: String,
    pub(crate) inference: String,
    pub(crate) single: Vec<(PropId, String)>,
    pub(crate) multi: Vec<(PropId, Vec<String>)>,
}

/// A message in a mailbox: its ids, content and mutable state.
#[derive(Debug)]
pub(crate) struct StoredMessage {
    pub(crate) item: ItemId,
    pub(crate) rest_id: String,
    pub(crate) ews_id: String,
    pub(crate) parent_folder_id: String,
    pub(crate) created: OffsetDateTime,
    pub(crate) data: Arc<MessageData>,
    pub(crate) state: Mutex<MessageState>,
}

impl StoredMessage {
    /// REST id of one of this message's attachments.
    pub(crate) fn attachment_id(&self, attachment: &Attachment) -> AttachmentId {
        AttachmentId::new(self.item.clone(), vec![attachment.key.clone()])
    }

    /// The attachment a decoded id names, if it is one of this message's (first level only).
    pub(crate) fn attachment(&self, id: &AttachmentId) -> Option<&Attachment> {
        if !same_item(id.item(), &self.item) || id.levels().len() != 1 {
            return None;
        }
        self.data.attachments.iter().find(|a| a.key == id.levels()[0])
    }
}

/// One user's mailbox.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) user: SeedUser,
    pub(crate) messages: Vec<Arc<StoredMessage>>,
}

impl Mailbox {
    /// The message a decoded id names, if it is in this mailbox.
    pub(crate) fn message(&self, id: &ExchangeId) -> Option<&Arc<StoredMessage>> {
        let ExchangeId::Item(item) = id else {
            return None;
        };
        self.messages.iter().find(|m| same_item(&m.item, item))
    }
}

/// Mailbox GUIDs compare case-insensitively (Exchange accepts either case), store ids exactly.
fn same_item(a: &ItemId, b: &ItemId) -> bool {
    a.mailbox_guid().eq_ignore_ascii_case(b.mailbox_guid()) && a.store_id() == b.store_id()
}
