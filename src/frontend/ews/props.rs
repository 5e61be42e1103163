//! Which message properties a request asks for, in the schema's order, and how each one is
//! fetched from Graph: `FieldURI`s map to `$select` fields, `ExtendedFieldURI`s to Graph
//! extended-property ids (`String {guid} Name X`, `Integer {guid} Id 0x8012`, `String 0x007D`).
//! Properties Graph has no equivalent for on a message (calendar, contact, task fields) are
//! not fetched and not rendered, as Exchange omits properties that do not apply to an item.

use super::{
    fault::EwsError,
    request::{BaseShape, ExtendedField, PropertyPath},
};

/// Message properties the gateway renders, in `t:ItemType` then `t:MessageType` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prop {
    /// `MimeContent` (streamed from `$value`).
    MimeContent,
    /// `ItemId` with `ChangeKey`.
    ItemId,
    /// `ParentFolderId`.
    ParentFolderId,
    /// `ItemClass`.
    ItemClass,
    /// `Subject`.
    Subject,
    /// `Body`.
    Body,
    /// `Attachments`.
    Attachments,
    /// `DateTimeReceived`.
    DateTimeReceived,
    /// `Size`.
    Size,
    /// `Categories`.
    Categories,
    /// `Importance`.
    Importance,
    /// `IsDraft`.
    IsDraft,
    /// `InternetMessageHeaders`.
    InternetMessageHeaders,
    /// `DateTimeSent`.
    DateTimeSent,
    /// `DateTimeCreated`.
    DateTimeCreated,
    /// `DisplayCc`.
    DisplayCc,
    /// `DisplayTo`.
    DisplayTo,
    /// `HasAttachments`.
    HasAttachments,
    /// `ExtendedProperty` elements (position marker).
    Extended,
    /// `LastModifiedTime`.
    LastModifiedTime,
    /// `ConversationId`.
    ConversationId,
    /// `UniqueBody`.
    UniqueBody,
    /// `Flag`.
    Flag,
    /// `Preview`.
    Preview,
    /// `TextBody`.
    TextBody,
    /// `InferenceClassification`.
    InferenceClassification,
    /// `Sender`.
    Sender,
    /// `ToRecipients`.
    ToRecipients,
    /// `CcRecipients`.
    CcRecipients,
    /// `BccRecipients`.
    BccRecipients,
    /// `IsReadReceiptRequested`.
    IsReadReceiptRequested,
    /// `IsDeliveryReceiptRequested`.
    IsDeliveryReceiptRequested,
    /// `ConversationIndex`.
    ConversationIndex,
    /// `From`.
    From,
    /// `InternetMessageId`.
    InternetMessageId,
    /// `IsRead`.
    IsRead,
    /// `ReplyTo`.
    ReplyTo,
}

/// `FieldURI` → property.
const FIELD_URIS: &[(&str, Prop)] = &[
    ("item:MimeContent", Prop::MimeContent),
    ("item:ItemId", Prop::ItemId),
    ("item:ParentFolderId", Prop::ParentFolderId),
    ("item:ItemClass", Prop::ItemClass),
    ("item:Subject", Prop::Subject),
    ("item:Body", Prop::Body),
    ("item:Attachments", Prop::Attachments),
    ("item:DateTimeReceived", Prop::DateTimeReceived),
    ("item:Size", Prop::Size),
    ("item:Categories", Prop::Categories),
    ("item:Importance", Prop::Importance),
    ("item:IsDraft", Prop::IsDraft),
    ("item:InternetMessageHeaders", Prop::InternetMessageHeaders),
    ("item:DateTimeSent", Prop::DateTimeSent),
    ("item:DateTimeCreated", Prop::DateTimeCreated),
    ("item:DisplayCc", Prop::DisplayCc),
    ("item:DisplayTo", Prop::DisplayTo),
    ("item:HasAttachments", Prop::HasAttachments),
    ("item:LastModifiedTime", Prop::LastModifiedTime),
    ("item:ConversationId", Prop::ConversationId),
    ("item:UniqueBody", Prop::UniqueBody),
    ("item:Flag", Prop::Flag),
    ("item:Preview", Prop::Preview),
    ("item:TextBody", Prop::TextBody),
    ("item:InferenceClassification", Prop::InferenceClassification),
    ("message:Sender", Prop::Sender),
    ("message:ToRecipients", Prop::ToRecipients),
    ("message:CcRecipients", Prop::CcRecipients),
    ("message:BccRecipients", Prop::BccRecipients),
    ("message:IsReadReceiptRequested", Prop::IsReadReceiptRequested),
    ("message:IsDeliveryReceiptRequested", Prop::IsDeliveryReceiptRequested),
    ("message:ConversationIndex", Prop::ConversationIndex),
    ("message:From", Prop::From),
    ("message:InternetMessageId", Prop::InternetMessageId),
    ("message:IsRead", Prop::IsRead),
    ("message:ReplyTo", Prop::ReplyTo),
];

