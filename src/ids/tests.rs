use base64::{Engine, engine::general_purpose::STANDARD};

use super::*;

/// Microsoft's EWS documentation example: an attachment id and its root item.
const DOC_ATTACHMENT: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAABEgAQAFmnqat27N5JqLjo/76gzxY=";
const DOC_ITEM: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAA=";
const DOC_MAILBOX: &str = "11e2525f-d831-40ca-a1a0-630224d91ac7";
/// Byte offsets in the decoded example: separator, store id length, store id, item end.
const SEPARATOR_AT: usize = 40;
const STORE_LEN_AT: usize = 41;
const ITEM_LEN: usize = 113;

fn doc_bytes() -> Vec<u8> {
    STANDARD.decode(DOC_ATTACHMENT).unwrap()
}

fn parse_bytes(bytes: &[u8]) -> Result<ExchangeId, IdError> {
    ExchangeId::parse(&STANDARD.encode(bytes))
}

/// Builds an id the way Exchange lays it out.
fn build(guid: &str, store: &[u8], keys: &[&[u8]]) -> Vec<u8> {
    let mut b = vec![0x00, 0x03];
    b.extend((guid.len() as u16).to_le_bytes());
    b.extend(guid.as_bytes());
    b.push(0x00);
    b.extend((store.len() as u16).to_le_bytes());
    b.extend(store);
    if !keys.is_empty() {
        b.push(keys.len() as u8);
        for k in keys {
            b.extend((k.len() as u16).to_le_bytes());
            b.extend(*k);
        }
    }
    b
}

#[test]
fn inspect_reports_the_documentation_attachment_id() {
    let v = inspect(DOC_ATTACHMENT).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "format": "ews",
            "kind": "attachment",
            "mailbox": DOC_MAILBOX,
            "item_ews_id": DOC_ITEM,
            "item_rest_id": to_rest(DOC_ITEM),
            "attachment_levels": 1,
        })
    );
}

#[test]
fn inspect_reports_the_root_item_in_rest_form() {
    let v = inspect(&to_rest(DOC_ITEM)).unwrap();
    assert_eq!(v["format"], "rest");
    assert_eq!(v["kind"], "item");
    assert_eq!(v["mailbox"], DOC_MAILBOX);
    assert_eq!(v["item_ews_id"], DOC_ITEM);
    assert_eq!(v["item_rest_id"], to_rest(DOC_ITEM));
    assert_eq!(v["attachment_levels"], 0);
}

#[test]
fn attachment_id_leads_to_its_message() {
    let id = ExchangeId::parse(DOC_ATTACHMENT).unwrap();
    assert_eq!(id.kind(), IdKind::Attachment);
    assert_eq!(id.item_ews_id(), DOC_ITEM);
    assert_eq!(id.store_id().len(), 70);
    let keys: Vec<&[u8]> = id.attachment_keys().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].len(), 18);
    let item = ExchangeId::parse(DOC_ITEM).unwrap();
    assert_eq!(item.store_id(), id.store_id());
    assert_eq!(item.mailbox_guid(), id.mailbox_guid());
}

#[test]
fn rest_and_ews_forms_round_trip() {
    for ews in [DOC_ATTACHMENT, DOC_ITEM] {
        let rest = to_rest(ews);
        assert!(!rest.contains(['/', '+']));
        assert_eq!(rest.len(), ews.len());
        assert_eq!(to_ews(&rest), ews);
        let from_ews = ExchangeId::parse(ews).unwrap();
        let from_rest = ExchangeId::parse(&rest).unwrap();
        assert_eq!(from_ews.format(), IdFormat::Ews);
        assert_eq!(from_rest.format(), IdFormat::Rest);
        assert_eq!(from_ews.ews_id(), ews);
        assert_eq!(from_ews.rest_id(), rest);
        assert_eq!(from_rest.ews_id(), ews);
        assert_eq!(from_rest.rest_id(), rest);
        assert_eq!(from_rest.item_ews_id(), from_ews.item_ews_id());
    }
}

