//! `GET /me/mailFolders/{id | well-known name}`: the mail folders of a seeded mailbox (the
//! Top of Information Store and its default mail folders), with ids minted in Exchange's
//! format and counts taken from the mailbox, whose messages all live in the Inbox.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::content::INBOX_COUNTER;
use super::dispatch::{Admitted, PathId};
use super::error::GraphError;
use super::handlers::{METADATA, decode_path_id};
use super::odata::parse_query;
use super::render::Ordered;
use super::reply::Reply;
use super::store::Mailbox;
use crate::ids::{ExchangeId, ItemId, mint_folder_entry_id};

/// Global counter of the mailbox root (the parent of the Top of Information Store), which has
/// no well-known name in Graph but is what `parentFolderId` of `msgfolderroot` names.
const ROOT_COUNTER: u64 = 0x0101;
/// Global counter of the Top of Information Store (`msgfolderroot`).
const TOP_COUNTER: u64 = 0x0108;

/// One served folder: well-known name, display name, global counter.
struct Folder {
    name: &'static str,
    display: &'static str,
    counter: u64,
}

/// The folders Graph addresses by well-known name; every one but the first is a child of the
/// Top of Information Store. Counters follow the layout Exchange gives a new mailbox.
const FOLDERS: &[Folder] = &[
    Folder {
        name: "msgfolderroot",
        display: "Top of Information Store",
        counter: TOP_COUNTER,
    },
    Folder {
        name: "inbox",
        display: "Inbox",
        counter: INBOX_COUNTER,
    },
    Folder {
        name: "drafts",
        display: "Drafts",
        counter: 0x010F,
    },
    Folder {
        name: "sentitems",
        display: "Sent Items",
        counter: 0x0109,
    },
    Folder {
        name: "deleteditems",
        display: "Deleted Items",
        counter: 0x010A,
    },
    Folder {
        name: "junkemail",
        display: "Junk Email",
        counter: 0x0122,
    },
    Folder {
        name: "outbox",
        display: "Outbox",
        counter: 0x010B,
    },
    Folder {
        name: "archive",
        display: "Archive",
        counter: 0x0131,
    },
];

/// Properties of `microsoft.graph.mailFolder` in Graph's order.
const PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
];

/// REST id of the folder with a global counter in a mailbox.
pub(crate) fn folder_rest_id(mailbox: &Mailbox, counter: u64) -> String {
    let guid = &mailbox.user.mailbox_guid;
    ItemId::new(guid, mint_folder_entry_id(guid, counter)).to_rest()
}

/// Answers `GET /mailFolders/{id}` with `$select` honoured.
pub(crate) fn get(req: &Admitted, id: &PathId, query: Option<&str>) -> Result<Reply, GraphError> {
    let query = parse_query(query, &["$select"])?;
    let select = match &query.select {
        Some(list) => Some(resolve_select(list)?),
        None => None,
    };
    let folder = find(&req.mailbox, id)?;
    let mut out = Ordered::default();
    out.push(
        "@odata.context",
        json!(format!("{METADATA}#users('{}')/mailFolders/$entity", req.owner)),
    );
    for (key, value) in properties(&req.mailbox, folder) {
        if select.as_ref().is_none_or(|s| key == "id" || s.contains(&key)) {
            out.push(key, value);
        }
    }
    Ok(Reply::json(StatusCode::OK, &out))
}

fn resolve_select(list: &[String]) -> Result<Vec<&'static str>, GraphError> {
    list.iter()
        .map(|name| {
            PROPERTIES
                .iter()
                .find(|p| p.eq_ignore_ascii_case(name))
                .copied()
                .ok_or_else(|| GraphError::unknown_property(name, "microsoft.graph.mailFolder"))
        })
        .collect()
}

/// The folder a path segment names: a well-known name (any case) or a folder id of this mailbox.
fn find(mailbox: &Mailbox, id: &PathId) -> Result<&'static Folder, GraphError> {
    if let Some(folder) = FOLDERS.iter().find(|f| f.name.eq_ignore_ascii_case(&id.text)) {
        return Ok(folder);
    }
    // A word that is not a well-known name is a folder Graph cannot find, not a malformed id.
    if id.text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(GraphError::item_not_found());
    }
    let ExchangeId::Item(item) = decode_path_id(id)? else {
        return Err(GraphError::malformed_id());
    };
    let guid = &mailbox.user.mailbox_guid;
    if !item.mailbox_guid().eq_ignore_ascii_case(guid) {
        return Err(GraphError::item_not_found());
    }
    FOLDERS
        .iter()
        .find(|f| item.store_id() == mint_folder_entry_id(guid, f.counter).as_slice())
        .ok_or_else(GraphError::item_not_found)
}

fn properties(mailbox: &Mailbox, folder: &Folder) -> [(&'static str, Value); 7] {
    let parent = if folder.counter == TOP_COUNTER {
        ROOT_COUNTER
    } else {
        TOP_COUNTER
    };
    let (total, unread) = if folder.counter == INBOX_COUNTER {
        let unread = mailbox.messages.iter().filter(|m| !m.state.lock().is_read).count();
        (mailbox.messages.len(), unread)
    } else {
        (0, 0)
    };
    let children = if folder.counter == TOP_COUNTER {
        FOLDERS.len() - 1
    } else {
        0
    };
    [
        ("id", json!(folder_rest_id(mailbox, folder.counter))),
        ("displayName", json!(folder.display)),
        ("parentFolderId", json!(folder_rest_id(mailbox, parent))),
        ("childFolderCount", json!(children)),
        ("unreadItemCount", json!(unread)),
        ("totalItemCount", json!(total)),
        ("isHidden", json!(false)),
    ]
}
