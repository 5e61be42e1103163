//! `ConvertId` among the formats that follow from an id's own bytes, done locally: `EwsId`
//! (either alphabet accepted, EWS form returned), `EntryId` (base64 of the MAPI entry id inside
//! the EWS id) and `HexEntryId`. Converting an entry id back to an `EwsId` needs the mailbox
//! GUID, which only the server knows, as do `EwsLegacyId`, `StoreId` and `OwaId`: those get
//! Exchange's `ErrorInvalidIdMalformed`-class answer for an unsupported conversion.

use base64::{Engine, engine::general_purpose::STANDARD};

use super::Ctx;
use crate::{
    frontend::ews::{
        fault::EwsError,
        request::{AlternateId, ConvertId},
        xml::{self, Sink, StreamError},
    },
    ids::ExchangeId,
    policy::{Action, Resource},
};

const OPERATION: &str = "ConvertId";
const MESSAGE: &str = "ConvertIdResponseMessage";
const FORMATS: &[&str] = &["EwsLegacyId", "EwsId", "EntryId", "HexEntryId", "StoreId", "OwaId"];

/// Runs the operation.
pub async fn run(ctx: &Ctx, op: &ConvertId, sink: &mut Sink) -> Result<(), StreamError> {
    xml::open_response(&mut sink.buf, OPERATION);
    for id in &op.ids {
        let converted = ctx
            .authorize(Action::ConvertId, &Resource::default())
            .and_then(|()| convert(id, &op.destination));
        match converted {
            Ok(target) => {
                sink.buf.push_str(&format!(
                    r#"<m:{MESSAGE} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:AlternateId xsi:type="t:AlternateIdType" Format=""#
                ));
                xml::attr(&mut sink.buf, &op.destination);
                sink.buf.push_str(r#"" Id=""#);
                xml::attr(&mut sink.buf, &target);
                sink.buf.push_str(r#"" Mailbox=""#);
                xml::attr(&mut sink.buf, &id.mailbox);
                sink.buf.push_str(&format!(r#""/></m:{MESSAGE}>"#));
            }
            Err(e) => e.write_message(&mut sink.buf, MESSAGE, None),
        }
    }
    xml::close_response(&mut sink.buf, OPERATION);
    sink.finish().await.map_err(StreamError::from)
}

fn unsupported(from: &str, to: &str) -> EwsError {
    EwsError::new(
        "ErrorUnsupportedTypeForConversion",
        format!("Conversion from {from} to {to} is not supported by this server."),
    )
}

/// Converts one id; the result is the id text in the destination format.
pub fn convert(id: &AlternateId, destination: &str) -> Result<String, EwsError> {
    if !FORMATS.contains(&destination) || !FORMATS.contains(&id.format.as_str()) {
        return Err(EwsError::new("ErrorInvalidRequest", "The id format is not valid."));
    }
    let entry_id: Vec<u8> = match id.format.as_str() {
        "EwsId" => {
            let parsed = ExchangeId::parse(&id.id).map_err(|_| EwsError::id_malformed())?;
            if destination == "EwsId" {
                return Ok(parsed.ews_id());
            }
            if parsed.attachment_levels() > 0 {
                return Err(unsupported("an attachment EwsId", destination));
            }
            parsed.store_id().to_vec()
        }
        "EntryId" => STANDARD.decode(id.id.trim()).map_err(|_| EwsError::id_malformed())?,
        "HexEntryId" => decode_hex(id.id.trim()).ok_or_else(EwsError::id_malformed)?,
        other => return Err(unsupported(other, destination)),
    };
    if entry_id.is_empty() {
        return Err(EwsError::new("ErrorInvalidIdEmpty", "Id is empty."));
    }
    match destination {
        "EntryId" => Ok(STANDARD.encode(&entry_id)),
        "HexEntryId" => Ok(entry_id.iter().map(|b| format!("{b:02X}")).collect()),
        other => Err(unsupported(&id.format, other)),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
