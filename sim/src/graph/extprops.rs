//! MAPI extended property ids as Graph writes them (`String {guid} Name X`, `Integer {guid} Id 0x8012`,
//! `String 0x007D`), their validation, canonical form and value checks.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::ids::is_hyphenated_guid;

/// MAPI property types by their Graph/EWS names and PT_* codes.
const TYPES: &[(&str, u16)] = &[
    ("ApplicationTime", 0x0007),
    ("Binary", 0x0102),
    ("Boolean", 0x000B),
    ("CLSID", 0x0048),
    ("Currency", 0x0006),
    ("Double", 0x0005),
    ("Error", 0x000A),
    ("Float", 0x0004),
    ("Integer", 0x0003),
    ("Long", 0x0014),
    ("Null", 0x0001),
    ("Object", 0x000D),
    ("Short", 0x0002),
    ("SystemTime", 0x0040),
    ("String", 0x001F),
];
/// PT_STRING8, also accepted for `String` in 32-bit tags.
const PT_STRING8: u16 = 0x001E;
/// Multi-value flag of a property type code.
const MV_FLAG: u16 = 0x1000;
/// Types that have no multi-value form.
const SINGLE_ONLY: &[&str] = &["Boolean", "Error", "Null", "Object"];

/// Why an extended property id or value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PropError {
    #[error("'{0}' is not a MAPI property type")]
    UnknownType(String),
    #[error("the property set GUID '{0}' is not a GUID in braces")]
    BadGuid(String),
    #[error("expected 'Name' or 'Id' after the property set GUID")]
    BadKeyword,
    #[error("the property name is empty")]
    EmptyName,
    #[error("'{0}' is not a property id or tag")]
    BadNumber(String),
    #[error("property tags are only for ids 0x0001-0x7FFF; named properties need a GUID with Name or Id")]
    TagOutOfRange,
    #[error("the type in the property tag does not match '{0}'")]
    TagTypeMismatch(&'static str),
    #[error("'{0}' is a multi-value type; use multiValueExtendedProperties")]
    ArrayInSingle(String),
    #[error("'{0}' is a single-value type; use singleValueExtendedProperties")]
    SingleInMulti(String),
    #[error("the value is not valid for type '{0}'")]
    BadValue(&'static str),
}

/// A property type: canonical name, PT code, multi-valued or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PropType {
    name: &'static str,
    code: u16,
    multi: bool,
}

/// How the property is identified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PropKey {
    Named { guid: String, name: String },
    Dispid { guid: String, id: u32 },
    Tag { id: u16 },
}

/// A parsed extended property id; equality is Graph's matching (GUID case-insensitive, name exact).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PropId {
    ty: PropType,
    key: PropKey,
}

impl PropId {
    /// Parses a single-value id (`singleValueExtendedProperties`).
    pub(crate) fn parse_single(text: &str) -> Result<PropId, PropError> {
        let id = PropId::parse(text)?;
        if id.ty.multi {
            return Err(PropError::ArrayInSingle(id.ty.to_string()));
        }
        Ok(id)
    }

    /// Parses a multi-value id (`multiValueExtendedProperties`).
    pub(crate) fn parse_multi(text: &str) -> Result<PropId, PropError> {
        let id = PropId::parse(text)?;
        if !id.ty.multi {
            return Err(PropError::SingleInMulti(id.ty.to_string()));
        }
        Ok(id)
    }

    fn parse(text: &str) -> Result<PropId, PropError> {
        let (ty, rest) = text.split_once(' ').unwrap_or((text, ""));
        let ty = PropType::parse(ty)?;
        let key = if rest.starts_with('{') {
            parse_guid_key(rest)?
        } else {
            parse_tag(rest, ty)?
        };
        Ok(PropId { ty, key })
    }

    /// PR_TRANSPORT_MESSAGE_HEADERS (`String 0x007D`).
    pub(crate) fn transport_headers() -> PropId {
        PropId {
            ty: PropType {
                name: "String",
                code: 0x001F,
                multi: false,
            },
            key: PropKey::Tag { id: 0x007D },
        }
    }

    /// A named string property in a property set.
    pub(crate) fn named_string(guid: &str, name: &str) -> PropId {
        PropId {
            ty: PropType {
                name: "String",
                code: 0x001F,
                multi: false,
            },
            key: PropKey::Named {
                guid: guid.to_ascii_lowercase(),
                name: name.to_owned(),
            },
        }
    }

