//! `GetFolder` for distinguished folders (`root`, `msgfolderroot`, `inbox`, …) and folder ids,
//! answered from Graph's mail folders (`GET /me/mailFolders/{name | id}`), which clients such as
//! exchangelib read before anything else.
//!
//! Graph has no well-known name for the mailbox root: it is the parent of `msgfolderroot` (the
//! Top of Information Store). `root` is therefore answered from `msgfolderroot`'s
//! `parentFolderId`, with the Top of Information Store as its one child and no items; a folder
//! id Graph does not know is checked against that parent before it is reported missing.
//! Distinguished folders that are not mail folders in Graph (`calendar`, `contacts`, …) get
//! `ErrorFolderNotFound`.

use serde_json::Value;

use super::Ctx;
use crate::{
    frontend::ews::{
        fault::EwsError,
        request::{BaseShape, BodyType, FolderRef, GetFolder, PropertyPath},
        xml::{self, Sink, StreamError},
    },
    graph::GraphError,
    ids::{ExchangeId, IdKind, to_ews},
    policy::{Action, Resource},
};

const OPERATION: &str = "GetFolder";
const MESSAGE: &str = "GetFolderResponseMessage";
/// Graph's mail folders have no change key; Exchange accepts any for a read.
const CHANGE_KEY: &str = "AQAAAA==";
/// Graph's well-known mail folder names that are also EWS distinguished folder ids.
const WELL_KNOWN: &[&str] = &[
    "msgfolderroot",
    "inbox",
    "drafts",
    "sentitems",
    "deleteditems",
    "junkemail",
    "outbox",
    "archive",
];
const EFFECTIVE_RIGHTS: &str = "<t:EffectiveRights><t:CreateAssociated>false</t:CreateAssociated><t:CreateContents>false</t:CreateContents><t:CreateHierarchy>false</t:CreateHierarchy><t:Delete>false</t:Delete><t:Modify>false</t:Modify><t:Read>true</t:Read><t:ViewPrivateItems>true</t:ViewPrivateItems></t:EffectiveRights>";

/// A folder property the response can carry, in the schema's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    ParentFolderId,
    FolderClass,
    DisplayName,
    TotalCount,
    ChildFolderCount,
    EffectiveRights,
    DistinguishedFolderId,
    UnreadCount,
}

/// A folder as the response renders it.
struct Folder {
    /// REST form, as Graph gives it.
    id: String,
    parent: Option<String>,
    class: Option<&'static str>,
    display: String,
    total: u64,
    children: u64,
    unread: u64,
    distinguished: Option<String>,
}

/// Runs the operation.
pub async fn run(ctx: &Ctx, op: &GetFolder, sink: &mut Sink) -> Result<(), StreamError> {
    let fields = fields(op);
    xml::open_response(&mut sink.buf, OPERATION);
    for folder in &op.folders {
        match one(ctx, folder).await {
            Ok(found) => write_folder(&mut sink.buf, &found, &fields),
            Err(e) => e.write_message(&mut sink.buf, MESSAGE, Some("m:Folders")),
        }
        sink.flush_if_full().await?;
    }
    xml::close_response(&mut sink.buf, OPERATION);
    sink.finish().await.map_err(StreamError::from)
}

/// The properties a shape asks for: Exchange's `Default` folder shape is id, display name and
/// the three counts; `AllProperties` adds the rest; `AdditionalProperties` adds by `FieldURI`.
fn fields(op: &GetFolder) -> Vec<Field> {
    use Field::*;
    let mut fields = match op.base {
        BaseShape::IdOnly => Vec::new(),
        BaseShape::Default => vec![DisplayName, TotalCount, ChildFolderCount, UnreadCount],
        BaseShape::AllProperties => vec![
            ParentFolderId,
            FolderClass,
            DisplayName,
            TotalCount,
            ChildFolderCount,
            EffectiveRights,
            DistinguishedFolderId,
            UnreadCount,
        ],
    };
    for path in &op.additional {
        let PropertyPath::Field(uri) = path else { continue };
        let field = match uri.as_str() {
            "folder:ParentFolderId" => ParentFolderId,
            "folder:FolderClass" => FolderClass,
            "folder:DisplayName" => DisplayName,
            "folder:TotalCount" => TotalCount,
            "folder:ChildFolderCount" => ChildFolderCount,
            "folder:EffectiveRights" => EffectiveRights,
            "folder:DistinguishedFolderId" => DistinguishedFolderId,
            "folder:UnreadCount" => UnreadCount,
            // Properties Graph cannot give for a mail folder are omitted, as Exchange omits
            // inapplicable ones.
            _ => continue,
        };
        fields.push(field);
    }
    fields.sort_unstable();
    fields.dedup();
    fields
}

fn folder_not_found() -> EwsError {
    EwsError::new(
        "ErrorFolderNotFound",
        "The specified folder could not be found in the store.",
    )
}