#[test]
fn character_swap_matches_office_js() {
    assert_eq!(to_rest("AA/B+C=="), "AA-B_C==");
    assert_eq!(to_ews("AA-B_C=="), "AA/B+C==");
    assert_eq!(to_rest("plain"), "plain");
}

#[test]
fn id_with_no_form_specific_characters_is_reported_as_rest() {
    let store: Vec<u8> = (0u8..).map(|i| i.wrapping_mul(7)).take(48).collect();
    let bytes = build(DOC_MAILBOX, &store, &[]);
    let text = STANDARD.encode(&bytes);
    // Pick a store id whose encoding is alphabet-neutral; 7·i happens to be one.
    assert!(!text.contains(['/', '+', '-', '_']), "{text}");
    let id = ExchangeId::parse(&text).unwrap();
    assert_eq!(id.format(), IdFormat::Rest);
    assert_eq!(id.ews_id(), text);
    assert_eq!(id.rest_id(), text);
}

#[test]
fn nested_attachment_levels_are_counted() {
    let bytes = build(DOC_MAILBOX, b"store-object", &[b"outer", b"inner"]);
    let id = parse_bytes(&bytes).unwrap();
    assert_eq!(id.attachment_levels(), 2);
    let keys: Vec<&[u8]> = id.attachment_keys().collect();
    assert_eq!(keys, [b"outer".as_slice(), b"inner".as_slice()]);
    assert_eq!(
        id.item_ews_id(),
        STANDARD.encode(build(DOC_MAILBOX, b"store-object", &[]))
    );
}

#[test]
fn every_truncation_of_the_example_is_refused_except_the_item_boundary() {
    let bytes = doc_bytes();
    for n in 0..bytes.len() {
        let result = parse_bytes(&bytes[..n]);
        if n == ITEM_LEN {
            assert_eq!(result.unwrap().kind(), IdKind::Item);
        } else {
            assert!(result.is_err(), "prefix of {n} bytes was accepted");
        }
    }
    assert_eq!(parse_bytes(&bytes[..ITEM_LEN]).unwrap().ews_id(), DOC_ITEM);
}

#[test]
fn truncation_errors_name_the_missing_field() {
    let bytes = doc_bytes();
    assert_eq!(parse_bytes(&bytes[..0]), Err(IdError::Empty));
    assert_eq!(
        parse_bytes(&bytes[..1]),
        Err(IdError::TooShort {
            len: 1,
            field: IdField::Header,
            offset: 1
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..3]),
        Err(IdError::TooShort {
            len: 3,
            field: IdField::MailboxGuidLength,
            offset: 2
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..20]),
        Err(IdError::LengthOverrun {
            field: IdField::MailboxGuidLength,
            declared: 36,
            remaining: 16
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..SEPARATOR_AT]),
        Err(IdError::TooShort {
            len: 40,
            field: IdField::Separator,
            offset: 40
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..STORE_LEN_AT + 1]),
        Err(IdError::TooShort {
            len: 42,
            field: IdField::StoreIdLength,
            offset: 41
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..50]),
        Err(IdError::LengthOverrun {
            field: IdField::StoreIdLength,
            declared: 70,
            remaining: 7
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..ITEM_LEN + 1]),
        Err(IdError::TooShort {
            len: 114,
            field: IdField::AttachmentKeyLength(1),
            offset: 114
        })
    );
    assert_eq!(
        parse_bytes(&bytes[..ITEM_LEN + 10]),
        Err(IdError::LengthOverrun {
            field: IdField::AttachmentKeyLength(1),
            declared: 18,
            remaining: 7
        })
    );
}

#[test]
fn flipping_a_structural_byte_is_refused_and_flipping_a_payload_byte_is_not() {
    let bytes = doc_bytes();
    let store = STORE_LEN_AT + 2..ITEM_LEN;
    let key = ITEM_LEN + 3..bytes.len();
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        let result = parse_bytes(&flipped);
        let payload = store.contains(&i) || key.contains(&i);
        // A GUID hex digit flipped by one bit may still be a hex digit ('0'↔'1', 'a'↔'`').
        let guid_still_valid = (4..SEPARATOR_AT).contains(&i) && result.is_ok();
        if payload {
            assert!(result.is_ok(), "payload byte {i} flipped: {result:?}");
        } else if !guid_still_valid {
            assert!(result.is_err(), "structural byte {i} flipped was accepted");
        }
    }
}

