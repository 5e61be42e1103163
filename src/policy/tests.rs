//! Unit tests of the policy engine: the default policy, loading, reload, may_write, tables.

use std::{path::PathBuf, sync::Arc};

use figment::providers::Format as _;

use super::*;
use crate::config::Config;

const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";

fn config_with(policy: serde_json::Value) -> Config {
    let figment = figment::Figment::new()
        .merge(figment::providers::Toml::string(crate::config::DEFAULTS))
        .merge(figment::providers::Serialized::defaults(serde_json::json!({
            "entra": {
                "client_id": "00000000-0000-0000-0000-0000000000c1",
                "allowed_tenants": ["*"],
                "credential": { "kind": "secret", "secret": { "value": "s" } },
            },
            "policy": policy,
        })));
    Config::from_figment(figment).unwrap_or_else(|e| panic!("{e}"))
}

fn caller(app: Option<&str>) -> Caller {
    Caller {
        tenant_id: TENANT.into(),
        oid: "4d6f7a2e-0000-4000-8000-000000000001".into(),
        subject: "sub".into(),
        client_app: app.map(str::to_string),
        scopes: vec!["access_as_user".into()],
        username: None,
        version: 2,
        expires_at: i64::MAX,
        assertion: Arc::from("not-a-token"),
    }
}

fn attachment(size: Option<u64>, name: &str) -> Resource {
    Resource {
        kind: ResourceKind::Attachment,
        size,
        name: Some(name.into()),
        attachment_kind: Some("file".into()),
        ..Resource::default()
    }
}

fn property(set: &str, name: &str) -> Resource {
    Resource {
        property_set: Some(set.into()),
        property_name: Some(name.into()),
        ..Resource::default()
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("naa-policy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_default_policy_reads_body_headers_and_attachments_up_to_35_mb() {
    let engine = PolicyEngine::load(&config_with(serde_json::json!({}))).unwrap();
    let c = caller(Some("addin"));
    let msg = Resource::default();
    for action in [
        Action::ReadItem,
        Action::ReadBody,
        Action::ReadHeaders,
        Action::ConvertId,
    ] {
        assert!(engine.authorize(&c, action, &msg, FrontEnd::Ews).allowed, "{action:?}");
    }
    let d = engine.authorize(&c, Action::ReadMime, &msg, FrontEnd::Rest);
    assert!(!d.allowed && d.policies.is_empty(), "MIME is not granted: {d:?}");
    let limit = 35 * 1024 * 1024;
    let ok = engine.authorize(
        &c,
        Action::ReadAttachment,
        &attachment(Some(limit), "a.pdf"),
        FrontEnd::Graph,
    );
    assert!(ok.allowed);
    assert_eq!(ok.policies, vec!["read-attachments-up-to-limit".to_string()]);
    let big = attachment(Some(limit + 1), "a.pdf");
    assert!(
        !engine
            .authorize(&c, Action::ReadAttachment, &big, FrontEnd::Graph)
            .allowed
    );
    let unknown = attachment(None, "a.pdf");
    assert!(
        !engine
            .authorize(&c, Action::ReadAttachment, &unknown, FrontEnd::Graph)
            .allowed
    );
}

#[test]
fn the_default_policy_writes_only_x_headers_and_prefixed_public_strings() {
    let engine = PolicyEngine::load(&config_with(serde_json::json!({}))).unwrap();
    let c = caller(None);
    let allowed = |r: &Resource| {
        engine
            .authorize(&c, Action::WriteExtendedProperty, r, FrontEnd::Ews)
            .allowed
    };
    assert!(allowed(&property("InternetHeaders", "X-Workfront-Id")));
    assert!(allowed(&property("{00020386-0000-0000-C000-000000000046}", "x-tag")));
    assert!(allowed(&property("PublicStrings", "GatewayTag")));
    assert!(allowed(&property(
        "{00020329-0000-0000-c000-000000000046}",
        "GatewayTag"
    )));
    assert!(!allowed(&property("PublicStrings", "OtherTag")), "prefix required");
    assert!(!allowed(&property("InternetHeaders", "Subject")), "only X- headers");
    assert!(
        !allowed(&property("00062008-0000-0000-c000-000000000046", "X-Tag")),
        "other sets"
    );
    assert!(!allowed(&Resource::default()), "a write naming no property");
}

#[test]
fn settings_come_from_configuration_per_tenant() {
    let engine = PolicyEngine::load(&config_with(serde_json::json!({
        "public_strings_prefix": "Acme",
        "max_attachment_bytes": 10,
        "tenants": { TENANT.to_uppercase(): { "max_attachment_bytes": 100 } },
    })))
    .unwrap();
    let c = caller(None);
    let write = |name| {
        engine.authorize(
            &c,
            Action::WriteExtendedProperty,
            &property("PublicStrings", name),
            FrontEnd::Rest,
        )
    };
    assert!(write("AcmeTag").allowed);
    assert!(!write("GatewayTag").allowed);
    let read = |size| engine.authorize(&c, Action::ReadAttachment, &attachment(Some(size), "a"), FrontEnd::Rest);
    assert!(read(100).allowed, "the tenant's own limit applies");
    assert!(!read(101).allowed);
    assert_eq!(
        engine
            .settings_for("00000000-0000-0000-0000-0000000000bb")
            .max_attachment_bytes,
        10
    );
}

#[test]
fn an_empty_prefix_allows_no_public_strings_name() {
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "public_strings_prefix": "" }))).unwrap();
    let d = engine.authorize(
        &caller(None),
        Action::WriteExtendedProperty,
        &property("PublicStrings", "Anything"),
        FrontEnd::Ews,
    );
    assert!(!d.allowed);
}

