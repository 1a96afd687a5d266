//! `/api/secrets`: value shown once, encrypted at rest, grants, and the master key check.

use crate::support::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

const VALUE: &str = "ghp_e2eSECRETvalue_7f3a9c";

fn file_contains(path: &std::path::Path, needle: &str) -> bool {
    let raw = std::fs::read(path).unwrap_or_default();
    raw.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn value_is_returned_only_by_create_and_never_stored_or_logged_in_plaintext() {
    let app = App::spawn().await;
    // WHEN a secret is created
    let (s, v) = app
        .post(
            "/api/secrets",
            json!({"name": "GITHUB_TOKEN", "value": VALUE, "description": "CI token"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let sec = &v["secret"];
    assert_eq!(sec["value"], VALUE);
    assert_eq!(sec["isGlobal"], false);
    assert_eq!(sec["description"], "CI token");
    let id = sec["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sec_"));
    // THEN no other response shows the value
    let (_, got) = app.get(&format!("/api/secrets/{id}")).await;
    assert!(got["secret"].get("value").is_none(), "{got}");
    assert_eq!(got["secret"]["grants"], json!([]));
    assert!(got["secret"]["updatedAt"].is_string());
    let (_, list) = app.get("/api/secrets").await;
    assert!(!list.to_string().contains(VALUE));
    assert_eq!(list["secrets"][0]["name"], "GITHUB_TOKEN");
    // Rotation returns metadata only
    let (s, rot) = app
        .put(
            &format!("/api/secrets/{id}"),
            json!({"value": "rotated_VALUE_123"}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(rot["secret"].get("value").is_none());
    // AND neither value is in the database files or the server log
    for f in ["operator.db", "operator.db-wal", "server.log"] {
        let p = app.data_dir.join(f);
        assert!(!file_contains(&p, VALUE), "{f} holds the plaintext");
        assert!(
            !file_contains(&p, "rotated_VALUE_123"),
            "{f} holds the plaintext"
        );
    }
    // The master key file is private
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.data_dir.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn names_values_and_updates_are_validated() {
    let app = App::spawn().await;
    for (body, field) in [
        (json!({"name": "lower", "value": "x"}), "name"),
        (json!({"name": "1ABC", "value": "x"}), "name"),
        (json!({"name": "OK"}), "value"),
        (json!({"name": "OK", "value": ""}), "value"),
        (json!({"value": "x"}), "name"),
    ] {
        let got = app.post("/api/secrets", body.clone()).await;
        assert_error(&got, 400, "invalid_request");
        assert!(
            got.1["error"]["details"].get(field).is_some(),
            "{body}: {}",
            got.1
        );
    }
    let (s, v) = app
        .post("/api/secrets", json!({"name": "DUP", "value": "x"}))
        .await;
    assert_eq!(s, 201);
    let got = app
        .post("/api/secrets", json!({"name": "DUP", "value": "y"}))
        .await;
    assert_error(&got, 409, "conflict");
    let id = v["secret"]["id"].as_str().unwrap();
    let (s, v) = app
        .put(
            &format!("/api/secrets/{id}"),
            json!({"isGlobal": true, "description": "d"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["secret"]["isGlobal"], true);
    assert_eq!(v["secret"]["description"], "d");
    let got = app
        .put(&format!("/api/secrets/{id}"), json!({"value": ""}))
        .await;
    assert_error(&got, 400, "invalid_request");
    let (s, _) = app.delete(&format!("/api/secrets/{id}")).await;
    assert_eq!(s, 200);
    let got = app.get(&format!("/api/secrets/{id}")).await;
    assert_error(&got, 404, "not_found");
    let got = app.delete(&format!("/api/secrets/{id}")).await;
    assert_error(&got, 404, "not_found");
}

#[tokio::test]
async fn grants_name_instances_of_the_account() {
    let app = App::spawn().await;
    let (_, i) = app.post("/api/instances", json!({"name": "w"})).await;
    let inst = i["instance"]["id"].as_str().unwrap().to_owned();
    let (_, s) = app
        .post("/api/secrets", json!({"name": "K", "value": "v"}))
        .await;
    let sec = s["secret"]["id"].as_str().unwrap().to_owned();

    let (st, v) = app
        .post(
            &format!("/api/secrets/{sec}/grants"),
            json!({"instanceId": inst}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["secret"]["grants"], json!([inst]));
    // granting twice is harmless
    let (st, v) = app
        .post(
            &format!("/api/secrets/{sec}/grants"),
            json!({"instanceId": inst}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["secret"]["grants"].as_array().unwrap().len(), 1);
    let got = app
        .post(
            &format!("/api/secrets/{sec}/grants"),
            json!({"instanceId": "inst_nope"}),
        )
        .await;
    assert_error(&got, 404, "not_found");
    let got = app
        .post(&format!("/api/secrets/{sec}/grants"), json!({}))
        .await;
    assert_error(&got, 400, "invalid_request");

    let (st, v) = app
        .delete(&format!("/api/secrets/{sec}/grants/{inst}"))
        .await;
    assert_eq!((st.as_u16(), v), (200, json!({"ok": true})));
    let (_, v) = app.get(&format!("/api/secrets/{sec}")).await;
    assert_eq!(v["secret"]["grants"], json!([]));
    let got = app
        .delete(&format!("/api/secrets/{sec}/grants/{inst}"))
        .await;
    assert_error(&got, 404, "not_found");
}

#[tokio::test]
async fn a_wrong_master_key_fails_at_start_with_a_clear_error() {
    // GIVEN a data dir whose secrets were written with its own master key
    let dir = tempfile::tempdir().unwrap();
    {
        let app = App::spawn_with(Options {
            data_dir: Some(dir.path()),
            ..Options::default()
        })
        .await;
        let (s, _) = app
            .post("/api/secrets", json!({"name": "K", "value": VALUE}))
            .await;
        assert_eq!(s, 201);
    }
    // WHEN the server starts with a different key
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "OPERATOR_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("server started with the wrong master key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // THEN it refuses to start, saying why, and shows nothing of the secret
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("master key does not match"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains(VALUE));
    // AND a malformed key is refused too
    let out = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("OPERATOR_MASTER_KEY", "not-base64!")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OPERATOR_MASTER_KEY"));
}
