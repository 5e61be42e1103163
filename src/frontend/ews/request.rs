//! EWS requests in typed form: the SOAP header entries the gateway honours and the operations
//! it serves, read from the parsed envelope. Shape errors carry the position of the element at
//! fault, as Exchange's `ErrorSchemaValidation` does. This is the parser's public entry point
//! ([`parse_request`]), which the fuzz target and the corpus test drive.

use super::envelope::{Element, Envelope, Ns, SchemaError, parse_envelope};

/// `RequestServerVersion` values Exchange Online accepts (`ExchangeVersionType`).
pub const SERVER_VERSIONS: &[&str] = &[
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2012",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "V2017_10_09",
    "V2018_01_08",
];

/// Most ids served in one request (Exchange's default `EWSMaxBatchSize`-like bound).
pub const MAX_IDS: usize = 1000;

/// A request ready to dispatch.
#[derive(Debug, Clone)]
pub struct Request {
    /// `RequestServerVersion/@Version`, when sent.
    pub version: Option<String>,
    /// SMTP address (or other id) named by `ExchangeImpersonation`, when sent.
    pub impersonation: Option<String>,
    /// The operation.
    pub operation: Operation,
}

/// Operations the gateway understands.
#[derive(Debug, Clone)]
pub enum Operation {
    /// `m:GetAttachment`.
    GetAttachment(GetAttachment),
    /// `m:GetItem`.
    GetItem(GetItem),
    /// `m:UpdateItem`.
    UpdateItem(UpdateItem),
    /// `m:GetFolder`.
    GetFolder(GetFolder),
    /// `m:ConvertId`.
    ConvertId(ConvertId),
    /// Any other element in the messages namespace: answered with a fault naming it.
    Unsupported(String),
}

/// `BodyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    /// The body as stored (Graph's default, HTML for HTML mail).
    #[default]
    Best,
    /// HTML.
    Html,
    /// Plain text.
    Text,
}

/// `BaseShape`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseShape {
    /// Only the id.
    IdOnly,
    /// Exchange's default set.
    Default,
    /// Every first-class property.
    AllProperties,
}

/// `ExtendedFieldURI` attributes as sent; validated when mapped to a Graph id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendedField {
    /// `DistinguishedPropertySetId`.
    pub distinguished_set: Option<String>,
    /// `PropertySetId` (GUID).
    pub set_id: Option<String>,
    /// `PropertyTag`.
    pub tag: Option<String>,
    /// `PropertyName`.
    pub name: Option<String>,
    /// `PropertyId`.
    pub id: Option<String>,
    /// `PropertyType`.
    pub ty: String,
}

/// One entry of `AdditionalProperties` or the path of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyPath {
    /// `FieldURI`.
    Field(String),
    /// `IndexedFieldURI` (`FieldURI`, `FieldIndex`).
    Indexed(String, String),
    /// `ExtendedFieldURI`.
    Extended(ExtendedField),
}

/// `t:ItemId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    /// `Id`.
    pub id: String,
    /// `ChangeKey`, when sent.
    pub change_key: Option<String>,
}

/// `m:GetAttachment`.
#[derive(Debug, Clone)]
pub struct GetAttachment {
    /// `IncludeMimeContent` (item attachments).
    pub include_mime: bool,
    /// `BodyType`.
    pub body_type: BodyType,
    /// `AdditionalProperties` (item attachments).
    pub additional: Vec<PropertyPath>,
    /// Attachment ids in request order.
    pub ids: Vec<String>,
}

/// `m:GetItem`.
#[derive(Debug, Clone)]
pub struct GetItem {
    /// `BaseShape`.
    pub base: BaseShape,
    /// `IncludeMimeContent`.
    pub include_mime: bool,
    /// `BodyType`.
    pub body_type: BodyType,
    /// `AdditionalProperties`.
    pub additional: Vec<PropertyPath>,
    /// Item ids in request order.
    pub ids: Vec<ItemRef>,
}

/// `ConflictResolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictResolution {
    /// Fail when the item changed since the change key was read.
    NeverOverwrite,
    /// Exchange's default: write unless the change key is stale and the change conflicts.
    AutoResolve,
    /// Write regardless.
    AlwaysOverwrite,
}

/// One update of an `ItemChange`.
#[derive(Debug, Clone)]
pub enum Update {
    /// `SetItemField`: the path and the value found in the item element for it.
    Set {
        /// The property.
        path: PropertyPath,
        /// `Value` of the matching `ExtendedProperty` in the item, when the path is extended.
        value: Option<String>,
    },
    /// `AppendToItemField`.
    Append {
        /// The property.
        path: PropertyPath,
    },
    /// `DeleteItemField`.
    Delete {
        /// The property.
        path: PropertyPath,
    },
}