#[test]
fn header_and_separator_bytes_are_checked() {
    let mut b = doc_bytes();
    b[0] = 0x01;
    assert_eq!(
        parse_bytes(&b),
        Err(IdError::UnexpectedByte {
            field: IdField::Header,
            found: 0x01,
            expected: 0x00,
            offset: 0
        })
    );
    let mut b = doc_bytes();
    b[1] = 0x02;
    assert_eq!(
        parse_bytes(&b),
        Err(IdError::UnexpectedByte {
            field: IdField::Header,
            found: 0x02,
            expected: 0x03,
            offset: 1
        })
    );
    let mut b = doc_bytes();
    b[SEPARATOR_AT] = 0x7f;
    let err = parse_bytes(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected separator byte 0x7f at offset 40 (expected 0x00)"
    );
}

#[test]
fn mailbox_guid_is_validated() {
    assert_eq!(
        parse_bytes(&build("11e2525f-d831-40ca-a1a0-630224d91ac", b"s", &[])),
        Err(IdError::GuidLength(35))
    );
    assert_eq!(
        parse_bytes(&build("zze2525f-d831-40ca-a1a0-630224d91ac7", b"s", &[])),
        Err(IdError::NotAGuid("zze2525f-d831-40ca-a1a0-630224d91ac7".into()))
    );
    let mut b = doc_bytes();
    b[10] = 0xc3;
    assert_eq!(parse_bytes(&b), Err(IdError::GuidNotAscii));
    assert_eq!(
        IdError::GuidLength(12).to_string(),
        "mailbox GUID length 12 (expected 36)"
    );
}

#[test]
fn attachment_tail_is_validated() {
    let mut item_then_zero = doc_bytes()[..ITEM_LEN].to_vec();
    item_then_zero.push(0);
    assert_eq!(parse_bytes(&item_then_zero), Err(IdError::ZeroAttachmentCount));
    assert_eq!(IdError::ZeroAttachmentCount.to_string(), "attachment count 0");

    let mut trailing = doc_bytes();
    trailing.extend([0xaa, 0xbb]);
    assert_eq!(parse_bytes(&trailing), Err(IdError::TrailingBytes(2)));

    assert_eq!(
        parse_bytes(&build(DOC_MAILBOX, b"s", &[b""])),
        Err(IdError::EmptyField(IdField::AttachmentKey(1)))
    );
    assert_eq!(
        parse_bytes(&build(DOC_MAILBOX, b"", &[])),
        Err(IdError::EmptyField(IdField::StoreId))
    );
}

#[test]
fn text_level_problems_are_named() {
    assert_eq!(ExchangeId::parse(""), Err(IdError::Empty));
    assert_eq!(ExchangeId::parse("AA/A-AAA"), Err(IdError::MixedForms));
    assert!(matches!(ExchangeId::parse("AA!A"), Err(IdError::NotBase64(_))));
    // Exchange ids always carry their padding.
    let unpadded = DOC_ITEM.trim_end_matches('=');
    assert!(matches!(ExchangeId::parse(unpadded), Err(IdError::NotBase64(_))));
    assert!(matches!(ExchangeId::parse("AAMk AA="), Err(IdError::NotBase64(_))));
    let err = ExchangeId::parse("AA!A").unwrap_err();
    assert!(err.to_string().starts_with("not base64: "), "{err}");
    assert_eq!(
        ExchangeId::parse("AAAA").unwrap_err().to_string(),
        "unexpected header byte 0x00 at offset 1 (expected 0x03)"
    );
    assert_eq!(
        IdError::LengthOverrun {
            field: IdField::StoreIdLength,
            declared: 70,
            remaining: 5
        }
        .to_string(),
        "store id length field says 70 but only 5 bytes remain"
    );
}
