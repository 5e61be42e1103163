//! The binary's subcommands as a user runs them.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_naa-gateway");

#[test]
fn ids_inspect_decodes_microsofts_example_attachment_id() {
    let id = "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAABEgAQAFmnqat27N5JqLjo/76gzxY=";
    let out = Command::new(BIN).args(["ids", "inspect", id]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "ews");
    assert_eq!(v["kind"], "attachment");
    assert_eq!(v["mailbox"], "11e2525f-d831-40ca-a1a0-630224d91ac7");
    assert_eq!(
        v["item_ews_id"],
        "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0+EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd+SpczAAJQbUulAAA="
    );
    assert_eq!(
        v["item_rest_id"],
        "AAMkADExZTI1MjVmLWQ4MzEtNDBjYS1hMWEwLTYzMDIyNGQ5MWFjNwBGAAAAAAAsm1xVH2inSpA0JbGZEhm1BwBb0_EYLBFiQqC1D2X3n3odAAAA1zbaAABUGpQQZwqURZb0pqd_SpczAAJQbUulAAA="
    );
    assert_eq!(v["attachment_levels"], 1);

    let bad = Command::new(BIN).args(["ids", "inspect", "AAMk!!"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid id"));
}

#[test]
fn check_lists_every_problem_and_exits_64() {
    let path = std::env::temp_dir().join(format!("naa-check-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, "[entra]\nclient_id = \"nope\"\nclock_skew_secs = 999\n").unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "entra.client_id",
        "clock_skew_secs",
        "allowed_tenants",
        "entra.credential",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
}

/// The README's first command: the sandbox prints one JSON line and serves the guide's requests.
#[tokio::test]
async fn the_sandbox_serves_a_seeded_attachment_with_no_configuration() {
    let mut child = Command::new(BIN)
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(60), line)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    for key in [
        "gateway",
        "ews_url",
        "entra",
        "graph",
        "tenant_id",
        "client_id",
        "scope",
        "users",
    ] {
        assert!(ready.get(key).is_some(), "{key} missing: {ready}");
    }
    naa_gateway::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let user = ready["users"][0].as_str().unwrap();
    let token: Value = http
        .post(format!("{}/sandbox/token", ready["entra"].as_str().unwrap()))
        .json(&json!({ "user": user }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages: Vec<Value> = http
        .get(format!(
            "{}/sandbox/mailboxes/{user}/messages",
            ready["graph"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (msg, att) = messages
        .iter()
        .find_map(|m| Some((m, m["attachments"].as_array()?.iter().find(|a| a["kind"] == "file")?)))
        .unwrap();
    let res = http
        .get(format!(
            "{}/v1.0/me/messages/{}/attachments/{}/$value",
            ready["gateway"].as_str().unwrap(),
            msg["rest_id"].as_str().unwrap(),
            att["rest_id"].as_str().unwrap()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let len = res.bytes().await.unwrap().len() as u64;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert_eq!(len, att["size"].as_u64().unwrap());
}
