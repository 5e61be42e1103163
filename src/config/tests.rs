use std::io::Write;

use super::*;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "6e0b7a4c-3f1d-4b8e-9a2c-5d7f1e3b9c04";

fn write_config(text: &str) -> tempfile_path::TempPath {
    tempfile_path::TempPath::with_contents(text)
}

/// A tiny self-deleting temp file, so tests need no extra crate.
mod tempfile_path {
    pub(super) struct TempPath(pub(super) std::path::PathBuf);
    impl TempPath {
        pub(super) fn with_contents(text: &str) -> TempPath {
            let path = std::env::temp_dir().join(format!("naa-gateway-test-{}.toml", uuid::Uuid::new_v4()));
            std::fs::write(&path, text).unwrap();
            TempPath(path)
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn valid_toml() -> String {
    format!(
        r#"
[entra]
client_id = "{CLIENT}"
allowed_tenants = ["{TENANT}"]
[entra.credential]
kind = "secret"
secret = {{ value = "s3cr3t-value" }}
"#
    )
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn a_complete_file_loads_with_defaults_filled_in() {
    let file = write_config(&valid_toml());
    let c = Config::load_with_env(Some(&file.0), no_env()).unwrap();
    assert_eq!(c.entra.client_id, CLIENT);
    assert_eq!(c.entra.clock_skew_secs, 120);
    assert_eq!(c.entra.required_scope, "access_as_user");
    assert_eq!(c.obo.scopes, vec!["https://graph.microsoft.com/Mail.ReadWrite"]);
    assert_eq!(c.graph.max_concurrency_per_mailbox, 4);
    assert_eq!(c.accepted_audiences(), vec![CLIENT.to_string()]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let file = write_config(
        r#"
[entra]
client_id = "not-a-guid"
allowed_tenants = ["contoso.com"]
clock_skew_secs = 900
[graph]
base_url = "ftp://graph"
max_concurrency_per_mailbox = 9
"#,
    );
    let err = Config::load_with_env(Some(&file.0), no_env()).unwrap_err();
    let all = err.problems.join("\n");
    for needle in [
        "entra.client_id",
        "contoso.com",
        "clock_skew_secs 900",
        "entra.credential is required",
        "graph.base_url",
        "max_concurrency_per_mailbox 9",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert!(err.problems.len() >= 6, "{all}");
}

#[test]
fn a_missing_file_is_an_error_not_a_default() {
    let err = Config::load_with_env(Some(std::path::Path::new("/nonexistent/naa.toml")), no_env()).unwrap_err();
    assert!(err.problems[0].contains("does not exist"));
}

#[test]
fn environment_overrides_file_values_with_double_underscore_nesting() {
    let file = write_config(&valid_toml());
    let env = vec![
        ("NAA__ENTRA__CLOCK_SKEW_SECS".to_string(), "30".to_string()),
        ("NAA__ENTRA__AUDIENCES".to_string(), format!("[\"api://{CLIENT}\"]")),
        (
            "NAA__GRAPH__BASE_URL".to_string(),
            "http://127.0.0.1:9/v1.0".to_string(),
        ),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let c = Config::load_with_env(Some(&file.0), env).unwrap();
    assert_eq!(c.entra.clock_skew_secs, 30);
    assert_eq!(c.graph.base_url, "http://127.0.0.1:9/v1.0");
    assert_eq!(
        c.accepted_audiences(),
        vec![CLIENT.to_string(), format!("api://{CLIENT}")]
    );
}

#[test]
fn environment_alone_can_configure_the_gateway() {
    let env = vec![
        ("NAA__ENTRA__CLIENT_ID".to_string(), CLIENT.to_string()),
        ("NAA__ENTRA__ALLOWED_TENANTS".to_string(), "[\"*\"]".to_string()),
        ("NAA__ENTRA__CREDENTIAL__KIND".to_string(), "secret".to_string()),
        ("NAA__ENTRA__CREDENTIAL__SECRET__VALUE".to_string(), "abc".to_string()),
    ];
    let c = Config::load_with_env(None, env).unwrap();
    assert_eq!(c.entra.allowed_tenants, vec!["*"]);
}

#[test]
fn secrets_load_from_a_file_and_never_show_in_debug() {
    let mut secret_file = std::fs::File::create(std::env::temp_dir().join("naa-secret-test")).unwrap();
    writeln!(secret_file, "from-file-secret").unwrap();
    let path = std::env::temp_dir().join("naa-secret-test");
    let file = write_config(&valid_toml().replace(
        "secret = { value = \"s3cr3t-value\" }",
        &format!("secret = {{ file = {:?} }}", path.display().to_string()),
    ));
    let c = Config::load_with_env(Some(&file.0), no_env()).unwrap();
    let resolved = c.resolve_credential().unwrap();
    match &resolved.kind {
        ResolvedCredentialKind::Secret(s) => {
            use secrecy::ExposeSecret;
            assert_eq!(s.expose_secret(), "from-file-secret");
        }
        _ => panic!("expected a secret"),
    }
    assert!(!format!("{resolved:?}").contains("from-file-secret"));
    let inline = Config::load_with_env(Some(&write_config(&valid_toml()).0), no_env()).unwrap();
    assert!(!format!("{inline:?}").contains("s3cr3t-value"));
}

#[test]
fn a_secret_from_an_unset_variable_is_named_in_the_error() {
    let file = write_config(&valid_toml().replace(
        "{ value = \"s3cr3t-value\" }",
        "{ env = \"NAA_TEST_SURELY_UNSET_VARIABLE\" }",
    ));
    let err = Config::load_with_env(Some(&file.0), no_env()).unwrap_err();
    assert!(
        err.problems
            .iter()
            .any(|p| p.contains("NAA_TEST_SURELY_UNSET_VARIABLE")),
        "{err}"
    );
}

#[test]
fn a_certificate_credential_needs_a_real_certificate_and_key() {
    let file = write_config(&valid_toml().replace(
        "kind = \"secret\"\nsecret = { value = \"s3cr3t-value\" }",
        "kind = \"certificate\"\ncertificate_file = \"/nonexistent/cert.pem\"\nprivate_key = { value = \"not a key\" }",
    ));
    let err = Config::load_with_env(Some(&file.0), no_env()).unwrap_err();
    let all = err.problems.join("\n");
    assert!(all.contains("certificate_file"), "{all}");
    assert!(all.contains("not an RSA private key"), "{all}");
}

#[test]
fn unknown_keys_are_rejected() {
    let file = write_config(&format!("{}\n[graph]\nbase_ulr = \"x\"\n", valid_toml()));
    let err = Config::load_with_env(Some(&file.0), no_env()).unwrap_err();
    assert!(err.problems.join("\n").contains("base_ulr"), "{err}");
}

#[test]
fn the_example_configuration_is_valid() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("naa-gateway.example.toml");
    let env = vec![(
        "NAA__ENTRA__CREDENTIAL__SECRET__VALUE".to_string(),
        "from-env".to_string(),
    )];
    let text = std::fs::read_to_string(&example)
        .unwrap()
        .replace("{ env = \"NAA_CLIENT_SECRET\" }", "{ value = \"x\" }");
    let file = write_config(&text);
    let c = Config::load_with_env(Some(&file.0), env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.entra.allowed_tenants.len(), 1);
}
