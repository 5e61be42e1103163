//! Exchange item and attachment ids: parsing, validation and the EWS ↔ REST conversion.
//!
//! An EWS item id is standard base64 (with padding) of:
//!
//! ```text
//! 0x00 0x03                      header
//! u16 LE length, ASCII bytes     mailbox GUID (36 characters)
//! 0x00                           separator
//! u16 LE length, bytes           store object id
//! ```
//!
//! An attachment id is its item id's bytes followed by a level count byte and, per level, a
//! u16 LE length and that level's attachment key. REST (Graph, Outlook REST) ids are the same
//! string with `/` → `-` and `+` → `_`, exactly what Office.js `convertToRestId` does.
//!
//! Format detection: an id containing `/` or `+` is EWS, one containing `-` or `_` is REST, one
//! containing both kinds is malformed. An id with none of these four characters reads the same
//! in both forms; it is reported as REST, the form Graph and Outlook on mobile hand out.

use base64::{Engine, engine::general_purpose::STANDARD};

/// Length of a GUID in its 8-4-4-4-12 text form.
const GUID_TEXT_LEN: usize = 36;

/// Which alphabet an id was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// EWS form: standard base64 with `/` and `+`.
    Ews,
    /// REST/Graph form: `-` instead of `/`, `_` instead of `+`.
    Rest,
}

impl IdFormat {
    /// `"ews"` or `"rest"`, as `ids inspect` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            IdFormat::Ews => "ews",
            IdFormat::Rest => "rest",
        }
    }
}

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A mailbox item (a message).
    Item,
    /// An attachment, possibly nested inside attached items.
    Attachment,
}

impl IdKind {
    /// `"item"` or `"attachment"`, as `ids inspect` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Item => "item",
            IdKind::Attachment => "attachment",
        }
    }
}

/// A part of the binary id layout, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    /// The two header bytes.
    Header,
    /// The length of the mailbox GUID.
    MailboxGuidLength,
    /// The mailbox GUID text.
    MailboxGuid,
    /// The zero byte between the GUID and the store id.
    Separator,
    /// The length of the store object id.
    StoreIdLength,
    /// The store object id.
    StoreId,
    /// The attachment level count.
    AttachmentCount,
    /// The key length of attachment level N (1-based).
    AttachmentKeyLength(usize),
    /// The key of attachment level N (1-based).
    AttachmentKey(usize),
}

impl std::fmt::Display for IdField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdField::Header => f.write_str("header"),
            IdField::MailboxGuidLength => f.write_str("mailbox GUID length"),
            IdField::MailboxGuid => f.write_str("mailbox GUID"),
            IdField::Separator => f.write_str("separator"),
            IdField::StoreIdLength => f.write_str("store id length"),
            IdField::StoreId => f.write_str("store id"),
            IdField::AttachmentCount => f.write_str("attachment count"),
            IdField::AttachmentKeyLength(level) => write!(f, "attachment level {level} key length"),
            IdField::AttachmentKey(level) => write!(f, "attachment level {level} key"),
        }
    }
}

/// Why a string is not a well-formed Exchange id. Every variant is "malformed id" to a client
/// (`ErrorInvalidIdMalformed`); the detail is for logs and `ids inspect`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is the empty string.
    #[error("id is empty")]
    Empty,
    /// Both EWS (`/`, `+`) and REST (`-`, `_`) characters occur.
    #[error("id mixes EWS characters ('/', '+') with REST characters ('-', '_')")]
    MixedForms,
    /// The text is not valid padded base64.
    #[error("not base64: {0}")]
    NotBase64(#[source] base64::DecodeError),
    /// The bytes end before a fixed-size field.
    #[error("too short: {len} bytes, {field} expected at offset {offset}")]
    TooShort {
        /// Decoded length.
        len: usize,
        /// The missing field.
        field: IdField,
        /// Where it should start.
        offset: usize,
    },
    /// A fixed byte has the wrong value.
    #[error("unexpected {field} byte 0x{found:02x} at offset {offset} (expected 0x{expected:02x})")]
    UnexpectedByte {
        /// The field the byte belongs to.
        field: IdField,
        /// The byte found.
        found: u8,
        /// The byte required.
        expected: u8,
        /// Its offset in the decoded bytes.
        offset: usize,
    },
    /// The mailbox GUID length is not 36.
    #[error("mailbox GUID length {0} (expected 36)")]
    GuidLength(usize),
    /// The mailbox GUID bytes are not ASCII.
    #[error("mailbox GUID is not ASCII")]
    GuidNotAscii,
    /// The mailbox GUID is ASCII but not a GUID.
    #[error("mailbox GUID {0:?} is not a GUID")]
    NotAGuid(String),
    /// A length field points past the end of the id.
    #[error("{field} field says {declared} but only {remaining} bytes remain")]
    LengthOverrun {
        /// The field whose length overruns.
        field: IdField,
        /// The declared length.
        declared: usize,
        /// Bytes left after the length field.
        remaining: usize,
    },
    /// A variable-length field has length zero.
    #[error("{0} is empty")]
    EmptyField(IdField),
    /// The attachment level count is zero.
    #[error("attachment count 0")]
    ZeroAttachmentCount,
    /// Bytes remain after the last attachment key.
    #[error("{0} trailing bytes after the last attachment key")]
    TrailingBytes(usize),
}