#[test]
fn may_write_follows_the_policies() {
    let engine = PolicyEngine::load(&config_with(serde_json::json!({}))).unwrap();
    assert!(engine.may_write());
    let dir = TempDir::new();
    dir.write(
        "read.cedar",
        r#"permit (principal, action in Action::"Read", resource);"#,
    );
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap();
    assert!(!engine.may_write(), "a read-only set needs Mail.Read only");
    dir.write(
        "write.cedar",
        r#"permit (principal, action in [Action::"Write"], resource) when { false };"#,
    );
    engine.reload().unwrap();
    assert!(
        engine.may_write(),
        "a write group grant counts even if its condition never holds"
    );
    dir.write(
        "write.cedar",
        r#"permit (principal, action, resource) when { context.front_end == "ews" };"#,
    );
    engine.reload().unwrap();
    assert!(engine.may_write(), "an unconstrained action counts");
}

#[test]
fn problems_name_file_line_and_column() {
    let dir = TempDir::new();
    dir.write(
        "a.cedar",
        "// ok\npermit (principal, action == Action::\"ReadBody\", resource);\n",
    );
    dir.write(
        "b.cedar",
        "@id(\"typo\")\npermit (principal, action == Action::\"ReadAttachment\", resource)\nwhen { resource.sise > 1 };\n",
    );
    dir.write("c.cedar", "permit (principal, action, resource)\n  when { ( };\n");
    let problems = check(Some(&dir.0)).unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let c = problems
        .iter()
        .find(|p| p.file.ends_with("c.cedar"))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(c.line, Some(2), "{text:?}");
    // Parse errors stop before validation; fix c and see b's validation error located.
    dir.write(
        "c.cedar",
        "permit (principal, action == Action::\"ConvertId\", resource);\n",
    );
    let problems = check(Some(&dir.0)).unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{text:?}");
    assert!(problems[0].file.ends_with("b.cedar"), "{text:?}");
    assert_eq!(problems[0].line, Some(3), "{text:?}");
    assert!(text[0].contains("typo") && text[0].contains("sise"), "{text:?}");
}

#[test]
fn a_failed_reload_keeps_the_previous_policies() {
    let dir = TempDir::new();
    dir.write(
        "p.cedar",
        r#"@id("body") permit (principal, action == Action::"ReadBody", resource);"#,
    );
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap();
    let c = caller(None);
    assert!(
        engine
            .authorize(&c, Action::ReadBody, &Resource::default(), FrontEnd::Ews)
            .allowed
    );
    dir.write(
        "p.cedar",
        r#"permit (principal, action == Action::"ReadBodyy", resource);"#,
    );
    let err = engine.reload().unwrap_err();
    assert!(err[0].contains("p.cedar"), "{err:?}");
    let d = engine.authorize(&c, Action::ReadBody, &Resource::default(), FrontEnd::Ews);
    assert!(
        d.allowed && d.policies == vec!["body".to_string()],
        "old set still in force: {d:?}"
    );
    dir.write(
        "p.cedar",
        r#"@id("headers") permit (principal, action == Action::"ReadHeaders", resource);"#,
    );
    engine.reload().unwrap();
    assert!(
        !engine
            .authorize(&c, Action::ReadBody, &Resource::default(), FrontEnd::Ews)
            .allowed
    );
}