/// Exchange's `Default` shape for messages.
const DEFAULT_SHAPE: &[Prop] = &[
    Prop::ItemId,
    Prop::Subject,
    Prop::Body,
    Prop::Attachments,
    Prop::HasAttachments,
    Prop::Sender,
    Prop::ToRecipients,
    Prop::CcRecipients,
    Prop::From,
    Prop::IsRead,
];

/// Properties `AllProperties` leaves out (they are only returned when asked for by name).
const NOT_IN_ALL: &[Prop] = &[
    Prop::MimeContent,
    Prop::UniqueBody,
    Prop::TextBody,
    Prop::InternetMessageHeaders,
    Prop::Size,
];

/// `PR_MESSAGE_SIZE`, Graph's only source of an item's size.
pub const SIZE_PROPERTY: &str = "Integer 0x0E08";

/// Distinguished property sets and their GUIDs.
const PROPERTY_SETS: &[(&str, &str)] = &[
    ("PublicStrings", "00020329-0000-0000-C000-000000000046"),
    ("InternetHeaders", "00020386-0000-0000-C000-000000000046"),
    ("Common", "00062008-0000-0000-C000-000000000046"),
    ("Address", "00062004-0000-0000-C000-000000000046"),
    ("Appointment", "00062002-0000-0000-C000-000000000046"),
    ("Task", "00062003-0000-0000-C000-000000000046"),
    ("Meeting", "6ED8DA90-450B-101B-98DA-00AA003F1305"),
    ("CalendarAssistant", "11000E07-B51B-40D6-AF21-CAA85EDAB1D0"),
    ("UnifiedMessaging", "4442858E-A9E3-4E80-B900-317A210CC15B"),
    ("Sharing", "00062040-0000-0000-C000-000000000046"),
];

/// Single-valued MAPI property types (`MapiPropertyTypeType`) Graph can read and write.
const SINGLE_TYPES: &[&str] = &[
    "ApplicationTime",
    "Binary",
    "Boolean",
    "CLSID",
    "Currency",
    "Double",
    "Float",
    "Integer",
    "Long",
    "Short",
    "SystemTime",
    "String",
];

/// An extended property the request named, with its Graph id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedProp {
    /// The attributes as the client sent them (echoed back).
    pub field: ExtendedField,
    /// Graph's `singleValueExtendedProperties` id.
    pub graph_id: String,
}

/// What to fetch and render for one GetItem.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Properties in schema order, without duplicates.
    pub props: Vec<Prop>,
    /// Extended properties in request order.
    pub extended: Vec<ExtendedProp>,
    /// An invalid `ExtendedFieldURI`, reported for every item.
    pub invalid: Option<EwsError>,
}

impl Selection {
    /// The selection for a base shape plus additional properties.
    pub fn new(base: BaseShape, include_mime: bool, additional: &[PropertyPath]) -> Selection {
        let mut props: Vec<Prop> = match base {
            BaseShape::IdOnly => vec![Prop::ItemId],
            BaseShape::Default => DEFAULT_SHAPE.to_vec(),
            BaseShape::AllProperties => FIELD_URIS
                .iter()
                .map(|(_, p)| *p)
                .filter(|p| !NOT_IN_ALL.contains(p))
                .collect(),
        };
        if include_mime {
            props.push(Prop::MimeContent);
        }
        let mut selection = Selection::default();
        for path in additional {
            match path {
                PropertyPath::Field(uri) => {
                    if let Some((_, prop)) = FIELD_URIS.iter().find(|(u, _)| u == uri) {
                        props.push(*prop);
                    }
                }
                PropertyPath::Indexed(..) => {}
                PropertyPath::Extended(field) => match graph_id(field) {
                    Ok(Some(graph_id)) => {
                        if !selection.extended.iter().any(|e| e.graph_id == graph_id) {
                            selection.extended.push(ExtendedProp {
                                field: field.clone(),
                                graph_id,
                            });
                        }
                    }
                    Ok(None) => {}
                    Err(e) => selection.invalid = Some(e),
                },
            }
        }
        props.sort();
        props.dedup();
        selection.props = props;
        selection
    }

    /// Whether `prop` is selected.
    pub fn has(&self, prop: Prop) -> bool {
        self.props.contains(&prop)
    }

    /// Graph `$select` fields for the selected properties.
    pub fn graph_select(&self) -> Vec<&'static str> {
        let mut out = vec!["id"];
        for prop in &self.props {
            for field in graph_fields(*prop) {
                if !out.contains(field) {
                    out.push(field);
                }
            }
        }
        out
    }

    /// Graph ids of the extended properties to expand (the requested ones, and
    /// `PR_MESSAGE_SIZE` when `Size` is wanted).
    pub fn graph_extended_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.extended.iter().map(|e| e.graph_id.clone()).collect();
        if self.has(Prop::Size) {
            ids.push(SIZE_PROPERTY.to_owned());
        }
        ids
    }
}

