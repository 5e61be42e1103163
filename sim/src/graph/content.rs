//! The seeded mailbox of every sandbox user: five realistic messages with HTML and text bodies,
//! transport headers, an X-header extended property, and every kind of attachment (PDF, text,
//! inline image, non-ASCII workbook name, a 48 MiB video generated on the fly, an attached
//! email, a cloud link). Deterministic per mailbox GUID; each user's content differs.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use time::{Duration, OffsetDateTime, macros::datetime};

use super::extprops::PropId;
use super::files::{self, Content};
use super::headers::{HeaderInput, conversation_index, transport_headers};
use super::mime::top_headers;
use super::store::{
    Attachment, AttachmentKind, BodyKind, FlagState, Mailbox, MessageBody, MessageData, MessageState, Person,
    StoredMessage,
};
use crate::ids::{
    ItemId, derive16, mint_attachment_key, mint_conversation_id, mint_folder_entry_id, mint_message_entry_id,
};
use crate::seed::{SeedTenant, SeedUser};

/// Size of the generated video attachment every seeded mailbox has.
pub const LARGE_ATTACHMENT_BYTES: u64 = 48 * 1024 * 1024;
/// Global counter of every mailbox's Inbox folder.
pub(crate) const INBOX_COUNTER: u64 = 0x0000_0000_010C;
/// `ftyp` box of an ISO base media file, so the generated video starts like an MP4.
const MP4_HEADER: &[u8] = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41";
/// PS_INTERNET_HEADERS.
const PS_INTERNET_HEADERS: &str = "00020386-0000-0000-C000-000000000046";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

const PROJECTS: &[&str] = &[
    "Harbour Bridge retrofit",
    "Riverside campus",
    "Northgate depot",
    "Lakeside clinic",
];
const SITES: &[&str] = &["Building 4", "Hangar 2", "Pier 7", "Block C"];
const CUSTOMERS: &[&str] = &[
    "Tailspin Toys",
    "Wide World Importers",
    "Alpine Ski House",
    "Coho Winery",
];
const CITIES: &[&str] = &["東京", "München", "São Paulo", "Zürich"];

/// Builds the mailboxes of all users in the seed.
pub(crate) fn seed_mailboxes(seed: &SeedTenant) -> Vec<Arc<Mailbox>> {
    seed.users
        .iter()
        .enumerate()
        .map(|(index, user)| Arc::new(build_mailbox(seed, user, index)))
        .collect()
}

/// Everything that varies between users.
struct Ctx<'a> {
    seed: &'a SeedTenant,
    user: &'a SeedUser,
    me: Person,
    index: usize,
    guid: &'a str,
    base: OffsetDateTime,
}

impl Ctx<'_> {
    fn pick<'b>(&self, list: &[&'b str]) -> &'b str {
        list[self.index % list.len()]
    }

    fn first_name(&self) -> &str {
        self.user
            .display_name
            .split(' ')
            .next()
            .unwrap_or(&self.user.display_name)
    }

    fn colleague(&self, name: &str) -> Person {
        let local = name.to_ascii_lowercase().replace(' ', ".");
        Person::new(name, &format!("{local}@{}", self.seed.domain))
    }

    /// Another seeded user, when there is one, so forwarded mail crosses real mailboxes.
    fn peer(&self) -> Person {
        let users = &self.seed.users;
        match users.get((self.index + 1) % users.len()) {
            Some(peer) if users.len() > 1 => Person::new(&peer.display_name, &peer.upn),
            _ => self.colleague("Nestor Wilke"),
        }
    }
}

