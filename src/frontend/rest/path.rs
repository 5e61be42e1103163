//! Parses the resource path of a REST v2.0 or Graph mail URL (`me/messages('…')/attachments/…`).
//!
//! Works on the raw, still percent-encoded path so an EWS id's `/` (sent as `%2F`) cannot split
//! a segment; the OData key form `messages('…')` may even carry a raw `/`. Names match
//! case-insensitively, as Outlook's did. Ids come back in REST form, validated.

use crate::{
    auth::Caller,
    ids::{ExchangeId, IdError},
};

/// Whose mailbox the path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// `me`.
    Me,
    /// `users/{x}` or `users('{x}')`: a UPN, an object id or `oid@tid`.
    User(String),
}

/// The operation the path names; ids in REST form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `messages/{id}`.
    Message(String),
    /// `messages/{id}/$value`.
    MessageValue(String),
    /// `messages/{id}/attachments`.
    Attachments(String),
    /// `messages/{id}/attachments/{att}`.
    Attachment(String, String),
    /// `messages/{id}/attachments/{att}/$value`.
    AttachmentValue(String, String),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Whose mailbox.
    pub(crate) owner: Owner,
    /// What in it.
    pub(crate) target: Target,
}

/// Why a path was not understood.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PathError {
    /// A segment names nothing the gateway serves.
    #[error("Resource not found for the segment '{0}'.")]
    UnknownSegment(String),
    /// An id is not an Exchange item or attachment id.
    #[error("Id is malformed.")]
    Id(#[from] IdError),
}

/// One segment: its name and its OData key (`('…')` or the next plain segment), both decoded.
#[derive(Debug)]
struct Segment {
    name: String,
    key: Option<String>,
}

// === impl Owner ===

impl Owner {
    /// Whether this is the caller's own mailbox: `me`, or `users/` with the caller's UPN,
    /// object id or `oid@tid` (compared case-insensitively).
    pub(crate) fn is_caller(&self, caller: &Caller) -> bool {
        match self {
            Owner::Me => true,
            Owner::User(who) => {
                let full = format!("{}@{}", caller.oid, caller.tenant_id);
                who.eq_ignore_ascii_case(&caller.oid)
                    || who.eq_ignore_ascii_case(&full)
                    || caller.username.as_deref().is_some_and(|u| who.eq_ignore_ascii_case(u))
            }
        }
    }
}

/// Parses `path` (below the version prefix, e.g. `me/messages/AAMk…/attachments`).
pub(crate) fn parse(path: &str) -> Result<Parsed, PathError> {
    let mut segments = split(path.trim_start_matches('/')).into_iter().peekable();
    let owner = parse_owner(&mut segments)?;
    let message = parse_message(&mut segments)?;
    let target = match segments.next() {
        None => Target::Message(message),
        Some(s) if is_value(&s) => Target::MessageValue(message),
        Some(s) if s.name.eq_ignore_ascii_case("attachments") => {
            if s.key.is_none() && segments.peek().is_none() {
                return Ok(Parsed {
                    owner,
                    target: Target::Attachments(message),
                });
            }
            let attachment = keyed(s, &mut segments)?;
            match segments.next() {
                None => Target::Attachment(message, attachment),
                Some(v) if is_value(&v) => Target::AttachmentValue(message, attachment),
                Some(other) => return Err(unknown(&other)),
            }
        }
        Some(other) => return Err(unknown(&other)),
    };
    if let Some(extra) = segments.next() {
        return Err(unknown(&extra));
    }
    Ok(Parsed { owner, target })
}

fn unknown(segment: &Segment) -> PathError {
    PathError::UnknownSegment(segment.name.clone())
}

fn is_value(segment: &Segment) -> bool {
    segment.name.eq_ignore_ascii_case("$value") && segment.key.is_none()
}

/// `me`, `users/{x}` or `users('{x}')`.
fn parse_owner(segments: &mut impl Iterator<Item = Segment>) -> Result<Owner, PathError> {
    let first = segments
        .next()
        .ok_or_else(|| PathError::UnknownSegment(String::new()))?;
    match first.name.to_ascii_lowercase().as_str() {
        "me" if first.key.is_none() => Ok(Owner::Me),
        "users" => match first.key {
            Some(key) => Ok(Owner::User(key)),
            None => segments
                .next()
                .map(|s| Owner::User(s.name))
                .ok_or_else(|| unknown(&first)),
        },
        _ => Err(unknown(&first)),
    }
}