fn graph_fields(prop: Prop) -> &'static [&'static str] {
    match prop {
        Prop::MimeContent | Prop::ItemClass | Prop::Attachments | Prop::Extended | Prop::Size => &[],
        Prop::ItemId => &["changeKey"],
        Prop::ParentFolderId => &["parentFolderId"],
        Prop::Subject => &["subject"],
        Prop::Body | Prop::TextBody => &["body"],
        Prop::DateTimeReceived => &["receivedDateTime"],
        Prop::Categories => &["categories"],
        Prop::Importance => &["importance"],
        Prop::IsDraft => &["isDraft"],
        Prop::InternetMessageHeaders => &["internetMessageHeaders"],
        Prop::DateTimeSent => &["sentDateTime"],
        Prop::DateTimeCreated => &["createdDateTime"],
        Prop::DisplayCc => &["ccRecipients"],
        Prop::DisplayTo => &["toRecipients"],
        Prop::HasAttachments => &["hasAttachments"],
        Prop::LastModifiedTime => &["lastModifiedDateTime"],
        Prop::ConversationId => &["conversationId"],
        Prop::UniqueBody => &["uniqueBody"],
        Prop::Flag => &["flag"],
        Prop::Preview => &["bodyPreview"],
        Prop::InferenceClassification => &["inferenceClassification"],
        Prop::Sender => &["sender"],
        Prop::ToRecipients => &["toRecipients"],
        Prop::CcRecipients => &["ccRecipients"],
        Prop::BccRecipients => &["bccRecipients"],
        Prop::IsReadReceiptRequested => &["isReadReceiptRequested"],
        Prop::IsDeliveryReceiptRequested => &["isDeliveryReceiptRequested"],
        Prop::ConversationIndex => &["conversationIndex"],
        Prop::From => &["from"],
        Prop::InternetMessageId => &["internetMessageId"],
        Prop::IsRead => &["isRead"],
        Prop::ReplyTo => &["replyTo"],
    }
}

fn invalid(why: &str) -> EwsError {
    EwsError::new(
        "ErrorInvalidExtendedProperty",
        format!("The extended property attribute combination is invalid: {why}."),
    )
}

/// The Graph id for an `ExtendedFieldURI`, following [MS-OXWSCORE] attribute rules.
/// `Ok(None)`: a valid multi-valued (array) property, which this gateway does not map.
pub fn graph_id(f: &ExtendedField) -> Result<Option<String>, EwsError> {
    if f.ty.ends_with("Array") && SINGLE_TYPES.contains(&f.ty.trim_end_matches("Array")) {
        return Ok(None);
    }
    if !SINGLE_TYPES.contains(&f.ty.as_str()) {
        return Err(invalid(&format!("'{}' is not a supported PropertyType", f.ty)));
    }
    let set = match (&f.distinguished_set, &f.set_id) {
        (Some(_), Some(_)) => return Err(invalid("both DistinguishedPropertySetId and PropertySetId")),
        (Some(name), None) => Some(
            PROPERTY_SETS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, guid)| (*guid).to_owned())
                .ok_or_else(|| invalid(&format!("'{name}' is not a distinguished property set")))?,
        ),
        (None, Some(guid)) if is_guid(guid) => Some(guid.to_ascii_uppercase()),
        (None, Some(_)) => return Err(invalid("PropertySetId is not a GUID")),
        (None, None) => None,
    };
    let ty = &f.ty;
    match (set, &f.tag, &f.name, &f.id) {
        (None, Some(tag), None, None) => {
            let tag = parse_number(tag).ok_or_else(|| invalid("PropertyTag is not a number"))?;
            if tag == 0 || tag >= 0x8000 {
                return Err(invalid(
                    "PropertyTag must be between 0x0001 and 0x7FFF; use a named property",
                ));
            }
            Ok(Some(format!("{ty} 0x{tag:04X}")))
        }
        (Some(guid), None, Some(name), None) if !name.is_empty() => Ok(Some(format!("{ty} {{{guid}}} Name {name}"))),
        (Some(guid), None, None, Some(id)) => {
            let id = parse_number(id).ok_or_else(|| invalid("PropertyId is not a number"))?;
            Ok(Some(format!("{ty} {{{guid}}} Id 0x{id:04X}")))
        }
        _ => Err(invalid(
            "use PropertyTag alone, or a property set with exactly one of PropertyName and PropertyId",
        )),
    }
}

/// Decimal or `0x` hex.
fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn is_guid(text: &str) -> bool {
    let text = text.trim_start_matches('{').trim_end_matches('}');
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Graph ids compare with GUIDs and hex in any case and hex without leading zeros.
pub fn same_graph_id(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(id: &str) -> String {
    id.split(' ')
        .map(
            |token| match token.strip_prefix("0x").or_else(|| token.strip_prefix("0X")) {
                Some(hex) => {
                    u32::from_str_radix(hex, 16).map_or_else(|_| token.to_ascii_lowercase(), |n| format!("0x{n:x}"))
                }
                None if token.starts_with('{') => token.to_ascii_lowercase(),
                None => token.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}
