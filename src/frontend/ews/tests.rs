//! Parser, mapping and writer tests; the corpus run drives the fuzz target's entry point over
//! the captured client requests and bounded random mutations of them.

use super::{
    envelope::{Ns, parse_envelope},
    props::{graph_id, same_graph_id},
    render::html_to_text,
    request::{BaseShape, BodyType, ExtendedField, Operation, PropertyPath, Update, parse_request},
};

const GET_ATTACHMENT_DEFAULT_NS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="https://www.w3.org/2001/XMLSchema-instance"
               xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <soap:Header><t:RequestServerVersion Version="Exchange2016" /></soap:Header>
  <soap:Body>
    <GetAttachment xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"
                   xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <AttachmentShape/>
      <AttachmentIds><t:AttachmentId Id="A&amp;B&#x3D;"/></AttachmentIds>
    </GetAttachment>
  </soap:Body>
</soap:Envelope>"#;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/ews-requests/exchangelib");
    let mut out = vec![("builtin".to_owned(), GET_ATTACHMENT_DEFAULT_NS.as_bytes().to_vec())];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "xml") {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn the_doc_sample_parses_with_a_default_namespace_and_entities() {
    let request = parse_request(GET_ATTACHMENT_DEFAULT_NS.as_bytes()).unwrap();
    assert_eq!(request.version.as_deref(), Some("Exchange2016"));
    let Operation::GetAttachment(op) = request.operation else {
        panic!("not GetAttachment")
    };
    assert_eq!(op.ids, ["A&B="]);
    assert_eq!(op.body_type, BodyType::Best);
    assert!(!op.include_mime);
}

#[test]
fn names_match_by_namespace_not_prefix() {
    let other_prefixes = GET_ATTACHMENT_DEFAULT_NS
        .replace("soap:", "env:")
        .replace("xmlns:soap", "xmlns:env")
        .replace("t:", "types:")
        .replace("xmlns:t=", "xmlns:types=");
    assert!(matches!(
        parse_request(other_prefixes.as_bytes()).unwrap().operation,
        Operation::GetAttachment(_)
    ));
    // The right names in the wrong namespace are not EWS.
    let wrong_ns = GET_ATTACHMENT_DEFAULT_NS.replace("2006/messages", "2006/messagez");
    let err = parse_request(wrong_ns.as_bytes()).unwrap_err();
    assert!(err.violation.contains("not an EWS operation"), "{err}");
}

#[test]
fn fixtures_parse_into_the_operations_exchangelib_meant() {
    let all = fixtures();
    for (name, bytes) in &all {
        let request = parse_request(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!matches!(request.operation, Operation::Unsupported(_)), "{name}");
    }
    let Some((_, get_item)) = all.iter().find(|(n, _)| n.contains("02_GetItem")) else {
        return; // fixtures not present on this machine
    };
    let Operation::GetItem(op) = parse_request(get_item).unwrap().operation else {
        panic!("not GetItem")
    };
    assert_eq!(op.base, BaseShape::IdOnly);
    assert!(op.additional.len() > 200, "{}", op.additional.len());
    let (_, delete) = all.iter().find(|(n, _)| n.contains("06_UpdateItem")).unwrap();
    let Operation::UpdateItem(op) = parse_request(delete).unwrap().operation else {
        panic!("not UpdateItem")
    };
    assert!(matches!(op.changes[0].updates[0], Update::Delete { .. }));
    let (_, set) = all.iter().find(|(n, _)| n.contains("05_UpdateItem")).unwrap();
    let Operation::UpdateItem(op) = parse_request(set).unwrap().operation else {
        panic!("not UpdateItem")
    };
    assert!(matches!(&op.changes[0].updates[0], Update::Set { value: Some(v), .. } if v == "processed"));
}

#[test]
fn dtds_and_unknown_entities_are_refused() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>"#;
    assert!(parse_envelope(bomb.as_bytes()).unwrap_err().violation.contains("DTD"));
    let external =
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&xxe;</s:Body></s:Envelope>"#;
    assert!(
        parse_envelope(external.as_bytes())
            .unwrap_err()
            .violation
            .contains("entity")
    );
}

#[test]
fn schema_errors_carry_line_and_position() {
    let text = "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"\n xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">\n<s:Body>\n  <m:GetItem><m:ItemIds/></m:GetItem></s:Body></s:Envelope>";
    let err = parse_request(text.as_bytes()).unwrap_err();
    assert_eq!((err.line, err.column), (5, 3), "{err}");
    assert!(err.violation.contains("ItemShape"), "{err}");
    let unclosed = "<a>\n<b>\n</a>";
    assert_eq!(parse_envelope(unclosed.as_bytes()).unwrap_err().line, 3);
}

#[test]
fn elements_keep_their_namespace() {
    let env = parse_envelope(GET_ATTACHMENT_DEFAULT_NS.as_bytes()).unwrap();
    assert_eq!(env.body.ns, Ns::Messages);
    assert_eq!(env.body.children[1].children[0].ns, Ns::Types);
}

