//! `/api/instances`: create, read by id or name, update, delete, capacity, and the relay
//! routes (files, exec, messages, activity, browser), which need an active instance.

use crate::harness::*;
use axum::body::Body;
use axum::http::Method;
use operator_core::domain::PlanSlug;
use serde_json::json;

#[tokio::test]
async fn an_instance_is_created_provisioning_and_found_by_id_or_name() {
    let api = Api::start().await;
    // WHEN an instance is created
    let v = api
        .post(
            "/api/instances",
            json!({"name": "weather-desk", "kind": "blank"}),
        )
        .await
        .ok(201);
    // THEN it has API.md's fields and starts provisioning
    let inst = &v["instance"];
    assert_id(&inst["id"], "inst_");
    assert_eq!(inst["name"], "weather-desk");
    assert_eq!(inst["kind"], "blank");
    assert_eq!(inst["status"], "provisioning");
    for field in ["imageTag", "avatarUrl", "fqdn"] {
        assert!(inst.get(field).is_some(), "{field} missing: {inst}");
    }
    assert_time(&inst["createdAt"]);
    assert_time(&inst["updatedAt"]);
    // AND it is found by id and by name, and listed
    let id = inst["id"].as_str().unwrap();
    let by_id = api.get(&format!("/api/instances/{id}")).await.ok(200);
    let by_name = api.get("/api/instances/weather-desk").await.ok(200);
    assert_eq!(by_id["instance"]["id"], *id);
    assert_eq!(by_name["instance"]["id"], *id);
    let list = api.get("/api/instances").await.ok(200);
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);
    assert!(list["nextCursor"].is_null(), "{list}");
    api.assert_page_errors("/api/instances").await;
}

#[tokio::test]
async fn instance_names_are_validated_and_unique() {
    let api = Api::start().await;
    api.instance("desk").await;
    // WHEN the name is taken THEN 409 conflict
    api.post("/api/instances", json!({"name": "desk"}))
        .await
        .error(409, "conflict");
    // WHEN the name breaks the rules THEN 400 naming `name`
    for bad in ["Weather Desk", "", &"a".repeat(64), "under_score"] {
        api.post("/api/instances", json!({ "name": bad }))
            .await
            .invalid("name");
    }
    // AND a missing name or an unknown kind is a 400 naming the field
    api.post("/api/instances", json!({})).await.invalid("name");
    api.post("/api/instances", json!({"name": "x", "kind": "huge"}))
        .await
        .invalid("kind");
}

#[tokio::test]
async fn an_instance_is_renamed_and_deleted() {
    let api = Api::start().await;
    let id = api.instance("old-name").await;
    // WHEN it is renamed
    let v = api
        .put(&format!("/api/instances/{id}"), json!({"name": "new-name"}))
        .await
        .ok(200);
    // THEN the new name is shown and resolves
    assert_eq!(v["instance"]["name"], "new-name");
    api.get("/api/instances/new-name").await.ok(200);
    // AND a bad new name is a 400
    api.put(&format!("/api/instances/{id}"), json!({"name": "No Good"}))
        .await
        .invalid("name");
    // WHEN it is deleted THEN ok
    let v = api.delete(&format!("/api/instances/{id}")).await.ok(200);
    assert_eq!(v, json!({"ok": true}));
}

#[tokio::test]
async fn another_accounts_instance_is_a_404_on_every_route() {
    let api = Api::start().await;
    let other = api.other_account().await;
    let theirs = api
        .json_as(
            &other,
            Method::POST,
            "/api/instances",
            json!({"name": "theirs"}),
        )
        .await
        .ok(201)["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN this account touches it by id or by name THEN 404, never 403
    api.get(&format!("/api/instances/{theirs}"))
        .await
        .error(404, "not_found");
    api.get("/api/instances/theirs")
        .await
        .error(404, "not_found");
    api.put(&format!("/api/instances/{theirs}"), json!({"name": "mine"}))
        .await
        .error(404, "not_found");
    api.delete(&format!("/api/instances/{theirs}"))
        .await
        .error(404, "not_found");
    api.post(&format!("/api/instances/{theirs}/restart"), json!({}))
        .await
        .error(404, "not_found");
    api.post(
        &format!("/api/instances/{theirs}/clone"),
        json!({"name": "copy"}),
    )
    .await
    .error(404, "not_found");
    api.get(&format!("/api/instances/{theirs}/files?path=AGENTS.md"))
        .await
        .error(404, "not_found");
    api.post(
        &format!("/api/instances/{theirs}/exec"),
        json!({"command": "id"}),
    )
    .await
    .error(404, "not_found");
    // AND the owner still sees it unchanged
    let v = api
        .get_as(&other, &format!("/api/instances/{theirs}"))
        .await
        .ok(200);
    assert_eq!(v["instance"]["name"], "theirs");
    assert!(api.get("/api/instances").await.ok(200)["instances"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn relay_routes_answer_409_while_the_instance_is_not_active() {
    // GIVEN an instance still provisioning (no worker runs here)
    let api = Api::start().await;
    let id = api.instance("desk").await;
    let base = format!("/api/instances/{id}");
    // WHEN its live API is asked for anything THEN 409 conflict (wrong state)
    api.get(&format!("{base}/files?path=AGENTS.md"))
        .await
        .error(409, "conflict");
    api.send(
        Method::PUT,
        &format!("{base}/files?path=notes.md"),
        Some(&api.key),
        &[],
        Body::from("hello"),
    )
    .await
    .error(409, "conflict");
    api.send(
        Method::DELETE,
        &format!("{base}/files?path=notes.md"),
        Some(&api.key),
        &[],
        Body::empty(),
    )
    .await
    .error(409, "conflict");
    api.post(&format!("{base}/exec"), json!({"command": "echo hi"}))
        .await
        .error(409, "conflict");
    api.post(&format!("{base}/messages"), json!({"text": "hello"}))
        .await
        .error(409, "conflict");
    api.get(&format!("{base}/activity"))
        .await
        .error(409, "conflict");
    api.post(
        &format!("{base}/browser/open"),
        json!({"url": "https://example.com"}),
    )
    .await
    .error(409, "conflict");
    api.get(&format!("{base}/browser/screenshot"))
        .await
        .error(409, "conflict");
    // AND an unknown instance is a 404 there, not a 409
    api.get("/api/instances/inst_nope/activity")
        .await
        .error(404, "not_found");
}

#[tokio::test]
async fn relay_bodies_are_validated() {
    let api = Api::start().await;
    let id = api.instance("desk").await;
    // WHEN exec has no command, or a message no text THEN 400 naming the field
    api.post(&format!("/api/instances/{id}/exec"), json!({}))
        .await
        .invalid("command");
    api.post(&format!("/api/instances/{id}/messages"), json!({}))
        .await
        .invalid("text");
}

#[tokio::test]
async fn creating_over_plan_capacity_is_a_402() {
    // GIVEN a basic account (one instance) with one instance
    let api = Api::start_with_plan(PlanSlug::Basic).await;
    api.instance("first").await;
    // WHEN a second is created THEN 402 capacity_exceeded
    api.post("/api/instances", json!({"name": "second"}))
        .await
        .error(402, "capacity_exceeded");
    // AND every instance route needs a key
    api.assert_requires_key(Method::GET, "/api/instances").await;
    api.assert_requires_key(Method::POST, "/api/instances")
        .await;
    api.assert_requires_key(Method::GET, "/api/instances/first/activity")
        .await;
}