/// A parsed, validated Exchange item or attachment id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeId {
    format: IdFormat,
    bytes: Vec<u8>,
    /// Length of the item part of `bytes` (all of it for an item id).
    item_len: usize,
    mailbox_guid: String,
    store_id: std::ops::Range<usize>,
    /// Attachment keys, outermost level first; empty for an item id.
    attachment_keys: Vec<std::ops::Range<usize>>,
}

// === impl ExchangeId ===

impl ExchangeId {
    /// Parses an id in EWS or REST form and validates its whole binary layout.
    pub fn parse(id: &str) -> Result<ExchangeId, IdError> {
        let format = detect_format(id)?;
        let ews = match format {
            IdFormat::Ews => std::borrow::Cow::Borrowed(id),
            IdFormat::Rest => std::borrow::Cow::Owned(to_ews(id)),
        };
        let bytes = STANDARD.decode(ews.as_bytes()).map_err(IdError::NotBase64)?;
        let layout = Layout::read(&bytes)?;
        Ok(ExchangeId {
            format,
            item_len: layout.item_len,
            mailbox_guid: layout.mailbox_guid,
            store_id: layout.store_id,
            attachment_keys: layout.attachment_keys,
            bytes,
        })
    }

    /// The form the id was written in.
    pub fn format(&self) -> IdFormat {
        self.format
    }

    /// Item or attachment.
    pub fn kind(&self) -> IdKind {
        if self.attachment_keys.is_empty() {
            IdKind::Item
        } else {
            IdKind::Attachment
        }
    }

    /// The mailbox GUID, as written in the id.
    pub fn mailbox_guid(&self) -> &str {
        &self.mailbox_guid
    }

    /// The store object id bytes.
    pub fn store_id(&self) -> &[u8] {
        &self.bytes[self.store_id.clone()]
    }

    /// Attachment keys, outermost first (empty for an item id).
    pub fn attachment_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.attachment_keys.iter().map(|r| &self.bytes[r.clone()])
    }

    /// Nesting depth of an attachment id; 0 for an item id.
    pub fn attachment_levels(&self) -> usize {
        self.attachment_keys.len()
    }

    /// The id of the item (for an attachment: the message it belongs to), EWS form.
    pub fn item_ews_id(&self) -> String {
        STANDARD.encode(&self.bytes[..self.item_len])
    }

    /// The id of the item (for an attachment: the message it belongs to), REST form.
    pub fn item_rest_id(&self) -> String {
        to_rest(&self.item_ews_id())
    }

    /// The whole id, EWS form.
    pub fn ews_id(&self) -> String {
        STANDARD.encode(&self.bytes)
    }

    /// The whole id, REST form.
    pub fn rest_id(&self) -> String {
        to_rest(&self.ews_id())
    }
}

impl std::str::FromStr for ExchangeId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExchangeId::parse(s)
    }
}

/// EWS → REST form, exactly as Office.js `convertToRestId`: `/` → `-`, `+` → `_`.
pub fn to_rest(ews: &str) -> String {
    ews.chars()
        .map(|c| match c {
            '/' => '-',
            '+' => '_',
            other => other,
        })
        .collect()
}

/// REST → EWS form, exactly as Office.js `convertToEwsId`: `-` → `/`, `_` → `+`.
pub fn to_ews(rest: &str) -> String {
    rest.chars()
        .map(|c| match c {
            '-' => '/',
            '_' => '+',
            other => other,
        })
        .collect()
}

/// What `naa-gateway ids inspect ID` prints: format, kind, mailbox GUID, the item's ids in
/// both forms and the attachment nesting depth.
pub fn inspect(id: &str) -> Result<serde_json::Value, IdError> {
    let parsed = ExchangeId::parse(id)?;
    Ok(serde_json::json!({
        "format": parsed.format().as_str(),
        "kind": parsed.kind().as_str(),
        "mailbox": parsed.mailbox_guid(),
        "item_ews_id": parsed.item_ews_id(),
        "item_rest_id": parsed.item_rest_id(),
        "attachment_levels": parsed.attachment_levels(),
    }))
}

