//! The SOAP 1.1 request envelope: a bounded, namespace-aware parse of the raw body into a
//! small element tree. Names are matched by namespace URI, never by prefix; DTDs are refused and
//! only the five predefined entities and character references are expanded, so nothing in a
//! request can make the parser fetch, recurse or grow beyond the body it was given.

use quick_xml::{
    events::{BytesRef, BytesStart, Event},
    name::ResolveResult,
    reader::NsReader,
};

/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS messages namespace (`m:`).
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS types namespace (`t:`).
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS SOAP fault detail namespace.
pub const ERRORS_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// Deepest element nesting accepted (EWS requests nest about ten levels).
const MAX_DEPTH: usize = 64;
/// Most elements in one request (exchangelib's largest request has about 220).
const MAX_ELEMENTS: usize = 20_000;
/// Most attributes on one element.
const MAX_ATTRIBUTES: usize = 32;

/// The namespaces EWS requests use; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// SOAP envelope.
    Soap,
    /// EWS messages.
    Messages,
    /// EWS types.
    Types,
    /// No namespace.
    None,
    /// Any other namespace.
    Other,
}

/// One element of the request: namespace, local name, unqualified attributes, text and children.
#[derive(Debug, Clone)]
pub struct Element {
    /// Namespace of the element.
    pub ns: Ns,
    /// Local name.
    pub name: String,
    /// Attributes without a namespace (the only ones EWS defines), decoded.
    pub attrs: Vec<(String, String)>,
    /// Concatenated character data directly inside this element.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// 1-based line of the start tag.
    pub line: u32,
    /// 1-based column of the start tag.
    pub column: u32,
}

/// Why a request could not be read: always answered with an `ErrorSchemaValidation` fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, position {column}: {violation}")]
pub struct SchemaError {
    /// 1-based line of the offending construct.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong, in words.
    pub violation: String,
}

/// A parsed envelope: the SOAP header entries and the single element inside `Body`.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Children of `soap:Header` (may be empty).
    pub header: Vec<Element>,
    /// The operation element inside `soap:Body`.
    pub body: Element,
}

// === impl Element ===

impl Element {
    /// Whether this is `{ns}name`.
    pub fn is(&self, ns: Ns, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// An attribute by name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: Ns, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Trimmed text of the first child `{ns}name`.
    pub fn child_text(&self, ns: Ns, name: &str) -> Option<&str> {
        self.child(ns, name).map(|c| c.text.trim())
    }

    /// A schema error located at this element.
    pub fn error(&self, violation: impl Into<String>) -> SchemaError {
        SchemaError {
            line: self.line,
            column: self.column,
            violation: violation.into(),
        }
    }

    /// A schema error saying `{ns}name` is missing inside this element.
    pub fn missing(&self, ns: Ns, name: &str) -> SchemaError {
        self.error(format!(
            "The element '{}' in namespace '{}' has incomplete content. List of possible elements expected: '{name}' in namespace '{}'.",
            self.name,
            ns_uri(self.ns),
            ns_uri(ns)
        ))
    }
}

/// The URI of a known namespace (empty for none or other).
pub fn ns_uri(ns: Ns) -> &'static str {
    match ns {
        Ns::Soap => SOAP_NS,
        Ns::Messages => MESSAGES_NS,
        Ns::Types => TYPES_NS,
        Ns::None | Ns::Other => "",
    }
}

/// Parses a SOAP 1.1 envelope.
pub fn parse_envelope(input: &[u8]) -> Result<Envelope, SchemaError> {
    let root = parse_tree(input)?;
    if !root.is(Ns::Soap, "Envelope") {
        return Err(root.error(format!(
            "The root element must be 'Envelope' in namespace '{SOAP_NS}', not '{}'.",
            root.name
        )));
    }
    let mut header = Vec::new();
    let mut body = None;
    for child in root.children {
        match (child.ns, child.name.as_str()) {
            (Ns::Soap, "Header") if body.is_none() => header = child.children,
            (Ns::Soap, "Body") if body.is_none() => body = Some(child),
            _ => return Err(child.error(format!("Unexpected element '{}' in the SOAP envelope.", child.name))),
        }
    }
    let body = body.ok_or_else(|| SchemaError {
        line: 1,
        column: 1,
        violation: "The SOAP envelope has no 'Body' element.".into(),
    })?;
    let position = (body.line, body.column);
    let mut operations = body.children.into_iter();
    match (operations.next(), operations.next()) {
        (Some(op), None) => Ok(Envelope { header, body: op }),
        (None, _) => Err(SchemaError {
            line: position.0,
            column: position.1,
            violation: "The SOAP 'Body' element is empty.".into(),
        }),
        (Some(_), Some(extra)) => Err(extra.error("The SOAP 'Body' element must contain exactly one operation.")),
    }
}

// === tree building ===

