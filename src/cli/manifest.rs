//! `naa-gateway manifest upgrade IN.xml [-o OUT.xml]`: an XML add-in manifest made ready for NAA.
//!
//! Two edits, spliced into the original text so every other byte stays as it was: the
//! top-level `<Permissions>` is lowered from `ReadWriteMailbox` (which the legacy callback
//! token needed) to `ReadWriteItem`, or `ReadItem` when the policies allow no writes; and a
//! `<WebApplicationInfo>` naming the gateway's app registration is added to the innermost
//! `<VersionOverrides>`, right after its `<Resources>` (its schema position, protocols.md §2.4).

use quick_xml::events::Event;

/// What to put into the manifest.
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// The app registration's application (client) id.
    pub client_id: String,
    /// Whether the policies allow any write (then `ReadWriteItem`, else `ReadItem`).
    pub may_write: bool,
}

/// The upgraded manifest and what changed, in words.
#[derive(Debug, Clone)]
pub struct Upgraded {
    /// The new manifest text.
    pub xml: String,
    /// One line per change (or per thing deliberately left alone).
    pub changes: Vec<String>,
}

/// Byte positions found in one pass over the manifest.
#[derive(Debug, Default)]
struct Layout {
    /// Range of the top-level `<Permissions>` text.
    permissions: Option<(usize, usize)>,
    /// For each `</Resources>` directly inside a `<VersionOverrides>`: (nesting depth of that
    /// VersionOverrides, byte offset just after `</Resources>`, indentation of `</Resources>`).
    resources_ends: Vec<(usize, usize, String)>,
    has_web_application_info: bool,
}

/// Rewrites `xml`; an error when it is not a well-formed `OfficeApp` manifest.
pub fn upgrade(xml: &str, up: &Upgrade) -> Result<Upgraded, String> {
    let layout = scan(xml)?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut changes = Vec::new();
    permissions_edit(xml, &layout, up, &mut edits, &mut changes)?;
    web_application_info_edit(&layout, up, &mut edits, &mut changes);
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = xml.to_string();
    for (start, end, text) in edits {
        out.replace_range(start..end, &text);
    }
    Ok(Upgraded { xml: out, changes })
}

fn local_name(name: &str) -> String {
    name.rsplit(':').next().unwrap_or_default().to_string()
}

fn scan(xml: &str) -> Result<Layout, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut layout = Layout::default();
    let mut last = 0usize;
    let mut permissions_start = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {}: {e}", reader.error_position()))?;
        let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match event {
            Event::Start(e) => {
                let name = local_name(e.name().as_ref());
                if stack.is_empty() && name != "OfficeApp" {
                    return Err(format!(
                        "the root element is {name}, not OfficeApp: not an add-in XML manifest"
                    ));
                }
                layout.has_web_application_info |= name == "WebApplicationInfo";
                if name == "Permissions" && stack.len() == 1 {
                    permissions_start = Some(end);
                }
                stack.push(name);
            }
            Event::Empty(e) => layout.has_web_application_info |= local_name(e.name().as_ref()) == "WebApplicationInfo",
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                if name == "Permissions" && stack.len() == 1 {
                    layout.permissions = permissions_start.map(|s| (s, last));
                }
                if name == "Resources" && stack.last().is_some_and(|p| p == "VersionOverrides") {
                    let depth = stack.iter().filter(|n| *n == "VersionOverrides").count();
                    layout.resources_ends.push((depth, end, indentation(xml, last)));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        last = end;
    }
    Ok(layout)
}

/// The whitespace between the start of the line holding byte `at` and `at`.
fn indentation(xml: &str, at: usize) -> String {
    let line_start = xml.get(..at).and_then(|s| s.rfind('\n')).map_or(0, |i| i + 1);
    xml.get(line_start..at)
        .filter(|s| s.chars().all(char::is_whitespace))
        .unwrap_or("")
        .to_string()
}

fn permissions_edit(
    xml: &str,
    layout: &Layout,
    up: &Upgrade,
    edits: &mut Vec<(usize, usize, String)>,
    changes: &mut Vec<String>,
) -> Result<(), String> {
    let Some((start, end)) = layout.permissions else {
        return Err("the manifest has no <Permissions> element".into());
    };
    let current = xml.get(start..end).unwrap_or_default().trim();
    let target = if up.may_write { "ReadWriteItem" } else { "ReadItem" };
    let rank = |p: &str| {
        ["Restricted", "ReadItem", "ReadWriteItem", "ReadWriteMailbox"]
            .iter()
            .position(|x| *x == p)
    };
    match (rank(current), rank(target)) {
        (Some(c), Some(t)) if c > t => {
            edits.push((start, end, target.to_string()));
            let why = if up.may_write {
                "the add-in still writes to the open item (extended properties), but the mailbox-wide \
                 permission was only needed for the legacy callback token; the gateway now holds the Graph permission"
            } else {
                "the policies allow no writes, and the mailbox-wide permission was only needed for the legacy \
                 callback token; the gateway now holds the Graph permission"
            };
            changes.push(format!("Permissions: {current} → {target}: {why}"));
        }
        (Some(_), Some(_)) => changes.push(format!("Permissions: {current} kept (already no more than {target})")),
        _ => changes.push(format!("Permissions: {current:?} kept (not a value this tool knows)")),
    }
    Ok(())
}

fn web_application_info_edit(
    layout: &Layout,
    up: &Upgrade,
    edits: &mut Vec<(usize, usize, String)>,
    changes: &mut Vec<String>,
) {
    if layout.has_web_application_info {
        changes.push("WebApplicationInfo: already present, kept as it is".into());
        return;
    }
    let Some((_, at, indent)) = layout.resources_ends.iter().max_by_key(|r| r.0) else {
        changes.push(
            "WebApplicationInfo: not added: the manifest has no <VersionOverrides> with <Resources> (NAA itself \
             needs no manifest element)"
                .into(),
        );
        return;
    };
    let inner = format!("{indent}  ");
    let block = format!(
        "\n{indent}<WebApplicationInfo>\n{inner}<Id>{id}</Id>\n{inner}<Resource>api://{id}</Resource>\n{inner}<Scopes>\n\
         {inner}  <Scope>openid</Scope>\n{inner}  <Scope>profile</Scope>\n{inner}</Scopes>\n{indent}</WebApplicationInfo>",
        id = up.client_id
    );
    edits.push((*at, *at, block));
    changes.push(format!(
        "WebApplicationInfo: added after <Resources> in the innermost <VersionOverrides>, naming app registration {} \
         (lets admins consent to it when deploying the add-in)",
        up.client_id
    ));
}
