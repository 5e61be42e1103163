//! Policies decide what the front ends may do, and a reload swaps them without a restart.

use serde_json::json;

use crate::support::{Options, spawn_app_with};

const READ_ONLY: &str = r#"
@id("items-and-bodies") permit (principal, action in [Action::"ReadItem", Action::"ReadBody"], resource);
"#;

const WITH_ATTACHMENTS: &str = r#"
@id("items-and-bodies") permit (principal, action in [Action::"ReadItem", Action::"ReadBody"], resource);
@id("attachments") permit (principal, action == Action::"ReadAttachment", resource);
"#;

#[tokio::test]
async fn a_policy_directory_decides_and_a_reload_swaps_it_unless_it_is_invalid() {
    let dir = std::env::temp_dir().join(format!("naa-it-policies-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.cedar"), READ_ONLY).unwrap();
    let app = spawn_app_with(Options {
        overrides: json!({ "policy": { "dir": dir } }),
        ..Options::default()
    })
    .await;
    assert!(!app.state.policy.may_write(), "no policy permits a write");
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let (msg, att) = app.message_with_file(&alice);
    let att = att["rest_id"].as_str().unwrap().to_string();
    assert_eq!(app.get_message(&token, &msg, "?$select=subject").await.status(), 200);
    assert_eq!(app.get_attachment_value(&token, &msg, &att).await.status(), 403);

    std::fs::write(dir.join("p.cedar"), WITH_ATTACHMENTS).unwrap();
    app.state.policy.reload().unwrap();
    assert_eq!(app.get_attachment_value(&token, &msg, &att).await.status(), 200);

    std::fs::write(
        dir.join("p.cedar"),
        "permit (principal, action == Action::\"ReadAttachmnt\", resource);",
    )
    .unwrap();
    let problems = app.state.policy.reload().unwrap_err();
    assert!(problems[0].contains("p.cedar:1:"), "{problems:?}");
    assert_eq!(
        app.get_attachment_value(&token, &msg, &att).await.status(),
        200,
        "the refused set did not replace the good one"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
