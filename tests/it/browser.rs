//! Calls straight from the browser: CORS preflight and headers, global and per-tenant origins,
//! and headless Chromium running an add-in page that reads a message with `fetch`.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};

use crate::support::{Options, TempDir, TestApp, spawn_app_with};

const OTHER_TENANT: &str = "00000000-0000-4000-8000-0000000000aa";

/// A page server on `127.0.0.1:0` serving `page` at `/`; returns its origin.
async fn serve_page(page: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (origin, task)
}

/// A free loopback origin (the listener is bound so the port stays ours).
async fn reserve_origin() -> (String, tokio::net::TcpListener) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (format!("http://{}", listener.local_addr().unwrap()), listener)
}

async fn app_with_cors(cors: Value) -> TestApp {
    spawn_app_with(Options {
        overrides: json!({ "cors": cors }),
        ..Options::default()
    })
    .await
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, format!("{}/api/v2.0/me/messages/x", app.url))
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,prefer,content-type,client-request-id",
        )
        .send()
        .await
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let tid = naa_sim::seed::SeedTenant::contoso().tenant_id;
    let app = app_with_cors(json!({
        "allowed_origins": ["https://addin.contoso.com"],
        "tenants": { tid: { "allowed_origins": ["https://tenant.contoso.com"] },
                     OTHER_TENANT: { "allowed_origins": ["https://other.fabrikam.com"] } },
    }))
    .await;
    for origin in [
        "https://addin.contoso.com",
        "https://tenant.contoso.com",
        "https://other.fabrikam.com",
    ] {
        let res = preflight(&app, origin).await;
        assert!(res.status().is_success(), "{origin}");
        assert_eq!(header(&res, "access-control-allow-origin"), origin);
        let methods = header(&res, "access-control-allow-methods");
        for m in ["get", "patch", "options"] {
            assert!(methods.contains(m), "{methods}");
        }
        let headers = header(&res, "access-control-allow-headers");
        for h in ["authorization", "prefer", "content-type", "client-request-id"] {
            assert!(headers.contains(h), "{headers}");
        }
    }
    let res = preflight(&app, "https://evil.example").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // Actual requests: the origin must be allowed for the caller's tenant.
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
    let get = |origin: &'static str| {
        app.http
            .get(format!("{}/api/v2.0/me/messages/{id}?$select=Subject", app.url))
            .bearer_auth(&token)
            .header("origin", origin)
            .send()
    };
    for origin in ["https://addin.contoso.com", "https://tenant.contoso.com"] {
        let res = get(origin).await.unwrap();
        assert_eq!(res.status(), 200, "{origin}");
        assert_eq!(header(&res, "access-control-allow-origin"), origin);
        let exposed = header(&res, "access-control-expose-headers");
        for h in [
            "request-id",
            "www-authenticate",
            "client-request-id",
            "preference-applied",
        ] {
            assert!(exposed.contains(h), "{exposed}");
        }
    }
    // Allowed for another tenant only: no CORS headers, and refused outright.
    let res = get("https://other.fabrikam.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");
    let res = get("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.status(), 403);

    // The claims challenge is readable: a 401 to an allowed origin carries CORS headers.
    let res = app
        .http
        .get(format!("{}/api/v2.0/me/messages/{id}", app.url))
        .header("origin", "https://addin.contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "access-control-allow-origin"), "https://addin.contoso.com");
}

#[tokio::test]
async fn without_configured_origins_no_browser_gets_cors_headers() {
    let app = app_with_cors(json!({})).await;
    let res = preflight(&app, "https://addin.contoso.com").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

/// Runs headless Chromium on `url` and returns the DOM after the page's script ran.
async fn chromium_dom(url: &str) -> String {
    let profile = TempDir(std::env::temp_dir().join(format!("naa-chromium-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&profile.0).unwrap();
    let mut command = tokio::process::Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().expect("chromium starts (apt-get install -y chromium)");
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("chromium finished within 90 s")
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn chromium() -> String {
    std::env::var("NAA_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// The JSON the page wrote after `RESULT `, or the page's text when it did not.
fn page_result(dom: &str) -> Result<Value, String> {
    let start = dom.find("RESULT ").ok_or_else(|| dom.to_owned())?;
    let rest = &dom[start + "RESULT ".len()..];
    let end = rest.find("</pre>").ok_or_else(|| dom.to_owned())?;
    let text = rest[..end].replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_pane_page_reads_a_message_from_an_allowed_origin_only() {
    let (allowed, reserved) = reserve_origin().await;
    let tid = naa_sim::seed::SeedTenant::contoso().tenant_id;
    let app = app_with_cors(json!({ "tenants": { tid.clone(): { "allowed_origins": [allowed.clone()] } } })).await;
    assert_eq!(app.seed().tenant_id, tid);
    let alice = app.alice().to_string();
    let token = app.token_for(&alice).await;
    let seeded = app.first_message(&alice);
    let page = include_str!("../clients/browser_page.html")
        .replace("{{GATEWAY}}", &app.url)
        .replace("{{TOKEN}}", &token)
        .replace("{{MESSAGE}}", seeded["rest_id"].as_str().unwrap());

    // Serve the page on the reserved (allowed) origin.
    let router = {
        let page = page.clone();
        axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let page = page.clone();
                async move { axum::response::Html(page) }
            }),
        )
    };
    let server = tokio::spawn(async move {
        let _ = axum::serve(reserved, router).await;
    });
    let dom = chromium_dom(&format!("{allowed}/")).await;
    server.abort();
    let result = page_result(&dom).unwrap_or_else(|dom| panic!("the page did not read the message: {dom}"));
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["subject"], seeded["subject"]);
    assert_eq!(result["contentType"], "Text");
    assert!(result["bodyLength"].as_u64().unwrap() > 20);
    assert_eq!(
        result["requestId"], "b0b0b0b0-0000-4000-8000-000000000001",
        "request-id is exposed"
    );
    assert!(result["preferenceApplied"].as_str().is_some_and(|p| p.contains("text")));

    // The same page from an origin nobody allowed: the browser blocks the call.
    let (other, task) = serve_page(page).await;
    let dom = chromium_dom(&format!("{other}/")).await;
    task.abort();
    assert!(page_result(&dom).is_err(), "a disallowed origin read the answer: {dom}");
    assert!(dom.contains("BLOCKED"), "{dom}");
}