#[test]
fn extended_field_uris_map_to_graph_ids() {
    let field =
        |set: Option<&str>, guid: Option<&str>, tag: Option<&str>, name: Option<&str>, id: Option<&str>, ty: &str| {
            ExtendedField {
                distinguished_set: set.map(str::to_owned),
                set_id: guid.map(str::to_owned),
                tag: tag.map(str::to_owned),
                name: name.map(str::to_owned),
                id: id.map(str::to_owned),
                ty: ty.to_owned(),
            }
        };
    let cases = [
        (
            field(Some("InternetHeaders"), None, None, Some("X-Foo"), None, "String"),
            "String {00020386-0000-0000-C000-000000000046} Name X-Foo",
        ),
        (
            field(Some("PublicStrings"), None, None, Some("Bar"), None, "String"),
            "String {00020329-0000-0000-C000-000000000046} Name Bar",
        ),
        (
            field(
                None,
                Some("8ecc264a-6880-4ebe-992f-8888d2eeaa1d"),
                None,
                None,
                Some("0x8012"),
                "Integer",
            ),
            "Integer {8ECC264A-6880-4EBE-992F-8888D2EEAA1D} Id 0x8012",
        ),
        (field(None, None, Some("0x7d"), None, None, "String"), "String 0x007D"),
        (field(None, None, Some("3591"), None, None, "Integer"), "Integer 0x0E07"),
    ];
    for (f, expected) in cases {
        assert_eq!(graph_id(&f).unwrap().as_deref(), Some(expected));
    }
    for bad in [
        field(None, None, Some("0x8001"), None, None, "String"),
        field(Some("PublicStrings"), None, None, None, None, "String"),
        field(Some("PublicStrings"), None, Some("0x1"), Some("x"), None, "String"),
        field(Some("Nope"), None, None, Some("x"), None, "String"),
        field(None, Some("not-a-guid"), None, Some("x"), None, "String"),
        field(None, None, Some("0x7d"), None, None, "Text"),
    ] {
        assert_eq!(
            graph_id(&bad).unwrap_err().code,
            "ErrorInvalidExtendedProperty",
            "{bad:?}"
        );
    }
    assert!(same_graph_id("String 0x7D", "String 0x007D"));
    assert!(same_graph_id(
        "String {00020329-0000-0000-c000-000000000046} Name Bar",
        "String {00020329-0000-0000-C000-000000000046} Name Bar"
    ));
    assert!(!same_graph_id(
        "String {00020329-0000-0000-C000-000000000046} Name bar",
        "String {00020329-0000-0000-C000-000000000046} Name Bar"
    ));
}

#[test]
fn additional_properties_select_graph_fields_once() {
    let paths = vec![
        PropertyPath::Field("item:Body".into()),
        PropertyPath::Field("item:TextBody".into()),
        PropertyPath::Field("calendar:Start".into()),
        PropertyPath::Field("message:From".into()),
    ];
    let sel = super::props::Selection::new(BaseShape::IdOnly, false, &paths);
    assert_eq!(sel.graph_select(), ["id", "changeKey", "body", "from"]);
}

#[test]
fn html_bodies_become_text() {
    let html = "<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;&amp; welcome</p><div>Line<br>two</div><script>x()</script></body></html>";
    assert_eq!(html_to_text(html), "Hello & welcome\r\nLine\r\ntwo");
}

/// A small deterministic generator (xorshift), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit: flip, insert, delete, duplicate a span, or splice in XML syntax.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"<",
        b">",
        b"</",
        b"/>",
        b"&",
        b"&amp;",
        b"&#x0;",
        b"<![CDATA[",
        b"]]>",
        b"xmlns:t=\"\"",
        b"\"",
        b"<!DOCTYPE x>",
        b"\xff",
        b"<t:ItemId Id=\"x\"/>",
    ];
    let at = rng.below(input.len() + 1);
    match rng.below(5) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            input.splice(at..at, token.iter().copied());
        }
        2 if at < input.len() => {
            let end = (at + rng.below(64)).min(input.len());
            input.drain(at..end);
        }
        3 if at < input.len() => {
            let end = (at + rng.below(256)).min(input.len());
            let span = input[at..end].to_vec();
            input.splice(at..at, span);
        }
        _ => input.truncate(at),
    }
}

#[test]
fn the_parser_survives_random_mutations_of_the_corpus() {
    let corpus = fixtures();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let deadline = std::time::Duration::from_secs(3);
    let started = std::time::SystemTime::now();
    let mut runs = 0u64;
    while started.elapsed().unwrap_or_default() < deadline && runs < 200_000 {
        let (_, seed) = &corpus[rng.below(corpus.len())];
        let mut input = seed.clone();
        for _ in 0..=rng.below(8) {
            mutate(&mut rng, &mut input);
        }
        // Must return, Ok or Err, without panicking.
        let _ = parse_request(&input);
        runs += 1;
    }
    assert!(runs > 100, "only {runs} runs");
}
