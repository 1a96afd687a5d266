//! `/api/instances`: records, validation, capacity, lifecycle transitions.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn create_get_list_shapes_match_the_contract() {
    let app = App::spawn().await;
    let (s, v) = app
        .post(
            "/api/instances",
            json!({"name": "weather-desk", "kind": "blank", "env": {"REGION": "eu"}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let inst = &v["instance"];
    for f in [
        "id",
        "name",
        "kind",
        "status",
        "imageTag",
        "avatarUrl",
        "fqdn",
        "createdAt",
        "updatedAt",
    ] {
        assert!(inst.get(f).is_some(), "{f} missing: {inst}");
    }
    let id = inst["id"].as_str().unwrap();
    assert!(id.starts_with("inst_"));
    assert_eq!(inst["name"], "weather-desk");
    assert_eq!(inst["kind"], "blank");
    assert_eq!(inst["status"], "provisioning");
    assert_eq!(inst["env"], json!({"REGION": "eu"}));
    assert!(inst["createdAt"].as_str().unwrap().ends_with('Z'));

    let (s, by_id) = app.get(&format!("/api/instances/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(by_id["instance"], *inst);
    let (s, by_name) = app.get("/api/instances/weather-desk").await;
    assert_eq!(s, 200);
    assert_eq!(by_name["instance"]["id"], id);

    let (s, list) = app.get("/api/instances").await;
    assert_eq!(s, 200);
    assert_eq!(sorted_keys(&list), ["instances", "nextCursor"]);
    assert_eq!(list["instances"][0]["id"], id);
    assert!(list["nextCursor"].is_null());

    // default kind
    let (_, v) = app.post("/api/instances", json!({"name": "second"})).await;
    assert_eq!(v["instance"]["kind"], "prebuilt");
}

#[tokio::test]
async fn invalid_bodies_are_400_with_field_details_415_and_413() {
    let app = App::spawn().await;
    for (body, field) in [
        (json!({"name": "Bad Name"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "a".repeat(64)}), "name"),
        (json!({}), "name"),
        (json!({"name": 12}), "name"),
        (json!({"name": "ok", "kind": "huge"}), "kind"),
        (json!({"name": "ok", "env": {"lower": "x"}}), "env.lower"),
        (json!({"name": "ok", "env": {"A": 1}}), "env.A"),
        (json!({"name": "ok", "env": {"PATH": "/x"}}), "env.PATH"),
        (json!({"name": "ok", "env": {"HOME": "/"}}), "env.HOME"),
        (
            json!({"name": "ok", "env": {"LD_PRELOAD": "/x.so"}}),
            "env.LD_PRELOAD",
        ),
        (
            json!({"name": "ok", "env": {"OPERATOR_INSTANCE_TOKEN": "x"}}),
            "env.OPERATOR_INSTANCE_TOKEN",
        ),
        (json!({"name": "ok", "env": {"NUL": "a\0b"}}), "env.NUL"),
        (json!({"name": "ok", "env": {"A\0B": "x"}}), "env"),
        (
            json!({"name": "ok", "checkpointRepo": "/etc"}),
            "checkpointRepo",
        ),
    ] {
        let got = app.post("/api/instances", body.clone()).await;
        assert_error(&got, 400, "invalid_request");
        assert!(
            got.1["error"]["details"].get(field).is_some(),
            "{body} → {}",
            got.1
        );
    }
    // not JSON at all
    let got = send(
        app.request(Method::POST, "/api/instances", Some(&app.key))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_error(&got, 400, "invalid_request");
    // wrong content type
    let got = send(
        app.request(Method::POST, "/api/instances", Some(&app.key))
            .header("content-type", "text/plain")
            .body(r#"{"name":"x"}"#),
    )
    .await;
    assert_error(&got, 415, "unsupported_media_type");
    // oversized body
    let big = json!({"name": "x", "env": {"BIG": "x".repeat(2 * 1024 * 1024)}});
    let got = app.post("/api/instances", big).await;
    assert_error(&got, 413, "payload_too_large");
    // nothing was created by any of these
    let (_, list) = app.get("/api/instances").await;
    assert_eq!(list["instances"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn names_are_unique_among_live_instances() {
    let app = App::spawn().await;
    let (s, first) = app.post("/api/instances", json!({"name": "dup"})).await;
    assert_eq!(s, 201);
    let got = app.post("/api/instances", json!({"name": "dup"})).await;
    assert_error(&got, 409, "conflict");
    // Deleting frees the name
    let id = first["instance"]["id"].as_str().unwrap();
    let (s, _) = app.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(s, 200);
    let (s, v) = app.post("/api/instances", json!({"name": "dup"})).await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test]
async fn plan_capacity_is_enforced_with_402() {
    let app = App::spawn().await;
    let (_, basic) = app.create_account("basic");
    let (s, v) = app
        .call_as(
            &basic,
            Method::POST,
            "/api/instances",
            Some(json!({"name": "one"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let got = app
        .call_as(
            &basic,
            Method::POST,
            "/api/instances",
            Some(json!({"name": "two"})),
        )
        .await;
    assert_error(&got, 402, "capacity_exceeded");
    // clone needs a slot too
    let got = app
        .call_as(
            &basic,
            Method::POST,
            "/api/instances/one/clone",
            Some(json!({"name": "copy"})),
        )
        .await;
    assert_error(&got, 402, "capacity_exceeded");
    let (_, billing) = app.call_as(&basic, Method::GET, "/api/billing", None).await;
    assert_eq!(billing["capacity"], json!({"used": 1, "limit": 1}));
    // deleting frees the slot
    let (s, _) = app
        .call_as(&basic, Method::DELETE, "/api/instances/one", None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call_as(
            &basic,
            Method::POST,
            "/api/instances",
            Some(json!({"name": "two"})),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn update_renames_and_sets_env_and_config() {
    let app = App::spawn().await;
    app.post("/api/instances", json!({"name": "a"})).await;
    app.post("/api/instances", json!({"name": "b"})).await;
    let (s, v) = app
        .put(
            "/api/instances/a",
            json!({"name": "a2", "env": {"X": "1"}, "config": {"model": "small"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["instance"]["name"], "a2");
    assert_eq!(v["instance"]["env"], json!({"X": "1"}));
    assert_eq!(v["instance"]["config"], json!({"model": "small"}));
    assert_ne!(v["instance"]["updatedAt"], v["instance"]["createdAt"]);
    let got = app.put("/api/instances/a2", json!({"name": "b"})).await;
    assert_error(&got, 409, "conflict");
    let got = app
        .put("/api/instances/a2", json!({"config": [1, 2]}))
        .await;
    assert_error(&got, 400, "invalid_request");
    let got = app.put("/api/instances/nope", json!({"name": "c"})).await;
    assert_error(&got, 404, "not_found");
}

#[tokio::test]
async fn lifecycle_restart_clone_delete() {
    let app = App::spawn().await;
    let (_, v) = app
        .post("/api/instances", json!({"name": "src", "env": {"K": "v"}}))
        .await;
    let id = v["instance"]["id"].as_str().unwrap().to_owned();
    app.wait_status(&app.key, &id, "active").await;
    // Restart: 202, restarting, then active again
    let (s, v) = send(app.request(
        Method::POST,
        &format!("/api/instances/{id}/restart"),
        Some(&app.key),
    ))
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["instance"]["status"], "restarting");
    app.wait_status(&app.key, &id, "active").await;
    // Clone: a new instance with the source's kind and env
    let (s, c) = app
        .post(
            &format!("/api/instances/{id}/clone"),
            json!({"name": "copy"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_ne!(c["instance"]["id"], id.as_str());
    assert_eq!(c["instance"]["name"], "copy");
    assert_eq!(c["instance"]["env"], json!({"K": "v"}));
    assert_eq!(c["instance"]["status"], "provisioning");
    let got = app
        .post(
            &format!("/api/instances/{id}/clone"),
            json!({"name": "copy"}),
        )
        .await;
    assert_error(&got, 409, "conflict");
    let got = app
        .post(&format!("/api/instances/{id}/clone"), json!({}))
        .await;
    assert_error(&got, 400, "invalid_request");

    // Delete: ok, then visible by id as inactive, gone from the list and by name
    let (s, v) = app.delete(&format!("/api/instances/{id}")).await;
    assert_eq!((s.as_u16(), v), (200, json!({"ok": true})));
    let (s, v) = app.get(&format!("/api/instances/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["instance"]["status"], "inactive");
    assert!(v["instance"]["deletedAt"].is_string());
    let got = app.get("/api/instances/src").await;
    assert_error(&got, 404, "not_found");
    let (_, list) = app.get("/api/instances").await;
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);
    let (_, all) = app.get("/api/instances?includeDeleted=true").await;
    assert_eq!(all["instances"].as_array().unwrap().len(), 2);
    // A deleted instance cannot be changed
    let got = app
        .put(&format!("/api/instances/{id}"), json!({"name": "zzz"}))
        .await;
    assert_error(&got, 409, "conflict");
    let got = send(app.request(
        Method::POST,
        &format!("/api/instances/{id}/restart"),
        Some(&app.key),
    ))
    .await;
    assert_error(&got, 409, "conflict");
    // Deleting again is harmless; unknown ids are 404
    let (s, _) = app.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(s, 200);
    let got = app.delete("/api/instances/inst_doesnotexist").await;
    assert_error(&got, 404, "not_found");
}

#[tokio::test]
async fn env_that_would_break_the_runtime_is_refused_on_update_too() {
    // GIVEN an instance
    let app = App::spawn().await;
    let (s, v) = app.post("/api/instances", json!({"name": "envy"})).await;
    assert_eq!(s, 201, "{v}");
    let id = v["instance"]["id"].as_str().unwrap();
    // WHEN its env is replaced by one naming PATH, holding NUL, or too large in all
    let many: serde_json::Map<String, Value> = (0..9)
        .map(|i| (format!("V{i}"), json!("x".repeat(32 * 1024))))
        .collect();
    for (env, field) in [
        (json!({"PATH": "/x"}), "env.PATH"),
        (json!({"LD_LIBRARY_PATH": "/x"}), "env.LD_LIBRARY_PATH"),
        (json!({"OK": "a\0b"}), "env.OK"),
        (Value::Object(many), "env"),
    ] {
        let got = app
            .put(&format!("/api/instances/{id}"), json!({"env": env}))
            .await;
        // THEN 400 names the field and the record keeps its old env
        assert_error(&got, 400, "invalid_request");
        assert!(got.1["error"]["details"].get(field).is_some(), "{}", got.1);
    }
    let (_, v) = app.get(&format!("/api/instances/{id}")).await;
    assert_eq!(v["instance"]["env"], json!({}));
}

#[tokio::test]
async fn an_oversized_command_is_413_and_the_instance_keeps_serving() {
    // GIVEN an active instance
    let app = App::spawn().await;
    let id = app.active_instance("big-command").await;
    // WHEN a command larger than one execve argument may be is sent
    let big = format!("echo {}", "x".repeat(130 * 1024));
    let got = app
        .post(
            &format!("/api/instances/{id}/exec"),
            json!({"command": big}),
        )
        .await;
    // THEN it is the caller's fault: 413 payload_too_large, not a 5xx
    assert_error(&got, 413, "payload_too_large");
    // AND a command just under the limit runs
    let ok = format!("echo {} | wc -c", "y".repeat(99 * 1024));
    let (s, v) = app
        .post(&format!("/api/instances/{id}/exec"), json!({"command": ok}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["stdout"].as_str().unwrap().trim(),
        (99 * 1024 + 1).to_string()
    );
}