fn from_graph(error: &GraphError) -> EwsError {
    match error {
        GraphError::Status { status, .. } if status.as_u16() == 404 => folder_not_found(),
        other => EwsError::from_graph(other, false),
    }
}

/// Looks one folder up in Graph, for the caller's own mailbox only.
async fn one(ctx: &Ctx, folder: &FolderRef) -> Result<Folder, EwsError> {
    let owner = ctx.caller.username.as_deref().unwrap_or("");
    match folder {
        FolderRef::Distinguished { id, mailbox } => {
            if let Some(mailbox) = mailbox
                && !mailbox.eq_ignore_ascii_case(owner)
            {
                return Err(EwsError::new(
                    "ErrorAccessDenied",
                    "Access is denied: only the mailbox of the signed-in user can be accessed.",
                ));
            }
            let name = id.to_ascii_lowercase();
            if name == "root" {
                return root(ctx).await;
            }
            if !WELL_KNOWN.contains(&name.as_str()) {
                return Err(folder_not_found());
            }
            let mut found = fetch(ctx, &name).await?;
            found.distinguished = Some(name);
            Ok(found)
        }
        FolderRef::Id(id) => {
            let parsed = ExchangeId::parse(id).map_err(|_| EwsError::id_malformed())?;
            if parsed.kind() != IdKind::Item {
                return Err(EwsError::id_malformed());
            }
            let rest_id = parsed.rest_id();
            match fetch(ctx, &rest_id).await {
                Err(e) if e.code == "ErrorFolderNotFound" => {
                    let root = root(ctx).await?;
                    if root.id == rest_id { Ok(root) } else { Err(e) }
                }
                other => other,
            }
        }
    }
}

/// The mailbox root, known to Graph only as the parent of the Top of Information Store.
async fn root(ctx: &Ctx) -> Result<Folder, EwsError> {
    let top = fetch(ctx, "msgfolderroot").await?;
    let id = top.parent.ok_or_else(folder_not_found)?;
    Ok(Folder {
        id,
        parent: None,
        class: None,
        display: "Root".to_owned(),
        total: 0,
        children: 1,
        unread: 0,
        distinguished: Some("root".to_owned()),
    })
}

/// `GET /me/mailFolders/{name or REST id}`.
async fn fetch(ctx: &Ctx, name_or_id: &str) -> Result<Folder, EwsError> {
    // Folder metadata is no mail content; it is governed like an item's properties.
    ctx.authorize(Action::ReadItem, &Resource::default())?;
    let path = format!(
        "/me/mailFolders/{name_or_id}?$select=id,displayName,parentFolderId,childFolderCount,unreadItemCount,totalItemCount"
    );
    let body: Value = ctx.get_json(&path, BodyType::Best).await.map_err(|e| from_graph(&e))?;
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let count = |key: &str| body.get(key).and_then(Value::as_u64).unwrap_or(0);
    let id = text("id").ok_or_else(|| {
        EwsError::new(
            "ErrorInternalServerError",
            "An internal server error occurred. The operation failed.",
        )
    })?;
    Ok(Folder {
        id,
        parent: text("parentFolderId"),
        class: Some("IPF.Note"),
        display: text("displayName").unwrap_or_default(),
        total: count("totalItemCount"),
        children: count("childFolderCount"),
        unread: count("unreadItemCount"),
        distinguished: None,
    })
}

fn write_folder_id(out: &mut String, element: &str, rest_id: &str) {
    out.push_str(&format!(r#"<{element} Id=""#));
    xml::attr(out, &to_ews(rest_id));
    out.push_str(&format!(r#"" ChangeKey="{CHANGE_KEY}"/>"#));
}

fn write_folder(out: &mut String, folder: &Folder, fields: &[Field]) {
    out.push_str(&format!(
        r#"<m:{MESSAGE} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder>"#
    ));
    write_folder_id(out, "t:FolderId", &folder.id);
    for field in fields {
        match field {
            Field::ParentFolderId => {
                if let Some(parent) = &folder.parent {
                    write_folder_id(out, "t:ParentFolderId", parent);
                }
            }
            Field::FolderClass => {
                if let Some(class) = folder.class {
                    xml::element(out, "t:FolderClass", class);
                }
            }
            Field::DisplayName => xml::element(out, "t:DisplayName", &folder.display),
            Field::TotalCount => xml::element(out, "t:TotalCount", &folder.total.to_string()),
            Field::ChildFolderCount => xml::element(out, "t:ChildFolderCount", &folder.children.to_string()),
            Field::EffectiveRights => out.push_str(EFFECTIVE_RIGHTS),
            Field::DistinguishedFolderId => {
                if let Some(name) = &folder.distinguished {
                    xml::element(out, "t:DistinguishedFolderId", name);
                }
            }
            Field::UnreadCount => xml::element(out, "t:UnreadCount", &folder.unread.to_string()),
        }
    }
    out.push_str(&format!("</t:Folder></m:Folders></m:{MESSAGE}>"));
}