#[test]
fn forbid_wins_and_is_named() {
    let dir = TempDir::new();
    dir.write(
        "p.cedar",
        r#"@id("all-reads") permit (principal, action in Action::"Read", resource);
@id("no-exe") forbid (principal, action == Action::"ReadAttachment", resource)
  when { resource has extension && resource.extension == "exe" };
@id("addin-b-no-mime") forbid (principal, action == Action::"ReadMime", resource)
  when { context.app == App::"b" };"#,
    );
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap();
    let d = engine.authorize(
        &caller(None),
        Action::ReadAttachment,
        &attachment(Some(1), "Setup.EXE."),
        FrontEnd::Ews,
    );
    assert!(!d.allowed);
    assert_eq!(d.policies, vec!["no-exe".to_string()]);
    let msg = Resource::default();
    assert!(
        engine
            .authorize(&caller(Some("a")), Action::ReadMime, &msg, FrontEnd::Ews)
            .allowed
    );
    assert!(
        !engine
            .authorize(&caller(Some("b")), Action::ReadMime, &msg, FrontEnd::Ews)
            .allowed
    );
}

#[test]
fn each_action_is_decided_by_the_policies_whose_scope_names_it() {
    let dir = TempDir::new();
    dir.write(
        "p.cedar",
        r#"@id("writes-and-ids") permit (principal, action in [Action::"Write", Action::"ConvertId"], resource);
@id("reads") permit (principal, action in Action::"Read", resource) when { context.front_end == "rest" };
@id("no-graph") forbid (principal, action, resource) when { context.front_end == "graph" };"#,
    );
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap();
    let msg = Resource::default();
    let ask = |action, front_end| engine.authorize(&caller(None), action, &msg, front_end);
    let write = ask(Action::WriteExtendedProperty, FrontEnd::Ews);
    assert!(
        write.allowed && write.policies == vec!["writes-and-ids".to_string()],
        "{write:?}"
    );
    assert!(ask(Action::ConvertId, FrontEnd::Rest).allowed);
    let body = ask(Action::ReadBody, FrontEnd::Rest);
    assert!(body.allowed && body.policies == vec!["reads".to_string()], "{body:?}");
    let item = ask(Action::ReadItem, FrontEnd::Ews);
    assert!(
        !item.allowed && item.policies.is_empty(),
        "no permit names ReadItem over EWS: {item:?}"
    );
    for action in Action::ALL {
        let d = ask(action, FrontEnd::Graph);
        assert!(
            !d.allowed && d.policies == vec!["no-graph".to_string()],
            "{action:?}: {d:?}"
        );
    }
}

#[test]
fn policies_without_ids_are_named_by_file_and_position() {
    let dir = TempDir::new();
    dir.write("x.cedar", "permit (principal, action == Action::\"ReadBody\", resource);\npermit (principal, action == Action::\"ReadItem\", resource);\n");
    let summary = check(Some(&dir.0)).unwrap();
    assert_eq!(
        summary.policy_ids,
        vec!["x.cedar#1".to_string(), "x.cedar#2".to_string()]
    );
}

#[test]
fn a_directory_without_policies_is_refused() {
    let dir = TempDir::new();
    let problems = check(Some(&dir.0)).unwrap_err();
    assert!(problems[0].message.contains("no *.cedar"), "{problems:?}");
}

#[test]
fn decision_tables_report_mismatches() {
    let dir = TempDir::new();
    dir.write(
        "p.cedar",
        r#"@id("body") permit (principal, action == Action::"ReadBody", resource);"#,
    );
    dir.write(
        "tests/t.toml",
        r#"
[[case]]
name = "body is readable"
action = "ReadBody"
expect = "allow"
policies = ["body"]

[[case]]
name = "wrong expectation"
action = "ReadHeaders"
expect = "allow"

[[case]]
name = "misspelt attribute"
action = "ReadAttachment"
expect = "deny"
resource = { sise = 1 }
"#,
    );
    let problems = run_tables(&dir.0).unwrap_err();
    assert!(
        problems[0].message.contains("sise") && problems[0].line == Some(17),
        "{problems:?}"
    );
    dir.write(
        "tests/t.toml",
        "[[case]]\nname = \"ok\"\naction = \"ReadBody\"\nexpect = \"allow\"\n[[case]]\nname = \"bad\"\naction = \"ReadHeaders\"\nexpect = \"allow\"\n",
    );
    let report = run_tables(&dir.0).unwrap();
    assert_eq!(report.results.len(), 2);
    assert_eq!(report.failures(), 1);
    assert!(
        report.results[1].detail.contains("expected allow, got deny"),
        "{report:?}"
    );
}

#[test]
fn the_shipped_tables_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    let report = run_tables(&dir).unwrap_or_else(|p| panic!("{p:?}"));
    let failed: Vec<_> = report.results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(report.results.len() >= 10);
}

