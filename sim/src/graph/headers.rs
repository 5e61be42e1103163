//! Transport headers as Exchange Online stamps them on delivered mail: Received chains,
//! SPF/DKIM/DMARC results, Thread-Index, X-MS-Exchange-Organization-* and custom X-headers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::mime::{encode_word, rfc5322};
use super::store::Person;
use crate::ids::derive16;

/// What the header block is built from.
pub(crate) struct HeaderInput<'a> {
    pub(crate) mailbox_guid: &'a str,
    pub(crate) seed: u64,
    pub(crate) from: &'a Person,
    pub(crate) to: &'a [Person],
    pub(crate) cc: &'a [Person],
    pub(crate) subject: &'a str,
    pub(crate) topic: &'a str,
    pub(crate) sent: OffsetDateTime,
    pub(crate) received: OffsetDateTime,
    pub(crate) message_id: &'a str,
    pub(crate) in_reply_to: Option<&'a str>,
    pub(crate) thread_index: &'a str,
    pub(crate) has_attach: bool,
    pub(crate) external: bool,
    pub(crate) x_headers: &'a [(String, String)],
    /// Body text the DKIM body hash covers.
    pub(crate) body: &'a str,
}

/// `Name <address>` with the name RFC 2047-encoded when not ASCII.
pub(crate) fn address(p: &Person) -> String {
    if p.name.is_ascii() && !p.name.contains(',') {
        format!("{} <{}>", p.name, p.address)
    } else if p.name.is_ascii() {
        format!("\"{}\" <{}>", p.name, p.address)
    } else {
        format!("{} <{}>", encode_word(&p.name), p.address)
    }
}

fn address_list(list: &[Person]) -> String {
    list.iter().map(address).collect::<Vec<_>>().join(",\r\n\t")
}

fn guid_text(bytes: [u8; 16]) -> String {
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The header block up to (not including) the MIME structure headers.
pub(crate) fn transport_headers(input: &HeaderInput<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, value: String| out.push((name.to_owned(), value));
    let rx = rfc5322(input.received);
    add(
        "Received",
        format!(
            "from AM9PR07MB7169.eurprd07.prod.outlook.com (2603:10a6:20b:2f1::11) by DB9PR07MB8540.eurprd07.prod.outlook.com with HTTPS; {rx}"
        ),
    );
    if input.external {
        external_hops(&mut add, input, &rx);
    } else {
        add(
            "Received",
            format!(
                "from AS8PR07MB7495.eurprd07.prod.outlook.com ([fe80::5d1c:38a2:bb17:4e09]) by AS8PR07MB7495.eurprd07.prod.outlook.com ([fe80::5d1c:38a2:bb17:4e09%5]) with mapi id 15.20.8489.015; {rx}"
            ),
        );
    }
    add("From", address(input.from));
    add("To", address_list(input.to));
    if !input.cc.is_empty() {
        add("CC", address_list(input.cc));
    }
    add("Subject", encode_word(input.subject));
    add("Thread-Topic", encode_word(input.topic));
    add("Thread-Index", input.thread_index.to_owned());
    add("Date", rfc5322(input.sent));
    add("Message-ID", input.message_id.to_owned());
    if let Some(parent) = input.in_reply_to {
        add("References", parent.to_owned());
        add("In-Reply-To", parent.to_owned());
    }
    exchange_headers(&mut add, input);
    out
}

/// Headers Exchange adds on delivery, then the message's own X-headers.
fn exchange_headers(add: &mut impl FnMut(&str, String), input: &HeaderInput<'_>) {
    add("Accept-Language", "en-US, de-DE".to_owned());
    add("Content-Language", "en-US".to_owned());
    let has_attach = if input.has_attach { "yes" } else { "" };
    add("X-MS-Has-Attach", has_attach.to_owned());
    add("X-MS-TNEF-Correlator", String::new());
    let auth_as = if input.external { "Anonymous" } else { "Internal" };
    add("X-MS-Exchange-Organization-AuthAs", auth_as.to_owned());
    let source = "AS8PR07MB7495.eurprd07.prod.outlook.com";
    add("X-MS-Exchange-Organization-AuthSource", source.to_owned());
    let network_id = guid_text(derive16(input.mailbox_guid, "network-message-id", input.seed));
    add("X-MS-Exchange-Organization-Network-Message-Id", network_id);
    let scl = if input.external { "1" } else { "-1" };
    add("X-MS-Exchange-Organization-SCL", scl.to_owned());
    add("X-MS-PublicTrafficType", "Email".to_owned());
    for (name, value) in input.x_headers {
        add(name, value.clone());
    }
}

/// The hops and authentication results of mail that came in from the internet.
fn external_hops(add: &mut impl FnMut(&str, String), input: &HeaderInput<'_>, rx: &str) {
    let domain = input.from.address.rsplit('@').next().unwrap_or("example.net");
    add(
        "Received",
        format!(
            "from AM4PEPF00027A5F.eurprd04.prod.outlook.com (2603:10a6:20b:5e2:cafe::44) by AS8PR07MB7495.eurprd07.prod.outlook.com (2603:10a6:20b:3a4::21) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.8489.15 via Frontend Transport; {rx}"
        ),
    );
    add(
        "Received",
        format!(
            "from mail.{domain} (203.0.113.25) by AM4PEPF00027A5F.mail.protection.outlook.com (10.167.16.73) with Microsoft SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.8489.15 via Frontend Transport; {rx}"
        ),
    );
    add(
        "Authentication-Results",
        format!(
            "spf=pass (sender IP is 203.0.113.25) smtp.mailfrom={domain}; dkim=pass (signature was verified) header.d={domain};dmarc=pass action=none header.from={domain};compauth=pass reason=100"
        ),
    );
    add(
        "Received-SPF",
        format!(
            "Pass (protection.outlook.com: domain of {domain} designates 203.0.113.25 as permitted sender) receiver=protection.outlook.com; client-ip=203.0.113.25; helo=mail.{domain}; pr=C"
        ),
    );
    add("DKIM-Signature", dkim_signature(domain, input));
}

/// A DKIM-Signature with a real body hash of the text part and a deterministic signature blob.
fn dkim_signature(domain: &str, input: &HeaderInput<'_>) -> String {
    let body_hash = STANDARD.encode(Sha256::digest(input.body.as_bytes()));
    let mut blob = Vec::with_capacity(256);
    for i in 0..16 {
        blob.extend_from_slice(&derive16(input.mailbox_guid, "dkim", input.seed * 16 + i));
    }
    let signature = STANDARD.encode(blob);
    let folded: Vec<&str> = signature
        .as_bytes()
        .chunks(72)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=selector1;\r\n\tt={}; h=From:To:Subject:Date:Message-ID:Content-Type:MIME-Version;\r\n\tbh={body_hash};\r\n\tb={}",
        input.sent.unix_timestamp(),
        folded.join("\r\n\t ")
    )
}

/// A conversation index: a reserved byte, five bytes of FILETIME, the conversation GUID, and
/// five bytes per reply level.
pub(crate) fn conversation_index(mailbox_guid: &str, conversation: u64, at: OffsetDateTime, replies: u8) -> String {
    let filetime = (at.unix_timestamp() as u64 + 11_644_473_600) * 10_000_000;
    let mut out = vec![0x01];
    out.extend_from_slice(&filetime.to_be_bytes()[..5]);
    out.extend_from_slice(&derive16(mailbox_guid, "conversation", conversation));
    for level in 0..replies {
        out.extend_from_slice(&derive16(mailbox_guid, "reply", conversation * 8 + u64::from(level))[..5]);
    }
    STANDARD.encode(out)
}
