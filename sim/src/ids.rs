//! Exchange item and attachment ids as Exchange Online mints them, in EWS and REST form.
//!
//! An EWS item id is standard base64 of: `0x00 0x03`, a little-endian `u16` length and the
//! mailbox GUID as ASCII, `0x00`, a little-endian `u16` length and the store object id (a
//! MAPI entry id). An attachment id appends a level count and, per level, a `u16` length and
//! that level's attachment key. REST/Graph ids are the same text with `/`→`-` and `+`→`_`.
//! The simulator mints ids deterministically from the mailbox GUID so a sandbox always
//! hands out the same ids.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Length of a hyphenated GUID in ASCII, the only mailbox form Exchange writes into ids.
const GUID_ASCII_LEN: usize = 36;
/// MAPI object type of a folder in an entry id.
const ENTRY_TYPE_FOLDER: u16 = 0x0001;
/// MAPI object type of a message in an entry id.
const ENTRY_TYPE_MESSAGE: u16 = 0x0007;

/// Why a text is not an Exchange id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Nothing was given.
    #[error("the id is empty")]
    Empty,
    /// A character outside the alphabet of the expected form (`+`/`/` for EWS, `-`/`_` for REST).
    #[error("the id contains {0:?}, which is not in the {1} id alphabet")]
    Alphabet(char, &'static str),
    /// The text is not canonical padded base64.
    #[error("the id is not valid base64")]
    Base64,
    /// The bytes end before a field does.
    #[error("the id is truncated at byte {0}")]
    Truncated(usize),
    /// The first bytes are not the item id marker `0x00 0x03`.
    #[error("the id does not start with the item id marker")]
    Marker,
    /// The mailbox part is not a hyphenated GUID of 36 characters.
    #[error("the mailbox part of the id is not a GUID")]
    MailboxGuid,
    /// The byte after the mailbox GUID is not `0x00`.
    #[error("the id has no separator after the mailbox GUID")]
    Separator,
    /// A store object id or attachment key of length zero.
    #[error("the id has an empty store object id or attachment key")]
    EmptyPart,
    /// An attachment id that claims zero levels.
    #[error("the attachment id has no attachment levels")]
    NoLevels,
    /// Bytes left over after the last field.
    #[error("the id has {0} unexpected trailing bytes")]
    Trailing(usize),
}

/// Id of an item (message) in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemId {
    mailbox_guid: String,
    store_id: Vec<u8>,
}

/// Id of an attachment: its root item plus one attachment key per nesting level.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttachmentId {
    item: ItemId,
    levels: Vec<Vec<u8>>,
}

/// A decoded id of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeId {
    /// An item id (no attachment levels).
    Item(ItemId),
    /// An attachment id.
    Attachment(AttachmentId),
}

impl ItemId {
    /// An item id for `store_id` in the mailbox `mailbox_guid` (hyphenated, as Exchange writes it).
    pub fn new(mailbox_guid: &str, store_id: Vec<u8>) -> ItemId {
        ItemId {
            mailbox_guid: mailbox_guid.to_owned(),
            store_id,
        }
    }

    /// The mailbox GUID exactly as written in the id.
    pub fn mailbox_guid(&self) -> &str {
        &self.mailbox_guid
    }

    /// The store object id (MAPI entry id) bytes.
    pub fn store_id(&self) -> &[u8] {
        &self.store_id
    }

    /// The binary form that base64 encodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(7 + self.mailbox_guid.len() + self.store_id.len());
        out.extend_from_slice(&[0x00, 0x03]);
        push_part(&mut out, self.mailbox_guid.as_bytes());
        out.push(0x00);
        push_part(&mut out, &self.store_id);
        out
    }

    /// EWS form (standard base64).
    pub fn to_ews(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// REST/Graph form.
    pub fn to_rest(&self) -> String {
        ews_to_rest(&self.to_ews())
    }
}

impl AttachmentId {
    /// An attachment id below `item` with one key per level (outermost first).
    pub fn new(item: ItemId, levels: Vec<Vec<u8>>) -> AttachmentId {
        AttachmentId { item, levels }
    }

    /// The root item the attachment belongs to.
    pub fn item(&self) -> &ItemId {
        &self.item
    }

    /// Attachment keys, outermost first.
    pub fn levels(&self) -> &[Vec<u8>] {
        &self.levels
    }