/// Reads the whole document into an element tree, enforcing the limits.
fn parse_tree(input: &[u8]) -> Result<Element, SchemaError> {
    let mut reader = NsReader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let lines = LineIndex::new(input);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root: Option<Element> = None;
    loop {
        let start_pos = reader.buffer_position();
        let here = |pos: u64| lines.locate(pos);
        let event = reader.read_resolved_event();
        let (resolved, event) = match event {
            Ok(pair) => pair,
            Err(e) => return Err(lines.error(reader.error_position(), format!("The XML is not well formed: {e}"))),
        };
        let ns = classify(&resolved);
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(lines.error(start_pos, "Content after the root element."));
            }
            Event::Start(start) => {
                count += 1;
                let element = open(&reader, ns, &start, here(start_pos), count)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(lines.error(start_pos, "The request nests elements too deeply."));
                }
                stack.push(element);
            }
            Event::Empty(start) => {
                count += 1;
                let element = open(&reader, ns, &start, here(start_pos), count)?;
                attach(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                if let Some(done) = stack.pop() {
                    attach(&mut stack, &mut root, done);
                }
            }
            Event::Text(text) => {
                push_text(&mut stack, &text.xml10_content(), &lines, start_pos)?;
            }
            Event::CData(data) => {
                push_text(&mut stack, &data.xml10_content(), &lines, start_pos)?;
            }
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference).ok_or_else(|| {
                    lines.error(
                        start_pos,
                        "Reference to an undeclared entity; only the predefined entities are allowed.",
                    )
                })?;
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]), &lines, start_pos)?;
            }
            Event::DocType(_) => {
                return Err(lines.error(start_pos, "DTDs are not allowed in EWS requests."));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(lines.error(input.len() as u64, "The XML ends before all elements are closed."));
    }
    root.ok_or_else(|| lines.error(0, "The request has no root element."))
}

fn classify(resolved: &ResolveResult<'_>) -> Ns {
    match resolved {
        ResolveResult::Bound(ns) => match ns.as_ref() {
            SOAP_NS => Ns::Soap,
            MESSAGES_NS => Ns::Messages,
            TYPES_NS => Ns::Types,
            _ => Ns::Other,
        },
        ResolveResult::Unbound => Ns::None,
        ResolveResult::Unknown(_) => Ns::Other,
    }
}

fn open(
    reader: &NsReader<&[u8]>,
    ns: Ns,
    start: &BytesStart<'_>,
    (line, column): (u32, u32),
    count: usize,
) -> Result<Element, SchemaError> {
    let error = |violation: &str| SchemaError {
        line,
        column,
        violation: violation.to_owned(),
    };
    if count > MAX_ELEMENTS {
        return Err(error("The request has too many elements."));
    }
    if matches!(
        reader.resolver().resolve_element(start.name()).0,
        ResolveResult::Unknown(_)
    ) {
        return Err(error("The element uses an undeclared namespace prefix."));
    }
    let name = start.local_name().into_inner().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| error(&format!("Malformed attribute: {e}")))?;
        let (resolved, local) = reader.resolver().resolve_attribute(attr.key);
        // Namespace declarations and qualified attributes (xsi:type, xml:lang) are not EWS data.
        if attr.key.as_namespace_binding().is_some() || !matches!(resolved, ResolveResult::Unbound) {
            continue;
        }
        if attrs.len() >= MAX_ATTRIBUTES {
            return Err(error("The element has too many attributes."));
        }
        let key = local.into_inner().to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| error(&format!("Malformed attribute value: {e}")))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        ns,
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
        line,
        column,
    })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn push_text(stack: &mut [Element], text: &str, lines: &LineIndex, pos: u64) -> Result<(), SchemaError> {
    match stack.last_mut() {
        Some(parent) => {
            parent.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(lines.error(pos, "Text outside the root element.")),
    }
}

/// `&lt;` and friends, and character references; any other entity is undeclared.
fn resolve_reference(reference: &BytesRef<'_>) -> Option<char> {
    if reference.is_char_ref() {
        return reference.resolve_char_ref().ok().flatten();
    }
    match reference.as_ref() {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// Byte offset → 1-based line and column, by binary search over the newline offsets.
struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(input: &[u8]) -> Self {
        let newlines = input
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        LineIndex { newlines }
    }

    fn locate(&self, pos: u64) -> (u32, u32) {
        let pos = usize::try_from(pos).unwrap_or(usize::MAX);
        let line = self.newlines.partition_point(|nl| *nl < pos);
        let line_start = match line {
            0 => 0,
            n => self.newlines[n - 1] + 1,
        };
        let column = pos.saturating_sub(line_start) + 1;
        (
            u32::try_from(line + 1).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )
    }

    fn error(&self, pos: u64, violation: impl Into<String>) -> SchemaError {
        let (line, column) = self.locate(pos);
        SchemaError {
            line,
            column,
            violation: violation.into(),
        }
    }
}