/// `t:ItemChange`.
#[derive(Debug, Clone)]
pub struct ItemChange {
    /// The item; `None` when the change names an occurrence or recurring master.
    pub item: Option<ItemRef>,
    /// Updates in order.
    pub updates: Vec<Update>,
}

/// `m:UpdateItem`.
#[derive(Debug, Clone)]
pub struct UpdateItem {
    /// `ConflictResolution` (missing reads as `AutoResolve`, as the documentation says).
    pub conflict: ConflictResolution,
    /// `MessageDisposition`, when sent.
    pub disposition: Option<String>,
    /// Changes in request order.
    pub changes: Vec<ItemChange>,
}

/// A folder named in `m:GetFolder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderRef {
    /// `t:DistinguishedFolderId` and its optional mailbox address.
    Distinguished {
        /// `Id` (`root`, `inbox`, …).
        id: String,
        /// `Mailbox/EmailAddress`, when sent.
        mailbox: Option<String>,
    },
    /// `t:FolderId`.
    Id(String),
}

/// `m:GetFolder`.
#[derive(Debug, Clone)]
pub struct GetFolder {
    /// `FolderShape/BaseShape`.
    pub base: BaseShape,
    /// `FolderShape/AdditionalProperties`.
    pub additional: Vec<PropertyPath>,
    /// Folders in request order.
    pub folders: Vec<FolderRef>,
}

/// One `t:AlternateId` of `m:ConvertId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternateId {
    /// `Format`.
    pub format: String,
    /// `Id`.
    pub id: String,
    /// `Mailbox`.
    pub mailbox: String,
}

/// `m:ConvertId`.
#[derive(Debug, Clone)]
pub struct ConvertId {
    /// `DestinationFormat`.
    pub destination: String,
    /// Ids in request order.
    pub ids: Vec<AlternateId>,
}

/// Parses a raw request body: the fuzzing and corpus entry point.
pub fn parse_request(input: &[u8]) -> Result<Request, SchemaError> {
    let envelope = parse_envelope(input)?;
    from_envelope(&envelope)
}

/// Reads the header entries and the operation of a parsed envelope.
pub fn from_envelope(envelope: &Envelope) -> Result<Request, SchemaError> {
    let mut version = None;
    let mut impersonation = None;
    for entry in &envelope.header {
        if entry.is(Ns::Types, "RequestServerVersion") {
            let value = entry
                .attr("Version")
                .ok_or_else(|| entry.error("The required attribute 'Version' is missing."))?;
            version = Some(value.to_owned());
        } else if entry.is(Ns::Types, "ExchangeImpersonation") {
            let sid = entry.child(Ns::Types, "ConnectingSID");
            let named = sid.and_then(|s| s.children.first()).map(|c| c.text.trim().to_owned());
            impersonation = Some(named.unwrap_or_default());
        }
    }
    let operation = operation(&envelope.body)?;
    Ok(Request {
        version,
        impersonation,
        operation,
    })
}

fn operation(body: &Element) -> Result<Operation, SchemaError> {
    if body.ns != Ns::Messages {
        return Err(body.error(format!(
            "The element '{}' is not an EWS operation: operations are in namespace '{}'.",
            body.name,
            super::envelope::MESSAGES_NS
        )));
    }
    Ok(match body.name.as_str() {
        "GetAttachment" => Operation::GetAttachment(get_attachment(body)?),
        "GetItem" => Operation::GetItem(get_item(body)?),
        "UpdateItem" => Operation::UpdateItem(update_item(body)?),
        "GetFolder" => Operation::GetFolder(get_folder(body)?),
        "ConvertId" => Operation::ConvertId(convert_id(body)?),
        other => Operation::Unsupported(other.to_owned()),
    })
}

fn bool_text(e: &Element, name: &str) -> Result<bool, SchemaError> {
    match e.child(Ns::Types, name) {
        None => Ok(false),
        Some(c) => match c.text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(c.error(format!(
                "The value '{other}' is invalid according to its datatype 'Boolean'."
            ))),
        },
    }
}

fn body_type(e: &Element) -> Result<BodyType, SchemaError> {
    match e.child(Ns::Types, "BodyType") {
        None => Ok(BodyType::Best),
        Some(c) => match c.text.trim() {
            "Best" => Ok(BodyType::Best),
            "HTML" => Ok(BodyType::Html),
            "Text" => Ok(BodyType::Text),
            other => Err(enum_error(c, other, "BodyTypeResponseType")),
        },
    }
}

fn enum_error(e: &Element, value: &str, type_name: &str) -> SchemaError {
    e.error(format!(
        "The '{}' element is invalid - The value '{value}' is invalid according to its datatype '{type_name}' - The Enumeration constraint failed.",
        e.name
    ))
}