#[test]
fn extensions_and_property_sets_are_normalised() {
    assert_eq!(request::extension("Report.PDF"), "pdf");
    assert_eq!(request::extension("evil.exe. "), "exe");
    assert_eq!(request::extension(".bashrc"), "");
    assert_eq!(request::extension("README"), "");
    assert_eq!(
        request::property_set_name("{00020386-0000-0000-C000-000000000046}"),
        "InternetHeaders"
    );
    assert_eq!(request::property_set_name("publicstrings"), "PublicStrings");
    assert_eq!(
        request::property_set_name("{6ED8DA90-450B-101B-98DA-00AA003F1305}"),
        "6ed8da90-450b-101b-98da-00aa003f1305"
    );
}

#[tokio::test]
async fn sighup_reloads_the_policies() {
    let dir = TempDir::new();
    dir.write(
        "p.cedar",
        r#"@id("body") permit (principal, action == Action::"ReadBody", resource);"#,
    );
    let engine = Arc::new(PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap());
    engine.spawn_sighup_reload();
    dir.write(
        "p.cedar",
        r#"@id("headers") permit (principal, action == Action::"ReadHeaders", resource);"#,
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let c = caller(None);
    for _ in 0..200 {
        if engine
            .authorize(&c, Action::ReadHeaders, &Resource::default(), FrontEnd::Ews)
            .allowed
        {
            assert!(
                !engine
                    .authorize(&c, Action::ReadBody, &Resource::default(), FrontEnd::Ews)
                    .allowed
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("SIGHUP did not reload the policies");
}

#[test]
fn a_cached_context_decides_like_a_fresh_one_across_tenants_and_seconds() {
    let dir = TempDir::new();
    dir.write(
        "p.cedar",
        r#"@id("a-before-1000") permit (principal, action == Action::"ReadItem", resource)
  when { context.tenant == Tenant::"a" && context.time < 1000 && context.app == App::"x"
         && context.front_end == "ews" && context.settings.max_attachment_bytes > 10 };"#,
    );
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap();
    let (wide, narrow) = (
        Settings::default(),
        Settings {
            max_attachment_bytes: 5,
            ..Settings::default()
        },
    );
    let msg = Resource::default();
    let q = |tenant_id, app, front_end, settings, time| Question {
        tenant_id,
        user: "u",
        app,
        action: Action::ReadItem,
        resource: &msg,
        front_end,
        settings,
        time,
    };
    // Each step changes one input from a question whose context is cached by then.
    let steps = [
        (q("a", "x", FrontEnd::Ews, &wide, 999), true),
        (q("b", "x", FrontEnd::Ews, &wide, 999), false),
        (q("a", "x", FrontEnd::Ews, &wide, 999), true),
        (q("a", "x", FrontEnd::Ews, &wide, 1000), false),
        (q("a", "x", FrontEnd::Ews, &wide, 999), true),
        (q("a", "y", FrontEnd::Ews, &wide, 999), false),
        (q("a", "x", FrontEnd::Rest, &wide, 999), false),
        (q("a", "x", FrontEnd::Ews, &narrow, 999), false),
        (q("a", "x", FrontEnd::Ews, &wide, 999), true),
    ];
    let fresh_cache = request::ContextCache::default();
    for (i, (question, allowed)) in steps.iter().enumerate() {
        // Twice: the first may build and remember, the second must come from the cache.
        for _ in 0..2 {
            assert_eq!(
                engine.contexts.context_for(question, true).unwrap(),
                fresh_cache.context_for(question, false).unwrap(),
                "step {i}"
            );
            assert_eq!(engine.decide(question).allowed, *allowed, "step {i}");
        }
        let fresh = request::evaluate(&engine.authorizer, &engine.current.read(), question, false, None).unwrap();
        assert_eq!(fresh.allowed, *allowed, "step {i}");
    }
}

#[test]
fn a_reused_principal_store_follows_the_callers_tenant_and_the_reload() {
    let dir = TempDir::new();
    let only = |tenant: &str| format!(r#"@id("t") permit (principal in Tenant::"{tenant}", action, resource);"#);
    dir.write("p.cedar", &only("a"));
    let engine = PolicyEngine::load(&config_with(serde_json::json!({ "dir": dir.0 }))).unwrap();
    let (settings, msg) = (Settings::default(), Resource::default());
    let allowed = |tenant_id: &str, user: &str| {
        let q = Question {
            tenant_id,
            user,
            app: "",
            action: Action::ReadItem,
            resource: &msg,
            front_end: FrontEnd::Graph,
            settings: &settings,
            time: 0,
        };
        engine.decide(&q).allowed
    };
    for _ in 0..2 {
        assert!(allowed("a", "u"));
        assert!(!allowed("b", "u"));
        assert!(allowed("a", "v"));
    }
    dir.write("p.cedar", &only("b"));
    engine.reload().unwrap();
    assert!(!allowed("a", "u"));
    assert!(allowed("b", "u"));
}