    /// Checks that `value` (always a JSON string in Graph) fits the property type.
    pub(crate) fn check_value(&self, value: &str) -> Result<(), PropError> {
        if value_fits(self.ty.name, value) {
            Ok(())
        } else {
            Err(PropError::BadValue(self.ty.name))
        }
    }
}

impl PropType {
    fn parse(text: &str) -> Result<PropType, PropError> {
        let (base, multi) = match text.len().checked_sub(5).filter(|&i| text.is_char_boundary(i)) {
            Some(i) if text[i..].eq_ignore_ascii_case("Array") => (&text[..i], true),
            _ => (text, false),
        };
        let found = TYPES.iter().find(|(name, _)| name.eq_ignore_ascii_case(base));
        match found {
            Some((name, _)) if multi && SINGLE_ONLY.contains(name) => Err(PropError::UnknownType(text.to_owned())),
            Some((name, code)) => Ok(PropType {
                name,
                code: *code | if multi { MV_FLAG } else { 0 },
                multi,
            }),
            None => Err(PropError::UnknownType(text.to_owned())),
        }
    }
}

impl fmt::Display for PropType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if self.multi { f.write_str("Array") } else { Ok(()) }
    }
}

impl fmt::Display for PropId {
    /// The canonical form Graph answers with: lower-case GUID, `Name`/`Id`, tags without padding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            PropKey::Named { guid, name } => write!(f, "{} {{{guid}}} Name {name}", self.ty),
            PropKey::Dispid { guid, id } => write!(f, "{} {{{guid}}} Id 0x{id:x}", self.ty),
            PropKey::Tag { id } => write!(f, "{} 0x{id:x}", self.ty),
        }
    }
}

fn parse_guid_key(rest: &str) -> Result<PropKey, PropError> {
    let close = rest.find('}').ok_or_else(|| PropError::BadGuid(rest.to_owned()))?;
    let guid = &rest[1..close];
    if !is_hyphenated_guid(guid.as_bytes()) {
        return Err(PropError::BadGuid(rest[..=close].to_owned()));
    }
    let guid = guid.to_ascii_lowercase();
    let after = rest[close + 1..].strip_prefix(' ').ok_or(PropError::BadKeyword)?;
    let (keyword, value) = after.split_once(' ').ok_or(PropError::BadKeyword)?;
    if keyword.eq_ignore_ascii_case("Name") {
        if value.is_empty() {
            return Err(PropError::EmptyName);
        }
        Ok(PropKey::Named {
            guid,
            name: value.to_owned(),
        })
    } else if keyword.eq_ignore_ascii_case("Id") {
        let id = parse_number(value)?;
        Ok(PropKey::Dispid { guid, id })
    } else {
        Err(PropError::BadKeyword)
    }
}

/// `0x007D` (16-bit id) or `0x007D001F` (32-bit tag whose low word must match the type).
fn parse_tag(rest: &str, ty: PropType) -> Result<PropKey, PropError> {
    let value = parse_number(rest)?;
    let (id, type_code) = if value > 0xFFFF {
        (value >> 16, Some(u16::try_from(value & 0xFFFF).unwrap_or(0)))
    } else {
        (value, None)
    };
    if !(0x0001..=0x7FFF).contains(&id) {
        return Err(PropError::TagOutOfRange);
    }
    if let Some(code) = type_code {
        let string_alias = ty.name == "String" && code == (PT_STRING8 | if ty.multi { MV_FLAG } else { 0 });
        if code != ty.code && !string_alias {
            return Err(PropError::TagTypeMismatch(ty.name));
        }
    }
    Ok(PropKey::Tag {
        id: u16::try_from(id).unwrap_or(0),
    })
}

fn parse_number(text: &str) -> Result<u32, PropError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.len() <= 8 => u32::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None => text.parse::<u32>().ok(),
    };
    parsed.ok_or_else(|| PropError::BadNumber(text.to_owned()))
}