    /// The binary form that base64 encodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.item.to_bytes();
        // The level count is a single byte; more than 255 levels cannot be written.
        out.push(u8::try_from(self.levels.len()).unwrap_or(u8::MAX));
        for level in self.levels.iter().take(usize::from(u8::MAX)) {
            push_part(&mut out, level);
        }
        out
    }

    /// EWS form (standard base64).
    pub fn to_ews(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// REST/Graph form.
    pub fn to_rest(&self) -> String {
        ews_to_rest(&self.to_ews())
    }
}

impl ExchangeId {
    /// Parses an EWS-form id (standard base64 alphabet, padded).
    pub fn parse_ews(text: &str) -> Result<ExchangeId, IdError> {
        if let Some(c) = text.chars().find(|c| *c == '-' || *c == '_') {
            return Err(IdError::Alphabet(c, "EWS"));
        }
        ExchangeId::from_base64(text)
    }

    /// Parses a REST-form id (`-` and `_` instead of `/` and `+`, padded).
    pub fn parse_rest(text: &str) -> Result<ExchangeId, IdError> {
        if let Some(c) = text.chars().find(|c| *c == '/' || *c == '+') {
            return Err(IdError::Alphabet(c, "REST"));
        }
        ExchangeId::from_base64(&rest_to_ews(text))
    }

    /// Decodes standard base64 and then the binary layout.
    fn from_base64(text: &str) -> Result<ExchangeId, IdError> {
        if text.is_empty() {
            return Err(IdError::Empty);
        }
        let bytes = STANDARD.decode(text).map_err(|_| IdError::Base64)?;
        ExchangeId::from_bytes(&bytes)
    }

    /// Decodes the binary layout.
    pub fn from_bytes(bytes: &[u8]) -> Result<ExchangeId, IdError> {
        let mut reader = Reader { bytes, pos: 0 };
        if reader.take(2)? != [0x00, 0x03] {
            return Err(IdError::Marker);
        }
        let guid = reader.part()?;
        if guid.len() != GUID_ASCII_LEN || !is_hyphenated_guid(guid) {
            return Err(IdError::MailboxGuid);
        }
        if reader.take(1)? != [0x00] {
            return Err(IdError::Separator);
        }
        let store_id = reader.part()?;
        let item = ItemId {
            // `is_hyphenated_guid` accepted only ASCII, so this cannot lose anything.
            mailbox_guid: String::from_utf8_lossy(guid).into_owned(),
            store_id: store_id.to_vec(),
        };
        if reader.remaining() == 0 {
            return Ok(ExchangeId::Item(item));
        }
        let count = reader.take(1)?[0];
        if count == 0 {
            return Err(IdError::NoLevels);
        }
        let mut levels = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            levels.push(reader.part()?.to_vec());
        }
        match reader.remaining() {
            0 => Ok(ExchangeId::Attachment(AttachmentId { item, levels })),
            n => Err(IdError::Trailing(n)),
        }
    }

    /// The root item (the item itself, or the item an attachment belongs to).
    pub fn item(&self) -> &ItemId {
        match self {
            ExchangeId::Item(item) => item,
            ExchangeId::Attachment(att) => att.item(),
        }
    }
}

/// Cursor over id bytes that reports where a field ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IdError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(IdError::Truncated(self.bytes.len()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A `u16` little-endian length followed by that many (at least one) bytes.
    fn part(&mut self) -> Result<&'a [u8], IdError> {
        let len = self.take(2)?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        if len == 0 {
            return Err(IdError::EmptyPart);
        }
        self.take(len)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    // Parts are GUIDs, entry ids and attachment keys: far below 64 KiB by construction.
    let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&part[..usize::from(len)]);
}

/// EWS form → REST form (`/`→`-`, `+`→`_`), exactly as Office.js `convertToRestId`.
pub fn ews_to_rest(id: &str) -> String {
    id.replace('/', "-").replace('+', "_")
}

/// REST form → EWS form (`-`→`/`, `_`→`+`), exactly as Office.js `convertToEwsId`.
pub fn rest_to_ews(id: &str) -> String {
    id.replace('-', "/").replace('_', "+")
}

