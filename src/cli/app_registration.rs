//! `naa-gateway app-registration`: the Entra ID app registration(s) the gateway and the add-in need.
//!
//! Produces the Microsoft Graph `application` bodies (protocols.md §2.3): a SPA redirect
//! `brk-multihub://<add-in origin>`, the exposed scope `access_as_user`, v2 access tokens, the
//! registration pre-authorizing itself (or, with `--separate-api`, an add-in registration listed
//! in the API's `preAuthorizedApplications` and `knownClientApplications`), and the Graph
//! delegated permissions the policies need. Also the equivalent `az` commands, the admin-consent
//! URL and the gateway's `[entra]`/`[obo]` configuration. Pure: nothing is sent anywhere.

use serde_json::{Value, json};
use url::Url;

pub use crate::obo::admin_consent_url;

/// Microsoft Graph's application id (`resourceAppId`).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Graph delegated permission ids (type `Scope`), from Graph's published permission list.
pub const GRAPH_SCOPES: [(&str, &str); 6] = [
    ("Mail.Read", "570282fd-fa5c-430d-a7fd-fc8dc98a9dca"),
    ("Mail.ReadWrite", "024d486e-b451-40bb-833d-3e66d98c5c73"),
    ("User.Read", "e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
    ("offline_access", "7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
    ("openid", "37f7f235-527c-4136-accd-4a02d197296e"),
    ("profile", "14dad69e-099b-42c9-810b-d002981feec1"),
];

/// The scope the gateway exposes and every inbound token must carry.
pub const SCOPE_NAME: &str = "access_as_user";

/// Placeholder for an application id Entra ID assigns at creation.
const API_APP_ID: &str = "<API_APP_ID>";
/// Placeholder for the add-in registration's application id (`--separate-api`).
const ADDIN_APP_ID: &str = "<ADDIN_APP_ID>";

/// What to register.
#[derive(Debug, Clone)]
pub struct Request {
    /// Public base URL of the gateway (becomes the add-in's `ewsUrl`/`restUrl` replacement).
    pub gateway_url: Url,
    /// Origin the add-in's pages are served from.
    pub addin_origin: Url,
    /// Display name.
    pub name: String,
    /// Two registrations (add-in SPA, gateway API) instead of one.
    pub separate_api: bool,
    /// Whether the policies can permit a write (then Mail.ReadWrite, else Mail.Read).
    pub may_write: bool,
    /// An existing registration's application id, filled in instead of a placeholder.
    pub app_id: Option<String>,
    /// The add-in registration's application id, with `separate_api`.
    pub addin_app_id: Option<String>,
    /// Tenant of the admin-consent URL (`organizations` when not given).
    pub tenant: String,
    /// Entra ID authority (`https://login.microsoftonline.com`).
    pub authority: String,
    /// Id of the exposed scope (a fresh UUID unless given, so re-running keeps it stable).
    pub scope_id: String,
}

/// Everything printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// `{ "registrations": [...], "az": [...], "admin_consent_url": ..., "config": ... }`.
    pub json: Value,
}

// === impl Request ===

impl Request {
    /// The SPA redirect URI NAA needs: `brk-multihub://host[:port]`, no path (protocols.md §2.3).
    pub fn broker_redirect(&self) -> Result<String, String> {
        origin_host(&self.addin_origin).map(|h| format!("brk-multihub://{h}"))
    }

    /// The Graph scopes the gateway asks for in the on-behalf-of exchange.
    pub fn graph_scopes(&self) -> Vec<String> {
        let mail = if self.may_write { "Mail.ReadWrite" } else { "Mail.Read" };
        vec![
            format!("https://graph.microsoft.com/{mail}"),
            "https://graph.microsoft.com/User.Read".to_string(),
        ]
    }

    fn api_id(&self) -> &str {
        self.app_id.as_deref().unwrap_or(API_APP_ID)
    }

    fn addin_id(&self) -> &str {
        if self.separate_api {
            self.addin_app_id.as_deref().unwrap_or(ADDIN_APP_ID)
        } else {
            self.api_id()
        }
    }
}

/// `host[:port]` of an origin URL; refuses paths, queries and fragments.
fn origin_host(u: &Url) -> Result<String, String> {
    let host = u.host_str().ok_or_else(|| format!("{u} has no host"))?;
    if u.path() != "/" && !u.path().is_empty() || u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "--addin-origin {u} must be an origin (scheme, host, port) without a path: NAA's redirect URI is \
             brk-multihub://<origin> only"
        ));
    }
    Ok(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Builds every part of the output.
pub fn build(req: &Request) -> Result<Output, String> {
    let redirect = req.broker_redirect()?;
    let consent_url = admin_consent_url(&req.authority, &req.tenant, req.api_id(), &req.graph_scopes());
    let registrations = if req.separate_api {
        vec![api_registration(req, None), addin_registration(req, &redirect)]
    } else {
        vec![api_registration(req, Some(&redirect))]
    };
    let json = json!({
        "registrations": registrations,
        "az": az_commands(req, &redirect),
        "admin_consent_url": consent_url,
        "config": config_block(req),
    });
    Ok(Output { json })
}

fn scope_object(req: &Request) -> Value {
    json!({
        "id": req.scope_id,
        "value": SCOPE_NAME,
        "type": "User",
        "isEnabled": true,
        "adminConsentDisplayName": format!("Use {} as the signed-in user", req.name),
        "adminConsentDescription": format!(
            "Lets the add-in call {} as the signed-in user; the gateway reads and updates the user's mail \
             only as its policies allow.", req.name),
        "userConsentDisplayName": format!("Use {} as you", req.name),
        "userConsentDescription": format!("Lets the add-in call {} as you.", req.name),
    })
}

fn graph_access(names: &[&str]) -> Value {
    let access: Vec<Value> = names
        .iter()
        .filter_map(|n| GRAPH_SCOPES.iter().find(|(name, _)| name == n))
        .map(|(_, id)| json!({ "id": id, "type": "Scope" }))
        .collect();
    json!({ "resourceAppId": GRAPH_APP_ID, "resourceAccess": access })
}

fn mail_permission(req: &Request) -> &'static str {
    if req.may_write { "Mail.ReadWrite" } else { "Mail.Read" }
}

