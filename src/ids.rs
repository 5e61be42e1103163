//! Exchange item and attachment ids in EWS and REST forms.
//! (Interface skeleton; the implementation replaces it.)

/// Placeholder until the parser lands: decodes nothing.
pub fn inspect(id: &str) -> Result<serde_json::Value, String> {
    Err(format!("cannot inspect {id} yet"))
}