fn additional(shape: &Element) -> Result<Vec<PropertyPath>, SchemaError> {
    let Some(list) = shape.child(Ns::Types, "AdditionalProperties") else {
        return Ok(Vec::new());
    };
    list.children.iter().map(property_path).collect()
}

/// A `FieldURI`, `IndexedFieldURI` or `ExtendedFieldURI` element.
fn property_path(e: &Element) -> Result<PropertyPath, SchemaError> {
    let required = |name: &str| {
        e.attr(name)
            .map(str::to_owned)
            .ok_or_else(|| e.error(format!("The required attribute '{name}' is missing.")))
    };
    match (e.ns, e.name.as_str()) {
        (Ns::Types, "FieldURI") => Ok(PropertyPath::Field(required("FieldURI")?)),
        (Ns::Types, "IndexedFieldURI") => Ok(PropertyPath::Indexed(required("FieldURI")?, required("FieldIndex")?)),
        (Ns::Types, "ExtendedFieldURI") => Ok(PropertyPath::Extended(ExtendedField {
            distinguished_set: e.attr("DistinguishedPropertySetId").map(str::to_owned),
            set_id: e.attr("PropertySetId").map(str::to_owned),
            tag: e.attr("PropertyTag").map(str::to_owned),
            name: e.attr("PropertyName").map(str::to_owned),
            id: e.attr("PropertyId").map(str::to_owned),
            ty: required("PropertyType")?,
        })),
        _ => Err(e.error(format!("The element '{}' is not a property path.", e.name))),
    }
}

fn ids<T>(
    parent: &Element,
    list_name: &str,
    item: impl Fn(&Element) -> Result<T, SchemaError>,
) -> Result<Vec<T>, SchemaError> {
    let list = parent
        .child(Ns::Messages, list_name)
        .ok_or_else(|| parent.missing(Ns::Messages, list_name))?;
    if list.children.is_empty() {
        return Err(list.error(format!("The element '{list_name}' has incomplete content.")));
    }
    if list.children.len() > MAX_IDS {
        return Err(list.error(format!("The element '{list_name}' has more than {MAX_IDS} children.")));
    }
    list.children.iter().map(item).collect()
}

fn required_attr(e: &Element, name: &str) -> Result<String, SchemaError> {
    e.attr(name)
        .map(str::to_owned)
        .ok_or_else(|| e.error(format!("The required attribute '{name}' is missing.")))
}

fn get_attachment(op: &Element) -> Result<GetAttachment, SchemaError> {
    let shape = op.child(Ns::Messages, "AttachmentShape");
    let ids = ids(op, "AttachmentIds", |e| {
        if !e.is(Ns::Types, "AttachmentId") {
            return Err(e.error(format!("Unexpected element '{}' in 'AttachmentIds'.", e.name)));
        }
        required_attr(e, "Id")
    })?;
    Ok(GetAttachment {
        include_mime: shape
            .map(|s| bool_text(s, "IncludeMimeContent"))
            .transpose()?
            .unwrap_or(false),
        body_type: shape.map(body_type).transpose()?.unwrap_or_default(),
        additional: shape.map(additional).transpose()?.unwrap_or_default(),
        ids,
    })
}

fn item_ref(e: &Element) -> Result<ItemRef, SchemaError> {
    Ok(ItemRef {
        id: required_attr(e, "Id")?,
        change_key: e.attr("ChangeKey").map(str::to_owned),
    })
}

/// `t:BaseShape` of an item or folder shape.
fn base_shape(shape: &Element) -> Result<BaseShape, SchemaError> {
    let base_el = shape
        .child(Ns::Types, "BaseShape")
        .ok_or_else(|| shape.missing(Ns::Types, "BaseShape"))?;
    match base_el.text.trim() {
        "IdOnly" => Ok(BaseShape::IdOnly),
        "Default" => Ok(BaseShape::Default),
        "AllProperties" => Ok(BaseShape::AllProperties),
        other => Err(enum_error(base_el, other, "DefaultShapeNamesType")),
    }
}

fn get_item(op: &Element) -> Result<GetItem, SchemaError> {
    let shape = op
        .child(Ns::Messages, "ItemShape")
        .ok_or_else(|| op.missing(Ns::Messages, "ItemShape"))?;
    let base = base_shape(shape)?;
    let ids = ids(op, "ItemIds", |e| {
        if e.is(Ns::Types, "ItemId") {
            item_ref(e)
        } else {
            Err(e.error(format!("The element '{}' is not supported in 'ItemIds'.", e.name)))
        }
    })?;
    Ok(GetItem {
        base,
        include_mime: bool_text(shape, "IncludeMimeContent")?,
        body_type: body_type(shape)?,
        additional: additional(shape)?,
        ids,
    })
}