fn detect_format(id: &str) -> Result<IdFormat, IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    let ews = id.contains(['/', '+']);
    let rest = id.contains(['-', '_']);
    match (ews, rest) {
        (true, true) => Err(IdError::MixedForms),
        (true, false) => Ok(IdFormat::Ews),
        (false, _) => Ok(IdFormat::Rest),
    }
}

// === Layout ===

/// The validated structure of decoded id bytes.
struct Layout {
    item_len: usize,
    mailbox_guid: String,
    store_id: std::ops::Range<usize>,
    attachment_keys: Vec<std::ops::Range<usize>>,
}

impl Layout {
    fn read(bytes: &[u8]) -> Result<Layout, IdError> {
        let mut r = Reader { bytes, pos: 0 };
        r.expect_byte(IdField::Header, 0x00)?;
        r.expect_byte(IdField::Header, 0x03)?;
        let mailbox_guid = read_guid(&mut r)?;
        r.expect_byte(IdField::Separator, 0x00)?;
        let store_id = r.sized(IdField::StoreIdLength, IdField::StoreId)?;
        let item_len = r.pos;
        let mut attachment_keys = Vec::new();
        if r.remaining() > 0 {
            let count = r.byte(IdField::AttachmentCount)?;
            if count == 0 {
                return Err(IdError::ZeroAttachmentCount);
            }
            for level in 1..=usize::from(count) {
                let key = r.sized(IdField::AttachmentKeyLength(level), IdField::AttachmentKey(level))?;
                attachment_keys.push(key);
            }
            if r.remaining() > 0 {
                return Err(IdError::TrailingBytes(r.remaining()));
            }
        }
        Ok(Layout {
            item_len,
            mailbox_guid,
            store_id,
            attachment_keys,
        })
    }
}

fn read_guid(r: &mut Reader<'_>) -> Result<String, IdError> {
    let len = r.u16(IdField::MailboxGuidLength)?;
    if len != GUID_TEXT_LEN {
        return Err(IdError::GuidLength(len));
    }
    let range = r.take(IdField::MailboxGuidLength, len)?;
    let raw = &r.bytes[range];
    if !raw.is_ascii() {
        return Err(IdError::GuidNotAscii);
    }
    // ASCII is valid UTF-8, so the lossy conversion never replaces anything.
    let text = String::from_utf8_lossy(raw).into_owned();
    if uuid::Uuid::try_parse(&text).is_err() {
        return Err(IdError::NotAGuid(text));
    }
    Ok(text)
}

/// A bounds-checked cursor over decoded id bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn too_short(&self, field: IdField) -> IdError {
        IdError::TooShort {
            len: self.bytes.len(),
            field,
            offset: self.pos,
        }
    }

    fn byte(&mut self, field: IdField) -> Result<u8, IdError> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| self.too_short(field))?;
        self.pos += 1;
        Ok(b)
    }

    fn expect_byte(&mut self, field: IdField, expected: u8) -> Result<(), IdError> {
        let offset = self.pos;
        let found = self.byte(field)?;
        if found == expected {
            Ok(())
        } else {
            Err(IdError::UnexpectedByte {
                field,
                found,
                expected,
                offset,
            })
        }
    }

    fn u16(&mut self, field: IdField) -> Result<usize, IdError> {
        if self.remaining() < 2 {
            return Err(self.too_short(field));
        }
        let v = u16::from_le_bytes([self.bytes[self.pos], self.bytes[self.pos + 1]]);
        self.pos += 2;
        Ok(usize::from(v))
    }

    /// Advances over `len` bytes declared by the length field `field`.
    fn take(&mut self, field: IdField, len: usize) -> Result<std::ops::Range<usize>, IdError> {
        if len > self.remaining() {
            return Err(IdError::LengthOverrun {
                field,
                declared: len,
                remaining: self.remaining(),
            });
        }
        let range = self.pos..self.pos + len;
        self.pos += len;
        Ok(range)
    }

    /// A u16-length-prefixed, non-empty field.
    fn sized(&mut self, length: IdField, value: IdField) -> Result<std::ops::Range<usize>, IdError> {
        let len = self.u16(length)?;
        if len == 0 {
            return Err(IdError::EmptyField(value));
        }
        self.take(length, len)
    }
}

#[cfg(test)]
mod tests;