/// `[mailfolders/{f}/]messages/{id}` (the folder does not matter: item ids are unique within
/// the mailbox); the message id in REST form.
fn parse_message(segments: &mut impl Iterator<Item = Segment>) -> Result<String, PathError> {
    let mut messages = segments
        .next()
        .ok_or_else(|| PathError::UnknownSegment(String::new()))?;
    if messages.name.eq_ignore_ascii_case("mailfolders") {
        if messages.key.is_none() {
            segments.next().ok_or_else(|| unknown(&messages))?;
        }
        messages = segments.next().ok_or_else(|| unknown(&messages))?;
    }
    if !messages.name.eq_ignore_ascii_case("messages") {
        return Err(unknown(&messages));
    }
    keyed(messages, segments)
}

/// The REST-form id of `segment`: its `('…')` key, else the next segment.
fn keyed(segment: Segment, rest: &mut impl Iterator<Item = Segment>) -> Result<String, PathError> {
    let raw = match segment.key {
        Some(key) => key,
        None => {
            let next = rest
                .next()
                .ok_or_else(|| PathError::UnknownSegment(segment.name.clone()))?;
            if next.key.is_some() {
                return Err(PathError::UnknownSegment(next.name));
            }
            next.name
        }
    };
    Ok(ExchangeId::parse(&raw)?.rest_id())
}

/// Splits on `/` outside `('…')` keys; decodes names and keys.
fn split(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let slash = rest.find('/').unwrap_or(rest.len());
        let open = rest.find("('").filter(|&i| i < slash);
        let (segment, remainder) = match open {
            Some(open) => {
                let close = rest[open + 2..].find("')").map(|c| open + 2 + c);
                match close {
                    Some(close) => {
                        let key = &rest[open + 2..close];
                        let segment = Segment {
                            name: decode(&rest[..open]),
                            key: Some(decode(&key.replace("''", "'"))),
                        };
                        (segment, &rest[close + 2..])
                    }
                    None => (plain(&rest[..slash]), &rest[slash..]),
                }
            }
            None => (plain(&rest[..slash]), &rest[slash..]),
        };
        out.push(segment);
        rest = remainder.strip_prefix('/').unwrap_or(remainder);
    }
    out
}

fn plain(segment: &str) -> Segment {
    Segment {
        name: decode(segment),
        key: None,
    }
}

/// Percent-decoding of a path segment (`+` stays `+`: it is literal in a path).
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EWS: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAA=";
    const ATT: &str = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAABEgAQAFmnqat27N5JqLjo/76gzxY=";

    fn rest(id: &str) -> String {
        crate::ids::to_rest(id)
    }

    #[test]
    fn both_key_forms_and_both_id_forms_name_the_same_message() {
        let want = Target::Message(rest(EWS));
        let encoded = EWS.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D");
        for path in [
            format!("me/messages/{}", rest(EWS)),
            format!("me/messages('{}')", rest(EWS)),
            format!("Me/Messages('{EWS}')"),
            format!("me/messages/{encoded}"),
            format!("me/MailFolders/Inbox/messages/{}", rest(EWS)),
            format!("me/mailfolders('inbox')/messages('{encoded}')"),
        ] {
            assert_eq!(parse(&path).unwrap().target, want, "{path}");
        }
    }

    #[test]
    fn attachment_and_value_paths() {
        let (m, a) = (rest(EWS), rest(ATT));
        let p = parse(&format!("me/messages('{m}')/attachments('{a}')/$value")).unwrap();
        assert_eq!(p.target, Target::AttachmentValue(m.clone(), a.clone()));
        let p = parse(&format!("me/messages/{m}/Attachments/{a}")).unwrap();
        assert_eq!(p.target, Target::Attachment(m.clone(), a));
        let p = parse(&format!("me/messages/{m}/attachments")).unwrap();
        assert_eq!(p.target, Target::Attachments(m.clone()));
        let p = parse(&format!("me/messages/{m}/%24value")).unwrap();
        assert_eq!(p.target, Target::MessageValue(m));
    }

    #[test]
    fn users_paths_keep_the_named_user() {
        let m = rest(EWS);
        let p = parse(&format!("users/alice%40contoso.com/messages/{m}")).unwrap();
        assert_eq!(p.owner, Owner::User("alice@contoso.com".into()));
        let p = parse(&format!("Users('oid@tid')/Messages('{m}')")).unwrap();
        assert_eq!(p.owner, Owner::User("oid@tid".into()));
    }

    #[test]
    fn unknown_segments_and_bad_ids_are_refused() {
        let m = rest(EWS);
        for bad in [
            "".to_owned(),
            "me".to_owned(),
            "me/events/x".to_owned(),
            format!("me/messages/{m}/move"),
            format!("me/messages/{m}/attachments/{}/$value/x", rest(ATT)),
            "groups/x/messages/y".to_owned(),
        ] {
            assert!(matches!(parse(&bad), Err(PathError::UnknownSegment(_))), "{bad}");
        }
        assert!(matches!(parse("me/messages/AAMkNope"), Err(PathError::Id(_))));
        assert!(matches!(parse("me/messages('..%2F..')"), Err(PathError::Id(_))));
    }
}