fn build_mailbox(seed: &SeedTenant, user: &SeedUser, index: usize) -> Mailbox {
    let offset = i64::try_from(index).unwrap_or(0);
    let ctx = Ctx {
        seed,
        user,
        me: Person::new(&user.display_name, &user.upn),
        index,
        guid: &user.mailbox_guid,
        base: datetime!(2026-03-02 08:14:31 UTC) + Duration::days(offset) + Duration::minutes(37 * offset),
    };
    let builders: [fn(&Ctx<'_>, u64) -> Seeded; 5] =
        [invoice, site_visit, drone_footage, forwarded_contract, parking_reply];
    let messages = builders
        .iter()
        .enumerate()
        .map(|(i, build)| {
            let counter = 0x0002_506D_4B00 + (i as u64) * 0x1F3;
            Arc::new(store(&ctx, counter, build(&ctx, counter)))
        })
        .collect();
    Mailbox {
        user: user.clone(),
        messages,
    }
}

/// A message before it gets ids.
struct Seeded {
    draft: Draft,
    attachments: Vec<(String, AttachmentKind)>,
    is_read: bool,
    categories: Vec<String>,
    flag: &'static str,
    single: Vec<(PropId, String)>,
}

impl Seeded {
    /// An unread, unflagged message without extended properties.
    fn new(draft: Draft, attachments: Vec<(String, AttachmentKind)>) -> Seeded {
        Seeded {
            draft,
            attachments,
            is_read: false,
            categories: Vec::new(),
            flag: "notFlagged",
            single: Vec::new(),
        }
    }
}

/// What a message says.
struct Draft {
    subject: String,
    topic: String,
    from: Person,
    to: Vec<Person>,
    cc: Vec<Person>,
    reply_to: Vec<Person>,
    received: OffsetDateTime,
    body: MessageBody,
    unique_body: Option<MessageBody>,
    importance: &'static str,
    external: bool,
    x_headers: Vec<(String, String)>,
    conversation: u64,
    replies: u8,
    in_reply_to: Option<String>,
}

impl Draft {
    fn new(subject: String, from: Person, to: Vec<Person>, received: OffsetDateTime, body: MessageBody) -> Draft {
        Draft {
            topic: subject.trim_start_matches("FW: ").trim_start_matches("Re: ").to_owned(),
            subject,
            from,
            to,
            cc: Vec::new(),
            reply_to: Vec::new(),
            received,
            body,
            unique_body: None,
            importance: "normal",
            external: false,
            x_headers: Vec::new(),
            conversation: 0,
            replies: 0,
            in_reply_to: None,
        }
    }

    /// The message content with headers, for a given attachment list.
    fn finish(self, guid: &str, seed: u64, attachments: Vec<Attachment>) -> MessageData {
        let tag_bytes = derive16(guid, "boundary", seed);
        let tag: String = tag_bytes.iter().map(|b| format!("{b:02X}")).collect();
        let boundary_tag = format!("AS8PR07MB7495{tag}eurprd07prod");
        let host = if self.external {
            format!("mail.{}", self.from.address.rsplit('@').next().unwrap_or("example.net"))
        } else {
            "AS8PR07MB7495.eurprd07.prod.outlook.com".to_owned()
        };
        let message_id = format!("<AS8PR07MB7495{}@{host}>", &tag[..20]);
        let sent = self.received - Duration::seconds(2);
        let thread_index = conversation_index(guid, self.conversation, sent, self.replies);
        let text_for_dkim = match self.body.kind {
            BodyKind::Html => super::convert::html_to_text(&self.body.content),
            BodyKind::Text => self.body.content.clone(),
        };
        let mut headers = transport_headers(&HeaderInput {
            mailbox_guid: guid,
            seed,
            from: &self.from,
            to: &self.to,
            cc: &self.cc,
            subject: &self.subject,
            topic: &self.topic,
            sent,
            received: self.received,
            message_id: &message_id,
            in_reply_to: self.in_reply_to.as_deref(),
            thread_index: &thread_index,
            has_attach: attachments.iter().any(|a| !a.is_inline()),
            external: self.external,
            x_headers: &self.x_headers,
            body: &text_for_dkim,
        });
        headers.extend(top_headers(self.body.kind, &attachments, &boundary_tag));
        MessageData {
            unique_body: self.unique_body.unwrap_or_else(|| self.body.clone()),
            subject: self.subject,
            from: self.from,
            to: self.to,
            cc: self.cc,
            reply_to: self.reply_to,
            sent,
            received: self.received,
            body: self.body,
            importance: self.importance,
            internet_message_id: message_id,
            conversation_id: mint_conversation_id(guid, self.conversation),
            conversation_index: thread_index,
            headers,
            attachments,
            boundary_tag,
        }
    }
}

/// Gives a seeded message its ids, attachment keys and initial state.
fn store(ctx: &Ctx<'_>, counter: u64, seeded: Seeded) -> StoredMessage {
    let received = seeded.draft.received;
    let attachments = seeded
        .attachments
        .into_iter()
        .enumerate()
        .map(|(i, (name, kind))| Attachment {
            key: mint_attachment_key(ctx.guid, counter, i as u64 + 1),
            name,
            last_modified: received + Duration::seconds(1),
            kind,
        })
        .collect();
    let importance = seeded.draft.importance;
    let data = seeded.draft.finish(ctx.guid, counter, attachments);
    let item = ItemId::new(ctx.guid, mint_message_entry_id(ctx.guid, INBOX_COUNTER, counter));
    StoredMessage {
        rest_id: item.to_rest(),
        ews_id: item.to_ews(),
        parent_folder_id: ItemId::new(ctx.guid, mint_folder_entry_id(ctx.guid, INBOX_COUNTER)).to_rest(),
        item,
        created: received + Duration::seconds(1),
        state: Mutex::new(MessageState {
            change_counter: counter << 4,
            last_modified: received + Duration::seconds(3),
            is_read: seeded.is_read,
            categories: seeded.categories,
            flag: FlagState {
                status: seeded.flag.to_owned(),
            },
            importance: importance.to_owned(),
            inference: "focused".to_owned(),
            single: seeded.single,
            multi: Vec::new(),
        }),
        data: Arc::new(data),
    }
}

fn html(paragraphs: &[String]) -> MessageBody {
    let mut content = String::from(
        "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><style type=\"text/css\" style=\"display:none;\"> P {margin-top:0;margin-bottom:0;} </style>\r\n</head>\r\n<body dir=\"ltr\">\r\n<div style=\"font-family: Aptos, Aptos_EmbeddedFont, Aptos_MSFontService, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);\">\r\n",
    );
    for p in paragraphs {
        content.push_str(&format!("<div>{p}</div>\r\n<div><br></div>\r\n"));
    }
    content.push_str("</div>\r\n</body>\r\n</html>\r\n");
    MessageBody {
        kind: BodyKind::Html,
        content,
    }
}

fn invoice(ctx: &Ctx<'_>, counter: u64) -> Seeded {
    let number = 412 + 37 * ctx.index;
    let project = ctx.pick(PROJECTS);
    let amount = 18_450 + 1_275 * ctx.index;
    let workfront = format!("WF-{}", 88_213 + 1_000 * ctx.index);
    let billing = Person::new("Fabrikam Billing", "billing@fabrikam.com");
    let body = html(&[
        format!("Dear {},", ctx.first_name()),
        format!(
            "please find attached invoice INV-2026-{number:04} for the {project} works completed in February &ndash; EUR {amount},00 due within 30 days."
        ),
        "Remittance details are in the text file. Quote the invoice number with your payment.".to_owned(),
        "Kind regards,<br>Fabrikam Accounts Receivable".to_owned(),
    ]);
    let mut draft = Draft::new(
        format!("Invoice INV-2026-{number:04} – {project}"),
        billing,
        vec![ctx.me.clone()],
        ctx.base,
        body,
    );
    draft.external = true;
    draft.reply_to = vec![Person::new(
        "Fabrikam Accounts Receivable",
        "accounts.receivable@fabrikam.com",
    )];
    draft.x_headers = vec![("X-Workfront-Id".into(), workfront.clone())];
    draft.conversation = counter;
    let mut seeded = Seeded::new(draft, invoice_files(ctx, number, project, amount));
    seeded.single = vec![(PropId::named_string(PS_INTERNET_HEADERS, "X-Workfront-Id"), workfront)];
    seeded
}

/// The invoice PDF and the remittance text file.
fn invoice_files(ctx: &Ctx<'_>, number: usize, project: &str, amount: usize) -> Vec<(String, AttachmentKind)> {
    let pdf_lines = vec![
        "Fabrikam, Inc. - Invoice".to_owned(),
        format!("Invoice number: INV-2026-{number:04}"),
        format!("Customer: {} ({})", ctx.seed.domain, ctx.user.display_name),
        format!("Project: {project}"),
        format!("Amount due: EUR {amount},00"),
        "Payment terms: 30 days net".to_owned(),
    ];
    let remittance = format!(
        "Remittance details\r\nBeneficiary: Fabrikam, Inc.\r\nIBAN: DE89 3704 0044 0532 0130 00\r\nBIC: COBADEFFXXX\r\nReference: INV-2026-{number:04}\r\nAmount: EUR {amount},00\r\n"
    );
    let pdf = files::pdf(&format!("INV-2026-{number:04}"), &pdf_lines);
    vec![
        (format!("INV-2026-{number:04}.pdf"), file("application/pdf", pdf)),
        (
            "remittance-details.txt".to_owned(),
            file("text/plain", Bytes::from(remittance)),
        ),
    ]
}

fn file(content_type: &str, bytes: Bytes) -> AttachmentKind {
    AttachmentKind::File {
        content_type: content_type.to_owned(),
        content: Content::Held(bytes),
        is_inline: false,
        content_id: None,
    }
}

fn site_visit(ctx: &Ctx<'_>, counter: u64) -> Seeded {
    let site = ctx.pick(SITES);
    let city = ctx.pick(CITIES);
    let cid = format!("image001.png@01DCAA5E.{:08X}", counter & 0xFFFF_FFFF);
    let body = html(&[
        format!("Hi {},", ctx.first_name()),
        format!("here is the entrance of {site} as it looked this morning:"),
        format!(
            "<img src=\"cid:{cid}\" width=\"320\" height=\"180\" alt=\"{site} entrance\" style=\"width: 320px; height: 180px;\">"
        ),
        format!("The Übersicht for März with the {city} figures is attached. Let me know if anything is missing."),
        "Megan".to_owned(),
    ]);
    let mut draft = Draft::new(
        format!("Site visit {site}: photos and Übersicht März"),
        ctx.colleague("Megan Bowen"),
        vec![ctx.me.clone()],
        ctx.base + Duration::minutes(52),
        body,
    );
    draft.cc = vec![ctx.colleague("Lee Gu")];
    draft.conversation = counter;
    let tint = [[40, 90, 160], [150, 70, 40], [30, 120, 60], [110, 60, 140]][ctx.index % 4];
    let image = AttachmentKind::File {
        content_type: "image/png".to_owned(),
        content: Content::Held(files::png(64, 36, tint)),
        is_inline: true,
        content_id: Some(cid),
    };
    let workbook = file(XLSX, monthly_figures(ctx, site, city));
    let attachments = vec![
        ("image001.png".to_owned(), image),
        (format!("Übersicht März 2026 – {city}.xlsx"), workbook),
    ];
    let mut seeded = Seeded::new(draft, attachments);
    seeded.is_read = true;
    seeded.categories = vec!["Blue category".to_owned()];
    seeded
}

/// The workbook attached to the site visit mail.
fn monthly_figures(ctx: &Ctx<'_>, site: &str, city: &str) -> Bytes {
    let hours = (120 + 8 * ctx.index).to_string();
    let cost = (9_840 + 410 * ctx.index).to_string();
    let rows = vec![
        vec![
            "Standort".to_owned(),
            "Monat".to_owned(),
            "Stunden".to_owned(),
            "Kosten (EUR)".to_owned(),
        ],
        vec![
            format!("{site} – {city}"),
            "März 2026".to_owned(),
            hours.clone(),
            cost.clone(),
        ],
        vec!["Gesamt".to_owned(), String::new(), hours, cost],
    ];
    files::xlsx("März", &rows)
}

fn drone_footage(ctx: &Ctx<'_>, counter: u64) -> Seeded {
    let site = ctx.pick(SITES);
    let body = html(&[
        format!("{},", ctx.first_name()),
        format!("attached is the raw drone footage of the {site} roof survey (about 48 MB, sorry for the size)."),
        "The budget sheet is linked from OneDrive instead of attached.".to_owned(),
        "Lee".to_owned(),
    ]);
    let mut draft = Draft::new(
        format!("Drone survey footage – {site} (raw)"),
        ctx.colleague("Lee Gu"),
        vec![ctx.me.clone()],
        ctx.base + Duration::hours(3),
        body,
    );
    draft.importance = "high";
    draft.conversation = counter;
    let video = Content::Generated {
        seed: u64::from_le_bytes(derive16(ctx.guid, "video", counter)[..8].try_into().unwrap_or([0; 8])),
        len: super::extra::large_attachment_bytes(),
        header: MP4_HEADER,
    };
    let video = AttachmentKind::File {
        content_type: "video/mp4".to_owned(),
        content: video,
        is_inline: false,
        content_id: None,
    };
    let link = AttachmentKind::Reference {
        content_type: XLSX.to_owned(),
    };
    let name = format!("drone-survey-{}-raw.mp4", site.to_ascii_lowercase().replace(' ', "-"));
    let mut seeded = Seeded::new(draft, vec![(name, video), ("Budget FY27.xlsx".to_owned(), link)]);
    seeded.flag = "flagged";
    seeded
}

/// The customer's mail that gets forwarded as an attachment.
fn signed_contract(ctx: &Ctx<'_>, counter: u64, customer: &str) -> MessageData {
    let domain = customer.to_ascii_lowercase().replace(' ', "");
    let legal = Person::new("佐藤 健二 (Kenji Sato)", &format!("kenji.sato@{domain}.example"));
    let inner_body = html(&[
        "Good afternoon,".to_owned(),
        format!(
            "the countersigned service contract between {customer} and Contoso is attached to our records; the term starts on 1 April 2026."
        ),
        "Best regards,<br>Kenji Sato<br>Legal Department".to_owned(),
    ]);
    let mut inner = Draft::new(
        format!("Signed contract – {customer}"),
        legal,
        vec![ctx.peer()],
        ctx.base - Duration::days(2),
        inner_body,
    );
    inner.external = true;
    inner.conversation = counter;
    inner.finish(ctx.guid, counter, Vec::new())
}

fn forwarded_contract(ctx: &Ctx<'_>, counter: u64) -> Seeded {
    let customer = ctx.pick(CUSTOMERS);
    let inner = signed_contract(ctx, counter + 1, customer);
    let note = format!("FYI – the signed {customer} contract, forwarded as an attachment.");
    let unique = html(std::slice::from_ref(&note));
    let body = html(&[
        note,
        "<hr style=\"display:inline-block;width:98%\" tabindex=\"-1\">".to_owned(),
        format!(
            "<b>From:</b> Kenji Sato<br><b>Sent:</b> {}<br><b>Subject:</b> {}",
            outlook_date(inner.sent),
            inner.subject
        ),
    ]);
    let mut draft = Draft::new(
        format!("FW: {}", inner.subject),
        ctx.peer(),
        vec![ctx.me.clone()],
        ctx.base + Duration::hours(5),
        body,
    );
    draft.unique_body = Some(unique);
    draft.conversation = counter;
    draft.replies = 1;
    draft.in_reply_to = Some(inner.internet_message_id.clone());
    let name = inner.subject.clone();
    let mut seeded = Seeded::new(
        draft,
        vec![(
            name,
            AttachmentKind::Item {
                message: Arc::new(inner),
            },
        )],
    );
    seeded.is_read = true;
    seeded
}

/// `Saturday, February 28, 2026 1:14 PM`, as Outlook writes dates in forwarded headers.
fn outlook_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday], [month repr:long] [day padding:none], [year] [hour repr:12 padding:none]:[minute] [period]"
    );
    at.format(format).unwrap_or_default()
}

