//! How the Graph simulator checks bearer tokens: signed by a key this Entra publishes (or
//! published before the last rotation), audience Graph, issued by this cloud, unexpired.

use std::sync::Arc;

use jsonwebtoken::Algorithm;

use super::{
    Inner,
    claims::{self, is_graph_audience},
    jwt, now,
};
use crate::{GraphCaller, GraphTokenVerifier};

/// Graph's answer for a bearer that is not a JWT at all.
const MALFORMED: &str = "CompactToken parsing failed with error code: 80049217";
const INVALID_SIGNATURE: &str = "Access token validation failure. Invalid signature.";
const INVALID_AUDIENCE: &str = "Invalid audience.";
const INVALID_ISSUER: &str = "Access token validation failure. Invalid issuer.";
const EXPIRED: &str = "Access token has expired or is not yet valid.";

/// Verifies Graph tokens issued by one simulated Entra.
pub(super) struct GraphVerifier {
    inner: Arc<Inner>,
}

impl GraphVerifier {
    pub fn new(inner: Arc<Inner>) -> GraphVerifier {
        GraphVerifier { inner }
    }
}

impl GraphTokenVerifier for GraphVerifier {
    fn verify_graph_token(&self, bearer: &str) -> Result<GraphCaller, String> {
        let token = jwt::parse(bearer).map_err(|_| MALFORMED.to_owned())?;
        let kid = token.header_str("kid").unwrap_or_default();
        let keys = self.inner.recent_keys();
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| INVALID_SIGNATURE.to_owned())?;
        if !token.verify(&key.decoding, &[Algorithm::RS256]) {
            return Err(INVALID_SIGNATURE.to_owned());
        }
        if !token.audiences().iter().any(|a| is_graph_audience(a)) {
            return Err(INVALID_AUDIENCE.to_owned());
        }
        let now = now();
        let exp = token.claim_time("exp").unwrap_or(0);
        let nbf = token.claim_time("nbf").unwrap_or(0);
        if now >= exp || nbf > now {
            return Err(EXPIRED.to_owned());
        }
        let tid = token.claim_str("tid").unwrap_or_default();
        let iss = token.claim_str("iss").unwrap_or_default();
        if tid.is_empty() || (iss != claims::issuer(1, tid) && iss != claims::issuer(2, tid)) {
            return Err(INVALID_ISSUER.to_owned());
        }
        let text = |name: &str| token.claim_str(name).unwrap_or_default().to_owned();
        let upn = ["upn", "unique_name", "preferred_username"]
            .iter()
            .find_map(|c| token.claim_str(c))
            .unwrap_or_default()
            .to_owned();
        let app_id = token
            .claim_str("appid")
            .or(token.claim_str("azp"))
            .unwrap_or_default()
            .to_owned();
        Ok(GraphCaller {
            tenant_id: tid.to_owned(),
            oid: text("oid"),
            upn,
            app_id,
            scopes: text("scp").split_whitespace().map(str::to_owned).collect(),
        })
    }
}