fn update_item(op: &Element) -> Result<UpdateItem, SchemaError> {
    let conflict = match op.attr("ConflictResolution") {
        None | Some("AutoResolve") => ConflictResolution::AutoResolve,
        Some("NeverOverwrite") => ConflictResolution::NeverOverwrite,
        Some("AlwaysOverwrite") => ConflictResolution::AlwaysOverwrite,
        Some(other) => return Err(enum_error(op, other, "ConflictResolutionType")),
    };
    let changes = ids(op, "ItemChanges", item_change)?;
    Ok(UpdateItem {
        conflict,
        disposition: op.attr("MessageDisposition").map(str::to_owned),
        changes,
    })
}

fn item_change(change: &Element) -> Result<ItemChange, SchemaError> {
    if !change.is(Ns::Types, "ItemChange") {
        return Err(change.error(format!("Unexpected element '{}' in 'ItemChanges'.", change.name)));
    }
    let first = change
        .children
        .first()
        .ok_or_else(|| change.missing(Ns::Types, "ItemId"))?;
    let item = if first.is(Ns::Types, "ItemId") {
        Some(item_ref(first)?)
    } else if first.is(Ns::Types, "OccurrenceItemId") || first.is(Ns::Types, "RecurringMasterItemId") {
        None
    } else {
        return Err(change.missing(Ns::Types, "ItemId"));
    };
    let updates = change
        .child(Ns::Types, "Updates")
        .ok_or_else(|| change.missing(Ns::Types, "Updates"))?;
    let updates = updates.children.iter().map(update).collect::<Result<_, _>>()?;
    Ok(ItemChange { item, updates })
}

fn update(e: &Element) -> Result<Update, SchemaError> {
    let path_el = e
        .children
        .first()
        .ok_or_else(|| e.error(format!("The element '{}' has no property path.", e.name)))?;
    let path = property_path(path_el)?;
    match (e.ns, e.name.as_str()) {
        (Ns::Types, "SetItemField") => {
            let value = match &path {
                PropertyPath::Extended(field) => extended_value(e, field),
                _ => None,
            };
            Ok(Update::Set { path, value })
        }
        (Ns::Types, "AppendToItemField") => Ok(Update::Append { path }),
        (Ns::Types, "DeleteItemField") => Ok(Update::Delete { path }),
        _ => Err(e.error(format!("Unexpected element '{}' in 'Updates'.", e.name))),
    }
}

/// The `Value` of the `ExtendedProperty` for `field` inside the item element of a `SetItemField`.
fn extended_value(set: &Element, field: &ExtendedField) -> Option<String> {
    let item = set.children.get(1)?;
    item.children
        .iter()
        .filter(|p| p.is(Ns::Types, "ExtendedProperty"))
        .find(|p| {
            p.child(Ns::Types, "ExtendedFieldURI")
                .and_then(|uri| property_path(uri).ok())
                .is_some_and(|path| path == PropertyPath::Extended(field.clone()))
        })
        .and_then(|p| p.child(Ns::Types, "Value").map(|v| v.text.clone()))
}

fn get_folder(op: &Element) -> Result<GetFolder, SchemaError> {
    let shape = op
        .child(Ns::Messages, "FolderShape")
        .ok_or_else(|| op.missing(Ns::Messages, "FolderShape"))?;
    let base = base_shape(shape)?;
    let folders = ids(op, "FolderIds", |e| match (e.ns, e.name.as_str()) {
        (Ns::Types, "DistinguishedFolderId") => Ok(FolderRef::Distinguished {
            id: required_attr(e, "Id")?,
            mailbox: e
                .child(Ns::Types, "Mailbox")
                .and_then(|m| m.child_text(Ns::Types, "EmailAddress"))
                .map(str::to_owned),
        }),
        (Ns::Types, "FolderId") => Ok(FolderRef::Id(required_attr(e, "Id")?)),
        _ => Err(e.error(format!("Unexpected element '{}' in 'FolderIds'.", e.name))),
    })?;
    Ok(GetFolder {
        base,
        additional: additional(shape)?,
        folders,
    })
}

fn convert_id(op: &Element) -> Result<ConvertId, SchemaError> {
    let destination = required_attr(op, "DestinationFormat")?;
    let ids = ids(op, "SourceIds", |e| {
        if !e.is(Ns::Types, "AlternateId") {
            return Err(e.error(format!("The element '{}' is not supported in 'SourceIds'.", e.name)));
        }
        Ok(AlternateId {
            format: required_attr(e, "Format")?,
            id: required_attr(e, "Id")?,
            mailbox: required_attr(e, "Mailbox")?,
        })
    })?;
    Ok(ConvertId { destination, ids })
}
