//! Unit tests of the admin tools: app registration (protocols.md §2.3) and manifest upgrade (§2.4).

use serde_json::Value;

use super::{app_registration as reg, manifest};

const APP: &str = "3f2b8c1d-9e4a-4b7c-8d6e-1a2b3c4d5e6f";
const ADDIN: &str = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d";
const SCOPE_ID: &str = "11111111-2222-4333-8444-555555555555";

fn request(separate_api: bool, may_write: bool) -> reg::Request {
    reg::Request {
        gateway_url: "https://gateway.contoso.com".parse().unwrap(),
        addin_origin: "https://addin.contoso.com:8443".parse().unwrap(),
        name: "Contoso gateway".into(),
        separate_api,
        may_write,
        app_id: Some(APP.into()),
        addin_app_id: separate_api.then(|| ADDIN.to_string()),
        tenant: "organizations".into(),
        authority: "https://login.microsoftonline.com".into(),
        scope_id: SCOPE_ID.into(),
    }
}

fn scope_ids(access: &Value) -> Vec<String> {
    access["resourceAccess"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "Scope", "delegated permissions only: {a}");
            a["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn one_registration_serves_add_in_and_api_and_pre_authorizes_itself() {
    let out = reg::build(&request(false, true)).unwrap().json;
    let regs = out["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 1);
    let create = &regs[0]["create"]["body"];
    assert_eq!(
        create["spa"]["redirectUris"][0], "brk-multihub://addin.contoso.com:8443",
        "origin only: scheme-less host and port, no path"
    );
    assert_eq!(create["api"]["requestedAccessTokenVersion"], 2);
    let scope = &create["api"]["oauth2PermissionScopes"][0];
    assert_eq!(scope["value"], "access_as_user");
    assert_eq!(scope["id"], SCOPE_ID);
    assert_eq!(scope["isEnabled"], true);
    let graph = &create["requiredResourceAccess"][0];
    assert_eq!(graph["resourceAppId"], "00000003-0000-0000-c000-000000000000");
    let ids = scope_ids(graph);
    assert!(
        ids.contains(&"024d486e-b451-40bb-833d-3e66d98c5c73".to_string()),
        "Mail.ReadWrite (delegated)"
    );
    assert!(
        !ids.contains(&"570282fd-fa5c-430d-a7fd-fc8dc98a9dca".to_string()),
        "not also Mail.Read"
    );
    for id in [
        "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
        "37f7f235-527c-4136-accd-4a02d197296e",
        "14dad69e-099b-42c9-810b-d002981feec1",
        "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
    ] {
        assert!(ids.contains(&id.to_string()), "{id}");
    }
    let update = &regs[0]["update"]["body"];
    assert_eq!(update["identifierUris"][0], format!("api://{APP}"));
    let pre = &update["api"]["preAuthorizedApplications"][0];
    assert_eq!(pre["appId"], APP, "the registration pre-authorizes itself");
    assert_eq!(pre["delegatedPermissionIds"][0], SCOPE_ID);
    assert_eq!(update["api"]["requestedAccessTokenVersion"], 2);
}

#[test]
fn read_only_policies_ask_for_mail_read() {
    let out = reg::build(&request(false, false)).unwrap().json;
    let graph = &out["registrations"][0]["create"]["body"]["requiredResourceAccess"][0];
    let ids = scope_ids(graph);
    assert!(
        ids.contains(&"570282fd-fa5c-430d-a7fd-fc8dc98a9dca".to_string()),
        "Mail.Read"
    );
    assert!(!ids.contains(&"024d486e-b451-40bb-833d-3e66d98c5c73".to_string()));
    assert!(
        out["config"]
            .as_str()
            .unwrap()
            .contains("\"https://graph.microsoft.com/Mail.Read\"")
    );
}

#[test]
fn separate_registrations_link_the_add_in_to_the_api() {
    let out = reg::build(&request(true, true)).unwrap().json;
    let regs = out["registrations"].as_array().unwrap();
    let (api, addin) = (&regs[0], &regs[1]);
    assert!(
        api["create"]["body"].get("spa").is_none(),
        "the API has no SPA platform"
    );
    let api_update = &api["update"]["body"]["api"];
    assert_eq!(api_update["preAuthorizedApplications"][0]["appId"], ADDIN);
    assert_eq!(api_update["knownClientApplications"][0], ADDIN);
    let addin_body = &addin["create"]["body"];
    assert_eq!(
        addin_body["spa"]["redirectUris"][0],
        "brk-multihub://addin.contoso.com:8443"
    );
    assert_eq!(addin_body["requiredResourceAccess"][0]["resourceAppId"], APP);
    assert_eq!(
        addin_body["requiredResourceAccess"][0]["resourceAccess"][0]["id"],
        SCOPE_ID
    );
    assert!(
        scope_ids(&api["create"]["body"]["requiredResourceAccess"][0])
            .contains(&"024d486e-b451-40bb-833d-3e66d98c5c73".to_string()),
        "Graph permissions belong to the registration doing OBO"
    );
    let config = out["config"].as_str().unwrap();
    assert!(
        config.contains(&format!("client_id = \"{APP}\""))
            && config.contains(&format!("allowed_client_apps = [\"{ADDIN}\"]")),
        "{config}"
    );
}

#[test]
fn the_admin_consent_url_matches_the_runtime_form() {
    let out = reg::build(&request(false, true)).unwrap().json;
    let url = out["admin_consent_url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "https://login.microsoftonline.com/organizations/v2.0/adminconsent?client_id={APP}&scope=\
             https%3A%2F%2Fgraph.microsoft.com%2FMail.ReadWrite+https%3A%2F%2Fgraph.microsoft.com%2FUser.Read"
        )
    );
}

#[test]
fn an_origin_with_a_path_is_refused() {
    let mut r = request(false, true);
    r.addin_origin = "https://www.contoso.com/go".parse().unwrap();
    let err = reg::build(&r).unwrap_err();
    assert!(err.contains("without a path"), "{err}");
}

#[test]
fn az_commands_and_config_are_consistent() {
    let out = reg::build(&request(false, true)).unwrap().json;
    let az: Vec<&str> = out["az"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let all = az.join("\n");
    assert!(all.contains("az ad app create"), "{all}");
    assert!(all.contains("--identifier-uris api://$APP_ID"), "{all}");
    assert!(all.contains("024d486e-b451-40bb-833d-3e66d98c5c73=Scope"), "{all}");
    assert!(all.contains("brk-multihub://addin.contoso.com:8443"), "{all}");
    assert!(
        all.contains("\"appId\":\"'$APP_ID'\""),
        "the shell expands the app id in the body: {all}"
    );
    let config = out["config"].as_str().unwrap();
    let parsed: toml::Value = toml::from_str(config).unwrap_or_else(|e| panic!("{e}\n{config}"));
    assert_eq!(parsed["entra"]["required_scope"].as_str(), Some("access_as_user"));
    assert_eq!(
        parsed["entra"]["audiences"][0].as_str(),
        Some(format!("api://{APP}").as_str())
    );
}

const LEGACY: &str = include_str!("../../manifest/legacy-manifest.xml");

#[test]
fn manifest_upgrade_changes_only_permissions_and_adds_web_application_info() {
    let up = manifest::upgrade(
        LEGACY,
        &manifest::Upgrade {
            client_id: APP.into(),
            may_write: true,
        },
    )
    .unwrap();
    assert!(up.xml.contains("<Permissions>ReadWriteItem</Permissions>"));
    let info = up.xml.find("<WebApplicationInfo>").unwrap();
    let resources_end = up.xml.find("</Resources>").unwrap();
    assert!(info > resources_end && info < up.xml.rfind("</VersionOverrides>").unwrap());
    assert!(up.xml.contains(&format!("<Id>{APP}</Id>")));
    // Removing the two edits gives back the original, byte for byte.
    let start = up.xml[..info].rfind('\n').unwrap();
    let end = up.xml.find("</WebApplicationInfo>").unwrap() + "</WebApplicationInfo>".len();
    let restored = format!("{}{}", &up.xml[..start], &up.xml[end..]).replace(
        "<Permissions>ReadWriteItem</Permissions>",
        "<Permissions>ReadWriteMailbox</Permissions>",
    );
    assert_eq!(restored, LEGACY);
    assert_eq!(up.changes.len(), 2, "{:?}", up.changes);
    assert!(
        up.changes[0].contains("ReadWriteMailbox → ReadWriteItem"),
        "{:?}",
        up.changes
    );
}

#[test]
fn the_shipped_upgraded_manifest_is_what_the_tool_produces() {
    let shipped = include_str!("../../manifest/naa-manifest.xml");
    let id = "3f2b8c1d-9e4a-4b7c-8d6e-1a2b3c4d5e6f";
    let up = manifest::upgrade(
        LEGACY,
        &manifest::Upgrade {
            client_id: id.into(),
            may_write: true,
        },
    )
    .unwrap();
    assert_eq!(up.xml, shipped);
}

#[test]
fn manifest_upgrade_lowers_to_read_item_without_writes_and_is_idempotent() {
    let up = manifest::upgrade(
        LEGACY,
        &manifest::Upgrade {
            client_id: APP.into(),
            may_write: false,
        },
    )
    .unwrap();
    assert!(up.xml.contains("<Permissions>ReadItem</Permissions>"));
    let again = manifest::upgrade(
        &up.xml,
        &manifest::Upgrade {
            client_id: APP.into(),
            may_write: false,
        },
    )
    .unwrap();
    assert_eq!(again.xml, up.xml, "a second run changes nothing");
    assert!(
        again.changes.iter().any(|c| c.contains("already present")),
        "{:?}",
        again.changes
    );
}

#[test]
fn manifest_upgrade_refuses_what_is_not_a_manifest() {
    let opts = manifest::Upgrade {
        client_id: APP.into(),
        may_write: true,
    };
    assert!(
        manifest::upgrade("<html><body/></html>", &opts)
            .unwrap_err()
            .contains("not an add-in XML manifest")
    );
    assert!(manifest::upgrade("<OfficeApp><Permissions>", &opts).is_err());
    let no_vo = "<OfficeApp><Permissions>ReadWriteMailbox</Permissions></OfficeApp>";
    let up = manifest::upgrade(no_vo, &opts).unwrap();
    assert_eq!(
        up.xml,
        "<OfficeApp><Permissions>ReadWriteItem</Permissions></OfficeApp>"
    );
    assert!(up.changes[1].contains("not added"), "{:?}", up.changes);
}