fn parking_reply(ctx: &Ctx<'_>, counter: u64) -> Seeded {
    let level = ["-2", "-1", "P3", "P1"][ctx.index % 4];
    let new_text = format!(
        "Hi {},\r\n\r\nyour badge is enabled for level {level} from Monday 9 March. Visitor spaces stay on level 0.\r\n\r\nAdele\r\n",
        ctx.first_name()
    );
    let quoted = format!(
        "{new_text}\r\n-----Original Message-----\r\nFrom: {}\r\nSent: Friday, 6 March 2026 16:02\r\nSubject: Parking garage access from Monday\r\n\r\n> Could you enable my badge for the garage? Thanks!\r\n",
        ctx.user.display_name
    );
    let body = MessageBody {
        kind: BodyKind::Text,
        content: quoted,
    };
    let mut draft = Draft::new(
        "Re: Parking garage access from Monday".to_owned(),
        ctx.colleague("Adele Vance"),
        vec![ctx.me.clone()],
        ctx.base + Duration::days(4),
        body,
    );
    draft.unique_body = Some(MessageBody {
        kind: BodyKind::Text,
        content: new_text,
    });
    draft.conversation = counter;
    draft.replies = 1;
    let mut seeded = Seeded::new(draft, Vec::new());
    seeded.is_read = true;
    seeded.categories = vec!["Facilities".to_owned()];
    seeded.flag = "complete";
    seeded
}
