//! Optional per-user request rate limits, answered in each front end's own form.

use serde_json::{Value, json};

use crate::support::{Options, spawn_app_with};

#[tokio::test]
async fn a_user_over_the_limit_gets_429_with_retry_after_and_others_do_not() {
    let app = spawn_app_with(Options {
        overrides: json!({ "limits": { "per_user_per_minute": 2 } }),
        ..Options::default()
    })
    .await;
    let (alice, bob) = (app.alice().to_string(), app.bob().to_string());
    let alice_token = app.token_for(&alice).await;
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(
            app.get_message(&alice_token, &id, "?$select=subject").await.status(),
            200
        );
    }
    let res = app.get(&alice_token, &format!("/api/v2.0/me/messages/{id}")).await;
    assert_eq!(res.status(), 429);
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["code"].is_string(),
        "error in the front end's shape: {body}"
    );

    let bob_token = app.token_for(&bob).await;
    let bob_id = app.first_message(&bob)["rest_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get_message(&bob_token, &bob_id, "?$select=subject").await.status(),
        200
    );
}

#[tokio::test]
async fn ews_callers_over_the_limit_get_server_busy_with_a_back_off() {
    let app = spawn_app_with(Options {
        overrides: json!({ "limits": { "per_user_per_minute": 1 } }),
        ..Options::default()
    })
    .await;
    let token = app.token_for(app.alice()).await;
    let get_folder = crate::ews::envelope(
        r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#,
    );
    let (status, first) = crate::ews::post(&app, &token, &get_folder).await;
    assert_eq!(status, 200, "{first}");
    let (status, busy) = crate::ews::post(&app, &token, &get_folder).await;
    assert_eq!(status, 500, "{busy}");
    assert!(busy.contains("ErrorServerBusy"), "{busy}");
    assert!(busy.contains(r#"<t:Value Name="BackOffMilliseconds">"#), "{busy}");
    crate::ews::validate(&busy);
}
