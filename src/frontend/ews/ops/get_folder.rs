//! `GetFolder` for distinguished folders (`root`, `msgfolderroot`, `inbox`, …): the minimal,
//! valid folder that clients such as exchangelib read before anything else. Folder contents are
//! not served through this gateway, so the answer carries identity (a stable id per mailbox and
//! folder name), class and display name, with no counts of items that could not be listed anyway.

use base64::{Engine, engine::general_purpose::STANDARD};

use super::Ctx;
use crate::frontend::ews::{
    fault::EwsError,
    request::{FolderRef, GetFolder},
    xml::{self, Sink, StreamError},
};

const OPERATION: &str = "GetFolder";
const MESSAGE: &str = "GetFolderResponseMessage";
/// Prefix of the gateway's folder ids (they never reach Graph).
const FOLDER_ID_PREFIX: &str = "naa-folder:";

/// Distinguished folders: (name, display name, folder class).
const FOLDERS: &[(&str, &str, Option<&str>)] = &[
    ("root", "Root", None),
    ("msgfolderroot", "Top of Information Store", Some("IPF.Note")),
    ("inbox", "Inbox", Some("IPF.Note")),
    ("drafts", "Drafts", Some("IPF.Note")),
    ("sentitems", "Sent Items", Some("IPF.Note")),
    ("deleteditems", "Deleted Items", Some("IPF.Note")),
    ("outbox", "Outbox", Some("IPF.Note")),
    ("junkemail", "Junk Email", Some("IPF.Note")),
    ("archive", "Archive", Some("IPF.Note")),
    ("calendar", "Calendar", Some("IPF.Appointment")),
    ("contacts", "Contacts", Some("IPF.Contact")),
    ("tasks", "Tasks", Some("IPF.Task")),
    ("notes", "Notes", Some("IPF.StickyNote")),
    ("journal", "Journal", Some("IPF.Journal")),
];

/// Runs the operation.
pub async fn run(ctx: &Ctx, op: &GetFolder, sink: &mut Sink) -> Result<(), StreamError> {
    xml::open_response(&mut sink.buf, OPERATION);
    let owner = ctx.caller.username.clone().unwrap_or_default();
    for folder in &op.folders {
        match resolve(folder, &owner) {
            Ok(name) => write_folder(&mut sink.buf, name, &owner),
            Err(e) => e.write_message(&mut sink.buf, MESSAGE, Some("m:Folders")),
        }
    }
    xml::close_response(&mut sink.buf, OPERATION);
    sink.finish().await.map_err(StreamError::from)
}

fn folder_not_found() -> EwsError {
    EwsError::new(
        "ErrorFolderNotFound",
        "The specified folder could not be found in the store.",
    )
}

/// The distinguished name a folder reference names, for the caller's own mailbox only.
fn resolve<'a>(folder: &'a FolderRef, owner: &str) -> Result<&'static str, EwsError> {
    let name: std::borrow::Cow<'a, str> = match folder {
        FolderRef::Distinguished { id, mailbox } => {
            if let Some(mailbox) = mailbox
                && !mailbox.eq_ignore_ascii_case(owner)
            {
                return Err(EwsError::new(
                    "ErrorAccessDenied",
                    "Access is denied: only the mailbox of the signed-in user can be accessed.",
                ));
            }
            std::borrow::Cow::Borrowed(id.as_str())
        }
        FolderRef::Id(id) => {
            let decoded = STANDARD.decode(id).map_err(|_| EwsError::id_malformed())?;
            let text = String::from_utf8(decoded).map_err(|_| folder_not_found())?;
            let rest = text.strip_prefix(FOLDER_ID_PREFIX).ok_or_else(folder_not_found)?;
            let (mailbox, name) = rest.rsplit_once('/').ok_or_else(folder_not_found)?;
            if !mailbox.eq_ignore_ascii_case(owner) {
                return Err(folder_not_found());
            }
            std::borrow::Cow::Owned(name.to_owned())
        }
    };
    FOLDERS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, _, _)| *n)
        .ok_or_else(folder_not_found)
}

fn folder_id(owner: &str, name: &str) -> String {
    STANDARD.encode(format!("{FOLDER_ID_PREFIX}{}/{name}", owner.to_ascii_lowercase()))
}

fn write_folder(out: &mut String, name: &str, owner: &str) {
    let Some((_, display, class)) = FOLDERS.iter().find(|(n, _, _)| *n == name) else {
        return;
    };
    out.push_str(&format!(
        r#"<m:{MESSAGE} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders>"#
    ));
    let element = if name == "calendar" {
        "t:CalendarFolder"
    } else if name == "contacts" {
        "t:ContactsFolder"
    } else if name == "tasks" {
        "t:TasksFolder"
    } else {
        "t:Folder"
    };
    out.push_str(&format!(r#"<{element}><t:FolderId Id=""#));
    xml::attr(out, &folder_id(owner, name));
    out.push_str(r#"" ChangeKey="AQAAAA=="/>"#);
    if name != "root" {
        out.push_str(r#"<t:ParentFolderId Id=""#);
        let parent = if name == "msgfolderroot" {
            "root"
        } else {
            "msgfolderroot"
        };
        xml::attr(out, &folder_id(owner, parent));
        out.push_str(r#"" ChangeKey="AQAAAA=="/>"#);
    }
    if let Some(class) = class {
        xml::element(out, "t:FolderClass", class);
    }
    xml::element(out, "t:DisplayName", display);
    out.push_str("<t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>");
    out.push_str("<t:EffectiveRights><t:CreateAssociated>false</t:CreateAssociated><t:CreateContents>false</t:CreateContents><t:CreateHierarchy>false</t:CreateHierarchy><t:Delete>false</t:Delete><t:Modify>false</t:Modify><t:Read>true</t:Read><t:ViewPrivateItems>true</t:ViewPrivateItems></t:EffectiveRights>");
    xml::element(out, "t:DistinguishedFolderId", name);
    if element == "t:Folder" {
        out.push_str("<t:UnreadCount>0</t:UnreadCount>");
    }
    out.push_str(&format!("</{element}></m:Folders></m:{MESSAGE}>"));
}