/// Whether `text` is a GUID written `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, any case).
pub fn is_hyphenated_guid(text: &[u8]) -> bool {
    text.len() == GUID_ASCII_LEN
        && text.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Binary MAPI entry id in the text form of Graph `translateExchangeIds` (`entryId`):
/// URL-safe base64 without padding, followed by the number of removed `=` characters.
pub fn entry_id_to_text(bytes: &[u8]) -> String {
    let mut text = URL_SAFE_NO_PAD.encode(bytes);
    let pad = (3 - bytes.len() % 3) % 3;
    text.push(char::from(b'0' + u8::try_from(pad).unwrap_or(0)));
    text
}

/// Parses the `entryId` text form of `translateExchangeIds` back to bytes.
pub fn entry_id_from_text(text: &str) -> Result<Vec<u8>, IdError> {
    let (body, pad) = text.split_at(text.len().saturating_sub(1));
    if body.is_empty() {
        return Err(IdError::Empty);
    }
    let pad = match pad {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        _ => return Err(IdError::Base64),
    };
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| IdError::Base64)?;
    if (3 - bytes.len() % 3) % 3 != pad {
        return Err(IdError::Base64);
    }
    Ok(bytes)
}

/// Deterministic 16 bytes for one purpose of one mailbox (store GUIDs, keys, conversation GUIDs).
pub fn derive16(mailbox_guid: &str, purpose: &str, n: u64) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update(mailbox_guid.to_ascii_lowercase().as_bytes());
    hash.update([0u8]);
    hash.update(purpose.as_bytes());
    hash.update(n.to_be_bytes());
    let digest = hash.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// 46-byte MAPI folder entry id: flags, store provider UID, type, replica GUID, global counter, pad.
pub fn mint_folder_entry_id(mailbox_guid: &str, folder_counter: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(46);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&derive16(mailbox_guid, "store-provider", 0));
    out.extend_from_slice(&ENTRY_TYPE_FOLDER.to_le_bytes());
    push_global_id(&mut out, &derive16(mailbox_guid, "folder-replica", 0), folder_counter);
    out
}

/// 70-byte MAPI message entry id: a 46-byte folder part (type message) then the
/// message's replica GUID, global counter and pad.
pub fn mint_message_entry_id(mailbox_guid: &str, folder_counter: u64, message_counter: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(70);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&derive16(mailbox_guid, "store-provider", 0));
    out.extend_from_slice(&ENTRY_TYPE_MESSAGE.to_le_bytes());
    push_global_id(&mut out, &derive16(mailbox_guid, "folder-replica", 0), folder_counter);
    push_global_id(&mut out, &derive16(mailbox_guid, "message-replica", 0), message_counter);
    out
}

/// Replica GUID, a 6-byte big-endian global counter and two bytes of padding (24 bytes).
fn push_global_id(out: &mut Vec<u8>, replica: &[u8; 16], counter: u64) {
    out.extend_from_slice(replica);
    out.extend_from_slice(&counter.to_be_bytes()[2..]);
    out.extend_from_slice(&[0, 0]);
}

/// 18-byte attachment key as Exchange writes it: a `u16` length (16) and 16 key bytes.
pub fn mint_attachment_key(mailbox_guid: &str, message_counter: u64, index: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(&derive16(mailbox_guid, "attachment", (message_counter << 8) | index));
    out
}

/// Conversation id in REST form: `0x00 0x04`, mailbox GUID, and a 16-byte conversation GUID.
pub fn mint_conversation_id(mailbox_guid: &str, conversation: u64) -> String {
    let mut out = vec![0x00, 0x04];
    push_part(&mut out, mailbox_guid.as_bytes());
    out.push(0x00);
    push_part(&mut out, &derive16(mailbox_guid, "conversation", conversation));
    ews_to_rest(&STANDARD.encode(out))
}