/// The gateway's (API) registration; with `spa_redirect`, also the add-in's (single registration).
fn api_registration(req: &Request, spa_redirect: Option<&str>) -> Value {
    let mut create = json!({
        "displayName": req.name,
        "signInAudience": "AzureADMultipleOrgs",
        "api": { "requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [scope_object(req)] },
        "requiredResourceAccess": [graph_access(&[mail_permission(req), "User.Read", "openid", "profile", "offline_access"])],
    });
    if let Some(redirect) = spa_redirect {
        create["spa"] = json!({ "redirectUris": spa_redirects(req, redirect) });
    }
    let mut api = json!({
        "requestedAccessTokenVersion": 2,
        "oauth2PermissionScopes": [scope_object(req)],
        "preAuthorizedApplications": [{ "appId": req.addin_id(), "delegatedPermissionIds": [req.scope_id] }],
    });
    if req.separate_api {
        // Combined consent: consenting to the add-in also consents to the gateway's Graph permissions.
        api["knownClientApplications"] = json!([req.addin_id()]);
    }
    let update = json!({ "identifierUris": [format!("api://{}", req.api_id())], "api": api });
    json!({
        "role": if spa_redirect.is_some() { "add-in and gateway API" } else { "gateway API" },
        "create": { "method": "POST", "url": "https://graph.microsoft.com/v1.0/applications", "body": create },
        "update": {
            "method": "PATCH",
            "url": "https://graph.microsoft.com/v1.0/applications(appId='{}')".replace("{}", req.api_id()),
            "body": update,
        },
    })
}

fn addin_registration(req: &Request, redirect: &str) -> Value {
    let body = json!({
        "displayName": format!("{} add-in", req.name),
        "signInAudience": "AzureADMultipleOrgs",
        "spa": { "redirectUris": spa_redirects(req, redirect) },
        "requiredResourceAccess": [
            { "resourceAppId": req.api_id(), "resourceAccess": [{ "id": req.scope_id, "type": "Scope" }] },
            graph_access(&["openid", "profile", "offline_access"]),
        ],
    });
    json!({
        "role": "add-in",
        "create": { "method": "POST", "url": "https://graph.microsoft.com/v1.0/applications", "body": body },
    })
}

/// The broker redirect and the add-in origin itself, the landing page of admin consent
/// (protocols.md §2.3: it must be registered as a SPA redirect too).
fn spa_redirects(req: &Request, broker: &str) -> Vec<String> {
    let landing = format!("{}/", req.addin_origin.origin().ascii_serialization());
    vec![broker.to_string(), landing]
}

fn az_commands(req: &Request, redirect: &str) -> Vec<String> {
    let graph_perms: Vec<String> = [mail_permission(req), "User.Read", "openid", "profile", "offline_access"]
        .iter()
        .filter_map(|n| GRAPH_SCOPES.iter().find(|(name, _)| name == n))
        .map(|(_, id)| format!("{id}=Scope"))
        .collect();
    let landing = format!("{}/", req.addin_origin.origin().ascii_serialization());
    let mut cmds = vec![
        format!(
            "APP_ID=$(az ad app create --display-name '{}' --sign-in-audience AzureADMultipleOrgs --query appId -o tsv)",
            req.name
        ),
        format!("SCOPE_ID={}", req.scope_id),
        "az ad app update --id $APP_ID --identifier-uris api://$APP_ID".to_string(),
        format!(
            "az rest --method PATCH --uri \"https://graph.microsoft.com/v1.0/applications(appId='$APP_ID')\" \
             --headers Content-Type=application/json --body '{}'",
            api_patch_for_shell(req)
        ),
        format!(
            "az ad app permission add --id $APP_ID --api {GRAPH_APP_ID} --api-permissions {}",
            graph_perms.join(" ")
        ),
    ];
    let spa = format!("--body '{{\"spa\":{{\"redirectUris\":[\"{redirect}\",\"{landing}\"]}}}}'");
    if req.separate_api {
        cmds.push(format!(
            "ADDIN_ID=$(az ad app create --display-name '{} add-in' --sign-in-audience AzureADMultipleOrgs --query appId -o tsv)",
            req.name
        ));
        cmds.push(format!(
            "az rest --method PATCH --uri \"https://graph.microsoft.com/v1.0/applications(appId='$ADDIN_ID')\" \
             --headers Content-Type=application/json {spa}"
        ));
        cmds.push("az ad app permission add --id $ADDIN_ID --api $APP_ID --api-permissions $SCOPE_ID=Scope".into());
    } else {
        cmds.push(format!(
            "az rest --method PATCH --uri \"https://graph.microsoft.com/v1.0/applications(appId='$APP_ID')\" \
             --headers Content-Type=application/json {spa}"
        ));
    }
    cmds.push("az ad sp create --id $APP_ID".into());
    cmds.push("az ad app credential reset --id $APP_ID --display-name naa-gateway --query password -o tsv".into());
    cmds.push("az ad app permission admin-consent --id $APP_ID".into());
    cmds
}

/// The API patch with shell variables in place of the application ids.
fn api_patch_for_shell(req: &Request) -> String {
    let addin = if req.separate_api { "$ADDIN_ID" } else { "$APP_ID" };
    let mut api = json!({
        "requestedAccessTokenVersion": 2,
        "oauth2PermissionScopes": [scope_object(req)],
        "preAuthorizedApplications": [{ "appId": addin, "delegatedPermissionIds": [req.scope_id] }],
    });
    if req.separate_api {
        api["knownClientApplications"] = json!([addin]);
    }
    // Single quotes delimit the body in the shell; close and reopen them around the variables.
    json!({ "api": api })
        .to_string()
        .replace('\'', "'\\''")
        .replace("$APP_ID", "'$APP_ID'")
        .replace("$ADDIN_ID", "'$ADDIN_ID'")
}

fn config_block(req: &Request) -> String {
    let scopes: Vec<String> = req.graph_scopes().iter().map(|s| format!("{s:?}")).collect();
    let clients = if req.separate_api {
        format!("[\"{}\"]", req.addin_id())
    } else {
        format!("[\"{}\"]", req.api_id())
    };
    format!(
        "[entra]\n\
         client_id = \"{id}\"\n\
         audiences = [\"api://{id}\"]\n\
         # Tenant GUIDs whose users may call; [\"*\"] accepts every tenant that consented.\n\
         allowed_tenants = [\"<TENANT_ID>\"]\n\
         required_scope = \"{SCOPE_NAME}\"\n\
         allowed_client_apps = {clients}\n\
         credential = {{ kind = \"secret\", secret = {{ env = \"NAA_CLIENT_SECRET\" }} }}\n\
         \n\
         [obo]\n\
         scopes = [{scopes}]\n",
        id = req.api_id(),
        scopes = scopes.join(", "),
    )
}

/// The output as text for people: each part under a heading.
pub fn render_text(req: &Request, out: &Output) -> String {
    let mut s = String::new();
    let v = &out.json;
    s.push_str(&format!(
        "# App registration for {} (gateway {}, add-in origin {})\n",
        req.name, req.gateway_url, req.addin_origin
    ));
    s.push_str(&format!(
        "# Graph permission: {} ({})\n\n",
        mail_permission(req),
        if req.may_write {
            "the policies allow writing extended properties"
        } else {
            "the policies allow no writes"
        }
    ));
    for (i, r) in v["registrations"].as_array().into_iter().flatten().enumerate() {
        s.push_str(&format!(
            "## {}. Registration: {}\n",
            i + 1,
            r["role"].as_str().unwrap_or("")
        ));
        for step in ["create", "update"] {
            if let Some(call) = r.get(step) {
                let body = serde_json::to_string_pretty(&call["body"]).unwrap_or_default();
                s.push_str(&format!(
                    "{} {}\n{body}\n\n",
                    call["method"].as_str().unwrap_or(""),
                    call["url"].as_str().unwrap_or("")
                ));
            }
        }
    }
    s.push_str("## The same with the Azure CLI\n");
    for c in v["az"].as_array().into_iter().flatten() {
        s.push_str(c.as_str().unwrap_or(""));
        s.push('\n');
    }
    s.push_str(&format!(
        "\n## Admin consent (a tenant administrator opens this once)\n{}\n\n## Gateway configuration\n{}",
        v["admin_consent_url"].as_str().unwrap_or(""),
        v["config"].as_str().unwrap_or("")
    ));
    s
}