fn value_fits(type_name: &str, value: &str) -> bool {
    match type_name {
        "String" => true,
        "Integer" | "Error" => value.parse::<i32>().is_ok() || value.parse::<u32>().is_ok(),
        "Short" => value.parse::<i16>().is_ok(),
        "Long" | "Currency" => value.parse::<i64>().is_ok(),
        "Double" | "Float" => value.parse::<f64>().is_ok_and(f64::is_finite),
        "Boolean" => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
        "SystemTime" | "ApplicationTime" => is_iso_datetime(value),
        "Binary" => STANDARD.decode(value).is_ok(),
        "CLSID" => {
            let bare = value
                .strip_prefix('{')
                .and_then(|v| v.strip_suffix('}'))
                .unwrap_or(value);
            is_hyphenated_guid(bare.as_bytes())
        }
        // Null and Object properties cannot be written through Graph.
        _ => false,
    }
}

/// `YYYY-MM-DDTHH:MM:SS` with optional fraction and optional `Z` or `±HH:MM`.
fn is_iso_datetime(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 19 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let mut rest = &value[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let zone_ok = match rest.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    shape && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_documented_forms_parse_and_print_canonically() {
        let named = PropId::parse_single("String {00020386-0000-0000-C000-000000000046} Name X-Workfront-Id").unwrap();
        assert_eq!(
            named.to_string(),
            "String {00020386-0000-0000-c000-000000000046} Name X-Workfront-Id"
        );
        let dispid = PropId::parse_single("Integer {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Id 0x8012").unwrap();
        assert_eq!(
            dispid.to_string(),
            "Integer {8eccc264-6880-4ebe-992f-8888d2eeaa1d} Id 0x8012"
        );
        assert_eq!(
            PropId::parse_single("String 0x007D").unwrap(),
            PropId::transport_headers()
        );
        assert_eq!(
            PropId::parse_single("String 0x007D001F").unwrap(),
            PropId::transport_headers()
        );
        assert_eq!(
            PropId::parse_single("String 0x007D001E").unwrap(),
            PropId::transport_headers()
        );
        assert_eq!(
            PropId::parse_single("String 0x4001001E").unwrap().to_string(),
            "String 0x4001"
        );
    }

    #[test]
    fn matching_ignores_guid_case_but_not_name_case() {
        let a = PropId::parse_single("String {00020329-0000-0000-C000-000000000046} Name Tag").unwrap();
        let b = PropId::parse_single("string {00020329-0000-0000-c000-000000000046} name Tag").unwrap();
        let c = PropId::parse_single("String {00020329-0000-0000-C000-000000000046} Name tag").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn invalid_ids_are_refused_with_a_reason() {
        let err = |t: &str| PropId::parse_single(t).unwrap_err();
        assert_eq!(
            err("Strin {00020329-0000-0000-C000-000000000046} Name X"),
            PropError::UnknownType("Strin".into())
        );
        assert!(matches!(err("String {0002} Name X"), PropError::BadGuid(_)));
        assert_eq!(
            err("String {00020329-0000-0000-C000-000000000046} Nom X"),
            PropError::BadKeyword
        );
        assert_eq!(
            err("String {00020329-0000-0000-C000-000000000046} Name "),
            PropError::EmptyName
        );
        assert_eq!(err("String 0x8012"), PropError::TagOutOfRange);
        assert_eq!(err("Integer 0x0E07001F"), PropError::TagTypeMismatch("Integer"));
        assert_eq!(
            err("StringArray 0x4001"),
            PropError::ArrayInSingle("StringArray".into())
        );
        assert_eq!(
            PropId::parse_multi("String 0x4001").unwrap_err(),
            PropError::SingleInMulti("String".into())
        );
        assert!(PropId::parse_multi("StringArray {00020329-0000-0000-C000-000000000046} Name K").is_ok());
    }

    #[test]
    fn values_are_checked_against_the_type() {
        let int = PropId::parse_single("Integer {00020329-0000-0000-C000-000000000046} Name N").unwrap();
        assert!(int.check_value("42").is_ok());
        assert_eq!(int.check_value("forty-two"), Err(PropError::BadValue("Integer")));
        let time = PropId::parse_single("SystemTime {00020329-0000-0000-C000-000000000046} Name T").unwrap();
        assert!(time.check_value("2026-03-02T08:14:31Z").is_ok());
        assert!(time.check_value("2026-03-02T08:14:31.5+01:00").is_ok());
        assert!(time.check_value("yesterday").is_err());
        let boolean = PropId::parse_single("Boolean {00020329-0000-0000-C000-000000000046} Name B").unwrap();
        assert!(boolean.check_value("True").is_ok() && boolean.check_value("1").is_err());
    }
}