/// A change key: object class (`9` = message), length 22, replica GUID and change counter.
pub fn mint_change_key(mailbox_guid: &str, change_counter: u64) -> String {
    let mut out = Vec::with_capacity(30);
    out.extend_from_slice(&9u32.to_le_bytes());
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(&derive16(mailbox_guid, "message-replica", 0));
    out.extend_from_slice(&change_counter.to_be_bytes()[2..]);
    STANDARD.encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_ATTACHMENT: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAABEgAQAFmnqat27N5JqLjo/76gzxY=";
    const MS_ITEM: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAA=";

    #[test]
    fn microsofts_example_attachment_decodes_to_its_root_item() {
        let ExchangeId::Attachment(att) = ExchangeId::parse_ews(MS_ATTACHMENT).unwrap() else {
            panic!("expected an attachment id");
        };
        assert_eq!(att.item().mailbox_guid(), "11e2525f-d831-40ca-a1a0-630224d91ac7");
        assert_eq!(att.item().store_id().len(), 70);
        assert_eq!(att.item().to_ews(), MS_ITEM);
        assert_eq!(att.levels().len(), 1);
        assert_eq!(att.levels()[0].len(), 18);
        assert_eq!(&att.levels()[0][..2], &[0x10, 0x00]);
        // Byte-for-byte: re-encoding yields the same text.
        assert_eq!(att.to_ews(), MS_ATTACHMENT);
        let ExchangeId::Item(item) = ExchangeId::parse_ews(MS_ITEM).unwrap() else {
            panic!("expected an item id");
        };
        assert_eq!(item.to_bytes(), STANDARD.decode(MS_ITEM).unwrap());
    }

    #[test]
    fn microsofts_example_entry_id_has_the_minted_layout() {
        let item = ExchangeId::parse_ews(MS_ITEM).unwrap();
        let store = item.item().store_id();
        assert_eq!(&store[..4], &[0, 0, 0, 0]);
        assert_eq!(&store[20..22], &ENTRY_TYPE_MESSAGE.to_le_bytes());
        let minted = mint_message_entry_id("11e2525f-d831-40ca-a1a0-630224d91ac7", 0xd736da, 0x02506d4ba5);
        assert_eq!(minted.len(), store.len());
        assert_eq!(&minted[20..22], &store[20..22]);
        assert_eq!(&minted[38..46], &store[38..46], "folder counter and pad");
        assert_eq!(&minted[62..70], &store[62..70], "message counter and pad");
    }

    #[test]
    fn rest_form_round_trips_and_rejects_the_other_alphabet() {
        let rest = ews_to_rest(MS_ATTACHMENT);
        assert!(!rest.contains('/') && !rest.contains('+'));
        assert_eq!(rest_to_ews(&rest), MS_ATTACHMENT);
        assert_eq!(
            ExchangeId::parse_rest(&rest).unwrap(),
            ExchangeId::parse_ews(MS_ATTACHMENT).unwrap()
        );
        assert_eq!(
            ExchangeId::parse_rest(MS_ATTACHMENT),
            Err(IdError::Alphabet('+', "REST"))
        );
        assert_eq!(ExchangeId::parse_ews(&rest), Err(IdError::Alphabet('_', "EWS")));
    }

    #[test]
    fn minted_ids_round_trip() {
        let guid = "1e25b5f4-d831-40ca-a1a0-630224d91ac7";
        let item = ItemId::new(guid, mint_message_entry_id(guid, 0x10c, 0x4a21));
        let att = AttachmentId::new(item.clone(), vec![mint_attachment_key(guid, 0x4a21, 1)]);
        assert_eq!(
            ExchangeId::parse_rest(&item.to_rest()).unwrap(),
            ExchangeId::Item(item.clone())
        );
        assert_eq!(
            ExchangeId::parse_ews(&att.to_ews()).unwrap(),
            ExchangeId::Attachment(att.clone())
        );
        assert!(item.to_ews().starts_with("AAMkA"));
        assert_eq!(STANDARD.decode(att.to_ews()).unwrap().len(), 113 + 21);
    }

    #[test]
    fn malformed_ids_say_why() {
        assert_eq!(ExchangeId::parse_ews(""), Err(IdError::Empty));
        assert_eq!(ExchangeId::parse_ews("not base64!"), Err(IdError::Base64));
        assert_eq!(ExchangeId::parse_ews("AAMk"), Err(IdError::Truncated(3)));
        assert_eq!(ExchangeId::parse_ews("AQMkAA=="), Err(IdError::Marker));
        let mut bytes = STANDARD.decode(MS_ITEM).unwrap();
        bytes.push(0);
        assert_eq!(ExchangeId::from_bytes(&bytes), Err(IdError::NoLevels));
        bytes.truncate(bytes.len() - 1);
        bytes[4] = b'x';
        assert_eq!(ExchangeId::from_bytes(&bytes), Err(IdError::MailboxGuid));
        let mut att = STANDARD.decode(MS_ATTACHMENT).unwrap();
        att.push(7);
        assert_eq!(ExchangeId::from_bytes(&att), Err(IdError::Trailing(1)));
    }

    #[test]
    fn entry_id_text_uses_the_pad_digit() {
        let bytes = mint_message_entry_id("1e25b5f4-d831-40ca-a1a0-630224d91ac7", 1, 2);
        let text = entry_id_to_text(&bytes);
        assert!(text.ends_with('2'), "70 bytes need two pad characters");
        assert_eq!(entry_id_from_text(&text).unwrap(), bytes);
        assert_eq!(entry_id_from_text("AAAA3"), Err(IdError::Base64));
    }
}
